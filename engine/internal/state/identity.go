package state

// Identity mode (issue 13): every entry carries its owner's signature and
// every node delta its owner's signed head (see engine/internal/identity).
// The state only asks an Authority; the cryptography and the pins live
// there.

// Head is a node's own signed statement of its highest version and its
// heartbeat epoch, for one incarnation.
type Head struct {
	Version, Epoch uint64
	Sig            []byte
}

// epochShift mirrors the protocol's split of a heartbeat into a
// refutation epoch (high 32 bits) and a beat count.
const epochShift = 32

// Authority signs the local node's entries and heads and judges those of
// others. Its verdict methods count and report refusals themselves.
type Authority interface {
	// PublicKey is the local node's public key, sent with its deltas.
	PublicKey() []byte
	// SignEntry sets e.Sig (and e.ExpirySig for a set with an expiry) as
	// written by self.
	SignEntry(self NodeID, e *Entry)
	// SignHead signs h as self's head.
	SignHead(self NodeID, h *Head)
	// Bind says whether pub may speak for id.Name (allow-list or pins).
	Bind(id NodeID, pub []byte) bool
	// VerifyHead says whether h is signed by pub for id.
	VerifyHead(id NodeID, pub []byte, h *Head) bool
	// VerifyEntry says whether e is signed by pub as an entry of id, and
	// plausible at now (a tombstone is not dated in the future).
	VerifyEntry(id NodeID, pub []byte, e *Entry, now int64) bool
	// Unsigned reports a delta of a node that carries no key or head.
	Unsigned(id NodeID)
	// BeyondHead reports a delta claiming versions of id up to to, beyond
	// its verified head (the range it was clamped to).
	BeyondHead(id NodeID, to uint64)
	// EpochRefused reports a heartbeat of id beyond its signed epoch.
	EpochRefused(id NodeID, hb uint64)
}

// SetAuthority turns identity mode on (nil: off). Set it before the first
// local write: entries written before are unsigned.
func (c *Cluster) SetAuthority(a Authority) {
	c.auth = a
	if a != nil {
		id := c.self.idw()
		id.pubKey = a.PublicKey()
		id.headDirty = true
	}
}

// Identity reports whether identity mode is on.
func (c *Cluster) Identity() bool { return c.auth != nil }

// freshHead re-signs the local node's head when its version or epoch
// moved since the last signature: lazily, so a burst of writes pushed
// together costs one head signature.
func (c *Cluster) freshHead() {
	n := c.self
	if c.auth == nil {
		return
	}
	ep := n.Heartbeat >> epochShift
	id := n.idw()
	if !id.headDirty && id.head.Version == n.Version && id.head.Epoch == ep && id.head.Sig != nil {
		return
	}
	h := Head{Version: n.Version, Epoch: ep}
	c.auth.SignHead(n.ID, &h)
	id.head = h
	id.headDirty = false
}

// attach fills what identity mode adds to a node delta of n.
func (c *Cluster) attach(nd *NodeDelta, n *Node) {
	if c.auth == nil {
		return
	}
	if n == c.self {
		c.freshHead()
	} else {
		c.promoteHead(n)
	}
	nd.PubKey = n.PubKey()
	nd.Head = n.Head()
}

// admitIdentity checks a delta's key and head before the node it names is
// created or replaced: the key must be bound to the name and the head
// signed for this very incarnation.
func (c *Cluster) admitIdentity(nd *NodeDelta) bool {
	if c.auth == nil {
		return true
	}
	if len(nd.PubKey) == 0 || nd.Head.Sig == nil {
		c.auth.Unsigned(nd.ID)
		return false
	}
	// The signature first: a key that cannot sign for this incarnation
	// must not get pinned to the name on first use.
	return c.auth.VerifyHead(nd.ID, nd.PubKey, &nd.Head) && c.auth.Bind(nd.ID, nd.PubKey)
}

// takeHead adopts a delta's head for a held node when it is newer. It
// verifies it at once only when this delta needs it (a version range
// beyond its entries, or a heartbeat epoch beyond the held head): a push
// of fresh entries is believed on their own signatures, and its head is
// kept as an unverified candidate (nextHead), verified when this replica
// sends the node's state on (attach) or a later delta needs it. One
// verification per pushed entry instead of two, at every receiver.
func (c *Cluster) takeHead(n *Node, nd *NodeDelta) {
	if c.auth == nil || nd.Head.Sig == nil {
		return
	}
	h := &nd.Head
	held := n.Head()
	if !newerHead(h, &held) {
		return
	}
	if len(nd.PubKey) > 0 && !bytesEqual(nd.PubKey, n.PubKey()) {
		return // a key other than the incarnation's: refused at admission
	}
	last := nd.From
	if len(nd.Entries) > 0 {
		last = nd.Entries[len(nd.Entries)-1].Version
	}
	id := n.idw()
	if nd.Heartbeat>>epochShift <= held.Epoch && nd.To <= max(held.Version, last) {
		if id.nextHead == nil || newerHead(h, id.nextHead) {
			hc := *h
			id.nextHead = &hc
		}
		return
	}
	if c.auth.VerifyHead(n.ID, id.pubKey, h) {
		id.head = *h
		if id.nextHead != nil && !newerHead(id.nextHead, h) {
			id.nextHead = nil
		}
	}
}

// promoteHead verifies the candidate head, adopting it when good.
func (c *Cluster) promoteHead(n *Node) {
	id := n.ident
	if id == nil {
		return
	}
	h := id.nextHead
	id.nextHead = nil
	if c.auth != nil && h != nil && newerHead(h, &id.head) && c.auth.VerifyHead(n.ID, id.pubKey, h) {
		id.head = *h
	}
}

func newerHead(a, b *Head) bool {
	return a.Version > b.Version || a.Version == b.Version && a.Epoch > b.Epoch
}

// epochOK refuses a heartbeat of another node whose epoch is beyond its
// signed head: a refutation is the owner's word, nobody else's.
func (c *Cluster) epochOK(n *Node, next uint64) bool {
	if c.auth == nil || n == c.self || next>>epochShift <= n.Head().Epoch {
		return true
	}
	if c.promoteHead(n); next>>epochShift <= n.Head().Epoch {
		return true
	}
	c.auth.EpochRefused(n.ID, next)
	return false
}

// versionBound is the highest version of n a delta may advance it to.
func (c *Cluster) versionBound(n *Node, to uint64) uint64 {
	if c.auth == nil || to <= n.Head().Version || to <= n.Version {
		return to // nothing beyond what the entries proved
	}
	if c.promoteHead(n); to <= n.Head().Version {
		return to
	}
	c.auth.BeyondHead(n.ID, to)
	return n.Head().Version
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// refuseMixed drops, with identity mode off, a node delta that carries a
// key: its sender runs in identity mode, and merging what we hold with it
// would feed it unsigned state it refuses. Both sides count the refusal.
func (c *Cluster) refuseMixed(nd *NodeDelta) bool {
	if c.auth != nil || len(nd.PubKey) == 0 {
		return false
	}
	c.mixed++
	return true
}

// MixedRefused counts node deltas refused by refuseMixed.
func (c *Cluster) MixedRefused() uint64 { return c.mixed }
