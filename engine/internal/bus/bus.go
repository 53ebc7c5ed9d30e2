// Package bus delivers local events to subscribers chosen by
// EventEmitter2-style patterns. It knows nothing of what an event is: the
// engine defines its event type and gives each event a Topic (the names it
// is emitted under). Each subscription has its own goroutine and a bounded
// queue: emitting never blocks, a slow handler only delays (and, past its
// queue, loses) its own events, and whoever emits never waits for
// application code.
package bus

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
)

// Topic is the set of names an event is emitted under. Up to two names
// (all the engine uses) are held inline and matched without splitting, so
// building and matching a topic allocates nothing: one topic is built per
// event delivered, the bus's hot path.
type Topic struct {
	inline [2]string
	n      int
	many   []string // when more than two names
}

// NewTopic returns the topic of an event emitted under names, the most
// specific last.
func NewTopic(names ...string) Topic {
	var t Topic
	if len(names) > len(t.inline) {
		t.many = append([]string(nil), names...)
		return t
	}
	t.n = copy(t.inline[:], names)
	return t
}

// SetName makes t the topic of one name, in place: the engine fills the
// events of a packet where they lie instead of copying a Topic into each.
func (t *Topic) SetName(name string) {
	t.inline[0], t.n = name, 1
	t.inline[1], t.many = "", nil
}

// Names returns every name of the topic.
func (t *Topic) Names() []string {
	if t.many != nil {
		return t.many
	}
	return t.inline[:t.n]
}

// Name returns the most specific name.
func (t *Topic) Name() string {
	names := t.Names()
	if len(names) == 0 {
		return ""
	}
	return names[len(names)-1]
}

// Matches reports whether the pattern matches any of the names.
func (t *Topic) Matches(p Pattern) bool {
	for _, n := range t.Names() {
		if p.Match(n) {
			return true
		}
	}
	return false
}

type sink[E any] interface {
	pattern() Pattern
	offer(E) bool
	// offerAll offers the events of es its pattern matches, in order, and
	// returns how many a full queue dropped.
	offerAll(es []E, topic func(E) *Topic) (dropped uint64)
	shutdown()
}

// Bus fans events of type E out to subscriptions.
type Bus[E any] struct {
	mu       sync.RWMutex
	sinks    map[sink[E]]struct{}
	queueLen int
	log      *slog.Logger
	topic    func(E) *Topic
	closed   bool
	dropped  atomic.Uint64
	panics   atomic.Uint64
	emitMu   sync.Mutex // serialises Emit so that every sink sees one order
}

// New returns a bus whose subscriptions queue up to queueLen events; topic
// tells the names of an event.
func New[E any](queueLen int, log *slog.Logger, topic func(E) *Topic) *Bus[E] {
	if queueLen <= 0 {
		queueLen = 1024
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Bus[E]{sinks: make(map[sink[E]]struct{}), queueLen: queueLen, log: log, topic: topic}
}

// ErrClosed is returned by Stream.Next once the stream or bus is closed.
var ErrClosed = errors.New("bus: closed")

// Emit offers e to every matching subscription without blocking. A full
// queue drops the event for that subscription and counts it.
func (b *Bus[E]) Emit(e E) {
	t := b.topic(e)
	b.emitMu.Lock()
	defer b.emitMu.Unlock()
	b.mu.RLock()
	defer b.mu.RUnlock()
	for s := range b.sinks {
		if t.Matches(s.pattern()) && !s.offer(e) {
			b.dropped.Add(1)
		}
	}
}

// EmitAll is Emit for each of es in turn, with the bus's locks taken once
// and the subscriptions walked once: a packet's events (hundreds of says in
// a flood) cost one pass instead of one each. Each subscription still sees
// the events in the order of es.
func (b *Bus[E]) EmitAll(es []E) {
	if len(es) == 0 {
		return
	}
	b.emitMu.Lock()
	defer b.emitMu.Unlock()
	b.mu.RLock()
	defer b.mu.RUnlock()
	for s := range b.sinks {
		if n := s.offerAll(es, b.topic); n > 0 {
			b.dropped.Add(n)
		}
	}
}

// Stats returns how many events were dropped on full queues and how many
// handler calls panicked, since New.
func (b *Bus[E]) Stats() (dropped, panics uint64) { return b.dropped.Load(), b.panics.Load() }

// Subscriptions returns the number of live subscriptions and streams.
func (b *Bus[E]) Subscriptions() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.sinks)
}

