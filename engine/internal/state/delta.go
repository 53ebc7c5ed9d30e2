package state

import "math/rand/v2"

// NodeDelta carries entries of one node with versions in (From, To].
type NodeDelta struct {
	ID        NodeID
	Heartbeat uint64
	From, To  uint64
	Reset     bool
	GCFloor   uint64
	Entries   []*Entry
	// PubKey and Head: identity mode only (identity.go).
	PubKey []byte
	Head   Head
	// RunSig: identity mode, the owner's signature over this run of its
	// own entries (pushes only; protocol/identity.go), or nil. Relays may
	// forward it only with the entries unchanged.
	RunSig []byte
}

// Delta is what one message carries.
type Delta struct {
	Nodes []NodeDelta
	// Relay (pushes only): the receiver forwards what is new to it.
	Relay bool
	// Tree (pushes only, 0 = none) is the broadcast tree this push travels
	// in; the receiver forwards it to the live peers whose ring position in
	// that tree lies in (RangeFrom, RangeTo] (protocol/relay.go).
	Tree               uint8
	RangeFrom, RangeTo uint64
}

// Empty reports whether the delta carries nothing.
func (d *Delta) Empty() bool { return len(d.Nodes) == 0 }

// Size estimates the encoded size of the delta.
func (d *Delta) Size() int {
	s := 0
	for i := range d.Nodes {
		s += d.Nodes[i].size()
	}
	return s
}

func (nd *NodeDelta) size() int {
	s := nodeDeltaOverhead + nd.ID.Size() + len(nd.PubKey) + len(nd.Head.Sig) + len(nd.RunSig)
	for _, e := range nd.Entries {
		s += EntrySize(e)
	}
	return s
}

// NodeDeltaHeader estimates the size of a NodeDelta without entries.
func NodeDeltaHeader(id NodeID) int { return nodeDeltaOverhead + id.Size() }

