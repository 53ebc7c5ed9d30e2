package protocol

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine/internal/seal"
	"github.com/telepathine/telepathine/engine/internal/state"
	"github.com/telepathine/telepathine/engine/internal/wire"
)

// A core judges packets in a plain loop: bad bytes are counted by reason,
// a foreign cluster's Syn gets one BadCluster answer, and nothing is
// applied from either.
func TestCoreDropsAndCountsBadPackets(t *testing.T) {
	s := newSim(t, 1, simConfig())
	c := s.peers[0].core
	evil := state.NodeID{Name: "evil", Generation: 1, Addr: "10.9.9.9:1"}
	enc := func(p *wire.Packet) []byte {
		b, err := wire.Encode(p)
		require.NoError(t, err)
		return plainEnvelope(t, b)
	}
	valid := enc(&wire.Packet{Cluster: "sim", Sender: evil, Type: wire.Syn})
	for _, b := range [][]byte{[]byte("GET / HTTP/1.1\r\n\r\n"), valid[:len(valid)/2], nil} {
		out := c.HandlePacket(s.now, "10.9.9.9:1", b)
		assert.Empty(t, out.Packets)
		assert.Empty(t, out.Events)
	}
	st := c.Stats()
	assert.EqualValues(t, 3, st.Truncated+st.Malformed+st.BadMagic+st.BadVersion+st.Checksum)
	assert.EqualValues(t, 1, st.Checksum, "a cut packet fails its CRC")

	out := c.HandlePacket(s.now, "10.9.9.9:1", enc(&wire.Packet{Cluster: "other", Sender: evil, Type: wire.Syn}))
	require.Len(t, out.Packets, 1)
	assert.Equal(t, wire.BadCluster, out.Packets[0].Packet.Type)
	assert.Equal(t, evil.Addr, out.Packets[0].To)
	out = c.HandlePacket(s.now, "10.9.9.9:1", enc(&wire.Packet{Cluster: "other", Sender: evil, Type: wire.BadCluster}))
	assert.Empty(t, out.Packets, "a BadCluster is never answered")
	assert.EqualValues(t, 2, c.Stats().ForeignCluster)

	bad := enc(&wire.Packet{Cluster: "sim", Sender: evil, Type: wire.Push, Delta: state.Delta{Nodes: []state.NodeDelta{{
		ID: evil, To: 5, Entries: []*state.Entry{{Version: 4, Key: "a"}, {Version: 2, Key: "b"}},
	}}}})
	out = c.HandlePacket(s.now, "10.9.9.9:1", bad)
	assert.Empty(t, out.Events)
	assert.EqualValues(t, 1, c.Stats().BadDelta)
	_, known := find(s.peers[0].AllPeers(), "evil")
	assert.False(t, known)
}

// An ask and its replies through two cores: one reply per peer, a second
// one dropped, the last expected one completes, and a reply after EndAsk
// is late.
func TestCoreAskReplies(t *testing.T) {
	s := newSim(t, 3, simConfig())
	s.until(50, s.allKnowAll, "join")
	asker := s.peers[0]
	out, version, err := asker.core.Ask(s.now, "who", []byte("?"), state.EncodingText, time.Second)
	require.NoError(t, err)
	s.do(asker, out)
	s.flush()
	var replies []AskReply
	for _, p := range s.peers[1:] {
		var id uint64
		for _, e := range p.events {
			if e.Kind == Asked {
				id = e.AskID
			}
		}
		require.NotZero(t, id, "%s heard the ask", p.Name())
		for range 2 { // the second reply is not sent
			out, err := p.core.Reply(s.now, id, []byte(p.Name()), state.EncodingText)
			require.NoError(t, err)
			for _, o := range out.Packets {
				b, err := p.core.Encode(s.now, o)
				require.NoError(t, err)
				replies = append(replies, asker.core.HandlePacket(s.now, p.addr, b).Replies...)
			}
		}
	}
	require.Len(t, replies, 2)
	assert.Equal(t, version, replies[0].Version)
	assert.False(t, replies[0].Complete)
	assert.True(t, replies[1].Complete)
	asker.core.EndAsk(version)
	_, err = s.peers[1].core.Reply(s.now.Add(2*time.Second), 12345, nil, state.EncodingRaw)
	assert.ErrorIs(t, err, ErrUnknownAsk)
}

// Before Start a core keeps local values; Say needs a running core.
func TestCoreBeforeStart(t *testing.T) {
	c := New(simConfig(), nil)
	c.SetName("early")
	out, err := c.Set(simEpoch, "k", []byte("v"), state.EncodingText, 0)
	require.NoError(t, err)
	assert.False(t, out.PushReady, "nothing is pushed before Start")
	_, err = c.Say(simEpoch, "e", nil, state.EncodingRaw, time.Second, false)
	assert.ErrorIs(t, err, ErrNotRunning)
	e, ok := c.Get("", "k", simEpoch.UnixMilli())
	require.True(t, ok)
	assert.Equal(t, "v", string(e.Value))
}

// plainEnvelope wraps an encoded packet in the plain (CRC-32C) envelope, as
// a peer without a key sends it.
func plainEnvelope(t testing.TB, payload []byte) []byte {
	t.Helper()
	s, err := seal.New(seal.Options{Cluster: "any"})
	require.NoError(t, err)
	b, err := s.Seal(nil, payload, time.Now())
	require.NoError(t, err)
	return b
}
