package engine

import (
	"time"

	"github.com/telepathine/telepathine/engine/internal/failure"
	"github.com/telepathine/telepathine/engine/internal/state"
	"github.com/telepathine/telepathine/engine/internal/wire"
	"github.com/telepathine/telepathine/engine/transport"
)

type outgoing struct {
	addr string
	pk   *wire.Packet
}

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

// gossipRound is one round: advance the heartbeat, expire and collect, judge
// liveness, then send a Syn to each target.
func (p *Peer) gossipRound() {
	now, ok := p.lockRunning()
	if !ok {
		return
	}
	ms := now.UnixMilli()
	p.round++
	p.stats.rounds.Add(1)
	if now.Sub(p.lastBeat) >= p.cfg.HeartbeatInterval {
		p.st.BeatHeart()
		p.lastBeat = now
	}
	p.applyChanges(p.st.Tick(ms, p.cfg.TombstoneGrace.Milliseconds(), nil), now)
	p.judge(now)
	p.expireAsks(ms)
	targets := p.targets(now)
	full := p.needFull || p.round%uint64(p.cfg.FullDigestEvery) == 0
	p.needFull = false
	clear(p.followups)
	var digest state.Digest
	if full {
		digest = p.st.FullDigest(p.digestLines(), nil, p.rng)
	} else {
		digest = p.st.CompactDigest()
	}
	out := make([]outgoing, 0, len(targets))
	for _, addr := range targets {
		out = append(out, outgoing{addr, &wire.Packet{Type: wire.Syn, Digest: digest}})
	}
	if len(p.roundQ) > 0 {
		p.enqueuePush(p.roundQ...)
		p.roundQ = nil
	}
	p.mu.Unlock()
	for _, o := range out {
		p.send(o.addr, o.pk)
	}
}

// digestLines is how many digest lines fit one datagram next to the header;
// 0 (no limit) when every packet goes over TCP.
func (p *Peer) digestLines() int {
	if p.cfg.TransportMode == transport.TCPOnly {
		return 0
	}
	room := p.cfg.MTU - 96 - len(p.cfg.Cluster) - p.id.Size()
	return max(room/state.DigestEntrySize, 8)
}

// targets picks this round's gossip partners: Fanout random live peers, a
// dead one with probability dead/(live+1) (so a recovered peer is noticed),
// and a seed when no live peer is known or, now and then, when no seed was
// picked (so partitions heal through the seeds).
func (p *Peer) targets(now time.Time) []string {
	var live, dead []string
	for name, m := range p.members {
		n, ok := p.st.Node(name)
		if !ok {
			continue
		}
		if m.alive {
			live = append(live, n.ID.Addr)
		} else {
			dead = append(dead, n.ID.Addr)
		}
	}
	p.rng.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
	fanout := p.cfg.Fanout
	if now.Sub(p.lastNews) >= p.cfg.QuietAfter {
		fanout = p.cfg.QuietFanout
	}
	out := live[:min(fanout, len(live))]
	seedPicked := false
	for _, a := range out {
		if p.seeds[a] {
			seedPicked = true
		}
	}
	if len(dead) > 0 && p.rng.Float64() < float64(len(dead))/float64(len(live)+1) {
		out = append(out, dead[p.rng.IntN(len(dead))])
	}
	if len(p.seeds) > 0 && !seedPicked &&
		(len(live) == 0 || p.rng.Float64() < float64(len(p.seeds))/float64(len(live)+len(dead)+1)) {
		seeds := make([]string, 0, len(p.seeds))
		for s := range p.seeds {
			seeds = append(seeds, s)
		}
		// Map order is random but not uniformly so; pick explicitly.
		out = append(out, seeds[p.rng.IntN(len(seeds))])
	}
	return out
}

// judge updates liveness from the failure detectors and removes peers that
// have been dead for longer than DeadGrace.
func (p *Peer) judge(now time.Time) {
	for name, m := range p.members {
		switch {
		case m.alive && m.fd.Phi(now) > p.cfg.PhiThreshold:
			m.alive = false
			m.deadSince = now
			m.fd.Reset()
			p.lastNews = now
			p.stats.deaths.Add(1)
			p.log.Info("peer seems dead", "peer", name)
			p.emit(newEvent(KindPeerStop, name, "", Value{}, 0, nil))
		case !m.alive && now.Sub(m.deadSince) > p.cfg.DeadGrace:
			p.st.Remove(name, now.UnixMilli())
			delete(p.members, name)
			p.log.Info("dead peer removed", "peer", name)
		}
	}
	if p.round%64 == 0 {
		p.st.Forget(now.Add(-2 * p.cfg.DeadGrace).UnixMilli())
	}
}

// applyChanges turns state changes into liveness updates and local events.
func (p *Peer) applyChanges(changes []state.Change, now time.Time) {
	for i := range changes {
		c := &changes[i]
		name := c.Node.Name
		switch c.Kind {
		case state.NodeJoined:
			p.lastNews = now
			m := p.newMember()
			m.fd.Heartbeat(now)
			m.alive = true
			p.members[name] = m
			p.needFull = true
			p.emit(newEvent(KindPeerNew, name, "", Value{}, 0, nil))
			p.emit(newEvent(KindPeerStart, name, "", Value{}, 0, nil))
		case state.NodeRestarted:
			p.needFull = true
			p.lastNews = now
			m := p.members[name]
			if m == nil {
				m = p.newMember()
				p.members[name] = m
			}
			m.fd.Reset()
			m.fd.Heartbeat(now)
			if !m.alive {
				m.alive = true
				p.emit(newEvent(KindPeerStart, name, "", Value{}, 0, nil))
			}
		case state.HeartbeatAdvanced:
			m := p.members[name]
			if m == nil {
				continue
			}
			m.fd.Heartbeat(now)
			if !m.alive {
				m.alive = true
				p.lastNews = now
				p.log.Info("peer alive again", "peer", name)
				p.emit(newEvent(KindPeerStart, name, "", Value{}, 0, nil))
			}
		case state.KeySet:
			p.lastNews = now
			e := c.Entry
			p.emit(newEvent(KindSet, name, e.Key, Value{Data: e.Value, Encoding: Encoding(e.Encoding)}, e.ExpiresAt, nil))
		case state.KeyDeleted:
			p.lastNews = now
			var last Value
			if c.Prev != nil {
				last = Value{Data: c.Prev.Value, Encoding: Encoding(c.Prev.Encoding)}
			}
			key := ""
			if c.Entry != nil {
				key = c.Entry.Key
			} else if c.Prev != nil {
				key = c.Prev.Key
			}
			p.emit(newEvent(KindDelete, name, key, last, 0, nil))
		case state.KeyExpired:
			e := c.Entry
			p.emit(newEvent(KindExpired, name, e.Key, Value{Data: e.Value, Encoding: Encoding(e.Encoding)}, e.ExpiresAt, nil))
		case state.EventHeard:
			p.lastNews = now
			p.hear(c.Node, c.Entry)
		}
	}
}

func (p *Peer) newMember() *member {
	return &member{fd: failure.New(failure.Config{
		Threshold:       p.cfg.PhiThreshold,
		WindowSize:      p.cfg.PhiWindow,
		MinStdDev:       p.cfg.PhiMinStdDev,
		AcceptablePause: p.cfg.PhiAcceptablePause,
		FirstInterval:   p.cfg.HeartbeatInterval,
		// A gap of many intervals is a partition or a pause, not a rhythm
		// to learn from.
		MaxInterval: 10 * p.cfg.HeartbeatInterval,
	})}
}
