package engine

import (
	"errors"
	"slices"
	"sync/atomic"

	"github.com/telepathine/telepathine/engine/internal/protocol"
	"github.com/telepathine/telepathine/engine/internal/wire"
	"github.com/telepathine/telepathine/engine/transport"
)

// The runtime around the protocol core: two loops (gossip rounds, pushes),
// the transport's packet handler, and the send path. Every call into the
// core happens under mu; what the core returns is reported under mu too
// (so events reach subscribers in the order the state changed) and its
// packets are encoded and sent after mu is released (the in-memory
// transport may deliver synchronously into another peer).

func (p *Peer) gossipLoop(stop chan struct{}) {
	defer p.wg.Done()
	t := p.clk.NewTicker(p.cfg.GossipInterval)
	defer t.Stop()
	p.gossipRound() // join at once instead of one interval later
	for {
		select {
		case <-stop:
			return
		case <-t.C():
			p.gossipRound()
		}
	}
}

func (p *Peer) gossipRound() {
	now := p.clk.Now()
	p.mu.Lock()
	out := p.core.Tick(now)
	p.report(&out)
	p.mu.Unlock()
	p.send(out.Packets)
}

// pushLoop sends queued pushes as soon as it can. While it is busy sending,
// new items accumulate and leave together in the next batch: the faster the
// changes, the larger the batches.
func (p *Peer) pushLoop(stop chan struct{}) {
	defer p.wg.Done()
	for {
		select {
		case <-stop:
			return
		case <-p.kick:
			p.flushPushes()
		}
	}
}

func (p *Peer) flushPushes() {
	p.mu.Lock()
	plan := p.core.TakePushes()
	p.mu.Unlock()
	p.send(plan.Packets())
}

// onPacket is the transport's handler: it queues the packet in the inbox
// (inbox.go) and, when no other goroutine is draining it, drains it.
func (p *Peer) onPacket(in transport.Packet) {
	if !p.inbox.put(in) {
		return
	}
	for {
		pk, ok := p.inbox.take()
		if !ok {
			return
		}
		p.handlePacket(pk)
	}
}

// handlePacket hands one packet to the core and sends its answers.
func (p *Peer) handlePacket(in transport.Packet) {
	now := p.clk.Now()
	p.mu.Lock()
	var out protocol.Output
	if in.Stream {
		out = p.core.HandleStream(now, in.From, in.Data)
	} else {
		out = p.core.HandlePacket(now, in.From, in.Data)
	}
	p.report(&out)
	p.mu.Unlock()
	p.send(out.Packets)
}

// report hands what the core learnt to the application: events to the bus,
// replies to the waiting asks, and a kick to the pusher. Called with mu
// held.
func (p *Peer) report(out *protocol.Output) {
	if len(out.Events) > 0 {
		// One allocation for the packet's events instead of one each: a
		// push carries hundreds of says. A handler keeping one event keeps
		// the packet's slab alive; the queues hold them all anyway.
		evs := make([]Event, len(out.Events))
		ptrs := slices.Grow(p.emitting[:0], len(evs))
		var names sayNames
		for i := range out.Events {
			p.event(&evs[i], &names, &out.Events[i])
			ptrs = append(ptrs, &evs[i])
		}
		p.bus.EmitAll(ptrs)
		clear(ptrs) // keeps no event alive
		p.emitting = ptrs[:0]
		p.core.Recycle(out)
	}
	for _, r := range out.Replies {
		if w := p.asks[r.Version]; w != nil {
			w.add(Answer{Peer: r.Peer, Value: Value{Data: r.Value, Encoding: Encoding(r.Encoding)}}, r.Complete)
		}
	}
	if out.PushReady && p.kick != nil {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
}

var eventKinds = [...]Kind{
	protocol.PeerNew: KindPeerNew, protocol.PeerStart: KindPeerStart, protocol.PeerStop: KindPeerStop,
	protocol.KeySet: KindSet, protocol.KeyDeleted: KindDelete, protocol.KeyExpired: KindExpired,
	protocol.Said: KindSay, protocol.Asked: KindAsk,
}

// event fills ev from the core's e.
func (p *Peer) event(ev *Event, names *sayNames, e *protocol.Event) {
	v := Value{Data: e.Value, Encoding: Encoding(e.Encoding)}
	var reply func(Value) error
	if e.Kind == protocol.Asked {
		id := e.AskID
		reply = func(r Value) error { return p.Reply(id, r) }
	}
	initEvent(ev, names, eventKinds[e.Kind], e.Peer, e.Key, v, e.ExpiresAt, reply)
	ev.AskID = e.AskID
	ev.Reason = reasonOf(e.Reason)
}

// send encodes and sends packets; it must be called without mu held.
// Targets that share a packet (PushPlan.Packets) share its bytes too: each
// distinct packet is encoded and sealed once, unless it is held to the
// anti-amplification credit of its own destination (Outgoing.Limited).
func (p *Peer) send(pks []protocol.Outgoing) {
	if len(pks) == 0 {
		return
	}
	s := p.sess.Load()
	if s == nil {
		return
	}
	now := p.clk.Now()
	var encoded map[*wire.Packet][]byte
	for _, o := range pks {
		b, seen := encoded[o.Packet]
		if !seen {
			var err error
			b, err = p.core.Encode(now, o)
			switch {
			case errors.Is(err, protocol.ErrAmplification):
				// counted by the core's Amplification (Stats.Amplification)
			case err != nil:
				p.stats.encodeErrors.Add(1)
				if !errors.Is(err, protocol.ErrOversized) {
					p.log.Error("encode failed", "type", o.Packet.Type, "err", err)
				}
			}
			if !o.Limited {
				if encoded == nil {
					encoded = make(map[*wire.Packet][]byte, len(pks))
				}
				encoded[o.Packet] = b // nil after a failure: not tried again
			}
		}
		if b == nil {
			continue
		}
		p.stats.sent[o.Packet.Type].Add(1)
		if err := s.tr.Send(p.cfg.route(o.To), b); err != nil {
			p.stats.sendErrors.Add(1)
		}
	}
}

// sendCounters count the send path, which runs outside mu.
type sendCounters struct {
	sent                     [wire.NumTypes]atomic.Uint64
	encodeErrors, sendErrors atomic.Uint64
}
