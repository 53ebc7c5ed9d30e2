package engine

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/telepathine/telepathine/engine/internal/state"
	"github.com/telepathine/telepathine/engine/internal/wire"
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
// events matching pattern wait in a queue of queueLen (HandlerQueue if 0)
// until Next takes them.
func (p *Peer) Events(pattern string, queueLen int) *Stream {
	return &Stream{p.bus.Stream(pattern, queueLen)}
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
	_, err := p.say(state.KindEvent, event, data, o.duration, o.buffered, nil)
	return err
}

// say appends an event of the local node and pushes it. before, when set,
// runs under the lock between the two: Ask registers its waiter there, so no
// reply can arrive before someone waits for it.
func (p *Peer) say(kind state.Kind, event string, data Value, d time.Duration, buffered bool, before func(*state.Entry)) (*state.Entry, error) {
	if event == "" || len(event) > p.cfg.MaxEventName || !state.ValidText(event) {
		return nil, ErrInvalidEvent
	}
	if err := checkEncoding(data); err != nil {
		return nil, err
	}
	if len(data.Data) > p.cfg.MaxEventPayload {
		return nil, ErrValueTooLarge
	}
	if err := checkValue(data); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.ensureState(); err != nil {
		return nil, err
	}
	if p.status != statusRunning {
		return nil, ErrNotRunning
	}
	from := p.st.Self().Version
	e, err := p.st.Say(kind, event, data.Data, state.Encoding(data.Encoding), p.clk.Now().Add(d).UnixMilli())
	if err != nil {
		return nil, mapStateErr(err)
	}
	p.stats.says.Add(1)
	if before != nil {
		before(e)
	}
	p.pushLocal(from, buffered)
	return e, nil
}

// Reply is one peer's answer to an Ask.
type Reply struct {
	Peer  string
	Value Value
}

type askWait struct {
	mu      sync.Mutex
	replies []Reply
	seen    map[string]bool
	expect  int
	done    chan struct{}
	closed  bool
	endsAt  int64
}

func (a *askWait) add(r Reply) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed || a.seen[r.Peer] {
		return
	}
	a.seen[r.Peer] = true
	a.replies = append(a.replies, r)
	if len(a.replies) >= a.expect {
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
func (p *Peer) Ask(ctx context.Context, event string, data Value, timeout time.Duration) ([]Reply, error) {
	if timeout <= 0 {
		return nil, fmt.Errorf("%w: timeout must be positive", ErrInvalidArgument)
	}
	w := &askWait{seen: map[string]bool{}, done: make(chan struct{})}
	e, err := p.say(state.KindAsk, event, data, timeout, false, func(e *state.Entry) {
		w.expect = len(p.liveAddrs())
		if w.expect == 0 {
			w.expect = 1 << 30 // nobody to wait for now, but someone may join
		}
		w.endsAt = e.ExpiresAt
		p.asks[e.Version] = w
	})
	if err != nil {
		return nil, err
	}
	t := p.clk.AfterFunc(timeout, w.finish)
	defer t.Stop()
	select {
	case <-w.done:
	case <-ctx.Done():
		w.finish()
	}
	p.mu.Lock()
	delete(p.asks, e.Version)
	p.mu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]Reply, len(w.replies))
	copy(out, w.replies)
	return out, ctx.Err()
}

// heardAsk remembers where to send the reply to an ask heard here.
type heardAsk struct {
	asker   state.NodeID
	version uint64
	endsAt  int64
	replied atomic.Bool
}

// hear turns a say or ask entry of another peer into an event. Called with
// mu held.
func (p *Peer) hear(from state.NodeID, e *state.Entry) {
	v := Value{Data: e.Value, Encoding: Encoding(e.Encoding)}
	if e.Kind != state.KindAsk {
		p.emit(newEvent(KindSay, from.Name, e.Key, v, e.ExpiresAt, nil))
		return
	}
	p.nextAsk++
	id := p.nextAsk
	h := &heardAsk{asker: from, version: e.Version, endsAt: e.ExpiresAt}
	p.heard[id] = h
	ev := newEvent(KindAsk, from.Name, e.Key, v, e.ExpiresAt, func(r Value) error { return p.Reply(id, r) })
	ev.AskID = id
	p.emit(ev)
}

// Reply answers the ask with the given AskID (Event.AskID); only the first
// reply per ask is sent. Event.Reply is the same thing.
func (p *Peer) Reply(askID uint64, v Value) error {
	if err := checkEncoding(v); err != nil {
		return err
	}
	if err := checkValue(v); err != nil {
		return err
	}
	if len(v.Data) > p.cfg.MaxEventPayload {
		return ErrValueTooLarge
	}
	p.mu.Lock()
	h, ok := p.heard[askID]
	running := p.status == statusRunning
	p.mu.Unlock()
	if !ok || p.nowMS() >= h.endsAt {
		return ErrUnknownAsk
	}
	if !running {
		return ErrNotRunning
	}
	if !h.replied.CompareAndSwap(false, true) {
		return nil
	}
	p.send(h.asker.Addr, &wire.Packet{Type: wire.Reply, Reply: wire.ReplyMsg{
		AskNode: h.asker.Key(), AskVersion: h.version, Value: v.Data, Encoding: state.Encoding(v.Encoding),
	}})
	return nil
}

func (p *Peer) onReply(pk *wire.Packet) {
	p.mu.Lock()
	s := p.sess.Load()
	var w *askWait
	if pk.Reply.AskNode == s.id.Key() {
		w = p.asks[pk.Reply.AskVersion]
	}
	p.mu.Unlock()
	if w == nil {
		p.stats.lateReplies.Add(1)
		return
	}
	w.add(Reply{Peer: pk.Sender.Name, Value: Value{Data: pk.Reply.Value, Encoding: Encoding(pk.Reply.Encoding)}})
}

// expireAsks forgets heard asks whose time is over. Called with mu held.
func (p *Peer) expireAsks(now int64) {
	for id, h := range p.heard {
		if now >= h.endsAt {
			delete(p.heard, id)
		}
	}
}
