package state

// Apply merges a delta received from a peer and appends the changes it made
// to out. push says the delta was pushed unsolicited (the fast path): a run
// that arrives ahead of a gap is then held until the gap fills, instead of
// being left to anti-entropy. Runs that were new here are appended to fresh,
// for the caller to forward. A malformed delta is rejected whole with
// ErrBadDelta before anything is applied.
func (c *Cluster) Apply(d *Delta, now int64, push bool, out []Change, fresh []Run) ([]Change, []Run, error) {
	for i := range d.Nodes {
		if err := c.validate(&d.Nodes[i]); err != nil {
			return out, fresh, err
		}
	}
	for i := range d.Nodes {
		out, fresh = c.applyNode(&d.Nodes[i], now, push, out, fresh)
	}
	return out, fresh, nil
}

func (c *Cluster) validate(nd *NodeDelta) error {
	if nd.ID.Name == "" || len(nd.ID.Name) > c.limits.MaxKey || !ValidText(nd.ID.Name) || !ValidText(nd.ID.Addr) {
		return ErrBadDelta
	}
	if nd.From > nd.To || nd.Reset && nd.From != 0 {
		return ErrBadDelta
	}
	last := nd.From
	for _, e := range nd.Entries {
		if e == nil || e.Version <= last || e.Version > nd.To {
			return ErrBadDelta
		}
		last = e.Version
		if len(e.Value) > c.limits.MaxValue || len(e.Key) > c.limits.MaxKey || !ValidText(e.Key) {
			return ErrBadDelta
		}
		if (e.Kind.keyed() || e.Kind == KindEvent || e.Kind == KindAsk || e.Kind == KindSuspect) && e.Key == "" {
			return ErrBadDelta
		}
		if e.Kind == KindSuspect && len(e.Value) != 0 && len(e.Value) != suspicionSize {
			return ErrBadDelta
		}
	}
	return nil
}

// resolve finds or creates the node a delta is about, applying the
// generation rules. It returns nil when the delta must be ignored.
func (c *Cluster) resolve(nd *NodeDelta, now int64, out []Change) (*Node, []Change) {
	id, heartbeat := nd.ID, nd.Heartbeat
	if id.Name == c.self.ID.Name {
		return nil, out // we are the only authority on ourselves
	}
	n, ok := c.byName[id.Name]
	switch {
	case !ok:
		if g, dead := c.graves[id.Name]; dead &&
			(id.Generation < g.generation || id.Generation == g.generation && heartbeat <= g.heartbeat) {
			c.stale[id.Key()] = now
			return nil, out
		}
		if c.gate != nil && !c.gate.Generation(id) || !c.admitIdentity(nd) || c.gate != nil && !c.gate.Admit(id) {
			return nil, out
		}
		if len(c.byName) >= c.limits.MaxNodes {
			victim := ""
			if c.gate != nil {
				victim = c.gate.Evict(id)
			}
			v, ok := c.byName[victim]
			if !ok || v == c.self {
				return nil, out
			}
			c.drop(v)
			c.stale[v.key] = now
		}
		delete(c.graves, id.Name)
		n = newNode(id)
		n.setIdent(nd.PubKey, nd.Head)
		c.add(n)
		out = append(out, Change{Kind: NodeJoined, Node: id})
	case id.Generation < n.ID.Generation && (c.gate == nil || !c.gate.Lower(id, n.ID)):
		c.stale[id.Key()] = now
		return nil, out
	case id.Generation != n.ID.Generation:
		if id.Generation > n.ID.Generation && c.gate != nil && !c.gate.Generation(id) {
			return nil, out
		}
		if !c.admitIdentity(nd) {
			return nil, out // only the owner's signed head makes a new incarnation
		}
		old := n.ID
		c.drop(n)
		c.stale[n.key] = now
		n = newNode(id)
		n.setIdent(nd.PubKey, nd.Head)
		c.add(n)
		out = append(out, Change{Kind: NodeRestarted, Node: id, Old: old})
	}
	return n, out
}

func (c *Cluster) applyNode(nd *NodeDelta, now int64, push bool, out []Change, fresh []Run) ([]Change, []Run) {
	if c.refuseMixed(nd) {
		return out, fresh
	}
	n, out := c.resolve(nd, now, out)
	if n == nil {
		return out, fresh
	}
	c.takeHead(n, nd)
	if nd.Heartbeat > n.Heartbeat && c.heartbeatOK(n, nd.Heartbeat) {
		c.setHeartbeat(n, nd.Heartbeat)
		out = append(out, Change{Kind: HeartbeatAdvanced, Node: n.ID})
	}
	if nd.Reset && c.auth != nil {
		// Identity mode: a reset cannot prove it is complete (nothing
		// signs "these are all my keys"), so dropping what is held on its
		// word would let any relay delete the owner's keys. Its entries
		// are merged like a run instead; the price is that a replica that
		// fell behind a collected tombstone keeps that key until the owner
		// writes it again (see the README's identity section).
		var entries []*Entry
		for i, e := range nd.Entries {
			if e.Version > n.Version {
				entries = nd.Entries[i:]
				break
			}
		}
		out, fresh = c.applyRun(n, n.Version, max(nd.To, n.Version), entries, now, out, fresh)
		return c.drain(n, now, out, fresh)
	}
	if nd.Reset {
		out = c.reset(n, nd, now, out)
		return c.drain(n, now, out, fresh)
	}
	if nd.From > n.Version {
		if push && nd.To > nd.From {
			c.stash(n, nd, now)
		}
		return out, fresh
	}
	out, fresh = c.applyRun(n, nd.From, nd.To, nd.Entries, now, out, fresh)
	return c.drain(n, now, out, fresh)
}

