package protocol

import (
	"sort"
	"time"

	"github.com/telepathine/telepathine/engine/internal/failure"
	"github.com/telepathine/telepathine/engine/internal/state"
)

// Reason says why a peer stopped being alive.
type Reason uint8

// Reasons.
const (
	ReasonNone   Reason = iota
	ReasonFailed        // declared dead: its ring watchers lost its beats
	ReasonLeft          // it announced a graceful leave
)

// member is what the local peer thinks of another peer's liveness.
//
// The flags sit together: one is held per peer per known node, and four
// bools padded apart cost it 24 bytes (a 144-byte size class instead of
// 128).
type member struct {
	alive bool
	left  bool
	// accused: the local peer published a suspicion of this one.
	accused bool
	// verified: a packet of it arrived from its own address. Unverified
	// peers are the first evicted at MaxPeers and leave quickly once dead.
	verified bool
	// heard: a beat of it arrived since this peer began watching it
	// (membership.watched). Until then its detector has only the start of
	// the watch to go by (see Core.watch).
	heard     bool
	deadSince time.Time
	// fd judges the peer's beats, only while this peer is one of its ring
	// watchers: memory is O(watchers), not O(N).
	fd *failure.Detector
	// suspectFrom is the local version just before the first suspicion of
	// it since it was last heard: the run from it carries every suspicion
	// since (repeated to the accused by watch, which may have missed them
	// all: a run that starts past what the receiver holds waits for the
	// gap to fill).
	suspectFrom uint64
	// deadEpoch is the heartbeat epoch known when the peer was declared
	// dead: only a later epoch (a refutation) brings it back.
	deadEpoch uint64
	// epoch is the newest heartbeat epoch of it seen here: a newer one is
	// a refutation (heartbeatAdvanced).
	epoch uint64
	// quorumSince is when a quorum of suspicions of it was first held
	// (zero while none is): it dies SuspectGrace later unless it refutes.
	quorumSince time.Time
	// hbAt is when its heartbeat last advanced (the sanity bound on
	// heartbeat jumps measures from it); since is when it was first held.
	hbAt, since time.Time
}

// membership is every other peer's liveness. Each peer is watched by the
// Watchers peers that follow it on a ring of the live members (ordered by
// a hash of the name): they receive its one-way beats, run phi accrual on
// them, and publish a suspicion in their own replicated state when phi
// crosses the threshold. Every observer declares a peer dead once a
// quorum of live peers holds a suspicion of it at a heartbeat no older
// than the one the observer knows; the accused refutes by advancing its
// heartbeat, which voids every suspicion made before.
type membership struct {
	phi      failure.Config
	watchers int // K
	quorum   int // Q
	self     string
	// strict (identity mode): a suspicion counts only within the accused's
	// current heartbeat epoch, so a suspicion dated far ahead (its author
	// may write anything into its own entry) dies with the next
	// refutation instead of outliving every one.
	strict bool
	byName map[string]*member
	// accusers indexes the suspicions held in the replica: accused name ->
	// accuser name -> suspicion.
	accusers map[string]map[string]state.Suspicion

	ringDirty bool
	// version counts the changes of the members and their liveness (see
	// changed): the relay rings (relay.go) are rebuilt only when it moved.
	version uint64
	ring    []ringSlot
	// me is self's index in ring. When the ring was last built, dead
	// named the members neither alive nor gone, and down every member not
	// alive (dead or gone): Core.targets picks from ring and dead, and
	// Core.judge looks for peers to remove in down, instead of walking
	// every member each round.
	me   int
	dead []string
	down []string
	// watched are the peers this one watches (its K predecessors), each
	// with the time its watch began (member.heard).
	watched map[string]time.Time
	beatTo  []string // names of this peer's watchers (its K successors)
}

type ringSlot struct {
	h    uint64
	name string
}

func newMembership(phi failure.Config, watchers, quorum int) membership {
	return membership{
		phi: phi, watchers: max(watchers, 1), quorum: max(quorum, 1),
		byName: make(map[string]*member), accusers: make(map[string]map[string]state.Suspicion),
		watched: make(map[string]time.Time), ringDirty: true,
	}
}

// changed records a change of the members or of one's liveness (added,
// removed, dead, back, restarted, left): the watcher ring and the relay
// rings are rebuilt from it.
func (m *membership) changed() {
	m.ringDirty = true
	m.version++
}

// ringHash places a name on the ring. It ignores the generation, so a
// restarted peer keeps its place and its watchers.
func ringHash(name string) uint64 { return state.NodeKey(name, 0) }

