package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.UnixMilli(1_780_000_000_123)

func testKey(n byte) Key {
	var k Key
	for i := range k {
		k[i] = n + byte(i)
	}
	return k
}

// fixedRand is a deterministic session source for tests.
type fixedRand struct{ r *rand.ChaCha8 }

func newFixedRand(seed byte) *fixedRand {
	var s [32]byte
	s[0] = seed
	return &fixedRand{rand.NewChaCha8(s)}
}

func (f *fixedRand) Read(p []byte) (int, error) { return f.r.Read(p) }

func newSealer(t testing.TB, cluster string, ring *Keyring, p Policy) *Sealer {
	t.Helper()
	s, err := New(Options{Cluster: cluster, Keyring: ring, Policy: p})
	require.NoError(t, err)
	return s
}

func ring(t testing.TB, primary Key, others ...Key) *Keyring {
	t.Helper()
	r, err := NewKeyring(primary, others...)
	require.NoError(t, err)
	return r
}

func TestPlainRoundTrip(t *testing.T) {
	s := newSealer(t, "c", nil, Policy{})
	payload := []byte("hello gossip")
	pkt, err := s.Seal(nil, payload, t0)
	require.NoError(t, err)
	assert.Len(t, pkt, len(payload)+PlainOverhead)
	assert.Equal(t, 5, PlainOverhead)
	assert.Equal(t, byte(0x20), pkt[0])

	got, h, err := s.Open(pkt, t0)
	require.NoError(t, err)
	assert.Equal(t, payload, got)
	assert.False(t, h.Encrypted)
}

// Every single-bit flip, truncation and extension of a plain packet is caught:
// a corrupted packet must never reach the decoder.
func TestPlainCorruptionDetected(t *testing.T) {
	s := newSealer(t, "c", nil, Policy{})
	pkt, err := s.Seal(nil, bytes.Repeat([]byte{0xa5, 0x3c, 0x00}, 100), t0)
	require.NoError(t, err)
	for bit := range len(pkt) * 8 {
		bad := bytes.Clone(pkt)
		bad[bit/8] ^= 1 << (bit % 8)
		_, _, err := s.Open(bad, t0)
		require.Error(t, err, "bit %d", bit)
		if bit >= 8 { // the first byte carries version and mode
			require.ErrorIs(t, err, ErrChecksum, "bit %d", bit)
		}
	}
	for n := range len(pkt) {
		_, _, err := s.Open(bytes.Clone(pkt[:n]), t0)
		require.Error(t, err, "truncated to %d", n)
	}
	_, _, err = s.Open(append(bytes.Clone(pkt), 0), t0)
	require.ErrorIs(t, err, ErrChecksum)
}

func TestEncryptedRoundTrip(t *testing.T) {
	k := testKey(1)
	s := newSealer(t, "prod", ring(t, k), Strict)
	payload := []byte("state delta")
	pkt, err := s.Seal(nil, payload, t0)
	require.NoError(t, err)
	assert.Len(t, pkt, len(payload)+MinEncryptedOverhead)
	assert.Equal(t, 24, MinEncryptedOverhead)
	assert.Equal(t, 28, MaxEncryptedOverhead)
	assert.Equal(t, 0x28|k.ID()[0]&7, pkt[0])
	assert.NotContains(t, string(pkt), "state delta", "payload is encrypted")

	r := newSealer(t, "prod", ring(t, k), Strict)
	got, h, err := r.Open(pkt, t0)
	require.NoError(t, err)
	assert.Equal(t, payload, got)
	assert.True(t, h.Encrypted)
	assert.Equal(t, k.ID(), h.KeyID)
	assert.Equal(t, s.Session(), h.Session)
	assert.Equal(t, uint64(1), h.Counter)
	assert.Equal(t, t0.Truncate(TickUnit).UnixMilli(), h.SentMs)

	pkt2, err := s.Seal(nil, payload, t0.Add(time.Second))
	require.NoError(t, err)
	assert.NotEqual(t, pkt[len(pkt)-len(payload)-TagSize:], pkt2[len(pkt2)-len(payload)-TagSize:],
		"a new counter is a new nonce: same payload, different ciphertext")
	_, h, err = r.Open(pkt2, t0)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), h.Counter)
	assert.Equal(t, t0.Add(time.Second).Truncate(TickUnit).UnixMilli(), h.SentMs)
}

