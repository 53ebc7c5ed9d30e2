package engine

import (
	"github.com/telepathine/telepathine/engine/internal/state"
	"github.com/telepathine/telepathine/engine/internal/wire"
)

// pushItem is a run of fresh entries waiting to be pushed: local changes, or
// entries learnt by push that this peer forwards once.
type pushItem struct {
	run    state.Run
	except string // where it came from: no point sending it back
}

func runBytes(r *state.Run) int {
	n := state.NodeDeltaHeader(r.Node.ID)
	for _, e := range r.Entries {
		n += state.EntrySize(e)
	}
	return n
}

// enqueuePush queues items and wakes the pusher. Called with mu held. Past
// PushQueueBytes the items are dropped: anti-entropy will deliver them, and
// the next round sends a full digest so it starts at once.
func (p *Peer) enqueuePush(items ...pushItem) {
	for _, it := range items {
		sz := runBytes(&it.run)
		if p.pushBytes+sz > p.cfg.PushQueueBytes && len(p.pushQ) > 0 {
			p.stats.pushDropped.Add(1)
			p.needFull = true
			continue
		}
		p.pushBytes += sz
		p.pushQ = append(p.pushQ, it)
	}
	select {
	case p.kick <- struct{}{}:
	default:
	}
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
	if p.status != statusRunning || len(p.pushQ) == 0 {
		p.mu.Unlock()
		return
	}
	items := p.pushQ
	p.pushQ, p.pushBytes = nil, 0
	live := p.liveAddrs()
	targets, relay := live, false
	if len(live) > p.cfg.PushDirectMax {
		p.rng.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
		targets, relay = live[:p.cfg.PushFanout], true
	}
	// Snapshot NodeDeltas under the lock: heartbeats are mutable, entries
	// are not.
	type nd struct {
		d      state.NodeDelta
		except string
		size   int
	}
	nds := make([]nd, 0, len(items))
	for _, it := range items {
		nds = append(nds, nd{d: it.run.NodeDelta(), except: it.except, size: runBytes(&it.run)})
	}
	p.mu.Unlock()

	for _, t := range targets {
		batch := state.Delta{Relay: relay}
		size := 0
		for i := range nds {
			if nds[i].except == t || nds[i].d.ID.Addr == t {
				continue
			}
			if size+nds[i].size > p.cfg.DeltaBudget && len(batch.Nodes) > 0 {
				p.send(t, &wire.Packet{Type: wire.Push, Delta: batch})
				batch, size = state.Delta{Relay: relay}, 0
			}
			batch.Nodes = append(batch.Nodes, nds[i].d)
			size += nds[i].size
		}
		if len(batch.Nodes) > 0 {
			p.send(t, &wire.Packet{Type: wire.Push, Delta: batch})
		}
	}
	p.stats.pushes.Add(1)
}

// liveAddrs lists the addresses of live peers. Called with mu held.
func (p *Peer) liveAddrs() []string {
	out := make([]string, 0, len(p.members))
	for name, m := range p.members {
		if !m.alive {
			continue
		}
		if n, ok := p.st.Node(name); ok {
			out = append(out, n.ID.Addr)
		}
	}
	return out
}
