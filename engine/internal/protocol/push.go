package protocol

import (
	"github.com/telepathine/telepathine/engine/internal/state"
	"github.com/telepathine/telepathine/engine/internal/wire"
)

// pushItem is a run of fresh entries waiting to be pushed: local changes, or
// entries learnt by push that this peer forwards once.
type pushItem struct {
	run    state.Run
	except string // where it came from: no point sending it back
	size   int
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
		if c.push.bytes+it.size > c.cfg.PushQueueBytes && len(c.push.items) > 0 {
			c.stats.PushDropped++
			c.needFull = true
			continue
		}
		c.push.bytes += it.size
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
		c.push.buffered = append(c.push.buffered, it)
		return
	}
	c.enqueuePush(out, it)
}

// PushPending reports whether pushes wait for FlushPushes.
func (c *Core) PushPending() bool { return c.running && len(c.push.items) > 0 }

// FlushPushes sends every queued push: straight to every live peer while
// there are at most PushDirectMax, otherwise to PushFanout random ones that
// forward it once. Batches are cut at DeltaBudget.
func (c *Core) FlushPushes() Output {
	var out Output
	if !c.running || len(c.push.items) == 0 {
		return out
	}
	items := c.push.items
	c.push.items, c.push.bytes = nil, 0
	live := c.liveAddrs()
	targets, relay := live, false
	if len(live) > c.cfg.PushDirectMax {
		c.rng.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
		targets, relay = live[:c.cfg.PushFanout], true
	}
	nds := make([]state.NodeDelta, len(items))
	for i := range items {
		nds[i] = items[i].run.NodeDelta()
	}
	for _, t := range targets {
		batch := state.Delta{Relay: relay}
		size := 0
		for i := range nds {
			if items[i].except == t || nds[i].ID.Addr == t {
				continue
			}
			if size+items[i].size > c.cfg.DeltaBudget && len(batch.Nodes) > 0 {
				out.send(t, c.stamp(&wire.Packet{Type: wire.Push, Delta: batch}))
				batch, size = state.Delta{Relay: relay}, 0
			}
			batch.Nodes = append(batch.Nodes, nds[i])
			size += items[i].size
		}
		if len(batch.Nodes) > 0 {
			out.send(t, c.stamp(&wire.Packet{Type: wire.Push, Delta: batch}))
		}
	}
	c.stats.PushBatches++
	return out
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