// The send tick is rebuilt from its low 16 bits and the receiver's clock:
// right for any clock difference within TickHorizon, either way and across
// a wrap of the low bits; beyond it the rebuilt tick is wrong and the
// packet fails authentication, so a recording never passes as recent.
func TestSendTickRebuilt(t *testing.T) {
	k := testKey(1)
	s := newSealer(t, "c", ring(t, k), Strict)
	r := newSealer(t, "c", ring(t, k), Strict)
	assert.Equal(t, 16*time.Millisecond, TickUnit)
	assert.InDelta(t, (8*time.Minute + 44*time.Second).Seconds(), TickHorizon.Seconds(), 1)
	// A send time whose low 16 bits of tick are 0xffff: the next tick wraps.
	wrap := time.UnixMilli((int64(0x12345)<<16 | 0xffff) * 16)
	for _, sent := range []time.Time{t0, wrap, wrap.Add(TickUnit)} {
		for _, skew := range []time.Duration{0, time.Second, -time.Second, 30 * time.Second, -30 * time.Second,
			TickHorizon - time.Second, -TickHorizon + time.Second} {
			pkt, err := s.Seal(nil, []byte("x"), sent)
			require.NoError(t, err)
			_, h, err := r.Open(pkt, sent.Add(skew))
			require.NoError(t, err, "sent %v, received %v later", sent, skew)
			assert.Equal(t, sent.Truncate(TickUnit).UnixMilli(), h.SentMs)
		}
		for _, skew := range []time.Duration{TickHorizon + time.Second, -TickHorizon - time.Second, time.Hour, 24 * time.Hour} {
			pkt, err := s.Seal(nil, []byte("x"), sent)
			require.NoError(t, err)
			_, _, err = r.Open(pkt, sent.Add(skew))
			assert.ErrorIs(t, err, ErrAuth, "received %v after sending", skew)
		}
	}
}

// Two installed keys whose ids share the hint are both tried, whichever
// sealed the packet, and a failed attempt leaves the packet intact for the
// next one.
func TestSharedHintTriesEachKey(t *testing.T) {
	a := testKey(1)
	var b Key
	for n := byte(2); ; n++ {
		if b = testKey(n); hint(b.ID()) == hint(a.ID()) {
			break
		}
	}
	r := newSealer(t, "c", ring(t, a, b), Strict)
	for _, k := range []Key{a, b} {
		s := newSealer(t, "c", ring(t, k), Strict)
		pkt, err := s.Seal(nil, []byte("payload"), t0)
		require.NoError(t, err)
		got, h, err := r.Open(pkt, t0)
		require.NoError(t, err, "sealed with %v", k)
		assert.Equal(t, "payload", string(got))
		assert.Equal(t, k.ID(), h.KeyID)
	}
	forged := newSealer(t, "c", ring(t, testKey(200)), Strict)
	pkt, err := forged.Seal(nil, []byte("payload"), t0)
	require.NoError(t, err)
	pkt[0] = pkt[0]&^hintMask | hint(a.ID())
	_, _, err = r.Open(pkt, t0)
	assert.ErrorIs(t, err, ErrAuth)
}

func TestKeyIDIsSHA256Prefix(t *testing.T) {
	k := testKey(9)
	sum := sha256.Sum256(k[:])
	assert.Equal(t, sum[:4], k.ID().Bytes())
	assert.NotContains(t, k.String(), k.Base64())
}

