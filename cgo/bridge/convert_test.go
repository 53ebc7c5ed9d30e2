package bridge

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/telepathine/telepathine/engine"
	"github.com/telepathine/telepathine/engine/transport"
	apiv1 "github.com/telepathine/telepathine/gen/api/v1"
)

func TestEventToProtoEveryKind(t *testing.T) {
	v := engine.String("v")
	cases := []struct {
		ev   *engine.Event
		name string
		kind any
	}{
		{engine.NewEvent(engine.KindStart, "me", "", engine.Value{}, 0), "start", &apiv1.Event_Start{}},
		{engine.NewEvent(engine.KindStop, "me", "", engine.Value{}, 0), "stop", &apiv1.Event_Stop{}},
		{engine.NewEvent(engine.KindSet, "p", "k", v, 5), "set:k", &apiv1.Event_Set{}},
		{engine.NewEvent(engine.KindDelete, "p", "k", v, 0), "delete:k", &apiv1.Event_Delete{}},
		{engine.NewEvent(engine.KindExpired, "p", "k", v, 5), "key:expired", &apiv1.Event_Expired{}},
		{engine.NewEvent(engine.KindSay, "p", "chat:hi", v, 9), "say:chat:hi", &apiv1.Event_Say{}},
		{engine.NewEvent(engine.KindPeerNew, "p", "", engine.Value{}, 0), "peer:new", &apiv1.Event_PeerNew{}},
		{engine.NewEvent(engine.KindPeerStart, "p", "", engine.Value{}, 0), "peer:start", &apiv1.Event_PeerAlive{}},
		{engine.NewEvent(engine.KindPeerStop, "p", "", engine.Value{}, 0), "peer:stop", &apiv1.Event_PeerDead{}},
	}
	ask := engine.NewEvent(engine.KindAsk, "p", "who", v, 9)
	ask.AskID = 42
	cases = append(cases, struct {
		ev   *engine.Event
		name string
		kind any
	}{ask, "say:who", &apiv1.Event_Ask{}})

	for _, c := range cases {
		// Round trip through the wire form, as a binding would read it.
		var got apiv1.Event
		require.NoError(t, proto.Unmarshal(appendEvent(nil, c.ev), &got))
		assert.Equal(t, c.name, got.GetName())
		assert.Equal(t, c.ev.Peer, got.GetPeer())
		assert.IsType(t, c.kind, got.GetKind(), c.name)
	}
	var got apiv1.Event
	require.NoError(t, proto.Unmarshal(appendEvent(nil, cases[2].ev), &got))
	assert.Equal(t, "k", got.GetSet().GetKey())
	assert.Equal(t, []byte("v"), got.GetSet().GetValue().GetData())
	assert.Equal(t, apiv1.Encoding_ENCODING_TEXT, got.GetSet().GetValue().GetEncoding())
	assert.Equal(t, int64(5), got.GetSet().GetExpiresAtMs())
	require.NoError(t, proto.Unmarshal(appendEvent(nil, ask), &got))
	assert.Equal(t, uint64(42), got.GetAsk().GetAskId())
	assert.Equal(t, "who", got.GetAsk().GetEvent())
	assert.Equal(t, int64(9), got.GetAsk().GetExpiresAtMs())
	require.NoError(t, proto.Unmarshal(appendEvent(nil, cases[5].ev), &got))
	assert.Equal(t, "chat:hi", got.GetSay().GetEvent())

	// appendEvent appends: the subscription's buffer is reused.
	buf := appendEvent(make([]byte, 0, 256), cases[0].ev)
	assert.Equal(t, appendEvent(nil, cases[0].ev), buf)
}

func TestEncodingsMatchTheEngine(t *testing.T) {
	assert.Equal(t, int32(engine.Raw), int32(apiv1.Encoding_ENCODING_RAW))
	assert.Equal(t, int32(engine.Text), int32(apiv1.Encoding_ENCODING_TEXT))
	assert.Equal(t, int32(engine.JSON), int32(apiv1.Encoding_ENCODING_JSON))
}

func TestValueConversions(t *testing.T) {
	kv := KeyValueToProto(engine.KeyValue{
		Peer: "p", Key: "k", Value: engine.Value{Data: []byte(`{"a":1}`), Encoding: engine.JSON},
		ExpiresAt: 123, Version: 4,
	})
	assert.Equal(t, "p", kv.GetPeer())
	assert.Equal(t, "k", kv.GetKey())
	assert.Equal(t, apiv1.Encoding_ENCODING_JSON, kv.GetValue().GetEncoding())
	assert.Equal(t, int64(123), kv.GetExpiresAtMs())
	assert.Equal(t, uint64(4), kv.GetVersion())

	pl := PeersToProto([]engine.PeerInfo{
		{Name: "a", Addr: "1:1", Alive: true, Phi: 0.5, Generation: 2, Heartbeat: 3, Version: 4},
		{Name: "b", Addr: "1:2"},
	})
	require.Len(t, pl.GetPeers(), 2)
	assert.Equal(t, apiv1.PeerState_PEER_STATE_ALIVE, pl.GetPeers()[0].GetState())
	assert.Equal(t, apiv1.PeerState_PEER_STATE_DEAD, pl.GetPeers()[1].GetState())
	assert.Equal(t, 0.5, pl.GetPeers()[0].GetPhi())
	assert.Equal(t, uint64(3), pl.GetPeers()[0].GetHeartbeat())

	rs := RepliesToProto([]engine.Answer{{Peer: "a", Value: engine.String("x")}})
	require.Len(t, rs.GetReplies(), 1)
	assert.Equal(t, "a", rs.GetReplies()[0].GetPeer())

	st := StatsToProto(engine.Stats{
		Rounds: 1, Sets: 2, Says: 3, PacketsSent: map[string]uint64{"syn": 4}, EventsDropped: 5,
		Peers: 6, LivePeers: 4, DeadPeers: 2, Keys: 7, Transport: transport.Stats{UDPBytesSent: 8, ConnsClosed: 9},
	})
	assert.Equal(t, uint64(1), st.GetRounds())
	assert.Equal(t, uint64(4), st.GetPacketsSent()["syn"])
	assert.Equal(t, uint64(5), st.GetEventsDropped())
	assert.Equal(t, uint64(6), st.GetPeers())
	assert.Equal(t, uint64(7), st.GetKeys())
	assert.Equal(t, uint64(8), st.GetTransport().GetUdpBytesSent())
	assert.Equal(t, uint64(9), st.GetTransport().GetConnsClosed())
}
