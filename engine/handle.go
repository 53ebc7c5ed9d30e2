package engine

import (
	"errors"
	"time"

	"github.com/telepathine/telepathine/engine/internal/state"
	"github.com/telepathine/telepathine/engine/internal/wire"
	"github.com/telepathine/telepathine/engine/transport"
)

// maxFollowups bounds the extra Syns sent to one peer in one round to fetch
// what its SynAck showed we lack; catch-up beyond that waits for the next
// round.
const maxFollowups = 4

// onPacket is the transport's handler: decode, check, dispatch. Whatever the
// bytes, it never panics: bad packets are dropped and counted.
func (p *Peer) onPacket(in transport.Packet) {
	p.stats.received.Add(1)
	pk, err := wire.Decode(in.Data, wire.Limits{MaxPacket: p.cfg.MaxPacketSize})
	if err != nil {
		p.countDecodeError(err)
		return
	}
	s := p.sess.Load()
	if pk.Cluster != p.cfg.Cluster {
		p.stats.foreignCluster.Add(1)
		p.warnf("dropped a packet of another cluster", "cluster", pk.Cluster, "from", pk.Sender.Addr)
		if pk.Type == wire.Syn {
			// Tell a misconfigured peer once per Syn; never answer a
			// BadCluster, so two clusters cannot ping-pong.
			p.send(pk.Sender.Addr, &wire.Packet{Type: wire.BadCluster})
		}
		return
	}
	if pk.Sender.Name == s.id.Name && pk.Sender.Generation == s.id.Generation {
		p.stats.selfPackets.Add(1) // a seed list that names ourselves
		return
	}
	p.stats.recvType[pk.Type].Add(1)
	switch pk.Type {
	case wire.Syn:
		p.onSyn(pk)
	case wire.SynAck:
		p.onSynAck(pk)
	case wire.Ack:
		p.onDelta(pk, false)
	case wire.Push:
		p.onDelta(pk, true)
	case wire.Reply:
		p.onReply(pk)
	case wire.BadCluster:
		p.warnf("a peer says we are in the wrong cluster", "peer", pk.Sender.Addr)
	}
}

func (p *Peer) countDecodeError(err error) {
	switch {
	case errors.Is(err, wire.ErrTruncated):
		p.stats.truncated.Add(1)
	case errors.Is(err, wire.ErrOversized):
		p.stats.oversized.Add(1)
	case errors.Is(err, wire.ErrMagic):
		p.stats.badMagic.Add(1)
	case errors.Is(err, wire.ErrVersion):
		p.stats.badVersion.Add(1)
	default:
		p.stats.malformed.Add(1)
	}
}

// warnf logs at most one warning per second, so a flood cannot flood logs.
func (p *Peer) warnf(msg string, args ...any) {
	now := p.clk.Now()
	p.mu.Lock()
	if now.Sub(p.lastWarn) < time.Second {
		p.mu.Unlock()
		return
	}
	p.lastWarn = now
	p.mu.Unlock()
	p.log.Warn(msg, args...)
}

// lockRunning takes mu and reads the clock, or returns false (mu not held)
// when the peer is not running: every handler and round starts with it.
func (p *Peer) lockRunning() (time.Time, bool) {
	now := p.clk.Now()
	p.mu.Lock()
	if p.status != statusRunning {
		p.mu.Unlock()
		return now, false
	}
	return now, true
}

// onSyn answers a digest: the entries the initiator lacks, the lines of what
// we lack, fresher heartbeats, and our full digest when its fingerprint
// shows a difference it did not list.
func (p *Peer) onSyn(pk *wire.Packet) {
	now, ok := p.lockRunning()
	if !ok {
		return
	}
	ms := now.UnixMilli()
	cmp, changes := p.st.Compare(&pk.Digest, nil)
	reply := &wire.Packet{Type: wire.SynAck}
	reply.Delta = p.st.BuildDelta(cmp.Requests, p.cfg.DeltaBudget, ms, p.rng)
	lines := make([]state.DigestEntry, 0, 1+len(cmp.Wants)+len(cmp.Fresher))
	lines = append(lines, p.st.Self().Line())
	lines = append(lines, cmp.Wants...)
	lines = append(lines, cmp.Fresher...)
	if cmp.Mismatch {
		p.lastNews = now
		reply.Mismatch = true
		reply.Digest = p.st.FullDigest(p.digestLines(), lines[1:], p.rng)
	} else {
		reply.Digest = state.Digest{Entries: lines}
		if cmp.HeartbeatsAhead {
			reply.Digest.Fingerprint = p.st.Fingerprint()
			reply.Digest.Heartbeats = p.st.HeartbeatVector()
		}
	}
	p.applyChanges(changes, now)
	p.mu.Unlock()
	p.send(pk.Sender.Addr, reply)
}

// onSynAck applies what the responder sent, answers what it wants, and
// follows up at once when its digest shows we lack more than it sent.
func (p *Peer) onSynAck(pk *wire.Packet) {
	now, ok := p.lockRunning()
	if !ok {
		return
	}
	ms := now.UnixMilli()
	changes, _, err := p.st.Apply(&pk.Delta, ms, false, nil, nil)
	if err != nil {
		p.stats.badDelta.Add(1)
		p.mu.Unlock()
		return
	}
	cmp, changes := p.st.Compare(&pk.Digest, changes)
	var out []outgoing
	if d := p.st.BuildDelta(cmp.Requests, p.cfg.DeltaBudget, ms, p.rng); !d.Empty() {
		out = append(out, outgoing{pk.Sender.Addr, &wire.Packet{Type: wire.Ack, Delta: d}})
	}
	if len(cmp.Wants) > 0 {
		if p.followups == nil {
			p.followups = make(map[string]int)
		}
		if p.followups[pk.Sender.Addr] < maxFollowups {
			p.followups[pk.Sender.Addr]++
			p.stats.followups.Add(1)
			d := p.st.FullDigest(p.digestLines(), cmp.Wants, p.rng)
			out = append(out, outgoing{pk.Sender.Addr, &wire.Packet{Type: wire.Syn, Digest: d}})
		} else {
			p.needFull = true
		}
	}
	if pk.Mismatch {
		p.needFull = true
		p.lastNews = now
	}
	p.applyChanges(changes, now)
	p.mu.Unlock()
	for _, o := range out {
		p.send(o.addr, o.pk)
	}
}

// onDelta applies an Ack or a Push. Fresh entries of a push are forwarded
// (each peer forwards what it learnt by push once: epidemic broadcast).
func (p *Peer) onDelta(pk *wire.Packet, push bool) {
	now, ok := p.lockRunning()
	if !ok {
		return
	}
	changes, fresh, err := p.st.Apply(&pk.Delta, now.UnixMilli(), push, nil, nil)
	if err != nil {
		p.stats.badDelta.Add(1)
		p.mu.Unlock()
		return
	}
	if push && pk.Delta.Relay && len(fresh) > 0 {
		items := make([]pushItem, 0, len(fresh))
		for _, r := range fresh {
			items = append(items, pushItem{run: r, except: pk.Sender.Addr})
		}
		p.enqueuePush(items...)
	}
	p.applyChanges(changes, now)
	p.mu.Unlock()
}