// On subscribes h to the events whose topic matches pattern.
//
// The handler contract:
//   - h runs on a goroutine owned by this subscription, never on the
//     goroutine that emitted the event, and never concurrently with itself.
//   - Events arrive in the order they were emitted.
//   - h may block and may call back into the emitter. While it blocks, its
//     events queue (up to the bus queue length); beyond that they are
//     dropped and counted. Other subscriptions are never delayed.
//   - A panic in h is recovered, logged and counted; the subscription goes on.
//
// Cancel the returned subscription to stop delivery.
func (b *Bus[E]) On(pattern string, h func(E)) *Subscription[E] {
	return b.subscribe(pattern, h, false)
}

// Once is On for the first matching event only.
func (b *Bus[E]) Once(pattern string, h func(E)) *Subscription[E] {
	return b.subscribe(pattern, h, true)
}

func (b *Bus[E]) subscribe(pattern string, h func(E), once bool) *Subscription[E] {
	s := &Subscription[E]{queue: newQueue[E](b.queueLen), bus: b, pat: Compile(pattern), h: h, once: once, done: make(chan struct{})}
	if !b.add(s) {
		s.close()
		close(s.done)
		return s
	}
	go s.run()
	return s
}

// Stream subscribes a pull-style consumer: events wait in a queue of
// queueLen (the bus default if 0) until Next takes them.
func (b *Bus[E]) Stream(pattern string, queueLen int) *Stream[E] {
	if queueLen <= 0 {
		queueLen = b.queueLen
	}
	s := &Stream[E]{queue: newQueue[E](queueLen), bus: b, pat: Compile(pattern)}
	if !b.add(s) {
		s.shutdown()
	}
	return s
}

func (b *Bus[E]) add(s sink[E]) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.sinks[s] = struct{}{}
	return true
}

func (b *Bus[E]) remove(s sink[E]) {
	b.mu.Lock()
	delete(b.sinks, s)
	b.mu.Unlock()
}

// Close cancels every subscription and stream without waiting; Wait (or
// each subscription's Done) tells when their handlers have returned. Later
// subscriptions are born cancelled.
func (b *Bus[E]) Close() {
	b.mu.Lock()
	b.closed = true
	sinks := make([]sink[E], 0, len(b.sinks))
	for s := range b.sinks {
		sinks = append(sinks, s)
	}
	b.sinks = map[sink[E]]struct{}{}
	b.mu.Unlock()
	for _, s := range sinks {
		s.shutdown()
	}
}

// queue is the bounded queue of a subscription or stream: offers never
// block; past its capacity events are dropped and counted.
//
// A ring under a mutex and a one-slot wake-up channel rather than a channel
// of events: the consumer takes what is queued in one go, so a packet's
// hundreds of events cost one lock and at most one goroutine wake-up, where
// a channel costs a lock and often a wake-up per event (most of the bus's
// CPU in a flood of says).
type queue[E any] struct {
	mu   sync.Mutex
	ring []E // capacity slots; n events from head, wrapping
	head int
	n    int
	// inHand counts events a subscription took from the ring and has not
	// started handling yet: they still count against the capacity, so a
	// blocked handler holds at most capacity events plus the one it runs,
	// as with a channel.
	inHand   atomic.Int64
	ready    chan struct{} // one slot: signalled when the ring may hold events
	stop     chan struct{}
	stopOnce sync.Once
	stopped  atomic.Bool
	dropped  atomic.Uint64
	queued   atomic.Uint64 // accepted events (observe.go)
}

func newQueue[E any](n int) queue[E] {
	return queue[E]{ring: make([]E, n), ready: make(chan struct{}, 1), stop: make(chan struct{})}
}

