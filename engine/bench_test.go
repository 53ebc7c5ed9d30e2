package engine

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/telepathine/telepathine/engine/internal/protocol"
	"github.com/telepathine/telepathine/engine/transport"
)

// benchCluster starts n peers on loopback and waits for them to converge.
func benchCluster(b *testing.B, n int) *cluster {
	cl := newNetCluster(b, n, func(i int, c *Config) {
		c.Limits.HandlerQueue = 1 << 16
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

// BenchmarkSayThroughput: one sender says events as fast as the 15
// receivers of a 16-peer loopback cluster keep up with: at most a window of
// events may be said and not yet heard by everyone (flow control on the
// slowest receiver), so the
// rate reported is one the whole cluster sustains, whatever the machine.
//
// The cluster runs the LAN preset's gossip and failure-detector timing, not
// the Local preset's ten-times-faster one: sixteen peers in one process on
// a busy machine miss the Local preset's 300 ms acceptable pause, receivers
// are then falsely declared dead (the sender stops pushing to them), and
// anti-entropy every 50 ms re-sends by TCP what the pushes are delivering.
// Says last 30 s, past the 60 s drain deadline's worst case of lag: a say
// is heard only within its duration (a late one is dropped on arrival, by
// contract), so a shorter one turns a slow run into a "lost" count
// (formerly "heard 149706 of 150000" with 5 s).
//
// Besides the rate: cpu-µs/event (the cluster's CPU per event said),
// events/push, dups/event (entries a receiver got twice, by push and by
// anti-entropy) and ae-B/event (anti-entropy bytes received per event
// heard), allocs/op (the cluster's allocations per event said); the log
// splits packets, bytes and duplicates by type, and counts what makes a
// run slow (pushes dropped, receivers falsely declared dead, packets
// refused).
//
// Two windows: 2,000 events, and 8,000. The window bounds how far the
// receivers may lag (window / rate: 160 ms at 50 k events/s), and it must
// cover the pipeline (sender, push flush, 15 receivers decoding, their
// handler goroutines) at the rate measured: with 2,000 the rate is bound
// by that latency on a shared 2-core machine long before CPU, so both are
// reported.
func BenchmarkSayThroughput(b *testing.B) {
	for _, window := range []int{2000, 8000} {
		b.Run(fmt.Sprintf("window=%d", window), func(b *testing.B) { sayThroughput(b, window) })
	}
}

func sayThroughput(b *testing.B, window int) {
	const receivers = 15
	cl := newNetCluster(b, receivers+1, func(_ int, c *Config) {
		lan := LANConfig()
		c.Limits.HandlerQueue = 1 << 16
		c.SayDuration = 30 * time.Second
		c.GossipInterval, c.QuietAfter, c.HeartbeatInterval = lan.GossipInterval, lan.QuietAfter, lan.HeartbeatInterval
		c.Failure.MinStdDev, c.Failure.AcceptablePause = lan.Failure.MinStdDev, lan.Failure.AcceptablePause
	})
	eventually(b, 30*time.Second, cl.converged, "converge")
	sender := cl.peers[0]
	// Each receiver's count: the window bounds the lag of the slowest
	// receiver, not of the receivers' total (which let one receiver fall
	// many windows behind while the others were ahead, and anti-entropy
	// then re-sent it what its pushes were bringing).
	var heardBy [receivers]atomic.Int64
	for i, p := range cl.peers[1:] {
		p.Hear("tp", func(Value, string, *Event) { heardBy[i].Add(1) })
	}
	heardAll := func() (sum, least int64) {
		least = heardBy[0].Load()
		for i := range heardBy {
			v := heardBy[i].Load()
			sum, least = sum+v, min(least, v)
		}
		return sum, least
	}
	caughtUp := func(said int) bool {
		_, least := heardAll()
		return least >= int64(said-window)
	}
	// allocs/op is then the whole cluster's allocations per event said.
	b.ReportAllocs()
	cpu0 := processCPU()
	start := time.Now()
	n := 0
	for b.Loop() {
		for !caughtUp(n) {
			time.Sleep(50 * time.Microsecond)
		}
		if err := sender.Say("tp", String("payload-of-some-thirty-bytes..")); err != nil {
			b.Fatal(err)
		}
		n++
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for sum, _ := heardAll(); sum < int64(receivers*n); sum, _ = heardAll() {
		if ctx.Err() != nil {
			b.Fatalf("receivers heard %d of %d", sum, receivers*n)
		}
		time.Sleep(100 * time.Microsecond)
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
	// CPU time of the whole cluster per event said: unlike the rate, it
	// does not depend on how much of the machine other jobs take.
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(n), "cpu-µs/event")
	var pushes, dups uint64
	bytes, packets, dupsBy := map[string]uint64{}, map[string]uint64{}, map[string]uint64{}
	for _, p := range cl.peers[1:] {
		st := p.Stats()
		pushes += st.PacketsReceived["push"]
		for t, v := range st.BytesReceived {
			bytes[t] += v
			packets[t] += st.PacketsReceived[t]
			dups += st.DuplicatesReceived[t]
			dupsBy[t] += st.DuplicatesReceived[t]
		}
	}
	b.ReportMetric(float64(receivers*n)/float64(max(pushes, 1)), "events/push")
	// Entries a receiver got twice (a push and an anti-entropy answer
	// racing), per event heard, and the anti-entropy bytes received per
	// event heard: bandwidth and CPU not spent on the pushes themselves.
	b.ReportMetric(float64(dups)/float64(receivers*n), "dups/event")
	b.ReportMetric(float64(bytes["synack"]+bytes["ack"])/float64(receivers*n), "ae-B/event")
	for _, t := range []string{"push", "syn", "synack", "ack", "beat"} {
		b.Logf("receivers got %-6s %8d packets %11d bytes %9d entries twice", t, packets[t], bytes[t], dupsBy[t])
	}
	var dropped, pushDropped, deaths, refused, malformed, sendErr uint64
	for _, p := range cl.peers {
		st := p.Stats()
		dropped += st.EventsDropped
		pushDropped += st.PushDropped
		deaths += st.Deaths
		refused += st.Truncated + st.Oversized + st.BadMagic + st.BadVersion + st.BadDelta + st.Replayed + st.Checksum
		malformed += st.Malformed
		sendErr += st.SendErrors + st.EncodeErrors
	}
	// Anything here slows the run down through anti-entropy repair: a
	// push lost or refused, a receiver falsely declared dead.
	b.Logf("push dropped %d, deaths %d, refused %d, malformed %d, send errors %d", pushDropped, deaths, refused, malformed, sendErr)
	if dropped > 0 {
		b.Fatalf("%d events dropped", dropped)
	}
}

// processCPU is the CPU time this process used so far (user + system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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

// BenchmarkReportSays: the engine's share of a say receiver's CPU, without
// sockets or the machine's load in it: a packet's 256 say events turned
// into Events and emitted to one Hear subscription (report), until its
// handler has run for each. Reported per event, in CPU time; the copy of
// the core's events each packet hands over is counted too.
func BenchmarkReportSays(b *testing.B) {
	cl := newMemCluster(b, 1, transport.MemOptions{}, func(_ int, c *Config) { c.Limits.HandlerQueue = 1 << 16 })
	p := cl.peers[0]
	const per = 256
	var heard atomic.Int64
	done := make(chan struct{}, 1)
	p.Hear("tp", func(Value, string, *Event) {
		if heard.Add(1)%per == 0 {
			done <- struct{}{}
		}
	})
	tmpl := make([]protocol.Event, per)
	for i := range tmpl {
		tmpl[i] = protocol.Event{Kind: protocol.Said, Peer: "10.0.0.9:7946", Key: "tp", Value: []byte("payload-of-some-thirty-bytes.."), Encoding: 1, ExpiresAt: 1}
	}
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		out := protocol.Output{Events: slices.Clone(tmpl)}
		p.mu.Lock()
		p.report(&out)
		p.mu.Unlock()
		<-done
	}
	b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N*per), "cpu-ns/event")
}
