package engine

import (
	"fmt"

	"github.com/telepathine/telepathine/engine/internal/protocol"
)

// RelayConfig shapes how a fresh change (a Set, a Say, a newcomer's line)
// travels beyond PushDirectMax live peers: down ring-range broadcast trees
// (each receiver forwards at once to the first peers of PushFanout
// sub-ranges of its range), so it reaches N peers in about
// log_PushFanout(N) hops, each peer receiving it once per tree.
type RelayConfig struct {
	// Trees is how many broadcast trees, with independent ring orders, a
	// push travels in: each peer receives it Trees times (from different
	// parents), so a packet lost on one path is made good by another at
	// once rather than by the next anti-entropy round. Default 2 (the
	// bound of 3 receptions per peer per update leaves room for one
	// anti-entropy delivery); at most 4.
	Trees int
	// JoinPush makes a peer that learns of a new peer from that peer
	// itself (the seed of a join) push the newcomer's line on with its next
	// round (straight or down the trees): in the simulator every peer then
	// knows the newcomer within a round instead of log N rounds of gossip.
	// Default false: on loopback at N = 256 (one process, a loaded 2-core
	// machine) a concurrent join took 13.2 s with it against 7.5 s without
	// (18.5 s when each line was pushed on its own), the pushes' packets
	// competing with the join's own exchanges. With the ring watchers (the
	// simulator, N = 256) it saves a round: 11 rounds against 12, since a
	// concurrent join's tail is anti-entropy finding the last missing lines
	// in digests cut to a datagram, not the spread of the newcomers' lines.
	JoinPush bool
}

// withDefaults fills the zero fields.
func (r RelayConfig) withDefaults() RelayConfig {
	if r.Trees <= 0 {
		r.Trees = 2
	}
	return r
}

// validate checks the bounds.
func (r RelayConfig) validate() []error {
	if r.Trees > protocol.MaxRelayTrees {
		return []error{fmt.Errorf("Relay.Trees %d above %d", r.Trees, protocol.MaxRelayTrees)}
	}
	return nil
}