// offer queues e unless stopped; false means the queue was full.
func (q *queue[E]) offer(e E) bool {
	if q.stopped.Load() {
		return true
	}
	q.mu.Lock()
	ok := q.put(e)
	wake := ok && q.n == 1 // was empty: the consumer may be waiting
	q.mu.Unlock()
	q.count(ok)
	if wake {
		q.wake()
	}
	return ok
}

// offerMatching queues the events of es whose topic matches p, in order,
// under one lock; it returns how many were dropped.
func (q *queue[E]) offerMatching(es []E, p Pattern, topic func(E) *Topic) (dropped uint64) {
	if q.stopped.Load() {
		return 0
	}
	var queued uint64
	q.mu.Lock()
	wake := q.n == 0 // was empty: the consumer may be waiting
	for _, e := range es {
		if !topic(e).Matches(p) {
			continue
		}
		if q.put(e) {
			queued++
		} else {
			dropped++
		}
	}
	q.mu.Unlock()
	if queued > 0 {
		q.queued.Add(queued)
	}
	if dropped > 0 {
		q.dropped.Add(dropped)
	}
	if wake && queued > 0 {
		q.wake()
	}
	return dropped
}

// put adds e to the ring if there is room; called with mu held.
func (q *queue[E]) put(e E) bool {
	if q.n+int(q.inHand.Load()) >= len(q.ring) {
		return false
	}
	q.ring[(q.head+q.n)%len(q.ring)] = e
	q.n++
	return true
}

func (q *queue[E]) count(ok bool) {
	if ok {
		q.queued.Add(1)
	} else {
		q.dropped.Add(1)
	}
}

// wake signals the consumer without blocking. Only an offer to an empty
// ring signals: events added to a non-empty one were signalled with the
// first (the signal is taken before the ring is emptied, never after), and
// one pending signal is enough, as the consumer takes what is queued.
func (q *queue[E]) wake() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// takeAll appends every queued event to buf, in order, and empties the
// ring; the events count as in hand until the consumer starts each.
func (q *queue[E]) takeAll(buf []E) []E {
	var zero E
	q.mu.Lock()
	for i := 0; i < q.n; i++ {
		j := (q.head + i) % len(q.ring)
		buf = append(buf, q.ring[j])
		q.ring[j] = zero
	}
	q.inHand.Add(int64(q.n))
	q.head, q.n = 0, 0
	q.mu.Unlock()
	return buf
}

// takeOne returns the oldest queued event. When more remain it passes the
// wake-up on, so that another reader waiting on the same queue sees them.
func (q *queue[E]) takeOne() (e E, ok bool) {
	var zero E
	q.mu.Lock()
	if q.n > 0 {
		e, ok = q.ring[q.head], true
		q.ring[q.head] = zero
		q.head = (q.head + 1) % len(q.ring)
		q.n--
	}
	more := q.n > 0
	q.mu.Unlock()
	if more {
		q.wake()
	}
	return e, ok
}

// takeWhile appends queued events to buf, oldest first, while fewer than
// max were taken and more (when not nil) accepts the next one, under one
// lock; like takeOne it passes the wake-up on when events remain.
func (q *queue[E]) takeWhile(buf []E, max int, more func(E) bool) []E {
	var zero E
	q.mu.Lock()
	for taken := 0; taken < max && q.n > 0; taken++ {
		e := q.ring[q.head]
		if more != nil && !more(e) {
			break
		}
		buf = append(buf, e)
		q.ring[q.head] = zero
		q.head = (q.head + 1) % len(q.ring)
		q.n--
	}
	left := q.n > 0
	q.mu.Unlock()
	if left {
		q.wake()
	}
	return buf
}

// depth is how many events wait: queued, or taken and not started.
func (q *queue[E]) depth() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n + int(q.inHand.Load())
}

func (q *queue[E]) close() {
	q.stopOnce.Do(func() {
		q.stopped.Store(true)
		close(q.stop)
	})
}

// Dropped returns how many events were lost to a full queue.
func (q *queue[E]) Dropped() uint64 { return q.dropped.Load() }

