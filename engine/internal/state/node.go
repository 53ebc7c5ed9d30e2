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
	// PubKey and Head: identity mode only (identity.go). Head is the
	// newest verified head of this incarnation; the local node re-signs
	// its own when headDirty or its version or epoch moved.
	PubKey    []byte
	Head      Head
	headDirty bool
	nextHead  *Head // newest head seen, not verified yet (identity.go)
	// marks is the version held at each of the last markCount ticks, a
	// ring written at marks[ticks%markCount] (HeldAt).
	marks [markCount]mark
	ticks int
}

// markCount is how many ticks of version history a node keeps: enough to
// look back the dozen gossip rounds HeldAt is asked about (HoldFresh).
const markCount = 16

type mark struct {
	at      int64
	version uint64
}

// HeldAt returns the version held at the last tick at or before t (Unix
// ms), and false when no tick that old is remembered (a node learnt or
// restarted lately, or t further back than markCount ticks).
func (n *Node) HeldAt(t int64) (uint64, bool) {
	found, best := false, mark{}
	for i := range min(n.ticks, markCount) {
		m := n.marks[i]
		if m.at <= t && (!found || m.at > best.at) {
			found, best = true, m
		}
	}
	return best.version, found
}

type pendingRun struct {
	from, to  uint64
	heartbeat uint64
	entries   []*Entry
	at        int64
}

func newNode(id NodeID) *Node {
	return &Node{ID: id, key: id.Key(), kv: make(map[string]*Entry)}
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
	n.kv = make(map[string]*Entry, len(old))
	n.sus = nil
	n.log = nil
	n.garbage = 0
	n.pending = nil
	return old
}
