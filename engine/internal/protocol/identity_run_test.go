package protocol

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine/internal/identity"
	"github.com/telepathine/telepathine/engine/internal/state"
	"github.com/telepathine/telepathine/engine/internal/wire"
)

// runPush writes n entries on w and returns the coalesced push packet w
// builds for to: its own NodeDelta, as the runtime would send it.
func runPush(t *testing.T, s *identSim, w, to *simPeer, prefix string, n int) *wire.Packet {
	t.Helper()
	for i := range n {
		_, err := w.core.Set(s.now, fmt.Sprintf("%s%02d", prefix, i), []byte("v"), state.EncodingText, 0)
		require.NoError(t, err)
	}
	plan := w.core.TakePushes()
	var pk *wire.Packet
	for _, o := range plan.Packets() {
		b, err := w.core.Encode(s.now, o)
		require.NoError(t, err)
		require.LessOrEqual(t, len(b), simConfig().MTU, "a signed run still fits one datagram")
		if o.To == to.addr {
			require.Nil(t, pk, "one packet")
			pk = o.Packet
		}
	}
	require.NotNil(t, pk)
	require.Len(t, pk.Delta.Nodes, 1)
	require.Len(t, pk.Delta.Nodes[0].Entries, n)
	return pk
}

// altered is pk's NodeDelta with entry i replaced by change's copy (the
// run signature kept), as a relay would forward it.
func altered(pk *wire.Packet, i int, change func(e *state.Entry)) state.NodeDelta {
	nd := pk.Delta.Nodes[0]
	nd.Entries = append([]*state.Entry(nil), nd.Entries...)
	e := *nd.Entries[i]
	change(&e)
	nd.Entries[i] = &e
	return nd
}

