package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/telepathine/telepathine/engine/internal/protocol"
	"github.com/telepathine/telepathine/engine/internal/state"
)

// On subscribes h to local events whose name matches pattern, with
// EventEmitter2 wildcards and ':' as delimiter ("*" one segment, "**" any
// number). Event names: "start", "stop", "set" and "set:KEY", "delete" and
// "delete:KEY", "key:expired", "say:EVENT", "peer:new", "peer:start" (seems
// alive), "peer:stop" (seems dead). An event with several names (a set is
// both "set" and "set:KEY") is delivered once to a subscription matching
// any of them.
//
// Events report what the peer learns from the cluster: a peer does not get
// set, delete or say events for its own calls (it made them), but does get
// key:expired for its own keys.
//
// Handler contract: h runs on a goroutine of its own subscription, never
// concurrently with itself, in the order events happened (per peer: the
// order that peer made its changes). h may block and may call the Peer; its
// events queue meanwhile (HandlerQueue of them, then they are dropped and
// counted in Stats), and nothing else waits for it: not gossip, not failure
// detection, not other subscriptions. A panic in h is logged and counted.
// The *Event and its Value bytes are shared: read-only.
func (p *Peer) On(pattern string, h Handler) *Subscription {
	return &Subscription{p.bus.On(pattern, h)}
}

// Once is On for the first matching event only.
func (p *Peer) Once(pattern string, h Handler) *Subscription {
	return &Subscription{p.bus.Once(pattern, h)}
}

// Events returns a pull subscription for hosts that cannot take callbacks:
// events matching pattern wait in a queue of queueLen (Limits.HandlerQueue
// if 0, at most MaxHandlerQueue: it is allocated whole) until Next takes
// them. Errors: ErrInvalidArgument for a bad pattern (see CheckPattern) or
// queue length, ErrClosed.
func (p *Peer) Events(pattern string, queueLen int) (*Stream, error) {
	if err := p.CheckPattern(pattern); err != nil {
		return nil, err
	}
	if queueLen < 0 || queueLen > MaxHandlerQueue {
		return nil, fmt.Errorf("%w: queue length %d out of [0, %d]", ErrInvalidArgument, queueLen, MaxHandlerQueue)
	}
	if p.isClosed() {
		return nil, ErrClosed
	}
	return &Stream{p.bus.Stream(pattern, queueLen)}, nil
}

// patternSlack is what a pattern may have beyond Limits.KeySize: event
// names are a key or an event name behind a prefix ("delete:KEY").
const patternSlack = 64

// CheckPattern says whether pattern can match an event: non-empty UTF-8
// without NUL, at most Limits.KeySize+64 bytes (a key behind a prefix). On
// and Once take any pattern (one that fails this matches nothing); Events
// and the C ABI refuse it with ErrInvalidArgument.
func (p *Peer) CheckPattern(pattern string) error {
	if max := p.cfg.Limits.KeySize + patternSlack; !validName(pattern, max) {
		return fmt.Errorf("%w: %s", ErrInvalidArgument, describeName("pattern", pattern, max))
	}
	return nil
}

// Hear subscribes to say events: pattern "chat:*" hears Say("chat:hello",
// ...). The handler gets the data and the sender's name; asks are heard too
// (reply with e.Reply).
func (p *Peer) Hear(pattern string, h func(data Value, from string, e *Event)) *Subscription {
	return p.On("say:"+pattern, func(e *Event) { h(e.Value, e.Peer, e) })
}

// HearOnce is Hear for the first matching event only.
func (p *Peer) HearOnce(pattern string, h func(data Value, from string, e *Event)) *Subscription {
	return p.Once("say:"+pattern, func(e *Event) { h(e.Value, e.Peer, e) })
}

// Know subscribes to changes of keys matching pattern on any peer: sugar
// for On("set:"+pattern).
func (p *Peer) Know(pattern string, h func(peer string, value Value, e *Event)) *Subscription {
	return p.On("set:"+pattern, func(e *Event) { h(e.Peer, e.Value, e) })
}

// SayOption modifies a Say.
type SayOption func(*sayOptions)

type sayOptions struct {
	duration time.Duration
	buffered bool
}

// For sets how long the event is delivered, to peers that join meanwhile
// too. Default Config.SayDuration.
func For(d time.Duration) SayOption { return func(o *sayOptions) { o.duration = d } }

// Buffered waits for the next gossip round instead of pushing at once, so
// many small events travel together (the reference's buffer flag).
func Buffered() SayOption { return func(o *sayOptions) { o.buffered = true } }

