package wire

import (
	"bytes"
	"fmt"
	"syscall"
	"testing"
	"time"

	capnp "capnproto.org/go/capnp/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine/internal/state"
	gen "github.com/telepathine/telepathine/gen/wire"
)

var sender = state.NodeID{Name: "127.0.0.1:7946", Generation: 1_700_000_000_123_456_789, Addr: "127.0.0.1:7946"}

func samplePackets() []*Packet {
	digest := state.Digest{
		Entries:     []state.DigestEntry{{Key: 0xdeadbeefcafebabe, Heartbeat: 42, Version: 7}, {Key: 1, Heartbeat: 0, Version: 0}},
		Complete:    true,
		Fingerprint: 0x1234,
	}
	delta := state.Delta{Nodes: []state.NodeDelta{{
		ID: sender, Heartbeat: 9, From: 3, To: 6, GCFloor: 2,
		Entries: []*state.Entry{
			{Version: 4, Kind: state.KindSet, Key: "k", Value: []byte("v"), Encoding: state.EncodingText, ExpiresAt: 123},
			{Version: 5, Kind: state.KindTombstone, Key: "gone", ExpiresAt: 456},
			{Version: 6, Kind: state.KindEvent, Key: "chat:msg", Value: []byte(`{"a":1}`), Encoding: state.EncodingJSON, ExpiresAt: 789},
		},
	}, {ID: state.NodeID{Name: "b", Generation: 2, Addr: "[::1]:1"}, Reset: true, To: 0}}}
	// A push travelling in a broadcast tree carries its range.
	treePush := delta
	treePush.Tree, treePush.RangeFrom, treePush.RangeTo = 2, 0xfffffffffffffff0, 0x10
	// Identity mode: a push of the owner's run carries its key, its head
	// and the run signature.
	signed := state.Delta{Nodes: append([]state.NodeDelta(nil), delta.Nodes...)}
	signed.Nodes[0].PubKey = bytes.Repeat([]byte{1}, 32)
	signed.Nodes[0].Head = state.Head{Version: 6, Epoch: 1, Sig: bytes.Repeat([]byte{2}, 64)}
	signed.Nodes[0].RunSig = bytes.Repeat([]byte{3}, 64)
	return []*Packet{
		{Cluster: "prod", Sender: sender, Type: Syn, Digest: digest},
		{Cluster: "prod", Sender: sender, Type: Push, Delta: signed},
		{Cluster: "prod", Sender: sender, Type: Push, Delta: treePush},
		{Cluster: "prod", Sender: sender, Type: SynAck, Digest: digest, Delta: delta, Mismatch: true},
		{Cluster: "prod", Sender: sender, Type: Ack, Delta: delta},
		{Cluster: "prod", Sender: sender, Type: Push, Delta: delta},
		{Cluster: "prod", Sender: sender, Type: Reply, Reply: ReplyMsg{AskNode: 5, AskVersion: 6, Value: []byte("yes"), Encoding: state.EncodingText}},
		{Cluster: "prod", Sender: sender, Type: BadCluster},
		// The compact header: the sender's key instead of its NodeId.
		{Cluster: "prod", SenderKey: state.NodeKey(sender.Name, sender.Generation), Type: Beat, Heartbeat: 3},
	}
}

func TestRoundTripEveryType(t *testing.T) {
	for _, p := range samplePackets() {
		t.Run(p.Type.String(), func(t *testing.T) {
			b, err := Encode(p)
			require.NoError(t, err)
			got, err := Decode(b, Limits{MaxPacket: 1 << 20})
			require.NoError(t, err)
			assert.Equal(t, p.Cluster, got.Cluster)
			assert.Equal(t, p.Sender, got.Sender)
			assert.Equal(t, p.SenderKey, got.SenderKey)
			assert.Equal(t, p.Type, got.Type)
			assert.Equal(t, p.Mismatch, got.Mismatch)
			if len(p.Digest.Entries) > 0 {
				assert.Equal(t, p.Digest, got.Digest)
			}
			assert.Equal(t, len(p.Delta.Nodes), len(got.Delta.Nodes))
			assert.Equal(t, [3]uint64{uint64(p.Delta.Tree), p.Delta.RangeFrom, p.Delta.RangeTo},
				[3]uint64{uint64(got.Delta.Tree), got.Delta.RangeFrom, got.Delta.RangeTo}, "the relay range")
			assert.Equal(t, p.Delta.Relay, got.Delta.Relay)
			for i := range p.Delta.Nodes {
				assert.Equal(t, p.Delta.Nodes[i], got.Delta.Nodes[i])
			}
			if p.Type == Reply {
				assert.Equal(t, p.Reply, got.Reply)
			}
		})
	}
}

