package state

import (
	"sort"
)

// Node is one incarnation's replicated state as held by this replica: the
// local peer's own (authoritative) or a replica of another peer's.
type Node struct {
	ID  NodeID
	key uint64
	// Heartbeat is the node's liveness counter as last learnt.
	Heartbeat uint64
	// Version is the highest version held with nothing missing below it.
	Version uint64
	// GCFloor is the highest version of a tombstone collected here. A peer
	// that asks from below it may lack a deletion and gets a reset.
	GCFloor uint64

	kv map[string]*Entry // current entry of every key: a set or a tombstone
	// sus is the current suspicion entry of every peer this node accused
	// (a namespace of its own: suspicions never collide with user keys).
	sus map[string]*Entry
	// Left: the node announced a graceful leave (a KindLeave entry).
	Left bool
	log  []*Entry // entries in version order; may hold garbage
	// garbage counts log entries known to be superseded, collected or ended;
	// the log is compacted when they are the majority.
	garbage int
	// delivered is the highest event version handed to local handlers. It
	// survives resets, so an event is heard at most once per incarnation.
	delivered uint64
	// pending holds pushed runs that arrived ahead of Version (a gap), until
	// the gap fills or they age out.
	pending []*pendingRun
	// seen is the highest version of this node that a digest showed us
	// (observe.go: replication lag).
	seen uint64
	// changed is the Cluster's clock when this line last changed (touch).
	changed uint64
	// ident: identity mode only (identity.go), nil otherwise: 72 bytes
	// per held node that a cluster without identities does not pay.
	ident *nodeIdent
	// HeldAt's history. The times of the last markCount ticks are the
	// Cluster's (clk, one ring for all nodes); born is the index of the
	// first tick that saw this node; hist lists only the version changes
	// within those ticks. A per-node ring of (time, version) at every tick
	// was 256 bytes per held node and two stores per node per tick, for
	// versions that are mostly unchanged: 4,096 peers each holding 4,096
	// nodes made it 4 GB.
	clk  *tickClock
	born uint64
	hist []change
}

// markCount is how many ticks of version history a node keeps: enough to
// look back the dozen gossip rounds HeldAt is asked about (HoldFresh).
const markCount = 16

// nodeIdent is what identity mode holds of a node: its key and the
// newest verified head of this incarnation; the local node re-signs its
// own when headDirty or its version or epoch moved.
type nodeIdent struct {
	pubKey    []byte
	head      Head
	headDirty bool
	nextHead  *Head // newest head seen, not verified yet (identity.go)
}

// PubKey is the incarnation's public key (identity mode; nil otherwise).
func (n *Node) PubKey() []byte {
	if n.ident == nil {
		return nil
	}
	return n.ident.pubKey
}

// Head is the newest verified head of the incarnation (identity mode;
// zero otherwise).
func (n *Node) Head() Head {
	if n.ident == nil {
		return Head{}
	}
	return n.ident.head
}

// idw returns n's identity record for writing, made on first use.
func (n *Node) idw() *nodeIdent {
	if n.ident == nil {
		n.ident = &nodeIdent{}
	}
	return n.ident
}

// setIdent sets the key and head a delta brought for a new incarnation.
func (n *Node) setIdent(pub []byte, h Head) {
	if len(pub) == 0 && h.Sig == nil && h.Version == 0 && h.Epoch == 0 {
		n.ident = nil
		return
	}
	id := n.idw()
	id.pubKey, id.head = pub, h
}

// tickClock is the Cluster's record of its last markCount ticks.
type tickClock struct {
	n  uint64           // ticks run so far
	at [markCount]int64 // time of tick i at at[i%markCount] (Unix ms)
}

// change records that the version moved while ticks was the index of the
// next tick: every tick before it held at most before (the version just
// ahead of the first move in that interval).
type change struct {
	tick, before uint64
}

// oldest is the index of the oldest tick n remembers.
func (n *Node) oldest() uint64 {
	lo := n.born
	if n.clk.n > markCount && n.clk.n-markCount > lo {
		lo = n.clk.n - markCount
	}
	return lo
}

// moved records, before n.Version changes, the version held until now.
func (n *Node) moved() {
	if n.clk == nil {
		return // not held by a Cluster: no tick will ask
	}
	if k := len(n.hist); k > 0 && n.hist[k-1].tick == n.clk.n {
		return // already moved since the last tick: that version stands
	}
	n.prune()
	n.hist = append(n.hist, change{tick: n.clk.n, before: n.Version})
}

