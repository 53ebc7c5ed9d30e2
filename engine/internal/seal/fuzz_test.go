package seal

import (
	"bytes"
	"testing"
)

// FuzzOpen feeds arbitrary bytes to Open under every policy, with and without
// keys: it must never panic, and whatever it accepts must re-seal to a packet
// that opens to the same payload (an accepted packet is a real one).
func FuzzOpen(f *testing.F) {
	k1, k2 := testKey(1), testKey(2)
	sender := newSealer(f, "fuzz", ring(f, k1), Strict)
	for _, p := range [][]byte{nil, {0}, []byte("hello"), bytes.Repeat([]byte{0xff}, 300)} {
		enc, err := sender.Seal(nil, p, t0)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc)
		f.Add(sealPlain(nil, p))
	}
	f.Add([]byte{0x28})
	f.Add([]byte{0x29, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80})
	f.Add([]byte{0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80}) // version 1

	receivers := []*Sealer{
		newSealer(f, "fuzz", nil, Policy{}),
		newSealer(f, "fuzz", ring(f, k1, k2), Policy{}),
		newSealer(f, "fuzz", ring(f, k2, k1), Strict),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, r := range receivers {
			payload, h, err := r.Open(bytes.Clone(data), t0)
			if err != nil {
				continue
			}
			if !h.Encrypted && r.Policy().VerifyIncoming {
				t.Fatalf("plain packet accepted under a policy that refuses it")
			}
			if len(payload) > len(data) {
				t.Fatalf("payload longer than the packet")
			}
			again, err := r.Seal(nil, payload, t0)
			if err != nil {
				t.Fatal(err)
			}
			back, _, err := r.Open(again, t0)
			if err != nil || !bytes.Equal(back, payload) {
				t.Fatalf("re-sealed payload does not open: %v", err)
			}
		}
	})
}
