package protocol

import (
	crand "crypto/rand"
	"errors"
	"math"
	"math/rand/v2"
	"net"
	"time"

	"github.com/telepathine/telepathine/engine/internal/guard"
	"github.com/telepathine/telepathine/engine/internal/seal"
	"github.com/telepathine/telepathine/engine/internal/state"
	"github.com/telepathine/telepathine/engine/internal/wire"
	"golang.org/x/time/rate"
)

// Trust is how the core judges what arrives (issue 11): the envelope, the
// replay window, the anti-amplification rule, rate limits and sanity
// bounds. Zero fields take safe defaults at New, except Amp: nil turns the
// 3x rule off (the in-process simulations that do not exercise it).
type Trust struct {
	// Sealer seals what leaves and opens what arrives. Default: plain
	// envelopes (CRC-32C) for Config.Cluster.
	Sealer *seal.Sealer
	// Replay refuses replayed encrypted packets. Default: one created at
	// the first Start.
	Replay *guard.Replay
	// Amp limits replies to addresses that have not proved they receive.
	Amp *guard.Amplification
	// BadCluster meters BadCluster replies per source and globally.
	// Default: 1/s per source (burst 2), 20/s in all (burst 40).
	BadCluster *guard.Limiter
	// NewPeers meters the peers a source may introduce. Default: 32/s per
	// source (burst 64); in all, one peer table at once (burst
	// Limits.MaxNodes, at least 512) and a quarter of it a second (at
	// least 256/s). A configured seed that proved its address is held to
	// the global bucket alone, so a joiner learns the whole cluster from
	// its seed in one exchange: a global burst of 512 held a 1,024-peer
	// join to 31 simulated rounds where it takes 2, and a 4,096-peer join
	// to 14 s. The table itself bounds the memory a forged flood takes
	// (strangers introduced by a third party evict nobody), the 3x rule
	// the traffic toward the addresses it names, and the per-source and
	// per-packet bounds what one source introduces.
	NewPeers *guard.Limiter
	// NewPeersPerPacket is K, the most new peers one packet introduces
	// when its source is not proven. Default
	// guard.DefaultMaxNewPeersPerPacket (8).
	//
	// A packet from a proven source (an address that echoed one of our
	// tokens, a TCP connection from the sender's own host, or an envelope
	// that authenticated under the cluster key) is bounded by NewPeers
	// alone: K guards against one spoofed datagram naming hundreds of
	// strangers, and such a datagram cannot come from a proven source.
	// Held to K, a 256-peer join through one seed learnt 8 peers per
	// answer: the answers carried every line asked for, dropped all but 8,
	// and were asked again round after round (95,000 refusals and twice
	// the rounds in the simulator; on loopback, the extra full-digest
	// rounds and their TCP deltas saturated two cores for 15 s).
	NewPeersPerPacket int
	// GenerationSkew is how far in the future a generation may be.
	// Default guard.DefaultGenerationSkew (1 min).
	GenerationSkew time.Duration
	// UnverifiedGrace is how long a dead peer that was never heard from
	// at its own address is kept (instead of DeadGrace): a forged
	// stranger leaves the table quickly. Default 30 heartbeat intervals.
	UnverifiedGrace time.Duration
	// Route maps an address to where packets for it are really sent (the
	// engine's AddressMap), so a SynAck's source can be matched with the
	// Syn's target. Default identity.
	Route func(string) string
}

// ErrAmplification is returned by Encode for a reply withheld by the 3x
// rule: its address has not proved it receives what we send.
var ErrAmplification = errors.New("protocol: reply withheld until the address is validated")

// tokenTTL bounds how long a Syn's token waits for its SynAck.
const tokenTTL = 5 * time.Second

// maxTokens bounds the tokens waiting: a few targets per round, a few
// follow-ups, for tokenTTL.
const maxTokens = 4096

type pendingToken struct {
	addr string
	at   time.Time
}

