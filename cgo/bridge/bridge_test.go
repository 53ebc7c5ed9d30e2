package bridge

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/telepathine/telepathine/engine"
	apiv1 "github.com/telepathine/telepathine/gen/api/v1"
)

func getKV(t *testing.T, b *Bridge, h uint64, peer, key string) (*apiv1.KeyValue, error) {
	t.Helper()
	raw, err := b.GetRemote(h, []byte(peer), []byte(key))
	if err != nil {
		return nil, err
	}
	var kv apiv1.KeyValue
	require.NoError(t, proto.Unmarshal(raw, &kv))
	return &kv, nil
}

func TestEngineLifecycle(t *testing.T) {
	b := New()
	h, err := b.NewEngine(localConfig(t, newCluster(t)))
	require.NoError(t, err)
	i := info(t, b, h)
	assert.False(t, i.GetRunning())
	assert.True(t, strings.HasPrefix(i.GetCluster(), "bridge-TestEngineLifecycle-"), i.GetCluster())

	require.NoError(t, b.Start(h))
	requireCode(t, ErrRunning, b.Start(h))
	i = info(t, b, h)
	assert.True(t, i.GetRunning())
	assert.NotEmpty(t, i.GetAddr())
	assert.Equal(t, i.GetAddr(), i.GetName())
	assert.NotZero(t, i.GetGeneration())

	require.NoError(t, b.Stop(h))
	require.NoError(t, b.Stop(h))
	require.NoError(t, b.Start(h)) // a restart, on the same port
	assert.Equal(t, i.GetAddr(), info(t, b, h).GetAddr())
	assert.Greater(t, info(t, b, h).GetGeneration(), i.GetGeneration())

	require.NoError(t, b.CloseEngine(h, 0))
	require.NoError(t, b.CloseEngine(h, 0)) // idempotent
	require.NoError(t, b.CloseEngine(0, 0))
	requireCode(t, ErrClosed, b.Start(h))
	requireCode(t, ErrClosed, b.Set(h, []byte("k"), nil, 0, 0))
	_, err = b.Info(h)
	requireCode(t, ErrClosed, err)
	requireCode(t, ErrHandle, b.CloseEngine(h+4, 0)) // never issued
	requireCode(t, ErrHandle, b.Start(0))
	assert.Equal(t, 0, b.Handles())
}

func TestStartFailsOnBusyAddress(t *testing.T) {
	b := New()
	a := started(t, b, localConfig(t, newCluster(t)))
	addr := info(t, b, a).GetAddr()
	c, err := b.NewEngine(localConfig(t, newCluster(t), func(c *apiv1.Config) { c.BindAddr = addr }))
	require.NoError(t, err)
	defer b.CloseEngine(c, 0)
	requireCode(t, ErrIO, b.Start(c))
}

func TestSetGetEveryEncoding(t *testing.T) {
	b := New()
	a, c := pair(t, b)
	aName := info(t, b, a).GetName()
	values := []struct {
		key  string
		data string
		enc  int
	}{
		{"raw", "\x00\xffbytes", 0},
		{"text", "héllo", 1},
		{"json", `{"cpus":8}`, 2},
		{"empty", "", 0},
	}
	exp := time.Now().Add(time.Hour).UnixMilli()
	for _, v := range values {
		require.NoError(t, b.Set(a, []byte(v.key), []byte(v.data), v.enc, exp))
	}
	for _, v := range values {
		raw, err := b.Get(a, []byte(v.key))
		require.NoError(t, err)
		var kv apiv1.KeyValue
		require.NoError(t, proto.Unmarshal(raw, &kv))
		assert.Equal(t, v.data, string(kv.GetValue().GetData()))
		assert.Equal(t, apiv1.Encoding(v.enc), kv.GetValue().GetEncoding())
		assert.Equal(t, exp, kv.GetExpiresAtMs())
		assert.Equal(t, aName, kv.GetPeer())

		// The replica on the other engine.
		require.Eventually(t, func() bool {
			kv, err := getKV(t, b, c, aName, v.key)
			return err == nil && string(kv.GetValue().GetData()) == v.data &&
				kv.GetValue().GetEncoding() == apiv1.Encoding(v.enc)
		}, waitFor, 5*time.Millisecond, v.key)
	}

	raw, err := b.GetRemoteKeys(c, []byte(aName))
	require.NoError(t, err)
	var keys apiv1.KeyList
	require.NoError(t, proto.Unmarshal(raw, &keys))
	assert.Equal(t, []string{"empty", "json", "raw", "text"}, keys.GetKeys())
	raw, err = b.GetRemoteKeys(a, nil) // "" is the local peer
	require.NoError(t, err)
	require.NoError(t, proto.Unmarshal(raw, &keys))
	assert.Len(t, keys.GetKeys(), 4)

	deleted, err := b.Delete(a, []byte("raw"))
	require.NoError(t, err)
	assert.True(t, deleted)
	deleted, err = b.Delete(a, []byte("raw"))
	require.NoError(t, err)
	assert.False(t, deleted)
	_, err = b.Get(a, []byte("raw"))
	requireCode(t, NotFound, err)
	require.Eventually(t, func() bool {
		_, err := getKV(t, b, c, aName, "raw")
		return codeOf(err) == NotFound
	}, waitFor, 5*time.Millisecond)
	_, err = getKV(t, b, c, "nobody", "json")
	requireCode(t, NotFound, err)
}

