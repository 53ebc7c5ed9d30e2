package engine

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine/clock"
	"github.com/telepathine/telepathine/engine/internal/seal"
	"github.com/telepathine/telepathine/engine/internal/state"
	"github.com/telepathine/telepathine/engine/internal/wire"
	"github.com/telepathine/telepathine/engine/transport"
)

// Adversarial tests of issue 11 on the in-memory network: each forges what
// an attacker on the network could send and asserts what the peers did.

var (
	keyA = bytes.Repeat([]byte{0xa1}, 32)
	keyB = bytes.Repeat([]byte{0xb2}, 32)
)

func withKey(keys ...[]byte) func(int, *Config) {
	return func(_ int, c *Config) { c.Security.Keys = keys }
}

// attacker is an endpoint of the in-memory network that sends forged bytes
// and records what it receives.
type attacker struct {
	t    testing.TB
	tr   *transport.MemTransport
	mu   sync.Mutex
	got  []transport.Packet
	recv int
}

func newAttacker(t testing.TB, n *transport.MemNetwork, addr string) *attacker {
	a := &attacker{t: t, tr: n.Endpoint(addr, transport.UDPPreferred)}
	require.NoError(t, a.tr.Start(func(p transport.Packet) {
		a.mu.Lock()
		a.got = append(a.got, p)
		a.recv += len(p.Data)
		a.mu.Unlock()
	}))
	t.Cleanup(func() { _ = a.tr.Close() })
	return a
}

func (a *attacker) received() (packets, bytes int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.got), a.recv
}

// forge encodes a packet of cluster "test" and seals it with s (nil: the
// plain envelope anyone can compute).
func forge(t testing.TB, s *seal.Sealer, pk *wire.Packet) []byte {
	t.Helper()
	if pk.Cluster == "" {
		pk.Cluster = "test"
	}
	b, err := wire.Encode(pk)
	require.NoError(t, err)
	if s == nil {
		return plainEnvelope(t, b)
	}
	out, err := s.Seal(nil, b, time.Now())
	require.NoError(t, err)
	return out
}

func sealerWith(t testing.TB, cluster string, key []byte) *seal.Sealer {
	t.Helper()
	k, err := seal.KeyFromBytes(key)
	require.NoError(t, err)
	ring, err := seal.NewKeyring(k)
	require.NoError(t, err)
	s, err := seal.New(seal.Options{Cluster: cluster, Keyring: ring, Policy: seal.Strict})
	require.NoError(t, err)
	return s
}

// forgeries are the four takeovers: p1's key set at version 2^40,
// p1's key deleted, p2's heartbeat at 2^62, p2's generation at 2^64-1.
func forgeries(p1, p2 *Peer) []*wire.Packet {
	id1 := state.NodeID{Name: p1.Name(), Generation: p1.Generation(), Addr: p1.Addr()}
	id2 := state.NodeID{Name: p2.Name(), Generation: p2.Generation(), Addr: p2.Addr()}
	push := func(nd state.NodeDelta) *wire.Packet {
		return &wire.Packet{Sender: id1, Type: wire.Push, Delta: state.Delta{Nodes: []state.NodeDelta{nd}}}
	}
	big := uint64(1) << 40
	return []*wire.Packet{
		push(state.NodeDelta{ID: id1, Heartbeat: 1, From: 0, To: big, Entries: []*state.Entry{
			{Version: big, Kind: state.KindSet, Key: "k", Value: []byte("forged")}}}),
		push(state.NodeDelta{ID: id1, Heartbeat: 1, From: 0, To: big + 1, Entries: []*state.Entry{
			{Version: big + 1, Kind: state.KindTombstone, Key: "k"}}}),
		push(state.NodeDelta{ID: id2, Heartbeat: 1 << 62, From: 0, To: 0}),
		push(state.NodeDelta{ID: state.NodeID{Name: id2.Name, Generation: math.MaxUint64, Addr: id2.Addr}, Heartbeat: 5}),
	}
}

