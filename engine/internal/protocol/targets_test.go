package protocol

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine/internal/state"
)

// heldPeers makes the single peer of s learn n others, alive, the way a
// delta teaches them.
func heldPeers(t testing.TB, s *sim, n int) *Core {
	t.Helper()
	c := s.peers[0].core
	d := state.Delta{}
	for i := range n {
		addr := fmt.Sprintf("10.1.%d.%d:7946", i/256, i%256)
		d.Nodes = append(d.Nodes, state.NodeDelta{ID: state.NodeID{Name: addr, Generation: uint64(i + 1), Addr: addr}, Heartbeat: 5})
	}
	changes, _, err := c.st.Apply(&d, s.now.UnixMilli(), false, nil, nil)
	require.NoError(t, err)
	var out Output
	c.applyChanges(changes, s.now, &out)
	c.members.refreshRing(s.now)
	require.Len(t, c.members.ring, n+1)
	return c
}

// A round's gossip partners cost what is picked, not a walk and shuffle
// of every member (O(N) per peer per round: at 4,096 peers a list of
// 4,096 addresses, 64 KB, allocated by every peer every round).
func TestTargetsCostThePeersPicked(t *testing.T) {
	s := newSim(t, 1, scaleConfig())
	c := heldPeers(t, s, 4096)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const runs = 200
	for range runs {
		require.Len(t, c.targets(true), c.cfg.Fanout)
	}
	runtime.ReadMemStats(&after)
	per := float64(after.TotalAlloc-before.TotalAlloc) / runs
	t.Logf("%.0f bytes allocated per round's targets at 4,096 peers", per)
	require.Less(t, per, 2048.0)
}

// Picks stay uniform over the live peers, distinct within a round, never
// self, never a peer that left; a dead peer is picked now and then, and
// one removed since the ring was built never.
func TestTargetsPickLivePeersUniformly(t *testing.T) {
	s := newSim(t, 1, scaleConfig())
	const n = 200
	c := heldPeers(t, s, n)
	var out Output
	left := fmt.Sprintf("10.1.0.%d:7946", 7)
	c.stopped(s.now, left, ReasonLeft, &out)
	c.members.byName[left].left = true
	dead := fmt.Sprintf("10.1.0.%d:7946", 9)
	c.stopped(s.now, dead, ReasonFailed, &out)
	removed := fmt.Sprintf("10.1.0.%d:7946", 11)
	c.stopped(s.now, removed, ReasonFailed, &out)
	c.members.refreshRing(s.now)
	delete(c.members.byName, removed) // as judge does, without a ring rebuild
	picked := map[string]int{}
	const rounds = 4000
	for range rounds {
		once := map[string]bool{}
		for _, a := range c.targets(true) {
			require.False(t, once[a], "a target twice in a round")
			once[a] = true
			picked[a]++
		}
	}
	require.Zero(t, picked[left], "a peer that left")
	require.Zero(t, picked[removed], "a peer removed")
	require.Zero(t, picked[c.id.Addr], "self")
	require.Positive(t, picked[dead], "a dead peer now and then")
	live := n - 3
	mean := float64(rounds*c.cfg.Fanout) / float64(live)
	for i := range n {
		a := fmt.Sprintf("10.1.%d.%d:7946", i/256, i%256)
		if a == left || a == dead || a == removed {
			continue
		}
		require.InDelta(t, mean, float64(picked[a]), mean/2, "%s picked %d times, mean %.0f", a, picked[a], mean)
	}
}

// The per-round choices of a peer that knows 4,096 others: its gossip
// targets and the search for dead peers to remove. CPU time per round is
// reported (wall time is unreliable on a shared machine).
func BenchmarkRoundChoices(b *testing.B) {
	s := newSim(b, 1, scaleConfig())
	c := heldPeers(b, s, 4096)
	var out Output
	for i := range 40 { // a few dead peers, as in a real cluster
		c.stopped(s.now, fmt.Sprintf("10.1.%d.%d:7946", i/256, i%256), ReasonFailed, &out)
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		c.targets(true)
		c.judge(s.now, &out)
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}
