package engine

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/telepathine/telepathine/engine/transport"
)

// TestManySendersExactlyOnceInOrder: 16 peers on loopback, 4 senders saying
// 300 events each, concurrently: every other peer hears every event once,
// and each sender's events in the order it said them. (300, not more: the
// 18,000 deliveries must fit a minute on a loaded machine under -race.)
func TestManySendersExactlyOnceInOrder(t *testing.T) {
	const peers, senders, events = 16, 4, 300
	cl := newNetCluster(t, peers, func(i int, c *Config) {
		c.Limits.HandlerQueue = senders * events
		c.SayDuration = time.Minute
		loadTolerant(c)
	})
	eventually(t, 20*time.Second, cl.converged, "converge")

	var mu sync.Mutex
	got := make([]map[string][]int, peers) // receiver -> sender -> sequence heard
	var total atomic.Int64
	for i, p := range cl.peers {
		got[i] = map[string][]int{}
		p.Hear("load:*", func(data Value, from string, e *Event) {
			var seq int
			_, _ = fmt.Sscan(data.String(), &seq)
			mu.Lock()
			got[i][from] = append(got[i][from], seq)
			mu.Unlock()
			total.Add(1)
		})
	}
	var g errgroup.Group
	for s := 0; s < senders; s++ {
		p := cl.peers[s*3]
		g.Go(func() error {
			for k := 0; k < events; k++ {
				if err := p.Say(fmt.Sprintf("load:%d", k%7), String(fmt.Sprint(k))); err != nil {
					return fmt.Errorf("sender %s, event %d: %w", p.Name(), k, err)
				}
			}
			return nil
		})
	}
	require.NoError(t, g.Wait())
	want := int64(senders * events * (peers - 1))
	eventually(t, 60*time.Second, func() bool { return total.Load() >= want }, "all events heard (%d of %d)", total.Load(), want)
	// Let gossip repeat itself for a while: nothing may be heard twice.
	rounds := cl.peers[0].Stats().Rounds
	eventually(t, 10*time.Second, func() bool { return cl.peers[0].Stats().Rounds > rounds+10 }, "rounds")
	require.Equal(t, want, total.Load(), "no event heard twice")
	mu.Lock()
	defer mu.Unlock()
	for r := range cl.peers {
		for s := 0; s < senders; s++ {
			sender := cl.peers[s*3]
			seqs := got[r][sender.Name()]
			if r == s*3 {
				require.Empty(t, seqs, "a sender never hears itself")
				continue
			}
			require.Len(t, seqs, events, "receiver %d, sender %d", r, s)
			require.True(t, sort.IntsAreSorted(seqs), "receiver %d heard sender %d out of order", r, s)
		}
	}
	var dropped uint64
	for _, p := range cl.peers {
		dropped += p.Stats().EventsDropped
	}
	assert.Zero(t, dropped)
}

func TestLateJoinerHearsOnlyWithinDuration(t *testing.T) {
	cl := newMemCluster(t, 3, transport.MemOptions{}, nil)
	eventually(t, 10*time.Second, cl.converged, "converge")
	require.NoError(t, cl.peers[0].Say("long", String("still on"), For(time.Minute)))
	require.NoError(t, cl.peers[0].Say("short", String("over soon"), For(200*time.Millisecond)))
	// Wait until the short one is over everywhere it was held.
	time.Sleep(300 * time.Millisecond) // the duration itself is what is tested
	// Subscribe before starting: the events arrive with the join, and an
	// event is heard once, so a subscription made after Start could miss it.
	late, err := New(cl.config(3))
	require.NoError(t, err)
	heard := &recorder{}
	late.On("say:*", heard.handler)
	require.NoError(t, late.Start(context.Background()))
	t.Cleanup(func() { _ = late.Close() })
	eventually(t, 10*time.Second, func() bool { return heard.count(func(*Event) bool { return true }) >= 1 }, "late joiner hears the long event")
	rounds := late.Stats().Rounds
	eventually(t, 5*time.Second, func() bool { return late.Stats().Rounds > rounds+10 }, "rounds")
	evs := heard.snapshot()
	require.Len(t, evs, 1)
	assert.Equal(t, "long", evs[0].Key)
}

// A peer that subscribes before it starts hears the events said before it
// joined, as long as they last.
func TestJoinerHearsEventsSaidBeforeItJoined(t *testing.T) {
	cl := newMemCluster(t, 2, transport.MemOptions{}, nil)
	eventually(t, 10*time.Second, cl.converged, "converge")
	require.NoError(t, cl.peers[0].Say("hello", String("x")))
	cfg := cl.config(2)
	p, err := New(cfg)
	require.NoError(t, err)
	heard := make(chan string, 4)
	p.Hear("hello", func(v Value, from string, e *Event) { heard <- from })
	require.NoError(t, p.Start(context.Background()))
	t.Cleanup(func() { _ = p.Close() })
	select {
	case from := <-heard:
		assert.Equal(t, cl.peers[0].Name(), from)
	case <-time.After(10 * time.Second):
		t.Fatal("a peer that joins during the event did not hear it")
	}
}

