// Package bus delivers the engine's local events (start, stop, set, delete,
// key:expired, say, peer:new/start/stop) to subscribers chosen by
// EventEmitter2-style patterns. Each subscription has its own goroutine and a
// bounded queue: emitting never blocks, a slow handler only delays (and, past
// its queue, loses) its own events, and the gossip that emits them never
// waits for application code.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/telepathine/telepathine/engine/state"
)

// Encoding tags a value's bytes: the replicated state's own tag, so values
// pass between state and events without conversion.
type Encoding = state.Encoding

// Encodings.
const (
	Raw  = state.EncodingRaw  // bytes
	Text = state.EncodingText // UTF-8 text
	JSON = state.EncodingJSON // a JSON document
)

// Value is bytes with an encoding tag, so every language binding can hand
// back the type that was set (bytes, string, JSON document).
type Value struct {
	Data     []byte
	Encoding Encoding
}

// String returns the bytes as a string, whatever the encoding.
func (v Value) String() string { return string(v.Data) }

// Kind is what an event reports.
type Kind uint8

// Event kinds.
const (
	KindStart     Kind = iota + 1 // the local peer started
	KindStop                      // the local peer stopped
	KindSet                       // a peer set a key (names "set", "set:KEY")
	KindDelete                    // a peer deleted a key ("delete", "delete:KEY")
	KindExpired                   // a key reached its expiry ("key:expired")
	KindSay                       // a peer said something ("say:EVENT")
	KindAsk                       // a peer asked something ("say:EVENT"; Reply answers)
	KindPeerNew                   // a peer was discovered ("peer:new")
	KindPeerAlive                 // a peer seems alive ("peer:start")
	KindPeerDead                  // a peer seems dead ("peer:stop")
)

var kindNames = map[Kind]string{
	KindStart: "start", KindStop: "stop", KindSet: "set", KindDelete: "delete",
	KindExpired: "key:expired", KindSay: "say", KindAsk: "ask",
	KindPeerNew: "peer:new", KindPeerAlive: "peer:start", KindPeerDead: "peer:stop",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Event is one occurrence. The same *Event is handed to every matching
// subscription: handlers must treat it, and the bytes of its Value, as
// read-only (copy what must be modified or kept past a later Set).
type Event struct {
	Kind Kind
	// Peer is the peer the event is about: the owner of a key, the sender of
	// a say, the peer that joined or died; the local peer for start and stop.
	Peer string
	// Key is the key (set, delete, key:expired) or the event name (say, ask).
	Key string
	// Value is the new value (set), the last value (delete, key:expired) or
	// the data (say, ask).
	Value Value
	// ExpiresAt is the key's expiry or the end of a say's delivery, in Unix
	// milliseconds; 0 when none.
	ExpiresAt int64
	// AskID identifies an ask, for replying through bindings; 0 otherwise.
	AskID uint64

	reply func(Value) error
	names []string
	segs  [][]string
}

// NewEvent builds an event; reply is set for asks only.
func NewEvent(kind Kind, peer, key string, value Value, expiresAt int64, reply func(Value) error) *Event {
	e := &Event{Kind: kind, Peer: peer, Key: key, Value: value, ExpiresAt: expiresAt, reply: reply}
	switch kind {
	case KindSet:
		e.names = []string{"set", "set:" + key}
	case KindDelete:
		e.names = []string{"delete", "delete:" + key}
	case KindSay, KindAsk:
		e.names = []string{"say:" + key}
	default:
		e.names = []string{kindNames[kind]}
	}
	e.segs = make([][]string, len(e.names))
	for i, n := range e.names {
		e.segs[i] = splitName(n)
	}
	return e
}

// ErrNotAsk is returned by Reply on an event that is not an ask.
var ErrNotAsk = errors.New("bus: event is not an ask")

// Reply answers an ask. Only the first reply of this peer reaches the asker.
func (e *Event) Reply(v Value) error {
	if e.reply == nil {
		return ErrNotAsk
	}
	return e.reply(v)
}

// Name returns the most specific name the event is emitted under, e.g.
// "set:color" or "say:chat:hello".
func (e *Event) Name() string { return e.names[len(e.names)-1] }

// Names returns every name the event is emitted under: a set of key "k" is
// both "set" and "set:k". A subscription receives the event once if its
// pattern matches any of them.
func (e *Event) Names() []string { return e.names }

func (e *Event) String() string {
	return fmt.Sprintf("%s peer=%s key=%q value=%q", e.Name(), e.Peer, e.Key, e.Value.Data)
}

func (e *Event) matches(p Pattern) bool {
	for i, n := range e.names {
		if p.MatchSegments(n, e.segs[i]) {
			return true
		}
	}
	return false
}

// Handler handles one event. See Bus.On for the contract.
type Handler func(*Event)

type sink interface {
	pattern() Pattern
	offer(*Event) bool
	shutdown(wait bool)
}

// Bus fans events out to subscriptions.
type Bus struct {
	mu       sync.RWMutex
	sinks    map[sink]struct{}
	queueLen int
	log      *slog.Logger
	closed   bool
	dropped  atomic.Uint64
	panics   atomic.Uint64
	emitMu   sync.Mutex // serialises Emit so that every sink sees one order
}

// New returns a bus whose subscriptions queue up to queueLen events.
func New(queueLen int, log *slog.Logger) *Bus {
	if queueLen <= 0 {
		queueLen = 1024
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Bus{sinks: make(map[sink]struct{}), queueLen: queueLen, log: log}
}

// ErrClosed is returned by Stream.Next once the stream or bus is closed.
var ErrClosed = errors.New("bus: closed")

// Emit offers e to every matching subscription without blocking. A full
// queue drops the event for that subscription and counts it.
func (b *Bus) Emit(e *Event) {
	b.emitMu.Lock()
	defer b.emitMu.Unlock()
	b.mu.RLock()
	defer b.mu.RUnlock()
	for s := range b.sinks {
		if e.matches(s.pattern()) && !s.offer(e) {
			b.dropped.Add(1)
		}
	}
}

// Stats returns how many events were dropped on full queues and how many
// handler calls panicked, since New.
func (b *Bus) Stats() (dropped, panics uint64) { return b.dropped.Load(), b.panics.Load() }

// Subscriptions returns the number of live subscriptions and streams.
func (b *Bus) Subscriptions() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.sinks)
}

