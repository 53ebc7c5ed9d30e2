package state

import (
	"errors"
	"math"
	"slices"
)

// Limits bound what the network may make a replica hold.
type Limits struct {
	MaxKey    int // bytes of a key or event name
	MaxValue  int // bytes of a value or event payload
	MaxNodes  int // nodes held, self included; strangers beyond it are ignored
	MaxPend   int // pushed runs held ahead of a gap, per node
	PendingMS int64
}

// DefaultLimits are generous for a LAN cluster and small for an attacker.
var DefaultLimits = Limits{MaxKey: 1024, MaxValue: 8 << 20, MaxNodes: 4096, MaxPend: 256, PendingMS: 2000}

// Errors of local operations and of invalid deltas.
var (
	ErrInvalidKey = errors.New("state: key must be non-empty valid UTF-8 without NUL, within the size limit")
	ErrValueSize  = errors.New("state: value larger than the limit")
	ErrBadDelta   = errors.New("state: malformed delta")
)

// Cluster is this replica's view of every node, itself included. It is not
// safe for concurrent use: the engine serialises access with one lock.
type Cluster struct {
	self   *Node
	byName map[string]*Node
	byKey  map[uint64]*Node
	// nodes lists the nodes of byName in no particular order, for walks
	// and uniform random picks that cost what they take (FullDigest's
	// random lines) instead of a walk of the map.
	nodes  []*Node
	fp     uint64
	expiry expiryHeap
	// ends counts events ending per node and bucket (scheduleEnd); the
	// open bucket's count is endOpenN, not yet added to ends.
	ends     map[endKey]int
	endOpen  endKey
	endOpenN int
	graves   map[string]grave
	// stale holds keys of incarnations known to be replaced or removed, so
	// digests naming them are not answered with "send me that node".
	stale  map[uint64]int64
	limits Limits
	gate   Gate
	auth   Authority // identity mode (identity.go); nil when off
	mixed  uint64    // node deltas refused for carrying a key while auth is nil
	// dups counts entries received that were already held (Duplicates).
	dups uint64
	// sweepAt is when Tick next sweeps every node (Unix ms).
	sweepAt int64
	// clock stamps each change of a node's line (added, version moved);
	// recent rings the last recentCap stamps, newest at recent[clock%cap].
	// A digest cut to one datagram lists these lines first (FullDigest).
	clock  uint64
	recent [recentCap]recentMark
	// ticks are the times of the last ticks, shared by every node's
	// HeldAt.
	ticks tickClock
}

// recentMark is one stamp of the recent ring: the node's key and the
// stamp it got, so that a later change of the same node (a newer stamp)
// or its removal voids the mark.
type recentMark struct {
	key   uint64
	stamp uint64
}

// recentCap bounds the recent ring: a few datagrams' worth of lines (a
// digest is cut to about 50 at the default MTU).
const recentCap = 256

// touch stamps n as changed now and rings it.
func (c *Cluster) touch(n *Node) {
	c.clock++
	n.changed = c.clock
	c.recent[c.clock%recentCap] = recentMark{key: n.key, stamp: c.clock}
}

// sweepEvery is the period of Tick's sweep of every node, in ms: far below
// PendingMS and any grace, far above a gossip round.
const sweepEvery = 1000

// Gate judges what gossip from the network may change (issue 11's sanity
// bounds); the caller sets it around each packet it merges. A nil Gate
// admits everything, as local operations need.
type Gate interface {
	// Admit says whether a node never held may be added.
	Admit(id NodeID) bool
	// Evict is asked at MaxNodes: it names a held node to drop so that id
	// gets in, or "" to refuse id.
	Evict(id NodeID) string
	// Generation says whether a new or restarted incarnation is plausible.
	Generation(id NodeID) bool
	// Heartbeat says whether a node's heartbeat may grow from prev to next.
	Heartbeat(id NodeID, prev, next uint64) bool
	// Lower says whether id, a lower generation than the held incarnation
	// held, may replace it (a restart after the clock stepped back).
	Lower(id, held NodeID) bool
}

// SetGate sets the gate of the merges to come (nil: none).
func (c *Cluster) SetGate(g Gate) { c.gate = g }

// heartbeatOK asks the gate about a remote heartbeat advance.
func (c *Cluster) heartbeatOK(n *Node, next uint64) bool {
	if !c.epochOK(n, next) {
		return false
	}
	return c.gate == nil || c.gate.Heartbeat(n.ID, n.Heartbeat, next)
}

// grave remembers a removed node so that stale gossip cannot resurrect it:
// only a newer generation or a newer heartbeat brings it back.
type grave struct {
	generation, heartbeat uint64
	at                    int64
}

