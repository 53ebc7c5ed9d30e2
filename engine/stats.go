package engine

import (
	"github.com/telepathine/telepathine/engine/internal/wire"
	"github.com/telepathine/telepathine/engine/transport"
)

// Stats is a snapshot of a peer's counters. Counters only grow (since New);
// the gauges (Peers, LivePeers, ...) are current values.
type Stats struct {
	// Gossip activity.
	Rounds, Sets, Says, PushBatches, Followups uint64
	// PacketsSent and PacketsReceived count packets by message type
	// ("syn", "synack", "ack", "push", "reply", "badcluster").
	PacketsSent, PacketsReceived map[string]uint64
	// BytesReceived counts the bytes of those packets by type, and
	// DuplicatesReceived the entries they carried that were already held
	// here (delivered twice: by push and by anti-entropy, say).
	BytesReceived, DuplicatesReceived map[string]uint64

	// Dropped incoming packets, by reason. Each is dropped whole, before
	// anything of it is applied.
	Truncated, Oversized, BadMagic, BadVersion, Malformed uint64
	// BadDelta counts packets that decoded but whose delta broke the
	// protocol's rules (versions out of order, oversized values...).
	BadDelta uint64
	// ForeignCluster counts packets of another cluster.
	ForeignCluster uint64
	// SelfPackets counts packets from this very peer (a seed naming itself).
	SelfPackets uint64
	// UnknownSender counts compact-header packets (beats to ring watchers)
	// whose sender key names no peer held here.
	UnknownSender uint64
	// InboxDropped counts packets dropped unread because too many waited
	// for the peer (256 packets or 16 MiB): the oldest waiting goes first.
	InboxDropped uint64

	// Trust (issue 11). Envelope refusals: Checksum (corrupted plain
	// packet), AuthFailed (forged, tampered or another cluster's encrypted
	// packet), Plaintext (a plain packet refused because this peer requires
	// encryption), NoKey (an encrypted packet while this peer has no key),
	// UnknownKey (sealed with a key not installed here). Replayed: a
	// duplicate, too old or stale encrypted packet.
	Checksum, AuthFailed, Plaintext, NoKey, UnknownKey, Replayed uint64
	// RateLimited counts BadCluster replies withheld by their rate limit;
	// Amplification the bytes of replies withheld by the 3x rule;
	// Unanswered the TCP packets whose advertised host was not the
	// connection's (no reply sent).
	RateLimited, Amplification, Unanswered uint64
	// NewPeersRefused counts strangers not admitted (per packet and per
	// source limits, or a full table); Evicted the unverified peers dropped
	// to admit a peer that introduced itself at MaxPeers.
	NewPeersRefused, Evicted uint64
	// BadGeneration counts generations refused as too far in the future;
	// BadHeartbeat heartbeat jumps beyond what time allows.
	BadGeneration, BadHeartbeat uint64

	// Identity mode (issue 13). BadSignature: entries, heads or replies
	// whose signature failed (or a tombstone dated in the future);
	// Unsigned: node deltas without key or head (a peer with identity
	// mode off); NotAllowed: keys refused by the allow-list; KeyChanged: a
	// second key for a name pinned on first use; BeyondHead: version
	// ranges clamped to the owner's signed head; MixedIdentity (identity
	// mode off): node deltas carrying a key, refused.
	BadSignature, Unsigned, NotAllowed, KeyChanged, BeyondHead, MixedIdentity uint64
	// SignaturesVerified and SignatureCacheHits count good signatures,
	// checked with Ed25519 or found in the cache of verified ones.
	SignaturesVerified, SignatureCacheHits uint64
	// SignaturesRunProved: entry signatures proved by their owner's one
	// signature over a pushed run instead of one check each.
	SignaturesRunProved uint64

	// Outgoing problems.
	EncodeErrors, SendErrors, PushDropped uint64
	// LateReplies counts ask replies that came after the ask ended.
	LateReplies uint64

	// Event delivery: events lost to full handler queues, handler panics.
	EventsDropped, HandlerPanics uint64

	// Failure detection.
	Deaths uint64

	// Gauges.
	Peers, LivePeers, DeadPeers int
	Keys, PendingRuns           int

	// Transport counters (bytes and packets on each protocol).
	Transport transport.Stats
}

// Stats returns the peer's counters.
func (p *Peer) Stats() Stats {
	nowMS := p.clk.Now().UnixMilli()
	p.mu.Lock()
	c := p.core.Stats()
	g := p.core.Gauges(nowMS)
	var ts transport.Stats
	if sess := p.sess.Load(); sess != nil {
		ts = sess.tr.Stats()
	}
	p.mu.Unlock()
	s := Stats{
		Rounds: c.Rounds, Sets: c.Sets, Says: c.Says, PushBatches: c.PushBatches, Followups: c.Followups,
		PacketsSent: map[string]uint64{}, PacketsReceived: map[string]uint64{},
		BytesReceived: map[string]uint64{}, DuplicatesReceived: map[string]uint64{},
		Truncated: c.Truncated, Oversized: c.Oversized, BadMagic: c.BadMagic,
		BadVersion: c.BadVersion, Malformed: c.Malformed, BadDelta: c.BadDelta,
		ForeignCluster: c.ForeignCluster, SelfPackets: c.SelfPackets, UnknownSender: c.UnknownSender,
		InboxDropped: p.inbox.dropped.Load(),
		EncodeErrors: p.stats.encodeErrors.Load(), SendErrors: p.stats.sendErrors.Load(),
		PushDropped: c.PushDropped, LateReplies: c.LateReplies, Deaths: c.Deaths,
		Peers: g.Peers, LivePeers: g.LivePeers, DeadPeers: g.DeadPeers, Keys: g.Keys, PendingRuns: g.PendingRuns,
		Transport: ts,
		Checksum:  c.Checksum, AuthFailed: c.AuthFailed, Plaintext: c.Plaintext, NoKey: c.NoKey,
		UnknownKey: c.UnknownKey, Replayed: c.Replayed, RateLimited: c.RateLimited,
		Amplification: p.core.AmpStats().RefusedBytes, Unanswered: c.Unanswered,
		NewPeersRefused: c.NewPeersRefused, Evicted: c.Evicted,
		BadGeneration: c.BadGeneration, BadHeartbeat: c.BadHeartbeat,
		BadSignature: c.BadSignature, Unsigned: c.Unsigned, NotAllowed: c.NotAllowed,
		KeyChanged: c.KeyChanged, BeyondHead: c.BeyondHead, MixedIdentity: c.Mixed,
	}
	vs := p.core.VerifierStats()
	s.SignaturesVerified, s.SignatureCacheHits, s.SignaturesRunProved = vs.Verified, vs.CacheHits, vs.RunProved
	for t := range wire.NumTypes {
		name := wire.Type(t).String()
		s.PacketsSent[name] = p.stats.sent[t].Load()
		s.PacketsReceived[name] = c.ReceivedByType[t]
		s.BytesReceived[name] = c.BytesByType[t]
		s.DuplicatesReceived[name] = c.DuplicatesByType[t]
	}
	s.EventsDropped, s.HandlerPanics = p.bus.Stats()
	return s
}