// The owner signs each coalesced run of its own entries as a whole; a
// receiver proves the run with one check and applies its entries from the
// cache. A relay that alters one entry (its value or its signature) and
// keeps the run signature proves nothing: every entry is checked alone,
// the altered one dropped and counted. A run signature by another key is
// ignored the same way.
func TestSimIdentityRunSignature(t *testing.T) {
	s := newIdentSim(t, 4, false, nil)
	s.until(100, s.allKnowAll, "join")
	victim, relay, rx := s.peers[1], s.peers[3], s.peers[0]
	stats := func() identity.VerifierStats { return rx.core.VerifierStats() }
	has := func(key string) bool {
		e, ok := rx.core.Get(victim.Name(), key, s.now.UnixMilli())
		return ok && string(e.Value) == "v"
	}
	const n = 6 // below MinBatch: without the run, one check per entry

	// A single entry carries no run signature (its own is one check).
	pk := runPush(t, s, victim, rx, "single", 1)
	require.Empty(t, pk.Delta.Nodes[0].RunSig)
	s.inject(victim, pk)
	require.True(t, has("single00"))

	// A good run: one verification for the whole run.
	pk = runPush(t, s, victim, rx, "a", n)
	require.Len(t, pk.Delta.Nodes[0].RunSig, identity.SignatureSize)
	before := stats()
	s.inject(victim, pk)
	after := stats()
	require.Equal(t, uint64(n), after.RunProved-before.RunProved)
	require.Equal(t, uint64(1), after.Verified-before.Verified, "one verification for the run, none per entry")
	require.GreaterOrEqual(t, after.CacheHits-before.CacheHits, uint64(n), "applying hits the cache")
	require.Equal(t, before.Failed, after.Failed)
	for i := range n {
		require.True(t, has(fmt.Sprintf("a%02d", i)), "entry %d applied", i)
	}

	// A relay changes one value (and signs it with its own key) but keeps
	// the run signature: the run fails, the entries before the forgery
	// land, the forgery is dropped and counted.
	pk = runPush(t, s, victim, rx, "b", n)
	nd := altered(pk, 3, func(e *state.Entry) {
		e.Value = []byte("forged")
		e.Sig = forgeSig(s.keys[3], pk.Delta.Nodes[0].ID, e)
	})
	before, bad := stats(), rx.core.Stats().BadSignature
	s.inject(relay, &wire.Packet{Type: wire.Push, Delta: state.Delta{Nodes: []state.NodeDelta{nd}}})
	after = stats()
	require.Equal(t, before.RunProved, after.RunProved, "an altered run proves nothing")
	require.Equal(t, before.RunFailed+1, after.RunFailed)
	require.Equal(t, before.Failed+1, after.Failed, "only the forged entry fails")
	require.Equal(t, bad+1, rx.core.Stats().BadSignature)
	for i := range 3 {
		require.True(t, has(fmt.Sprintf("b%02d", i)), "entry %d before the forgery applied", i)
	}
	require.False(t, has("b03"), "the forgery is not applied")
	// The owner's genuine entries still arrive (anti-entropy).
	s.until(100, func() bool { return has("b05") }, "genuine entries after a forgery")

	// A relay swaps one entry's signature for another's: the same.
	pk = runPush(t, s, victim, rx, "c", n)
	nd = altered(pk, 1, func(e *state.Entry) { e.Sig = pk.Delta.Nodes[0].Entries[4].Sig })
	before, bad = stats(), rx.core.Stats().BadSignature
	s.inject(relay, &wire.Packet{Type: wire.Push, Delta: state.Delta{Nodes: []state.NodeDelta{nd}}})
	after = stats()
	require.Equal(t, before.RunProved, after.RunProved)
	require.Equal(t, before.RunFailed+1, after.RunFailed)
	require.Equal(t, bad+1, rx.core.Stats().BadSignature)
	require.True(t, has("c00"))
	require.False(t, has("c01"), "the entry with a swapped signature is not applied")
	s.until(100, func() bool { return has("c05") }, "genuine entries after a forgery")

	// A run signature by another key (the relay's) is ignored: every
	// entry is checked alone, and all are genuine.
	pk = runPush(t, s, victim, rx, "d", n)
	nd = pk.Delta.Nodes[0]
	r, ok := runOf(&nd)
	require.True(t, ok)
	nd.RunSig = s.keys[3].SignRun(&r)
	before, bad = stats(), rx.core.Stats().BadSignature
	s.inject(relay, &wire.Packet{Type: wire.Push, Delta: state.Delta{Nodes: []state.NodeDelta{nd}}})
	after = stats()
	require.Equal(t, before.RunProved, after.RunProved)
	require.Equal(t, before.RunFailed+1, after.RunFailed)
	require.Equal(t, before.Failed, after.Failed, "no entry is bad")
	require.Equal(t, bad, rx.core.Stats().BadSignature, "a useless run signature is not a bad signature")
	require.GreaterOrEqual(t, after.Verified-before.Verified, uint64(n), "each entry checked alone")
	for i := range n {
		require.True(t, has(fmt.Sprintf("d%02d", i)), "entry %d applied", i)
	}
}

// Only our own runs are signed: a relayed line, even a contiguous run of
// several entries of one owner, goes without a run signature.
func TestPushSignsOnlyOwnRuns(t *testing.T) {
	s := newIdentSim(t, 3, false, nil)
	s.until(100, s.allKnowAll, "join")
	w, fw := s.peers[1], s.peers[0]
	pk := runPush(t, s, w, fw, "k", 4)
	require.NotEmpty(t, pk.Delta.Nodes[0].RunSig, "w signs its own run")

	// The same run in fw's push plan (as a relay forwards it): unsigned.
	nd := pk.Delta.Nodes[0]
	nd.RunSig = nil
	kp := s.keys[0]
	plan := PushPlan{targets: []string{s.peers[2].addr}, nds: []state.NodeDelta{nd},
		items:  []pushItem{{size: (&state.Delta{Nodes: []state.NodeDelta{nd}}).Size()}},
		budget: 1 << 16, streamBudget: 1 << 16, sender: fw.core.id, runKeys: &kp}
	out := plan.Packets()
	require.Len(t, out, 1)
	require.Len(t, out[0].Packet.Delta.Nodes, 1)
	require.Len(t, out[0].Packet.Delta.Nodes[0].Entries, 4)
	require.Empty(t, out[0].Packet.Delta.Nodes[0].RunSig, "a relayed run is not signed")
}

