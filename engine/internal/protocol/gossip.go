package protocol

import (
	"maps"
	"slices"
	"time"

	"github.com/telepathine/telepathine/engine/internal/state"
)

// Tick is one gossip round at now: expire and collect, beat to the ring
// watchers, judge the watched peers and the suspicions held, then send a
// Syn to each target: every round while there is news, one every
// QuietInterval to one peer once the cluster is quiet. Buffered local
// changes join the push queue.
func (c *Core) Tick(now time.Time) Output {
	var out Output
	if !c.running {
		return out
	}
	ms := now.UnixMilli()
	c.round++
	c.stats.Rounds++
	c.trackLag(now)
	c.applyChanges(c.st.Tick(ms, c.cfg.TombstoneGrace.Milliseconds(), nil), now, &out)
	c.beat(now, &out)
	c.watch(now, &out)
	if c.refutePending && c.selfAccused() {
		c.refute(now, &out)
	}
	c.judge(now, &out)
	c.asks.expire(ms)
	c.forgetProgress(now)
	busy := now.Sub(c.lastNews) < c.cfg.QuietAfter
	c.expireTokens(now)
	// A peer that knows no live peer asks its seeds every round, however
	// quiet it is: it has nobody else, and a seed that is down must not
	// hold its join back to one try per QuietInterval.
	alone := len(c.seeds) > 0 && len(c.members.ring) <= 1
	if busy || alone || now.Sub(c.lastSyn) >= c.cfg.QuietInterval {
		c.lastSyn = now
		targets := c.targets(busy)
		full := c.needFull || busy && c.round%uint64(c.cfg.FullDigestEvery) == 0 ||
			now.Sub(c.lastFull) >= c.cfg.FullDigestPeriod
		joined := c.joinSeen
		if full {
			c.joinSeen = false
		}
		c.needFull = false
		clear(c.followups)
		var digest, complete state.Digest
		if full {
			c.lastFull = now
			digest = c.st.FullDigest(c.DigestLines(), nil, c.rng)
			if !digest.Complete && len(targets) > 0 && joined {
				// Cut to a datagram, a digest names the lines a peer
				// lacks only by chance (about 50 of 1,024), and a join
				// at scale ended in a coupon collector's tail. One
				// target a round gets every line instead: above the MTU
				// it travels over the stream, and that exchange
				// reconciles the pair completely (push-pull, the
				// epidemic bound). The others keep the datagram. Only
				// after a node joined: that is when whole lines are
				// missing, and the rest of the time the cut digest
				// (recent lines first) keeps up.
				complete = c.st.FullDigest(0, nil, c.rng)
			}
		} else {
			digest = c.st.CompactDigest()
			if !busy {
				// Quiet: our own line changed only with news (which makes
				// rounds busy), so the fingerprint alone says it all.
				digest.Entries = nil
			}
		}
		if c.round == c.startRound+2 && (complete.Complete || full && digest.Complete) {
			// A joiner small enough that its cut digest is whole
			// sends it to the seed all the same.
			targets = c.seedFirst(targets)
		}
		for i, addr := range targets {
			d := digest
			if i == 0 && complete.Complete {
				d = complete
			}
			out.Packets = append(out.Packets, c.synTo(addr, d, now))
		}
	}
	if len(c.push.buffered) > 0 {
		c.enqueuePush(&out, c.push.buffered...)
		c.push.buffered = nil
	}
	return out
}

