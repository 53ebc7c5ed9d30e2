package seal

import "testing"

// Full-MTU packets: the target is seal+open <= 2 us.
const benchSize = 1400

func benchSealOpen(b *testing.B, s *Sealer, reuse bool) {
	payload := make([]byte, benchSize)
	var buf []byte
	if reuse {
		buf = make([]byte, 0, benchSize+MaxEncryptedOverhead)
	}
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		var dst []byte
		if reuse {
			dst = buf[:0]
		}
		pkt, err := s.Seal(dst, payload, t0)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := s.Open(pkt, t0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSealOpenEncrypted(b *testing.B) {
	benchSealOpen(b, newSealer(b, "bench", ring(b, testKey(1)), Strict), false)
}

func BenchmarkSealOpenEncrypted_Reuse(b *testing.B) {
	benchSealOpen(b, newSealer(b, "bench", ring(b, testKey(1)), Strict), true)
}

func BenchmarkSealOpenPlain(b *testing.B) {
	benchSealOpen(b, newSealer(b, "bench", nil, Policy{}), false)
}

func BenchmarkSealOpenPlain_Reuse(b *testing.B) {
	benchSealOpen(b, newSealer(b, "bench", nil, Policy{}), true)
}

// Small packets are what a quiet cluster sends.
func BenchmarkSealOpenEncryptedSmall_Reuse(b *testing.B) {
	s := newSealer(b, "bench", ring(b, testKey(1)), Strict)
	payload := make([]byte, 64)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		pkt, err := s.Seal(buf[:0], payload, t0)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := s.Open(pkt, t0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKeyFromPassphrase(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := KeyFromPassphrase("correct horse battery staple", "bench"); err != nil {
			b.Fatal(err)
		}
	}
}