func TestOtherClusterFails(t *testing.T) {
	k := testKey(1)
	a := newSealer(t, "blue", ring(t, k), Strict)
	b := newSealer(t, "green", ring(t, k), Strict)
	pkt, err := a.Seal(nil, []byte("x"), t0)
	require.NoError(t, err)
	_, _, err = b.Open(pkt, t0)
	assert.ErrorIs(t, err, ErrAuth)
}

// Any change to any bit of a sealed packet, header included, fails: an
// attacker cannot move a packet to another session, counter or time.
func TestEncryptedTamperDetected(t *testing.T) {
	k := testKey(1)
	s := newSealer(t, "c", ring(t, k), Strict)
	r := newSealer(t, "c", ring(t, k), Strict)
	pkt, err := s.Seal(nil, []byte("forty-two bytes of perfectly good payload"), t0)
	require.NoError(t, err)
	for bit := range len(pkt) * 8 {
		bad := bytes.Clone(pkt)
		bad[bit/8] ^= 1 << (bit % 8)
		_, _, err := r.Open(bad, t0)
		require.Error(t, err, "bit %d", bit)
	}
	for n := range len(pkt) {
		_, _, err := r.Open(bytes.Clone(pkt[:n]), t0)
		require.Error(t, err, "truncated to %d", n)
	}
}

func TestNoKeyAndUnknownKey(t *testing.T) {
	k1, k2 := testKey(1), testKey(2)
	s := newSealer(t, "c", ring(t, k1), Strict)
	pkt, err := s.Seal(nil, []byte("x"), t0)
	require.NoError(t, err)

	_, _, err = newSealer(t, "c", nil, Policy{}).Open(bytes.Clone(pkt), t0)
	assert.ErrorIs(t, err, ErrNoKey, "a peer without keys")
	_, _, err = newSealer(t, "c", ring(t, k2), Strict).Open(bytes.Clone(pkt), t0)
	assert.ErrorIs(t, err, ErrUnknownKey)

	// Encrypting without a key is an error, not a silent plain packet.
	_, err = newSealer(t, "c", nil, Strict).Seal(nil, []byte("x"), t0)
	assert.ErrorIs(t, err, ErrNoKey)
}

func TestVersionAndMode(t *testing.T) {
	s := newSealer(t, "c", nil, Policy{})
	for _, b := range []byte{0x10, 0x11, 0x30, 0x01} { // version 1 (plain, encrypted), 3, 0
		_, _, err := s.Open([]byte{b, 1, 2, 3, 4, 5}, t0)
		assert.ErrorIs(t, err, ErrVersion, "first byte %#x", b)
	}
	for b := byte(0x21); b < 0x28; b++ { // modes 1-7 are unused
		_, _, err := s.Open([]byte{b, 1, 2, 3, 4, 5}, t0)
		assert.ErrorIs(t, err, ErrMalformed, "first byte %#x", b)
	}
	_, _, err := s.Open([]byte{0x2f, 1, 2, 3, 4, 5}, t0)
	assert.ErrorIs(t, err, ErrMalformed, "too short")
	_, _, err = s.Open(nil, t0)
	assert.ErrorIs(t, err, ErrMalformed)
}