// BuildDelta answers requests within budget bytes (estimated). Nodes take
// turns one entry at a time, in random order, so a node with a large backlog
// cannot starve the others (the budget is shared fairly); each node's part is
// a prefix in version order. Entries are shared, not copied. An entry larger
// than the whole budget still goes out alone in an otherwise empty delta, so
// no value is too large to ever replicate.
func (c *Cluster) BuildDelta(reqs []Request, budget int, now int64, rng *rand.Rand) Delta {
	type cursor struct {
		n    *Node
		req  Request
		i    int // next log index
		nd   NodeDelta
		done bool // reached the end of the log
		full bool // stopped by the budget
	}
	if len(reqs) == 0 {
		return Delta{}
	}
	order := make([]int, len(reqs))
	for i := range order {
		order[i] = i
	}
	if rng != nil {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	curs := make([]cursor, 0, len(reqs))
	used := 0
	entries := 0
	for _, oi := range order {
		r := reqs[oi]
		n := r.Node
		from := r.From
		if r.Reset {
			from = 0
		}
		if from >= r.limit() && !r.Identity && !r.Reset {
			continue
		}
		hdr := NodeDeltaHeader(n.ID)
		if used+hdr > budget && len(curs) > 0 {
			continue
		}
		used += hdr
		curs = append(curs, cursor{
			n: n, req: r, i: n.indexAfter(from),
			nd: NodeDelta{ID: n.ID, Heartbeat: n.Heartbeat, From: from, To: from, Reset: r.Reset, GCFloor: n.GCFloor},
		})
		c.attach(&curs[len(curs)-1].nd, n)
	}
	active := len(curs)
	for active > 0 {
		active = 0
		for k := range curs {
			cur := &curs[k]
			if cur.done || cur.full {
				continue
			}
			var e *Entry
			limit := cur.req.limit()
			for cur.i < len(cur.n.log) {
				cand := cur.n.log[cur.i]
				if cand.Version > limit {
					break // a replica holds nothing above Version but pending runs, which live elsewhere
				}
				if cur.n.current(cand, now) {
					e = cand
					break
				}
				cur.i++
			}
			if e == nil {
				cur.done = true
				cur.nd.To = max(limit, cur.nd.From)
				continue
			}
			if e.Kind == KindSet && e.Expired(now) {
				e = e.asTombstone()
			}
			sz := EntrySize(e)
			if used+sz > budget && entries > 0 {
				cur.full = true
				continue
			}
			used += sz
			entries++
			cur.i++
			cur.nd.Entries = append(cur.nd.Entries, e)
			cur.nd.To = e.Version
			active++
		}
	}
	d := Delta{Nodes: make([]NodeDelta, 0, len(curs))}
	for k := range curs {
		nd := curs[k].nd
		if len(nd.Entries) == 0 && nd.To == nd.From && !curs[k].req.Identity && !nd.Reset {
			continue
		}
		d.Nodes = append(d.Nodes, nd)
	}
	return d
}

// limit is the highest version the request may be answered with.
func (r *Request) limit() uint64 {
	if r.Capped && !r.Reset {
		return min(r.Upto, r.Node.Version)
	}
	return r.Node.Version
}

// HoldFresh caps requests at what was already held at hold (Unix ms):
// versions that arrived since are being pushed to the requester at this
// moment, so an anti-entropy answer carrying them again would only be a
// duplicate racing the push. A node with no version history that old, and
// a reset, stay uncapped. What a push loses is still sent once it is older
// than hold: the cap delays repair, never prevents it.
//
// It reports whether the requester is near: on every node requested it
// already holds what was held here at horizon (an earlier time than
// hold), or its version is Moving. A near requester is most likely fed by
// pushes and only behind them (a busy receiver), so what it lacks is
// better sent in small answers than in one that duplicates its backlog.
func HoldFresh(reqs []Request, hold, horizon int64) (near bool) {
	near = true
	for i := range reqs {
		r := &reqs[i]
		if r.Reset {
			near = false
			continue
		}
		if v, ok := r.Node.HeldAt(hold); ok {
			r.Capped, r.Upto = true, v
		}
		if v, ok := r.Node.HeldAt(horizon); !r.Moving && (!ok || r.From < v) {
			near = false
		}
	}
	return near
}

// DropProgressing removes from wants the lines of nodes whose version rose
// since (Unix ms): pushes are feeding this replica with them, and asking a
// peer for what they are about to bring would fetch it twice. A gap stops
// the version, so a node whose push was lost is asked about again once its
// version stood still since then.
func (c *Cluster) DropProgressing(wants []DigestEntry, since int64) []DigestEntry {
	kept := wants[:0]
	for _, w := range wants {
		if n, ok := c.byKey[w.Key]; ok {
			if v, ok := n.HeldAt(since); ok && v < n.Version {
				continue
			}
		}
		kept = append(kept, w)
	}
	return kept
}

// Run is a contiguous range of one node's entries, for forwarding what was
// newly learnt (push) or announcing local changes.
type Run struct {
	Node     *Node
	From, To uint64
	Entries  []*Entry
}

// LocalRun returns the local node's current entries in (from, Version] as a
// run (superseded ones are skipped; the range still covers them).
func (c *Cluster) LocalRun(from uint64, now int64) Run {
	c.freshHead()
	return c.self.run(from, now)
}

// NodeRun is LocalRun for any node held (a newcomer's line, pushed on by
// the peer it joined through).
func (c *Cluster) NodeRun(name string, from uint64, now int64) (Run, bool) {
	n, ok := c.byName[name]
	if !ok {
		return Run{}, false
	}
	return n.run(from, now), true
}

func (n *Node) run(from uint64, now int64) Run {
	r := Run{Node: n, From: from, To: n.Version}
	for i := n.indexAfter(from); i < len(n.log); i++ {
		if e := n.log[i]; n.current(e, now) {
			r.Entries = append(r.Entries, e)
		}
	}
	return r
}

// NodeDelta turns a run into a NodeDelta (heartbeat as currently held).
func (r *Run) NodeDelta() NodeDelta {
	nd := NodeDelta{ID: r.Node.ID, Heartbeat: r.Node.Heartbeat, From: r.From, To: r.To, Entries: r.Entries}
	if n := r.Node; n.ident != nil && len(n.ident.pubKey) > 0 {
		// Identity mode: the owner's key and newest verified head go with
		// its entries (a run of the local node has a fresh head: LocalRun).
		nd.PubKey, nd.Head = n.ident.pubKey, n.ident.head
	}
	return nd
}
