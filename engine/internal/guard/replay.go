// Package guard holds the admission checks a packet passes after its envelope
// opened and before the protocol believes it: replay, anti-amplification,
// rate limits and sanity bounds. Everything here is pure: no I/O, no clock of
// its own (each call takes now), and bounded memory whatever the input.
// Every type is safe for concurrent use.
package guard

import (
	"container/list"
	"sync"
	"time"
)

// Replay window geometry (RFC 6479): a ring of windowWords 64-bit words. The
// word holding the highest counter is partly in the future, so the window
// reaches WindowSize counters back from the highest.
const (
	windowWords = 16
	windowBits  = windowWords * 64
	// WindowSize is how far behind a session's highest counter a packet may
	// arrive (reordered) and still be accepted once: 960 packets.
	WindowSize = windowBits - 64
)

// Defaults of ReplayConfig.
const (
	// DefaultSessions bounds the session table: a session costs about 200
	// bytes, so 4,096 sessions (MaxPeers' default, each peer with one live
	// session) cost under 1 MiB.
	DefaultSessions = 4096
	// DefaultMaxAge is how old a packet's send time may be. A packet is
	// forwarded at once or not at all, so seconds are plenty for delivery;
	// the rest is room for clock differences between hosts.
	DefaultMaxAge = 30 * time.Second
	// DefaultMaxSkew is how far in the future a send time may be (a sender
	// whose clock runs ahead of ours).
	DefaultMaxSkew = 10 * time.Second
)

// Verdict is the outcome of a replay check. ONLY APPEND.
type Verdict uint8

const (
	// Accepted: first sight of this (session, counter), now recorded.
	Accepted Verdict = iota
	// Duplicate: this counter was already accepted (a replay or a network
	// duplicate).
	Duplicate
	// TooOld: the counter is more than WindowSize behind the session's
	// highest; it may be new, but it cannot be told apart from a replay.
	TooOld
	// Stale: the send time is older than MaxAge.
	Stale
	// Future: the send time is more than MaxSkew ahead of now.
	Future
	// Forgotten: a session not in the table whose send time is not after the
	// horizon (the newest time of any session evicted, or the receiver's
	// start): it could be a replay of a session we no longer remember.
	Forgotten
	numVerdicts
)

func (v Verdict) String() string {
	switch v {
	case Accepted:
		return "accepted"
	case Duplicate:
		return "duplicate"
	case TooOld:
		return "too-old"
	case Stale:
		return "stale"
	case Future:
		return "future"
	case Forgotten:
		return "forgotten"
	}
	return "unknown"
}

// ReplayConfig bounds a Replay. Zero values mean the defaults.
type ReplayConfig struct {
	// Sessions is the most sender sessions remembered; the least recently
	// seen is evicted. Default DefaultSessions.
	Sessions int
	// MaxAge refuses packets sent longer ago. Default DefaultMaxAge.
	MaxAge time.Duration
	// MaxSkew refuses packets sent further in the future. Default
	// DefaultMaxSkew.
	MaxSkew time.Duration
}

// Replay refuses replayed packets: per sender session it keeps the highest
// counter and a sliding bitmap of the WindowSize counters below it, so a
// duplicate or a too-old counter is refused at constant cost.
//
// What a bounded table forgets cannot be replayed either: a packet must have
// been sent within [now-MaxAge, now+MaxSkew], and a session the table does not
// hold is accepted only if its packet was sent after the horizon, which is the
// start of this Replay (a restarted receiver remembers nothing) raised to the
// newest send time of every evicted session. A captured packet is older than
// both, so replaying it after an eviction or a restart fails; the price is
// that a new session whose sender's clock lags behind the horizon is refused
// until its clock passes it (at most MaxSkew after an eviction, the lag of the
// sender's clock after a restart).
type Replay struct {
	cfg ReplayConfig

	mu       sync.Mutex
	sessions map[uint64]*list.Element // of *session
	lru      list.List                // front: most recently accepted
	horizon  int64                    // Unix ms
	counts   [numVerdicts]uint64
	evicted  uint64
}

