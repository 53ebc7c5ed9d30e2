package engine

import (
	"sync/atomic"

	"github.com/telepathine/telepathine/engine/internal/wire"
	"github.com/telepathine/telepathine/engine/transport"
)

type counters struct {
	rounds, sets, says, pushes, followups atomic.Uint64
	received                              atomic.Uint64
	sent, recvType                        [wire.NumTypes]atomic.Uint64
	truncated, oversized, badMagic        atomic.Uint64
	badVersion, malformed, badDelta       atomic.Uint64
	foreignCluster, selfPackets           atomic.Uint64
	encodeErrors, oversizedOut            atomic.Uint64
	sendErrors, pushDropped, lateReplies  atomic.Uint64
	deaths                                atomic.Uint64
}

// Stats is a snapshot of a peer's counters. Counters only grow (since New);
// the gauges (Peers, LivePeers, ...) are current values.
type Stats struct {
	// Gossip activity.
	Rounds, Sets, Says, PushBatches, Followups uint64
	// PacketsSent and PacketsReceived count packets by message type
	// ("syn", "synack", "ack", "push", "reply", "badcluster").
	PacketsSent, PacketsReceived map[string]uint64

	// Dropped incoming packets, by reason. Each is dropped whole, before
	// anything of it is applied.
	Truncated, Oversized, BadMagic, BadVersion, Malformed uint64
	// BadDelta counts packets that decoded but whose delta broke the
	// protocol's rules (versions out of order, oversized values...).
	BadDelta uint64
	// ForeignCluster counts packets of another cluster.
	ForeignCluster uint64
	// SelfPackets counts packets from this very peer (a seed naming itself).
	SelfPackets uint64

	// Outgoing problems.
	EncodeErrors, SendErrors, PushDropped uint64
	// LateReplies counts ask replies that came after the ask ended.
	LateReplies uint64

	// Event delivery: events lost to full handler queues, handler panics.
	EventsDropped, HandlerPanics uint64

	// Failure detection.
	Deaths uint64

	// Gauges.
	Peers, LivePeers, DeadPeers int
	Keys, PendingRuns           int

	// Transport counters (bytes and packets on each protocol).
	Transport transport.Stats
}

// Stats returns the peer's counters.
func (p *Peer) Stats() Stats {
	c := &p.stats
	s := Stats{
		Rounds: c.rounds.Load(), Sets: c.sets.Load(), Says: c.says.Load(),
		PushBatches: c.pushes.Load(), Followups: c.followups.Load(),
		PacketsSent: map[string]uint64{}, PacketsReceived: map[string]uint64{},
		Truncated: c.truncated.Load(), Oversized: c.oversized.Load(), BadMagic: c.badMagic.Load(),
		BadVersion: c.badVersion.Load(), Malformed: c.malformed.Load(), BadDelta: c.badDelta.Load(),
		ForeignCluster: c.foreignCluster.Load(), SelfPackets: c.selfPackets.Load(),
		EncodeErrors: c.encodeErrors.Load() + c.oversizedOut.Load(), SendErrors: c.sendErrors.Load(),
		PushDropped: c.pushDropped.Load(), LateReplies: c.lateReplies.Load(),
		Deaths: c.deaths.Load(),
	}
	for t := range wire.NumTypes {
		name := wire.Type(t).String()
		s.PacketsSent[name] = c.sent[t].Load()
		s.PacketsReceived[name] = c.recvType[t].Load()
	}
	s.EventsDropped, s.HandlerPanics = p.bus.Stats()
	p.mu.Lock()
	for _, m := range p.members {
		s.Peers++
		if m.alive {
			s.LivePeers++
		} else {
			s.DeadPeers++
		}
	}
	if p.st != nil {
		s.Keys = len(p.st.Keys(p.st.Self().ID.Name, p.nowMS()))
		s.PendingRuns = p.st.PendingRuns()
	}
	if sess := p.sess.Load(); sess != nil {
		s.Transport = sess.tr.Stats()
	}
	p.mu.Unlock()
	return s
}