func (c *Core) initTrust() {
	t := &c.cfg.Trust
	if t.Sealer == nil {
		s, err := seal.New(seal.Options{Cluster: c.cfg.Cluster, Keyring: &seal.Keyring{}})
		if err != nil {
			panic(err) // crypto/rand failing is not something to run on
		}
		t.Sealer = s
	}
	if t.BadCluster == nil {
		t.BadCluster = guard.NewLimiter(guard.LimitConfig{Rate: 1, Burst: 2, GlobalRate: 20, GlobalBurst: 40})
	}
	if t.NewPeers == nil {
		table := max(512, c.cfg.Limits.MaxNodes)
		t.NewPeers = guard.NewLimiter(guard.LimitConfig{Rate: 32, Burst: 64, GlobalRate: rate.Limit(max(256, table/4)), GlobalBurst: table})
	}
	if t.NewPeersPerPacket <= 0 {
		t.NewPeersPerPacket = guard.DefaultMaxNewPeersPerPacket
	}
	if t.GenerationSkew <= 0 {
		t.GenerationSkew = guard.DefaultGenerationSkew
	}
	if t.UnverifiedGrace <= 0 {
		t.UnverifiedGrace = 30 * c.cfg.HeartbeatInterval
	}
	if t.Route == nil {
		t.Route = func(s string) string { return s }
	}
	c.tokens = make(map[uint64]pendingToken)
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // crypto/rand.Read never fails (Go 1.24+)
	c.tokenRng = rand.NewChaCha8(seed)
	c.gate = &gate{c: c}
}

// Sealer returns the envelope in use (for key management).
func (c *Core) Sealer() *seal.Sealer { return c.cfg.Trust.Sealer }

// AmpStats returns the anti-amplification counters (zero without Amp).
func (c *Core) AmpStats() guard.AmpStats {
	if c.cfg.Trust.Amp == nil {
		return guard.AmpStats{}
	}
	return c.cfg.Trust.Amp.Stats()
}

// open removes the envelope (checksum or decryption, then the replay
// window) and decodes what it held. Every refusal is counted by cause.
func (c *Core) open(now time.Time, from string, data []byte) (*wire.Packet, error) {
	payload, h, err := c.cfg.Trust.Sealer.Open(data, now)
	if err != nil {
		c.countSealError(now, from, err)
		return nil, err
	}
	if h.Encrypted {
		if v := c.replay.Check(h.Session, h.Counter, h.SentMs, now); v != guard.Accepted {
			c.stats.Replayed++
			c.warn(now, "dropped a replayed or stale packet", "from", from, "verdict", v.String())
			return nil, errReplayed
		}
	}
	c.sealedIn = h.Encrypted
	pk, err := wire.Decode(payload, wire.Limits{MaxPacket: c.cfg.MaxPacketSize, Sealed: h.Encrypted})
	if err != nil {
		c.countDecodeError(err)
		return nil, err
	}
	if h.Encrypted && pk.Cluster == "" {
		// Left out by the sender (see Encode): the packet authenticated
		// under our cluster name, so it is ours. A packet that does name a
		// cluster keeps the name it has.
		pk.Cluster = c.cfg.Cluster
	}
	return pk, nil
}

var errReplayed = errors.New("protocol: replayed packet")

func (c *Core) countSealError(now time.Time, from string, err error) {
	switch {
	case errors.Is(err, seal.ErrChecksum):
		c.stats.Checksum++
	case errors.Is(err, seal.ErrAuth):
		c.stats.AuthFailed++
	case errors.Is(err, seal.ErrPlaintextRefused):
		c.stats.Plaintext++
		c.warn(now, "refused a plaintext packet: this peer requires encryption", "from", from)
	case errors.Is(err, seal.ErrNoKey):
		c.stats.NoKey++
		c.warn(now, "refused an encrypted packet: this peer has no key", "from", from)
	case errors.Is(err, seal.ErrUnknownKey):
		c.stats.UnknownKey++
		c.warn(now, "refused a packet sealed with a key not installed here", "from", from)
	case errors.Is(err, seal.ErrVersion):
		c.stats.BadVersion++
	default:
		c.stats.Malformed++
	}
}

