package protocol

import (
	"crypto/ed25519"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/telepathine/telepathine/engine/internal/guard"
	"github.com/telepathine/telepathine/engine/internal/identity"
	"github.com/telepathine/telepathine/engine/internal/seal"
	"github.com/telepathine/telepathine/engine/internal/state"
	"github.com/telepathine/telepathine/engine/internal/wire"
)

// FuzzHandlePacket drives the whole receive path (envelope, replay window,
// decode, sanity bounds, apply) of a running core, plain and keyed, with
// arbitrary bytes: no panic, and the local peer's own state never changes.
//
// how chooses what data is: the bytes as received (how%3 == 0), or a payload
// the harness seals first, plain (1) or with the key (2), as a peer holding
// the key would. Without the last two nearly every mutation dies at the CRC
// or the GCM tag, so the decoder and the state behind it were hardly reached;
// and minimizing a new input could never succeed (any cut breaks the
// envelope), so each one took the whole -fuzzminimizetime (60 s by default)
// of Go's quadratic byte-removal search, during which the fuzzer reports 0
// execs/s: the stall seen under `go test -fuzz`.
func FuzzHandlePacket(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	key := seal.Key{1, 2, 3}
	ring, err := seal.NewKeyring(key)
	if err != nil {
		f.Fatal(err)
	}
	keyed, err := seal.New(seal.Options{Cluster: "sim", Keyring: ring, Policy: seal.Strict})
	if err != nil {
		f.Fatal(err)
	}
	plain, err := seal.New(seal.Options{Cluster: "sim"})
	if err != nil {
		f.Fatal(err)
	}
	id := state.NodeID{Name: "x", Generation: uint64(now.UnixNano()) - 1, Addr: "10.0.0.9:1"}
	for _, pk := range []*wire.Packet{
		{Cluster: "sim", Sender: id, Type: wire.Syn, Token: 5, Digest: state.Digest{Complete: true}},
		{Cluster: "sim", Sender: id, Type: wire.Push, Delta: state.Delta{Nodes: []state.NodeDelta{{ID: id, Heartbeat: 3, To: 1,
			Entries: []*state.Entry{{Version: 1, Key: "k", Value: []byte("v")}}}}}},
		{Cluster: "other", Sender: id, Type: wire.Syn},
	} {
		b, err := wire.Encode(pk)
		if err != nil {
			f.Fatal(err)
		}
		bare, err := wire.EncodeSealed(pk)
		if err != nil {
			f.Fatal(err)
		}
		for _, s := range []*seal.Sealer{keyed, plain} {
			sealed, err := s.Seal(nil, b, now)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(byte(0), sealed)
		}
		f.Add(byte(1), b)
		f.Add(byte(2), bare)
	}
	sender, err := seal.New(seal.Options{Cluster: "sim", Keyring: ring})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, how byte, data []byte) {
		receivers := []*seal.Sealer{keyed, plain}
		if how%3 != 0 {
			// A sealed payload goes to the receiver that opens it (the
			// other refuses it at the envelope, as FuzzOpen covers): one
			// core per input instead of two, twice the execs.
			encrypted := how%3 == 2
			var err error
			if data, err = sender.SealAs(nil, data, now, encrypted); err != nil {
				t.Fatal(err)
			}
			receivers = receivers[1:]
			if encrypted {
				receivers = receivers[:0:0]
				receivers = append(receivers, keyed)
			}
		}
		for _, s := range receivers {
			cfg := simConfig()
			cfg.Trust = Trust{Sealer: s, Amp: guard.NewAmplification(guard.AmpConfig{}),
				Replay: guard.NewReplay(guard.ReplayConfig{}, now.Add(-time.Hour))}
			c := New(cfg, rand.New(rand.NewPCG(1, 2)))
			c.SetName("local")
			if _, err := c.Set(now, "mine", []byte("kept"), state.EncodingText, 0); err != nil {
				t.Fatal(err)
			}
			c.Start(now, state.NodeID{Name: "local", Generation: 1, Addr: "10.0.0.1:1"})
			out := c.HandlePacket(now, "10.0.0.9:1", append([]byte(nil), data...))
			for _, o := range out.Packets {
				_, _ = c.Encode(now, o)
			}
			_ = c.HandleStream(now, "10.0.0.9:5", append([]byte(nil), data...))
			c.Tick(now.Add(time.Second))
			if e, ok := c.Get("", "mine", now.UnixMilli()); !ok || string(e.Value) != "kept" {
				t.Fatal("a packet changed the local peer's own state")
			}
		}
	})
}