// NewCluster returns a cluster that knows only itself.
func NewCluster(self NodeID, limits Limits) *Cluster {
	c := &Cluster{
		byName: make(map[string]*Node),
		byKey:  make(map[uint64]*Node),
		graves: make(map[string]grave),
		stale:  make(map[uint64]int64),
		ends:   make(map[endKey]int),
		limits: limits,
	}
	c.self = newNode(self)
	// Heartbeats start at 1: a digest line with heartbeat 0 means "I do not
	// hold this node, send it to me".
	c.self.Heartbeat = 1
	c.add(c.self)
	return c
}

// Duplicates is how many entries received by Apply were already held
// (applied before, or covered by a version already reached): what arrived
// twice, by push and by anti-entropy, or by two pushes.
func (c *Cluster) Duplicates() uint64 { return c.dups }

// Self returns the local node.
func (c *Cluster) Self() *Node { return c.self }

// Node returns the node of that name.
func (c *Cluster) Node(name string) (*Node, bool) {
	n, ok := c.byName[name]
	return n, ok
}

// NodeByKey returns the node held under key (NodeKey of its name and
// generation): how a compact packet header names its sender.
func (c *Cluster) NodeByKey(key uint64) (*Node, bool) {
	n, ok := c.byKey[key]
	return n, ok
}

// Fingerprint summarises (node, version) over every node held.
func (c *Cluster) Fingerprint() uint64 { return c.fp }

// Get returns the live value of key held for node name at now.
func (c *Cluster) Get(name, key string, now int64) (*Entry, bool) {
	n, ok := c.byName[name]
	if !ok {
		return nil, false
	}
	return n.get(key, now)
}

// Keys returns the live keys of node name at now, sorted.
func (c *Cluster) Keys(name string, now int64) []string {
	n, ok := c.byName[name]
	if !ok {
		return nil
	}
	return n.liveKeys(now)
}

func (c *Cluster) add(n *Node) {
	n.clk, n.born, n.hist = &c.ticks, c.ticks.n, nil
	c.byName[n.ID.Name] = n
	c.byKey[n.key] = n
	c.nodes = append(c.nodes, n)
	c.fp ^= fingerprintOf(n)
	c.touch(n)
}

func (c *Cluster) drop(n *Node) {
	delete(c.byName, n.ID.Name)
	delete(c.byKey, n.key)
	// A linear search: nodes leave rarely (removal after DeadGrace, a
	// restart, an eviction), and an index in every Node would cost 8 bytes
	// per (peer, held node) for it.
	if i := slices.Index(c.nodes, n); i >= 0 {
		last := len(c.nodes) - 1
		c.nodes[i] = c.nodes[last]
		c.nodes[last] = nil
		c.nodes = c.nodes[:last]
	}
	c.fp ^= fingerprintOf(n)
}

// setVersion and setHeartbeat are the only writers of a held node's Version
// and Heartbeat: they keep the fingerprint in step.
func (c *Cluster) setVersion(n *Node, v uint64) {
	if v == n.Version {
		return
	}
	c.fp ^= fingerprintOf(n)
	n.moved()
	n.Version = v
	c.fp ^= fingerprintOf(n)
	c.touch(n)
}

func (c *Cluster) setHeartbeat(n *Node, hb uint64) {
	if hb == n.Heartbeat {
		return
	}
	c.fp ^= fingerprintOf(n)
	n.Heartbeat = hb
	c.fp ^= fingerprintOf(n)
}

// CheckKey validates a key or event name against the limits.
func (c *Cluster) CheckKey(key string) error {
	if key == "" || len(key) > c.limits.MaxKey || !ValidText(key) {
		return ErrInvalidKey
	}
	return nil
}

// localAppend gives e the next version of the local node and stores it.
func (c *Cluster) localAppend(e *Entry) (prev *Entry) {
	e.Version = c.self.Version + 1
	if c.auth != nil {
		c.auth.SignEntry(c.self.ID, e)
	}
	prev = c.self.store(e)
	c.setVersion(c.self, e.Version)
	c.schedule(c.self, e)
	return prev
}

// Set stores a value of the local node. expiresAt is Unix ms, 0 for never.
func (c *Cluster) Set(key string, value []byte, enc Encoding, expiresAt int64) (*Entry, error) {
	if err := c.CheckKey(key); err != nil {
		return nil, err
	}
	if len(value) > c.limits.MaxValue {
		return nil, ErrValueSize
	}
	e := &Entry{Kind: KindSet, Key: key, Value: value, Encoding: enc, ExpiresAt: expiresAt}
	c.localAppend(e)
	return e, nil
}

