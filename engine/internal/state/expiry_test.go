package state

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The expiry heap pops in time order whatever the order of pushes, with
// pops interleaved, and scheduling allocates nothing once the heap has room.
func TestExpiryHeapOrderAndNoAllocation(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var h expiryHeap
	var popped []int64
	for range 1000 {
		h.push(expiryItem{at: rng.Int64N(500)})
		if rng.IntN(3) == 0 {
			at := h.pop().at
			for _, it := range h {
				require.LessOrEqual(t, at, it.at, "a pop takes the earliest")
			}
			popped = append(popped, at)
		}
	}
	var rest []int64
	for len(h) > 0 {
		rest = append(rest, h.pop().at)
	}
	require.IsNonDecreasing(t, rest)
	require.Len(t, append(popped, rest...), 1000)

	h = make(expiryHeap, 0, 16)
	allocs := testing.AllocsPerRun(100, func() {
		h.push(expiryItem{at: 5})
		h.pop()
	})
	assert.Zero(t, allocs)
}

// A stream of says costs the expiry heap one item per node and second of
// ends, not one per event (1.5 million items per replica for 30 s of says
// at 50k/s), and the ended events are still counted and compacted away:
// on the receiver of pushes and on the sayer itself.
func TestEventEndsAreBucketedAndStillCollected(t *testing.T) {
	s, r := newTestCluster("s", 1), newTestCluster("r", 1)
	exchange(t, s, r, t0, 1<<20)
	const said = 3000
	for i := range said {
		now := t0 + int64(i) // one per ms: three seconds of says
		from := s.Self().Version
		_, err := s.Say(KindEvent, "ev", []byte("x"), EncodingText, now+20_000)
		require.NoError(t, err)
		run := s.LocalRun(from, now)
		nd := run.NodeDelta()
		_, _, err = r.Apply(&Delta{Nodes: []NodeDelta{nd}}, now, true, nil, nil)
		require.NoError(t, err)
	}
	for _, c := range []*Cluster{s, r} {
		assert.LessOrEqual(t, len(c.expiry), 4, "heap items for 3 s of ends")
		n, ok := c.Node("s")
		require.True(t, ok)
		require.Len(t, n.log, said)
		// Not one counted before it ended.
		c.Tick(t0+20_000-1, 0, nil)
		assert.Len(t, n.log, said)
		end := t0 + 20_000 + said + 2*sweepEvery
		for now := t0 + 20_000; now <= end; now += 100 {
			c.Tick(now, 0, nil)
		}
		assert.Empty(t, n.log, "ended events compacted away")
		assert.Empty(t, c.expiry)
		assert.Empty(t, c.ends)
	}
}
