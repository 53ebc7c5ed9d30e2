package engine

import (
	"fmt"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// BenchmarkUpdateRelay: one Set at a time on a joined loopback cluster of
// BENCH_RELAY_N peers (default 256, beyond PushDirectMax: the update goes
// down the relay trees), each op waiting until every other peer has it.
// Reports the update latency (median and worst over the ops, wall clock:
// note the load average beside it), the cluster's CPU per update
// (cpu-µs/update, the idle cluster's background rate subtracted), and the
// push packets received per peer per update. BENCH_RELAY_FANOUT sets the
// trees' PushFanout (default the LAN preset's). BENCH_RELAY_PROFILE names a
// CPU profile of the updates alone (not the join).
func BenchmarkUpdateRelay(b *testing.B) {
	n := 256
	if v, err := strconv.Atoi(os.Getenv("BENCH_RELAY_N")); err == nil && v > 1 {
		n = v
	}
	fanout := LANConfig().PushFanout
	if v, err := strconv.Atoi(os.Getenv("BENCH_RELAY_FANOUT")); err == nil && v > 1 {
		fanout = v
	}
	cl := newNetCluster(b, n, func(_ int, c *Config) {
		lan := LANConfig()
		c.GossipInterval, c.QuietAfter, c.HeartbeatInterval = lan.GossipInterval, lan.QuietAfter, lan.HeartbeatInterval
		c.Failure = lan.Failure
		c.PushFanout = fanout
		loadTolerant(c)
	})
	eventually(b, 180*time.Second, cl.converged, "converge")
	var mu sync.Mutex
	arrivals := map[string]int{}
	var last time.Time
	for _, p := range cl.peers {
		p.On("set", func(e *Event) {
			mu.Lock()
			arrivals[e.Key]++
			last = time.Now()
			mu.Unlock()
		})
	}
	pushes := func() (sum uint64) {
		for _, p := range cl.peers {
			sum += p.Stats().PacketsReceived["push"]
		}
		return sum
	}
	// Background CPU of the idle cluster (rounds, beats), subtracted below.
	t0, c0 := time.Now(), processCPU()
	time.Sleep(2 * time.Second)
	idle := float64(processCPU()-c0) / float64(time.Since(t0))
	var lat []time.Duration
	var cpu time.Duration
	p0 := pushes()
	k := 0
	if path := os.Getenv("BENCH_RELAY_PROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	for b.Loop() {
		// Apart as in bench/'s CompareUpdate (500 ms there): each update
		// meets a new gossip round at every peer.
		b.StopTimer()
		time.Sleep(250 * time.Millisecond)
		b.StartTimer()
		key := fmt.Sprintf("u%d", k)
		src := cl.peers[1+k%(n-1)]
		k++
		start, c := time.Now(), processCPU()
		if err := src.Set(key, String("0123456789abcdef")); err != nil {
			b.Fatal(err)
		}
		eventually(b, 10*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return arrivals[key] == n-1
		}, "update %s reached every peer", key)
		mu.Lock()
		took := last.Sub(start)
		mu.Unlock()
		lat = append(lat, took)
		spent := processCPU() - c
		cpu += spent - time.Duration(idle*float64(time.Since(start)))
	}
	slices.Sort(lat)
	avg, _ := os.ReadFile("/proc/loadavg")
	b.Logf("N=%d, %d updates, load %s", n, len(lat), avg)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1e3, "update-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1e3, "update-max-ms")
	b.ReportMetric(float64(cpu.Microseconds())/float64(len(lat)), "cpu-µs/update")
	b.ReportMetric(float64(pushes()-p0)/float64(len(lat)*(n-1)), "receptions/peer")
	b.ReportMetric(idle, "idle-cores")
}