// The staged upgrade of a running plaintext cluster: at each stage, every
// pair of peers one stage apart can talk; plain and encrypted peers that
// cannot never merge silently, each refusal has its own error.
func TestStagedUpgrade(t *testing.T) {
	k := testKey(7)
	stages := []Policy{{}, {SendEncrypted: true}, Strict}
	peer := func(p Policy) *Sealer { return newSealer(t, "c", ring(t, k), p) }
	legacy := newSealer(t, "c", nil, Policy{}) // a peer that never had the key

	for i, from := range stages {
		for j, to := range stages {
			if i-j > 1 || j-i > 1 {
				continue
			}
			pkt, err := peer(from).Seal(nil, []byte("up"), t0)
			require.NoError(t, err)
			got, _, err := peer(to).Open(pkt, t0)
			require.NoError(t, err, "stage %d -> stage %d", i, j)
			assert.Equal(t, "up", string(got))
		}
	}
	// Stage 0 and 2 are not compatible: a plain packet is refused by name.
	pkt, err := peer(stages[0]).Seal(nil, []byte("up"), t0)
	require.NoError(t, err)
	_, _, err = peer(Strict).Open(pkt, t0)
	assert.ErrorIs(t, err, ErrPlaintextRefused)
	// A keyless peer reads stage 0 but not stage 1.
	pkt, err = peer(stages[0]).Seal(nil, []byte("up"), t0)
	require.NoError(t, err)
	_, _, err = legacy.Open(pkt, t0)
	assert.NoError(t, err)
	pkt, err = peer(stages[1]).Seal(nil, []byte("up"), t0)
	require.NoError(t, err)
	_, _, err = legacy.Open(pkt, t0)
	assert.ErrorIs(t, err, ErrNoKey)
}

// Rotation without downtime across two peers: install -> use -> remove,
// with both directions working after every single step on either peer.
func TestKeyRotation(t *testing.T) {
	old, next := testKey(1), testKey(2)
	ra, rb := ring(t, old), ring(t, old)
	a := newSealer(t, "c", ra, Strict)
	b := newSealer(t, "c", rb, Strict)
	talk := func(step string) {
		for _, dir := range [][2]*Sealer{{a, b}, {b, a}} {
			pkt, err := dir[0].Seal(nil, []byte(step), t0)
			require.NoError(t, err, step)
			got, _, err := dir[1].Open(pkt, t0)
			require.NoError(t, err, step)
			require.Equal(t, step, string(got))
		}
	}
	talk("start")
	require.NoError(t, ra.Install(next))
	talk("a installed")
	require.NoError(t, rb.Install(next))
	talk("b installed")
	require.NoError(t, ra.UsePrimary(next))
	talk("a uses next")
	require.NoError(t, rb.UsePrimary(next))
	talk("b uses next")
	require.NoError(t, ra.Remove(old))
	talk("a removed old")
	require.NoError(t, rb.Remove(old))
	talk("b removed old")
	assert.Equal(t, []Key{next}, ra.Keys())

	// A packet under the removed key no longer opens.
	c := newSealer(t, "c", ring(t, old), Strict)
	pkt, err := c.Seal(nil, []byte("late"), t0)
	require.NoError(t, err)
	_, _, err = a.Open(pkt, t0)
	assert.ErrorIs(t, err, ErrUnknownKey)
}

func TestKeyringRules(t *testing.T) {
	k1, k2, k3 := testKey(1), testKey(2), testKey(3)
	r := ring(t, k1, k2)
	assert.Equal(t, []Key{k1, k2}, r.Keys())
	assert.ErrorIs(t, r.Remove(k1), ErrRemovePrimary)
	assert.ErrorIs(t, r.UsePrimary(k3), ErrKeyNotInstalled)
	assert.ErrorIs(t, r.Remove(k3), ErrKeyNotInstalled)
	require.NoError(t, r.Install(k2), "installing twice is harmless")
	require.NoError(t, r.UsePrimary(k2))
	assert.Equal(t, []Key{k2, k1}, r.Keys(), "primary first")
	p, ok := r.Primary()
	assert.True(t, ok)
	assert.Equal(t, k2, p)
	require.NoError(t, r.Remove(k1))
	assert.Equal(t, []Key{k2}, r.Keys())

	var empty Keyring
	_, ok = empty.Primary()
	assert.False(t, ok)
	require.NoError(t, empty.Install(k3))
	p, _ = empty.Primary()
	assert.Equal(t, k3, p, "the first key installed becomes the primary")
}

