package clock

import (
	"sort"
	"sync"
	"time"
)

// Manual is a clock that only moves when told to. Tickers and AfterFunc
// callbacks fire inside Advance, in time order, on the caller's goroutine, so a
// test decides exactly when things happen.
type Manual struct {
	mu      sync.Mutex
	now     time.Time
	seq     uint64
	waiters []*waiter
}

type waiter struct {
	at     time.Time
	seq    uint64 // tie-break: registration order
	period time.Duration
	fn     func()         // AfterFunc
	ch     chan time.Time // ticker
	done   bool
}

// NewManual returns a manual clock set to start.
func NewManual(start time.Time) *Manual { return &Manual{now: start} }

// Now returns the manual time.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// NewTicker returns a ticker driven by Advance.
func (m *Manual) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive ticker interval")
	}
	w := &waiter{period: d, ch: make(chan time.Time, 1)}
	m.add(w, d)
	return &manualTicker{m: m, w: w}
}

// AfterFunc schedules f to run inside a later Advance.
func (m *Manual) AfterFunc(d time.Duration, f func()) Timer {
	w := &waiter{fn: f}
	m.add(w, d)
	return &manualTimer{m: m, w: w}
}

func (m *Manual) add(w *waiter, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	w.seq = m.seq
	w.at = m.now.Add(d)
	m.waiters = append(m.waiters, w)
}

// Advance moves time forward by d, firing every ticker and timer that falls
// due on the way, in order. Timer callbacks run synchronously.
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	target := m.now.Add(d)
	m.mu.Unlock()
	for {
		m.mu.Lock()
		w := m.nextDue(target)
		if w == nil {
			m.now = target
			m.mu.Unlock()
			return
		}
		m.now = w.at
		if w.period > 0 {
			w.at = w.at.Add(w.period)
		} else {
			w.done = true
			m.remove(w)
		}
		now := m.now
		m.mu.Unlock()
		if w.fn != nil {
			w.fn()
		} else {
			select {
			case w.ch <- now:
			default: // like time.Ticker: a slow reader misses ticks
			}
		}
	}
}

// Pending reports how many tickers and timers are waiting.
func (m *Manual) Pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.waiters)
}

func (m *Manual) nextDue(target time.Time) *waiter {
	sort.Slice(m.waiters, func(i, j int) bool {
		a, b := m.waiters[i], m.waiters[j]
		if !a.at.Equal(b.at) {
			return a.at.Before(b.at)
		}
		return a.seq < b.seq
	})
	if len(m.waiters) == 0 || m.waiters[0].at.After(target) {
		return nil
	}
	return m.waiters[0]
}

func (m *Manual) remove(w *waiter) bool {
	for i, x := range m.waiters {
		if x == w {
			m.waiters = append(m.waiters[:i], m.waiters[i+1:]...)
			return true
		}
	}
	return false
}

type manualTicker struct {
	m *Manual
	w *waiter
}

func (t *manualTicker) C() <-chan time.Time { return t.w.ch }
func (t *manualTicker) Stop() {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	t.m.remove(t.w)
}

type manualTimer struct {
	m *Manual
	w *waiter
}

func (t *manualTimer) Stop() bool {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	if t.w.done {
		return false
	}
	t.w.done = true
	return t.m.remove(t.w)
}
