package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/telepathine/telepathine/engine/internal/bus"
)

// Kind is what an event reports.
type Kind uint8

// Event kinds, with the names they are emitted under.
const (
	KindStart     Kind = iota + 1 // the local peer started ("start")
	KindStop                      // the local peer stopped ("stop")
	KindSet                       // a peer set a key ("set", "set:KEY")
	KindDelete                    // a peer deleted a key ("delete", "delete:KEY")
	KindExpired                   // a key reached its expiry ("key:expired")
	KindSay                       // a peer said something ("say:EVENT")
	KindAsk                       // a peer asked something ("say:EVENT"; Reply answers)
	KindPeerNew                   // a peer was discovered ("peer:new")
	KindPeerStart                 // a peer seems alive: new, or back ("peer:start")
	KindPeerStop                  // a peer died or left ("peer:stop"; Event.Reason says which)
)

var kindNames = [...]string{
	KindStart: "start", KindStop: "stop", KindSet: "set", KindDelete: "delete",
	KindExpired: "key:expired", KindSay: "say", KindAsk: "ask",
	KindPeerNew: "peer:new", KindPeerStart: "peer:start", KindPeerStop: "peer:stop",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
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
	// Reason says why a peer stopped (peer:stop): it left gracefully
	// (ReasonLeft) or its watchers declared it dead (ReasonFailed).
	Reason Reason

	reply func(Value) error
	topic bus.Topic
}

// NewEvent builds an event as the peer emits it, for code that consumes
// events (tests of handlers, bridges). Reply on it returns ErrNotAsk.
func NewEvent(kind Kind, peer, key string, value Value, expiresAt int64) *Event {
	return newEvent(kind, peer, key, value, expiresAt, nil)
}

func newEvent(kind Kind, peer, key string, value Value, expiresAt int64, reply func(Value) error) *Event {
	return newEventNamed(nil, kind, peer, key, value, expiresAt, reply)
}

// sayNames remembers the last say topic built, so that the events of one
// packet (a stream of one name, typically) build the name "say:KEY" once
// instead of once per event.
type sayNames struct{ key, name string }

func (s *sayNames) of(key string) string {
	if s == nil {
		return "say:" + key
	}
	if s.name == "" || s.key != key {
		s.key, s.name = key, "say:"+key
	}
	return s.name
}

func newEventNamed(names *sayNames, kind Kind, peer, key string, value Value, expiresAt int64, reply func(Value) error) *Event {
	e := new(Event)
	initEvent(e, names, kind, peer, key, value, expiresAt, reply)
	return e
}

// initEvent fills e field by field: e is a fresh (zeroed) event of a
// packet's slab. Assigning a whole Event literal, and a Topic built apart,
// copied ~170 bytes under the collector's bulk write barrier for each of
// the hundreds of events of a push (BenchmarkReportSays: about 10 % less
// CPU per event this way).
func initEvent(e *Event, names *sayNames, kind Kind, peer, key string, value Value, expiresAt int64, reply func(Value) error) {
	e.Kind, e.Peer, e.Key, e.Value, e.ExpiresAt, e.reply = kind, peer, key, value, expiresAt, reply
	e.AskID, e.Reason = 0, 0
	switch kind {
	case KindSet:
		e.topic = bus.NewTopic("set", "set:"+key)
	case KindDelete:
		e.topic = bus.NewTopic("delete", "delete:"+key)
	case KindSay, KindAsk:
		e.topic.SetName(names.of(key))
	default:
		e.topic.SetName(kind.String())
	}
}

func topicOf(e *Event) *bus.Topic { return &e.topic }

// Reply answers an ask. Only the first reply of this peer reaches the asker.
func (e *Event) Reply(v Value) error {
	if e.reply == nil {
		return ErrNotAsk
	}
	return e.reply(v)
}

// Name returns the most specific name the event is emitted under, e.g.
// "set:color" or "say:chat:hello".
func (e *Event) Name() string { return e.topic.Name() }

// Names returns every name the event is emitted under: a set of key "k" is
// both "set" and "set:k". A subscription receives the event once if its
// pattern matches any of them.
func (e *Event) Names() []string { return e.topic.Names() }

func (e *Event) String() string {
	return fmt.Sprintf("%s peer=%s key=%q value=%q", e.Name(), e.Peer, e.Key, e.Value.Data)
}

// Handler handles events; see Peer.On for the contract.
type Handler func(*Event)

// Subscription is returned by On and friends.
type Subscription struct{ s *bus.Subscription[*Event] }

// Cancel stops delivery without waiting: no handler call starts after it
// returns, but a call already running goes on (Done tells when it ended).
// Safe to call more than once, from any goroutine, from the handler itself.
func (s *Subscription) Cancel() { s.s.Cancel() }

// Done is closed once the handler is not running and never will again:
// after Cancel (once a running call returned), after a Once fired, or after
// the peer was closed.
func (s *Subscription) Done() <-chan struct{} { return s.s.Done() }

// Pattern returns the subscription's pattern.
func (s *Subscription) Pattern() string { return s.s.Pattern() }

// Dropped returns how many events this subscription lost to a full queue.
func (s *Subscription) Dropped() uint64 { return s.s.Dropped() }

// Stream is a pull subscription returned by Events.
type Stream struct{ s *bus.Stream[*Event] }

// Next returns the next event, waiting until one arrives, ctx ends (its
// error) or the stream is closed (ErrClosed). Events queued before the
// stream or peer was closed are still returned; ErrClosed comes once they
// are drained.
func (s *Stream) Next(ctx context.Context) (*Event, error) {
	e, err := s.s.Next(ctx)
	if errors.Is(err, bus.ErrClosed) {
		return nil, ErrClosed
	}
	return e, err
}

// Take appends to buf the events already queued, oldest first, without
// waiting: at most max, and while more (nil: any) accepts the next one.
// more runs with the stream's queue locked: it must be quick and must not
// call the peer. It takes a backlog with one lock per batch instead of one
// per event (the bindings' pollers). Nothing appended: nothing was queued
// (Next tells whether the stream ended).
func (s *Stream) Take(buf []*Event, max int, more func(*Event) bool) []*Event {
	return s.s.Take(buf, max, more)
}

// Close stops the stream; safe to call more than once.
func (s *Stream) Close() { s.s.Close() }

// Pattern returns the stream's pattern.
func (s *Stream) Pattern() string { return s.s.Pattern() }

// Dropped returns how many events this stream lost to a full queue.
func (s *Stream) Dropped() uint64 { return s.s.Dropped() }
