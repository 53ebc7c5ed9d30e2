package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
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

// ev is a test event: a name (its topic) and a payload.
type ev struct {
	topic Topic
	data  string
}

func newEv(data string, names ...string) *ev { return &ev{topic: NewTopic(names...), data: data} }

func newBus(queueLen int) *Bus[*ev] {
	return New(queueLen, nil, func(e *ev) *Topic { return &e.topic })
}

func TestTopicNames(t *testing.T) {
	tp := NewTopic("set", "set:k")
	assert.Equal(t, []string{"set", "set:k"}, tp.Names())
	assert.Equal(t, "set:k", tp.Name())
	assert.True(t, tp.Matches(Compile("set")))
	assert.True(t, tp.Matches(Compile("set:*")))
	assert.False(t, tp.Matches(Compile("delete:*")))
	empty := NewTopic()
	assert.Equal(t, "", empty.Name())
	// SetName replaces whatever the topic held by one name.
	tp.SetName("say:tp")
	assert.Equal(t, []string{"say:tp"}, tp.Names())
	assert.False(t, tp.Matches(Compile("set")))
	many := NewTopic("a", "b", "c")
	many.SetName("d")
	assert.Equal(t, []string{"d"}, many.Names())
}

func TestEventWithSeveralNamesDeliveredOnce(t *testing.T) {
	b := newBus(16)
	defer b.Close()
	var mu sync.Mutex
	var got []string
	marker := make(chan struct{})
	b.On("**", func(e *ev) {
		mu.Lock()
		got = append(got, e.data)
		mu.Unlock()
		if e.data == "marker" {
			close(marker)
		}
	})
	b.Emit(newEv("red", "set", "set:color"))
	// Events arrive in order: once the marker is seen, the first event was
	// delivered as many times as it ever will be.
	b.Emit(newEv("marker", "marker"))
	<-marker
	mu.Lock()
	defer mu.Unlock()
	// "set" and "set:color" both match "**": delivered once all the same.
	assert.Equal(t, []string{"red", "marker"}, got)
}

func TestOrderPerSubscription(t *testing.T) {
	b := newBus(2000)
	defer b.Close()
	var mu sync.Mutex
	var seen []string
	var wg sync.WaitGroup
	wg.Add(1000)
	b.On("say:*", func(e *ev) {
		mu.Lock()
		seen = append(seen, e.data)
		mu.Unlock()
		wg.Done()
	})
	for i := 0; i < 1000; i++ {
		b.Emit(newEv(fmt.Sprint(i), "say:n"))
	}
	wg.Wait()
	for i, s := range seen {
		require.Equal(t, fmt.Sprint(i), s)
	}
}

func TestSlowHandlerDropsOnlyItsOwnEvents(t *testing.T) {
	b := newBus(4)
	defer b.Close()
	release := make(chan struct{})
	slow := b.On("**", func(e *ev) { <-release })
	var fast atomic.Int32
	b.On("**", func(e *ev) { fast.Add(1) })
	start := time.Now()
	for i := 0; i < 100; i++ {
		b.Emit(newEv("", "start"))
	}
	assert.Less(t, time.Since(start), time.Second, "Emit never blocks")
	require.Eventually(t, func() bool { return fast.Load() >= 4 }, 5*time.Second, time.Millisecond)
	assert.Positive(t, slow.Dropped())
	dropped, _ := b.Stats()
	assert.Positive(t, dropped)
	close(release)
}

func TestOnceFiresOnce(t *testing.T) {
	b := newBus(16)
	defer b.Close()
	var n atomic.Int32
	s := b.Once("say:x", func(e *ev) { n.Add(1) })
	for i := 0; i < 5; i++ {
		b.Emit(newEv("", "say:x"))
	}
	<-s.Done()
	assert.EqualValues(t, 1, n.Load())
	assert.Equal(t, 0, b.Subscriptions())
}

func TestCancelDoesNotWaitAndDoneDoes(t *testing.T) {
	b := newBus(16)
	defer b.Close()
	entered := make(chan struct{})
	release := make(chan struct{})
	var calls atomic.Int32
	s := b.On("**", func(e *ev) {
		calls.Add(1)
		close(entered)
		<-release
	})
	b.Emit(newEv("", "start"))
	b.Emit(newEv("", "start"))
	<-entered
	s.Cancel() // returns while the handler still runs
	select {
	case <-s.Done():
		t.Fatal("Done closed while the handler was running")
	default:
	}
	close(release)
	<-s.Done()
	b.Emit(newEv("", "start"))
	assert.EqualValues(t, 1, calls.Load(), "no call starts after Cancel")
	s.Cancel() // twice is fine
}

