package protocol

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine/internal/seal"
)

// sealPathCore is a bare core whose envelope is plain or keyed.
func sealPathCore(tb testing.TB, encrypted bool) *Core {
	opts := seal.Options{Cluster: "sim"}
	if encrypted {
		ring, err := seal.NewKeyring(simKey)
		require.NoError(tb, err)
		opts.Keyring, opts.Policy = ring, seal.Strict
	}
	s, err := seal.New(opts)
	require.NoError(tb, err)
	cfg := simConfig()
	cfg.Trust = Trust{Sealer: s}
	return New(cfg, rand.New(rand.NewPCG(1, 2)))
}

// The runtime seals and opens through the seal package's reuse path:
// sealing an encoded packet allocates only the buffer handed to the
// transport (which takes ownership of it, so it cannot be pooled), sized so
// that sealing never grows it; opening a received packet allocates nothing
// (it decrypts in place, nonce and additional data in pooled scratch).
func TestSealPathAllocs(t *testing.T) {
	now := simEpoch
	payload := make([]byte, 1400-seal.MaxEncryptedOverhead)
	for _, encrypted := range []bool{false, true} {
		c := sealPathCore(t, encrypted)
		var sealed []byte
		var err error
		sealAllocs := testing.AllocsPerRun(200, func() { sealed, err = c.sealBytes(now, payload, encrypted) })
		require.NoError(t, err)
		assert.Equal(t, len(sealed), cap(sealed)-seal.MaxEncryptedOverhead+seal.Overhead(encrypted, 200),
			"the buffer was sized once, never grown")
		buf := make([]byte, len(sealed))
		openAllocs := testing.AllocsPerRun(200, func() {
			copy(buf, sealed)
			_, _, err = c.cfg.Trust.Sealer.Open(buf, now)
		})
		require.NoError(t, err)
		if raceEnabled {
			assert.LessOrEqual(t, sealAllocs, 3.0, "encrypted=%v", encrypted)
			assert.LessOrEqual(t, openAllocs, 2.0, "encrypted=%v", encrypted)
			continue
		}
		assert.Equal(t, 1.0, sealAllocs, "encrypted=%v: the transport's buffer only", encrypted)
		assert.Zero(t, openAllocs, "encrypted=%v", encrypted)
	}
}

// BenchmarkSealPath: what the runtime pays to seal (sealBytes: the buffer
// for the transport, then Seal) and open (in place) one full-MTU packet.
// The goal: seal+open <= 2 us.
func BenchmarkSealPath(b *testing.B) {
	now := simEpoch
	payload := make([]byte, 1400-seal.MaxEncryptedOverhead)
	for _, mode := range []string{"plain", "aes"} {
		b.Run(mode, func(b *testing.B) {
			c := sealPathCore(b, mode == "aes")
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			for b.Loop() {
				sealed, err := c.sealBytes(now, payload, mode == "aes")
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := c.cfg.Trust.Sealer.Open(sealed, now.Add(time.Millisecond)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