// Encode turns an outgoing packet into sealed bytes, at now (the send time
// an encrypted envelope carries). It reads only what is safe without the
// runtime's lock (the immutable configuration and the concurrency-safe
// Sealer and Amplification), so the runtime calls it after releasing its
// lock. A reply to an address not yet validated is checked against the 3x
// rule here, where its size is known: ErrAmplification withholds it.
func (c *Core) Encode(now time.Time, o Outgoing) ([]byte, error) {
	t := &c.cfg.Trust
	enc := t.Sealer.Encrypts()
	pk, encode := o.Packet, wire.Encode
	if enc {
		// An encrypted envelope binds the cluster name as additional data
		// and authenticates the packet, so neither the name nor the magic
		// number need travel inside it: the receiver fills the name in once
		// the packet authenticated (open). About 11 bytes of every packet,
		// most of which are small.
		encode = wire.EncodeSealed
		if pk.Cluster != "" {
			cp := *pk
			cp.Cluster = ""
			pk = &cp
		}
	}
	b, err := encode(pk)
	if err != nil {
		return nil, err
	}
	if o.Pad {
		// Fill the datagram, so that the receiver's 3x credit covers a
		// SynAck worth having (QUIC pads its Initials the same way). The
		// sealed datagram aims at the same size in both modes: the credit
		// is what it is for, and an encrypted envelope takes its extra
		// bytes out of the filler (assuming a 2-byte counter; the check
		// below keeps the largest envelope within the MTU).
		room := c.cfg.MTU - seal.MaxEncryptedOverhead - len(b) - 16
		if enc {
			room -= seal.MinEncryptedOverhead + 1 - seal.PlainOverhead
		}
		if room > 0 {
			pp := *pk
			pp.Padding = room
			if pb, err := encode(&pp); err == nil && len(pb)+seal.MaxEncryptedOverhead <= c.cfg.MTU {
				b = pb
			}
		}
	}
	sealed, err := c.sealBytes(now, b, enc)
	if err != nil {
		return nil, err
	}
	if !o.Limited || t.Amp == nil || t.Amp.Allow(o.To, len(sealed), now) {
		return sealed, nil
	}
	if pk.Type == wire.SynAck && !pk.Delta.Empty() {
		// Too big for the credit: answer with the digest alone. It echoes
		// the token (so the initiator validates us and its Ack flows) and
		// asks for what we lack; the delta follows once the address is
		// validated by our own Syn. Without this a joiner facing a large
		// state would wait rounds for enough credit.
		pd := *pk
		pd.Delta = state.Delta{}
		if b, err = encode(&pd); err == nil {
			if sealed, err = c.sealBytes(now, b, enc); err == nil && t.Amp.Allow(o.To, len(sealed), now) {
				return sealed, nil
			}
		}
	}
	return nil, ErrAmplification
}

// sealBytes seals b into a buffer of exactly the room the envelope needs:
// the transport takes ownership of what Encode returns, so the buffer cannot
// come from a pool, but it is the only allocation of sealing (the nonce and
// additional data use the Sealer's pooled scratch).
func (c *Core) sealBytes(now time.Time, b []byte, encrypted bool) ([]byte, error) {
	if len(b)+seal.MaxEncryptedOverhead > c.cfg.MaxPacketSize {
		return nil, ErrOversized
	}
	return c.cfg.Trust.Sealer.SealAs(make([]byte, 0, len(b)+seal.MaxEncryptedOverhead), b, now, encrypted)
}

// replyTo is where the answer to a packet goes. A datagram is answered at
// the address it came from, never at the address written inside it (which
// anyone can write), and under the 3x rule until that address is validated.
// A TCP frame came over a connection whose handshake proved its host
// receives; it is answered at the sender's advertised port on that host, and
// not at all when the advertised host is another one.
func (c *Core) replyTo(from string, stream bool, pk *wire.Packet) (to string, limited, ok bool) {
	if !stream {
		return from, true, true
	}
	if sameHost(from, pk.Sender.Addr) {
		return pk.Sender.Addr, false, true
	}
	c.stats.Unanswered++
	return "", false, false
}

func sameHost(a, b string) bool {
	ha, _, err1 := net.SplitHostPort(a)
	hb, _, err2 := net.SplitHostPort(b)
	return err1 == nil && err2 == nil && ha == hb
}