// selfAccused reports whether a suspicion of the local peer's current
// epoch is held.
func (c *Core) selfAccused() bool {
	for _, s := range c.members.accusers[c.id.Name] {
		if s.Generation == c.id.Generation && epoch(s.Heartbeat) >= epoch(c.st.Self().Heartbeat) {
			return true
		}
	}
	return false
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

// targets picks this round's gossip partners: Fanout random live peers
// (QuietFanout when quiet), a dead one with probability dead/(live+1) (so
// a recovered peer is noticed), and a seed when no live peer is known or,
// now and then, when no seed was picked (so partitions heal through the
// seeds). Peers that left are never picked.
//
// The live peers are those of the watchers' ring and the dead ones those
// listed when it was last built: picking from them costs the peers picked,
// where a walk and shuffle of every member each round was O(N) per peer.
// Whatever changed since the ring was built (a peer removed, declared dead
// or left this round) is checked at the pick.
func (c *Core) targets(busy bool) []string {
	m := &c.members
	fanout := c.cfg.Fanout
	if !busy {
		fanout = c.cfg.QuietFanout
	}
	// Ring positions other than self's, 0..live-1, in a partial
	// Fisher-Yates shuffle whose swaps are kept in a small map.
	live := max(len(m.ring)-1, 0)
	var out []string
	swapped := make(map[int]int, 2*fanout)
	at := func(i int) int {
		if v, ok := swapped[i]; ok {
			return v
		}
		return i
	}
	for i := 0; i < live && len(out) < fanout; i++ {
		j := i + c.rng.IntN(live-i)
		pi, pj := at(i), at(j)
		swapped[i], swapped[j] = pj, pi
		slot := pj
		if slot >= m.me {
			slot++ // skip self
		}
		name := m.ring[slot].name
		if mb := m.byName[name]; mb == nil || !mb.alive || mb.left {
			continue
		}
		if n, ok := c.st.Node(name); ok {
			out = append(out, n.ID.Addr)
		}
	}
	seedPicked := false
	for _, a := range out {
		if c.seeds[a] {
			seedPicked = true
		}
	}
	if dead := m.dead; len(dead) > 0 && c.rng.Float64() < float64(len(dead))/float64(live+1) {
		name := dead[c.rng.IntN(len(dead))]
		if mb := m.byName[name]; mb != nil && !mb.alive && !mb.left {
			if n, ok := c.st.Node(name); ok {
				out = append(out, n.ID.Addr)
			}
		}
	}
	if live == 0 && len(c.seeds) > 0 {
		// No live peer known: every seed, so that one that is down (or
		// not up yet) costs nothing while another answers. Seeds are the
		// few addresses an operator configured.
		seeds := slices.Sorted(maps.Keys(c.seeds))
		for _, s := range seeds {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	} else if len(c.seeds) > 0 && !seedPicked && c.rng.Float64() < float64(len(c.seeds))/float64(live+len(m.dead)+1) {
		seeds := make([]string, 0, len(c.seeds))
		for s := range c.seeds {
			seeds = append(seeds, s)
		}
		// Map order is random but not uniformly so; pick explicitly.
		out = append(out, seeds[c.rng.IntN(len(seeds))])
	}
	return out
}

// judge turns the suspicions held into verdicts and removes peers that
// have been dead (or gone) for longer than DeadGrace.
func (c *Core) judge(now time.Time, out *Output) {
	c.verdicts(now, out) // builds the ring, and with it members.down
	// Only a peer that is not alive may be removed, and every one of them
	// is in members.down: a peer stops being alive only through stopped
	// (which dirties the ring, and is not removable this round) or by
	// joining gone (likewise). Walking every member here was O(N) per peer
	// per round, the largest part of a 1,024-peer simulator's CPU.
	for _, name := range c.members.down {
		mb := c.members.byName[name]
		if mb == nil {
			continue // removed already
		}
		// A stranger never heard from at its own address leaves soon after
		// it died, instead of DeadGrace later: forged peers do not linger.
		unverified := !mb.alive && !mb.verified && now.Sub(mb.deadSince) > c.cfg.Trust.UnverifiedGrace
		if !unverified && (mb.alive || now.Sub(mb.deadSince) <= c.cfg.DeadGrace) {
			continue
		}
		delete(c.members.byName, name)
		delete(c.members.accusers, name)
		c.members.forgetAccuser(name)
		c.members.version++ // the relay rings held it while it was lately dead
		if mb.accused {
			c.st.Retract(name) // anti-entropy carries it; nobody needs it fast
		}
		c.st.Remove(name, now.UnixMilli())
		c.log.Info("dead peer removed", "peer", name)
	}
	if c.round%64 == 0 {
		c.st.Forget(now.Add(-2 * c.cfg.DeadGrace).UnixMilli())
	}
}

// keepScratch takes back the scratch slice of changes once they were
// applied, emptied so that it keeps no entry alive.
func (c *Core) keepScratch(changes []state.Change) {
	clear(changes)
	c.scratch = changes[:0]
}

// applyChanges turns state changes into liveness updates and events.
func (c *Core) applyChanges(changes []state.Change, now time.Time, out *Output) {
	// Mostly one event per change: one allocation of the right size
	// rather than a series of doublings.
	c.growEvents(out, len(changes))
	// The peers whose suspicions changed: only their quorum can have
	// moved, so only they are judged here (Tick judges them all each
	// round). Judging every accused peer on each change cost O(N) per
	// suspicion, and a 256-peer join whose false suspicions reach every
	// peer spent 17 % of its CPU there and never finished on a loaded
	// machine.
	var judge []string
	for i := range changes {
		ch := &changes[i]
		name := ch.Node.Name
		switch ch.Kind {
		case state.NodeJoined:
			c.lastNews = now
			c.needFull = true
			c.joinSeen = true
			n, _ := c.st.Node(name)
			left := n != nil && n.Left
			c.members.joined(name, left, now)
			if !left {
				out.Events = append(out.Events, Event{Kind: PeerNew, Peer: name}, Event{Kind: PeerStart, Peer: name})
			}
		case state.NodeRestarted:
			c.needFull = true
			c.lastNews = now
			c.members.forgetAccuser(name)
			delete(c.members.accusers, name)
			if _, held := c.st.Self().Suspicion(name); held {
				c.st.Retract(name) // of the old incarnation: void, tidied by anti-entropy
			}
			if c.members.restarted(name, now) {
				out.Events = append(out.Events, Event{Kind: PeerStart, Peer: name})
			}
		case state.HeartbeatAdvanced:
			if mb := c.members.byName[name]; mb != nil {
				mb.hbAt = now // the trust gate bounds the next jump from here
			}
			if n, ok := c.st.Node(name); ok {
				c.heartbeatAdvanced(now, n, out)
			}
		case state.NodeLeft:
			if mb := c.members.byName[name]; mb != nil && !mb.left {
				c.stopped(now, name, ReasonLeft, out)
				mb.left = true
				mb.deadSince = now
				c.members.version++ // a peer that left leaves the relay rings at once
			}
		case state.SuspicionChanged:
			c.lastNews = now
			c.suspicionChanged(now, ch.Node, ch.Entry, out)
			if !slices.Contains(judge, ch.Entry.Key) {
				judge = append(judge, ch.Entry.Key)
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
	if len(judge) > 0 {
		c.members.refreshRing(now)
		need := c.members.needed()
		for _, accused := range judge {
			c.verdict(now, accused, need, out)
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

// holdFresh caps an anti-entropy answer to peer at what was held FreshHold
// ago, when peer is a live member: pushes (ours, or the origin's) are
// delivering the newer versions to it right now, and sending them again
// here costs bandwidth and CPU on both sides for duplicates. It returns the
// answer's byte budget: one datagram while peer lags less than
// RepairHorizon (state.HoldFresh). A peer not (or no longer) live is not
// pushed to, so it gets everything.
func (c *Core) holdFresh(now time.Time, peer state.NodeID, reqs []state.Request) (budget int) {
	if c.cfg.FreshHold <= 0 || len(reqs) == 0 {
		return c.cfg.DeltaBudget
	}
	if m := c.members.byName[peer.Name]; m == nil || !m.alive || m.left {
		return c.cfg.DeltaBudget
	}
	c.markProgress(now, peer, reqs)
	near := state.HoldFresh(reqs, now.Add(-c.cfg.FreshHold).UnixMilli(), now.Add(-c.cfg.RepairHorizon).UnixMilli())
	if near && c.cfg.RepairHorizon > 0 {
		return pushBudget(&c.cfg, c.id)
	}
	return c.cfg.DeltaBudget
}

// dropProgressing leaves out of what we ask for the nodes that pushes are
// feeding us right now (state.DropProgressing): their newer versions are
// on their way, and a follow-up exchange would only fetch them twice.
func (c *Core) dropProgressing(now time.Time, cmp *state.Comparison) {
	if c.cfg.FreshHold > 0 && len(cmp.Wants) > 0 {
		cmp.Wants = c.st.DropProgressing(cmp.Wants, now.Add(-c.cfg.FreshHold).UnixMilli())
	}
}

// progressKey names what a live peer holds of one node, as its requests
// showed it; progressMark is that version and when it was first seen.
type progressKey struct {
	peer string
	node uint64
}

type progressMark struct {
	from uint64
	at   time.Time
	// answered is the highest version our answers sent the peer of the
	// node; byUs, that its last rise stayed within it: our own answers,
	// not pushes, moved it.
	answered uint64
	byUs     bool
}

// markProgress tells, for each request of peer, whether its version of
// the node moved: it rose since the peer last asked (within RepairHorizon),
// or was last seen rising less than FreshHold ago. A peer fed by pushes
// keeps moving however far behind a busy cluster runs, and gets small
// answers; one that stopped (a lost push leaves a gap, and the version
// stops below it) gets what it lacks in full. A rise no further than our
// own answers took it is not a push's doing: a peer repaired by
// anti-entropy alone (its pushes were dropped, or its changes were
// buffered to the rounds) would otherwise look fed by pushes at every
// request and get one datagram a round for as long as its backlog lasts.
func (c *Core) markProgress(now time.Time, peer state.NodeID, reqs []state.Request) {
	if c.progress == nil {
		c.progress = make(map[progressKey]progressMark)
	}
	for i := range reqs {
		r := &reqs[i]
		k := progressKey{peer: peer.Name, node: r.Node.Key()}
		m, seen := c.progress[k]
		fresh := seen && now.Sub(m.at) < c.cfg.RepairHorizon
		rose := r.From > m.from
		byUs := rose && r.From <= m.answered
		r.Moving = fresh && (rose && !byUs || r.From == m.from && !m.byUs && now.Sub(m.at) < c.cfg.FreshHold)
		if !seen || r.From != m.from {
			c.progress[k] = progressMark{from: r.From, at: now, answered: m.answered, byUs: byUs}
		}
	}
}

// markAnswered records how far an answer to peer takes each node it
// carries (markProgress).
func (c *Core) markAnswered(peer state.NodeID, d *state.Delta) {
	if c.progress == nil {
		return
	}
	for i := range d.Nodes {
		nd := &d.Nodes[i]
		k := progressKey{peer: peer.Name, node: nd.ID.Key()}
		if m, ok := c.progress[k]; ok && nd.To > m.answered {
			m.answered = nd.To
			c.progress[k] = m
		}
	}
}

// forgetProgress drops the marks too old for markProgress to use. A Go
// map keeps the room of its largest size, and a concurrent join fills this
// one with a mark per (asking peer, node) that settles to a few: once it
// holds less than a quarter of its peak it is copied into a map of its
// size (at 4,096 simulated peers the join's peak stayed held, several
// hundred bytes per peer per known node).
func (c *Core) forgetProgress(now time.Time) {
	for k, m := range c.progress {
		if now.Sub(m.at) >= c.cfg.RepairHorizon {
			delete(c.progress, k)
		}
	}
	c.progressPeak = max(c.progressPeak, len(c.progress))
	if c.progressPeak >= 64 && len(c.progress) < c.progressPeak/4 {
		kept := make(map[progressKey]progressMark, len(c.progress))
		maps.Copy(kept, c.progress)
		c.progress, c.progressPeak = kept, len(kept)
	}
}

// seedFirst puts a live seed first in targets (adding it if it is not
// there), so that the complete digest goes to it. Used in an
// incarnation's second round: its first exchange, with the seed, taught
// it what the seed held then, which in a concurrent join is the peers
// that reached the seed before it (half of them on average); a round
// later the seed holds every peer that joined, and one complete exchange
// with it hands over the rest at once (the seed is bounded by the global
// rate of new peers only, see gate.seed). Without it, those lines came
// in cut digests, mismatch answers and follow-ups from peers that knew
// as little: at N = 256 in the simulator with the engine's trust layer,
// the join took 5 rounds and 2,600 digest lines per peer, against 4 and
// about 1,500 with it.
func (c *Core) seedFirst(targets []string) []string {
	var seeds []string
	for name, m := range c.members.byName {
		if n, ok := c.st.Node(name); ok && m.alive && !m.left && c.seeds[n.ID.Addr] {
			seeds = append(seeds, n.ID.Addr)
		}
	}
	if len(seeds) == 0 {
		return targets
	}
	slices.Sort(seeds) // map order is random but not uniformly so
	s := seeds[c.rng.IntN(len(seeds))]
	if k := slices.Index(targets, s); k >= 0 {
		targets[0], targets[k] = targets[k], targets[0]
		return targets
	}
	return append([]string{s}, targets...)
}
