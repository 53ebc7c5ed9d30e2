package bridge

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

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
