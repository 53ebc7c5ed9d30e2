package engine

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine/transport"
)

// TestGracefulLeaveReportedEverywhere: on the in-memory network with real
// timing, Stop announces the departure and every other peer reports
// peer:stop with ReasonLeft (a failure verdict would say ReasonFailed, and
// comes seconds later); the peer list says left; the restart (a new
// generation) is welcome at once. How fast the announcement lands (the
// issue's 50 ms) is measured by BenchmarkGracefulLeave, not asserted here:
// a timed assertion only measures the load of the machine running -race.
// N = 16 here: 64 real peers under -race on a shared 2-core machine do not
// even converge reliably (the simulator covers N = 64:
// TestSimGracefulLeaveReachesAllAtOnce).
func TestGracefulLeaveReportedEverywhere(t *testing.T) {
	const n = 16
	cl := newMemCluster(t, n, transport.MemOptions{}, nil)
	eventually(t, 60*time.Second, cl.converged, "converge")
	worst := leaveOnce(t, cl)
	t.Logf("N=%d: peer:stop (left) reported by all %d others within %v", n, n-1, worst)
	leaver := cl.peers[n-1]
	name := leaver.Name()
	for _, p := range cl.peers[:n-1] {
		info, ok := p.Member(name)
		require.True(t, ok)
		require.Equal(t, PeerLeft, info.State)
		require.Equal(t, ReasonLeft, info.Reason)
	}
	require.NoError(t, leaver.Start(context.Background()))
	eventually(t, 5*time.Second, func() bool {
		for _, p := range cl.peers[:n-1] {
			if info, ok := p.Member(name); !ok || !info.Alive {
				return false
			}
		}
		return true
	}, "the restarted peer is alive everywhere")
}

// leaveOnce stops the cluster's last peer and returns how long the last of
// the others took to report its leave (peer:stop with ReasonLeft).
func leaveOnce(t testing.TB, cl *cluster) time.Duration {
	n := len(cl.peers)
	leaver := cl.peers[n-1]
	name := leaver.Name()
	var mu sync.Mutex
	var got []time.Duration
	var start time.Time
	for _, p := range cl.peers[:n-1] {
		sub := p.On("peer:stop", func(e *Event) {
			if e.Peer != name || e.Reason != ReasonLeft {
				return
			}
			mu.Lock()
			got = append(got, time.Since(start))
			mu.Unlock()
		})
		defer sub.Cancel()
	}
	mu.Lock()
	start = time.Now()
	mu.Unlock()
	require.NoError(t, leaver.Stop(context.Background()))
	eventually(t, 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == n-1
	}, "every peer reports the leave")
	mu.Lock()
	worst := slices.Max(got)
	mu.Unlock()
	return worst
}

// BenchmarkGracefulLeave measures issue 12's leave target: how long after
// Stop the last of the other peers reports peer:stop with ReasonLeft, on
// the in-memory network with real timing (no -race). Each iteration stops
// the last peer and starts it again once every peer sees it alive.
func BenchmarkGracefulLeave(b *testing.B) {
	for _, n := range []int{16, 64} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			cl := newMemCluster(b, n, transport.MemOptions{}, func(_ int, c *Config) { loadTolerant(c) })
			eventually(b, 60*time.Second, cl.converged, "converge")
			var worst []time.Duration
			for b.Loop() {
				worst = append(worst, leaveOnce(b, cl))
				require.NoError(b, cl.peers[n-1].Start(context.Background()))
				eventually(b, 30*time.Second, cl.converged, "the restarted peer is alive everywhere")
			}
			slices.Sort(worst)
			b.ReportMetric(float64(worst[len(worst)/2].Microseconds())/1000, "ms-median")
			b.ReportMetric(float64(worst[len(worst)-1].Microseconds())/1000, "ms-worst")
		})
	}
}
