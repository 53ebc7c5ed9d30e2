// Package identity gives each peer an Ed25519 key pair and lets every
// replica check that what it holds of a peer was written by that peer
// (issue 13). It is pure: no I/O but loading key files, no clock.
//
// What is signed, and why this shape:
//
//   - Every entry a peer writes (value, tombstone, event, ask, suspicion,
//     leave) carries the owner's signature over its canonical bytes: owner
//     name, generation, version, kind, key, value, encoding and expiry
//     (EntryMessage). The owner signs once, when it writes the entry;
//     relays and anti-entropy forward the signature unchanged, so an entry
//     is believed whoever delivers it. Per-entry signatures were chosen
//     over one signature per delivered run because a run is not a fixed
//     thing: anti-entropy skips superseded and expired entries, a delta
//     budget cuts a run anywhere, and a replica may have learnt a run from
//     several sources. A signature over a run the owner once pushed could
//     not be checked against any other slice of it. Per-entry signatures
//     survive every slicing, and the verification cache (Verifier) makes a
//     relayed entry cost one hash, not one Ed25519 verification, at each
//     replica that has seen it before. On top of them, the owner's own
//     pushes carry one signature over each run as pushed (Run,
//     AppendRunMessage), so a receiver proves the whole run with one
//     verification (Verifier.ProveRun). It is a shortcut, never a
//     replacement: a run signature that fails proves nothing, and the
//     entries' own signatures decide.
//   - A set with an expiry is signed twice: as the set, and as the
//     tombstone it becomes when it expires (every replica derives that
//     tombstone on its own and forwards it to late joiners, and it must
//     verify too). A tombstone whose time lies in the future is refused
//     (a pre-signed expiry must not be delivered early).
//   - What a run does not carry is signed by the head: the owner's
//     signature over (name, generation, highest version, heartbeat epoch)
//     (HeadMessage), re-signed lazily when a delta of the owner's own
//     state is built and either changed since — one signature per batch
//     of writes, not per write. A replica never advances an owner's
//     version beyond a verified head (a range that skips superseded
//     entries cannot be forged to push the version out of reach), never
//     accepts a new generation without a head signed for it, and never
//     accepts a heartbeat epoch above the head's (a refutation is the
//     owner's signed statement; nobody else can make one). A replica
//     checks a head only when a delta needs it or when it sends the
//     owner's state on, so a push costs one verification per entry.
//
// Who may join (Pins): an allow-list of name -> public key read from a
// file or a directory of files, or trust on first use, where the first key
// seen for a name is pinned and every later different key for that name is
// refused and reported.
package identity
