package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPatternMatrix(t *testing.T) {
	cases := []struct {
		pattern, name string
		want          bool
	}{
		{"set", "set", true},
		{"set", "set:k", false},
		{"set:k", "set:k", true},
		{"set:*", "set:k", true},
		{"set:*", "set", false},
		{"set:*", "set:a:b", false},
		{"set:**", "set:a:b", true},
		{"set:**", "set:a", true},
		{"set:**", "set", true},
		{"**", "anything:at:all", true},
		{"*", "start", true},
		{"*", "peer:new", false},
		{"*:*", "peer:new", true},
		{"peer:*", "peer:stop", true},
		{"say:chat:*", "say:chat:hello", true},
		{"say:chat:*", "say:chat", false},
		{"say:*:hello", "say:chat:hello", true},
		{"say:**:hello", "say:a:b:c:hello", true},
		{"say:**:hello", "say:hello", true},
		{"say:**:hello", "say:a:b:c:bye", false},
		{"**:expired", "key:expired", true},
		{"say:a:b", "say:a:b", true},
		{"say:a:b", "say:a", false},
		{"", "", true},
		{"*", "", true},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, Compile(c.pattern).Match(c.name), "%q ~ %q", c.pattern, c.name)
	}
}

func TestEventNamesAndMatchingOnce(t *testing.T) {
	b := New(16, nil)
	defer b.Close()
	var got atomic.Int32
	done := make(chan struct{}, 4)
	b.On("**", func(e *Event) { got.Add(1); done <- struct{}{} })
	b.Emit(NewEvent(KindSet, "p", "color", Value{Data: []byte("red")}, 0, nil))
	<-done
	// "set" and "set:color" both match "**": delivered once all the same.
	select {
	case <-done:
		t.Fatal("delivered twice")
	case <-time.After(50 * time.Millisecond):
	}
	assert.EqualValues(t, 1, got.Load())
	e := NewEvent(KindSay, "p", "chat:msg", Value{}, 0, nil)
	assert.Equal(t, "say:chat:msg", e.Name())
	assert.Equal(t, []string{"set", "set:k"}, NewEvent(KindSet, "p", "k", Value{}, 0, nil).Names())
}

func TestOrderPerSubscription(t *testing.T) {
	b := New(2000, nil)
	defer b.Close()
	var mu sync.Mutex
	var seen []string
	var wg sync.WaitGroup
	wg.Add(1000)
	b.On("say:*", func(e *Event) {
		mu.Lock()
		seen = append(seen, string(e.Value.Data))
		mu.Unlock()
		wg.Done()
	})
	for i := 0; i < 1000; i++ {
		b.Emit(NewEvent(KindSay, "p", "n", Value{Data: []byte(fmt.Sprint(i))}, 0, nil))
	}
	wg.Wait()
	for i, s := range seen {
		require.Equal(t, fmt.Sprint(i), s)
	}
}

func TestSlowHandlerDropsOnlyItsOwnEvents(t *testing.T) {
	b := New(4, nil)
	defer b.Close()
	release := make(chan struct{})
	slow := b.On("**", func(e *Event) { <-release })
	var fast atomic.Int32
	b.On("**", func(e *Event) { fast.Add(1) })
	start := time.Now()
	for i := 0; i < 100; i++ {
		b.Emit(NewEvent(KindStart, "p", "", Value{}, 0, nil))
	}
	assert.Less(t, time.Since(start), time.Second, "Emit never blocks")
	require.Eventually(t, func() bool { return fast.Load() >= 4 }, 5*time.Second, time.Millisecond)
	assert.Positive(t, slow.Dropped())
	dropped, _ := b.Stats()
	assert.Positive(t, dropped)
	close(release)
}

func TestOnceFiresOnce(t *testing.T) {
	b := New(16, nil)
	defer b.Close()
	var n atomic.Int32
	s := b.Once("say:x", func(e *Event) { n.Add(1) })
	for i := 0; i < 5; i++ {
		b.Emit(NewEvent(KindSay, "p", "x", Value{}, 0, nil))
	}
	<-s.Done()
	assert.EqualValues(t, 1, n.Load())
	assert.Equal(t, 0, b.Subscriptions())
}

func TestCancelWaitsForRunningHandler(t *testing.T) {
	b := New(16, nil)
	defer b.Close()
	entered := make(chan struct{})
	var running atomic.Bool
	var calls atomic.Int32
	s := b.On("**", func(e *Event) {
		calls.Add(1)
		running.Store(true)
		close(entered)
		time.Sleep(100 * time.Millisecond) // a long handler, not synchronisation
		running.Store(false)
	})
	b.Emit(NewEvent(KindStart, "p", "", Value{}, 0, nil))
	b.Emit(NewEvent(KindStart, "p", "", Value{}, 0, nil))
	<-entered
	s.Cancel()
	assert.False(t, running.Load(), "Cancel returned while the handler was running")
	b.Emit(NewEvent(KindStart, "p", "", Value{}, 0, nil))
	assert.EqualValues(t, 1, calls.Load(), "no call starts after Cancel")
	s.Cancel() // twice is fine
}

