package state

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const t0 = int64(1_700_000_000_000)

func newTestCluster(name string, gen uint64) *Cluster {
	return NewCluster(NodeID{Name: name, Generation: gen, Addr: name}, DefaultLimits)
}

// exchange runs one full scuttlebutt exchange initiated by a towards b, the
// way the engine does: Syn(full digest) -> SynAck(wants, delta) -> Ack(delta).
func exchange(t testing.TB, a, b *Cluster, now int64, budget int) (changesA, changesB []Change) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	syn := a.FullDigest(0, nil, rng)
	cmpB, chB := b.Compare(&syn, nil)
	toA := b.BuildDelta(cmpB.Requests, budget, now, rng)
	synAckDigest := Digest{Entries: append(cmpB.Wants, cmpB.Fresher...)}
	chA, _, err := a.Apply(&toA, now, false, nil, nil)
	require.NoError(t, err)
	cmpA, chA := a.Compare(&synAckDigest, chA)
	toB := a.BuildDelta(cmpA.Requests, budget, now, rng)
	chB, _, err = b.Apply(&toB, now, false, chB, nil)
	require.NoError(t, err)
	return chA, chB
}

func kinds(ch []Change, k ChangeKind) []Change {
	var out []Change
	for _, c := range ch {
		if c.Kind == k {
			out = append(out, c)
		}
	}
	return out
}

func TestTwoReplicasConverge(t *testing.T) {
	a, b := newTestCluster("a", 1), newTestCluster("b", 1)
	_, err := a.Set("k1", []byte("v1"), EncodingText, 0)
	require.NoError(t, err)
	_, err = b.Set("k2", []byte(`{"x":1}`), EncodingJSON, 0)
	require.NoError(t, err)

	chA, chB := exchange(t, a, b, t0, 1<<20)

	e, ok := b.Get("a", "k1", t0)
	require.True(t, ok)
	assert.Equal(t, "v1", string(e.Value))
	assert.Equal(t, EncodingText, e.Encoding)
	e, ok = a.Get("b", "k2", t0)
	require.True(t, ok)
	assert.Equal(t, EncodingJSON, e.Encoding)
	assert.Len(t, kinds(chA, NodeJoined), 1)
	assert.Len(t, kinds(chB, NodeJoined), 1)
	assert.Len(t, kinds(chA, KeySet), 1)
	assert.Len(t, kinds(chB, KeySet), 1)
	assert.Equal(t, a.Fingerprint(), b.Fingerprint(), "converged replicas have equal fingerprints")

	// A converged exchange moves no entries and reports no changes.
	chA, chB = exchange(t, a, b, t0, 1<<20)
	assert.Empty(t, kinds(chA, KeySet))
	assert.Empty(t, kinds(chB, KeySet))
}

func TestManyReplicasConvergeByRandomExchanges(t *testing.T) {
	const n = 32
	r := rand.New(rand.NewPCG(7, 7))
	cs := make([]*Cluster, n)
	for i := range cs {
		cs[i] = newTestCluster(fmt.Sprintf("n%02d", i), 1)
		for k := 0; k < 5; k++ {
			_, err := cs[i].Set(fmt.Sprintf("key%d", k), []byte(fmt.Sprintf("%d-%d", i, k)), EncodingText, 0)
			require.NoError(t, err)
		}
	}
	for round := 0; round < 40; round++ {
		for i := range cs {
			j := r.IntN(n - 1)
			if j >= i {
				j++
			}
			exchange(t, cs[i], cs[j], t0, 4096)
		}
	}
	for i := range cs {
		require.Equal(t, n, len(cs[i].byName), "replica %d knows every node", i)
		require.Equal(t, cs[0].Fingerprint(), cs[i].Fingerprint())
		for j := range cs {
			e, ok := cs[i].Get(fmt.Sprintf("n%02d", j), "key4", t0)
			require.True(t, ok)
			require.Equal(t, fmt.Sprintf("%d-4", j), string(e.Value))
		}
	}
}