type session struct {
	id      uint64
	highest uint64
	lastMs  int64 // newest send time accepted
	bitmap  [windowWords]uint64
}

// NewReplay returns an empty Replay started at now.
func NewReplay(cfg ReplayConfig, now time.Time) *Replay {
	if cfg.Sessions <= 0 {
		cfg.Sessions = DefaultSessions
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.MaxSkew <= 0 {
		cfg.MaxSkew = DefaultMaxSkew
	}
	return &Replay{cfg: cfg, sessions: make(map[uint64]*list.Element), horizon: now.UnixMilli()}
}

// Check judges one authenticated packet: sender session, counter and send
// time (Unix ms) from its envelope. An Accepted packet is recorded, so the
// same packet is a Duplicate the next time.
func (r *Replay) Check(sess, counter uint64, sentMs int64, now time.Time) Verdict {
	v := r.check(sess, counter, sentMs, now.UnixMilli())
	r.mu.Lock()
	r.counts[v]++
	r.mu.Unlock()
	return v
}

func (r *Replay) check(sess, counter uint64, sentMs, nowMs int64) Verdict {
	switch {
	case sentMs < nowMs-r.cfg.MaxAge.Milliseconds():
		return Stale
	case sentMs > nowMs+r.cfg.MaxSkew.Milliseconds():
		return Future
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.sessions[sess]; ok {
		s := e.Value.(*session)
		v := s.accept(counter)
		if v == Accepted {
			s.lastMs = max(s.lastMs, sentMs)
			r.lru.MoveToFront(e)
		}
		return v
	}
	if sentMs <= r.horizon {
		return Forgotten
	}
	var s *session
	if r.lru.Len() >= r.cfg.Sessions {
		// Reuse the evicted session's memory: a steady flood of new
		// sessions allocates nothing.
		old := r.lru.Back()
		s = old.Value.(*session)
		r.horizon = max(r.horizon, s.lastMs)
		delete(r.sessions, s.id)
		r.lru.Remove(old)
		r.evicted++
		*s = session{}
	} else {
		s = &session{}
	}
	s.id = sess
	s.highest = counter
	s.lastMs = sentMs
	s.set(counter)
	r.sessions[sess] = r.lru.PushFront(s)
	return Accepted
}

func (s *session) set(c uint64) {
	s.bitmap[(c/64)%windowWords] |= 1 << (c % 64)
}

// accept applies RFC 6479: advance the window for a new highest counter
// (clearing the words it skips), refuse what fell out of it, and test and set
// the bit otherwise.
func (s *session) accept(c uint64) Verdict {
	if c > s.highest {
		from, to := s.highest/64, c/64
		if to-from >= windowWords {
			clear(s.bitmap[:])
		} else {
			for w := from + 1; w <= to; w++ {
				s.bitmap[w%windowWords] = 0
			}
		}
		s.highest = c
		s.set(c)
		return Accepted
	}
	if s.highest-c >= WindowSize {
		return TooOld
	}
	word, bit := &s.bitmap[(c/64)%windowWords], uint64(1)<<(c%64)
	if *word&bit != 0 {
		return Duplicate
	}
	*word |= bit
	return Accepted
}

// ReplayStats counts verdicts since NewReplay.
type ReplayStats struct {
	Verdicts [numVerdicts]uint64
	// Sessions is the current table size; Evicted counts sessions pushed out.
	Sessions int
	Evicted  uint64
	// HorizonMs is the current horizon (Unix ms).
	HorizonMs int64
}

// Count returns the number of checks with verdict v.
func (s ReplayStats) Count(v Verdict) uint64 {
	if v >= numVerdicts {
		return 0
	}
	return s.Verdicts[v]
}

// Stats returns the counters.
func (r *Replay) Stats() ReplayStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return ReplayStats{Verdicts: r.counts, Sessions: r.lru.Len(), Evicted: r.evicted, HorizonMs: r.horizon}
}