// With a key, every forged packet is dropped, whether plain, sealed with
// another key or bit-flipped: state unchanged, no false death.
func TestTrustForgedPacketsDroppedWithKey(t *testing.T) {
	cl := newMemCluster(t, 3, transport.MemOptions{}, withKey(keyA))
	eventually(t, waitFor, cl.converged, "encrypted cluster converges")
	victim, p1, p2 := cl.peers[0], cl.peers[1], cl.peers[2]
	require.NoError(t, p1.Set("k", String("real")))
	eventually(t, waitFor, func() bool { v, ok := remote(victim, p1.Name(), "k"); return ok && v.String() == "real" }, "real value")
	gen2 := p2.Generation()

	evil := newAttacker(t, cl.net, "10.66.0.1:1")
	wrong := sealerWith(t, "test", keyB)
	n := 0
	for _, pk := range forgeries(p1, p2) {
		plain := forge(t, nil, pk)
		sealed := forge(t, wrong, pk)
		flipped := forge(t, sealerWith(t, "test", keyA), pk)
		flipped[len(flipped)/2] ^= 0x40
		for _, b := range [][]byte{plain, sealed, flipped} {
			require.NoError(t, evil.tr.Send(victim.Addr(), b))
			n++
		}
	}
	eventually(t, waitFor, func() bool {
		s := victim.Stats()
		return s.Plaintext+s.UnknownKey+s.AuthFailed >= uint64(n)
	}, "every forgery refused")
	s := victim.Stats()
	assert.EqualValues(t, 4, s.Plaintext, "plain forgeries")
	assert.EqualValues(t, 4, s.UnknownKey, "forgeries under another key")
	assert.EqualValues(t, 4, s.AuthFailed, "bit-flipped real-key packets")

	// Nothing applied, nobody died, and the real writer still writes.
	v, _ := remote(victim, p1.Name(), "k")
	assert.Equal(t, "real", v.String())
	info, ok := find(victim.AllPeers(), p2.Name())
	require.True(t, ok)
	assert.Equal(t, gen2, info.Generation)
	require.NoError(t, p1.Set("k", String("real2")))
	eventually(t, waitFor, func() bool { v, ok := remote(victim, p1.Name(), "k"); return ok && v.String() == "real2" }, "later writes flow")
	assert.Zero(t, victim.Stats().Deaths, "no false death")
	assert.Len(t, victim.LivePeers(), 2)
	s = victim.Stats()
	t.Logf("forged set/delete/heartbeat/generation with a key: %d forgeries, %d applied; refused: %d plaintext, %d unknown key, %d auth failed; deaths %d, p2's generation unchanged",
		n, uint64(n)-s.Plaintext-s.UnknownKey-s.AuthFailed, s.Plaintext, s.UnknownKey, s.AuthFailed, s.Deaths)
}

// Without a key anyone can write a valid CRC: the sanity bounds refuse the
// forged heartbeat and generation (no false death, no lock-out), and what
// they cannot hold — a forged set of another peer's key — is pinned here so
// that the README's table stays true.
func TestTrustPlainModeSanityBounds(t *testing.T) {
	cl := newMemCluster(t, 3, transport.MemOptions{}, nil)
	eventually(t, waitFor, cl.converged, "converge")
	victim, p1, p2 := cl.peers[0], cl.peers[1], cl.peers[2]
	gen2 := p2.Generation()
	evil := newAttacker(t, cl.net, "10.66.0.1:1")
	fs := forgeries(p1, p2)
	for _, pk := range fs[2:] {
		require.NoError(t, evil.tr.Send(victim.Addr(), forge(t, nil, pk)))
	}
	eventually(t, waitFor, func() bool {
		s := victim.Stats()
		return s.BadHeartbeat >= 1 && s.BadGeneration >= 1
	}, "heartbeat and generation bounds")
	// Several failure-detection periods later p2 is still alive and still
	// the real incarnation.
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		info, ok := find(victim.AllPeers(), p2.Name())
		require.True(t, ok)
		require.True(t, info.Alive, "no false death from a forged heartbeat")
		require.Equal(t, gen2, info.Generation, "no takeover by a forged generation")
		time.Sleep(20 * time.Millisecond)
	}
	assert.Zero(t, victim.Stats().Deaths)
	st := victim.Stats()
	t.Logf("plain mode, forged heartbeat 2^62 and generation 2^64-1: refused %d heartbeat, %d generation; deaths %d over 1.5 s, p2's generation unchanged",
		st.BadHeartbeat, st.BadGeneration, st.Deaths)

	// The limit of plain mode: a forged set of p1's key is believed.
	require.NoError(t, evil.tr.Send(victim.Addr(), forge(t, nil, fs[0])))
	eventually(t, waitFor, func() bool { v, ok := remote(victim, p1.Name(), "k"); return ok && v.String() == "forged" },
		"plain mode cannot tell a forged write from a real one: use a key")
}

