package protocol

import (
	"crypto/ed25519"
	"errors"
	"time"

	"github.com/telepathine/telepathine/engine/internal/identity"
	"github.com/telepathine/telepathine/engine/internal/state"
	"github.com/telepathine/telepathine/engine/internal/wire"
)

// Identity configures identity mode (issue 13): nil in Config turns it
// off. See engine/internal/identity for what is signed and why.
type Identity struct {
	// Keys is this peer's key pair.
	Keys identity.KeyPair
	// Pins decides which key may speak for which name (allow-list, TOFU).
	Pins *identity.Pins
	// Verifier checks signatures (default: one with DefaultCacheSize).
	Verifier *identity.Verifier
	// TombstoneSkew is how far in the future a tombstone's date may be
	// (the owner's clock ahead of ours). A set's pre-signed expiry is a
	// tombstone dated at the expiry: refusing future dates stops a relay
	// from delivering it early by more than this. Default 2 s.
	TombstoneSkew time.Duration
}

// authority is the core's state.Authority.
type authority struct {
	c   *Core
	cfg *Identity
	buf []byte // canonical bytes, reused (the core is single-threaded)
}

func (c *Core) initIdentity() {
	id := c.cfg.Identity
	if id == nil {
		return
	}
	if id.Verifier == nil {
		id.Verifier = identity.NewVerifier(0)
	}
	if id.Pins == nil {
		id.Pins = identity.NewPins(nil, false)
	}
	if id.TombstoneSkew <= 0 {
		id.TombstoneSkew = 2 * time.Second
	}
	c.auth = &authority{c: c, cfg: id}
}

// IdentityOn reports whether identity mode is on.
func (c *Core) IdentityOn() bool { return c.auth != nil }

// VerifierStats returns the signature checks done (zero when off).
func (c *Core) VerifierStats() identity.VerifierStats {
	if c.auth == nil {
		return identity.VerifierStats{}
	}
	return c.auth.cfg.Verifier.Stats()
}

func (a *authority) PublicKey() []byte { return a.cfg.Keys.Public }

func entryOf(owner state.NodeID, e *state.Entry) identity.Entry {
	return identity.Entry{
		Owner: owner.Name, Generation: owner.Generation, Version: e.Version,
		Kind: uint8(e.Kind), Key: e.Key, Value: e.Value, Encoding: uint8(e.Encoding), ExpiresAt: e.ExpiresAt,
	}
}

func (a *authority) SignEntry(self state.NodeID, e *state.Entry) {
	ie := entryOf(self, e)
	a.buf = identity.AppendEntryMessage(a.buf[:0], &ie)
	e.Sig = a.cfg.Keys.Sign(a.buf)
	if e.Kind == state.KindSet && e.ExpiresAt != 0 {
		ie.Kind, ie.Value, ie.Encoding = uint8(state.KindTombstone), nil, 0
		a.buf = identity.AppendEntryMessage(a.buf[:0], &ie)
		e.ExpirySig = a.cfg.Keys.Sign(a.buf)
	}
}

func (a *authority) SignHead(self state.NodeID, h *state.Head) {
	a.buf = identity.AppendHeadMessage(a.buf[:0], &identity.Head{
		Owner: self.Name, Generation: self.Generation, Version: h.Version, Epoch: h.Epoch,
	})
	h.Sig = a.cfg.Keys.Sign(a.buf)
}

func (a *authority) Bind(id state.NodeID, pub []byte) bool {
	err := a.cfg.Pins.Check(id.Name, pub)
	if err == nil {
		return true
	}
	c := a.c
	if errors.Is(err, identity.ErrKeyChanged) {
		c.stats.KeyChanged++
		c.warn(c.gate.now, "refused a second key for a pinned name", "peer", id.Name, "from", c.gate.from)
	} else {
		c.stats.NotAllowed++
		c.warn(c.gate.now, "refused a peer whose key is not allowed", "peer", id.Name, "from", c.gate.from)
	}
	return false
}

