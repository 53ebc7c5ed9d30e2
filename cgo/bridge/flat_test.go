package bridge

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/telepathine/telepathine/engine"
	apiv1 "github.com/telepathine/telepathine/gen/api/v1"
)

// flatBatch is a flat batch read back by the rules of the header, strictly:
// any rule broken fails the test.
type flatBatch struct {
	strings []string
	events  []*apiv1.Event
}

func readFlat(t testing.TB, raw []byte) flatBatch {
	t.Helper()
	le := binary.LittleEndian
	require.GreaterOrEqual(t, len(raw), FlatHeaderSize)
	n, ns := int(le.Uint32(raw)), int(le.Uint32(raw[4:]))
	tableLen, dataLen := int(le.Uint32(raw[8:])), int(le.Uint32(raw[12:]))
	require.Equal(t, make([]byte, 16), raw[16:32], "reserved")
	require.NotZero(t, n, "a batch holds at least one event")
	require.NotZero(t, ns, "string 0 is always there")
	offs := raw[FlatHeaderSize:]
	tableAt := FlatHeaderSize + 4*ns
	require.LessOrEqual(t, tableAt+tableLen, len(raw))
	table := raw[tableAt : tableAt+tableLen]
	var out flatBatch
	for i := range ns {
		start := int(le.Uint32(offs[4*i:]))
		end := tableLen - 1
		if i+1 < ns {
			end = int(le.Uint32(offs[4*i+4:])) - 1
		}
		require.True(t, start <= end && end < tableLen, "string %d", i)
		require.Equal(t, byte(0), table[end], "string %d ends with a 0 byte", i)
		s := string(table[start:end])
		require.NotContains(t, s, "\x00")
		out.strings = append(out.strings, s)
	}
	require.Equal(t, "", out.strings[0])
	// Splitting the table at its 0 bytes gives the same strings, and one
	// empty piece after the last.
	assert.Equal(t, append(append([]string{}, out.strings...), ""), strings.Split(string(table), "\x00"))
	colAt := (tableAt + tableLen + 7) &^ 7
	require.Equal(t, make([]byte, colAt-tableAt-tableLen), raw[tableAt+tableLen:colAt], "padding is zero")
	colEnd := colAt + n*(8+8+5*4+3)
	dataAt := len(raw) - dataLen
	require.LessOrEqual(t, colEnd, dataAt)
	require.Equal(t, make([]byte, dataAt-colEnd), raw[colEnd:dataAt], "padding is zero")
	require.Zero(t, dataAt%8, "the data section is aligned")
	data := raw[dataAt:]
	// column c of event i: 8-byte columns first, then 4-byte, then bytes.
	u64 := func(c, i int) uint64 { return le.Uint64(raw[colAt+8*(c*n+i):]) }
	u32 := func(c, i int) uint32 { return le.Uint32(raw[colAt+16*n+4*(c*n+i):]) }
	u8 := func(c, i int) byte { return raw[colAt+36*n+c*n+i] }
	str := func(i uint32) string {
		require.Less(t, int(i), len(out.strings))
		return out.strings[i]
	}
	for i := range n {
		kind, enc, flags := engine.Kind(u8(0, i)), u8(1, i), u8(2, i)
		e := &apiv1.Event{Name: str(u32(0, i)), Peer: str(u32(1, i))}
		key := str(u32(2, i))
		vref, vlen := u32(3, i), int(u32(4, i))
		var value []byte
		if flags&FlatValueString != 0 {
			s := str(vref)
			require.Len(t, s, vlen)
			value = []byte(s)
		} else {
			require.LessOrEqual(t, int(vref)+vlen, len(data))
			value = data[vref : int(vref)+vlen]
		}
		v := &apiv1.Value{Data: value, Encoding: apiv1.Encoding(enc)}
		exp, ask := int64(u64(0, i)), u64(1, i)
		change := &apiv1.KeyChange{Key: key, Value: v, ExpiresAtMs: exp}
		if !carriesValue(kind) {
			assert.Zero(t, vref, "value of %v", kind)
			assert.Zero(t, vlen, "value length of %v", kind)
			assert.Zero(t, enc, "encoding of %v", kind)
			assert.Zero(t, flags, "flags of %v", kind)
		}
		switch kind {
		case engine.KindStart:
			e.Kind = &apiv1.Event_Start{Start: &apiv1.Lifecycle{}}
		case engine.KindStop:
			e.Kind = &apiv1.Event_Stop{Stop: &apiv1.Lifecycle{}}
		case engine.KindSet:
			e.Kind = &apiv1.Event_Set{Set: change}
		case engine.KindDelete:
			e.Kind = &apiv1.Event_Delete{Delete: change}
		case engine.KindExpired:
			e.Kind = &apiv1.Event_Expired{Expired: change}
		case engine.KindSay:
			e.Kind = &apiv1.Event_Say{Say: &apiv1.Said{Event: key, Data: v, ExpiresAtMs: exp}}
		case engine.KindAsk:
			e.Kind = &apiv1.Event_Ask{Ask: &apiv1.Asked{Event: key, Data: v, ExpiresAtMs: exp, AskId: ask}}
		case engine.KindPeerNew:
			e.Kind = &apiv1.Event_PeerNew{PeerNew: &apiv1.PeerChange{}}
		case engine.KindPeerStart:
			e.Kind = &apiv1.Event_PeerAlive{PeerAlive: &apiv1.PeerChange{}}
		case engine.KindPeerStop:
			e.Kind = &apiv1.Event_PeerDead{PeerDead: &apiv1.PeerChange{}}
		default:
			t.Fatalf("unknown kind %d", kind)
		}
		if kind != engine.KindAsk {
			assert.Zero(t, ask, "ask_id of %v", kind)
		}
		out.events = append(out.events, e)
	}
	return out
}