func TestBudgetIsSharedFairlyAndPrefixesApply(t *testing.T) {
	// Three nodes with 100 entries each; a budget for about 30 entries gives
	// each node about a third, each part a prefix, and repeated exchanges
	// finish the job with no gap.
	src := newTestCluster("src", 1)
	for i := 0; i < 3; i++ {
		o := newTestCluster(fmt.Sprintf("o%d", i), 1)
		for k := 0; k < 100; k++ {
			_, err := o.Set(fmt.Sprintf("k%03d", k), make([]byte, 10), EncodingRaw, 0)
			require.NoError(t, err)
		}
		exchange(t, src, o, t0, 1<<20)
	}
	dst := newTestCluster("dst", 1)
	syn := dst.FullDigest(0, nil, nil)
	cmp, _ := src.Compare(&syn, nil)
	budget := 30 * (entryOverhead + 4 + 10)
	d := src.BuildDelta(cmp.Requests, budget, t0, rand.New(rand.NewPCG(1, 1)))
	assert.LessOrEqual(t, d.Size(), budget+3*NodeDeltaHeader(NodeID{Name: "o0", Addr: "o0"}))
	counts := map[string]int{}
	for _, nd := range d.Nodes {
		counts[nd.ID.Name] = len(nd.Entries)
		if len(nd.Entries) > 0 {
			assert.Equal(t, nd.From+1, nd.Entries[0].Version, "a prefix starts right after From")
			assert.Equal(t, nd.Entries[len(nd.Entries)-1].Version, nd.To)
		}
	}
	for i := 0; i < 3; i++ {
		c := counts[fmt.Sprintf("o%d", i)]
		assert.InDelta(t, 8, c, 2, "node o%d got %d entries", i, c)
	}
	for i := 0; i < 20; i++ {
		exchange(t, dst, src, t0, budget)
	}
	for i := 0; i < 3; i++ {
		assert.Len(t, dst.Keys(fmt.Sprintf("o%d", i), t0), 100)
	}
}

func TestOversizedEntryGoesAlone(t *testing.T) {
	a, b := newTestCluster("a", 1), newTestCluster("b", 1)
	big := make([]byte, 1<<20)
	_, err := a.Set("big", big, EncodingRaw, 0)
	require.NoError(t, err)
	exchange(t, b, a, t0, 1400)
	e, ok := b.Get("a", "big", t0)
	require.True(t, ok)
	assert.Len(t, e.Value, 1<<20)
}

func TestExpiryOnEveryReplicaAndNotForLateJoiners(t *testing.T) {
	a, b := newTestCluster("a", 1), newTestCluster("b", 1)
	_, err := a.Set("tmp", []byte("x"), EncodingText, t0+1000)
	require.NoError(t, err)
	exchange(t, a, b, t0, 1<<20)
	_, ok := b.Get("a", "tmp", t0+999)
	require.True(t, ok)
	_, ok = b.Get("a", "tmp", t0+1000)
	require.False(t, ok, "reads honour expiry before the tick runs")

	chA := a.Tick(t0+1000, 60_000, nil)
	chB := b.Tick(t0+1000, 60_000, nil)
	require.Len(t, kinds(chA, KeyExpired), 1)
	require.Len(t, kinds(chB, KeyExpired), 1)
	exp := kinds(chB, KeyExpired)[0]
	assert.Equal(t, "a", exp.Node.Name, "the event names the owner")
	assert.Equal(t, "x", string(exp.Entry.Value))
	assert.Empty(t, kinds(b.Tick(t0+2000, 60_000, nil), KeyExpired), "expires once")

	late := newTestCluster("late", 1)
	chL, _ := exchange(t, late, a, t0+1500, 1<<20)
	assert.Empty(t, kinds(chL, KeySet), "a late joiner never receives an expired key")
	_, ok = late.Get("a", "tmp", t0+1500)
	assert.False(t, ok)
}