// Delete writes a tombstone for key of the local node and reports whether a
// live value was deleted. Deleting an absent key writes nothing.
func (c *Cluster) Delete(key string, now int64) (*Entry, bool, error) {
	if err := c.CheckKey(key); err != nil {
		return nil, false, err
	}
	prev, ok := c.self.kv[key]
	if !ok || prev.Kind == KindTombstone {
		return nil, false, nil
	}
	e := &Entry{Kind: KindTombstone, Key: key, ExpiresAt: now}
	c.localAppend(e)
	return e, prev.Live(now), nil
}

// Say appends an event (or an ask) of the local node, delivered to other
// replicas until endsAt (Unix ms).
func (c *Cluster) Say(kind Kind, name string, value []byte, enc Encoding, endsAt int64) (*Entry, error) {
	if err := c.CheckKey(name); err != nil {
		return nil, err
	}
	if len(value) > c.limits.MaxValue {
		return nil, ErrValueSize
	}
	e := &Entry{Kind: kind, Key: name, Value: value, Encoding: enc, ExpiresAt: endsAt}
	c.localAppend(e)
	c.self.delivered = e.Version // the sender never hears itself
	return e, nil
}

// BeatHeart advances the local heartbeat and returns it.
func (c *Cluster) BeatHeart() uint64 {
	c.setHeartbeat(c.self, c.self.Heartbeat+1)
	return c.self.Heartbeat
}

// Restart moves the local node to a new generation: its live values are
// republished under fresh versions 1..n and everything else is dropped.
// Peers replace the old incarnation when they learn the new one.
func (c *Cluster) Restart(id NodeID, now int64) {
	old := c.self
	c.drop(old)
	c.stale[old.key] = now
	c.self = newNode(id)
	c.self.Heartbeat = old.Heartbeat // before add: add accounts for it
	if old.ident != nil || c.auth != nil {
		id := c.self.idw()
		id.pubKey, id.headDirty = old.PubKey(), true
		if c.auth != nil {
			id.pubKey = c.auth.PublicKey() // a re-key takes effect with the new incarnation
		}
	}
	c.add(c.self)
	for _, k := range old.liveKeys(now) {
		e := old.kv[k]
		c.localAppend(&Entry{Kind: KindSet, Key: k, Value: e.Value, Encoding: e.Encoding, ExpiresAt: e.ExpiresAt})
	}
}

// Remove forgets a node (the engine calls it once a dead node's grace period
// is over) and remembers it in a grave until graveUntil.
func (c *Cluster) Remove(name string, now int64) bool {
	n, ok := c.byName[name]
	if !ok || n == c.self {
		return false
	}
	c.drop(n)
	c.graves[name] = grave{generation: n.ID.Generation, heartbeat: n.Heartbeat, at: now}
	c.stale[n.key] = now
	return true
}

// Forget drops graves and stale keys older than before (Unix ms).
func (c *Cluster) Forget(before int64) {
	for name, g := range c.graves {
		if g.at < before {
			delete(c.graves, name)
		}
	}
	for k, at := range c.stale {
		if at < before {
			delete(c.stale, k)
		}
	}
}

// schedule registers when an entry must be looked at again: a set at its
// expiry, an event at its end, a tombstone at the end of its grace period.
//
// Events (says and asks) only count as garbage when they end, so their ends
// are counted per node in buckets of endBucket ms instead of one heap item
// each: a stream of says at 50k/s held for 30 s was 1.5 million heap items
// per replica (36 MB of pointers for the collector to scan, the heap's
// growth copied under write barriers), a tenth of the receivers' CPU. The
// log compaction they feed runs once per sweepEvery anyway.
func (c *Cluster) schedule(n *Node, e *Entry) {
	switch {
	case e.ExpiresAt == 0:
	case e.Kind == KindEvent || e.Kind == KindAsk:
		c.scheduleEnd(n, e.ExpiresAt)
	default:
		c.expiry.push(expiryItem{at: e.ExpiresAt, node: n, entry: e})
	}
}

// endBucket is the width of the buckets events' ends are counted in (ms):
// an ended event is counted as garbage at most this late.
const endBucket = sweepEvery

// endKey names one bucket of one node's event ends (its heap item's at).
type endKey struct {
	node *Node
	at   int64
}