// requireSameEvents compares events by their serialized bytes (proto3 has
// one encoding per value, and nil and empty bytes are the same there).
func requireSameEvents(t testing.TB, want, got []*apiv1.Event) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		w, err := proto.Marshal(want[i])
		require.NoError(t, err)
		g, err := proto.Marshal(got[i])
		require.NoError(t, err)
		require.Equal(t, w, g, "event %d: want %v, got %v", i, want[i], got[i])
	}
}

func flatOf(events ...*engine.Event) []byte {
	f := flatPool.Get().(*flatBuilder)
	defer flatPool.Put(f)
	f.reset()
	for _, e := range events {
		f.add(e)
	}
	return f.bytes()
}

// Every kind, every encoding, empty and large values, text with a 0 byte
// (which cannot be a string), an ask id, expiries: the flat batch holds
// exactly what the protobuf Event of each says.
func TestFlatHoldsWhatTheProtobufEventHolds(t *testing.T) {
	big := strings.Repeat("é", 40000)
	ask := engine.NewEvent(engine.KindAsk, "p2", "q:a", engine.Value{Data: []byte(`{"x":[1,2]}`), Encoding: engine.JSON}, 1700000000123)
	ask.AskID = 1<<53 + 7
	events := []*engine.Event{
		engine.NewEvent(engine.KindStart, "me", "", engine.Value{}, 0),
		engine.NewEvent(engine.KindSet, "p1", "color", engine.String("blue"), 0),
		engine.NewEvent(engine.KindSet, "p1", "blob", engine.Bytes([]byte{0, 1, 2, 255}), 1<<62),
		engine.NewEvent(engine.KindSet, "p1", "nul", engine.String("a\x00b"), 0),
		engine.NewEvent(engine.KindSet, "p1", "empty", engine.String(""), 0),
		engine.NewEvent(engine.KindSet, "p1", "empty-raw", engine.Bytes(nil), 0),
		engine.NewEvent(engine.KindDelete, "p1", "color", engine.String("blue"), 0),
		engine.NewEvent(engine.KindExpired, "me", "ttl", engine.Value{Data: []byte(`null`), Encoding: engine.JSON}, 1234),
		engine.NewEvent(engine.KindSay, "p2", "chat:hello", engine.String(big), 99),
		engine.NewEvent(engine.KindSay, "p2", "chat:hello", engine.Bytes([]byte("raw")), 99),
		ask,
		engine.NewEvent(engine.KindPeerNew, "p3", "", engine.Value{}, 0),
		engine.NewEvent(engine.KindPeerStart, "p3", "", engine.Value{}, 0),
		engine.NewEvent(engine.KindPeerStop, "p3", "", engine.Value{}, 0),
		engine.NewEvent(engine.KindStop, "me", "", engine.Value{}, 0),
	}
	want := make([]*apiv1.Event, len(events))
	for i, e := range events {
		want[i] = decodeEvent(t, appendEvent(nil, e))
	}
	got := readFlat(t, flatOf(events...))
	requireSameEvents(t, want, got.events)
}