// A plaintext peer and an encrypted peer never merge: each refusal is
// counted, neither learns the other.
func TestTrustPlainAndEncryptedNeverMerge(t *testing.T) {
	cl := newMemCluster(t, 2, transport.MemOptions{}, func(i int, c *Config) {
		if i == 0 {
			c.Security.Keys = [][]byte{keyA}
			c.Seeds = []string{memAddr(1)}
		}
	})
	eventually(t, waitFor, func() bool {
		return cl.peers[0].Stats().Plaintext > 0 && cl.peers[1].Stats().NoKey > 0
	}, "both sides count the other's packets")
	assert.Empty(t, cl.peers[0].AllPeers())
	assert.Empty(t, cl.peers[1].AllPeers())
}

// Another cluster: in plain mode its Syns are counted and answered with a
// BadCluster at most at the rate limit; with a key its packets fail
// authentication (the cluster name is bound).
func TestTrustForeignCluster(t *testing.T) {
	cl := newMemCluster(t, 1, transport.MemOptions{}, nil)
	victim := cl.peers[0]
	evil := newAttacker(t, cl.net, "10.66.0.1:1")
	id := state.NodeID{Name: "other", Generation: 1, Addr: "10.66.0.1:1"}
	sent := 0
	for range 50 {
		b := forge(t, nil, &wire.Packet{Cluster: "other", Sender: id, Type: wire.Syn})
		sent += len(b)
		require.NoError(t, evil.tr.Send(victim.Addr(), b))
	}
	eventually(t, waitFor, func() bool { return victim.Stats().ForeignCluster == 50 }, "foreign packets counted")
	got, gotBytes := evil.received()
	t.Logf("BadCluster reflection: 50 foreign Syns (%d B) answered by %d BadCluster (%d B), %d rate-limited",
		sent, got, gotBytes, victim.Stats().RateLimited)
	assert.LessOrEqual(t, got, 2, "BadCluster replies rate-limited per source")
	assert.GreaterOrEqual(t, victim.Stats().RateLimited, uint64(48))

	enc := newMemCluster(t, 1, transport.MemOptions{}, func(_ int, c *Config) {
		c.Security.Keys = [][]byte{keyA}
		c.AdvertiseAddr = "10.0.9.1:7946"
		addr := c.AdvertiseAddr
		c.Transport = func() (transport.Transport, error) { return cl.net.Endpoint(addr, transport.UDPPreferred), nil }
	})
	other := sealerWith(t, "other", keyA)
	require.NoError(t, evil.tr.Send(enc.peers[0].Addr(), forge(t, other, &wire.Packet{Cluster: "other", Sender: id, Type: wire.Syn})))
	eventually(t, waitFor, func() bool { return enc.peers[0].Stats().AuthFailed == 1 }, "another cluster's key-holder fails authentication")
}

