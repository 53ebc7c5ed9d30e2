package protocol

import (
	"errors"

	"github.com/telepathine/telepathine/engine/internal/wire"
)

// ErrOversized is returned by Encode for a packet above MaxPacketSize.
var ErrOversized = errors.New("protocol: packet above the size limit")

// Counters are the core's counters since New. They only grow.
type Counters struct {
	Rounds, Sets, Says, PushBatches, Followups uint64
	Received                                   uint64
	ReceivedByType                             [wire.NumTypes]uint64
	Truncated, Oversized, BadMagic             uint64
	BadVersion, Malformed, BadDelta            uint64
	ForeignCluster, SelfPackets                uint64
	PushDropped, LateReplies                   uint64
	Deaths                                     uint64

	// BytesByType counts the bytes of the packets counted in
	// ReceivedByType (as they arrived, sealed); DuplicatesByType the
	// entries they carried that this replica already held: bandwidth
	// spent twice (a push and an anti-entropy answer racing each other).
	BytesByType, DuplicatesByType [wire.NumTypes]uint64
	// UnknownSender counts compact-header packets (beats, quiet Syns) whose
	// sender key names no node held here.
	UnknownSender uint64
	// Suspicions published by this peer as a ring watcher, refutations of
	// suspicions of itself, peers seen leaving gracefully.
	Suspicions, Refutations, Leaves uint64
	// QuietSyns are Syns left unanswered: same fingerprint, nothing to say.
	QuietSyns uint64
	// Trust (issue 11): envelope refusals, replays, BadCluster replies
	// withheld, sanity bounds.
	Checksum, AuthFailed, Plaintext, NoKey, UnknownKey uint64
	Replayed, RateLimited, Unanswered                  uint64
	NewPeersRefused, Evicted                           uint64
	BadGeneration, BadHeartbeat                        uint64
	// Identity mode (issue 13): entries or heads whose signature failed,
	// node deltas without a key or head (a peer with identity mode off),
	// keys refused by the allow-list, second keys for a pinned name,
	// version ranges clamped to the owner's signed head. Mixed counts, on
	// a peer with identity mode off, node deltas that carry a key (a peer
	// with identity mode on).
	BadSignature, Unsigned, NotAllowed, KeyChanged, BeyondHead, Mixed uint64
	// Relayed counts pushes forwarded down a broadcast tree.
	Relayed uint64
	// JoinPushes counts newcomers' lines pushed on by the peer they joined.
	JoinPushes uint64
}

// Stats returns the counters.
func (c *Core) Stats() Counters {
	s := c.stats
	if c.st != nil {
		s.Mixed = c.st.MixedRefused()
	}
	return s
}

// Gauges are current values.
type Gauges struct {
	Peers, LivePeers, DeadPeers int
	Keys, PendingRuns           int
}

// Gauges returns the current values at now.
func (c *Core) Gauges(nowMS int64) Gauges {
	var g Gauges
	for _, m := range c.members.byName {
		g.Peers++
		if m.alive {
			g.LivePeers++
		} else {
			g.DeadPeers++
		}
	}
	if c.st != nil {
		g.Keys = len(c.st.Keys(c.st.Self().ID.Name, nowMS))
		g.PendingRuns = c.st.PendingRuns()
	}
	return g
}

func (c *Core) countDecodeError(err error) {
	switch {
	case errors.Is(err, wire.ErrTruncated):
		c.stats.Truncated++
	case errors.Is(err, wire.ErrOversized):
		c.stats.Oversized++
	case errors.Is(err, wire.ErrMagic):
		c.stats.BadMagic++
	case errors.Is(err, wire.ErrVersion):
		c.stats.BadVersion++
	default:
		c.stats.Malformed++
	}
}