func TestDecodeSharesNoMemory(t *testing.T) {
	b, err := Encode(samplePackets()[3])
	require.NoError(t, err)
	got, err := Decode(b, Limits{})
	require.NoError(t, err)
	for i := range b {
		b[i] = 0xff
	}
	assert.Equal(t, "v", string(got.Delta.Nodes[0].Entries[0].Value))
}

// The buffer a packet is unpacked into is recycled for the next packet:
// what Decode returned must not live in it. Decoding other packets after a
// push leaves the push's keys, values and identities intact.
func TestDecodeResultSurvivesBufferReuse(t *testing.T) {
	pks := samplePackets()
	b, err := Encode(pks[3])
	require.NoError(t, err)
	got, err := Decode(b, Limits{})
	require.NoError(t, err)
	other := fullMTUDelta(t)
	ob, err := Encode(other)
	require.NoError(t, err)
	for range 20 {
		_, err := Decode(ob, Limits{})
		require.NoError(t, err)
	}
	require.Equal(t, len(pks[3].Delta.Nodes), len(got.Delta.Nodes))
	for i := range pks[3].Delta.Nodes {
		assert.Equal(t, pks[3].Delta.Nodes[i], got.Delta.Nodes[i])
	}
	assert.Equal(t, pks[3].Sender, got.Sender)
	assert.Equal(t, pks[3].Cluster, got.Cluster)
}

// Event payloads of a packet share a few chunks: each is its own bytes
// (appending to one never writes into the next), every one intact, and a
// packet of says costs far fewer allocations than one per payload.
func TestDecodeEventPayloadsShareChunks(t *testing.T) {
	var entries []*state.Entry
	for i := range 200 {
		entries = append(entries, &state.Entry{Version: uint64(i + 1), Kind: state.KindEvent, Key: "tp",
			Value: fmt.Appendf(nil, "payload %03d of some thirty bytes", i), Encoding: state.EncodingText, ExpiresAt: 1})
	}
	entries = append(entries, &state.Entry{Version: 201, Kind: state.KindSet, Key: "k", Value: []byte("kept apart")})
	p := &Packet{Cluster: "c", Sender: sender, Type: Push, Delta: state.Delta{Nodes: []state.NodeDelta{{ID: sender, To: 201, Entries: entries}}}}
	b, err := Encode(p)
	require.NoError(t, err)
	got, err := Decode(b, Limits{})
	require.NoError(t, err)
	es := got.Delta.Nodes[0].Entries
	require.Len(t, es, 201)
	for i, e := range es {
		require.Equal(t, entries[i].Value, e.Value)
		require.Equal(t, "tp", es[min(i, 199)].Key)
		if i < 200 {
			require.Equal(t, len(e.Value), cap(e.Value), "no room to grow into the next payload")
		}
	}
	_ = append(es[0].Value, 'X')
	require.Equal(t, entries[1].Value, es[1].Value)
	allocs := testing.AllocsPerRun(20, func() { _, _ = Decode(b, Limits{}) })
	assert.Less(t, allocs, 40.0, "not one allocation per payload (nor per key)")
}

