package protocol

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine/internal/state"
	"github.com/telepathine/telepathine/engine/internal/wire"
)

func TestRingRangeHelpers(t *testing.T) {
	require.True(t, inRange(5, 3, 7))
	require.False(t, inRange(3, 3, 7), "from is excluded")
	require.True(t, inRange(7, 3, 7), "to is included")
	require.True(t, inRange(1, math.MaxUint64-1, 2), "wraps around zero")
	require.False(t, inRange(3, math.MaxUint64-1, 2))
	require.True(t, inRange(42, 9, 9), "from == to is the whole ring")

	ring := []ringMember{{pos: 10, addr: "a"}, {pos: 20, addr: "b"}, {pos: 30, addr: "c"}, {pos: 40, addr: "d"}}
	names := func(ms []ringMember) (out []string) {
		for _, m := range ms {
			out = append(out, m.addr)
		}
		return out
	}
	require.Equal(t, []string{"b", "c"}, names(between(ring, 10, 30)))
	require.Equal(t, []string{"d", "a"}, names(between(ring, 35, 15)), "wraps")
	require.Equal(t, []string{"c", "d", "a", "b"}, names(between(ring, 20, 20)), "whole ring after from")
	hops := split(between(ring, 5, 5), 1, 5, 3, nil)
	require.Len(t, hops, 3)
	// The ranges tile the ring from 5 without overlap: (5,10] (10,20] (20,40].
	require.Equal(t, relayHop{to: "a", tree: 1, from: 5, hi: 10}, hops[0])
	require.Equal(t, relayHop{to: "b", tree: 1, from: 10, hi: 20}, hops[1])
	require.Equal(t, relayHop{to: "c", tree: 1, from: 20, hi: 40}, hops[2])
	require.NotEqual(t, ringPos(1, "10.0.0.1:7946"), ringPos(2, "10.0.0.1:7946"), "trees order differently")
}

// relayRun is what one update pushed down the trees did.
type relayRun struct {
	coverage       float64 // peers holding it before any gossip round
	maxHop         int     // hops of the last first reception
	receptions     float64 // push packets received per peer
	roundsToAll    int     // gossip rounds after the push until all hold it
	bytesPerUpdate float64 // bytes sent by all, per peer, for the update
}

func measureRelay(t testing.TB, s *sim, key string, loss float64) relayRun {
	n := len(s.peers)
	owner := s.peers[s.rng.IntN(n)]
	s.resetHops()
	var before uint64
	for _, p := range s.peers {
		before += p.bytes
	}
	s.net.SetLoss(loss)
	s.set(owner, key, "v", 0)
	s.flush()
	s.net.SetLoss(0)
	var r relayRun
	var after uint64
	have := 0
	for _, p := range s.peers {
		after += p.bytes
		if p == owner {
			continue
		}
		r.receptions += float64(p.pushesIn)
		r.maxHop = max(r.maxHop, p.firstHop)
		if e, ok := p.core.Get(owner.Name(), key, s.now.UnixMilli()); ok && string(e.Value) == "v" {
			have++
		}
	}
	r.coverage = float64(have) / float64(n-1)
	r.receptions /= float64(n - 1)
	r.bytesPerUpdate = float64(after-before) / float64(n)
	r.roundsToAll = s.until(50, func() bool { return s.allHave(owner, key, "v") }, "anti-entropy completes the relay")
	return r
}

func TestSimRelayTreesReachEveryPeerAtOnce(t *testing.T) {
	const n = 100 // beyond PushDirectMax (64)
	s := newSim(t, n, simConfig())
	s.until(200, s.allKnowAll, "join")
	r := measureRelay(t, s, "k", 0)
	t.Logf("N=%d, no loss: coverage %.3f, %d hops, %.2f receptions per peer", n, r.coverage, r.maxHop, r.receptions)
	require.Equal(t, 1.0, r.coverage, "every peer before any gossip round")
	require.Equal(t, 0, r.roundsToAll)
	require.InDelta(t, 2.0, r.receptions, 0.01, "once per tree")
	// log3(99) < 5, plus one hop for a receiver's own stragglers.
	require.LessOrEqual(t, r.maxHop, 6)

	// One update at 10 % loss is one draw: a loss near a tree's root cuts a
	// third of that tree. The mean of 8 updates is what the trees promise.
	const updates = 8
	var coverage, receptions float64
	for i := range updates {
		lossy := measureRelay(t, s, fmt.Sprintf("k10-%d", i), 0.1)
		t.Logf("N=%d, 10%% loss: coverage %.3f, %.2f receptions per peer, complete after %d rounds",
			n, lossy.coverage, lossy.receptions, lossy.roundsToAll)
		require.LessOrEqual(t, lossy.receptions, 3.0)
		coverage += lossy.coverage / updates
		receptions += lossy.receptions / updates
	}
	t.Logf("N=%d, 10%% loss, mean of %d updates: coverage %.3f, %.2f receptions per peer", n, updates, coverage, receptions)
	require.Greater(t, coverage, 0.75, "two trees cover most losses")
}