// A recorded authentic packet replayed later is dropped.
func TestTrustReplayDropped(t *testing.T) {
	cl := newMemCluster(t, 2, transport.MemOptions{}, withKey(keyA))
	eventually(t, waitFor, cl.converged, "converge")
	victim, p1 := cl.peers[0], cl.peers[1]
	// Record what p1 sends, from a tap that joins the cluster: it learns
	// p1's packets as a peer would (it holds the key, as a recorder on the
	// wire would not need to: replay needs no key).
	tap := newAttacker(t, cl.net, "10.66.0.2:1")
	sealer := sealerWith(t, "test", keyA)
	id := state.NodeID{Name: "tap", Generation: uint64(time.Now().UnixNano()), Addr: tap.tr.Addr()}
	require.NoError(t, tap.tr.Send(p1.Addr(), forge(t, sealer, &wire.Packet{Sender: id, Type: wire.Syn, Token: 7})))
	eventually(t, waitFor, func() bool { n, _ := tap.received(); return n > 0 }, "recorded a packet of p1")
	tap.mu.Lock()
	rec := append([]byte(nil), tap.got[0].Data...)
	tap.mu.Unlock()

	before := victim.Stats().Replayed
	for range 5 {
		require.NoError(t, tap.tr.Send(victim.Addr(), append([]byte(nil), rec...)))
	}
	eventually(t, waitFor, func() bool { return victim.Stats().Replayed >= before+4 }, "replays refused")
	assert.Zero(t, victim.Stats().Deaths)
	t.Logf("replay: 5 copies of a recorded packet of p1, %d refused (the first copy may be new to the victim)",
		victim.Stats().Replayed-before)
}

// Rotation across a running 8-peer cluster: install everywhere, use
// everywhere, remove the old key everywhere, with writes at every step;
// every peer ends with every write (no event lost) and the old key is
// refused afterwards.
func TestTrustKeyRotationEightPeers(t *testing.T) {
	const n = 8
	cl := newMemCluster(t, n, transport.MemOptions{}, withKey(keyA))
	eventually(t, waitFor, cl.converged, "converge")
	recs := make([]*recorder, n)
	for i, p := range cl.peers {
		recs[i] = record(p, "set:**")
	}
	writes := 0
	write := func(step string) {
		for i, p := range cl.peers {
			require.NoError(t, p.Set(fmt.Sprintf("%s-%d", step, i), String(step)))
			writes++
		}
	}
	write("before")
	for _, p := range cl.peers {
		require.NoError(t, p.InstallKey(keyB))
	}
	write("installed")
	for _, p := range cl.peers {
		require.NoError(t, p.UseKey(keyB))
	}
	write("used")
	for _, p := range cl.peers {
		require.ErrorIs(t, p.RemoveKey(keyB), ErrPrimaryKey)
		require.NoError(t, p.RemoveKey(keyA))
		assert.Equal(t, [][]byte{keyB}, p.ClusterKeys())
	}
	write("removed")
	perPeer := writes - writes/n // every write but its own
	eventually(t, 2*waitFor, func() bool {
		for _, r := range recs {
			if r.count(func(*Event) bool { return true }) < perPeer {
				return false
			}
		}
		return true
	}, "every peer heard every write")
	for i, r := range recs {
		assert.Equal(t, perPeer, r.count(func(*Event) bool { return true }), "peer %d: each write once", i)
	}
	for _, p := range cl.peers {
		s := p.Stats()
		assert.Zero(t, s.Deaths, "%s: bad heartbeats %d, bad generations %d, refused %d, withheld %d B",
			p.Name(), s.BadHeartbeat, s.BadGeneration, s.NewPeersRefused, s.Amplification)
		assert.Zero(t, s.AuthFailed)
	}
	// The old key no longer opens anything.
	evil := newAttacker(t, cl.net, "10.66.0.1:1")
	id := state.NodeID{Name: "old", Generation: 1, Addr: evil.tr.Addr()}
	before := cl.peers[0].Stats().UnknownKey
	require.NoError(t, evil.tr.Send(cl.peers[0].Addr(), forge(t, sealerWith(t, "test", keyA), &wire.Packet{Sender: id, Type: wire.Syn})))
	eventually(t, waitFor, func() bool { return cl.peers[0].Stats().UnknownKey == before+1 }, "old key refused")
}