// prune drops the changes no remembered tick needs: one at tick index s
// answers for the ticks below s, and none of them below oldest is asked.
func (n *Node) prune() {
	lo, i := n.oldest(), 0
	for i < len(n.hist) && n.hist[i].tick <= lo {
		i++
	}
	switch {
	case i == len(n.hist):
		n.hist = nil // a quiet node keeps no history
	case i > 0:
		n.hist = append(n.hist[:0], n.hist[i:]...)
	}
}

// HeldAt returns the version held at the last tick at or before t (Unix
// ms), and false when no tick that old is remembered (a node learnt or
// restarted lately, or t further back than markCount ticks).
func (n *Node) HeldAt(t int64) (uint64, bool) {
	if n.clk == nil {
		return 0, false
	}
	found, tick, best := false, uint64(0), int64(0)
	for k := n.oldest(); k < n.clk.n; k++ {
		if at := n.clk.at[k%markCount]; at <= t && (!found || at >= best) {
			found, tick, best = true, k, at
		}
	}
	if !found {
		return 0, false
	}
	for _, c := range n.hist {
		if c.tick > tick {
			return c.before, true
		}
	}
	return n.Version, true
}

type pendingRun struct {
	from, to  uint64
	heartbeat uint64
	entries   []*Entry
	at        int64
}

func newNode(id NodeID) *Node {
	// kv is made on the first keyed entry: most peers of a large cluster
	// set no keys, and an empty map is still an allocation per held node.
	return &Node{ID: id, key: id.Key()}
}

// Key returns the node's digest key.
func (n *Node) Key() uint64 { return n.key }

// current reports whether a log entry still matters at now: the key's latest
// entry, or an event still being delivered.
func (n *Node) current(e *Entry, now int64) bool {
	switch {
	case e.Kind.keyed():
		return n.kv[e.Key] == e
	case e.Kind == KindSuspect:
		return n.sus[e.Key] == e
	case e.Kind == KindLeave:
		return true
	}
	return !e.Expired(now)
}

// get returns the live value of key at now.
func (n *Node) get(key string, now int64) (*Entry, bool) {
	e, ok := n.kv[key]
	if !ok || !e.Live(now) {
		return nil, false
	}
	return e, true
}

// liveKeys returns the keys with a live value at now, sorted.
func (n *Node) liveKeys(now int64) []string {
	keys := make([]string, 0, len(n.kv))
	for k, e := range n.kv {
		if e.Live(now) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// store puts e (whose version is above every version in the log) into the
// node and returns the key's previous entry, if any.
func (n *Node) store(e *Entry) (prev *Entry) {
	if e.Kind.keyed() {
		if n.kv == nil {
			n.kv = make(map[string]*Entry)
		}
		prev = n.kv[e.Key]
		n.kv[e.Key] = e
		if prev != nil {
			n.garbage++
		}
	}
	if e.Kind == KindSuspect {
		if n.sus == nil {
			n.sus = make(map[string]*Entry)
		}
		if n.sus[e.Key] != nil {
			n.garbage++
		}
		n.sus[e.Key] = e
	}
	n.log = append(n.log, e)
	return prev
}

// replace swaps an entry of the log for another of the same version (an
// expired set for its tombstone).
func (n *Node) replace(old, repl *Entry) {
	i := n.indexAfter(old.Version - 1)
	if i < len(n.log) && n.log[i] == old {
		n.log[i] = repl
	}
	if old.Kind.keyed() && n.kv[old.Key] == old {
		n.kv[old.Key] = repl
	}
}

// indexAfter returns the index of the first log entry with a version above v.
func (n *Node) indexAfter(v uint64) int {
	return sort.Search(len(n.log), func(i int) bool { return n.log[i].Version > v })
}

// compact drops garbage from the log once it is the majority, keeping the
// cost of building deltas proportional to the live state.
func (n *Node) compact(now int64) {
	if n.garbage < 32 || n.garbage*2 < len(n.log) {
		return
	}
	kept := make([]*Entry, 0, len(n.log)-n.garbage)
	for _, e := range n.log {
		if n.current(e, now) {
			kept = append(kept, e)
		}
	}
	n.log = kept
	n.garbage = 0
}

// clear forgets every entry (for a reset); delivered is kept.
func (n *Node) clear() map[string]*Entry {
	old := n.kv
	n.kv = nil
	n.sus = nil
	n.log = nil
	n.garbage = 0
	n.pending = nil
	return old
}
