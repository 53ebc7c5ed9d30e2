package engine

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchCluster starts n peers on loopback and waits for them to converge.
func benchCluster(b *testing.B, n int) *cluster {
	cl := newNetCluster(b, n, func(i int, c *Config) {
		c.HandlerQueue = 1 << 16
		c.SayDuration = 5 * time.Second
	})
	eventually(b, 30*time.Second, cl.converged, "converge")
	return cl
}

// BenchmarkSayLatency: one sender, 16 peers on loopback; each op says one
// event and waits until all 15 others heard it. Reports the delivery latency
// of every (event, receiver) pair: p50 and p99.
func BenchmarkSayLatency(b *testing.B) {
	cl := benchCluster(b, 16)
	sender := cl.peers[0]
	var mu sync.Mutex
	var lat []time.Duration
	var heard atomic.Int64
	for _, p := range cl.peers[1:] {
		p.Hear("lat", func(data Value, _ string, _ *Event) {
			sent := time.Unix(0, int64(binary.BigEndian.Uint64(data.Data)))
			d := time.Since(sent)
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
			heard.Add(1)
		})
	}
	var want int64
	buf := make([]byte, 8)
	for b.Loop() {
		binary.BigEndian.PutUint64(buf, uint64(time.Now().UnixNano()))
		if err := sender.Say("lat", Bytes(append([]byte(nil), buf...))); err != nil {
			b.Fatal(err)
		}
		want += 15
		for heard.Load() < want {
			time.Sleep(20 * time.Microsecond)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkSayThroughput: one sender says b.N events as fast as it can to
// 16 peers on loopback; the op ends when every receiver has heard every
// event. Reports events per second with all receivers keeping up.
func BenchmarkSayThroughput(b *testing.B) {
	cl := benchCluster(b, 16)
	sender := cl.peers[0]
	var heard atomic.Int64
	for _, p := range cl.peers[1:] {
		p.Hear("tp", func(Value, string, *Event) { heard.Add(1) })
	}
	start := time.Now()
	n := 0
	for b.Loop() {
		if err := sender.Say("tp", String("payload-of-some-thirty-bytes..")); err != nil {
			b.Fatal(err)
		}
		n++
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for heard.Load() < int64(15*n) {
		if ctx.Err() != nil {
			b.Fatalf("receivers heard %d of %d", heard.Load(), 15*n)
		}
		time.Sleep(100 * time.Microsecond)
	}
	el := time.Since(start)
	b.ReportMetric(float64(n)/el.Seconds(), "events/s")
	var dropped uint64
	for _, p := range cl.peers {
		dropped += p.Stats().EventsDropped
	}
	if dropped > 0 {
		b.Fatalf("%d events dropped", dropped)
	}
}

// BenchmarkSet is the cost of one local Set (state update + push queueing)
// on a running peer with 3 live neighbours: the Go baseline the bindings
// are compared with.
func BenchmarkSet(b *testing.B) {
	cl := benchCluster(b, 4)
	p := cl.peers[0]
	v := String("value")
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Set(fmt.Sprintf("k%d", i%1000), v); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
