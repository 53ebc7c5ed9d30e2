package protocol

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine/internal/wire"
)

// A peer alone queues no push for its writes (there is nobody to push
// to); a peer that joins later still gets them, by anti-entropy; once
// someone is live, writes are pushed again.
func TestSimLonePeerQueuesNoPushYetLateJoinerGetsItsWrites(t *testing.T) {
	s := newSim(t, 1, simConfig())
	alone := s.peers[0]
	for i := range 100 {
		s.set(alone, "k", string(rune('a'+i%26)), 0)
	}
	out, err := alone.core.Say(s.now, "ev", []byte("x"), 0, simConfig().GossipInterval, true)
	require.NoError(t, err)
	s.do(alone, out)
	runs, bytes := alone.core.PushQueue()
	require.Zero(t, runs, "no push queued by a peer alone")
	require.Zero(t, bytes)
	require.False(t, alone.core.PushPending())
	require.Empty(t, alone.core.push.buffered, "a buffered say of a peer alone waits for nobody")
	require.Zero(t, alone.sent[wire.Push])

	joiner := s.add(1)
	s.until(50, s.allKnowAll, "join")
	last := string(rune('a' + 99%26))
	s.until(50, func() bool { return s.allHave(alone, "k", last) }, "the lone peer's last write reaching the late joiner")

	pushed := alone.sent[wire.Push]
	s.set(alone, "k2", "pushed", 0)
	require.True(t, alone.core.PushPending() || alone.sent[wire.Push] > pushed, "with a live peer, a write is pushed")
	s.flush()
	require.Greater(t, alone.sent[wire.Push], pushed)
	e, ok := joiner.core.Get(alone.Name(), "k2", s.now.UnixMilli())
	require.True(t, ok, "pushed at once, before any round")
	require.Equal(t, "pushed", string(e.Value))
}
