// Package bench measures Telepathine side by side with
// hashicorp/memberlist, in one process, on loopback, at memberlist's LAN
// cadence (gossip every 200 ms to 3 peers), with the figures issue #2 set as
// design targets:
//
//   - join: N peers join through one seed at the same moment; the time until
//     every peer knows every other one;
//   - update: one peer publishes an update; the time until every other peer
//     has it, and the fraction of updates that reach every peer at all;
//   - crash: one peer disappears without a goodbye; the time until every
//     other peer declares it dead, and any other peer declared dead
//     meanwhile (a false death);
//   - quiet: bytes sent per peer per second by a cluster where nothing
//     changes.
//
// Each system sits behind the same small harness (System, Cluster), so the
// scenarios (RunJoin, RunUpdates, RunCrash, RunQuiet) are written once and
// timed the same way. Both run at their LAN presets, untuned:
// memberlist.DefaultLANConfig() and engine.LANConfig().
//
// What is compared, and where the comparison limps:
//
//   - memberlist has no replicated key/value state. Its closest equivalent of
//     a Set is a user broadcast: the publisher queues a message in a
//     memberlist.TransmitLimitedQueue served by the Delegate's GetBroadcasts
//     (piggybacked on gossip and probes), and every receiver re-queues a
//     message the first time it sees it (as serf does with user events), so
//     the message spreads epidemically like memberlist's own membership
//     updates. Each peer also sends the updates it holds in LocalState, so the
//     push-pull anti-entropy (every 30 s, scaled to 60 s at N = 64) repairs
//     what gossip missed, as a key/value store built on memberlist would.
//     Telepathine's Set is replicated state: pushed at once and reconciled
//     every round.
//   - "Declared dead" is memberlist's NotifyLeave (a node gone from
//     Members) and Telepathine's "peer:stop" event. memberlist first
//     suspects, then confirms after a suspicion timeout; Telepathine's phi
//     accrual detector has no suspect state.
//   - Bytes are what each library hands to its sockets (UDP payloads and TCP
//     stream bytes), without IP/UDP/TCP headers: memberlist's through a
//     counting wrapper around its NetTransport, Telepathine's from
//     Stats().Transport.BytesSent(). memberlist compresses its packets
//     (EnableCompression is on in its LAN preset); Telepathine packs
//     Cap'n Proto.
//   - Times are observed in-process, from the callbacks each library offers:
//     memberlist calls its delegates on its packet-handling goroutine,
//     Telepathine calls handlers on a goroutine per subscription, which adds
//     scheduling delay (microseconds) to Telepathine's figures.
//   - Both systems share two cores with the harness, one after the other,
//     never concurrently.
package bench