func TestKeyParsing(t *testing.T) {
	k := testKey(5)
	got, err := KeyFromBase64(k.Base64())
	require.NoError(t, err)
	assert.Equal(t, k, got)
	got, err = KeyFromBase64(" " + k.Base64()[:43] + "\n") // unpadded
	require.NoError(t, err)
	assert.Equal(t, k, got)
	_, err = KeyFromBase64("c2hvcnQ=")
	assert.ErrorIs(t, err, ErrKeySize)
	_, err = KeyFromBase64("not base64!")
	assert.Error(t, err)
	_, err = KeyFromBytes(make([]byte, 16))
	assert.ErrorIs(t, err, ErrKeySize)
}

func TestKeyFromPassphrase(t *testing.T) {
	a1, err := KeyFromPassphrase("correct horse", "blue")
	require.NoError(t, err)
	a2, err := KeyFromPassphrase("correct horse", "blue")
	require.NoError(t, err)
	b, err := KeyFromPassphrase("correct horse", "green")
	require.NoError(t, err)
	c, err := KeyFromPassphrase("correct horsf", "blue")
	require.NoError(t, err)
	assert.Equal(t, a1, a2, "every peer derives the same key")
	assert.NotEqual(t, a1, b, "the salt depends on the cluster")
	assert.NotEqual(t, a1, c)
	assert.NotEqual(t, Key(sha256.Sum256([]byte("correct horse"))), a1, "not a bare hash")
	_, err = KeyFromPassphrase("", "blue")
	assert.ErrorIs(t, err, ErrEmptyPassphrase)
	// Pin the derivation: it is part of the format, peers of other versions
	// and languages must agree on it.
	assert.Equal(t, "f23e2cd4", a1.ID().String())
}

func TestOverhead(t *testing.T) {
	assert.Equal(t, PlainOverhead, Overhead(false, 0))
	k := testKey(1)
	s := newSealer(t, "c", ring(t, k), Strict)
	for _, c := range []uint64{1, 127, 128, 1 << 14, 1 << 21, 1 << 28, MaxCounter} {
		s.mu.Lock()
		s.counter = c - 1
		s.mu.Unlock()
		pkt, err := s.Seal(nil, make([]byte, 100), t0)
		require.NoError(t, err)
		assert.Equal(t, Overhead(true, c), len(pkt)-100, "counter %d", c)
	}
	assert.Equal(t, MinEncryptedOverhead, Overhead(true, 1))
	assert.Equal(t, MinEncryptedOverhead+2, Overhead(true, 1<<14))
	assert.Equal(t, MaxEncryptedOverhead, Overhead(true, MaxCounter))
}

// Before the counter would wrap (and repeat a nonce), the Sealer moves to a
// new session and counts from 1 again.
func TestCounterRollsSession(t *testing.T) {
	k := testKey(1)
	s, err := New(Options{Cluster: "c", Keyring: ring(t, k), Policy: Strict, Rand: newFixedRand(1)})
	require.NoError(t, err)
	r := newSealer(t, "c", ring(t, k), Strict)
	first := s.Session()
	s.mu.Lock()
	s.counter = MaxCounter - 1
	s.mu.Unlock()
	open := func() Header {
		pkt, err := s.Seal(nil, []byte("x"), t0)
		require.NoError(t, err)
		_, h, err := r.Open(pkt, t0)
		require.NoError(t, err)
		return h
	}
	h := open()
	assert.Equal(t, first, h.Session)
	assert.Equal(t, uint64(MaxCounter), h.Counter)
	h = open()
	assert.NotEqual(t, first, h.Session)
	assert.Equal(t, uint64(1), h.Counter)
}

func TestSessionSourceFailure(t *testing.T) {
	_, err := New(Options{Rand: bytes.NewReader(nil)})
	assert.Error(t, err)
}

