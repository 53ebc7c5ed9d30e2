package state

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// heldCluster returns a replica holding n nodes besides itself, learnt from
// the network with a heartbeat and no keys.
func heldCluster(tb testing.TB, n int) *Cluster {
	tb.Helper()
	c := newTestCluster("self", 1)
	for i := range n {
		name := fmt.Sprintf("10.0.%d.%d:7946", i/256, i%256)
		d := Delta{Nodes: []NodeDelta{{ID: NodeID{Name: name, Generation: uint64(i + 1), Addr: name}, Heartbeat: 5}}}
		_, _, err := c.Apply(&d, t0, false, nil, nil)
		require.NoError(tb, err)
	}
	return c
}

// A digest cut to one datagram (50 lines) is built for most Syns and
// SynAcks once a cluster outgrows a datagram: its cost must follow the
// lines it lists, not the nodes held (it walked and shuffled all of them,
// a quarter of the simulator's CPU at 4,096 peers).
func BenchmarkFullDigestCut(b *testing.B) {
	for _, n := range []int{256, 4096} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			c := heldCluster(b, n)
			rng := rand.New(rand.NewPCG(1, 2))
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				d := c.FullDigest(50, nil, rng)
				if len(d.Entries) != 50 {
					b.Fatal(len(d.Entries))
				}
			}
			// CPU time per digest: wall time is unreliable on a shared machine.
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the process's CPU time (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// The cut digest's cost follows its lines: at 4,096 nodes held it
// allocates what 50 lines take (about 2 KB), not a list of every node
// (35 KB when it copied and shuffled them all).
func TestCutDigestCostFollowsLinesNotNodes(t *testing.T) {
	c := heldCluster(t, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const runs = 100
	for range runs {
		d := c.FullDigest(50, nil, rng)
		require.Len(t, d.Entries, 50)
	}
	runtime.ReadMemStats(&after)
	per := float64(after.TotalAlloc-before.TotalAlloc) / runs
	t.Logf("%.0f bytes allocated per cut digest at 4,096 nodes", per)
	require.Less(t, per, 4096.0)
}

// The random half of cut digests reaches every node held, self first and
// no line twice; nodes leaving (removal, restart, eviction) leave the
// slice of nodes in step with the maps.
func TestCutDigestPicksEveryNodeAndTracksRemovals(t *testing.T) {
	c := heldCluster(t, 300)
	for i := 0; i < 300; i += 3 {
		require.True(t, c.Remove(fmt.Sprintf("10.0.%d.%d:7946", i/256, i%256), t0))
	}
	c.Restart(NodeID{Name: "self", Generation: 2, Addr: "self"}, t0)
	require.Len(t, c.nodes, len(c.byName))
	for _, n := range c.nodes {
		require.Same(t, n, c.byKey[n.key])
	}
	rng := rand.New(rand.NewPCG(3, 4))
	listed := map[uint64]int{}
	for range 200 {
		d := c.FullDigest(20, nil, rng)
		require.Len(t, d.Entries, 20)
		require.Equal(t, c.Self().Line(), d.Entries[0])
		once := map[uint64]bool{}
		for _, e := range d.Entries {
			require.False(t, once[e.Key], "a line listed twice")
			once[e.Key] = true
			_, held := c.byKey[e.Key]
			require.True(t, held, "a line of a node not held")
			listed[e.Key]++
		}
	}
	require.Len(t, listed, len(c.byKey), "every node held listed at some point")
}