func TestDecodeRejects(t *testing.T) {
	good, err := Encode(samplePackets()[0])
	require.NoError(t, err)

	_, err = Decode(nil, Limits{})
	assert.ErrorIs(t, err, ErrTruncated)
	_, err = Decode(good[:len(good)/2], Limits{})
	assert.Error(t, err)
	_, err = Decode(good, Limits{MaxPacket: 16})
	assert.ErrorIs(t, err, ErrOversized)

	// A zero run of 256 words per two bytes: a bomb that must stop at the limit.
	bomb := bytes.Repeat([]byte{0x00, 0xff}, 10_000)
	_, err = Decode(bomb, Limits{MaxPacket: 1 << 20})
	assert.ErrorIs(t, err, ErrOversized)

	wrongMagic := &Packet{Cluster: "c", Sender: sender, Type: Syn}
	b := mustEncodeWith(t, wrongMagic, func(p *Packet) {})
	_, err = Decode(corruptHeader(t, b, 0x11111111, Version), Limits{})
	assert.ErrorIs(t, err, ErrMagic)
	_, err = Decode(corruptHeader(t, b, Magic, 99), Limits{})
	assert.ErrorIs(t, err, ErrVersion)

	badUTF8 := &Packet{Cluster: "c\xff", Sender: sender, Type: Syn}
	b, err = Encode(badUTF8)
	require.NoError(t, err)
	_, err = Decode(b, Limits{})
	assert.ErrorIs(t, err, ErrMalformed)

	noSender := &Packet{Cluster: "c", Type: Syn}
	b, err = Encode(noSender)
	require.NoError(t, err)
	_, err = Decode(b, Limits{})
	assert.ErrorIs(t, err, ErrMalformed)
}

func mustEncodeWith(t *testing.T, p *Packet, f func(*Packet)) []byte {
	f(p)
	b, err := Encode(p)
	require.NoError(t, err)
	return b
}

// corruptHeader rewrites magic and version through the generated API.
func corruptHeader(t *testing.T, b []byte, magic uint32, version uint16) []byte {
	raw, err := unpack(b, 1<<20)
	require.NoError(t, err)
	// Packet's data section starts right after the 8-byte segment table and
	// the 8-byte root pointer: magic at offset 16, version at 20.
	raw = bytes.Clone(raw)
	raw[16], raw[17], raw[18], raw[19] = byte(magic), byte(magic>>8), byte(magic>>16), byte(magic>>24)
	raw[20], raw[21] = byte(version), byte(version>>8)
	return packBytes(raw)
}

// fullMTUDelta builds a push whose encoding is just under 1400 bytes.
func fullMTUDelta(tb testing.TB) *Packet {
	p := &Packet{Cluster: "bench", Sender: sender, Type: Push}
	nd := state.NodeDelta{ID: sender, Heartbeat: 100, From: 1000}
	for v := uint64(1001); ; v++ {
		e := &state.Entry{Version: v, Kind: state.KindSet, Key: fmt.Sprintf("service/%04d", v), Value: []byte("10.0.0.1:8080/healthy"), Encoding: state.EncodingText}
		nd.Entries = append(nd.Entries, e)
		nd.To = v
		p.Delta.Nodes = []state.NodeDelta{nd}
		b, err := Encode(p)
		require.NoError(tb, err)
		if len(b) > 1400 {
			nd.Entries = nd.Entries[:len(nd.Entries)-1]
			nd.To = v - 1
			p.Delta.Nodes = []state.NodeDelta{nd}
			return p
		}
	}
}

func TestSizeEstimateCoversEncoding(t *testing.T) {
	p := fullMTUDelta(t)
	b, err := Encode(p)
	require.NoError(t, err)
	assert.LessOrEqual(t, len(b), 1400)
	assert.GreaterOrEqual(t, p.Delta.Size(), len(b), "the budget estimate must not undercount")
	t.Logf("full-MTU delta: %d entries, %d bytes encoded, %d estimated", len(p.Delta.Nodes[0].Entries), len(b), p.Delta.Size())
}

