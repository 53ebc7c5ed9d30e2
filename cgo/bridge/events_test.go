package bridge

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	apiv1 "github.com/telepathine/telepathine/gen/api/v1"
)

// recorder is a subscription's callback and finalizer that checks the
// contract: never concurrent, never after the finalizer, finalizer once.
type recorder struct {
	t         *testing.T
	inFlight  atomic.Int32
	calls     atomic.Int32
	finalized atomic.Int32
	mu        sync.Mutex
	events    []*apiv1.Event
	onEvent   func(*apiv1.Event)
	slow      time.Duration
}

func (r *recorder) deliver(_ uint64, raw []byte) {
	if n := r.inFlight.Add(1); n != 1 {
		r.t.Errorf("callback ran concurrently with itself (%d in flight)", n)
	}
	defer r.inFlight.Add(-1)
	if r.finalized.Load() != 0 {
		r.t.Errorf("callback after the finalizer")
	}
	r.calls.Add(1)
	ev := decodeEvent(r.t, raw)
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	if r.slow > 0 {
		time.Sleep(r.slow) // a slow application handler, not synchronisation
	}
	if r.onEvent != nil {
		r.onEvent(ev)
	}
}

func (r *recorder) finalize() {
	if r.inFlight.Load() != 0 {
		r.t.Errorf("finalizer while a callback runs")
	}
	r.finalized.Add(1)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

func (r *recorder) snapshot() []*apiv1.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*apiv1.Event(nil), r.events...)
}

func say(t *testing.T, b *Bridge, h uint64, event, data string) {
	t.Helper()
	require.NoError(t, b.Say(h, []byte(event), []byte(data), 1, 0, 0))
}

func TestLocalLifecycleEvents(t *testing.T) {
	b := New()
	h, err := b.NewEngine(localConfig(t, newCluster(t)))
	require.NoError(t, err)
	defer b.CloseEngine(h, 0)
	r := &recorder{t: t}
	sub, err := b.Subscribe(h, []byte("*"), r.deliver, r.finalize) // one-segment names
	require.NoError(t, err)
	require.NoError(t, b.Start(h))
	require.NoError(t, b.Stop(h))
	require.Eventually(t, func() bool { return r.count() == 2 }, waitFor, time.Millisecond)
	evs := r.snapshot()
	assert.Equal(t, "start", evs[0].GetName())
	assert.NotNil(t, evs[0].GetStart())
	assert.Equal(t, "stop", evs[1].GetName())
	assert.NotNil(t, evs[1].GetStop())
	assert.Equal(t, info(t, b, h).GetName(), evs[0].GetPeer())
	require.NoError(t, b.CloseSubscription(sub, 0))
	assert.Equal(t, int32(1), r.finalized.Load())
}

func TestSubscribeHearsSays(t *testing.T) {
	b := New()
	a, c := pair(t, b)
	r := &recorder{t: t}
	sub, err := b.Subscribe(c, []byte("say:chat:*"), r.deliver, r.finalize)
	require.NoError(t, err)
	say(t, b, a, "chat:hello", "hi")
	say(t, b, a, "other", "not for us")
	require.Eventually(t, func() bool { return r.count() == 1 }, waitFor, time.Millisecond)
	ev := r.snapshot()[0]
	assert.Equal(t, "say:chat:hello", ev.GetName())
	assert.Equal(t, info(t, b, a).GetName(), ev.GetPeer())
	assert.Equal(t, "chat:hello", ev.GetSay().GetEvent())
	assert.Equal(t, "hi", string(ev.GetSay().GetData().GetData()))
	assert.Greater(t, ev.GetSay().GetExpiresAtMs(), time.Now().UnixMilli())
	require.NoError(t, b.CloseSubscription(sub, 0))
	require.NoError(t, b.CloseSubscription(sub, 0))
	assert.Equal(t, int32(1), r.finalized.Load())
}

func TestCallbacksAreSerialisedAndOrdered(t *testing.T) {
	b := New()
	a, c := pair(t, b)
	r := &recorder{t: t, slow: 200 * time.Microsecond}
	sub, err := b.Subscribe(c, []byte("say:n"), r.deliver, r.finalize)
	require.NoError(t, err)
	defer b.CloseSubscription(sub, 0)
	const n = 200
	for i := range n {
		say(t, b, a, "n", strconv.Itoa(i))
	}
	require.Eventually(t, func() bool { return r.count() == n }, waitFor, time.Millisecond)
	for i, ev := range r.snapshot() {
		require.Equal(t, strconv.Itoa(i), string(ev.GetSay().GetData().GetData()), "events out of the sender's order")
	}
}