// Names, peers and keys are stored once per batch; values are not shared.
func TestFlatStoresEachNameOnce(t *testing.T) {
	var events []*engine.Event
	for i := range 100 {
		events = append(events, engine.NewEvent(engine.KindSay, fmt.Sprintf("p%d", i%2), "flood", engine.String("v"), 0))
	}
	b := readFlat(t, flatOf(events...))
	// "", "say:flood", "p0", "flood", "p1", and the 100 values.
	assert.Len(t, b.strings, 5+100)
	names := map[string]int{}
	for _, s := range b.strings {
		names[s]++
	}
	for _, s := range []string{"say:flood", "p0", "p1", "flood"} {
		assert.Equal(t, 1, names[s], "%q", s)
	}
	assert.Equal(t, 100, names["v"], "values are not deduplicated")
}

// The stream functions: PollFlat, PollMany and Poll mixed on one stream
// return every event once and in order; max_events caps a batch.
func TestPollFlatOrderedNoLossNoDuplicate(t *testing.T) {
	b := New()
	a, c := pair(t, b)
	ev, err := b.OpenEvents(c, []byte("say:f"), 4096)
	require.NoError(t, err)
	defer b.CloseEvents(ev)

	_, err = b.PollFlat(ev, 0, 0)
	requireCode(t, Timeout, err)
	const n = 1000
	for i := range n {
		say(t, b, a, "f", fmt.Sprint(i))
	}
	var got []string
	batches := 0
	for len(got) < n {
		switch batches % 3 {
		case 1:
			raw, err := b.PollMany(ev, waitFor.Milliseconds(), 13)
			require.NoError(t, err)
			for _, e := range decodeBatch(t, raw) {
				got = append(got, string(e.GetSay().GetData().GetData()))
			}
		case 2:
			raw, err := b.Poll(ev, waitFor.Milliseconds())
			require.NoError(t, err)
			got = append(got, string(decodeEvent(t, raw).GetSay().GetData().GetData()))
		}
		raw, err := b.PollFlat(ev, waitFor.Milliseconds(), 97)
		require.NoError(t, err)
		es := readFlat(t, raw).events
		require.LessOrEqual(t, len(es), 97)
		for _, e := range es {
			assert.Equal(t, "say:f", e.GetName())
			got = append(got, string(e.GetSay().GetData().GetData()))
		}
		batches++
	}
	require.Len(t, got, n)
	for i, v := range got {
		require.Equal(t, fmt.Sprint(i), v, "event %d", i)
	}
	assert.Less(t, batches, n/10, "events come many per batch")
}

// Real events of every kind the engines make (lifecycle, peers, set,
// delete, say, ask, expiry), taken from two streams of one pattern, one
// flat and one protobuf: the same events.
func TestPollFlatMatchesPollManyOnRealEvents(t *testing.T) {
	b := New()
	cl := newCluster(t)
	c, err := b.NewEngine(localConfig(t, cl))
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.CloseEngine(c, 0) })
	flat, err := b.OpenEvents(c, []byte("**"), 4096)
	require.NoError(t, err)
	defer b.CloseEvents(flat)
	pb, err := b.OpenEvents(c, []byte("**"), 4096)
	require.NoError(t, err)
	defer b.CloseEvents(pb)
	require.NoError(t, b.Start(c))

	a := started(t, b, localConfig(t, cl, func(cfg *apiv1.Config) { cfg.Seeds = []string{info(t, b, c).Addr} }))
	ask, err := b.OpenEvents(c, []byte("say:q"), 16)
	require.NoError(t, err)
	defer b.CloseEvents(ask)
	require.Eventually(t, func() bool {
		raw, err := b.Info(a)
		return err == nil && len(raw) > 0 && peersAlive(t, b, c) == 1
	}, waitFor, time.Millisecond)
	require.NoError(t, b.Set(a, []byte("k"), []byte(`{"n":1}`), int(engine.JSON), 0))
	require.NoError(t, b.Set(a, []byte("short"), []byte("x"), int(engine.Text), time.Now().Add(50*time.Millisecond).UnixMilli()))
	require.NoError(t, b.Set(a, []byte("bin"), []byte{0, 1}, int(engine.Raw), 0))
	_, err = b.Delete(a, []byte("bin"))
	require.NoError(t, err)
	say(t, b, a, "s", "hello")
	go func() { _, _ = b.Ask(a, []byte("q"), []byte("?"), int(engine.Text), 200) }()
	// The ask arrives on the ask stream too; answer it, then wait for the
	// expiry of "short" (a key:expired event on c).
	raw, err := b.Poll(ask, waitFor.Milliseconds())
	require.NoError(t, err)
	require.NotZero(t, decodeEvent(t, raw).GetAsk().GetAskId())

	// Taken on the test's goroutine (Eventually runs its condition on
	// another): until both streams gave the same number of events, the
	// expiry included.
	var fromFlat, fromPB []*apiv1.Event
	kinds := map[string]bool{}
	for deadline := time.Now().Add(waitFor); !kinds["*apiv1.Event_Expired"] || len(fromFlat) != len(fromPB); {
		require.True(t, time.Now().Before(deadline), "kinds seen: %v; %d flat, %d protobuf events", kinds, len(fromFlat), len(fromPB))
		if raw, err := b.PollFlat(flat, 5, 0); err == nil {
			for _, e := range readFlat(t, raw).events {
				kinds[fmt.Sprintf("%T", e.Kind)] = true
				fromFlat = append(fromFlat, e)
			}
		}
		if raw, err := b.PollMany(pb, 5, 0); err == nil {
			fromPB = append(fromPB, decodeBatch(t, raw)...)
		}
	}
	requireSameEvents(t, fromPB, fromFlat)
	for _, k := range []string{"Start", "Set", "Delete", "Expired", "Say", "Ask", "PeerNew", "PeerAlive"} {
		assert.True(t, kinds["*apiv1.Event_"+k], "a %s event", k)
	}
}

