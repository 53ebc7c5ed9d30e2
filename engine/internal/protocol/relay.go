package protocol

import (
	"cmp"
	"slices"
	"sort"
	"time"

	"github.com/telepathine/telepathine/engine/internal/state"
	"github.com/telepathine/telepathine/engine/internal/wire"
)

// Ring-range broadcast trees: how a fresh change reaches every peer at once
// beyond PushDirectMax.
//
// Each tree t orders the live peers on a ring by ringPos(t, name), a 64-bit
// hash of the name, so every peer computes the same ring from the names it
// knows. The originator splits the ring (all but itself) into PushFanout
// contiguous ranges and pushes the change to the first peer of each, with
// the range in the packet (Delta.Tree, RangeFrom, RangeTo). A receiver
// splits what follows it in its range again and forwards at once: the
// ranges shrink by at least the receiver at every hop, so the push reaches
// every peer of the range once, in log_PushFanout(N) hops, and can never
// come back. RelayTrees trees with independent hashes give each peer that
// many receptions from different parents: a loss on one path is covered by
// the other, and anti-entropy repairs what both miss.
//
// Views may differ (a peer not yet known to the sender, one already dead):
// a receiver covers the whole range as it sees it, so a peer the sender did
// not know but the receiver does is still reached; a peer missing from
// every view on the path is reached by anti-entropy.

// ringMember is a live peer's position on one tree's ring.
type ringMember struct {
	pos  uint64
	addr string
}

// relayRings caches the rings of the live peers (the local one excluded),
// one per tree. Rebuilt only when the membership changed (membership.
// version: a peer added, removed, dead, back, restarted or gone) or a peer
// kept as lately dead is due to drop out (expires): a rebuild hashes and
// sorts every peer for every tree, and rebuilding at each new gossip round
// cost the first push of every round at every receiver more than the rest
// of its relay (about 100 µs at N = 256, most of a hop's CPU).
type relayRings struct {
	built   bool
	version uint64
	// expires is when the first lately dead peer kept in the rings drops
	// out (zero: none is kept).
	expires time.Time
	trees   [][]ringMember
}

// relayHop is one packet of a tree: a target and the range it covers.
type relayHop struct {
	to       string
	tree     uint8
	from, hi uint64
}

