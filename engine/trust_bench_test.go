package engine

import (
	"encoding/binary"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/telepathine/telepathine/engine/transport"
)

// BenchmarkTrustSetToAllLatency: N = 64 real peers (runtime, codec,
// envelope, replay window) on the in-memory network, plain and encrypted in
// one run. Each op sets a key on one peer and waits until all 63 others
// applied it; p50 and p99 are the time from Set to the last peer's event.
// The goal: encrypted within 10 % of plain.
func BenchmarkTrustSetToAllLatency(b *testing.B) {
	const n = 64
	for _, mode := range []string{"plain", "aes"} {
		b.Run(mode, func(b *testing.B) {
			cl := newMemCluster(b, n, transport.MemOptions{}, func(_ int, c *Config) {
				if mode == "aes" {
					c.Security.Keys = [][]byte{keyA}
				}
			})
			eventually(b, 60*time.Second, cl.converged, "converge")
			writer := cl.peers[0]
			var mu sync.Mutex
			var last time.Time // when the last of the 63 events arrived
			var heard atomic.Int64
			for _, p := range cl.peers[1:] {
				p.On("set:lat", func(e *Event) {
					mu.Lock()
					last = time.Now()
					mu.Unlock()
					heard.Add(1)
				})
			}
			var lat []time.Duration
			var want int64
			buf := make([]byte, 8)
			for i := 0; b.Loop(); i++ {
				binary.BigEndian.PutUint64(buf, uint64(i))
				start := time.Now()
				if err := writer.Set("lat", Bytes(append([]byte(nil), buf...))); err != nil {
					b.Fatal(err)
				}
				want += n - 1
				deadline := start.Add(10 * time.Second)
				for heard.Load() < want {
					if time.Now().After(deadline) {
						b.Fatalf("set %d reached %d of %d peers", i, heard.Load()-(want-(n-1)), n-1)
					}
					time.Sleep(20 * time.Microsecond)
				}
				mu.Lock()
				lat = append(lat, last.Sub(start))
				mu.Unlock()
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