func (a *authority) VerifyHead(id state.NodeID, pub []byte, h *state.Head) bool {
	a.buf = identity.AppendHeadMessage(a.buf[:0], &identity.Head{
		Owner: id.Name, Generation: id.Generation, Version: h.Version, Epoch: h.Epoch,
	})
	if a.cfg.Verifier.Verify(ed25519.PublicKey(pub), a.buf, h.Sig) {
		return true
	}
	a.c.stats.BadSignature++
	a.c.warn(a.c.gate.now, "dropped a head with a bad signature", "peer", id.Name, "from", a.c.gate.from)
	return false
}

func (a *authority) VerifyEntry(id state.NodeID, pub []byte, e *state.Entry, now int64) bool {
	if e.Kind == state.KindTombstone && e.ExpiresAt > now+a.cfg.TombstoneSkew.Milliseconds() {
		a.c.stats.BadSignature++
		return false // an expiry delivered before its time
	}
	ie := entryOf(id, e)
	a.buf = identity.AppendEntryMessage(a.buf[:0], &ie)
	if a.cfg.Verifier.Verify(ed25519.PublicKey(pub), a.buf, e.Sig) {
		return true
	}
	a.c.stats.BadSignature++
	a.c.warn(a.c.gate.now, "dropped an entry with a bad signature", "peer", id.Name, "version", e.Version, "from", a.c.gate.from)
	return false
}

func (a *authority) Unsigned(id state.NodeID) {
	a.c.stats.Unsigned++
	a.c.warn(a.c.gate.now, "refused an unsigned node delta: this peer runs in identity mode and its sender does not", "peer", id.Name, "from", a.c.gate.from)
}

func (a *authority) BeyondHead(id state.NodeID, to uint64) {
	a.c.stats.BeyondHead++
	a.c.warn(a.c.gate.now, "clamped a version range beyond the peer's signed head", "peer", id.Name, "to", to, "from", a.c.gate.from)
}

func (a *authority) EpochRefused(id state.NodeID, hb uint64) {
	a.c.stats.BadHeartbeat++
	a.c.warn(a.c.gate.now, "refused a heartbeat epoch the peer did not sign", "peer", id.Name, "heartbeat", hb, "from", a.c.gate.from)
}

// SetIdentityKeys replaces the key pair while the core is stopped (a
// re-key): the next Start's incarnation is signed with it.
func (c *Core) SetIdentityKeys(kp identity.KeyPair) error {
	if c.auth == nil {
		return errors.New("protocol: identity mode is off")
	}
	if c.running {
		return errors.New("protocol: re-key a stopped peer only")
	}
	c.auth.cfg.Keys = kp
	return nil
}

var _ state.Authority = (*authority)(nil)

// setAuthority puts the authority on a new state and pins our own key.
func (c *Core) setAuthority() {
	if c.auth == nil {
		return
	}
	c.st.SetAuthority(c.auth)
	c.members.strict = true
}

func replyOf(replier state.NodeID, r *wire.ReplyMsg) identity.Reply {
	return identity.Reply{
		Replier: replier.Name, Generation: replier.Generation, AskNode: r.AskNode,
		AskVersion: r.AskVersion, Value: r.Value, Encoding: uint8(r.Encoding),
	}
}

// signReply signs a reply of self.
func (a *authority) signReply(self state.NodeID, r *wire.ReplyMsg) {
	ir := replyOf(self, r)
	a.buf = identity.AppendReplyMessage(a.buf[:0], &ir)
	r.Sig = a.cfg.Keys.Sign(a.buf)
}

