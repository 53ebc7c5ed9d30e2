package engine

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine/internal/state"
	"github.com/telepathine/telepathine/engine/internal/wire"
)

// TestMalformedPacketsDroppedAndCounted throws bad bytes at a live peer over
// real UDP and TCP: each kind is dropped and counted, and the peer goes on
// working.
func TestMalformedPacketsDroppedAndCounted(t *testing.T) {
	cl := newNetCluster(t, 2, func(i int, c *Config) {
		// A small packet limit, so a packed zero bomb in one datagram
		// (1,200 bytes unpacking to 1.2 MB) crosses it.
		c.Limits.PacketSize = 1 << 20
		c.Limits.ValueSize = 512 << 10
	})
	victim := cl.peers[0]
	eventually(t, 10*time.Second, cl.converged, "converge")

	sender := state.NodeID{Name: "evil", Generation: 1, Addr: "127.0.0.1:1"}
	encode := func(p *wire.Packet) []byte {
		b, err := wire.Encode(p)
		require.NoError(t, err)
		return plainEnvelope(t, b)
	}
	valid := encode(&wire.Packet{Cluster: "test", Sender: sender, Type: wire.Syn})
	foreign := encode(&wire.Packet{Cluster: "elsewhere", Sender: sender, Type: wire.Push})
	// A delta that breaks the rules (versions going backwards).
	badDelta := encode(&wire.Packet{Cluster: "test", Sender: sender, Type: wire.Push, Delta: state.Delta{Nodes: []state.NodeDelta{{
		ID: sender, To: 5, Entries: []*state.Entry{{Version: 4, Key: "a"}, {Version: 2, Key: "b"}},
	}}}})

	conn, err := net.Dial("udp", victim.Addr())
	require.NoError(t, err)
	defer conn.Close()
	datagrams := [][]byte{
		[]byte("GET / HTTP/1.1\r\n\r\n"),                     // garbage
		valid[:len(valid)/2],                                 // truncated
		plainEnvelope(t, bytes.Repeat([]byte{0, 0xff}, 600)), // a packed zero bomb
		foreign,
		badDelta,
	}
	for _, d := range datagrams {
		_, err := conn.Write(d)
		require.NoError(t, err)
	}
	// The same garbage as a TCP frame.
	tc, err := net.Dial("tcp", victim.Addr())
	require.NoError(t, err)
	defer tc.Close()
	frame := binary.BigEndian.AppendUint32(nil, 5)
	_, err = tc.Write(append(frame, "hello"...))
	require.NoError(t, err)

	eventually(t, 10*time.Second, func() bool {
		s := victim.Stats()
		return s.Truncated+s.Malformed+s.BadMagic+s.BadVersion+s.Checksum >= 3 && s.Checksum >= 1 && s.Oversized >= 1 && s.ForeignCluster >= 1 && s.BadDelta >= 1
	}, "every bad packet counted")
	// Still working: a fresh value arrives, and nobody named "evil" exists.
	require.NoError(t, cl.peers[1].Set("after", String("ok")))
	eventually(t, 10*time.Second, func() bool {
		v, ok := remote(victim, cl.peers[1].Name(), "after")
		return ok && v.String() == "ok"
	}, "peer kept working")
	_, found := find(victim.AllPeers(), "evil")
	require.False(t, found)
}