func peersAlive(t testing.TB, b *Bridge, h uint64) int {
	raw, err := b.Peers(h, LivePeers)
	require.NoError(t, err)
	var l apiv1.PeerList
	require.NoError(t, proto.Unmarshal(raw, &l))
	return len(l.Peers)
}

// The end of a stream and the errors: as PollMany.
func TestPollFlatEndAndErrors(t *testing.T) {
	b := New()
	a, c := pair(t, b)
	ev, err := b.OpenEvents(c, []byte("say:e"), 16)
	require.NoError(t, err)
	for i := range 3 {
		say(t, b, a, "e", fmt.Sprint(i))
	}
	require.Eventually(t, func() bool { return queued(t, b, c, "say:e") == 3 }, waitFor, time.Millisecond)
	require.NoError(t, b.CloseEngine(c, 0))
	raw, err := b.PollFlat(ev, 0, 0)
	require.NoError(t, err)
	assert.Len(t, readFlat(t, raw).events, 3)
	_, err = b.PollFlat(ev, 1000, 0)
	requireCode(t, ErrClosed, err)

	_, err = b.PollFlat(ev, 0, MaxBatch+1)
	requireCode(t, ErrInvalidArgument, err)
	require.NoError(t, b.CloseEvents(ev))
	_, err = b.PollFlat(ev, 0, 0)
	requireCode(t, ErrClosed, err)
	_, err = b.PollFlat(0, 0, 0)
	requireCode(t, ErrHandle, err)
	_, err = b.PollFlat(a, 0, 0) // an engine handle
	requireCode(t, ErrHandle, err)
}

// queued is how many events wait in the stream of pattern on engine h.
func queued(t testing.TB, b *Bridge, h uint64, pattern string) int {
	e, err := b.engine(h)
	require.NoError(t, err)
	for _, s := range e.peer.Subscriptions() {
		if s.Pattern == pattern && s.Stream {
			return s.Queued
		}
	}
	return -1
}

// A batch ends once its events' bytes reach the soft limit (the event
// that crosses it still goes), however many more are queued: events are
// taken from the stream by chunks, and a chunk stops at the budget, not
// after. (A small limit here; batchSoftBytes in use.)
func TestPollFlatStopsAtTheSoftLimit(t *testing.T) {
	b := New()
	a, c := pair(t, b)
	ev, err := b.OpenEvents(c, []byte("say:big"), 64)
	require.NoError(t, err)
	defer b.CloseEvents(ev)
	big := strings.Repeat("x", 1000)
	const n, soft = 30, 10 << 10
	for range n {
		say(t, b, a, "big", big)
	}
	require.Eventually(t, func() bool { return queued(t, b, c, "say:big") == n }, waitFor, time.Millisecond)
	cost := eventCost(engine.NewEvent(engine.KindSay, info(t, b, a).GetName(), "big", engine.String(big), 0))
	perBatch := (soft + cost - 1) / cost // the first whose cost reaches soft
	require.Less(t, perBatch, n)
	var sizes []int
	for got := 0; got < n; {
		raw, err := b.pollFlat(ev, 0, 0, soft)
		require.NoError(t, err)
		k := len(readFlat(t, raw).events)
		sizes = append(sizes, k)
		got += k
	}
	want := []int{}
	for left := n; left > 0; left -= perBatch {
		want = append(want, min(left, perBatch))
	}
	assert.Equal(t, want, sizes)
}