// Say sends an event to the hear handlers of every other peer (never its
// own), each exactly once and in this peer's order, during the event's
// duration. Event names may contain ':' ("chat:room1").
func (p *Peer) Say(event string, data Value, opts ...SayOption) error {
	o := sayOptions{duration: p.cfg.SayDuration}
	for _, f := range opts {
		f(&o)
	}
	if o.duration <= 0 {
		return fmt.Errorf("%w: duration must be positive", ErrInvalidArgument)
	}
	if err := p.checkEvent(event, data); err != nil {
		return err
	}
	now := p.clk.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.usable(); err != nil {
		return err
	}
	out, err := p.core.Say(now, event, data.Data, state.Encoding(data.Encoding), o.duration, o.buffered)
	if err != nil {
		return p.mapCoreErr(err)
	}
	p.report(&out)
	return nil
}

// checkEvent validates what Say and Ask send.
func (p *Peer) checkEvent(event string, data Value) error {
	if !validName(event, p.cfg.Limits.EventNameSize) {
		return fmt.Errorf("%w: %s", ErrInvalidEvent, describeName("event name", event, p.cfg.Limits.EventNameSize))
	}
	return p.checkPayload(data)
}

// checkPayload validates the data of Say, Ask and Reply.
func (p *Peer) checkPayload(data Value) error {
	if err := checkEncoding(data); err != nil {
		return err
	}
	if len(data.Data) > p.cfg.Limits.EventPayloadSize {
		return fmt.Errorf("%w: payload of %d bytes above Limits.EventPayloadSize %d", ErrValueTooLarge, len(data.Data), p.cfg.Limits.EventPayloadSize)
	}
	return checkValue(data)
}

// usable says why the peer cannot take a call that needs it running.
// Called with mu held.
func (p *Peer) usable() error {
	switch p.status {
	case statusClosed:
		return ErrClosed
	case statusRunning:
		return nil
	}
	return ErrNotRunning
}

func (p *Peer) mapCoreErr(err error) error {
	switch {
	case errors.Is(err, protocol.ErrNotRunning):
		return ErrNotRunning
	case errors.Is(err, protocol.ErrUnknownAsk):
		return ErrUnknownAsk
	}
	return mapStateErr(err)
}

// Answer is one peer's answer to an Ask.
type Answer struct {
	Peer  string
	Value Value
}

// askWait collects the replies to one Ask; the core has already dropped
// second replies and knows when the expected count is reached.
type askWait struct {
	mu      sync.Mutex
	replies []Answer
	done    chan struct{}
	closed  bool
}

func (a *askWait) add(r Answer, complete bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	a.replies = append(a.replies, r)
	if complete {
		a.closed = true
		close(a.done)
	}
}

func (a *askWait) finish() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.closed {
		a.closed = true
		close(a.done)
	}
}

// Ask says event to every other peer and collects the replies their hear
// handlers give (e.Reply) until timeout, ctx ends, or every peer alive when
// asking has replied. Peers that do not answer are simply absent. The ask
// is delivered during timeout, like a Say with that duration.
func (p *Peer) Ask(ctx context.Context, event string, data Value, timeout time.Duration) ([]Answer, error) {
	if timeout <= 0 {
		return nil, fmt.Errorf("%w: timeout must be positive", ErrInvalidArgument)
	}
	if err := p.checkEvent(event, data); err != nil {
		return nil, err
	}
	w := &askWait{done: make(chan struct{})}
	now := p.clk.Now()
	p.mu.Lock()
	if err := p.usable(); err != nil {
		p.mu.Unlock()
		return nil, err
	}
	// The waiter is registered under the same lock as the ask is made, so
	// no reply can arrive before someone waits for it.
	out, version, err := p.core.Ask(now, event, data.Data, state.Encoding(data.Encoding), timeout)
	if err != nil {
		p.mu.Unlock()
		return nil, p.mapCoreErr(err)
	}
	p.asks[version] = w
	p.report(&out)
	p.mu.Unlock()
	t := p.clk.AfterFunc(timeout, w.finish)
	defer t.Stop()
	select {
	case <-w.done:
	case <-ctx.Done():
		w.finish()
	}
	p.mu.Lock()
	delete(p.asks, version)
	p.core.EndAsk(version)
	p.mu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	out2 := make([]Answer, len(w.replies))
	copy(out2, w.replies)
	return out2, ctx.Err()
}

// Reply answers the ask with the given AskID (Event.AskID); only the first
// reply per ask is sent. Event.Reply is the same thing.
func (p *Peer) Reply(askID uint64, v Value) error {
	if err := p.checkPayload(v); err != nil {
		return err
	}
	now := p.clk.Now()
	p.mu.Lock()
	out, err := p.core.Reply(now, askID, v.Data, state.Encoding(v.Encoding))
	p.mu.Unlock()
	if err != nil {
		return p.mapCoreErr(err)
	}
	p.send(out.Packets)
	return nil
}

func (p *Peer) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status == statusClosed
}
