// Package seal is the envelope around every encoded packet, UDP datagram and
// TCP frame alike. Without a key it adds a CRC-32C so that a corrupted packet
// is refused before it is decoded; with a keyring it seals the packet with
// AES-256-GCM, binding the cluster name and a replay header (sender session,
// packet counter, send time) that package guard checks.
//
// Formats (version 2; all integers big-endian):
//
//	plain:     0x20 | payload | CRC-32C(0x20 | payload) (4)          = 5 bytes overhead
//	encrypted: 0x28 + key hint (0-7) | session (8) | counter (uvarint, 1-5)
//	           | send tick (2) | AES-256-GCM(payload) | tag (12)
//	                                                                = 24-28 bytes overhead
//
// The first byte is the version (high nibble) and the mode (low nibble):
// 0 plain, 8-15 encrypted with the key hint in the low 3 bits; 1-7 are
// unused (ErrMalformed).
//
// The additional data of GCM is the header as sent, then the full send tick
// (8 bytes) and the cluster name, so a packet of another cluster, a packet
// whose header was edited and a packet sealed with another key all fail with
// ErrAuth. Version 1 (a 4-byte key id, 6-byte millisecond time, 16-byte tag:
// 36-40 bytes) is refused with ErrVersion; version 2 keeps what it protected
// in 12 bytes less, which matters for the many small packets of a quiet
// cluster:
//
//   - Key hint: the low 3 bits of the key's id (KeyID), in the first byte. The
//     receiver tries each installed key with that hint, usually exactly one;
//     two installed keys share a hint with chance 1/8 per pair (a keyring
//     holds two or three keys during a rotation), and then both are tried. A
//     forger gains nothing from the hint: at most the few installed keys are
//     tried, and each fails.
//   - Send tick: the send time in units of TickUnit (16 ms), of which only the
//     low 16 bits are sent. The receiver takes the tick nearest its own clock
//     with those low bits (within ±TickHorizon, about 8.7 minutes), and the
//     full tick is authenticated as additional data. A tick rebuilt wrongly (a
//     sender whose clock is more than TickHorizon off, or a packet recorded
//     more than TickHorizon ago) fails authentication, so the truncation never
//     lets an old packet pass as a recent one. The replay window (package
//     guard) accepts send times within seconds of now, far inside that horizon,
//     and 16 ms is far finer than anything it compares.
//   - Tag: 12 bytes, a length NIST SP 800-38D allows for GCM; a forgery passes
//     with chance about (length in 16-byte blocks + 1) / 2^96 per attempt,
//     under 2^-84 for a 64 KiB packet, and every failed attempt is counted.
//
// Nonces are not sent: the 96-bit GCM nonce is session (64 bits) followed by
// the counter's low 32 bits. A Sealer draws its session at random when it is
// created and counts from 1, and it draws a fresh session before the counter
// would pass 2^32-1, so one Sealer never repeats a nonce under a key. Two
// senders repeat one only if they draw the same 64-bit session, a chance of
// about n²/2^65 over n sessions under one key (10^-8 for a million restarts).
// Random 96-bit nonces would be 12 more bytes per packet, and their collision
// chance grows with the number of packets instead (2^-33 after 2^32 packets,
// which a busy cluster sends in weeks), so the counter nonce is both smaller and
// safer here. Never share one Sealer's session across processes (no fork, no
// VM snapshot restored twice with the same Sealer in memory).
package seal

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Version is the envelope version in the high nibble of the first byte.
const Version = 2

// Modes in the low nibble of the first byte. ONLY APPEND.
const (
	modePlain = 0
	// modeEncrypted is a bit: the low 3 bits beside it are the key hint.
	modeEncrypted = 8
	hintMask      = 7
)

const (
	bytePlain     = Version<<4 | modePlain
	byteEncrypted = Version<<4 | modeEncrypted
)

// hint is what a sealed packet says of its key.
func hint(id KeyID) byte { return id[0] & hintMask }

