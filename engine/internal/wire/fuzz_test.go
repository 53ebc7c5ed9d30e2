package wire

import (
	"bytes"
	"testing"

	"capnproto.org/go/capnp/v3/packed"

	"github.com/telepathine/telepathine/engine/internal/state"
)

func addSeeds(f *testing.F) {
	for _, p := range samplePackets() {
		b, err := Encode(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x00, 0xff, 0x00, 0xff})
	f.Add([]byte{0xff, 1, 2, 3, 4, 5, 6, 7, 8, 0xff})
}

// FuzzDecode: no input makes Decode panic, and whatever decodes re-encodes
// to something that decodes to the same packet.
func FuzzDecode(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Decode(data, Limits{MaxPacket: 1 << 20})
		if err != nil {
			return
		}
		b, err := Encode(p)
		if err != nil {
			t.Fatalf("decoded packet does not re-encode: %v", err)
		}
		q, err := Decode(b, Limits{MaxPacket: 1 << 21})
		if err != nil {
			t.Fatalf("re-encoded packet does not decode: %v", err)
		}
		if q.Type != p.Type || q.Sender != p.Sender || q.Cluster != p.Cluster ||
			len(q.Delta.Nodes) != len(p.Delta.Nodes) || len(q.Digest.Entries) != len(p.Digest.Entries) {
			t.Fatalf("round trip changed the packet: %+v vs %+v", p, q)
		}
	})
}

// FuzzApply: whatever decodes can be fed to a replica, digest and delta, and
// never makes it panic or break its invariants.
func FuzzApply(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Decode(data, Limits{MaxPacket: 1 << 20})
		if err != nil {
			return
		}
		const now = 1_700_000_000_000
		c := state.NewCluster(state.NodeID{Name: "local", Generation: 1, Addr: "local"}, state.DefaultLimits)
		_, _ = c.Set("k", []byte("v"), state.EncodingText, 0)
		cmp, _ := c.Compare(&p.Digest, nil)
		_ = c.BuildDelta(cmp.Requests, 1400, now, nil)
		_, fresh, err := c.Apply(&p.Delta, now, p.Type == Push, nil, nil)
		if err != nil {
			return
		}
		for _, r := range fresh {
			for i, e := range r.Entries {
				if e.Version <= r.From || e.Version > r.To || i > 0 && e.Version <= r.Entries[i-1].Version {
					t.Fatalf("fresh run out of order: %+v", r)
				}
			}
		}
		c.Tick(now+1_000_000, 1000, nil)
		if e, ok := c.Get("local", "k", now); !ok || string(e.Value) != "v" {
			t.Fatal("a delta changed the local node's own state")
		}
	})
}

// FuzzExpandPacked: whatever unpackedSize accepts, expandPacked unpacks
// exactly as the library's packed.Unpack does, into a buffer holding
// another packet's bytes before (the pool's recycled buffers).
func FuzzExpandPacked(f *testing.F) {
	addSeeds(f)
	f.Add([]byte{0x00, 0x03, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 0x01, 9, 9, 9, 9, 9, 9, 9, 9, 0x81, 7, 8})
	f.Add([]byte{0xff, 1, 2, 3, 4, 5, 6, 7, 8, 0x00, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		size, err := unpackedSize(data, 1<<20)
		if err != nil {
			return
		}
		want, err := packed.Unpack(nil, data)
		if err != nil {
			t.Fatalf("unpackedSize accepted what packed.Unpack refuses: %v", err)
		}
		got := bytes.Repeat([]byte{0xa5}, size)
		expandPacked(got, data)
		if !bytes.Equal(got, want) {
			t.Fatalf("expandPacked differs from packed.Unpack:\n got %x\nwant %x", got, want)
		}
	})
}