// refreshRing rebuilds the ring and this peer's watch sets after a change
// of the live members. Detectors of newly watched peers start at now (a
// new watcher gives its peer a full detection period); those of peers no
// longer watched are dropped.
func (m *membership) refreshRing(now time.Time) {
	if !m.ringDirty {
		return
	}
	m.ringDirty = false
	m.ring = m.ring[:0]
	m.ring = append(m.ring, ringSlot{ringHash(m.self), m.self})
	clear(m.dead)
	clear(m.down)
	m.dead, m.down = m.dead[:0], m.down[:0]
	for name, mb := range m.byName {
		if mb.alive {
			m.ring = append(m.ring, ringSlot{ringHash(name), name})
			continue
		}
		m.down = append(m.down, name)
		if !mb.left {
			m.dead = append(m.dead, name)
		}
	}
	sort.Slice(m.ring, func(i, j int) bool {
		if m.ring[i].h != m.ring[j].h {
			return m.ring[i].h < m.ring[j].h
		}
		return m.ring[i].name < m.ring[j].name
	})
	me := 0
	for i, s := range m.ring {
		if s.name == m.self {
			me = i
		}
	}
	m.me = me
	k := min(m.watchers, len(m.ring)-1)
	m.beatTo = m.beatTo[:0]
	watched := make(map[string]time.Time, k)
	for d := 1; d <= k; d++ {
		m.beatTo = append(m.beatTo, m.ring[(me+d)%len(m.ring)].name)
		watched[m.ring[(me-d+len(m.ring))%len(m.ring)].name] = now
	}
	for name := range m.watched {
		if _, still := watched[name]; !still {
			if mb := m.byName[name]; mb != nil {
				mb.fd = nil
			}
		}
	}
	for name := range watched {
		mb := m.byName[name]
		switch {
		case mb != nil && mb.fd == nil:
			mb.fd = failure.New(m.phi)
			mb.fd.Heartbeat(now)
			mb.heard = false
		case mb != nil:
			if since, ok := m.watched[name]; ok {
				watched[name] = since // the watch goes on
			}
		}
	}
	m.watched = watched
}

// watchersOf is how many watchers a peer on the ring has: the quorum
// needed against it is at most that.
func (m *membership) needed() int {
	return max(1, min(m.quorum, m.watchers, len(m.ring)-1))
}

// joined records a peer heard of for the first time, alive (or already
// gone, when what we learnt of it includes its leave).
func (m *membership) joined(name string, left bool, now time.Time) {
	mb := &member{alive: !left, left: left, hbAt: now, since: now}
	if left {
		mb.deadSince = now
	}
	m.byName[name] = mb
	m.changed()
}

// restarted records a new incarnation of name: suspicions of and by the
// old one are void. It reports whether the peer came back to life.
func (m *membership) restarted(name string, now time.Time) (back bool) {
	mb := m.byName[name]
	if mb == nil {
		mb = &member{since: now}
		m.byName[name] = mb
	}
	mb.hbAt = now
	back = !mb.alive
	mb.alive, mb.left, mb.accused = true, false, false
	if mb.fd != nil {
		mb.fd.Reset()
		mb.fd.Heartbeat(now)
	}
	m.forgetAccuser(name)
	// Every restart: a new incarnation may have a new address, which the
	// relay rings hold.
	m.version++
	m.ringDirty = m.ringDirty || back
	return back
}

// forgetAccuser drops every suspicion made by name (restarted or removed).
func (m *membership) forgetAccuser(name string) {
	for accused, by := range m.accusers {
		delete(by, name)
		if len(by) == 0 {
			delete(m.accusers, accused)
		}
	}
}

// setSuspicion records that accuser holds s against accused (ok) or none.
func (m *membership) setSuspicion(accuser, accused string, s state.Suspicion, ok bool) {
	by := m.accusers[accused]
	if !ok {
		if by != nil {
			delete(by, accuser)
			if len(by) == 0 {
				delete(m.accusers, accused)
			}
		}
		return
	}
	if by == nil {
		by = make(map[string]state.Suspicion, m.watchers)
		m.accusers[accused] = by
	}
	by[accuser] = s
}

// validAccusers counts the live peers (self included) whose suspicion of
// n's current incarnation is at least as recent as its heartbeat known.
func (m *membership) validAccusers(n *state.Node) int {
	count := 0
	for accuser, s := range m.accusers[n.ID.Name] {
		if m.valid(n, accuser, s) {
			count++
		}
	}
	return count
}

// valid reports whether accuser's suspicion s counts against n: it is of
// n's current incarnation, at least as recent as its heartbeat known, and
// its author is a live peer (or self).
func (m *membership) valid(n *state.Node, accuser string, s state.Suspicion) bool {
	if s.Generation != n.ID.Generation || s.Heartbeat < n.Heartbeat {
		return false
	}
	if m.strict && epoch(s.Heartbeat) != epoch(n.Heartbeat) {
		return false
	}
	if accuser != m.self {
		if a := m.byName[accuser]; a == nil || !a.alive {
			return false
		}
	}
	return true
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

// anyLive reports whether some peer is live: liveCount() > 0 without the
// walk over every member (the first live one ends it), for the path of
// every local write.
func (m *membership) anyLive() bool {
	for _, mb := range m.byName {
		if mb.alive {
			return true
		}
	}
	return false
}

// restartSelf prepares for a new incarnation of the local peer: detectors
// start over and the suspicion index is rebuilt from the replica (its own
// old suspicions went with the old incarnation). Peers keep their liveness:
// verdicts come from the replicated suspicions, not from local memory.
func (m *membership) restartSelf(st *state.Cluster, now time.Time) {
	for _, mb := range m.byName {
		mb.fd = nil
		mb.accused = false
	}
	clear(m.accusers)
	clear(m.watched)
	st.Each(func(n *state.Node) {
		if n == st.Self() {
			return
		}
		n.EachSuspicion(func(accused string, s state.Suspicion) {
			m.setSuspicion(n.ID.Name, accused, s, true)
		})
	})
	m.changed()
	m.refreshRing(now)
}
