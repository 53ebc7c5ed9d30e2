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
	// JoinPush makes a peer that learns of a new peer through that peer's
	// own Syn (the seed of a join) push the newcomer's line down the trees
	// at once, so a join through one seed reaches every peer in
	// milliseconds instead of gossip rounds. Default on; set
	// DisableJoinPush to turn it off.
	DisableJoinPush bool
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