// A running plaintext cluster upgraded in stages to encrypted, writes
// flowing at every stage, nobody dying, and plaintext refused at the end.
func TestTrustStagedUpgrade(t *testing.T) {
	const n = 5
	cl := newMemCluster(t, n, transport.MemOptions{}, nil)
	eventually(t, waitFor, cl.converged, "converge")
	step := 0
	check := func(stage string) {
		step++
		key := fmt.Sprintf("stage-%d", step)
		require.NoError(t, cl.peers[step%n].Set(key, String(stage)))
		eventually(t, waitFor, func() bool {
			for _, p := range cl.peers {
				if p == cl.peers[step%n] {
					continue
				}
				if v, ok := remote(p, cl.peers[step%n].Name(), key); !ok || v.String() != stage {
					return false
				}
			}
			return true
		}, "write at stage %s reaches all", stage)
	}
	check("plain")
	for _, p := range cl.peers {
		require.ErrorIs(t, p.SetPlaintext(true, false), ErrInvalidKeyMaterial, "no key yet")
		require.NoError(t, p.InstallKey(keyA))
	}
	check("key installed")
	for _, p := range cl.peers {
		require.NoError(t, p.SetPlaintext(true, false))
	}
	check("sending encrypted")
	for _, p := range cl.peers {
		require.NoError(t, p.SetPlaintext(false, false))
	}
	check("encrypted only")
	for _, p := range cl.peers {
		assert.Zero(t, p.Stats().Deaths)
		assert.Len(t, p.LivePeers(), n-1)
	}
	evil := newAttacker(t, cl.net, "10.66.0.1:1")
	id := state.NodeID{Name: "plain", Generation: 1, Addr: evil.tr.Addr()}
	before := cl.peers[0].Stats().Plaintext
	require.NoError(t, evil.tr.Send(cl.peers[0].Addr(), forge(t, nil, &wire.Packet{Sender: id, Type: wire.Syn})))
	eventually(t, waitFor, func() bool { return cl.peers[0].Stats().Plaintext == before+1 }, "plaintext refused")
	require.ErrorIs(t, cl.peers[0].SetPlaintext(false, true), ErrInvalidKeyMaterial)
}

// The 3x rule: Syns forged with a victim's source address (here, sent from
// the victim's endpoint, which the test controls) make a peer holding 40
// values of 3 KB send the victim at most three times what it sent, where
// main sent 1,347 times.
func TestTrustAmplificationBounded(t *testing.T) {
	cl := newMemCluster(t, 1, transport.MemOptions{}, nil)
	p := cl.peers[0]
	for i := range 40 {
		require.NoError(t, p.Set(fmt.Sprintf("big-%d", i), Bytes(bytes.Repeat([]byte{byte(i)}, 3000))))
	}
	victim := newAttacker(t, cl.net, "10.66.0.9:1")
	id := state.NodeID{Name: "victim", Generation: uint64(time.Now().UnixNano()), Addr: victim.tr.Addr()}
	sent := 0
	for i := range 100 {
		// A complete, empty digest: "I hold nothing, send me everything".
		b := forge(t, nil, &wire.Packet{Sender: id, Type: wire.Syn, Digest: state.Digest{Complete: true}})
		sent += len(b)
		require.NoError(t, victim.tr.Send(p.Addr(), b))
		if i%10 == 9 { // in batches, so that no inbox overflows
			eventually(t, 2*waitFor, func() bool { return p.Stats().PacketsReceived["syn"] == uint64(i+1) }, "syns handled")
		}
	}
	// Every reply was sent (or withheld) before the next packet was
	// handled; wait until the last allowed ones landed: the count is stable
	// once the peer's sent counter matches what arrived.
	eventually(t, waitFor, func() bool {
		n, _ := victim.received()
		return uint64(n) == p.Stats().PacketsSent["synack"]
	}, "replies landed")
	_, got := victim.received()
	ratio := float64(got) / float64(sent)
	t.Logf("amplification: %d B sent, %d B reflected, ratio %.2f, withheld %d B", sent, got, ratio, p.Stats().Amplification)
	assert.LessOrEqual(t, ratio, 3.0)
	assert.Positive(t, p.Stats().Amplification, "the rest was withheld")
}