// newToken draws a token for a Syn to addr and remembers it until its
// SynAck comes back (or tokenTTL passes).
func (c *Core) newToken(addr string, now time.Time) uint64 {
	if len(c.tokens) >= maxTokens {
		return 0
	}
	// Not the core's seeded generator: a peer that sees our Syns must not
	// be able to predict the tokens we send to others.
	tok := c.tokenRng.Uint64() | 1
	c.tokens[tok] = pendingToken{addr: addr, at: now}
	return tok
}

func (c *Core) expireTokens(now time.Time) {
	for tok, p := range c.tokens {
		if now.Sub(p.at) > tokenTTL {
			delete(c.tokens, tok)
		}
	}
}

// checkToken validates the address a SynAck came from when it echoes the
// token of a Syn we sent there: only a receiver of that Syn knows it.
func (c *Core) checkToken(now time.Time, from string, stream bool, tok uint64) {
	p, ok := c.tokens[tok]
	if tok == 0 || !ok {
		return
	}
	delete(c.tokens, tok)
	amp := c.cfg.Trust.Amp
	if amp == nil {
		return
	}
	target := c.cfg.Trust.Route(p.addr)
	switch {
	case !stream && (from == target || from == p.addr):
		amp.Validated(from, now)
	case stream && (sameHost(from, target) || sameHost(from, p.addr)):
		amp.Validated(target, now)
	}
}

// padFirstSyns is true but in the test that measures what padding buys.
var padFirstSyns = true

// synTo builds the Syn for one target: a token to validate its address,
// and padding when it is not validated yet and the digest lists lines.
// A quiet Syn (a fingerprint and no lines) is never padded: its usual
// answer is a SynAck of a few bytes, which the 3x credit of the Syn
// itself covers, and the token it carries validates the address for the
// next exchange. Padding it cost a datagram of filler to every peer not
// contacted within the validity (10 min), that is most quiet Syns once a
// cluster is a few hundred peers: 1.35 KB for a 60-byte Syn.
func (c *Core) synTo(addr string, digest state.Digest, now time.Time) Outgoing {
	pk := c.stamp(&wire.Packet{Type: wire.Syn, Digest: digest})
	pk.Token = c.newToken(addr, now)
	o := Outgoing{To: addr, Packet: pk}
	if amp := c.cfg.Trust.Amp; padFirstSyns && amp != nil && !c.cfg.TCPOnly && len(digest.Entries) > 0 &&
		!amp.IsValidated(c.cfg.Trust.Route(addr), now) {
		o.Pad = true
	}
	return o
}

// probe sends a compact Syn at once to a peer that just introduced itself
// from an address not validated yet: its SynAck echoes the token, so our
// full answers flow a round trip later instead of whenever a gossip round
// happens to pick it. Unpadded and under the 3x rule itself, so a forged
// introduction reflects no more than any other reply.
func (c *Core) probe(now time.Time, from string, out *Output) {
	amp := c.cfg.Trust.Amp
	if amp == nil || amp.IsValidated(from, now) {
		return
	}
	o := c.synTo(from, c.st.CompactDigest(), now)
	o.Pad, o.Limited = false, true
	// One byte of filler: a padded Syn is answered even when the
	// fingerprints agree (onSyn), and only that answer, echoing the token,
	// validates the address. A joiner that has just learnt all we held
	// agrees with us, and left unanswered, our next answer to it (its
	// whole state, in a concurrent join) was cut to a digest under the 3x
	// rule: at N = 256 in the simulator a fifth of the joiners lagged a
	// round or two for it.
	o.Packet.Padding = 1
	out.Packets = append(out.Packets, o)
}

// verify records that a packet of sender arrived straight from its own
// address: the peer is no unverified stranger.
func (c *Core) verify(sender state.NodeID, from string, stream bool) {
	m := c.members.byName[sender.Name]
	if m == nil || m.verified {
		return
	}
	if from == sender.Addr || from == c.cfg.Trust.Route(sender.Addr) || stream && sameHost(from, sender.Addr) {
		m.verified = true
	}
}

