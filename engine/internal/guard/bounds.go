package guard

import (
	"math"
	"time"
)

// DefaultGenerationSkew is how far in the future a generation may be. A
// generation is its peer's start time in ns (package incarnation), so a
// legitimate one is in the past by the peer's uptime, or ahead of us by the
// clock difference between the hosts; a minute covers hosts that are not
// synchronised closely while a forged 2^64-1 is refused.
const DefaultGenerationSkew = time.Minute

// GenerationOK reports whether a generation (ns since the Unix epoch) is not
// beyond now + skew. The forged generation 2^64-1 that locked a real peer out
// for an hour fails it.
func GenerationOK(gen uint64, now time.Time, skew time.Duration) bool {
	limit := now.UnixNano() + int64(max(skew, 0))
	if limit < 0 {
		return false
	}
	return gen <= uint64(limit)
}

// HeartbeatBound says how fast a heartbeat counter can legitimately grow.
type HeartbeatBound struct {
	// Interval is the sender's heartbeat interval (one increment per
	// Interval).
	Interval time.Duration
	// Slack is the increments allowed beyond elapsed/Interval: for a sender
	// whose clock runs a little fast, a burst after a pause, the heartbeats
	// of a restart. Default 10.
	Slack uint64
}

// DefaultHeartbeatSlack is HeartbeatBound.Slack's default.
const DefaultHeartbeatSlack = 10

// OK reports whether a heartbeat may go from prev to next after elapsed
// (the time since prev was accepted): next <= prev + elapsed/Interval + Slack.
// A heartbeat that does not grow is not a jump and is OK here (the protocol
// ignores it as stale). A forged heartbeat of 2^62 fails.
func (b HeartbeatBound) OK(prev, next uint64, elapsed time.Duration) bool {
	if next <= prev {
		return true
	}
	slack := b.Slack
	if slack == 0 {
		slack = DefaultHeartbeatSlack
	}
	var beats uint64
	switch {
	case b.Interval <= 0:
		beats = math.MaxUint64 // no interval: no bound
	case elapsed > 0:
		beats = uint64(elapsed / b.Interval)
	}
	allowed := satAdd(satAdd(prev, beats), slack)
	return next <= allowed
}

func satAdd(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}