// Filling the peer table with forged strangers (from many forged sources)
// neither evicts live peers nor keeps a real new peer out.
func TestTrustPeerTableFill(t *testing.T) {
	const maxPeers = 16
	cl := newMemCluster(t, 2, transport.MemOptions{}, func(_ int, c *Config) { c.Limits.Peers = maxPeers })
	eventually(t, waitFor, cl.converged, "converge")
	victim := cl.peers[0]
	for s := range 40 {
		evil := newAttacker(t, cl.net, fmt.Sprintf("10.66.1.%d:1", s))
		var nds []state.NodeDelta
		for j := range 20 {
			nds = append(nds, state.NodeDelta{ID: state.NodeID{
				Name: fmt.Sprintf("fake-%d-%d", s, j), Generation: 1, Addr: fmt.Sprintf("10.77.%d.%d:1", s, j)}, Heartbeat: 1})
		}
		id := state.NodeID{Name: fmt.Sprintf("fake-%d-0", s), Generation: 1, Addr: evil.tr.Addr()}
		require.NoError(t, evil.tr.Send(victim.Addr(), forge(t, nil, &wire.Packet{Sender: id, Type: wire.Push, Delta: state.Delta{Nodes: nds}})))
	}
	eventually(t, waitFor, func() bool { return victim.Stats().NewPeersRefused > 0 }, "strangers refused")
	t.Logf("peer-table fill: 40 sources x 20 forged peers into a table of %d: %d held, %d refused, live peer kept",
		maxPeers, len(victim.AllPeers()), victim.Stats().NewPeersRefused)
	assert.LessOrEqual(t, len(victim.AllPeers()), maxPeers-1)
	_, ok := find(victim.LivePeers(), cl.peers[1].Name())
	assert.True(t, ok, "the live peer was not evicted")

	// A real new peer still gets in and sees the cluster.
	joined := time.Now()
	fresh := cl.add(2)
	defer func() {
		if t.Failed() {
			t.Logf("victim %+v peers %v", victim.Stats(), victim.AllPeers())
			t.Logf("fresh %+v peers %v", fresh.Stats(), fresh.AllPeers())
		}
	}()
	// The fakes that spoke from their own address (one per attacker)
	// count as heard from: the newcomer takes the place of one only once
	// it is dead, which the fallback verdict on a peer nobody watches
	// reaches in about 10 heartbeat intervals. Usually 3 s; allow 30.
	eventually(t, 3*waitFor, func() bool {
		_, a := find(victim.LivePeers(), fresh.Name())
		_, b := find(fresh.LivePeers(), victim.Name())
		return a && b
	}, "real newcomer admitted at MaxPeers")
	t.Logf("peer-table fill: a real newcomer admitted at MaxPeers in %v", time.Since(joined).Round(time.Millisecond))
	_, ok = find(victim.LivePeers(), cl.peers[1].Name())
	assert.True(t, ok)
}

// offsetClock is the wall clock shifted by a fixed offset (a host whose
// clock stepped back).
type offsetClock struct {
	clock.Real
	off time.Duration
}

func (c offsetClock) Now() time.Time { return time.Now().Add(c.off) }

// restartSteppedBack runs a 2-peer cluster whose second peer ("stepper",
// with stateDir when not empty) sets v=old, closes, and starts again with
// its clock an hour behind and v=new. It returns the watching peer, the
// restarted one and the old generation.
func restartSteppedBack(t *testing.T, stateDir string) (watcher, p *Peer, oldGen uint64) {
	t.Helper()
	cl := newMemCluster(t, 2, transport.MemOptions{}, func(i int, c *Config) {
		if i == 1 {
			c.Security.StateDir = stateDir
			c.Name = "stepper"
		}
	})
	eventually(t, waitFor, cl.converged, "converge")
	watcher, old := cl.peers[0], cl.peers[1]
	require.NoError(t, old.Set("v", String("old")))
	eventually(t, waitFor, func() bool { v, ok := remote(watcher, "stepper", "v"); return ok && v.String() == "old" }, "old value")
	oldGen = old.Generation()
	require.NoError(t, old.Close())

	cfg := cl.config(1)
	cfg.Clock = offsetClock{off: -time.Hour}
	p, err := New(cfg)
	require.NoError(t, err)
	require.NoError(t, p.Set("v", String("new")))
	require.NoError(t, p.Start(context.Background()))
	t.Cleanup(func() { _ = p.Close() })
	return watcher, p, oldGen
}