func TestWildcardMatrix(t *testing.T) {
	cl := newMemCluster(t, 2, transport.MemOptions{}, nil)
	eventually(t, 10*time.Second, cl.converged, "converge")
	a, b := cl.peers[0], cl.peers[1]
	patterns := []string{"chat", "chat:*", "chat:**", "*", "**", "chat:room1", "chat:*:msg", "chat:room1:msg", "*:room1:*", "**:msg"}
	recs := map[string]*recorder{}
	for _, p := range patterns {
		r := &recorder{}
		b.Hear(p, func(_ Value, _ string, e *Event) { r.handler(e) })
		recs[p] = r
	}
	all := record(b, "say:**")
	names := []string{"chat", "chat:room1", "chat:room1:msg", "other"}
	for _, n := range names {
		require.NoError(t, a.Say(n, String(n)))
	}
	eventually(t, 10*time.Second, func() bool { return all.count(func(*Event) bool { return true }) == len(names) }, "events")
	// Events are emitted in order: after the last one arrived, the matching
	// subscriptions have had theirs queued.
	want := map[string][]string{
		"chat":           {"chat"},
		"chat:*":         {"chat:room1"},
		"chat:**":        {"chat", "chat:room1", "chat:room1:msg"},
		"*":              {"chat", "other"},
		"**":             {"chat", "chat:room1", "chat:room1:msg", "other"},
		"chat:room1":     {"chat:room1"},
		"chat:*:msg":     {"chat:room1:msg"},
		"chat:room1:msg": {"chat:room1:msg"},
		"*:room1:*":      {"chat:room1:msg"},
		"**:msg":         {"chat:room1:msg"},
	}
	for p, names := range want {
		eventually(t, 5*time.Second, func() bool { return recs[p].count(func(*Event) bool { return true }) == len(names) },
			"pattern %q", p)
		var got []string
		for _, e := range recs[p].snapshot() {
			got = append(got, e.Key)
			assert.Equal(t, e.Key, e.Value.String(), "event names keep their ':' (the reference cut them)")
		}
		assert.Equal(t, names, got, "pattern %q", p)
	}
}

func TestSlowHandlerDoesNotDelayFailureDetection(t *testing.T) {
	cl := newMemCluster(t, 4, transport.MemOptions{}, func(i int, c *Config) { c.Limits.HandlerQueue = 8 })
	eventually(t, 10*time.Second, cl.converged, "converge")
	slow := cl.peers[1]
	block := make(chan struct{})
	defer close(block)
	slow.Hear("**", func(Value, string, *Event) { <-block }) // never returns during the test
	for i := 0; i < 50; i++ {
		require.NoError(t, cl.peers[0].Say("spam", String(fmt.Sprint(i))))
	}
	eventually(t, 10*time.Second, func() bool { return slow.Stats().EventsDropped > 0 }, "queue overflow counted")
	victim := cl.peers[3]
	name := victim.Name()
	cl.net.Isolate(memAddr(3))
	start := time.Now()
	eventually(t, 10*time.Second, func() bool {
		_, dead := find(slow.DeadPeers(), name)
		return dead
	}, "the peer with a blocked handler still detects a failure")
	t.Logf("detected after %v with a blocked handler", time.Since(start))
	// And the others still see the slow peer alive: its gossip goes on.
	for _, p := range []*Peer{cl.peers[0], cl.peers[2]} {
		_, alive := find(p.LivePeers(), slow.Name())
		assert.True(t, alive)
	}
}

func TestAskCollectsRepliesAndToleratesSilence(t *testing.T) {
	cl := newMemCluster(t, 5, transport.MemOptions{}, nil)
	eventually(t, 10*time.Second, cl.converged, "converge")
	asker := cl.peers[0]
	for i, p := range cl.peers[1:] {
		if i%2 == 0 { // peers 1 and 3 answer, 2 and 4 stay silent
			p.Hear("whoami", func(data Value, from string, e *Event) {
				require.Equal(t, KindAsk, e.Kind)
				_ = e.Reply(String("I am " + p.Name()))
				_ = e.Reply(String("a second reply is ignored"))
			})
		}
	}
	start := time.Now()
	replies, err := asker.Ask(context.Background(), "whoami", String("?"), 500*time.Millisecond)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 500*time.Millisecond, "silent peers make it wait for the timeout")
	require.Len(t, replies, 2)
	sort.Slice(replies, func(i, j int) bool { return replies[i].Peer < replies[j].Peer })
	assert.Equal(t, cl.peers[1].Name(), replies[0].Peer)
	assert.Equal(t, "I am "+cl.peers[1].Name(), replies[0].Value.String())
	assert.Equal(t, cl.peers[3].Name(), replies[1].Peer)
}