func BenchmarkEncodeFullMTUDelta(b *testing.B) {
	p := fullMTUDelta(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeFullMTUDelta(b *testing.B) {
	p := fullMTUDelta(b)
	data, err := Encode(p)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(data, Limits{MaxPacket: 1 << 20}); err != nil {
			b.Fatal(err)
		}
	}
}

// A packet for an authenticated envelope leaves the magic out: 4 bytes
// shorter, decoded only when the caller says its envelope authenticated,
// and a wrong non-zero magic is refused either way.
func TestEncodeSealedOmitsMagic(t *testing.T) {
	pk := &Packet{Sender: state.NodeID{Name: "a", Generation: 7, Addr: "10.0.0.1:1"}, Type: Beat, Heartbeat: 42}
	full, err := Encode(pk)
	require.NoError(t, err)
	bare, err := EncodeSealed(pk)
	require.NoError(t, err)
	assert.Equal(t, len(full)-4, len(bare))

	_, err = Decode(bare, Limits{})
	assert.ErrorIs(t, err, ErrMagic)
	got, err := Decode(bare, Limits{Sealed: true})
	require.NoError(t, err)
	assert.Equal(t, pk.Heartbeat, got.Heartbeat)
	assert.Equal(t, pk.Sender, got.Sender)
	got, err = Decode(full, Limits{Sealed: true})
	require.NoError(t, err, "a sealed envelope may still hold the magic")
	assert.Equal(t, pk.Type, got.Type)
	_, err = Decode(corruptHeader(t, full, 0x11111111, Version), Limits{Sealed: true})
	assert.ErrorIs(t, err, ErrMagic)
}

// The compact header: a beat naming its sender by key round-trips without
// a NodeId and is smaller than the same beat with one; a packet with
// neither is malformed.
func TestCompactSenderKey(t *testing.T) {
	key := state.NodeKey(sender.Name, sender.Generation)
	compact := &Packet{Cluster: "prod", SenderKey: key, Type: Beat, Heartbeat: 77}
	b, err := Encode(compact)
	require.NoError(t, err)
	got, err := Decode(b, Limits{})
	require.NoError(t, err)
	assert.Equal(t, key, got.SenderKey)
	assert.Equal(t, state.NodeID{}, got.Sender, "the receiver resolves the key")
	assert.Equal(t, uint64(77), got.Heartbeat)

	full, err := Encode(&Packet{Cluster: "prod", Sender: sender, Type: Beat, Heartbeat: 77})
	require.NoError(t, err)
	t.Logf("beat: %d B with the NodeId, %d B with the key", len(full), len(b))
	assert.Less(t, len(b)+20, len(full), "the key saves the NodeId's bytes")

	// No sender and no key: built through the generated API, as a peer
	// of another implementation could send it.
	msg, seg, err := capnp.NewMessage(capnp.SingleSegment(nil))
	require.NoError(t, err)
	root, err := gen.NewRootPacket(seg)
	require.NoError(t, err)
	root.SetMagic(Magic)
	root.SetVersion(Version)
	require.NoError(t, root.SetCluster("prod"))
	_, err = root.Body().NewBeat()
	require.NoError(t, err)
	raw, err := msg.MarshalPacked()
	require.NoError(t, err)
	_, err = Decode(raw, Limits{})
	assert.ErrorIs(t, err, ErrMalformed)
}

// BenchmarkDecodeSayPush: a push of 256 says (BenchmarkSayThroughput's
// packets carry hundreds): the receiver's decode per say.
func BenchmarkDecodeSayPush(b *testing.B) {
	var entries []*state.Entry
	for i := range 256 {
		entries = append(entries, &state.Entry{Version: uint64(i + 1), Kind: state.KindEvent, Key: "tp",
			Value: []byte("payload-of-some-thirty-bytes.."), Encoding: state.EncodingText, ExpiresAt: 1_700_000_030_000 + int64(i)})
	}
	p := &Packet{Cluster: "c", Sender: sender, Type: Push, Delta: state.Delta{Nodes: []state.NodeDelta{{ID: sender, To: 256, Entries: entries}}}}
	data, err := Encode(p)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		if _, err := Decode(data, Limits{MaxPacket: 1 << 20}); err != nil {
			b.Fatal(err)
		}
	}
	// CPU time, not wall time: what the machine's other load does not change.
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*len(entries)), "cpu-ns/say")
}

// cpuTime is the CPU time this process used so far (user + system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