// Concurrent sealers never hand out one counter twice (a repeated nonce).
func TestConcurrentSealUniqueCounters(t *testing.T) {
	k := testKey(1)
	s := newSealer(t, "c", ring(t, k), Strict)
	r := newSealer(t, "c", ring(t, k), Strict)
	const workers, each = 4, 500
	var (
		mu   sync.Mutex
		seen = map[uint64]bool{}
		wg   sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			var buf []byte
			for range each {
				var err error
				buf, err = s.Seal(buf[:0], []byte("payload"), t0)
				if err != nil {
					t.Error(err)
					return
				}
				_, h, err := r.Open(buf, t0)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen[h.Counter] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Len(t, seen, workers*each)
}

func TestSealAppendsToDst(t *testing.T) {
	s := newSealer(t, "c", ring(t, testKey(1)), Strict)
	pkt, err := s.Seal([]byte("prefix"), []byte("x"), t0)
	require.NoError(t, err)
	assert.Equal(t, "prefix", string(pkt[:6]))
	_, _, err = s.Open(pkt[6:], t0)
	assert.NoError(t, err)
	// Times before 1970 are clamped to 0, not wrapped.
	pkt, err = s.Seal(nil, []byte("x"), time.Unix(-5, 0))
	require.NoError(t, err)
	_, h, err := s.Open(pkt, time.Unix(0, 0))
	require.NoError(t, err)
	assert.Zero(t, h.SentMs)
}

// The hot paths allocate nothing once buffers are reused.
func TestZeroAllocs(t *testing.T) {
	payload := make([]byte, 1400)
	buf := make([]byte, 0, 2048)
	for name, s := range map[string]*Sealer{
		"plain":     newSealer(t, "c", nil, Policy{}),
		"encrypted": newSealer(t, "c", ring(t, testKey(1)), Strict),
	} {
		t.Run(name, func(t *testing.T) {
			var err error
			allocs := testing.AllocsPerRun(200, func() {
				buf, err = s.Seal(buf[:0], payload, t0)
				if err == nil {
					_, _, err = s.Open(buf, t0)
				}
			})
			require.NoError(t, err)
			if raceEnabled {
				// sync.Pool drops items under the race detector; the
				// scratch buffers are the only thing that can allocate.
				assert.LessOrEqual(t, allocs, 2.0)
				return
			}
			assert.Zero(t, allocs)
		})
	}
}

// The header layout is the documented one (other implementations read it).
func TestEncryptedLayout(t *testing.T) {
	k := testKey(1)
	s, err := New(Options{Cluster: "c", Keyring: ring(t, k), Policy: Strict, Rand: newFixedRand(3)})
	require.NoError(t, err)
	pkt, err := s.Seal(nil, []byte("abc"), t0)
	require.NoError(t, err)
	id := k.ID()
	assert.Equal(t, 0x20|0x08|id[0]&7, pkt[0], "version 2, encrypted, key hint")
	assert.Equal(t, s.Session(), binary.BigEndian.Uint64(pkt[1:9]))
	assert.Equal(t, byte(1), pkt[9], "counter 1 as uvarint")
	assert.Equal(t, uint16(t0.UnixMilli()/16), binary.BigEndian.Uint16(pkt[10:12]), "low 16 bits of the 16 ms tick")
	assert.Len(t, pkt, 12+3+12)

	// Opened by hand, as another implementation would: nonce = session ||
	// counter (32 bits), additional data = header || full tick || cluster.
	block, err := aes.NewCipher(k[:])
	require.NoError(t, err)
	aead, err := cipher.NewGCMWithTagSize(block, 12)
	require.NoError(t, err)
	nonce := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(nil, s.Session()), 1)
	aad := append(binary.BigEndian.AppendUint64(bytes.Clone(pkt[:12]), uint64(t0.UnixMilli()/16)), "c"...)
	got, err := aead.Open(nil, nonce, pkt[12:], aad)
	require.NoError(t, err)
	assert.Equal(t, "abc", string(got))
}

func TestErrorsAreDistinct(t *testing.T) {
	all := []error{ErrMalformed, ErrVersion, ErrChecksum, ErrPlaintextRefused, ErrNoKey, ErrUnknownKey, ErrAuth}
	for i, a := range all {
		for j, b := range all {
			assert.Equal(t, i == j, errors.Is(a, b))
		}
	}
}