func TestNoCallbackAfterCloseReturns(t *testing.T) {
	b := New()
	a, c := pair(t, b)
	var closed atomic.Bool
	var after atomic.Int32
	r := &recorder{t: t}
	r.onEvent = func(*apiv1.Event) {
		if closed.Load() {
			after.Add(1)
		}
	}
	sub, err := b.Subscribe(c, []byte("say:flood"), r.deliver, r.finalize)
	require.NoError(t, err)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_ = b.Say(a, []byte("flood"), []byte(strconv.Itoa(i)), 1, 0, 0)
			time.Sleep(100 * time.Microsecond) // pacing the flood
		}
	}()
	require.Eventually(t, func() bool { return r.count() >= 20 }, waitFor, time.Millisecond)
	require.NoError(t, b.CloseSubscription(sub, 0))
	closed.Store(true)
	seen := r.count()
	// The flood goes on: once a stream opened after the close has an event,
	// c's bus has dispatched events said after the close, and the closed
	// subscription must have had none of them.
	ev, err := b.OpenEvents(c, []byte("say:flood"), 0)
	require.NoError(t, err)
	_, err = b.Poll(ev, waitFor.Milliseconds())
	require.NoError(t, err, "an event said after the close reached c")
	require.NoError(t, b.CloseEvents(ev))
	close(stop)
	<-done
	assert.Equal(t, int32(0), after.Load())
	assert.Equal(t, seen, r.count())
	assert.Equal(t, int32(1), r.finalized.Load())
}

func TestConcurrentClosesFinalizeOnce(t *testing.T) {
	b := New()
	a, c := pair(t, b)
	r := &recorder{t: t, slow: time.Millisecond}
	sub, err := b.Subscribe(c, []byte("say:x"), r.deliver, r.finalize)
	require.NoError(t, err)
	for i := range 20 {
		say(t, b, a, "x", strconv.Itoa(i))
	}
	require.Eventually(t, func() bool { return r.count() >= 1 }, waitFor, time.Millisecond)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := b.CloseSubscription(sub, 0); err != nil {
				t.Error(err)
			}
			// Whichever close returns, no callback runs any more.
			if r.inFlight.Load() != 0 {
				t.Error("a callback still runs after close returned")
			}
		})
	}
	wg.Wait()
	require.Eventually(t, func() bool { return r.finalized.Load() == 1 }, waitFor, time.Millisecond)
	assert.Equal(t, int32(1), r.finalized.Load())
}

// A callback that closes its own subscription must not deadlock: the
// caller says it runs inside that callback (the C layer knows it per
// thread). The current call is the
// last; the finalizer runs once it returns.
func TestCloseFromInsideCallback(t *testing.T) {
	b := New()
	a, c := pair(t, b)
	var sub atomic.Uint64
	var closeErr atomic.Value
	r := &recorder{t: t}
	r.onEvent = func(*apiv1.Event) {
		if err := b.CloseSubscription(sub.Load(), sub.Load()); err != nil {
			closeErr.Store(err)
		}
		if r.finalized.Load() != 0 {
			t.Error("finalizer ran before the closing callback returned")
		}
	}
	h, err := b.Subscribe(c, []byte("say:x"), r.deliver, r.finalize)
	require.NoError(t, err)
	sub.Store(h)
	for i := range 10 {
		say(t, b, a, "x", strconv.Itoa(i))
	}
	require.Eventually(t, func() bool { return r.finalized.Load() == 1 }, waitFor, time.Millisecond)
	assert.Nil(t, closeErr.Load())
	assert.Equal(t, 1, r.count(), "calls after the closing one")
	// The handle is closed: closing again is fine.
	require.NoError(t, b.CloseSubscription(h, 0))
	assert.Equal(t, int32(1), r.finalized.Load())
}

func TestEngineCloseEndsSubscriptions(t *testing.T) {
	b := New()
	a, c := pair(t, b)
	r1, r2 := &recorder{t: t}, &recorder{t: t}
	s1, err := b.Subscribe(c, []byte("**"), r1.deliver, r1.finalize)
	require.NoError(t, err)
	s2, err := b.Subscribe(c, []byte("say:*"), r2.deliver, nil) // no finalizer: fine
	require.NoError(t, err)
	say(t, b, a, "x", "1")
	require.Eventually(t, func() bool { return r2.count() == 1 }, waitFor, time.Millisecond)
	require.NoError(t, b.CloseEngine(c, 0))
	assert.Equal(t, int32(1), r1.finalized.Load())
	// Their handles are closed: closing is a no-op, other uses say closed.
	require.NoError(t, b.CloseSubscription(s1, 0))
	require.NoError(t, b.CloseSubscription(s2, 0))
	assert.Equal(t, int32(1), r1.finalized.Load())
	// Subscribing to a closed engine fails and never calls the finalizer.
	r3 := &recorder{t: t}
	_, err = b.Subscribe(c, []byte("**"), r3.deliver, r3.finalize)
	requireCode(t, ErrClosed, err)
	assert.Equal(t, int32(0), r3.finalized.Load())
	require.NoError(t, b.CloseEngine(a, 0))
	assert.Equal(t, 0, b.Handles())
}