func TestExpiredValueReplacesStaleValueElsewhere(t *testing.T) {
	// b holds k=old; a overwrites k with an expiring value that expires
	// before b hears of it. b must drop "old", not keep it forever.
	a, b := newTestCluster("a", 1), newTestCluster("b", 1)
	_, _ = a.Set("k", []byte("old"), EncodingText, 0)
	exchange(t, a, b, t0, 1<<20)
	_, _ = a.Set("k", []byte("new"), EncodingText, t0+10)
	chB, _ := exchange(t, b, a, t0+20, 1<<20)
	_, ok := b.Get("a", "k", t0+20)
	assert.False(t, ok)
	assert.Len(t, kinds(chB, KeyDeleted), 1)
}

func TestDeleteReplicatesAndCollectedTombstoneNeverResurrects(t *testing.T) {
	a, b, c := newTestCluster("a", 1), newTestCluster("b", 1), newTestCluster("c", 1)
	_, _ = a.Set("k", []byte("v"), EncodingText, 0)
	exchange(t, a, b, t0, 1<<20)
	exchange(t, a, c, t0, 1<<20) // c holds k=v, then is partitioned away

	_, deleted, err := a.Delete("k", t0+100)
	require.NoError(t, err)
	require.True(t, deleted)
	_, chB := exchange(t, a, b, t0+100, 1<<20)
	assert.Len(t, kinds(chB, KeyDeleted), 1)

	// The grace period passes: a and b collect the tombstone.
	const grace = 1000
	a.Tick(t0+2000, grace, nil)
	b.Tick(t0+2000, grace, nil)
	assert.Positive(t, a.Self().GCFloor)

	// The partition heals: c still holds k=v at an old version. c must lose
	// it (a reset), and must not give it back to a or b.
	chC, _ := exchange(t, c, b, t0+3000, 1<<20)
	_, ok := c.Get("a", "k", t0+3000)
	assert.False(t, ok, "c learnt the deletion through a reset")
	assert.Len(t, kinds(chC, KeyDeleted), 1)
	exchange(t, c, a, t0+3000, 1<<20)
	_, ok = a.Get("a", "k", t0+3000)
	assert.False(t, ok)
	_, ok = b.Get("a", "k", t0+3000)
	assert.False(t, ok)
}

func TestNewGenerationReplacesOld(t *testing.T) {
	a1, b := newTestCluster("a", 1), newTestCluster("b", 1)
	for i := 0; i < 10; i++ {
		_, _ = a1.Set("k", []byte(fmt.Sprintf("old%d", i)), EncodingText, 0)
	}
	_, _ = a1.Set("gone", []byte("x"), EncodingText, 0)
	exchange(t, a1, b, t0, 1<<20)

	// a restarts: a new process, generation 2, versions start again at 1.
	a2 := newTestCluster("a", 2)
	_, _ = a2.Set("k", []byte("new"), EncodingText, 0)
	_, chB := exchange(t, a2, b, t0+10, 1<<20)
	require.Len(t, kinds(chB, NodeRestarted), 1)
	e, ok := b.Get("a", "k", t0+10)
	require.True(t, ok)
	assert.Equal(t, "new", string(e.Value), "the new generation wins though its version is lower")
	_, ok = b.Get("a", "gone", t0+10)
	assert.False(t, ok, "the old incarnation's state is gone")

	// Stale gossip about generation 1 changes nothing.
	_, chB = exchange(t, a1, b, t0+20, 1<<20)
	assert.Empty(t, kinds(chB, KeySet))
	e, _ = b.Get("a", "k", t0+20)
	assert.Equal(t, "new", string(e.Value))
}

func TestRestartRepublishesUnderNewGeneration(t *testing.T) {
	a, b := newTestCluster("a", 1), newTestCluster("b", 1)
	_, _ = a.Set("k", []byte("v"), EncodingText, 0)
	exchange(t, a, b, t0, 1<<20)
	a.Restart(NodeID{Name: "a", Generation: 2, Addr: "a"}, t0+5)
	_, _ = a.Set("k2", []byte("v2"), EncodingText, 0)
	assert.Equal(t, uint64(2), a.Self().Version)
	exchange(t, b, a, t0+10, 1<<20)
	n, _ := b.Node("a")
	assert.Equal(t, uint64(2), n.ID.Generation)
	assert.Equal(t, []string{"k", "k2"}, b.Keys("a", t0+10))
}