func TestAskReturnsEarlyWhenEveryoneReplied(t *testing.T) {
	cl := newMemCluster(t, 4, transport.MemOptions{}, nil)
	eventually(t, 10*time.Second, cl.converged, "converge")
	for _, p := range cl.peers[1:] {
		p.Hear("ping", func(_ Value, _ string, e *Event) { _ = e.Reply(String("pong")) })
	}
	start := time.Now()
	replies, err := cl.peers[0].Ask(context.Background(), "ping", String(""), 10*time.Second)
	require.NoError(t, err)
	assert.Len(t, replies, 3)
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestAskCancelledByContext(t *testing.T) {
	cl := newMemCluster(t, 2, transport.MemOptions{}, nil)
	eventually(t, 10*time.Second, cl.converged, "converge")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := cl.peers[0].Ask(ctx, "nobody-answers", String(""), time.Minute)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestBufferedSayWaitsForTheRound(t *testing.T) {
	cl := newMemCluster(t, 2, transport.MemOptions{}, func(i int, c *Config) { c.GossipInterval = 300 * time.Millisecond })
	eventually(t, 10*time.Second, cl.converged, "converge")
	heard := make(chan time.Time, 2)
	cl.peers[1].Hear("**", func(Value, string, *Event) { heard <- time.Now() })
	pushes := cl.peers[0].Stats().PacketsSent["push"]
	require.NoError(t, cl.peers[0].Say("batched", String("x"), Buffered()))
	assert.Equal(t, pushes, cl.peers[0].Stats().PacketsSent["push"], "nothing pushed at once")
	select {
	case <-heard:
	case <-time.After(5 * time.Second):
		t.Fatal("buffered event never delivered")
	}
}

func TestHearOnceAndCancel(t *testing.T) {
	cl := newMemCluster(t, 2, transport.MemOptions{}, nil)
	eventually(t, 10*time.Second, cl.converged, "converge")
	var once, many atomic.Int32
	s1 := cl.peers[1].HearOnce("tick", func(Value, string, *Event) { once.Add(1) })
	s2 := cl.peers[1].Hear("tick", func(Value, string, *Event) { many.Add(1) })
	for i := 0; i < 3; i++ {
		require.NoError(t, cl.peers[0].Say("tick", String(fmt.Sprint(i))))
	}
	eventually(t, 5*time.Second, func() bool { return many.Load() == 3 }, "three ticks")
	<-s1.Done()
	assert.EqualValues(t, 1, once.Load())
	s2.Cancel()
	require.NoError(t, cl.peers[0].Say("tick", String("after")))
	rounds := cl.peers[1].Stats().Rounds
	eventually(t, 5*time.Second, func() bool { return cl.peers[1].Stats().Rounds > rounds+5 }, "rounds")
	assert.EqualValues(t, 3, many.Load(), "no delivery after Cancel")
}

func TestEventsStreamPolls(t *testing.T) {
	cl := newMemCluster(t, 1, transport.MemOptions{}, nil)
	// Subscribed before Start: the peer:new that comes with the join cannot
	// be missed.
	joiner, err := New(cl.config(1))
	require.NoError(t, err)
	t.Cleanup(func() { _ = joiner.Close() })
	st, err := joiner.Events("peer:*", 16)
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, joiner.Start(context.Background()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := st.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, "peer:new", e.Name())
	assert.Equal(t, cl.peers[0].Name(), e.Peer)
}

// Exactly once despite other peers restarting: a peer that restarts (as a
// new generation) re-syncs the events still running, but nobody else hears
// them a second time, and the restarted peer itself hears each at most once
// per incarnation.
func TestEventsNotRepeatedWhenOthersRestart(t *testing.T) {
	cl := newMemCluster(t, 4, transport.MemOptions{}, nil)
	eventually(t, 10*time.Second, cl.converged, "converge")
	var counts [4]atomic.Int32
	for i, p := range cl.peers {
		p.Hear("once", func(Value, string, *Event) { counts[i].Add(1) })
	}
	require.NoError(t, cl.peers[0].Say("once", String("x"), For(time.Minute)))
	eventually(t, 5*time.Second, func() bool {
		return counts[1].Load() == 1 && counts[2].Load() == 1 && counts[3].Load() == 1
	}, "heard once each")
	// Peer 3 restarts in place (same object, new generation), peer 2 is
	// replaced by a new process.
	require.NoError(t, cl.peers[3].Stop(context.Background()))
	require.NoError(t, cl.peers[3].Start(context.Background()))
	require.NoError(t, cl.peers[2].Close())
	fresh := cl.add(2)
	var freshCount atomic.Int32
	fresh.Hear("once", func(Value, string, *Event) { freshCount.Add(1) })
	eventually(t, 10*time.Second, cl.converged, "reconverge")
	rounds := cl.peers[0].Stats().Rounds
	eventually(t, 5*time.Second, func() bool { return cl.peers[0].Stats().Rounds > rounds+20 }, "rounds")
	assert.EqualValues(t, 1, counts[1].Load(), "an unrelated peer never hears it twice")
	assert.EqualValues(t, 1, counts[3].Load(), "a peer restarted in place keeps what it heard")
	assert.LessOrEqual(t, freshCount.Load(), int32(1), "a new process hears it at most once")
	assert.Zero(t, counts[0].Load(), "the sender never hears itself")
}