// wantSender asks a peer that introduced itself from its own address for
// its identity even when the table is full (Compare asks about no stranger
// then): a real newcomer must reach Evict, which makes room for it.
func (c *Core) wantSender(pk *wire.Packet, cmp *state.Comparison) {
	if c.gate.direct != pk.Sender.Name {
		return
	}
	if _, known := c.st.Node(pk.Sender.Name); known {
		return
	}
	key := pk.Sender.Key()
	for _, w := range cmp.Wants {
		if w.Key == key {
			return
		}
	}
	cmp.Wants = append(cmp.Wants, state.DigestEntry{Key: key})
}

// gate is the core's state.Gate: the sanity bounds applied while a packet
// from the network is merged.
type gate struct {
	c        *Core
	now      time.Time
	from     string
	direct   string // the sender's name when the packet came from its own address
	sender   state.NodeID
	admitted int
	// proven: the source is not spoofed (see Trust.NewPeersPerPacket), so
	// the rate limits alone bound the strangers it introduces.
	proven bool
	// seed: proven, from its own address, and one of the configured
	// seeds: the global rate alone bounds the strangers it introduces.
	seed bool
}

func (g *gate) begin(now time.Time, from string, pk *wire.Packet, stream bool) {
	g.now, g.from, g.admitted, g.direct = now, from, 0, ""
	g.sender = pk.Sender
	a := pk.Sender.Addr
	if from == a || from == g.c.cfg.Trust.Route(a) || stream && sameHost(from, a) {
		g.direct = pk.Sender.Name
	}
	amp := g.c.cfg.Trust.Amp
	g.proven = g.c.sealedIn || stream && g.direct != "" || amp != nil && amp.IsValidated(from, now)
	g.seed = g.proven && g.direct != "" && g.c.seeds[a]
}

// Admit bounds the strangers one packet and one source introduce.
func (g *gate) Admit(id state.NodeID) bool {
	t := &g.c.cfg.Trust
	// A configured seed that proved its address (the operator named it)
	// is held to the global rate only: a joiner asks it for every line it
	// holds (seedFirst), and held to a source's burst of 64 it learnt 64
	// peers, the rest of the answer sent, decoded and dropped.
	allowed := g.seed && t.NewPeers.AllowGlobal(g.now) || !g.seed && t.NewPeers.Allow(g.from, g.now)
	if !g.proven && g.admitted >= t.NewPeersPerPacket || !allowed {
		g.c.stats.NewPeersRefused++
		return false
	}
	g.admitted++
	return true
}

// Evict names a peer to drop so that a peer introducing itself from its own
// address gets in at MaxPeers; a stranger introduced by a third party never
// evicts anyone, and nobody ever evicts a live verified peer.
func (g *gate) Evict(id state.NodeID) string {
	if id.Name != g.direct {
		g.c.stats.NewPeersRefused++
		return ""
	}
	// Candidates: unverified peers, and dead ones (a forged peer that
	// spoke once from its own address is verified, but it never beats).
	// Rank: unverified dead, unverified alive, verified dead or silent;
	// then the longest known. A live verified peer is never a candidate
	// unless it is silent: its heartbeat never advanced since it was first
	// held, UnverifiedGrace ago. Ring watchers judge liveness now, and a
	// forged peer whose watchers are forged too is never declared dead, so
	// "dead" alone would leave the table full of them; a real peer's
	// heartbeat advances while its join makes the cluster busy.
	silent := func(m *member) bool {
		return !m.hbAt.After(m.since) && g.now.Sub(m.since) > g.c.cfg.Trust.UnverifiedGrace
	}
	rank := func(m *member) int {
		switch {
		case !m.verified && !m.alive:
			return 0
		case !m.verified:
			return 1
		case !m.alive || silent(m):
			return 2
		}
		return -1
	}
	var victim string
	var victimRank int
	var victimSince time.Time
	for name, m := range g.c.members.byName {
		r := rank(m)
		if r < 0 {
			continue
		}
		if victim == "" || r < victimRank || r == victimRank && m.since.Before(victimSince) {
			victim, victimRank, victimSince = name, r, m.since
		}
	}
	if victim == "" {
		g.c.stats.NewPeersRefused++
		return ""
	}
	if m := g.c.members.byName[victim]; m.accused {
		g.c.st.Retract(victim)
	}
	delete(g.c.members.byName, victim)
	delete(g.c.members.accusers, victim)
	g.c.members.forgetAccuser(victim)
	g.c.members.changed()
	g.c.stats.Evicted++
	return victim
}

