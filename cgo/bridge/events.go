package bridge

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/telepathine/telepathine/engine"
)

// Deliver receives one serialized api Event of subscription sub (its
// handle, so that a call made from inside the callback can say whose
// callback it is). The slice is reused for the next event of the
// subscription: it is valid during the call only. Calls of one subscription
// are serialised (never concurrent).
type Deliver func(sub uint64, event []byte)

// subscription is what a subscription handle names: an engine subscription
// whose handler serializes each event and hands it to deliver.
type subscription struct {
	handle    uint64
	owner     *engineEntry
	sub       *engine.Subscription
	finalize  func()
	finalized atomic.Bool
	// buf is reused for each event; only the subscription's goroutine
	// touches it (its calls are serialised).
	buf []byte
}

// Subscribe calls deliver with every event matching pattern until the
// subscription or its engine is closed; then finalize (may be nil) is
// called exactly once, after the last deliver returned. On error neither
// is ever called.
func (b *Bridge) Subscribe(h uint64, pattern []byte, deliver Deliver, finalize func()) (uint64, error) {
	if deliver == nil {
		return 0, errorf(ErrInvalidArgument, "null callback")
	}
	e, err := b.engine(h)
	if err != nil {
		return 0, err
	}
	pat, err := e.text(pattern, "pattern", engine.ErrInvalidArgument)
	if err != nil {
		return 0, err
	}
	if err := e.peer.CheckPattern(pat); err != nil {
		return 0, err
	}
	s := &subscription{owner: e, finalize: finalize}
	// Held across On so that CloseEngine, which takes e.subs under mu, ends
	// every subscription made before it.
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return 0, engine.ErrClosed
	}
	if s.handle, err = b.t.add(kindSubscription, s); err != nil {
		return 0, err
	}
	s.sub = e.peer.On(pat, func(ev *engine.Event) {
		s.buf = appendEvent(s.buf[:0], ev)
		deliver(s.handle, s.buf)
	})
	e.subs[s] = struct{}{}
	return s.handle, nil
}

// end stops delivery and runs the finalizer once the last call returned.
// Outside the handler (self false) it waits for a running call to return;
// from inside it (self true) it cannot, so the finalizer runs on a
// goroutine once the closing call has returned. Every non-self closer
// waits, whoever runs the finalizer.
func (s *subscription) end(self bool) {
	s.sub.Cancel()
	first := s.finalized.CompareAndSwap(false, true) && s.finalize != nil
	if self {
		if first {
			go func() {
				<-s.sub.Done()
				s.finalize()
			}()
		}
		return
	}
	<-s.sub.Done()
	if first {
		s.finalize()
	}
}

// CloseSubscription ends a subscription. caller is the handle of the
// subscription whose callback makes this call, 0 outside any callback (the
// C layer knows it per thread). When it returns the callback is not running
// and will not run again, unless called from inside that callback (then the
// current call is the last). Idempotent; concurrent closers all wait.
func (b *Bridge) CloseSubscription(h, caller uint64) error {
	s, ok, err := find[*subscription](b.t, h, kindSubscription)
	if !ok {
		return err
	}
	s.end(h == caller)
	b.t.drop(h)
	s.owner.mu.Lock()
	delete(s.owner.subs, s)
	s.owner.mu.Unlock()
	return nil
}

// stream is what an event stream handle names.
type stream struct {
	s *engine.Stream
}

// OpenEvents opens a poll stream of the events matching pattern, queueing
// up to queueLen (0: the engine's Limits.HandlerQueue).
func (b *Bridge) OpenEvents(h uint64, pattern []byte, queueLen uint32) (uint64, error) {
	e, err := b.engine(h)
	if err != nil {
		return 0, err
	}
	pat, err := e.text(pattern, "pattern", engine.ErrInvalidArgument)
	if err != nil {
		return 0, err
	}
	es, err := e.peer.Events(pat, int(queueLen))
	if err != nil {
		return 0, err
	}
	st := &stream{s: es}
	h2, err := b.t.add(kindEvents, st)
	if err != nil {
		st.s.Close()
		return 0, err
	}
	return h2, nil
}

// Poll takes the next event of a stream as a serialized api Event, waiting
// up to timeoutMS (0: not at all; negative: until an event or the stream's
// end). A Timeout status says no event came.
func (b *Bridge) Poll(h uint64, timeoutMS int64) ([]byte, error) {
	_, ev, err := b.next(h, timeoutMS)
	if err != nil {
		return nil, err
	}
	return appendEvent(nil, ev), nil
}

// next waits for the next event of stream h as Poll and PollMany do, and
// maps the stream's end and the timeout to their statuses.
func (b *Bridge) next(h uint64, timeoutMS int64) (*stream, *engine.Event, error) {
	st, err := get[*stream](b.t, h, kindEvents)
	if err != nil {
		return nil, nil, err
	}
	ctx := context.Background()
	if timeoutMS >= 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(min(timeoutMS, MaxDurationMS))*time.Millisecond)
		defer cancel()
	}
	ev, err := st.s.Next(ctx)
	switch {
	case err == nil:
		return st, ev, nil
	case errors.Is(err, engine.ErrClosed):
		return nil, nil, errorf(ErrClosed, "event stream %d ended", h)
	case ctx.Err() != nil:
		return nil, nil, errorf(Timeout, "no event within %d ms", timeoutMS)
	}
	return nil, nil, err
}

// CloseEvents closes a stream; a blocked Poll returns ErrClosed.
// Idempotent.
func (b *Bridge) CloseEvents(h uint64) error {
	st, ok, err := take[*stream](b.t, h, kindEvents)
	if !ok {
		return err
	}
	st.s.Close()
	return nil
}
