package protocol

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine/internal/wire"
)

// A watcher that begins to watch a peer does not suspect it before its
// first beat for unheardGrace heartbeat intervals: the peer beats to the
// watchers of its own ring, which lags the watcher's while members come
// and go (a slow 256-peer join on loopback turned every ring change into
// a false suspicion announced to all). A peer that never beats is still
// suspected after the grace, and the first beat starts its detector
// afresh.
func TestSimUnheardWatchGrace(t *testing.T) {
	s := newSim(t, 12, simConfig())
	s.until(100, s.allKnowAll, "join")
	w := s.peers[0]
	var target string
	for name := range w.core.members.watched {
		target = name
		break
	}
	require.NotEmpty(t, target)
	p := s.net.byAddr[target]
	require.NotNil(t, p)
	// The watch starts afresh, as after a ring change, and the peer's beats
	// to this watcher are lost (its ring does not name it yet).
	mb := w.core.members.byName[target]
	mb.fd = nil
	w.core.members.ringDirty = true
	deaf := true
	s.net.drop = func(from, to string, pk *wire.Packet) bool {
		return deaf && from == p.addr && to == w.addr && pk.Type == wire.Beat
	}
	hb := w.core.cfg.HeartbeatInterval
	s.step() // the watch begins
	require.NotNil(t, mb.fd)
	require.False(t, mb.heard)
	since, watching := w.core.members.watched[target]
	require.True(t, watching)
	// Suspicions are counted, not read off mb.accused: the accused refutes
	// at once, and the watcher withdraws a refuted suspicion within the
	// same round.
	suspected := func() bool { return w.core.Stats().Suspicions > 0 }
	require.False(t, suspected())
	for s.now.Sub(since) < 4*hb { // phi alone would suspect after ~2.4 s
		s.step()
		require.False(t, suspected(), "suspected %v after the watch began, never heard", s.now.Sub(since))
	}
	// Never heard at all: suspected once the grace is over.
	rounds := s.until(int((3*hb)/w.core.cfg.GossipInterval), suspected, "suspected after the grace")
	t.Logf("suspected %d rounds after the grace began to end", rounds)
	// Heard: the suspicion is retracted and the detector starts from the
	// first beat (phi near 0 just after it).
	deaf = false
	s.until(int((3*hb)/w.core.cfg.GossipInterval), func() bool { return !mb.accused && mb.heard }, "heard")
	require.Less(t, mb.fd.Phi(s.now), 1.0)
}