// Sizes of the envelope's parts.
const (
	// PlainOverhead is what a plain packet adds: the version byte and the CRC.
	PlainOverhead = 1 + crcSize
	// MinEncryptedOverhead is an encrypted packet's overhead with a one-byte
	// counter (the first 127 packets of a session); each 7 more bits of
	// counter add a byte, up to MaxEncryptedOverhead.
	MinEncryptedOverhead = fixedHeader + 1 + TagSize
	// MaxEncryptedOverhead is the overhead with the largest counter (5 bytes).
	MaxEncryptedOverhead = fixedHeader + maxCounterLen + TagSize
	// TagSize is the GCM authentication tag: 96 bits (NIST SP 800-38D).
	TagSize = 12

	crcSize       = 4
	sessionSize   = 8
	tickSize      = 2 // low 16 bits of the send tick
	fixedHeader   = 1 + sessionSize + tickSize
	maxCounterLen = 5 // uvarint of a counter below 2^32
	nonceSize     = 12
	// MaxCounter is the last counter of a session: the nonce holds the
	// counter's low 32 bits, so the Sealer changes session before it wraps.
	MaxCounter = 1<<32 - 1
)

// TickUnit is the resolution of the send time an encrypted packet carries.
const TickUnit = 16 * time.Millisecond

// TickHorizon is how far a sender's clock may be from the receiver's before
// its packets fail authentication: half the period of the 16-bit tick sent
// (2^16 x 16 ms = 17.5 min).
const TickHorizon = (1 << (8*tickSize - 1)) * TickUnit

const tickMs = int64(TickUnit / time.Millisecond)

