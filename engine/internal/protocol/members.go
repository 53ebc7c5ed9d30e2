package protocol

import (
	"time"

	"github.com/telepathine/telepathine/engine/internal/failure"
)

// member is what the local peer thinks of another peer's liveness.
type member struct {
	fd        *failure.Detector
	alive     bool
	deadSince time.Time
	// hbAt is when its heartbeat last advanced (the sanity bound on
	// heartbeat jumps measures from it); since is when it was first held.
	hbAt, since time.Time
	// verified: a packet of it arrived from its own address. Unverified
	// peers are the first evicted at MaxPeers and leave quickly once dead.
	verified bool
}

// membership is every other peer's liveness, judged by one phi accrual
// detector per peer from the heartbeats gossip delivers.
type membership struct {
	phi    failure.Config
	byName map[string]*member
}

func newMembership(phi failure.Config) membership {
	return membership{phi: phi, byName: make(map[string]*member)}
}

// joined records a peer heard of for the first time, alive.
func (m *membership) joined(name string, now time.Time) {
	mb := &member{fd: failure.New(m.phi), alive: true, hbAt: now, since: now}
	mb.fd.Heartbeat(now)
	m.byName[name] = mb
}

// restarted records a new incarnation of name: its detector starts over.
// It reports whether the peer came back to life.
func (m *membership) restarted(name string, now time.Time) (back bool) {
	mb := m.byName[name]
	if mb == nil {
		mb = &member{fd: failure.New(m.phi), since: now}
		m.byName[name] = mb
	}
	mb.hbAt = now
	mb.fd.Reset()
	mb.fd.Heartbeat(now)
	back = !mb.alive
	mb.alive = true
	return back
}

// heartbeat feeds a heartbeat of name to its detector and reports whether
// the peer came back to life; unknown names are ignored.
func (m *membership) heartbeat(name string, now time.Time) (back bool) {
	mb := m.byName[name]
	if mb == nil {
		return false
	}
	mb.hbAt = now
	mb.fd.Heartbeat(now)
	back = !mb.alive
	mb.alive = true
	return back
}

// judge turns suspicion into verdicts at now: the live peers whose
// detector suspects them die, and peers dead for longer than grace are
// forgotten. It returns both lists.
func (m *membership) judge(now time.Time, grace time.Duration) (died, removed []string) {
	for name, mb := range m.byName {
		switch {
		case mb.alive && mb.fd.Suspect(now):
			mb.alive = false
			mb.deadSince = now
			mb.fd.Reset()
			died = append(died, name)
		case !mb.alive && now.Sub(mb.deadSince) > grace:
			delete(m.byName, name)
			removed = append(removed, name)
		}
	}
	return died, removed
}

// resetAll makes every peer dead as of now (a restart of the local peer:
// it must hear from them again).
func (m *membership) resetAll(now time.Time) {
	for _, mb := range m.byName {
		mb.fd.Reset()
		mb.alive = false
		mb.deadSince = now
	}
}

// liveCount returns how many live peers are known.
func (m *membership) liveCount() int {
	n := 0
	for _, mb := range m.byName {
		if mb.alive {
			n++
		}
	}
	return n
}