func TestEngineCloseFromInsideCallback(t *testing.T) {
	b := New()
	a, c := pair(t, b)
	r := &recorder{t: t}
	var sub atomic.Uint64
	r.onEvent = func(*apiv1.Event) {
		if err := b.CloseEngine(c, sub.Load()); err != nil {
			t.Error(err)
		}
	}
	h, err := b.Subscribe(c, []byte("say:x"), r.deliver, r.finalize)
	require.NoError(t, err)
	sub.Store(h)
	say(t, b, a, "x", "1")
	require.Eventually(t, func() bool { return r.finalized.Load() == 1 }, waitFor, time.Millisecond)
	assert.Equal(t, 1, r.count())
	_, err = b.Info(c)
	requireCode(t, ErrClosed, err)
}

func TestPoll(t *testing.T) {
	b := New()
	a, c := pair(t, b)
	ev, err := b.OpenEvents(c, []byte("say:**"), 0)
	require.NoError(t, err)

	// Nothing queued: 0 returns at once, a timeout after it.
	start := time.Now()
	_, err = b.Poll(ev, 0)
	requireCode(t, Timeout, err)
	assert.Less(t, time.Since(start), time.Second)
	start = time.Now()
	_, err = b.Poll(ev, 30)
	requireCode(t, Timeout, err)
	assert.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)

	say(t, b, a, "p:1", "one")
	say(t, b, a, "p:2", "two")
	for _, want := range []string{"one", "two"} {
		raw, err := b.Poll(ev, waitFor.Milliseconds())
		require.NoError(t, err)
		e := decodeEvent(t, raw)
		assert.Equal(t, want, string(e.GetSay().GetData().GetData()))
	}

	// A poll without timeout ends with ErrClosed when the stream is
	// closed, whether it was already waiting or not. That a waiting Next
	// wakes on Close is shown deterministically, without real time, by
	// engine/internal/bus TestStreamNextWakesOnClose (testing/synctest).
	got := make(chan error, 1)
	go func() {
		_, err := b.Poll(ev, -1)
		got <- err
	}()
	require.NoError(t, b.CloseEvents(ev))
	select {
	case err := <-got:
		requireCode(t, ErrClosed, err)
	case <-time.After(waitFor):
		t.Fatal("poll did not wake on close")
	}
	require.NoError(t, b.CloseEvents(ev))
	_, err = b.Poll(ev, 0)
	requireCode(t, ErrClosed, err)
	_, err = b.Poll(0, 0)
	requireCode(t, ErrHandle, err)
	_, err = b.Poll(a, 0) // an engine handle
	requireCode(t, ErrHandle, err)
}

// After the engine closes, a stream's queued events can still be polled,
// then it reports its end; its handle stays valid until closed.
func TestPollDrainsAfterEngineClose(t *testing.T) {
	b := New()
	a, c := pair(t, b)
	ev, err := b.OpenEvents(c, []byte("say:d"), 8)
	require.NoError(t, err)
	r := &recorder{t: t}
	sub, err := b.Subscribe(c, []byte("say:d"), r.deliver, nil)
	require.NoError(t, err)
	defer b.CloseSubscription(sub, 0)
	for i := range 3 {
		say(t, b, a, "d", fmt.Sprint(i))
	}
	// The subscription saw them all, so the stream has them queued.
	require.Eventually(t, func() bool { return r.count() == 3 }, waitFor, time.Millisecond)
	require.NoError(t, b.CloseEngine(c, 0))
	for i := range 3 {
		raw, err := b.Poll(ev, 0)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprint(i), string(decodeEvent(t, raw).GetSay().GetData().GetData()))
	}
	_, err = b.Poll(ev, 1000)
	requireCode(t, ErrClosed, err)
	require.NoError(t, b.CloseEvents(ev))
	_, err = b.OpenEvents(c, []byte("**"), 0)
	requireCode(t, ErrClosed, err)
}

// A full stream drops events and counts them, never blocking the engine.
func TestPollQueueOverflowIsCounted(t *testing.T) {
	b := New()
	a, c := pair(t, b)
	ev, err := b.OpenEvents(c, []byte("say:o"), 2)
	require.NoError(t, err)
	defer b.CloseEvents(ev)
	r := &recorder{t: t}
	sub, err := b.Subscribe(c, []byte("say:o"), r.deliver, nil)
	require.NoError(t, err)
	defer b.CloseSubscription(sub, 0)
	for i := range 5 {
		say(t, b, a, "o", fmt.Sprint(i))
	}
	require.Eventually(t, func() bool { return r.count() == 5 }, waitFor, time.Millisecond)
	for range 2 {
		_, err := b.Poll(ev, 0)
		require.NoError(t, err)
	}
	_, err = b.Poll(ev, 0)
	requireCode(t, Timeout, err)
	raw, err := b.Stats(c)
	require.NoError(t, err)
	var st apiv1.Stats
	require.NoError(t, proto.Unmarshal(raw, &st))
	assert.Equal(t, uint64(3), st.GetEventsDropped())
}
