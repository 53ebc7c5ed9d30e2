package protocol

import (
	"github.com/telepathine/telepathine/engine/internal/identity"
	"github.com/telepathine/telepathine/engine/internal/state"
	"github.com/telepathine/telepathine/engine/internal/wire"
)

// pushItem is a run of fresh entries waiting to be pushed: local changes, or
// entries learnt by push that this peer forwards once.
type pushItem struct {
	run    state.Run
	except string // where it came from: no point sending it back
	size   int
	// owned: run.Entries is this item's own slice (a merge copied it),
	// so further merges may append to it in place.
	owned bool
}

// continuedBy reports whether it continues q's run: same node, same
// source, versions contiguous.
func (q *pushItem) continuedBy(it *pushItem) bool {
	return q.run.Node == it.run.Node && q.except == it.except && q.run.To == it.run.From
}

// merge appends it to q when it continues q's run and reports whether it
// did: a burst of buffered local changes, each its own run, waits for the
// round as one run.
func (q *pushItem) merge(it *pushItem) bool {
	if !q.continuedBy(it) {
		return false
	}
	if !q.owned {
		q.run.Entries = append(make([]*state.Entry, 0, 2*(len(q.run.Entries)+len(it.run.Entries))), q.run.Entries...)
		q.owned = true
	}
	q.run.Entries = append(q.run.Entries, it.run.Entries...)
	q.run.To = it.run.To
	return true
}

// pushQueue holds fresh changes until the runtime flushes them, bounded in
// bytes; buffered holds local changes that wait for the next round.
type pushQueue struct {
	items    []pushItem
	bytes    int
	buffered []pushItem
}

func (q *pushQueue) clear() { *q = pushQueue{} }

func runBytes(r *state.Run) int {
	n := state.NodeDeltaHeader(r.Node.ID)
	for _, e := range r.Entries {
		n += state.EntrySize(e)
	}
	return n
}

// enqueuePush queues items. Past PushQueueBytes the items are dropped:
// anti-entropy will deliver them, and the next round sends a full digest so
// it starts at once.
func (c *Core) enqueuePush(out *Output, items ...pushItem) {
	for _, it := range items {
		it.size = runBytes(&it.run)
		charge := it.size
		if k := len(c.push.items) - 1; k >= 0 && c.push.items[k].continuedBy(&it) {
			// It will be coalesced into the run before it (pushbatch.go):
			// its entries count, not another node header.
			charge -= state.NodeDeltaHeader(it.run.Node.ID)
		}
		if c.push.bytes+charge > c.cfg.PushQueueBytes && len(c.push.items) > 0 {
			c.stats.PushDropped++
			c.needFull = true
			continue
		}
		c.push.bytes += charge
		c.push.items = append(c.push.items, it)
	}
	out.PushReady = len(c.push.items) > 0
}

// pushLocal queues the local entries above from for an immediate push
// (unless buffered, which waits for the next round).
func (c *Core) pushLocal(now int64, from uint64, buffered bool, out *Output) {
	if !c.running {
		return
	}
	it := pushItem{run: c.st.LocalRun(from, now)}
	if buffered {
		if k := len(c.push.buffered) - 1; k >= 0 && c.push.buffered[k].merge(&it) {
			return
		}
		c.push.buffered = append(c.push.buffered, it)
		return
	}
	c.enqueuePush(out, it)
}

// PushPending reports whether pushes wait for FlushPushes.
func (c *Core) PushPending() bool { return c.running && len(c.push.items) > 0 }

// PushPlan is a flush of the push queue taken from the core: a snapshot
// of the runs and the targets. Packets builds the batches from it without
// the core, so the runtime can do that work outside its lock.
type PushPlan struct {
	targets []string
	relay   bool
	hops    []relayHop // through the broadcast trees instead of targets
	items   []pushItem
	nds     []state.NodeDelta
	budget  int
	cluster string
	sender  state.NodeID

	// streamBudget bounds a packet of a large backlog (pushbatch.go).
	streamBudget int
	// runKeys (identity mode, else nil) signs each coalesced run of our
	// own entries (signRuns).
	runKeys *identity.KeyPair
}

// TakePushes empties the push queue into a plan: straight to every live
// peer while there are at most PushDirectMax, otherwise down the broadcast
// trees (relay.go).
func (c *Core) TakePushes() PushPlan {
	if !c.running || len(c.push.items) == 0 {
		return PushPlan{}
	}
	items := c.push.items
	c.push.items, c.push.bytes = nil, 0
	var targets []string
	var hops []relayHop
	if c.members.liveCount() > c.cfg.PushDirectMax {
		hops = c.rootHops()
	} else {
		targets = c.liveAddrs()
	}
	// Snapshot the NodeDeltas now: heartbeats are mutable, entries are not.
	nds := make([]state.NodeDelta, len(items))
	for i := range items {
		nds[i] = items[i].run.NodeDelta()
	}
	c.stats.PushBatches++
	var keys *identity.KeyPair
	if c.auth != nil {
		kp := c.auth.cfg.Keys
		keys = &kp
	}
	return PushPlan{targets: targets, hops: hops, items: items, nds: nds, runKeys: keys,
		budget: pushBudget(&c.cfg, c.id), streamBudget: c.cfg.DeltaBudget, cluster: c.cfg.Cluster, sender: c.id}
}

// Packets builds the plan's packets, coalesced and cut at one datagram
// (pushbatch.go); nothing goes back where it came from or to its own
// author.
func (pl *PushPlan) Packets() []Outgoing {
	if len(pl.hops) > 0 {
		return pl.treePackets()
	}
	return pl.coalescedPackets()
}

// packetsPerItem is the grouping before coalescing: one NodeDelta per item,
// cut at the budget. Kept as the reference the coalescing is tested against.
func (pl *PushPlan) packetsPerItem() []Outgoing {
	var out []Outgoing
	send := func(t string, d state.Delta) {
		out = append(out, Outgoing{To: t, Packet: &wire.Packet{
			Cluster: pl.cluster, Sender: pl.sender, Type: wire.Push, Delta: d}})
	}
	for _, t := range pl.targets {
		batch := state.Delta{Relay: pl.relay}
		size := 0
		for i := range pl.nds {
			if pl.items[i].except == t || pl.nds[i].ID.Addr == t {
				continue
			}
			if size+pl.items[i].size > pl.budget && len(batch.Nodes) > 0 {
				send(t, batch)
				batch, size = state.Delta{Relay: pl.relay}, 0
			}
			batch.Nodes = append(batch.Nodes, pl.nds[i])
			size += pl.items[i].size
		}
		if len(batch.Nodes) > 0 {
			send(t, batch)
		}
	}
	return out
}

// FlushPushes is TakePushes and Packets in one call.
func (c *Core) FlushPushes() Output {
	plan := c.TakePushes()
	return Output{Packets: plan.Packets()}
}

// liveAddrs lists the addresses of live peers.
func (c *Core) liveAddrs() []string {
	out := make([]string, 0, len(c.members.byName))
	for name, m := range c.members.byName {
		if !m.alive {
			continue
		}
		if n, ok := c.st.Node(name); ok {
			out = append(out, n.ID.Addr)
		}
	}
	return out
}
