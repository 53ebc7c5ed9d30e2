package protocol

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine/internal/wire"
)

// The heartbeat bound understands refutation epochs: within an epoch the
// beat count is rate-bounded; a new epoch is taken from the peer itself
// at any height, relayed only one step (plus one per interval elapsed),
// and a new epoch's beat count is bounded from 0.
func TestGateHeartbeatEpochs(t *testing.T) {
	s := newSim(t, 3, simConfig())
	s.until(50, s.allKnowAll, "join")
	c, b, relay := s.peers[0].core, s.peers[1], s.peers[2]
	n, ok := c.st.Node(b.Name())
	require.True(t, ok)
	id := n.ID
	m := c.members.byName[id.Name]
	require.NotNil(t, m)
	m.hbAt = s.now // the last advance was just now: elapsed 0
	prev := uint64(3)<<epochShift | 5

	check := func(sender *simPeer, from string, next uint64) bool {
		pk := &wire.Packet{Sender: sender.core.ID()}
		c.gate.begin(s.now, from, pk, false)
		return c.gate.Heartbeat(id, prev, next)
	}
	e := func(ep, count uint64) uint64 { return ep<<epochShift | count }

	// Within the epoch: a few beats pass, 2^20 beats do not (the uptime
	// of a peer started seconds ago allows no such count either).
	require.True(t, check(relay, relay.addr, e(3, 8)))
	require.False(t, check(relay, relay.addr, e(3, 1<<20)))
	// A relayed new epoch: one step passes, a leap does not, nor a new
	// epoch whose count could not have grown since its refutation.
	require.True(t, check(relay, relay.addr, e(4, 1)))
	require.False(t, check(relay, relay.addr, e(1<<20, 1)))
	require.False(t, check(relay, relay.addr, e(4, 1<<20)))
	// The peer itself, from its own address: any new epoch, count bounded.
	require.True(t, check(b, b.addr, e(1<<20, 1)))
	require.False(t, check(b, b.addr, e(1<<20, 1<<20)))
	// Claiming to be the peer from another address is a relay.
	require.False(t, check(b, relay.addr, e(1<<20, 1)))
	// Stale heartbeats are not jumps.
	require.True(t, check(relay, relay.addr, e(2, 1<<30)))
}