// ringPos is name's position on tree's ring: FNV-1a over the tree number
// and the name, then a 64-bit finaliser (splitmix64) so that names that
// differ in their last byte (10.0.0.1:7946, 10.0.0.2:7946) land far apart.
func ringPos(tree uint8, name string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	h = (h ^ uint64(tree)) * prime
	for i := 0; i < len(name); i++ {
		h = (h ^ uint64(name[i])) * prime
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// relayTreeCount is the number of trees a push travels in.
func (c *Core) relayTreeCount() int { return min(max(c.cfg.RelayTrees, 1), MaxRelayTrees) }

// relayKeepDead is how many heartbeat intervals a peer declared dead stays
// in the rings.
const relayKeepDead = 10

// MaxRelayTrees bounds Config.RelayTrees (and the tree number accepted
// from the network).
const MaxRelayTrees = 4

// rings returns the current rings, rebuilding them when the membership
// changed since they were built.
func (c *Core) rings() [][]ringMember {
	r := &c.relay
	if r.built && r.version == c.members.version && (r.expires.IsZero() || !c.lastBeat.After(r.expires)) {
		return r.trees
	}
	r.built, r.version, r.expires = true, c.members.version, time.Time{}
	keep := relayKeepDead * c.cfg.HeartbeatInterval
	n := c.relayTreeCount()
	if len(r.trees) != n {
		r.trees = make([][]ringMember, n)
	}
	for t := range r.trees {
		ring := r.trees[t][:0]
		for name, m := range c.members.byName {
			// Peers declared dead lately stay in the rings: on a loaded
			// machine detectors declare live peers dead and back again,
			// and a ring of only the peers each splitter believes alive
			// left them to anti-entropy (1.6 s at N = 256 on loopback).
			// A peer that really crashed costs its subtree in one tree,
			// which the other tree covers, until it drops out. A peer
			// that left said so: it goes at once.
			if !m.alive {
				until := m.deadSince.Add(keep)
				if m.left || c.lastBeat.After(until) {
					continue
				}
				if r.expires.IsZero() || until.Before(r.expires) {
					r.expires = until
				}
			}
			if nd, ok := c.st.Node(name); ok {
				ring = append(ring, ringMember{pos: ringPos(uint8(t+1), name), addr: nd.ID.Addr})
			}
		}
		slices.SortFunc(ring, func(a, b ringMember) int { return cmp.Compare(a.pos, b.pos) })
		r.trees[t] = ring
	}
	return r.trees
}

// inRange reports whether x lies in (from, to] on the ring; from == to is
// the whole ring.
func inRange(x, from, to uint64) bool {
	if from == to {
		return true
	}
	return x-from-1 < to-from
}

// between returns the members of ring in (from, to], in ring order from
// from (from == to: the whole ring, starting after from).
func between(ring []ringMember, from, to uint64) []ringMember {
	i := sort.Search(len(ring), func(k int) bool { return ring[k].pos > from })
	if from != to && from < to {
		j := sort.Search(len(ring), func(k int) bool { return ring[k].pos > to })
		return ring[i:j]
	}
	// Wraps around zero.
	var j int
	if from == to {
		j = i
	} else {
		j = sort.Search(len(ring), func(k int) bool { return ring[k].pos > to })
	}
	out := make([]ringMember, 0, len(ring)-i+j)
	out = append(out, ring[i:]...)
	return append(out, ring[:j]...)
}

// split cuts members (in ring order after from) into at most fanout
// contiguous groups and returns a hop to the first member of each, covering
// the positions up to its group's last member.
func split(members []ringMember, tree uint8, from uint64, fanout int, hops []relayHop) []relayHop {
	k := len(members)
	groups := min(fanout, k)
	lo := from
	for g := 0; g < groups; g++ {
		grp := members[g*k/groups : (g+1)*k/groups]
		hi := grp[len(grp)-1].pos
		hops = append(hops, relayHop{to: grp[0].addr, tree: tree, from: lo, hi: hi})
		lo = hi
	}
	return hops
}

// rootHops are the first hops of a push from this peer: every tree, the
// whole ring but this peer.
func (c *Core) rootHops() []relayHop {
	var hops []relayHop
	for t, ring := range c.rings() {
		tree := uint8(t + 1)
		self := ringPos(tree, c.id.Name)
		hops = split(between(ring, self, self), tree, self, c.cfg.PushFanout, hops)
	}
	return hops
}

// forwardHops are the hops of a receiver of range (from, to] in tree: what
// follows it in the range, split again, and what precedes it (peers the
// sender did not know of), as one more hop. Neither contains the receiver,
// so no descendant sends it back.
func (c *Core) forwardHops(tree uint8, from, to uint64) []relayHop {
	rings := c.rings()
	if tree == 0 || int(tree) > len(rings) {
		return nil
	}
	ring := rings[tree-1]
	self := ringPos(tree, c.id.Name)
	if !inRange(self, from, to) {
		return nil // not a range of ours: a stale view or a bad packet
	}
	var hops []relayHop
	if self != to {
		hops = split(between(ring, self, to), tree, self, c.cfg.PushFanout, hops)
	}
	if self-1 != from {
		hops = split(between(ring, from, self-1), tree, from, 1, hops)
	}
	return hops
}

// relayDelta forwards a push received in a tree to the rest of its range.
// What goes on is what this peer accepted: the packet passed the envelope
// and the sanity bounds of trust.go, and Apply validated it; a line the
// gate refused (a stranger past MaxPeers, a generation out of bounds) or
// one of an incarnation older than the one held is left out, so a relay
// never vouches for more than it took itself (and every next hop checks
// again, as for any packet). The rest is forwarded whether or not it was
// new here: that keeps every subtree reached by this tree even when the
// other tree was faster.
func (c *Core) relayDelta(pk *wire.Packet, out *Output) {
	d := &pk.Delta
	if int(d.Tree) > MaxRelayTrees {
		return
	}
	hops := c.forwardHops(d.Tree, d.RangeFrom, d.RangeTo)
	if len(hops) == 0 {
		return
	}
	nodes := make([]state.NodeDelta, 0, len(d.Nodes))
	for _, nd := range d.Nodes {
		if nd.ID.Name == c.id.Name {
			nodes = append(nodes, nd) // lines about us: ignored here, needed below
			continue
		}
		if n, ok := c.st.Node(nd.ID.Name); ok && n.ID.Generation == nd.ID.Generation {
			nodes = append(nodes, nd)
		}
	}
	if len(nodes) == 0 {
		return
	}
	for _, h := range hops {
		// Sent whole, even a target's own entries: it ignores them but must
		// still forward the packet to the rest of its range.
		c.stats.Relayed++
		out.send(h.to, c.stamp(&wire.Packet{Type: wire.Push, Delta: state.Delta{
			Nodes: nodes, Tree: h.tree, RangeFrom: h.from, RangeTo: h.hi}}))
	}
}

// treePackets builds the packets of a push plan that goes through the
// trees: the plan's runs coalesced once (pushbatch.go), then one copy per
// hop carrying that hop's range. A target's own entries go too: it ignores
// them, but must still forward the packet to the rest of its range.
func (pl *PushPlan) treePackets() []Outgoing {
	pks := pl.coalesce(func(int) bool { return true })
	out := make([]Outgoing, 0, len(pl.hops)*len(pks))
	for _, h := range pl.hops {
		for _, pk := range pks {
			cp := *pk
			cp.Delta.Tree, cp.Delta.RangeFrom, cp.Delta.RangeTo = h.tree, h.from, h.hi
			out = append(out, Outgoing{To: h.to, Packet: &cp})
		}
	}
	return out
}

// pushNewcomer pushes on, with the next round, the line of a peer learnt
// from that very peer (the Ack of its first exchange: this peer is the seed
// it joined through), so that every peer learns of the newcomer within a
// round rather than in the log N gossip rounds an epidemic needs, the
// join's bottleneck at scale. Lines learnt from third parties are not pushed: the peer that
// heard the newcomer first already did.
func (c *Core) pushNewcomer(now time.Time, pk *wire.Packet, changes []state.Change, out *Output) {
	if !c.cfg.JoinPush {
		return
	}
	for i := range changes {
		ch := &changes[i]
		if ch.Kind != state.NodeJoined && ch.Kind != state.NodeRestarted || ch.Node.Name != pk.Sender.Name {
			continue
		}
		if r, ok := c.st.NodeRun(ch.Node.Name, 0, now.UnixMilli()); ok {
			// Buffered to the next round: in a concurrent join of N peers
			// the seed would otherwise send each line down the trees on
			// its own (2N packets each, 2N^2 in all, measured to stall a
			// loaded machine at N = 256); a round's newcomers go together.
			c.stats.JoinPushes++
			c.push.buffered = append(c.push.buffered, pushItem{run: r, except: pk.Sender.Addr})
		}
	}
}
