package protocol

import (
	"time"

	"github.com/telepathine/telepathine/engine/internal/state"
)

// Tick is one gossip round at now: advance the heartbeat, expire and
// collect, judge liveness, then send a Syn to each target. Buffered local
// changes join the push queue.
func (c *Core) Tick(now time.Time) Output {
	var out Output
	if !c.running {
		return out
	}
	ms := now.UnixMilli()
	c.round++
	c.stats.Rounds++
	if now.Sub(c.lastBeat) >= c.cfg.HeartbeatInterval {
		c.st.BeatHeart()
		c.lastBeat = now
	}
	c.applyChanges(c.st.Tick(ms, c.cfg.TombstoneGrace.Milliseconds(), nil), now, &out)
	c.judge(now, &out)
	c.asks.expire(ms)
	targets := c.targets(now)
	full := c.needFull || c.round%uint64(c.cfg.FullDigestEvery) == 0
	c.needFull = false
	clear(c.followups)
	var digest state.Digest
	if full {
		digest = c.st.FullDigest(c.DigestLines(), nil, c.rng)
	} else {
		digest = c.st.CompactDigest()
	}
	c.expireTokens(now)
	for _, addr := range targets {
		out.Packets = append(out.Packets, c.synTo(addr, digest, now))
	}
	if len(c.push.buffered) > 0 {
		c.enqueuePush(&out, c.push.buffered...)
		c.push.buffered = nil
	}
	return out
}

// DigestLines is how many digest lines fit one datagram next to the
// header; 0 (no limit) when every packet goes over TCP.
func (c *Core) DigestLines() int {
	if c.cfg.TCPOnly {
		return 0
	}
	room := c.cfg.MTU - 96 - len(c.cfg.Cluster) - c.id.Size()
	return max(room/state.DigestEntrySize, 8)
}

// targets picks this round's gossip partners: Fanout random live peers, a
// dead one with probability dead/(live+1) (so a recovered peer is noticed),
// and a seed when no live peer is known or, now and then, when no seed was
// picked (so partitions heal through the seeds).
func (c *Core) targets(now time.Time) []string {
	var live, dead []string
	for name, m := range c.members.byName {
		n, ok := c.st.Node(name)
		if !ok {
			continue
		}
		if m.alive {
			live = append(live, n.ID.Addr)
		} else {
			dead = append(dead, n.ID.Addr)
		}
	}
	c.rng.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
	fanout := c.cfg.Fanout
	if now.Sub(c.lastNews) >= c.cfg.QuietAfter {
		fanout = c.cfg.QuietFanout
	}
	out := live[:min(fanout, len(live))]
	seedPicked := false
	for _, a := range out {
		if c.seeds[a] {
			seedPicked = true
		}
	}
	if len(dead) > 0 && c.rng.Float64() < float64(len(dead))/float64(len(live)+1) {
		out = append(out, dead[c.rng.IntN(len(dead))])
	}
	if len(c.seeds) > 0 && !seedPicked &&
		(len(live) == 0 || c.rng.Float64() < float64(len(c.seeds))/float64(len(live)+len(dead)+1)) {
		seeds := make([]string, 0, len(c.seeds))
		for s := range c.seeds {
			seeds = append(seeds, s)
		}
		// Map order is random but not uniformly so; pick explicitly.
		out = append(out, seeds[c.rng.IntN(len(seeds))])
	}
	return out
}

// judge updates liveness from the failure detectors and removes peers that
// have been dead for longer than DeadGrace.
func (c *Core) judge(now time.Time, out *Output) {
	died, removed := c.members.judge(now, c.cfg.DeadGrace)
	for _, name := range died {
		c.lastNews = now
		c.stats.Deaths++
		c.log.Info("peer seems dead", "peer", name)
		out.Events = append(out.Events, Event{Kind: PeerStop, Peer: name})
	}
	// A stranger never heard from at its own address leaves soon after it
	// died, instead of DeadGrace later: forged peers do not linger.
	for name, m := range c.members.byName {
		if !m.alive && !m.verified && now.Sub(m.deadSince) > c.cfg.Trust.UnverifiedGrace {
			delete(c.members.byName, name)
			removed = append(removed, name)
		}
	}
	for _, name := range removed {
		c.st.Remove(name, now.UnixMilli())
		c.log.Info("dead peer removed", "peer", name)
	}
	if c.round%64 == 0 {
		c.st.Forget(now.Add(-2 * c.cfg.DeadGrace).UnixMilli())
	}
}

// applyChanges turns state changes into liveness updates and events.
func (c *Core) applyChanges(changes []state.Change, now time.Time, out *Output) {
	for i := range changes {
		ch := &changes[i]
		name := ch.Node.Name
		switch ch.Kind {
		case state.NodeJoined:
			c.lastNews = now
			c.members.joined(name, now)
			c.needFull = true
			out.Events = append(out.Events, Event{Kind: PeerNew, Peer: name}, Event{Kind: PeerStart, Peer: name})
		case state.NodeRestarted:
			c.needFull = true
			c.lastNews = now
			if c.members.restarted(name, now) {
				out.Events = append(out.Events, Event{Kind: PeerStart, Peer: name})
			}
		case state.HeartbeatAdvanced:
			if c.members.heartbeat(name, now) {
				c.lastNews = now
				c.log.Info("peer alive again", "peer", name)
				out.Events = append(out.Events, Event{Kind: PeerStart, Peer: name})
			}
		case state.KeySet:
			c.lastNews = now
			e := ch.Entry
			out.Events = append(out.Events, Event{Kind: KeySet, Peer: name, Key: e.Key, Value: e.Value, Encoding: e.Encoding, ExpiresAt: e.ExpiresAt})
		case state.KeyDeleted:
			c.lastNews = now
			ev := Event{Kind: KeyDeleted, Peer: name}
			if ch.Prev != nil {
				ev.Key, ev.Value, ev.Encoding = ch.Prev.Key, ch.Prev.Value, ch.Prev.Encoding
			}
			if ch.Entry != nil {
				ev.Key = ch.Entry.Key
			}
			out.Events = append(out.Events, ev)
		case state.KeyExpired:
			e := ch.Entry
			out.Events = append(out.Events, Event{Kind: KeyExpired, Peer: name, Key: e.Key, Value: e.Value, Encoding: e.Encoding, ExpiresAt: e.ExpiresAt})
		case state.EventHeard:
			c.lastNews = now
			c.hear(ch.Node, ch.Entry, out)
		}
	}
}

// hear turns a say or ask entry of another peer into an event.
func (c *Core) hear(from state.NodeID, e *state.Entry, out *Output) {
	ev := Event{Kind: Said, Peer: from.Name, Key: e.Key, Value: e.Value, Encoding: e.Encoding, ExpiresAt: e.ExpiresAt}
	if e.Kind == state.KindAsk {
		ev.Kind = Asked
		ev.AskID = c.asks.hear(from, e)
	}
	out.Events = append(out.Events, ev)
}