// Errors of Open. Each names one reason so the engine can count it apart.
var (
	// ErrMalformed: too short, unknown mode, truncated header.
	ErrMalformed = errors.New("seal: malformed envelope")
	// ErrVersion: an envelope version this build does not read.
	ErrVersion = errors.New("seal: unknown envelope version")
	// ErrChecksum: a plain packet whose CRC does not match (corrupted).
	ErrChecksum = errors.New("seal: checksum mismatch")
	// ErrPlaintextRefused: a valid plain packet while the policy requires
	// encryption (a peer without the key, or not yet upgraded).
	ErrPlaintextRefused = errors.New("seal: plaintext packet refused")
	// ErrNoKey: an encrypted packet while we have no key at all (a peer
	// upgraded before us), or Seal asked to encrypt without a primary key.
	ErrNoKey = errors.New("seal: encrypted packet but no key installed")
	// ErrUnknownKey: an encrypted packet under a key id we do not hold (a key
	// not yet installed here, or already removed).
	ErrUnknownKey = errors.New("seal: packet sealed with an unknown key")
	// ErrAuth: authentication failed (tampered, another cluster, forged).
	ErrAuth = errors.New("seal: packet authentication failed")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Policy is the stage of a plaintext-to-encrypted upgrade, as memberlist's
// keyring allows: start every peer with {false, false} plus the key
// installed, then switch every peer to {false, true}, then to {true, true}.
// At each step every peer can read what every other sends.
type Policy struct {
	// VerifyIncoming refuses plain packets (ErrPlaintextRefused).
	VerifyIncoming bool
	// SendEncrypted seals outgoing packets with the primary key.
	SendEncrypted bool
}

// Strict is the policy of a cluster that has a key: send and require
// encryption. The zero Policy is the first upgrade stage (accept both, send
// plain), so an engine should default to Strict whenever a key is configured.
var Strict = Policy{VerifyIncoming: true, SendEncrypted: true}

// Options configure a Sealer.
type Options struct {
	// Cluster is bound to every encrypted packet as additional data.
	Cluster string
	// Keyring holds the keys; nil means plain packets only (and every
	// encrypted packet fails with ErrNoKey).
	Keyring *Keyring
	// Policy is the upgrade stage; see Policy and Strict.
	Policy Policy
	// Rand draws session ids. Default crypto/rand; tests inject a fixed one.
	Rand io.Reader
}

// Header is what Open read from an authenticated envelope. For a plain packet
// only Encrypted (false) is meaningful: anyone can forge it.
type Header struct {
	Encrypted bool
	// KeyID is the id of the installed key that opened the packet.
	KeyID KeyID
	// Session is the sender's random id for this incarnation (until its
	// counter runs out).
	Session uint64
	// Counter increases by one for each packet the session seals.
	Counter uint64
	// SentMs is the sender's clock when sealing, in Unix milliseconds,
	// rounded down to TickUnit.
	SentMs int64
}

// Sealer seals outgoing and opens incoming packets. It is safe for concurrent
// use.
type Sealer struct {
	cluster []byte
	ring    *Keyring
	rand    io.Reader
	policy  atomic.Uint32 // bit 0 VerifyIncoming, bit 1 SendEncrypted

	mu      sync.Mutex
	session uint64
	counter uint64 // last counter used
}

// New returns a Sealer with a fresh session.
func New(opts Options) (*Sealer, error) {
	s := &Sealer{cluster: []byte(opts.Cluster), ring: opts.Keyring, rand: opts.Rand}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	s.SetPolicy(opts.Policy)
	if err := s.newSession(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Sealer) newSession() error {
	var b [sessionSize]byte
	if _, err := io.ReadFull(s.rand, b[:]); err != nil {
		return fmt.Errorf("seal: drawing a session id: %w", err)
	}
	s.session = binary.BigEndian.Uint64(b[:])
	s.counter = 0
	return nil
}

// SetPolicy changes the upgrade stage; packets already sealed are unaffected.
func (s *Sealer) SetPolicy(p Policy) {
	var v uint32
	if p.VerifyIncoming {
		v |= 1
	}
	if p.SendEncrypted {
		v |= 2
	}
	s.policy.Store(v)
}

// Policy returns the current upgrade stage.
func (s *Sealer) Policy() Policy {
	v := s.policy.Load()
	return Policy{VerifyIncoming: v&1 != 0, SendEncrypted: v&2 != 0}
}

// Keyring returns the keyring given to New (nil without one).
func (s *Sealer) Keyring() *Keyring { return s.ring }

// Session returns the current sender session id.
func (s *Sealer) Session() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.session
}

// next reserves the next (session, counter) pair.
func (s *Sealer) next() (session, counter uint64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counter >= MaxCounter {
		if err := s.newSession(); err != nil {
			return 0, 0, err
		}
	}
	s.counter++
	return s.session, s.counter, nil
}

// scratch holds the nonce, the additional data (header || tick || cluster,
// which GCM wants in one slice) and, when two installed keys share a hint,
// room to try one without overwriting the packet. They would escape to the
// heap through the AEAD interface; pooling them keeps Seal and Open free of
// allocations.
type scratch struct {
	nonce [nonceSize]byte
	aad   []byte
	trial []byte
}

var scratchPool = sync.Pool{New: func() any { return &scratch{aad: make([]byte, 0, 128)} }}

func (sc *scratch) setNonce(session, counter uint64) []byte {
	binary.BigEndian.PutUint64(sc.nonce[:8], session)
	binary.BigEndian.PutUint32(sc.nonce[8:], uint32(counter))
	return sc.nonce[:]
}

func (sc *scratch) setAAD(header []byte, tick uint64, cluster []byte) []byte {
	sc.aad = append(sc.aad[:0], header...)
	sc.aad = binary.BigEndian.AppendUint64(sc.aad, tick)
	sc.aad = append(sc.aad, cluster...)
	return sc.aad
}

// Encrypts tells whether Seal would encrypt now: the policy sends encrypted
// and a primary key is installed.
func (s *Sealer) Encrypts() bool {
	return s.Policy().SendEncrypted && s.ring.sealing() != nil
}

// Seal appends the envelope of payload to dst and returns it. now is the send
// time written into an encrypted header. payload must not overlap dst's spare
// capacity. The policy decides plain or encrypted; encrypted without a primary
// key fails with ErrNoKey.
func (s *Sealer) Seal(dst, payload []byte, now time.Time) ([]byte, error) {
	return s.SealAs(dst, payload, now, s.Policy().SendEncrypted)
}

// SealAs is Seal with the choice of plain or encrypted made by the caller,
// who built payload for it (an encrypted payload may leave out what the
// additional data already binds, such as the cluster name), so that a policy
// changed in between cannot seal it the other way.
func (s *Sealer) SealAs(dst, payload []byte, now time.Time, encrypted bool) ([]byte, error) {
	if !encrypted {
		return sealPlain(dst, payload), nil
	}
	rk := s.ring.sealing()
	if rk == nil {
		return dst, ErrNoKey
	}
	session, counter, err := s.next()
	if err != nil {
		return dst, err
	}
	tick := uint64(max(now.UnixMilli(), 0) / tickMs)

	start := len(dst)
	out := slices.Grow(dst, fixedHeader+maxCounterLen+len(payload)+TagSize)
	out = append(out, byteEncrypted|hint(rk.id))
	out = binary.BigEndian.AppendUint64(out, session)
	out = binary.AppendUvarint(out, counter)
	out = binary.BigEndian.AppendUint16(out, uint16(tick))

	sc := scratchPool.Get().(*scratch)
	out = rk.aead.Seal(out, sc.setNonce(session, counter), payload, sc.setAAD(out[start:], tick, s.cluster))
	scratchPool.Put(sc)
	return out, nil
}

func sealPlain(dst, payload []byte) []byte {
	start := len(dst)
	out := slices.Grow(dst, PlainOverhead+len(payload))
	out = append(out, bytePlain)
	out = append(out, payload...)
	return binary.BigEndian.AppendUint32(out, crc32.Checksum(out[start:], castagnoli))
}

// Open checks the envelope of packet, received at now, and returns its
// payload and header. now rebuilds the send tick of an encrypted packet
// (see the package comment). The payload aliases packet: a plain payload is
// a sub-slice of it, and an encrypted one is decrypted in place, overwriting
// packet (also when authentication fails). Open never panics, whatever
// packet holds.
func (s *Sealer) Open(packet []byte, now time.Time) ([]byte, Header, error) {
	if len(packet) == 0 {
		return nil, Header{}, ErrMalformed
	}
	if packet[0]>>4 != Version {
		return nil, Header{}, ErrVersion
	}
	switch mode := packet[0] & 0x0f; {
	case mode == modePlain:
		return s.openPlain(packet)
	case mode&modeEncrypted != 0:
		return s.openEncrypted(packet, now)
	}
	return nil, Header{}, ErrMalformed
}

func (s *Sealer) openPlain(packet []byte) ([]byte, Header, error) {
	if len(packet) < PlainOverhead {
		return nil, Header{}, ErrMalformed
	}
	body := len(packet) - crcSize
	if crc32.Checksum(packet[:body], castagnoli) != binary.BigEndian.Uint32(packet[body:]) {
		return nil, Header{}, ErrChecksum
	}
	// Checked after the CRC so that noise counts as corruption and only a
	// real plaintext peer counts as refused.
	if s.Policy().VerifyIncoming {
		return nil, Header{}, ErrPlaintextRefused
	}
	return packet[1:body], Header{}, nil
}

// rebuildTick returns the tick nearest nowTick whose low 16 bits are low.
func rebuildTick(low uint16, nowTick int64) int64 {
	return nowTick + int64(int16(low-uint16(nowTick)))
}

func (s *Sealer) openEncrypted(packet []byte, now time.Time) ([]byte, Header, error) {
	if len(packet) < MinEncryptedOverhead {
		return nil, Header{}, ErrMalformed
	}
	h := Header{Encrypted: true}
	want := packet[0] & hintMask
	p := 1
	h.Session = binary.BigEndian.Uint64(packet[p:])
	p += sessionSize
	counter, n := binary.Uvarint(packet[p : p+min(maxCounterLen, len(packet)-p)])
	if n <= 0 {
		return nil, Header{}, ErrMalformed
	}
	h.Counter = counter
	p += n
	if len(packet)-p < tickSize+TagSize {
		return nil, Header{}, ErrMalformed
	}
	tick := rebuildTick(binary.BigEndian.Uint16(packet[p:]), max(now.UnixMilli(), 0)/tickMs)
	h.SentMs = tick * tickMs
	p += tickSize

	keys := s.ring.installed()
	var first *ringKey
	tries := 0
	for _, rk := range keys {
		if hint(rk.id) == want {
			if first == nil {
				first = rk
			}
			tries++
		}
	}
	switch {
	case len(keys) == 0:
		return nil, Header{}, ErrNoKey
	case tries == 0:
		return nil, Header{}, ErrUnknownKey
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	nonce, aad := sc.setNonce(h.Session, h.Counter), sc.setAAD(packet[:p], uint64(tick), s.cluster)
	ct := packet[p:]
	if tries == 1 {
		payload, err := first.aead.Open(ct[:0], nonce, ct, aad)
		if err != nil {
			return nil, Header{}, ErrAuth
		}
		h.KeyID = first.id
		return payload, h, nil
	}
	// Several keys share the hint: try each into scratch, so that a failed
	// attempt leaves the ciphertext intact for the next.
	for _, rk := range keys {
		if hint(rk.id) != want {
			continue
		}
		out, err := rk.aead.Open(sc.trial[:0], nonce, ct, aad)
		if cap(out) > cap(sc.trial) {
			sc.trial = out[:0]
		}
		if err == nil {
			h.KeyID = rk.id
			return append(ct[:0], out...), h, nil
		}
	}
	return nil, Header{}, ErrAuth
}

// Overhead returns the bytes an envelope adds to a payload: PlainOverhead, or
// for an encrypted packet the overhead with the given counter.
func Overhead(encrypted bool, counter uint64) int {
	if !encrypted {
		return PlainOverhead
	}
	n := 1
	for c := counter; c >= 0x80; c >>= 7 {
		n++
	}
	return fixedHeader + n + TagSize
}