// On subscribes h to the events whose name matches pattern.
//
// The handler contract:
//   - h runs on a goroutine owned by this subscription, never on the
//     goroutine that emitted the event, and never concurrently with itself.
//   - Events arrive in the order they were emitted; in particular a peer's
//     say events and key changes arrive in that peer's order.
//   - h may block and may call back into the engine. While it blocks, its
//     events queue (up to the bus queue length); beyond that they are
//     dropped and counted. Other subscriptions and the gossip itself are
//     never delayed.
//   - A panic in h is recovered, logged and counted; the subscription goes on.
//   - The *Event and its Value bytes are shared and read-only.
//
// Cancel the returned subscription to stop delivery.
func (b *Bus) On(pattern string, h Handler) *Subscription {
	return b.subscribe(pattern, h, false)
}

// Once is On for the first matching event only.
func (b *Bus) Once(pattern string, h Handler) *Subscription {
	return b.subscribe(pattern, h, true)
}

func (b *Bus) subscribe(pattern string, h Handler, once bool) *Subscription {
	s := &Subscription{queue: newQueue(b.queueLen), bus: b, pat: Compile(pattern), h: h, once: once, done: make(chan struct{})}
	if !b.add(s) {
		close(s.done)
		s.close()
		return s
	}
	go s.run()
	return s
}

// Stream subscribes a pull-style consumer: events wait in a queue of
// queueLen (the bus default if 0) until Next takes them.
func (b *Bus) Stream(pattern string, queueLen int) *Stream {
	if queueLen <= 0 {
		queueLen = b.queueLen
	}
	s := &Stream{queue: newQueue(queueLen), bus: b, pat: Compile(pattern)}
	if !b.add(s) {
		s.shutdown(false)
	}
	return s
}

func (b *Bus) add(s sink) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.sinks[s] = struct{}{}
	return true
}

func (b *Bus) remove(s sink) {
	b.mu.Lock()
	delete(b.sinks, s)
	b.mu.Unlock()
}

// Close cancels every subscription and stream and waits for handlers that
// are running to return (except the caller's own, when called from one).
// Later subscriptions are born cancelled.
func (b *Bus) Close() {
	b.mu.Lock()
	b.closed = true
	sinks := make([]sink, 0, len(b.sinks))
	for s := range b.sinks {
		sinks = append(sinks, s)
	}
	b.sinks = map[sink]struct{}{}
	b.mu.Unlock()
	for _, s := range sinks {
		s.shutdown(true)
	}
}