func TestEventsDeliveredOnceInOrderDespitePushReordering(t *testing.T) {
	s, r := newTestCluster("s", 1), newTestCluster("r", 1)
	exchange(t, s, r, t0, 1<<20)
	var runs []Run
	for i := 0; i < 10; i++ {
		from := s.Self().Version
		_, err := s.Say(KindEvent, "ev", []byte{byte(i)}, EncodingRaw, t0+20_000)
		require.NoError(t, err)
		runs = append(runs, s.LocalRun(from, t0))
	}
	// Deliver pushes in a scrambled order, each twice.
	order := []int{3, 1, 0, 2, 9, 4, 5, 8, 7, 6, 0, 3}
	var heard []byte
	for _, i := range order {
		nd := runs[i].NodeDelta()
		ch, _, err := r.Apply(&Delta{Nodes: []NodeDelta{nd}}, t0, true, nil, nil)
		require.NoError(t, err)
		for _, c := range kinds(ch, EventHeard) {
			heard = append(heard, c.Entry.Value[0])
		}
	}
	assert.Equal(t, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, heard)
	// Anti-entropy repeats them: still heard once.
	chR, _ := exchange(t, r, s, t0, 1<<20)
	assert.Empty(t, kinds(chR, EventHeard))
	// The sender never hears itself.
	chS, _ := exchange(t, s, r, t0, 1<<20)
	assert.Empty(t, kinds(chS, EventHeard))
}

func TestEventsReachLateJoinerOnlyWithinDuration(t *testing.T) {
	s := newTestCluster("s", 1)
	_, _ = s.Say(KindEvent, "ev", []byte("x"), EncodingText, t0+1000)
	early := newTestCluster("early", 1)
	ch, _ := exchange(t, early, s, t0+500, 1<<20)
	assert.Len(t, kinds(ch, EventHeard), 1)
	late := newTestCluster("late", 1)
	ch, _ = exchange(t, late, s, t0+1500, 1<<20)
	assert.Empty(t, kinds(ch, EventHeard))
}

func TestRemovedNodeIsNotResurrectedByStaleGossip(t *testing.T) {
	a, b, d := newTestCluster("a", 1), newTestCluster("b", 1), newTestCluster("dead", 1)
	exchange(t, d, a, t0, 1<<20)
	exchange(t, a, b, t0, 1<<20)
	require.True(t, a.Remove("dead", t0+10))
	ch, _ := exchange(t, a, b, t0+20, 1<<20) // b still holds it
	assert.Empty(t, kinds(ch, NodeJoined))
	_, ok := a.Node("dead")
	assert.False(t, ok)
	// A newer heartbeat (the node was alive after all) brings it back.
	d.BeatHeart()
	ch, _ = exchange(t, a, d, t0+30, 1<<20)
	assert.Len(t, kinds(ch, NodeJoined), 1)
}

func TestMalformedDeltaRejectedWhole(t *testing.T) {
	r := newTestCluster("r", 1)
	bad := []Delta{
		{Nodes: []NodeDelta{{ID: NodeID{Name: ""}, To: 1}}},
		{Nodes: []NodeDelta{{ID: NodeID{Name: "x"}, From: 2, To: 1}}},
		{Nodes: []NodeDelta{{ID: NodeID{Name: "x"}, To: 2, Entries: []*Entry{{Version: 2, Key: "a"}, {Version: 1, Key: "b"}}}}},
		{Nodes: []NodeDelta{{ID: NodeID{Name: "x"}, To: 2, Entries: []*Entry{{Version: 3, Key: "a"}}}}},
		{Nodes: []NodeDelta{{ID: NodeID{Name: "x"}, To: 1, Entries: []*Entry{{Version: 1, Key: ""}}}}},
		{Nodes: []NodeDelta{{ID: NodeID{Name: "x\x00"}, To: 0}}},
		{Nodes: []NodeDelta{{ID: NodeID{Name: "ok"}, To: 1, Entries: []*Entry{{Version: 1, Key: "k"}}}, {ID: NodeID{Name: "x"}, To: 1, Entries: []*Entry{nil}}}},
	}
	for i, d := range bad {
		_, _, err := r.Apply(&d, t0, false, nil, nil)
		assert.ErrorIs(t, err, ErrBadDelta, "case %d", i)
	}
	assert.Equal(t, 1, len(r.byName), "nothing of a malformed delta was applied")
}

