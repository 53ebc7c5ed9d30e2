package state

import (
	"math/rand/v2"
)

// DigestEntry says what a peer holds of one node.
type DigestEntry struct {
	Key       uint64
	Heartbeat uint64
	Version   uint64
}

// Digest is a list of DigestEntry, complete or a subset.
type Digest struct {
	Entries []DigestEntry
	// Complete: Entries lists every node the sender holds.
	Complete bool
	// Fingerprint summarises (node, version) over every node the sender
	// holds; 0 when not computed.
	Fingerprint uint64
}

// Line returns the digest line of n.
func (n *Node) Line() DigestEntry {
	return DigestEntry{Key: n.key, Heartbeat: n.Heartbeat, Version: n.Version}
}

// DigestEntrySize is the estimated encoded size of one digest line.
const DigestEntrySize = digestEntrySize

// FullDigest lists every node held, self first. When more than max lines
// would be needed it returns self, then the lines of must (in order), then
// the lines changed last (up to half the room), then a random subset of the
// rest, and marks the digest incomplete.
func (c *Cluster) FullDigest(max int, must []DigestEntry, rng *rand.Rand) Digest {
	d := Digest{Fingerprint: c.fp}
	total := len(c.byName) + len(must)
	if max <= 0 || total <= max {
		d.Entries = make([]DigestEntry, 0, total)
		d.Entries = append(d.Entries, c.self.Line())
		d.Entries = append(d.Entries, must...)
		seen := make(map[uint64]bool, len(must))
		for _, m := range must {
			seen[m.Key] = true
		}
		for _, n := range c.nodes {
			if n != c.self && !seen[n.key] {
				d.Entries = append(d.Entries, n.Line())
			}
		}
		d.Complete = len(must) == 0 || allKnown(c, must)
		return d
	}
	d.Entries = make([]DigestEntry, 0, max)
	d.Entries = append(d.Entries, c.self.Line())
	seen := map[uint64]bool{c.self.key: true}
	for _, m := range must {
		if len(d.Entries) >= max {
			break
		}
		if !seen[m.Key] {
			d.Entries = append(d.Entries, m)
			seen[m.Key] = true
		}
	}
	// Then the lines changed last, up to half the room: news (a node's
	// version that moved, a node that joined) spreads as an epidemic
	// instead of waiting for a random subset to name it, which at a
	// thousand nodes and 50 lines a datagram left the last peers
	// finding their last lines by chance. The other half stays random,
	// so that older differences are found too.
	recent := len(d.Entries) + (max-len(d.Entries))/2
	for i := uint64(0); i < recentCap && len(d.Entries) < recent && i < c.clock; i++ {
		m := c.recent[(c.clock-i)%recentCap]
		n, ok := c.byKey[m.key]
		if !ok || n.changed != m.stamp || seen[m.key] {
			continue
		}
		d.Entries = append(d.Entries, n.Line())
		seen[m.key] = true
	}
	// The rest at random: a partial Fisher-Yates shuffle of c.nodes in
	// place (its order means nothing), stopped once the digest is full, so
	// the cost follows the lines listed and not the nodes held.
	for i := 0; i < len(c.nodes) && len(d.Entries) < max; i++ {
		j := i + rng.IntN(len(c.nodes)-i)
		c.nodes[i], c.nodes[j] = c.nodes[j], c.nodes[i]
		if n := c.nodes[i]; !seen[n.key] {
			d.Entries = append(d.Entries, n.Line())
		}
	}
	return d
}

// allKnown reports whether every line of must names a node held (a must line
// for an unknown key would otherwise make a digest look complete while it
// names a node that is not held).
func allKnown(c *Cluster, must []DigestEntry) bool {
	for _, m := range must {
		if _, ok := c.byKey[m.Key]; !ok {
			return false
		}
	}
	return true
}

// CompactDigest is self's line and the fingerprint: when the receiver's
// fingerprint matches, the two replicas hold the same (node, version) pairs
// and nothing needs exchanging; when it does not, the receiver answers with
// its full digest. Heartbeats do not travel here (no vector of every peer in
// every packet): liveness is judged by ring watchers from Beat packets.
func (c *Cluster) CompactDigest() Digest {
	return Digest{Fingerprint: c.fp, Entries: []DigestEntry{c.self.Line()}}
}

// Request asks the delta builder for a node's entries above From.
type Request struct {
	Node *Node
	From uint64
	// Reset: send the node's whole state and let the receiver drop its own.
	Reset bool
	// Identity: send a NodeDelta even when it carries no entries, so the
	// receiver learns the node's identity.
	Identity bool
	// Capped: send nothing above Upto (HoldFresh).
	Capped bool
	Upto   uint64
	// Moving: the requester's version of the node rose since it was last
	// seen asking, lately: pushes are feeding it (HoldFresh).
	Moving bool
}

// Comparison is the outcome of reading a peer's digest.
type Comparison struct {
	// Requests are what the peer lacks: build a delta from them.
	Requests []Request
	// Wants are our lines for nodes where the peer is ahead, and version-0
	// lines for nodes we do not hold at all.
	Wants []DigestEntry
	// Fresher are our lines for nodes where only our heartbeat is newer.
	Fresher []DigestEntry
	// Mismatch: the digest was incomplete and its fingerprint differs from
	// ours, so nodes it does not list may differ too.
	Mismatch bool
}

// Compare reads a peer's digest: it takes the fresher heartbeats it carries
// (reported as HeartbeatAdvanced), and works out what each side lacks.
func (c *Cluster) Compare(d *Digest, out []Change) (Comparison, []Change) {
	var cmp Comparison
	var listed map[uint64]bool
	if d.Complete {
		listed = make(map[uint64]bool, len(d.Entries))
	}
	unknown := 0
	for _, line := range d.Entries {
		if listed != nil {
			listed[line.Key] = true
		}
		n, ok := c.byKey[line.Key]
		if !ok {
			if _, stale := c.stale[line.Key]; stale || line.Version == 0 && line.Heartbeat == 0 {
				continue // an old incarnation, or a peer asking us about a node we lack too
			}
			// Bound how many strangers one digest can make us ask about.
			if unknown < 64 && len(c.byName)+unknown < c.limits.MaxNodes {
				cmp.Wants = append(cmp.Wants, DigestEntry{Key: line.Key})
				unknown++
			}
			continue
		}
		if n != c.self && line.Heartbeat > n.Heartbeat && c.heartbeatOK(n, line.Heartbeat) {
			c.setHeartbeat(n, line.Heartbeat)
			out = append(out, Change{Kind: HeartbeatAdvanced, Node: n.ID})
		}
		switch {
		case line.Version < n.Version || line.Version == 0 && line.Heartbeat == 0:
			cmp.Requests = append(cmp.Requests, Request{
				Node: n, From: line.Version,
				Reset:    line.Version < n.GCFloor,
				Identity: line.Version == 0,
			})
		case line.Version > n.Version && n != c.self:
			n.seen = max(n.seen, line.Version)
			cmp.Wants = append(cmp.Wants, n.Line())
		case line.Heartbeat < n.Heartbeat:
			cmp.Fresher = append(cmp.Fresher, n.Line())
		}
	}
	if d.Complete {
		for _, n := range c.nodes {
			if !listed[n.key] {
				cmp.Requests = append(cmp.Requests, Request{Node: n, From: 0, Reset: n.GCFloor > 0, Identity: true})
			}
		}
	} else if d.Fingerprint != 0 && d.Fingerprint != c.fp {
		cmp.Mismatch = true
	}
	return cmp, out
}