func TestCancelFromInsideHandler(t *testing.T) {
	b := newBus(16)
	defer b.Close()
	var s *Subscription[*ev]
	var calls atomic.Int32
	ready := make(chan struct{})
	s = b.On("**", func(e *ev) {
		<-ready
		calls.Add(1)
		s.Cancel()
	})
	close(ready)
	b.Emit(newEv("", "start"))
	b.Emit(newEv("", "start"))
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the subscription did not end after cancelling itself")
	}
	assert.EqualValues(t, 1, calls.Load())
}

func TestCloseEndsEverySubscription(t *testing.T) {
	b := newBus(16)
	s1 := b.On("**", func(*ev) {})
	s2 := b.On("x", func(*ev) {})
	b.Close()
	<-s1.Done()
	<-s2.Done()
	assert.Equal(t, 0, b.Subscriptions())
}

func TestPanickingHandlerIsRecovered(t *testing.T) {
	b := newBus(16)
	defer b.Close()
	var n atomic.Int32
	b.On("**", func(e *ev) {
		if n.Add(1) == 1 {
			panic("boom")
		}
	})
	b.Emit(newEv("", "start"))
	b.Emit(newEv("", "start"))
	require.Eventually(t, func() bool { return n.Load() == 2 }, 5*time.Second, time.Millisecond)
	_, panics := b.Stats()
	assert.EqualValues(t, 1, panics)
}

func TestStreamTake(t *testing.T) {
	b := newBus(16)
	s := b.Stream("say:*", 8)
	for _, d := range []string{"a", "b", "c", "d", "e"} {
		b.Emit(newEv(d, "say:x"))
	}
	data := func(es []*ev) (out []string) {
		for _, e := range es {
			out = append(out, e.data)
		}
		return out
	}
	assert.Equal(t, []string{"a", "b"}, data(s.Take(nil, 2, nil)), "at most max, oldest first")
	taken := 0
	upTo2 := func(*ev) bool { taken++; return taken <= 2 }
	assert.Equal(t, []string{"c", "d"}, data(s.Take(nil, 10, upTo2)), "only while more accepts")
	// What Take left is still queued, and a waiting Next sees it at once.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := s.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, "e", e.data)
	assert.Empty(t, s.Take(nil, 10, nil), "nothing queued")
	b.Emit(newEv("f", "say:x"))
	b.Emit(newEv("g", "say:x"))
	b.Close()
	assert.Equal(t, []string{"f", "g"}, data(s.Take(make([]*ev, 0, 4), 10, nil)), "events queued before close are still taken")
	_, err = s.Next(ctx)
	assert.ErrorIs(t, err, ErrClosed)
}

func TestStream(t *testing.T) {
	b := newBus(16)
	s := b.Stream("peer:*", 2)
	b.Emit(newEv("x", "peer:new"))
	b.Emit(newEv("x", "set", "set:k")) // does not match
	b.Emit(newEv("x", "peer:stop"))
	b.Emit(newEv("x", "peer:start")) // queue of 2: dropped
	ctx := context.Background()
	e, err := s.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, "peer:new", e.topic.Name())
	e, err = s.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, "peer:stop", e.topic.Name())
	assert.EqualValues(t, 1, s.Dropped())

	tctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err = s.Next(tctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	b.Emit(newEv("y", "peer:new"))
	b.Close()
	e, err = s.Next(ctx)
	require.NoError(t, err, "events queued before close are still returned")
	assert.Equal(t, "y", e.data)
	_, err = s.Next(ctx)
	assert.ErrorIs(t, err, ErrClosed)
	s.Close()
}

func TestSubscribeAfterCloseIsCancelled(t *testing.T) {
	b := newBus(4)
	b.Close()
	s := b.On("**", func(*ev) { t.Error("called after close") })
	<-s.Done()
	b.Emit(newEv("", "start"))
	st := b.Stream("**", 1)
	_, err := st.Next(context.Background())
	assert.ErrorIs(t, err, ErrClosed)
}

