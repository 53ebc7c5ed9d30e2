package bridge

import (
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/telepathine/telepathine/engine"
	apiv1 "github.com/telepathine/telepathine/gen/api/v1"
)

// checkEncoding compares the hand-written encoding of e with the generated
// code's, byte for byte and as a decoded message.
func checkEncoding(t *testing.T, e *engine.Event) {
	t.Helper()
	want, err := proto.MarshalOptions{Deterministic: true}.Marshal(EventToProto(e))
	require.NoError(t, err)
	got := appendEvent([]byte("prefix"), e)
	require.Equal(t, "prefix", string(got[:6]), "appendEvent must append")
	require.Equal(t, want, got[6:], "kind %v", e.Kind)
	var decoded apiv1.Event
	require.NoError(t, proto.Unmarshal(got[6:], &decoded))
	require.True(t, proto.Equal(EventToProto(e), &decoded))
}

func TestAppendEventMatchesGeneratedCode(t *testing.T) {
	values := []engine.Value{
		{}, {Data: []byte{}}, engine.String("v"), engine.Bytes([]byte{0, 1, 2}),
		{Data: []byte(`{"a":[1,2]}`), Encoding: engine.JSON}, engine.Bytes(make([]byte, 300)),
	}
	kinds := []engine.Kind{
		engine.KindStart, engine.KindStop, engine.KindSet, engine.KindDelete, engine.KindExpired,
		engine.KindSay, engine.KindAsk, engine.KindPeerNew, engine.KindPeerStart, engine.KindPeerStop,
		engine.Kind(200), // unknown to this bridge
	}
	for _, k := range kinds {
		for _, v := range values {
			for _, exp := range []int64{0, 1, 1700000000000, -1} {
				for _, key := range []string{"", "k", "chat:héllo"} {
					e := engine.NewEvent(k, "127.0.0.1:7946", key, v, exp)
					if k == engine.KindAsk {
						e.AskID = uint64(exp) * 3
					}
					checkEncoding(t, e)
				}
			}
		}
	}
}

func FuzzAppendEvent(f *testing.F) {
	f.Add(uint8(engine.KindSet), "peer", "key", []byte("value"), uint8(1), int64(5), uint64(0))
	f.Add(uint8(engine.KindAsk), "", "q", []byte(nil), uint8(0), int64(-7), uint64(1<<63))
	f.Add(uint8(engine.KindPeerStop), "p", "", []byte{0xff}, uint8(2), int64(0), uint64(9))
	f.Fuzz(func(t *testing.T, kind uint8, peer, key string, data []byte, enc uint8, exp int64, askID uint64) {
		e := engine.NewEvent(engine.Kind(kind), peer, key, engine.Value{Data: data, Encoding: engine.Encoding(enc % 3)}, exp)
		e.AskID = askID
		if e.Kind != engine.KindAsk {
			e.AskID = 0 // only asks carry one
		}
		name := e.Name()
		if !utf8.ValidString(name) || !utf8.ValidString(peer) || !utf8.ValidString(key) {
			return // proto3 strings are UTF-8; the engine's names always are
		}
		checkEncoding(t, e)
	})
}