// scheduleEnd counts an event of n ending at at in its bucket; the first
// event of a bucket pushes the bucket's heap item (entry nil). The open
// bucket (the last one used: a stream of says from one node fills one
// bucket after another) is counted in c.endOpen without a map operation.
func (c *Cluster) scheduleEnd(n *Node, at int64) {
	k := endKey{node: n, at: at}
	if r := at % endBucket; r > 0 && at <= math.MaxInt64-endBucket {
		k.at += endBucket - r // rounded up: never counted before it ends
	}
	if k == c.endOpen {
		c.endOpenN++
		return
	}
	if c.endOpen.node != nil {
		c.ends[c.endOpen] += c.endOpenN
	}
	if _, ok := c.ends[k]; !ok {
		c.expiry.push(expiryItem{at: k.at, node: n})
		c.ends[k] = 0
	}
	c.endOpen, c.endOpenN = k, 1
}

// takeEnds returns (and forgets) how many events of n's bucket at ended.
func (c *Cluster) takeEnds(n *Node, at int64) int {
	k := endKey{node: n, at: at}
	count := c.ends[k]
	delete(c.ends, k)
	if k == c.endOpen {
		count += c.endOpenN
		c.endOpen, c.endOpenN = endKey{}, 0
	}
	return count
}

// expiryItem is an entry to look at again at at, or (entry nil) the end of
// a bucket of n's events (scheduleEnd).
type expiryItem struct {
	at    int64
	node  *Node
	entry *Entry
}

// expiryHeap is a min-heap on at. It is written out rather than used
// through container/heap, whose interface boxes every item pushed: one
// allocation per entry scheduled, on the path of every event received.
type expiryHeap []expiryItem

func (h *expiryHeap) push(it expiryItem) {
	*h = append(*h, it)
	q := *h
	for i := len(q) - 1; i > 0; {
		parent := (i - 1) / 2
		if q[parent].at <= q[i].at {
			break
		}
		q[parent], q[i] = q[i], q[parent]
		i = parent
	}
}

func (h *expiryHeap) pop() expiryItem {
	q := *h
	it := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q[last] = expiryItem{}
	q = q[:last]
	for i := 0; ; {
		least, l, r := i, 2*i+1, 2*i+2
		if l < len(q) && q[l].at < q[least].at {
			least = l
		}
		if r < len(q) && q[r].at < q[least].at {
			least = r
		}
		if least == i {
			break
		}
		q[i], q[least] = q[least], q[i]
		i = least
	}
	*h = q
	return it
}

// Tick processes what fell due by now: sets expire (every replica turns
// them into tombstones and reports KeyExpired), events end, tombstones older
// than grace (ms) are collected, garbage is compacted and stale pushed runs
// are dropped.
func (c *Cluster) Tick(now, grace int64, out []Change) []Change {
	for len(c.expiry) > 0 && c.expiry[0].at <= now {
		it := c.expiry.pop()
		n, e := it.node, it.entry
		if e == nil {
			ended := c.takeEnds(n, it.at)
			if c.byName[n.ID.Name] == n {
				n.garbage += ended
			}
			continue
		}
		if c.byName[n.ID.Name] != n {
			continue // node replaced or removed since
		}
		switch e.Kind {
		case KindSet:
			if n.kv[e.Key] != e {
				continue
			}
			t := e.asTombstone()
			n.replace(e, t)
			c.expiry.push(expiryItem{at: t.ExpiresAt + grace, node: n, entry: t})
			out = append(out, Change{Kind: KeyExpired, Node: n.ID, Entry: e})
		case KindTombstone:
			if n.kv[e.Key] != e {
				continue
			}
			if it.at < e.ExpiresAt+grace {
				c.expiry.push(expiryItem{at: e.ExpiresAt + grace, node: n, entry: e})
				continue
			}
			delete(n.kv, e.Key)
			n.garbage++
			if e.Version > n.GCFloor {
				n.GCFloor = e.Version
			}
		default:
			n.garbage++
		}
	}
	// Every tick is remembered once for all nodes (HeldAt, for the hold of
	// anti-entropy answers: state.HoldFresh); each node records only its
	// version changes (setVersion).
	c.ticks.at[c.ticks.n%markCount] = now
	c.ticks.n++
	// The sweep of every node (log compaction, pending runs aging out)
	// runs at most once per sweepEvery: each tick visiting every node was
	// O(N) per peer per round, a third of a quiet 256-peer process's CPU.
	if now < c.sweepAt {
		return out
	}
	c.sweepAt = now + sweepEvery
	for _, n := range c.nodes {
		n.compact(now)
		n.prune()
		if len(n.pending) > 0 {
			kept := n.pending[:0]
			for _, r := range n.pending {
				if r.to > n.Version && now-r.at < c.limits.PendingMS {
					kept = append(kept, r)
				}
			}
			n.pending = kept
		}
	}
	return out
}