func BenchmarkEmitToTenSubscriptions(b *testing.B) {
	bus := newBus(1 << 16)
	defer bus.Close()
	for i := 0; i < 10; i++ {
		bus.On(fmt.Sprintf("say:topic%d:*", i), func(*ev) {})
	}
	e := newEv("", "say:topic3:x")
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

// Building a topic and matching it, wildcards included, allocates
// nothing: it happens once per event delivered.
func TestTopicAndMatchAllocateNothing(t *testing.T) {
	pats := []Pattern{Compile("say:**"), Compile("set:*"), Compile("**:k"), Compile("say:tp")}
	key := "chat:room"
	allocs := testing.AllocsPerRun(200, func() {
		tp := NewTopic("set", key)
		for _, p := range pats {
			tp.Matches(p)
		}
	})
	assert.Zero(t, allocs)
	tp := NewTopic("a", "b", "c")
	assert.Equal(t, []string{"a", "b", "c"}, tp.Names(), "more than two names")
	assert.Equal(t, "c", tp.Name())
}

// EmitAll delivers as Emit one by one would: each subscription gets the
// events its pattern matches, in order, and a full queue drops and counts.
func TestEmitAllDeliversInOrderPerSubscription(t *testing.T) {
	b := newBus(64)
	defer b.Close()
	var mu sync.Mutex
	got := map[string][]string{}
	var wg sync.WaitGroup
	for _, pat := range []string{"say:a", "say:*", "set:**"} {
		wg.Add(1)
		want := map[string]int{"say:a": 3, "say:*": 5, "set:**": 2}[pat]
		b.On(pat, func(e *ev) {
			mu.Lock()
			defer mu.Unlock()
			got[pat] = append(got[pat], e.data)
			if len(got[pat]) == want {
				wg.Done()
			}
		})
	}
	b.EmitAll([]*ev{
		newEv("1", "say:a"), newEv("2", "say:b"), newEv("3", "set", "set:k"),
		newEv("4", "say:a"), newEv("5", "say:b"), newEv("6", "set", "set:j"), newEv("7", "say:a"),
	})
	b.EmitAll(nil)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"1", "4", "7"}, got["say:a"])
	assert.Equal(t, []string{"1", "2", "4", "5", "7"}, got["say:*"])
	assert.Equal(t, []string{"3", "6"}, got["set:**"])

	// A stream of 2 that nobody reads: the third event and on are dropped.
	full := newBus(2)
	defer full.Close()
	st := full.Stream("**", 2)
	full.EmitAll([]*ev{newEv("a", "x"), newEv("b", "x"), newEv("c", "x"), newEv("d", "x")})
	dropped, _ := full.Stats()
	assert.Equal(t, uint64(2), dropped)
	e, err := st.Next(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "a", e.data)
}

// BenchmarkEmitPacket: a packet's 256 says to one subscription, emitted
// one by one and all at once (EmitAll), the handler counting; the time
// includes the handler goroutine draining them.
func BenchmarkEmitPacket(b *testing.B) {
	for _, all := range []bool{false, true} {
		b.Run(fmt.Sprintf("all=%v", all), func(b *testing.B) {
			bus := newBus(1 << 16)
			defer bus.Close()
			var n atomic.Int64
			bus.On("say:tp", func(*ev) { n.Add(1) })
			es := make([]*ev, 256)
			for i := range es {
				es[i] = newEv("", "say:tp")
			}
			want := int64(0)
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				if all {
					bus.EmitAll(es)
				} else {
					for _, e := range es {
						bus.Emit(e)
					}
				}
				want += int64(len(es))
				for n.Load() < want {
					runtime.Gosched()
				}
			}
			// The process's CPU per event: the clock counts other jobs too.
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(want), "cpu-ns/event")
		})
	}
}

// cpuTime is the CPU time this process used so far (user + system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Emitting a packet's events allocates nothing: no per-event or per-batch
// allocation on the path of every event received.
func TestEmitAllAllocatesNothing(t *testing.T) {
	b := newBus(1 << 16)
	defer b.Close()
	st := b.Stream("say:**", 1<<16)
	es := make([]*ev, 64)
	for i := range es {
		es[i] = newEv("", "say:tp")
	}
	allocs := testing.AllocsPerRun(100, func() {
		b.EmitAll(es)
		for range es {
			if _, err := st.Next(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	})
	assert.Zero(t, allocs)
}