func TestBadInputs(t *testing.T) {
	b := New()
	h := started(t, b, localConfig(t, newCluster(t), func(c *apiv1.Config) {
		c.MaxKeySize, c.MaxValueSize, c.MaxEventName, c.MaxEventPayload = 32, 1024, 8, 64
	}))
	long := func(n int) []byte { return []byte(strings.Repeat("x", n)) }
	bad := []byte{'k', 0xff}
	nul := []byte{'k', 0, 'k'}

	// Keys.
	for _, k := range [][]byte{nil, bad, nul, long(33)} {
		requireCode(t, ErrInvalidKey, b.Set(h, k, []byte("v"), 0, 0))
		_, err := b.Get(h, k)
		requireCode(t, ErrInvalidKey, err)
		_, err = b.Delete(h, k)
		requireCode(t, ErrInvalidKey, err)
	}
	require.NoError(t, b.Set(h, long(32), nil, 0, 0))
	// Values.
	requireCode(t, ErrValueTooLarge, b.Set(h, []byte("k"), long(1025), 0, 0))
	requireCode(t, ErrInvalidArgument, b.Set(h, []byte("k"), nil, 3, 0))
	requireCode(t, ErrInvalidArgument, b.Set(h, []byte("k"), nil, -1, 0))
	requireCode(t, ErrInvalidArgument, b.Set(h, []byte("k"), bad, 1, 0))          // text, not UTF-8
	requireCode(t, ErrInvalidArgument, b.Set(h, []byte("k"), []byte("{"), 2, 0))  // not JSON
	requireCode(t, ErrInvalidArgument, b.Set(h, []byte("k"), []byte("v"), 0, -5)) // negative expiry
	requireCode(t, ErrInvalidArgument, b.Say(h, []byte("e"), nil, 0, -1, 0))      // negative duration
	requireCode(t, ErrInvalidArgument, b.Say(h, []byte("e"), nil, 0, 0, 2))       // unknown flag
	requireCode(t, ErrInvalidArgument, b.Say(h, []byte("e"), nil, 9, 0, 0))       // encoding
	requireCode(t, ErrValueTooLarge, b.Say(h, []byte("e"), long(65), 0, 0, 0))    // payload
	requireCode(t, ErrValueTooLarge, b.Reply(h, 1, long(65), 0))                  // payload
	requireCode(t, ErrUnknownAsk, b.Reply(h, 12345, nil, 0))                      // no such ask
	_, err := b.Ask(h, []byte("e"), nil, 0, 0)                                    // timeout
	requireCode(t, ErrInvalidArgument, err)
	_, err = b.Ask(h, []byte("e"), nil, 0, MaxDurationMS+1)
	requireCode(t, ErrInvalidArgument, err)
	// Event names.
	for _, e := range [][]byte{nil, bad, nul, long(9)} {
		requireCode(t, ErrInvalidEvent, b.Say(h, e, nil, 0, 0, 0))
		_, err := b.Ask(h, e, nil, 0, 10)
		requireCode(t, ErrInvalidEvent, err)
	}
	// Peer names and patterns.
	for _, p := range [][]byte{bad, nul, long(33)} {
		_, err := b.GetRemote(h, p, []byte("k"))
		requireCode(t, ErrInvalidArgument, err)
		_, err = b.GetRemoteKeys(h, p)
		requireCode(t, ErrInvalidArgument, err)
	}
	for _, p := range [][]byte{nil, bad, nul, long(32 + 64 + 1)} {
		_, err := b.Subscribe(h, p, func(uint64, []byte) {}, nil)
		requireCode(t, ErrInvalidArgument, err)
		_, err = b.OpenEvents(h, p, 0)
		requireCode(t, ErrInvalidArgument, err)
	}
	_, err = b.Subscribe(h, []byte("**"), nil, nil)
	requireCode(t, ErrInvalidArgument, err)
	_, err = b.OpenEvents(h, []byte("**"), engine.MaxHandlerQueue+1)
	requireCode(t, ErrInvalidArgument, err)
	_, err = b.Peers(h, Which(7))
	requireCode(t, ErrInvalidArgument, err)

	// Say needs a running engine.
	require.NoError(t, b.Stop(h))
	requireCode(t, ErrNotRunning, b.Say(h, []byte("e"), nil, 0, 0, 0))
	assert.Equal(t, 1, b.Handles())
}

