package state

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// heapAlloc is the live heap after a collection.
func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// A replica pays for every node it holds, so a cluster of N peers holds
// N^2 of these: what one held node costs (its Node, its places in the
// name and key maps, its name and address) bounds how large a cluster
// fits in memory. A node learnt from the network, with a heartbeat and
// no keys, costs about 306 bytes here (706 when each node carried a
// 16-tick history ring, an empty key map and the identity-mode fields).
// The protocol's liveness record of each peer comes on top:
// sim_scale_test.go measures the whole.
func TestHeldNodeCostsFewHundredBytes(t *testing.T) {
	const n = 4000
	c := newTestCluster("self", 1)
	deltas := make([]Delta, n)
	for i := range deltas {
		name := fmt.Sprintf("10.0.%d.%d:7946", i/256, i%256)
		deltas[i] = Delta{Nodes: []NodeDelta{{ID: NodeID{Name: name, Generation: uint64(i + 1), Addr: name}, Heartbeat: 5}}}
	}
	before := heapAlloc()
	for i := range deltas {
		_, _, err := c.Apply(&deltas[i], t0, false, nil, nil)
		require.NoError(t, err)
	}
	for tick := range 3 * markCount {
		c.Tick(t0+int64(tick)*200, 0, nil)
	}
	after := heapAlloc()
	require.Len(t, c.byName, n+1, "every node held")
	per := float64(after-before) / n
	t.Logf("%.0f bytes per held node", per)
	require.Less(t, per, 400.0, "bytes per held node")
	runtime.KeepAlive(deltas)
	runtime.KeepAlive(c)
}
