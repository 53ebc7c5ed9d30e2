// Package seal is the envelope around every encoded packet, UDP datagram and
// TCP frame alike. Without a key it adds a CRC-32C so that a corrupted packet
// is refused before it is decoded; with a keyring it seals the packet with
// AES-256-GCM, binding the cluster name and a replay header (sender session,
// packet counter, send time) that package guard checks.
//
// Formats (version 1; all integers big-endian):
//
//	plain:     0x10 | payload | CRC-32C(0x10 | payload) (4)          = 5 bytes overhead
//	encrypted: 0x11 | key id (4) | session (8) | counter (uvarint, 1-5)
//	           | send time, Unix ms (6) | AES-256-GCM(payload) | tag (16)
//	                                                                = 36-40 bytes overhead
//
// The encrypted header is authenticated as additional data together with the
// cluster name, so a packet of another cluster, a packet whose header was
// edited and a packet sealed with another key all fail with ErrAuth.
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
const Version = 1

// Modes in the low nibble of the first byte. ONLY APPEND.
const (
	modePlain     = 0
	modeEncrypted = 1
)

const (
	bytePlain     = Version<<4 | modePlain
	byteEncrypted = Version<<4 | modeEncrypted
)

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
	// TagSize is the GCM authentication tag.
	TagSize = 16

	crcSize       = 4
	sessionSize   = 8
	timeSize      = 6 // Unix milliseconds, good until the year 10889
	fixedHeader   = 1 + KeyIDSize + sessionSize + timeSize
	maxCounterLen = 5 // uvarint of a counter below 2^32
	nonceSize     = 12
	// MaxCounter is the last counter of a session: the nonce holds the
	// counter's low 32 bits, so the Sealer changes session before it wraps.
	MaxCounter = 1<<32 - 1
	maxTime    = 1<<(8*timeSize) - 1
)

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
	KeyID     KeyID
	// Session is the sender's random id for this incarnation (until its
	// counter runs out).
	Session uint64
	// Counter increases by one for each packet the session seals.
	Counter uint64
	// SentMs is the sender's clock when sealing, in Unix milliseconds.
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

// scratch holds the nonce and header || cluster (the additional data, which
// GCM wants in one slice). Both would escape to the heap through the AEAD
// interface; pooling them keeps Seal and Open free of allocations.
type scratch struct {
	nonce [nonceSize]byte
	aad   []byte
}

var scratchPool = sync.Pool{New: func() any { return &scratch{aad: make([]byte, 0, 128)} }}

func (sc *scratch) setNonce(session, counter uint64) []byte {
	binary.BigEndian.PutUint64(sc.nonce[:8], session)
	binary.BigEndian.PutUint32(sc.nonce[8:], uint32(counter))
	return sc.nonce[:]
}

// Seal appends the envelope of payload to dst and returns it. now is the send
// time written into an encrypted header. payload must not overlap dst's spare
// capacity. The policy decides plain or encrypted; encrypted without a primary
// key fails with ErrNoKey.
func (s *Sealer) Seal(dst, payload []byte, now time.Time) ([]byte, error) {
	if !s.Policy().SendEncrypted {
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
	ms := now.UnixMilli()
	ms = min(max(ms, 0), maxTime)

	start := len(dst)
	out := slices.Grow(dst, fixedHeader+maxCounterLen+len(payload)+TagSize)
	out = append(out, byteEncrypted)
	out = append(out, rk.id[:]...)
	out = binary.BigEndian.AppendUint64(out, session)
	out = binary.AppendUvarint(out, counter)
	out = append(out, byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms))

	sc := scratchPool.Get().(*scratch)
	sc.aad = append(append(sc.aad[:0], out[start:]...), s.cluster...)
	out = rk.aead.Seal(out, sc.setNonce(session, counter), payload, sc.aad)
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

// Open checks the envelope of packet and returns its payload and header. The
// payload aliases packet: a plain payload is a sub-slice of it, and an
// encrypted one is decrypted in place, overwriting packet (also when
// authentication fails). Open never panics, whatever packet holds.
func (s *Sealer) Open(packet []byte) ([]byte, Header, error) {
	if len(packet) == 0 {
		return nil, Header{}, ErrMalformed
	}
	if packet[0]>>4 != Version {
		return nil, Header{}, ErrVersion
	}
	switch packet[0] & 0x0f {
	case modePlain:
		return s.openPlain(packet)
	case modeEncrypted:
		return s.openEncrypted(packet)
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

func (s *Sealer) openEncrypted(packet []byte) ([]byte, Header, error) {
	if len(packet) < MinEncryptedOverhead {
		return nil, Header{}, ErrMalformed
	}
	h := Header{Encrypted: true}
	copy(h.KeyID[:], packet[1:])
	p := 1 + KeyIDSize
	h.Session = binary.BigEndian.Uint64(packet[p:])
	p += sessionSize
	counter, n := binary.Uvarint(packet[p : p+min(maxCounterLen, len(packet)-p)])
	if n <= 0 {
		return nil, Header{}, ErrMalformed
	}
	h.Counter = counter
	p += n
	if len(packet)-p < timeSize+TagSize {
		return nil, Header{}, ErrMalformed
	}
	t := packet[p : p+timeSize]
	h.SentMs = int64(t[0])<<40 | int64(t[1])<<32 | int64(t[2])<<24 | int64(t[3])<<16 | int64(t[4])<<8 | int64(t[5])
	p += timeSize

	rk, empty := s.ring.opening(h.KeyID)
	switch {
	case empty:
		return nil, Header{}, ErrNoKey
	case rk == nil:
		return nil, Header{}, ErrUnknownKey
	}
	sc := scratchPool.Get().(*scratch)
	sc.aad = append(append(sc.aad[:0], packet[:p]...), s.cluster...)
	ct := packet[p:]
	payload, err := rk.aead.Open(ct[:0], sc.setNonce(h.Session, h.Counter), ct, sc.aad)
	scratchPool.Put(sc)
	if err != nil {
		return nil, Header{}, ErrAuth
	}
	return payload, h, nil
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
