package bridge

import (
	"context"
	"encoding/binary"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/telepathine/telepathine/engine"
	apiv1 "github.com/telepathine/telepathine/gen/api/v1"
)

// The Go side of the C ABI's figures (make bench-c prints both): the cost
// of a Set through the engine and through the bridge, and of delivering one
// event to a Go handler and to a bridge subscription (serialization
// included). The C benchmark measures the same through the library.

var benchValue = []byte("0123456789abcdef")

func BenchmarkEngineSet(b *testing.B) {
	br := New()
	h := started(b, br, localConfig(b, newCluster(b)))
	p := engineOf(b, br, h)
	v := engine.Bytes(benchValue)
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Set("bench", v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBridgeSet(b *testing.B) {
	br := New()
	h := started(b, br, localConfig(b, newCluster(b)))
	key := []byte("bench")
	b.ReportAllocs()
	for b.Loop() {
		if err := br.Set(h, key, benchValue, 0, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func engineOf(b *testing.B, br *Bridge, h uint64) *engine.Peer {
	e, err := br.engine(h)
	if err != nil {
		b.Fatal(err)
	}
	return e.peer
}

// benchEvents is the number of events of one drain.
const benchEvents = 10000

// BenchmarkEventDelivery measures how fast a subscription drains a backlog:
// the first event blocks the handler while the other peer says
// benchEvents-1 more, which queue; once an end marker shows they are all
// queued, the handler is released and the drain timed. ns/event is the cost
// of one delivery (dequeue, and for the bridge, serialization and the
// callback) with no network in the way.
func BenchmarkEventDelivery(b *testing.B) {
	b.Run("engine-handler", func(b *testing.B) { benchDrain(b, false) })
	b.Run("bridge-subscription", func(b *testing.B) { benchDrain(b, true) })
}

func benchDrain(b *testing.B, viaBridge bool) {
	br := New()
	a, c := pair(b, br, func(cfg *apiv1.Config) { cfg.HandlerQueue = benchEvents + 64 })
	sender, receiver := engineOf(b, br, a), engineOf(b, br, c)
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		gate := make(chan struct{})
		done := make(chan time.Time, 1)
		var got atomic.Int64
		handle := func() {
			switch got.Add(1) {
			case 1:
				<-gate
			case benchEvents:
				done <- time.Now()
			}
		}
		event := "bench" + strconv.Itoa(i)
		var cancel func()
		if viaBridge {
			sub, err := br.Subscribe(c, []byte("say:"+event), func(uint64, []byte) { handle() }, nil)
			if err != nil {
				b.Fatal(err)
			}
			cancel = func() { _ = br.CloseSubscription(sub, 0) }
		} else {
			cancel = receiver.On("say:"+event, func(*engine.Event) { handle() }).Cancel
		}
		end := sayBacklog(b, sender, receiver, event)
		t0 := time.Now()
		close(gate)
		select {
		case t1 := <-done:
			total += t1.Sub(t0)
		case <-time.After(time.Minute):
			b.Fatalf("only %d of %d events delivered", got.Load(), benchEvents)
		}
		cancel()
		end.Close()
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N*(benchEvents-1)), "ns/event")
}

// BenchmarkPollFlat measures how fast tp_events_poll_flat drains a backlog
// of a stream (what the Node and Python pollers call): benchEvents says
// are queued on the stream, then taken by batches of up to 4,096 (the Node
// addon's), each built as a flat batch. ns/event by the clock and
// cpu-ns/event of the draining thread (what holds on a loaded machine), with no network in the way.
func BenchmarkPollFlat(b *testing.B) {
	br := New()
	a, c := pair(b, br, func(cfg *apiv1.Config) { cfg.HandlerQueue = benchEvents + 64 })
	sender, receiver := engineOf(b, br, a), engineOf(b, br, c)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var total, cpu time.Duration
	var batches int
	for i := 0; b.Loop(); i++ {
		event := "bench" + strconv.Itoa(i)
		st, err := br.OpenEvents(c, []byte("say:"+event), benchEvents+64)
		if err != nil {
			b.Fatal(err)
		}
		end := sayBacklog(b, sender, receiver, event)
		t0, c0 := time.Now(), threadCPU(b)
		for got := 0; got < benchEvents; batches++ {
			batch, err := br.PollFlat(st, 0, 4096)
			if err != nil {
				b.Fatalf("after %d of %d events: %v", got, benchEvents, err)
			}
			got += int(binary.LittleEndian.Uint32(batch))
		}
		cpu += threadCPU(b) - c0
		total += time.Since(t0)
		_ = br.CloseEvents(st)
		end.Close()
	}
	n := float64(b.N * benchEvents)
	b.ReportMetric(float64(total.Nanoseconds())/n, "ns/event")
	b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/event")
	b.ReportMetric(float64(b.N*benchEvents)/float64(batches), "events/batch")
}

// sayBacklog has sender say benchEvents events named event, then an end
// marker, and returns once receiver got the marker: the events are queued
// at the receiver. The caller closes the returned stream.
func sayBacklog(b *testing.B, sender, receiver *engine.Peer, event string) *engine.Stream {
	end, err := receiver.Events("say:"+event+"-end", 4)
	if err != nil {
		b.Fatal(err)
	}
	for j := range benchEvents {
		if err := sender.Say(event, engine.String(strconv.Itoa(j)), engine.Buffered()); err != nil {
			b.Fatal(err)
		}
	}
	if err := sender.Say(event+"-end", engine.String("")); err != nil {
		b.Fatal(err)
	}
	ctx, stop := context.WithTimeout(context.Background(), time.Minute)
	_, err = end.Next(ctx)
	stop()
	if err != nil {
		b.Fatal("the end marker never came: ", err)
	}
	return end
}

// threadCPU is the CPU time of the calling thread (locked to it):
// CLOCK_THREAD_CPUTIME_ID, exact where getrusage counts in ticks.
func threadCPU(b *testing.B) time.Duration {
	const clockThreadCPUTimeID = 3
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		b.Fatal(errno)
	}
	return time.Duration(ts.Nano())
}
