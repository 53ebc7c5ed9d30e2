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
