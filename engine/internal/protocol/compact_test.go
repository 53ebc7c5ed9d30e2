package protocol

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine/internal/state"
	"github.com/telepathine/telepathine/engine/internal/wire"
)

// Beats go with the compact header (the sender's key, not its NodeId): a
// watcher resolves the key to the line it holds and takes the beat; a key
// it does not hold is dropped and counted, never guessed at.
func TestCompactBeatResolvedOrDropped(t *testing.T) {
	s := newSim(t, 3, simConfig())
	s.until(50, s.allKnowAll, "join")
	for range 10 { // 2 s: beats flow
		s.step()
	}
	a, b := s.peers[0], s.peers[1]
	require.NotZero(t, a.sent[wire.Beat], "beats were sent")

	send := func(pk *wire.Packet) {
		bs, err := a.core.Encode(s.now, Outgoing{To: b.addr, Packet: pk})
		require.NoError(t, err)
		s.do(b, b.core.HandlePacket(s.now, a.addr, bs))
	}
	hb := a.core.st.Self().Heartbeat + 5
	send(a.core.stampKey(&wire.Packet{Type: wire.Beat, Heartbeat: hb}))
	info, ok := find(b.AllPeers(), a.Name())
	require.True(t, ok)
	require.Equal(t, hb, info.Heartbeat, "the key named a, whose heartbeat advanced")
	require.Zero(t, b.core.Stats().UnknownSender)

	stranger := &wire.Packet{Cluster: s.cfg.Cluster, Type: wire.Beat, Heartbeat: hb + 1,
		SenderKey: state.NodeKey("nobody:1", 1)}
	send(stranger)
	require.Equal(t, uint64(1), b.core.Stats().UnknownSender)
	info, _ = find(b.AllPeers(), a.Name())
	require.Equal(t, hb, info.Heartbeat, "nothing applied from an unknown key")
}