// A peer restarted after its clock stepped back an hour is accepted at once
// when it has a StateDir: its generation still exceeds the previous one.
func TestTrustRestartAfterClockStepBack(t *testing.T) {
	watcher, p, oldGen := restartSteppedBack(t, t.TempDir())
	started := time.Now()
	assert.Greater(t, p.Generation(), oldGen, "the StateDir keeps generations increasing")
	eventually(t, waitFor, func() bool { v, ok := remote(watcher, "stepper", "v"); return ok && v.String() == "new" },
		"the restarted incarnation wins at once")
	t.Logf("restart with the clock 1 h behind, StateDir: new incarnation accepted in %v", time.Since(started).Round(100*time.Microsecond))
	info, _ := find(watcher.AllPeers(), "stepper")
	assert.Equal(t, p.Generation(), info.Generation)
}

// Random junk (some with a valid-looking envelope byte) flooding a peer
// while writes flow: nothing crashes, nobody dies, every write arrives.
func TestTrustJunkFloodWritesFlow(t *testing.T) {
	cl := newMemCluster(t, 3, transport.MemOptions{}, withKey(keyA))
	eventually(t, waitFor, cl.converged, "converge")
	victim, writer := cl.peers[0], cl.peers[1]
	evil := newAttacker(t, cl.net, "10.66.0.1:1")
	rng := rand.New(rand.NewPCG(3, 4))
	const junk = 20000
	for i := range junk {
		b := make([]byte, 1+rng.IntN(1200))
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		b[0] = []byte{0x20, 0x28 | b[len(b)-1]&7, b[0]}[i%3]
		require.NoError(t, evil.tr.Send(victim.Addr(), b))
		if i%2000 == 0 {
			require.NoError(t, writer.Set("w", String(fmt.Sprint(i))))
		}
	}
	require.NoError(t, writer.Set("w", String("last")))
	eventually(t, waitFor, func() bool { v, ok := remote(victim, writer.Name(), "w"); return ok && v.String() == "last" }, "writes flow")
	eventually(t, waitFor, func() bool {
		s := victim.Stats()
		return s.Checksum+s.AuthFailed+s.Malformed+s.BadVersion+s.UnknownKey+s.Plaintext >= junk
	}, "junk counted")
	assert.Zero(t, victim.Stats().Deaths)
	assert.Len(t, victim.LivePeers(), 2)
	t.Logf("junk flood: %d random datagrams (a third with a plain, a third with an encrypted first byte): all counted, writes flowed, deaths %d",
		junk, victim.Stats().Deaths)
}

// Without a StateDir the restarted peer's generation is lower than its old
// one: the others take it straight from the peer itself once the old
// incarnation is dead (not an hour later, when the clock caught up).
func TestTrustRestartLowerGenerationWithoutStateDir(t *testing.T) {
	watcher, p, oldGen := restartSteppedBack(t, "")
	started := time.Now()
	require.Less(t, p.Generation(), oldGen, "without a StateDir the clock decides")
	eventually(t, waitFor, func() bool { v, ok := remote(watcher, "stepper", "v"); return ok && v.String() == "new" },
		"the lower incarnation is accepted once the old one is dead")
	t.Logf("restart with the clock 1 h behind, no StateDir: new incarnation accepted in %v", time.Since(started).Round(100*time.Microsecond))
	info, _ := find(watcher.AllPeers(), "stepper")
	assert.Equal(t, p.Generation(), info.Generation)
}