// FuzzHandlePacketIdentity is FuzzHandlePacket on a core in identity mode
// (TOFU, so strangers with any key get as far as the checks go): no panic,
// the local peer's own state never changes, and every entry held of
// another peer carries a signature that verifies under its key.
func FuzzHandlePacketIdentity(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	plain, err := seal.New(seal.Options{Cluster: "sim"})
	if err != nil {
		f.Fatal(err)
	}
	other := simKeys(9, 0)
	id := state.NodeID{Name: "x", Generation: uint64(now.UnixNano()) - 1, Addr: "10.0.0.9:1"}
	e := &state.Entry{Version: 1, Key: "k", Value: []byte("v")}
	e.Sig = forgeSig(other, id, e)
	h := identity.Head{Owner: id.Name, Generation: id.Generation, Version: 1}
	head := state.Head{Version: 1, Sig: other.Sign(identity.AppendHeadMessage(nil, &h))}
	for _, pk := range []*wire.Packet{
		{Cluster: "sim", Sender: id, Type: wire.Push, Delta: state.Delta{Nodes: []state.NodeDelta{{ID: id, Heartbeat: 3, To: 1,
			PubKey: other.Public, Head: head, Entries: []*state.Entry{e}}}}},
		{Cluster: "sim", Sender: id, Type: wire.Reply, Reply: wire.ReplyMsg{AskNode: 1, AskVersion: 1, Sig: make([]byte, 64)}},
	} {
		b, err := wire.Encode(pk)
		if err != nil {
			f.Fatal(err)
		}
		sealed, err := plain.Seal(nil, b, now)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(sealed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := simConfig()
		cfg.Trust = Trust{Sealer: plain, Replay: guard.NewReplay(guard.ReplayConfig{}, now.Add(-time.Hour))}
		cfg.Identity = &Identity{Keys: simKeys(1, 0), Pins: identity.NewPins(nil, true)}
		c := New(cfg, rand.New(rand.NewPCG(1, 2)))
		c.SetName("local")
		if _, err := c.Set(now, "mine", []byte("kept"), state.EncodingText, 0); err != nil {
			t.Fatal(err)
		}
		c.Start(now, state.NodeID{Name: "local", Generation: 1, Addr: "10.0.0.1:1"})
		_ = c.HandlePacket(now, "10.0.0.9:1", append([]byte(nil), data...))
		_ = c.HandleStream(now, "10.0.0.9:5", append([]byte(nil), data...))
		c.Tick(now.Add(time.Second))
		if e, ok := c.Get("", "mine", now.UnixMilli()); !ok || string(e.Value) != "kept" {
			t.Fatal("a packet changed the local peer's own state")
		}
		c.st.Each(func(n *state.Node) {
			if n == c.st.Self() {
				return
			}
			for _, k := range c.st.Keys(n.ID.Name, now.UnixMilli()) {
				e, _ := c.Get(n.ID.Name, k, now.UnixMilli())
				ie := entryOf(n.ID, e)
				if !ed25519.Verify(n.PubKey(), identity.AppendEntryMessage(nil, &ie), e.Sig) {
					t.Fatalf("held an entry of %s whose signature fails", n.ID.Name)
				}
			}
		})
	})
}