// verifyReply checks a reply against the key held for the incarnation it
// names as its sender: a reply whose sender is unknown here, or another
// incarnation, or whose signature fails, is dropped and counted.
func (a *authority) verifyReply(pk *wire.Packet) bool {
	n, ok := a.c.st.Node(pk.Sender.Name)
	if ok && n.ID.Generation == pk.Sender.Generation {
		ir := replyOf(pk.Sender, &pk.Reply)
		a.buf = identity.AppendReplyMessage(a.buf[:0], &ir)
		if a.cfg.Verifier.Verify(ed25519.PublicKey(n.PubKey()), a.buf, pk.Reply.Sig) {
			return true
		}
	}
	a.c.stats.BadSignature++
	a.c.warn(a.c.gate.now, "dropped a reply with a bad signature", "peer", pk.Sender.Name, "from", a.c.gate.from)
	return false
}

// warnMixed logs, on a peer with identity mode off, that a packet carried
// state of a peer with identity mode on, refused (the state counts it).
func (c *Core) warnMixed(now time.Time, from string) {
	if c.auth != nil {
		return
	}
	if m := c.st.MixedRefused(); m != c.mixedSeen {
		c.mixedSeen = m
		c.warn(now, "refused the state of a peer in identity mode: this peer runs without it (set Config.Identity on every peer or on none)", "from", from)
	}
}

// IdentityPins returns the pins in use (nil when identity mode is off).
// They are safe for concurrent use.
func (c *Core) IdentityPins() *identity.Pins {
	if c.auth == nil {
		return nil
	}
	return c.auth.cfg.Pins
}

// prewarm checks the signatures of a delta's entries before the delta is
// applied, so that applying it (one VerifyEntry per entry, in version
// order) finds them in the cache. A run its owner signed as a whole
// (RunSig, on the owner's pushes) costs one check for all its entries;
// the other entries go in one batch: a catch-up, a reset or a relayed
// push of many entries costs a third of the single checks. A run
// signature that fails proves nothing: its entries go into the batch (or
// to their own checks), which decide, and count, which ones are bad.
// Only owners whose key we already hold are proved here: the key a
// newcomer presents is checked against the pins when its delta is
// applied, not here, so prewarm never pins or trusts anything by itself.
func (c *Core) prewarm(d *state.Delta) {
	if c.auth == nil {
		return
	}
	a := c.auth
	var items []identity.Signed
	for i := range d.Nodes {
		nd := &d.Nodes[i]
		n, ok := c.st.Node(nd.ID.Name)
		if !ok || len(n.PubKey()) == 0 {
			continue
		}
		pub := ed25519.PublicKey(n.PubKey())
		if len(nd.RunSig) > 0 {
			if r, ok := runOf(nd); ok && a.cfg.Verifier.ProveRun(pub, &r, nd.RunSig) > 0 {
				continue // every entry is in the cache now
			}
		}
		for _, e := range nd.Entries {
			if len(e.Sig) == 0 || (n.ID.Generation == nd.ID.Generation && e.Version <= n.Version) {
				continue
			}
			ie := entryOf(nd.ID, e)
			items = append(items, identity.Signed{
				Pub: pub, Msg: identity.AppendEntryMessage(nil, &ie), Sig: e.Sig,
			})
		}
	}
	if len(items) >= identity.MinBatch {
		a.cfg.Verifier.VerifyBatch(items)
	}
}

// runOf is the run an owner signs, or a receiver proves, for nd: false
// when an entry carries no signature (nothing to vouch for).
func runOf(nd *state.NodeDelta) (identity.Run, bool) {
	r := identity.Run{Owner: nd.ID.Name, Generation: nd.ID.Generation, From: nd.From, To: nd.To,
		Entries: make([]identity.Signed, len(nd.Entries))}
	for j, e := range nd.Entries {
		if len(e.Sig) == 0 {
			return identity.Run{}, false
		}
		ie := entryOf(nd.ID, e)
		r.Entries[j] = identity.Signed{Msg: identity.AppendEntryMessage(nil, &ie), Sig: e.Sig}
	}
	return r, true
}
