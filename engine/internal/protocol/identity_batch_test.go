package protocol

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine/internal/identity"
	"github.com/telepathine/telepathine/engine/internal/state"
	"github.com/telepathine/telepathine/engine/internal/wire"
)

// A catch-up of many entries of one owner is verified as one batch (the
// entries are then cache hits where they are applied); a run holding one
// forged entry fails the batch, and the entries are then checked one by
// one: those before the forgery are applied, the forgery is dropped and
// counted, and nothing after it is believed.
func TestSimIdentityBatchVerifiesARun(t *testing.T) {
	s := newIdentSim(t, 4, false, nil)
	s.until(100, s.allKnowAll, "join")
	victim, relay, rx := s.peers[1], s.peers[3], s.peers[0]

	write := func(prefix string, n int) state.NodeDelta {
		held, _ := rx.core.st.Node(victim.Name())
		from := held.Version
		for i := range n {
			_, err := victim.core.st.Set(fmt.Sprintf("%s%02d", prefix, i), []byte("v"), state.EncodingText, 0)
			require.NoError(t, err)
		}
		run := victim.core.st.LocalRun(from, s.now.UnixMilli())
		return run.NodeDelta()
	}
	stats := func() identity.VerifierStats { return rx.core.VerifierStats() }

	// 20 genuine entries, relayed by another peer: one batch.
	nd := write("a", 20)
	before := stats()
	s.inject(relay, &wire.Packet{Type: wire.Push, Delta: state.Delta{Nodes: []state.NodeDelta{nd}}})
	after := stats()
	require.Equal(t, uint64(20), after.Batched-before.Batched, "one batch proves the run")
	require.GreaterOrEqual(t, after.CacheHits-before.CacheHits, uint64(20), "applying the run hits the cache")
	for i := range 20 {
		e, ok := rx.core.Get(victim.Name(), fmt.Sprintf("a%02d", i), s.now.UnixMilli())
		require.True(t, ok)
		require.Equal(t, "v", string(e.Value))
	}

	// 20 more, the 11th re-signed by the relay (a key holder, not the
	// owner): the batch fails, 10 entries land, the rest wait for the
	// owner's genuine copy.
	nd = write("b", 20)
	forged := *nd.Entries[10]
	forged.Value = []byte("forged")
	forged.Sig = forgeSig(s.keys[3], nd.ID, &forged)
	entries := append([]*state.Entry(nil), nd.Entries...)
	entries[10] = &forged
	nd.Entries = entries
	before = stats()
	bad := rx.core.Stats().BadSignature
	s.inject(relay, &wire.Packet{Type: wire.Push, Delta: state.Delta{Nodes: []state.NodeDelta{nd}}})
	after = stats()
	require.Equal(t, before.Batched, after.Batched, "a batch holding a forgery proves nothing")
	require.Greater(t, rx.core.Stats().BadSignature, bad, "the forgery is counted")
	for i := range 10 {
		_, ok := rx.core.Get(victim.Name(), fmt.Sprintf("b%02d", i), s.now.UnixMilli())
		require.True(t, ok, "entry %d before the forgery is applied", i)
	}
	_, ok := rx.core.Get(victim.Name(), "b10", s.now.UnixMilli())
	require.False(t, ok, "the forged entry is not applied")

	// The owner's genuine state still arrives (anti-entropy).
	s.until(100, func() bool { return s.allHave(victim, "b19", "v") && s.allHave(victim, "b10", "v") }, "genuine run after a forgery")
}
