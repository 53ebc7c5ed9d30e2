package engine

import (
	"fmt"
	"time"
)

// Liveness configures how peers watch each other and how a quiet cluster
// reconciles (issue #12). Each peer is watched by the Watchers peers that
// follow it on a ring of the live members: it sends them a small one-way
// beat every HeartbeatInterval, they run phi accrual on those beats (the
// Failure fields of Config) and, when phi crosses Failure.Threshold, publish a
// suspicion in their own replicated state. A peer is declared dead
// (peer:stop, reason "failed") once Quorum live peers hold a suspicion of
// it that it has not refuted; the accused refutes by starting a new
// heartbeat epoch as soon as the suspicion reaches it. So the bytes a
// peer sends for liveness do not grow with the cluster, each peer keeps
// detectors for Watchers peers only, and one lossy link cannot kill a
// peer. A zero field takes its default.
type Liveness struct {
	// Watchers is how many peers watch each peer (K). Default 3: a false
	// death needs every watcher to miss the same beats at once (at 10 %
	// loss, about 1e-9 per peer and second), and 3 beats a second is the
	// whole liveness cost of a peer.
	Watchers int
	// Quorum is how many live peers must suspect a peer before it is dead
	// (Q, at most Watchers; fewer when the cluster has fewer other peers).
	// Default: Watchers, i.e. all of them.
	Quorum int
	// QuietInterval is how often a quiet cluster (no news for QuietAfter)
	// runs anti-entropy: one Syn of a fingerprint (about 70 bytes) to one
	// random peer, unanswered when the fingerprints match. Default 15 x
	// GossipInterval (3 s in LAN): about 25 bytes a second a peer, whatever
	// N. Any change makes rounds busy again at once (pushes and busy rounds
	// deliver news; quiet rounds only catch what they all missed).
	QuietInterval time.Duration
	// FullDigestPeriod is how often a full digest (one datagram of lines,
	// about 1.4 KB) goes out when nothing else asks for one: belt and braces
	// beside the fingerprints, which already cover every (node, version).
	// Default 10 min (about 2 bytes a second a peer).
	FullDigestPeriod time.Duration
	// SuspectGrace is how long a quorum of suspicions must hold before the
	// accused is declared dead: the suspicions reach the accused at once
	// (and each watcher repeats its own to the accused every round), and
	// a live peer refutes them within a round trip, its refutation sent
	// again in the two rounds that follow. Default 3 x GossipInterval
	// (600 ms in LAN): an observer that lost the first refutation still
	// gets a repeat in time, so a live peer on a very lossy link (50 %)
	// is not lost; a crash is still dead everywhere in about 2.6 s.
	SuspectGrace time.Duration
	// LeaveTimeout bounds the graceful leave of Stop and Close when their
	// context has no deadline of its own (Close has none): how long the
	// departure announcement may take to leave. Default 200 ms.
	LeaveTimeout time.Duration
}

// withDefaults fills zero fields; c has its own defaults filled already.
func (l Liveness) withDefaults(c *Config) Liveness {
	if l.Watchers <= 0 {
		l.Watchers = 3
	}
	if l.Quorum <= 0 || l.Quorum > l.Watchers {
		l.Quorum = l.Watchers
	}
	if l.QuietInterval <= 0 {
		l.QuietInterval = 15 * c.GossipInterval
	}
	if l.FullDigestPeriod <= 0 {
		l.FullDigestPeriod = 10 * time.Minute
	}
	if l.SuspectGrace <= 0 {
		l.SuspectGrace = 3 * c.GossipInterval
	}
	if l.LeaveTimeout <= 0 {
		l.LeaveTimeout = 200 * time.Millisecond
	}
	return l
}

// maxWatchers bounds Watchers: each costs a beat a second and a detector.
const maxWatchers = 16

func (l *Liveness) validate() []error {
	if l.Watchers > maxWatchers {
		return []error{fmt.Errorf("Liveness.Watchers %d above %d", l.Watchers, maxWatchers)}
	}
	return nil
}
