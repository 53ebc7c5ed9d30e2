package identity

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"
)

// SignatureSize is the size of every signature on the wire.
const SignatureSize = ed25519.SignatureSize

// Domain tags keep an entry signature from ever verifying as a head, and
// version the canonical forms.
const (
	entryTag = "telepathine/entry/v1\x00"
	headTag  = "telepathine/head/v1\x00"
	replyTag = "telepathine/reply/v1\x00"
)

// Reply is what a reply signature covers.
type Reply struct {
	Replier    string
	Generation uint64
	AskNode    uint64
	AskVersion uint64
	Value      []byte
	Encoding   uint8
}

// AppendReplyMessage appends the canonical bytes of r to b.
func AppendReplyMessage(b []byte, r *Reply) []byte {
	b = append(b, replyTag...)
	b = appendString(b, r.Replier)
	b = binary.BigEndian.AppendUint64(b, r.Generation)
	b = binary.BigEndian.AppendUint64(b, r.AskNode)
	b = binary.BigEndian.AppendUint64(b, r.AskVersion)
	b = append(b, r.Encoding)
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Value)))
	return append(b, r.Value...)
}

// Entry is what an entry signature covers: everything a replica applies.
type Entry struct {
	Owner      string
	Generation uint64
	Version    uint64
	Kind       uint8
	Key        string
	Value      []byte
	Encoding   uint8
	ExpiresAt  int64
}

// AppendEntryMessage appends the canonical bytes of e to b: a domain tag,
// then fixed-width integers and length-prefixed strings, so no two
// different entries share an encoding.
func AppendEntryMessage(b []byte, e *Entry) []byte {
	b = append(b, entryTag...)
	b = appendString(b, e.Owner)
	b = binary.BigEndian.AppendUint64(b, e.Generation)
	b = binary.BigEndian.AppendUint64(b, e.Version)
	b = append(b, e.Kind, e.Encoding)
	b = appendString(b, e.Key)
	b = binary.BigEndian.AppendUint32(b, uint32(len(e.Value)))
	b = append(b, e.Value...)
	return binary.BigEndian.AppendUint64(b, uint64(e.ExpiresAt))
}

// Head is what a head signature covers: the owner's incarnation, its
// highest version and its heartbeat epoch.
type Head struct {
	Owner      string
	Generation uint64
	Version    uint64
	Epoch      uint64
}

// AppendHeadMessage appends the canonical bytes of h to b.
func AppendHeadMessage(b []byte, h *Head) []byte {
	b = append(b, headTag...)
	b = appendString(b, h.Owner)
	b = binary.BigEndian.AppendUint64(b, h.Generation)
	b = binary.BigEndian.AppendUint64(b, h.Version)
	return binary.BigEndian.AppendUint64(b, h.Epoch)
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// Sign signs msg with the pair's private key.
func (kp KeyPair) Sign(msg []byte) []byte { return ed25519.Sign(kp.Private, msg) }

// DefaultCacheSize is how many verified (key, message, signature) triples
// a Verifier remembers: every entry of a 64-peer cluster holding a few
// hundred keys each, at 32 bytes a line (about 2 MB with the LRU's
// bookkeeping).
const DefaultCacheSize = 1 << 15

// Verifier checks signatures and remembers the ones that verified, so an
// entry relayed again (by anti-entropy, by several pushers, in a reset)
// costs a SHA-256 instead of an Ed25519 verification. Only successes are
// cached: a forger cannot fill the cache with garbage cheaper than the
// verifications it costs us. Safe for concurrent use.
type Verifier struct {
	cache                  *lru.Cache[[32]byte, struct{}]
	hits, verified, failed atomic.Uint64
	batched                atomic.Uint64
	runProved, runFailed   atomic.Uint64
}

// NewVerifier returns a verifier remembering size successes (<= 0:
// DefaultCacheSize).
func NewVerifier(size int) *Verifier {
	if size <= 0 {
		size = DefaultCacheSize
	}
	c, err := lru.New[[32]byte, struct{}](size)
	if err != nil {
		panic(err) // only for size <= 0, excluded above
	}
	return &Verifier{cache: c}
}

// Verify reports whether sig is pub's signature of msg.
func (v *Verifier) Verify(pub ed25519.PublicKey, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != SignatureSize {
		v.failed.Add(1)
		return false
	}
	k := cacheKey(pub, msg, sig)
	if v.cache.Contains(k) {
		v.hits.Add(1)
		return true
	}
	if !ed25519.Verify(pub, msg, sig) {
		v.failed.Add(1)
		return false
	}
	v.verified.Add(1)
	v.cache.Add(k, struct{}{})
	return true
}

// cacheKey names one (key, message, signature) triple in the cache.
func cacheKey(pub ed25519.PublicKey, msg, sig []byte) [32]byte {
	h := sha256.New()
	h.Write(pub)
	h.Write(sig)
	h.Write(msg)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// VerifierStats counts verifications.
type VerifierStats struct {
	// Verified: signatures checked with Ed25519 and found good (alone or
	// in a batch).
	Verified uint64
	// Batched: the part of Verified proved by VerifyBatch.
	Batched uint64
	// CacheHits: signatures found good before, not checked again.
	CacheHits uint64
	// Failed: bad signatures (or malformed keys or signatures).
	Failed uint64
	// RunProved: entry signatures proved by a good run signature
	// (ProveRun) instead of their own check; each good run signature
	// counts one in Verified.
	RunProved uint64
	// RunFailed: run signatures that did not verify (the run's entries
	// were then checked one by one, and only those count in Failed).
	RunFailed uint64
}

// Stats returns the counters.
func (v *Verifier) Stats() VerifierStats {
	return VerifierStats{Verified: v.verified.Load(), Batched: v.batched.Load(), CacheHits: v.hits.Load(), Failed: v.failed.Load(),
		RunProved: v.runProved.Load(), RunFailed: v.runFailed.Load()}
}
