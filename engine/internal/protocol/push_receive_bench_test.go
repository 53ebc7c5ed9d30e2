package protocol

import (
	"fmt"
	"testing"
	"time"

	"github.com/telepathine/telepathine/engine/internal/state"
)

// BenchmarkSayPushReceive: a receiver's CPU and allocations per say entry
// of pushes carrying n says each (decode, apply, the events handed to the
// runtime and recycled as the runtime does): the per-receiver share of
// BenchmarkSayThroughput's cluster CPU, without the machine's load in it.
// Only the receiver's handling is timed; the sender's Says and encoding
// are not.
func BenchmarkSayPushReceive(b *testing.B) {
	for _, n := range []int{16, 256} {
		b.Run(fmt.Sprintf("says=%d", n), func(b *testing.B) {
			s := newSim(b, 2, simConfig())
			s.until(100, s.allKnowAll, "join")
			w, rx := s.peers[1], s.peers[0]
			data := []byte("payload-of-some-thirty-bytes..")
			var cpu time.Duration
			entries, packets, events := 0, 0, 0
			var encs [][]byte
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				encs = encs[:0]
				for range n {
					if _, err := w.core.Say(s.now, "tp", data, state.EncodingText, 30*time.Second, false); err != nil {
						b.Fatal(err)
					}
				}
				plan := w.core.TakePushes()
				for _, o := range plan.Packets() {
					if o.To != rx.addr {
						continue
					}
					enc, err := w.core.Encode(s.now, o)
					if err != nil {
						b.Fatal(err)
					}
					encs = append(encs, enc)
					packets++
				}
				b.StartTimer()
				t0 := cpuTime()
				for _, enc := range encs {
					out := rx.core.HandleStream(s.now, w.addr, enc)
					events += len(out.Events)
					rx.core.Recycle(&out)
				}
				cpu += cpuTime() - t0
				entries += n
				// Time moves on as in a flood: says expire 30 s later,
				// FreshHold and the repair horizon see time pass.
				s.now = s.now.Add(time.Millisecond)
			}
			if events != entries {
				b.Fatalf("%d events for %d entries said", events, entries)
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(entries), "cpu-ns/entry")
			b.ReportMetric(float64(entries)/float64(packets), "entries/packet")
		})
	}
}