// Inputs are borrowed: the bridge must copy what it keeps, so a caller
// that reuses its buffer right after the call changes nothing.
func TestInputsAreCopied(t *testing.T) {
	b := New()
	h := started(t, b, localConfig(t, newCluster(t)))
	key, val := []byte("key"), []byte("value")
	require.NoError(t, b.Set(h, key, val, 1, 0))
	copy(key, "XXX")
	copy(val, "XXXXX")
	kv, err := getKV(t, b, h, "", "key")
	require.NoError(t, err)
	assert.Equal(t, "value", string(kv.GetValue().GetData()))
}

func TestPeersAndStats(t *testing.T) {
	b := New()
	a, c := pair(t, b)
	cInfo := info(t, b, c)
	all := peerList(t, b, a, AllPeers)
	require.Len(t, all, 1)
	assert.Equal(t, cInfo.GetName(), all[0].GetName())
	assert.Equal(t, cInfo.GetAddr(), all[0].GetAddr())
	assert.Equal(t, apiv1.PeerState_PEER_STATE_ALIVE, all[0].GetState())
	assert.Equal(t, cInfo.GetGeneration(), all[0].GetGeneration())
	assert.Empty(t, peerList(t, b, a, DeadPeers))

	// c leaves: a declares it dead.
	require.NoError(t, b.Stop(c))
	require.Eventually(t, func() bool { return len(peerList(t, b, a, DeadPeers)) == 1 }, waitFor, 10*time.Millisecond)
	assert.Empty(t, peerList(t, b, a, LivePeers))

	require.NoError(t, b.Set(a, []byte("k"), nil, 0, 0))
	raw, err := b.Stats(a)
	require.NoError(t, err)
	var st apiv1.Stats
	require.NoError(t, proto.Unmarshal(raw, &st))
	assert.Equal(t, uint64(1), st.GetSets())
	assert.Equal(t, uint64(1), st.GetKeys())
	assert.Equal(t, uint64(1), st.GetDeadPeers())
	assert.NotZero(t, st.GetRounds())
	assert.NotZero(t, st.GetTransport().GetUdpPacketsSent())
	assert.NotEmpty(t, st.GetPacketsSent())
}

func TestAskAndReply(t *testing.T) {
	b := New()
	a, c := pair(t, b)
	// c answers every ask through the bridge, with Event.ask.ask_id.
	sub, err := b.Subscribe(c, []byte("say:whoami"), func(_ uint64, raw []byte) {
		ev := decodeEvent(t, raw)
		ask := ev.GetAsk()
		if ask == nil {
			t.Errorf("not an ask: %v", ev)
			return
		}
		if err := b.Reply(c, ask.GetAskId(), append([]byte("it is c, you said "), ask.GetData().GetData()...), 1); err != nil {
			t.Error(err)
		}
		// Only the first reply counts; later ones are dropped quietly.
		if err := b.Reply(c, ask.GetAskId(), []byte("again"), 1); err != nil {
			t.Error(err)
		}
	}, nil)
	require.NoError(t, err)
	defer b.CloseSubscription(sub, 0)

	// Up to three tries: engine.Ask registers its waiter only after the ask
	// is pushed, and drops a reply that comes back sooner as late (an engine
	// race, reported; rare).
	var rs apiv1.AskReplies
	for try := 0; try < 3 && len(rs.GetReplies()) == 0; try++ {
		raw, err := b.Ask(a, []byte("whoami"), []byte("hi"), 1, 5000)
		require.NoError(t, err)
		require.NoError(t, proto.Unmarshal(raw, &rs))
	}
	require.Len(t, rs.GetReplies(), 1)
	assert.Equal(t, info(t, b, c).GetName(), rs.GetReplies()[0].GetPeer())
	assert.Equal(t, "it is c, you said hi", string(rs.GetReplies()[0].GetValue().GetData()))
	assert.Equal(t, apiv1.Encoding_ENCODING_TEXT, rs.GetReplies()[0].GetValue().GetEncoding())

	// Nobody answers: the ask ends at its timeout with no reply.
	start := time.Now()
	raw, err := b.Ask(a, []byte("nobody-listens"), nil, 0, 100)
	require.NoError(t, err)
	require.NoError(t, proto.Unmarshal(raw, &rs))
	assert.Empty(t, rs.GetReplies())
	assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
}