// Subscription is a push subscription created by On or Once.
type Subscription[E any] struct {
	queue[E]
	bus   *Bus[E]
	pat   Pattern
	h     func(E)
	once  bool
	fired atomic.Bool
	done  chan struct{}
}

func (s *Subscription[E]) pattern() Pattern { return s.pat }

func (s *Subscription[E]) offer(e E) bool {
	if s.once && s.fired.Load() {
		return true
	}
	return s.queue.offer(e)
}

func (s *Subscription[E]) offerAll(es []E, topic func(E) *Topic) (dropped uint64) {
	if s.once {
		for _, e := range es {
			if topic(e).Matches(s.pat) && !s.offer(e) {
				dropped++
			}
		}
		return dropped
	}
	return s.offerMatching(es, s.pat, topic)
}

func (s *Subscription[E]) run() {
	defer close(s.done)
	var batch []E
	var zero E
	for {
		select {
		case <-s.stop:
			return
		case <-s.ready:
		}
		batch = s.takeAll(batch[:0])
		for i, e := range batch {
			batch[i] = zero // the batch keeps no event alive
			s.inHand.Add(-1)
			// stop wins over queued events: after Cancel nothing new starts.
			if s.stopped.Load() {
				return
			}
			if s.once && !s.fired.CompareAndSwap(false, true) {
				continue
			}
			s.call(e)
			if s.once {
				s.bus.remove(s)
				s.close()
				return
			}
		}
	}
}

func (s *Subscription[E]) call(e E) {
	defer func() {
		if r := recover(); r != nil {
			s.bus.panics.Add(1)
			s.bus.log.Error("event handler panicked", "pattern", s.pat.String(), "event", s.bus.topic(e).Name(), "panic", r)
		}
	}()
	s.h(e)
}

// Pattern returns the subscription's pattern.
func (s *Subscription[E]) Pattern() string { return s.pat.String() }

// Cancel stops delivery without waiting: no handler call starts after it
// returns, but one already running goes on; Done is closed once it has
// returned. Safe to call more than once, from any goroutine, from inside
// the handler too.
func (s *Subscription[E]) Cancel() {
	s.bus.remove(s)
	s.shutdown()
}

func (s *Subscription[E]) shutdown() { s.close() }

// Done is closed once the handler is not running and never will again:
// after Cancel (once a running call returned), after a Once subscription
// fired, or after the bus closed.
func (s *Subscription[E]) Done() <-chan struct{} { return s.done }

// Stream is a pull subscription: the consumer takes events with Next.
type Stream[E any] struct {
	queue[E]
	bus *Bus[E]
	pat Pattern
}

func (s *Stream[E]) pattern() Pattern { return s.pat }

func (s *Stream[E]) offerAll(es []E, topic func(E) *Topic) (dropped uint64) {
	return s.offerMatching(es, s.pat, topic)
}

func (s *Stream[E]) shutdown() { s.close() }

// Next returns the next event, waiting until one arrives, ctx ends or the
// stream is closed (ErrClosed). Events queued before Close are still
// returned; ErrClosed comes once they are drained.
func (s *Stream[E]) Next(ctx context.Context) (E, error) {
	var zero E
	for {
		if e, ok := s.takeOne(); ok {
			return e, nil
		}
		select {
		case <-s.ready:
		case <-s.stop:
			if e, ok := s.takeOne(); ok {
				return e, nil
			}
			return zero, ErrClosed
		case <-ctx.Done():
			return zero, ctx.Err()
		}
	}
}

// Take appends to buf the events already queued, oldest first, without
// waiting: at most max, and while more (nil: any) accepts the next one.
// more runs with the queue locked: it must be quick and must not call the
// bus. A consumer that drains a backlog takes it this way with one lock
// per batch instead of one per event. Nothing appended: the queue was
// empty (Next tells whether the stream ended).
func (s *Stream[E]) Take(buf []E, max int, more func(E) bool) []E {
	return s.takeWhile(buf, max, more)
}

// Pattern returns the stream's pattern.
func (s *Stream[E]) Pattern() string { return s.pat.String() }

// Close stops the stream; safe to call more than once.
func (s *Stream[E]) Close() {
	s.bus.remove(s)
	s.shutdown()
}