// Generation refuses a generation beyond now + GenerationSkew.
func (g *gate) Generation(id state.NodeID) bool {
	if guard.GenerationOK(id.Generation, g.now, g.c.cfg.Trust.GenerationSkew) {
		return true
	}
	g.c.stats.BadGeneration++
	g.c.warn(g.now, "refused a generation in the future", "peer", id.Name, "from", g.from)
	return false
}

// Heartbeat refuses a heartbeat that grew faster than time allows since
// the last one accepted.
//
// A heartbeat is a refutation epoch (high 32 bits, see epochShift) and a
// beat count within the epoch (low 32 bits). A peer suspected by its
// watchers refutes by starting a new epoch: a legitimate jump of 2^32 or
// more that no rate bound on the whole number could admit, and the very
// jump a forger would send to mask a peer's real beats. So:
//   - within an epoch, the beat count is bounded as before (by the time
//     since the last accepted advance, or by the peer's uptime);
//   - a new epoch's count started at 0 with the refutation, so it gets
//     the same bound from 0;
//   - the peer itself, in a packet it sent from its own address (a Beat,
//     or its own line or delta), may start any number of epochs;
//   - relayed by a third party, the epoch may move on by one, plus one
//     per HeartbeatInterval since the last accepted advance. Relays must
//     be able to carry it: a refutation is pushed straight to the live
//     peers only, and a quiet Syn carries no line of its sender, so a
//     peer that missed the push learns the new epoch from others or,
//     taking it for dead, never (found by TestSimNoFalseDeathAtTenPercentLoss
//     when relayed epochs were refused). A refutation needs a suspicion
//     first, which takes several intervals, so real epochs stay within the
//     bound, and a forged one gains a single epoch per accepted jump,
//     which the peer outruns by refuting again, instead of 2^31 at once.
func (g *gate) Heartbeat(id state.NodeID, prev, next uint64) bool {
	m := g.c.members.byName[id.Name]
	if m == nil || prev == 0 {
		// No heartbeat of this incarnation accepted yet: nothing to measure
		// a jump from (an in-process restart keeps counting from its
		// previous incarnation's heartbeat).
		return true
	}
	if next <= prev {
		return true // stale, not a jump; the protocol ignores it
	}
	b := guard.HeartbeatBound{Interval: g.c.cfg.HeartbeatInterval}
	const low = 1<<epochShift - 1
	elapsed := g.now.Sub(m.hbAt)
	// A peer beats at most once an interval since it started (prev may
	// have been stale when it arrived: relayed, delayed), and its
	// generation is its start time, so its uptime bounds a count too.
	up := g.now.Sub(time.Unix(0, int64(min(id.Generation, math.MaxInt64))))
	countOK := func(from, to uint64) bool {
		return b.OK(from, to, elapsed) || up > 0 && b.OK(0, to, up)
	}
	ok := false
	switch {
	case epoch(next) == epoch(prev):
		ok = countOK(prev&low, next&low)
	case g.sender.Name == id.Name && g.sender.Generation == id.Generation && g.direct == id.Name:
		ok = countOK(0, next&low)
	default:
		steps := uint64(1)
		if iv := g.c.cfg.HeartbeatInterval; iv > 0 && elapsed > 0 {
			steps += uint64(elapsed / iv)
		}
		ok = epoch(next)-epoch(prev) <= steps && countOK(0, next&low)
	}
	if ok {
		return true
	}
	g.c.stats.BadHeartbeat++
	g.c.warn(g.now, "refused a heartbeat jump", "peer", id.Name, "from", g.from, "from_hb", prev, "to_hb", next)
	return false
}

// Lower lets a restarted peer whose clock stepped back (no StateDir) in
// at once, instead of when its clock passes the old generation: only from
// the peer itself, at its own address, and only once the held incarnation
// is dead, so stale gossip of a lower generation never replaces a live one.
func (g *gate) Lower(id, held state.NodeID) bool {
	m := g.c.members.byName[held.Name]
	return id.Name == g.direct && m != nil && !m.alive
}

var _ state.Gate = (*gate)(nil)