func TestSimRelayTreeDeadPeerHealedByAntiEntropy(t *testing.T) {
	const n = 100
	s := newSim(t, n, simConfig())
	s.until(200, s.allKnowAll, "join")
	// Crashed peers that nobody has declared dead yet: their subtrees lose
	// the push in one tree, rarely in both; anti-entropy completes.
	for i := 10; i < 20; i++ {
		s.net.Isolate(memAddr(i))
		s.stop(s.peers[i])
	}
	owner := s.peers[50]
	s.set(owner, "k", "v", 0)
	s.flush()
	s.until(50, func() bool { return s.allHave(owner, "k", "v") }, "complete despite dead relays")
}

func TestSimJoinPushSpreadsNewcomerAtOnce(t *testing.T) {
	const n = 100
	cfg := simConfig()
	cfg.JoinPush = true
	s := newSim(t, n, cfg)
	s.until(200, s.allKnowAll, "join")
	for i := 0; i < 20; i++ {
		s.step()
	}
	newcomer := s.add(n)
	s.do(newcomer, newcomer.core.Tick(s.now)) // its first Syn to the seed
	s.flush()
	seed := s.peers[0]
	s.do(seed, seed.core.Tick(s.now)) // the seed's next round pushes the line
	s.flush()
	knows := 0
	for _, p := range s.peers[:n] {
		if _, ok := find(p.LivePeers(), newcomer.Name()); ok {
			knows++
		}
	}
	t.Logf("peers that know the newcomer after the seed's next round: %d of %d", knows, n)
	require.Equal(t, n, knows, "the seed pushed its line down the trees")
	r := s.until(20, s.allKnowAll, "newcomer knows all")
	t.Logf("all know all %d rounds after the newcomer's first Syn", r)
}

// BenchmarkRelayTrees: one update pushed down the trees at N = 256, with
// 2 (the default) and 3 trees, without loss and at 10 % loss: coverage
// before any gossip round, hops, push receptions per peer, rounds for
// anti-entropy to complete it, bytes per peer.
func BenchmarkRelayTrees(b *testing.B) {
	for _, trees := range []int{2, 3} {
		for _, loss := range []float64{0, 0.1} {
			const n = 256
			b.Run(fmt.Sprintf("N=%d/trees=%d/loss=%.0f%%", n, trees, loss*100), func(b *testing.B) {
				cfg := simConfig()
				cfg.RelayTrees = trees
				s := newSim(b, n, cfg)
				s.until(400, s.allKnowAll, "join")
				var sum relayRun
				k := 0
				for b.Loop() {
					r := measureRelay(b, s, fmt.Sprintf("k%d", k), loss)
					k++
					sum.coverage += r.coverage
					sum.maxHop = max(sum.maxHop, r.maxHop)
					sum.receptions += r.receptions
					sum.roundsToAll = max(sum.roundsToAll, r.roundsToAll)
					sum.bytesPerUpdate += r.bytesPerUpdate
				}
				b.ReportMetric(sum.coverage/float64(k), "coverage")
				b.ReportMetric(float64(sum.maxHop), "max-hops")
				b.ReportMetric(sum.receptions/float64(k), "receptions/peer")
				b.ReportMetric(float64(sum.roundsToAll), "max-rounds-to-all")
				b.ReportMetric(sum.bytesPerUpdate/float64(k), "B/peer/update")
			})
		}
	}
}

// A relay forwards only what it accepted itself: a line of an older
// incarnation than the one it holds (refused by Apply's generation rules)
// is not passed down the tree, while the valid line in the same packet is.
func TestRelayForwardsOnlyAcceptedLines(t *testing.T) {
	const n = 8
	cfg := simConfig()
	cfg.PushDirectMax = 2 // trees from 3 live peers on
	s := newSim(t, n, cfg)
	s.until(100, s.allKnowAll, "join")
	a, b, c := s.peers[0], s.peers[1], s.peers[2]

	ra, rc := a.core.st.LocalRun(0, s.now.UnixMilli()), c.core.st.LocalRun(0, s.now.UnixMilli())
	valid, stale := ra.NodeDelta(), rc.NodeDelta()
	stale.ID.Generation-- // an incarnation b already knows was replaced
	pos := ringPos(1, b.Name()) - 1
	pk := a.core.stamp(&wire.Packet{Type: wire.Push, Delta: state.Delta{
		Nodes: []state.NodeDelta{valid, stale}, Tree: 1, RangeFrom: pos, RangeTo: pos}})
	bs, err := a.core.Encode(s.now, Outgoing{To: b.addr, Packet: pk})
	require.NoError(t, err)
	out := b.core.HandlePacket(s.now, a.addr, bs)

	forwarded := 0
	for _, o := range out.Packets {
		if o.Packet.Type != wire.Push {
			continue
		}
		forwarded++
		require.Equal(t, uint8(1), o.Packet.Delta.Tree)
		require.Len(t, o.Packet.Delta.Nodes, 1, "the stale line stays here")
		require.Equal(t, a.Name(), o.Packet.Delta.Nodes[0].ID.Name)
	}
	require.NotZero(t, forwarded, "b relayed the range on")
	require.Equal(t, uint64(forwarded), b.core.Stats().Relayed)
}