// applyRun applies entries in (from, to] of n, where from <= n.Version.
func (c *Cluster) applyRun(n *Node, from, to uint64, entries []*Entry, now int64, out []Change, fresh []Run) ([]Change, []Run) {
	start := n.Version
	first, last := -1, len(entries)
	for i, e := range entries {
		if e.Version <= n.Version {
			c.dups++
			continue
		}
		if c.auth != nil && !c.auth.VerifyEntry(n.ID, n.PubKey(), e, now) {
			// Dropped (and counted by the authority) with the rest of the
			// run: applying later entries would leave a gap, and the
			// version stays where the owner's real entry can still land.
			last = i
			to = n.Version
			break
		}
		if first < 0 {
			first = i
		}
		out = c.applyEntry(n, e, now, out)
		c.setVersion(n, e.Version)
	}
	// Identity mode: the range beyond the last entry (superseded entries
	// skipped) is believed up to the owner's signed head only.
	to = c.versionBound(n, to)
	if to > n.Version {
		c.setVersion(n, to)
	}
	if n.Version > start {
		r := Run{Node: n, From: start, To: n.Version}
		if first >= 0 {
			r.Entries = entries[first:last]
		}
		fresh = append(fresh, r)
	}
	return out, fresh
}

func (c *Cluster) applyEntry(n *Node, e *Entry, now int64, out []Change) []Change {
	switch e.Kind {
	case KindSet, KindTombstone:
		stored := e
		if e.Kind == KindSet && e.Expired(now) {
			// Expired in flight: it arrives as the tombstone it has become,
			// so a late joiner never sees a value that is already gone.
			stored = e.asTombstone()
		}
		prev := n.store(stored)
		c.schedule(n, stored)
		live := prev != nil && prev.Live(now)
		switch {
		case stored.Kind == KindSet:
			if !live {
				prev = nil
			}
			out = append(out, Change{Kind: KeySet, Node: n.ID, Entry: stored, Prev: prev})
		case live:
			out = append(out, Change{Kind: KeyDeleted, Node: n.ID, Entry: stored, Prev: prev})
		}
	case KindEvent, KindAsk:
		if e.Expired(now) {
			return out // ended before it got here: nobody hears it
		}
		n.store(e)
		c.schedule(n, e)
		if e.Version > n.delivered {
			n.delivered = e.Version
			out = append(out, Change{Kind: EventHeard, Node: n.ID, Entry: e})
		}
	case KindSuspect, KindLeave:
		out = c.applyLiveness(n, e, out)
	default:
		// A kind from a newer protocol: keep and forward it, show nothing.
		if !e.Expired(now) {
			n.store(e)
			c.schedule(n, e)
		}
	}
	return out
}

// reset replaces what is held of n by the entries of nd and reports the
// differences as changes.
func (c *Cluster) reset(n *Node, nd *NodeDelta, now int64, out []Change) []Change {
	old := n.clear()
	c.setVersion(n, 0)
	if nd.GCFloor > n.GCFloor {
		n.GCFloor = nd.GCFloor
	}
	for _, e := range nd.Entries {
		switch {
		case e.Kind == KindEvent || e.Kind == KindAsk || e.Kind == KindSuspect || e.Kind == KindLeave:
			out = c.applyEntry(n, e, now, out)
		case e.Kind == KindSet && e.Expired(now):
			t := e.asTombstone()
			n.store(t)
			c.schedule(n, t)
		default:
			n.store(e)
			c.schedule(n, e)
		}
		c.setVersion(n, e.Version)
	}
	if nd.To > n.Version {
		c.setVersion(n, nd.To)
	}
	for key, ne := range n.kv {
		oe := old[key]
		oldLive := oe != nil && oe.Live(now)
		switch {
		case ne.Live(now) && (oe == nil || oe.Version != ne.Version):
			var prev *Entry
			if oldLive {
				prev = oe
			}
			out = append(out, Change{Kind: KeySet, Node: n.ID, Entry: ne, Prev: prev})
		case !ne.Live(now) && oldLive:
			out = append(out, Change{Kind: KeyDeleted, Node: n.ID, Entry: ne, Prev: oe})
		}
	}
	for key, oe := range old {
		if _, ok := n.kv[key]; !ok && oe.Live(now) && oe.Version <= nd.To {
			out = append(out, Change{Kind: KeyDeleted, Node: n.ID, Prev: oe})
		}
	}
	return out
}

// stash holds a pushed run that arrived ahead of a gap.
func (c *Cluster) stash(n *Node, nd *NodeDelta, now int64) {
	if len(n.pending) >= c.limits.MaxPend {
		return // anti-entropy will bring it; holding more would let a peer grow our memory
	}
	n.pending = append(n.pending, &pendingRun{from: nd.From, to: nd.To, heartbeat: nd.Heartbeat, entries: nd.Entries, at: now})
}

// drain applies held runs that the node's version has caught up with.
func (c *Cluster) drain(n *Node, now int64, out []Change, fresh []Run) ([]Change, []Run) {
	for len(n.pending) > 0 {
		progressed := false
		kept := n.pending[:0]
		for _, r := range n.pending {
			switch {
			case r.to <= n.Version:
				// already covered
				c.dups += uint64(len(r.entries))
			case r.from <= n.Version:
				out, fresh = c.applyRun(n, r.from, r.to, r.entries, now, out, fresh)
				progressed = true
			default:
				kept = append(kept, r)
			}
		}
		for i := len(kept); i < len(n.pending); i++ {
			n.pending[i] = nil
		}
		n.pending = kept
		if !progressed {
			break
		}
	}
	return out, fresh
}

// PendingRuns returns how many pushed runs are held ahead of gaps, in total.
func (c *Cluster) PendingRuns() int {
	total := 0
	for _, n := range c.nodes {
		total += len(n.pending)
	}
	return total
}