func TestCancelFromInsideHandler(t *testing.T) {
	b := New(16, nil)
	defer b.Close()
	var s *Subscription
	var calls atomic.Int32
	ready := make(chan struct{})
	s = b.On("**", func(e *Event) {
		<-ready
		calls.Add(1)
		s.Cancel() // must not deadlock waiting for itself
	})
	close(ready)
	b.Emit(NewEvent(KindStart, "p", "", Value{}, 0, nil))
	b.Emit(NewEvent(KindStart, "p", "", Value{}, 0, nil))
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("cancel from inside the handler deadlocked")
	}
	assert.EqualValues(t, 1, calls.Load())
}

func TestPanickingHandlerIsRecovered(t *testing.T) {
	b := New(16, nil)
	defer b.Close()
	var n atomic.Int32
	b.On("**", func(e *Event) {
		if n.Add(1) == 1 {
			panic("boom")
		}
	})
	b.Emit(NewEvent(KindStart, "p", "", Value{}, 0, nil))
	b.Emit(NewEvent(KindStart, "p", "", Value{}, 0, nil))
	require.Eventually(t, func() bool { return n.Load() == 2 }, 5*time.Second, time.Millisecond)
	_, panics := b.Stats()
	assert.EqualValues(t, 1, panics)
}

func TestStream(t *testing.T) {
	b := New(16, nil)
	s := b.Stream("peer:*", 2)
	b.Emit(NewEvent(KindPeerNew, "x", "", Value{}, 0, nil))
	b.Emit(NewEvent(KindSet, "x", "k", Value{}, 0, nil)) // does not match
	b.Emit(NewEvent(KindPeerDead, "x", "", Value{}, 0, nil))
	b.Emit(NewEvent(KindPeerAlive, "x", "", Value{}, 0, nil)) // queue of 2: dropped
	ctx := context.Background()
	e, err := s.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, KindPeerNew, e.Kind)
	e, err = s.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, KindPeerDead, e.Kind)
	assert.EqualValues(t, 1, s.Dropped())

	tctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err = s.Next(tctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	b.Emit(NewEvent(KindPeerNew, "y", "", Value{}, 0, nil))
	b.Close()
	e, err = s.Next(ctx)
	require.NoError(t, err, "events queued before close are still returned")
	assert.Equal(t, "y", e.Peer)
	_, err = s.Next(ctx)
	assert.ErrorIs(t, err, ErrClosed)
	s.Close()
}

func TestReplyOnlyForAsks(t *testing.T) {
	e := NewEvent(KindSay, "p", "q", Value{}, 0, nil)
	assert.ErrorIs(t, e.Reply(Value{}), ErrNotAsk)
	var got Value
	a := NewEvent(KindAsk, "p", "q", Value{}, 0, func(v Value) error { got = v; return nil })
	require.NoError(t, a.Reply(Value{Data: []byte("ok")}))
	assert.Equal(t, "ok", got.String())
}

func TestSubscribeAfterCloseIsCancelled(t *testing.T) {
	b := New(4, nil)
	b.Close()
	s := b.On("**", func(*Event) { t.Error("called after close") })
	<-s.Done()
	b.Emit(NewEvent(KindStart, "p", "", Value{}, 0, nil))
	st := b.Stream("**", 1)
	_, err := st.Next(context.Background())
	assert.ErrorIs(t, err, ErrClosed)
}

func BenchmarkEmitToTenSubscriptions(b *testing.B) {
	bus := New(1<<16, nil)
	defer bus.Close()
	for i := 0; i < 10; i++ {
		bus.On(fmt.Sprintf("say:topic%d:*", i), func(*Event) {})
	}
	e := NewEvent(KindSay, "p", "topic3:x", Value{}, 0, nil)
	b.ReportAllocs()
	for b.Loop() {
		bus.Emit(e)
	}
}

// TestPatternsAgreeWithEventEmitter2 checks the matcher against vectors
// produced by EventEmitter2 itself (ffi_tests/vectors/gen-ee2-patterns.js),
// the library the Node binding uses: a pattern means the same thing in
// every language.
func TestPatternsAgreeWithEventEmitter2(t *testing.T) {
	raw, err := os.ReadFile("testdata/ee2_patterns.json")
	require.NoError(t, err)
	var file struct {
		Vectors []struct {
			Pattern, Name string
			Match         bool
		}
	}
	require.NoError(t, json.Unmarshal(raw, &file))
	require.Greater(t, len(file.Vectors), 400)
	for _, v := range file.Vectors {
		assert.Equal(t, v.Match, Compile(v.Pattern).Match(v.Name), "%q ~ %q", v.Pattern, v.Name)
	}
}