func TestLocalLimits(t *testing.T) {
	c := newTestCluster("a", 1)
	_, err := c.Set("", nil, EncodingRaw, 0)
	assert.ErrorIs(t, err, ErrInvalidKey)
	_, err = c.Set("bad\xff", nil, EncodingRaw, 0)
	assert.ErrorIs(t, err, ErrInvalidKey)
	_, err = c.Set(string(make([]byte, DefaultLimits.MaxKey+1)), nil, EncodingRaw, 0)
	assert.ErrorIs(t, err, ErrInvalidKey)
	_, err = c.Set("k", make([]byte, DefaultLimits.MaxValue+1), EncodingRaw, 0)
	assert.ErrorIs(t, err, ErrValueSize)
	assert.Zero(t, c.Self().Version)
}

func TestCompactDigestFingerprintMismatch(t *testing.T) {
	a, b := newTestCluster("a", 1), newTestCluster("b", 1)
	exchange(t, a, b, t0, 1<<20)
	d := a.CompactDigest()
	cmp, _ := b.Compare(&d, nil)
	assert.False(t, cmp.Mismatch)
	_, _ = a.Set("k", nil, EncodingRaw, 0)
	d = a.CompactDigest()
	cmp, _ = b.Compare(&d, nil)
	// Self is always listed, so b sees a is ahead; fingerprints differ too.
	assert.True(t, cmp.Mismatch)
	require.Len(t, cmp.Wants, 1)
}

func TestLogCompactionKeepsDeltasCorrect(t *testing.T) {
	a := newTestCluster("a", 1)
	for i := 0; i < 1000; i++ {
		_, _ = a.Set(fmt.Sprintf("k%d", i%10), []byte{byte(i)}, EncodingRaw, 0)
	}
	a.Tick(t0, 1000, nil)
	assert.LessOrEqual(t, len(a.Self().log), 20, "superseded entries are compacted away")
	b := newTestCluster("b", 1)
	exchange(t, b, a, t0, 1<<20)
	assert.Len(t, b.Keys("a", t0), 10)
	n, _ := b.Node("a")
	assert.Equal(t, uint64(1000), n.Version)
}

// BenchmarkBuildDelta10kKeys builds deltas from a 10,000-key state for a peer
// that has nothing: one datagram's worth (MTU budget) and everything (1 MiB).
// Entries are shared, not copied: the cost is the walk and the slice.
func BenchmarkBuildDelta10kKeys(b *testing.B) {
	src := newTestCluster("src", 1)
	for i := 0; i < 10_000; i++ {
		_, _ = src.Set(fmt.Sprintf("service/%05d", i), []byte("10.0.0.1:8080 healthy"), EncodingText, 0)
	}
	req := []Request{{Node: src.Self(), From: 0, Identity: true}}
	for _, budget := range []int{1400, 1 << 20} {
		b.Run(fmt.Sprintf("budget=%d", budget), func(b *testing.B) {
			b.ReportAllocs()
			var d Delta
			for b.Loop() {
				d = src.BuildDelta(req, budget, t0, nil)
			}
			b.ReportMetric(float64(len(d.Nodes[0].Entries)), "entries")
		})
	}
	// From the middle: a peer that already holds half.
	b.Run("from-half", func(b *testing.B) {
		req := []Request{{Node: src.Self(), From: 5000}}
		b.ReportAllocs()
		for b.Loop() {
			_ = src.BuildDelta(req, 1<<20, t0, nil)
		}
	})
}