// BenchmarkIdentityRunReceive: a receiver's CPU per entry for a pushed run
// of n of one owner's entries (decode, verify, apply), with the owner's
// run signature and without it (the entries then go one batch of n, or one
// check each below identity.MinBatch). Only HandlePacket is timed; the
// writer's Sets and signatures are not.
func BenchmarkIdentityRunReceive(b *testing.B) {
	for _, n := range []int{8, 32} {
		for _, mode := range []string{"run", "norun"} {
			b.Run(fmt.Sprintf("%d/%s", n, mode), func(b *testing.B) {
				s := newIdentSim(b, 2, false, nil)
				s.until(100, s.allKnowAll, "join")
				w, rx := s.peers[1], s.peers[0]
				var cpu time.Duration
				i, entries, packets := 0, 0, 0
				for b.Loop() {
					b.StopTimer()
					for j := range n {
						if _, err := w.core.Set(s.now, fmt.Sprintf("k%d", (i*n+j)%4096), []byte("value"), state.EncodingText, 0); err != nil {
							b.Fatal(err)
						}
					}
					plan := w.core.TakePushes()
					var encs [][]byte
					for _, o := range plan.Packets() {
						if o.To != rx.addr {
							continue
						}
						if mode == "norun" {
							cp := *o.Packet
							cp.Delta.Nodes = append([]state.NodeDelta(nil), cp.Delta.Nodes...)
							for k := range cp.Delta.Nodes {
								cp.Delta.Nodes[k].RunSig = nil
							}
							o.Packet = &cp
						}
						enc, err := w.core.Encode(s.now, o)
						if err != nil {
							b.Fatal(err)
						}
						encs = append(encs, enc)
						packets++
					}
					b.StartTimer()
					t0 := cpuTime()
					for _, enc := range encs {
						rx.core.HandlePacket(s.now, w.addr, enc)
					}
					cpu += cpuTime() - t0
					entries += n
					i++
				}
				st := rx.core.VerifierStats()
				if st.Failed != 0 || (mode == "run") != (st.RunProved > 0) {
					b.Fatalf("unexpected verifier stats %+v", st)
				}
				b.ReportMetric(float64(entries)/cpu.Seconds(), "entries/cpu-s")
				b.ReportMetric(float64(st.Verified)/float64(entries), "verifies/entry")
				b.ReportMetric(float64(entries)/float64(packets), "entries/packet")
				if _, ok := rx.core.Get(w.Name(), fmt.Sprintf("k%d", (i*n-1)%4096), s.now.UnixMilli()); !ok {
					b.Fatal("the last entry was not applied")
				}
			})
		}
	}
}

// A burst cut into several datagrams: every datagram still fits the MTU
// with its run signature (the coalescing budget reserves room for it), and
// each datagram's run is signed on its own and proves with the owner's key.
func TestSignedRunsFitDatagrams(t *testing.T) {
	for _, size := range []int{1, 20, 50, 90, 150, 300} {
		s := newIdentSim(t, 2, false, nil)
		s.until(100, s.allKnowAll, "join")
		w := s.peers[1]
		const n = 40
		for i := range n {
			_, err := w.core.Set(s.now, fmt.Sprint("key-", i), bytes.Repeat([]byte("v"), size), state.EncodingText, 0)
			require.NoError(t, err)
		}
		plan := w.core.TakePushes()
		v := identity.NewVerifier(0)
		packets, proved, signed := 0, 0, 0
		for _, o := range plan.Packets() {
			b, err := w.core.Encode(s.now, o)
			require.NoError(t, err)
			require.LessOrEqual(t, len(b), simConfig().MTU, "one datagram (values of %d bytes)", size)
			for _, nd := range o.Packet.Delta.Nodes {
				if len(nd.Entries) < 2 {
					require.Empty(t, nd.RunSig)
					continue
				}
				r, ok := runOf(&nd)
				require.True(t, ok)
				proved += v.ProveRun(s.keys[1].Public, &r, nd.RunSig)
				signed++
			}
			packets++
		}
		require.Greater(t, packets, 1, "40 entries do not fit one datagram")
		require.Greater(t, proved, n/2, "most entries proved by their datagram's run signature")
		require.Equal(t, uint64(signed), v.Stats().Verified)
		require.Zero(t, v.Stats().RunFailed)
	}
}