// queue is the bounded queue of a subscription or stream: offers never
// block; past its capacity events are dropped and counted.
type queue struct {
	q        chan *Event
	stop     chan struct{}
	stopOnce sync.Once
	dropped  atomic.Uint64
	queued   atomic.Uint64 // accepted events (observe.go)
}

func newQueue(n int) queue { return queue{q: make(chan *Event, n), stop: make(chan struct{})} }

// offer queues e unless stopped; false means the queue was full.
func (q *queue) offer(e *Event) bool {
	select {
	case <-q.stop:
		return true
	default:
	}
	select {
	case q.q <- e:
		q.queued.Add(1)
		return true
	default:
		q.dropped.Add(1)
		return false
	}
}

func (q *queue) close() { q.stopOnce.Do(func() { close(q.stop) }) }

// Dropped returns how many events were lost to a full queue.
func (q *queue) Dropped() uint64 { return q.dropped.Load() }

// Subscription is a push subscription created by On or Once.
type Subscription struct {
	queue
	bus   *Bus
	pat   Pattern
	h     Handler
	once  bool
	fired atomic.Bool
	done  chan struct{}
	gid   atomic.Uint64
}

func (s *Subscription) pattern() Pattern { return s.pat }

func (s *Subscription) offer(e *Event) bool {
	if s.once && s.fired.Load() {
		return true
	}
	return s.queue.offer(e)
}

func (s *Subscription) run() {
	defer close(s.done)
	s.gid.Store(goid())
	for {
		select {
		case <-s.stop:
			return
		case e := <-s.q:
			// stop wins over queued events: after Cancel nothing new starts.
			select {
			case <-s.stop:
				return
			default:
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

func (s *Subscription) call(e *Event) {
	defer func() {
		if r := recover(); r != nil {
			s.bus.panics.Add(1)
			s.bus.log.Error("event handler panicked", "pattern", s.pat.String(), "event", e.Name(), "panic", r)
		}
	}()
	s.h(e)
}

// Pattern returns the subscription's pattern.
func (s *Subscription) Pattern() string { return s.pat.String() }

// Cancel stops delivery. When it returns, the handler is not running and
// will not be called again — unless Cancel is called from inside the handler
// itself, in which case the current call is the last one. Safe to call more
// than once and from any goroutine.
func (s *Subscription) Cancel() {
	s.bus.remove(s)
	s.shutdown(true)
}

func (s *Subscription) shutdown(wait bool) {
	s.close()
	if wait && s.gid.Load() != goid() {
		<-s.done
	}
}

// Done is closed once the subscription's goroutine has ended: after Cancel,
// after a Once subscription fired, or when the bus closed.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Stream is a pull subscription: the consumer takes events with Next.
type Stream struct {
	queue
	bus *Bus
	pat Pattern
}

func (s *Stream) pattern() Pattern { return s.pat }

func (s *Stream) shutdown(bool) { s.close() }

// Next returns the next event, waiting until one arrives, ctx ends or the
// stream is closed (ErrClosed). Events queued before Close are still
// returned; ErrClosed comes once they are drained.
func (s *Stream) Next(ctx context.Context) (*Event, error) {
	select {
	case e := <-s.q:
		return e, nil
	default:
	}
	select {
	case e := <-s.q:
		return e, nil
	case <-s.stop:
		select {
		case e := <-s.q:
			return e, nil
		default:
			return nil, ErrClosed
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Pattern returns the stream's pattern.
func (s *Stream) Pattern() string { return s.pat.String() }

// Close stops the stream; safe to call more than once.
func (s *Stream) Close() {
	s.bus.remove(s)
	s.shutdown(false)
}

func splitName(n string) []string {
	var segs []string
	start := 0
	for i := 0; i < len(n); i++ {
		if n[i] == ':' {
			segs = append(segs, n[start:i])
			start = i + 1
		}
	}
	return append(segs, n[start:])
}

// goid returns the current goroutine's id, parsed from the stack header
// "goroutine 123 [running]:". Cancel uses it to tell whether it runs inside
// the very handler it cancels (and so must not wait for it).
func goid() uint64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	b := buf[:n]
	const prefix = "goroutine "
	if len(b) < len(prefix) {
		return 0
	}
	b = b[len(prefix):]
	var id uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}
