package identity

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
)

// runTag is the domain tag of a run signature: it never verifies as an
// entry, a head or a reply.
const runTag = "telepathine/run/v1\x00"

// Run is what a run signature covers: a pushed run of one owner's own
// entries, (From, To] of one incarnation, each entry's canonical message
// and its signature, in the order sent. One signature over the run lets a
// receiver prove every entry of it with one Ed25519 check instead of one
// per entry (issue 13's throughput target); the entry signatures still
// travel, because relays and anti-entropy split runs and a receiver that
// cannot prove the run falls back on them.
type Run struct {
	Owner      string
	Generation uint64
	From, To   uint64
	// Entries: Msg and Sig of each entry (Pub is not used).
	Entries []Signed
}

// AppendRunMessage appends the canonical bytes of r to b: the tag, the
// header, then a SHA-256 over each entry's length-prefixed message and
// length-prefixed signature, so the signed message stays small whatever
// the run's length and no two different runs share it.
func AppendRunMessage(b []byte, r *Run) []byte {
	b = append(b, runTag...)
	b = appendString(b, r.Owner)
	b = binary.BigEndian.AppendUint64(b, r.Generation)
	b = binary.BigEndian.AppendUint64(b, r.From)
	b = binary.BigEndian.AppendUint64(b, r.To)
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Entries)))
	h := sha256.New()
	var n [4]byte
	for _, e := range r.Entries {
		binary.BigEndian.PutUint32(n[:], uint32(len(e.Msg)))
		h.Write(n[:])
		h.Write(e.Msg)
		binary.BigEndian.PutUint32(n[:], uint32(len(e.Sig)))
		h.Write(n[:])
		h.Write(e.Sig)
	}
	return h.Sum(b)
}

// SignRun signs r with the pair's private key.
func (kp KeyPair) SignRun(r *Run) []byte { return kp.Sign(AppendRunMessage(nil, r)) }

// ProveRun checks sig, pub's signature of the run r, and when it is good
// remembers every entry signature of r as good, so the Verify calls that
// follow (one per entry, where the entry is applied) are cache hits: a
// run of n entries costs one Ed25519 check instead of n. It returns how
// many entry signatures it proved that were not known already; a run
// whose entries are all known is not checked at all.
//
// A run signature that fails proves nothing and caches nothing, and is
// counted apart (RunFailed), not as a bad entry: a relay that altered one
// entry of a run (or its signature) left the run signature behind, and
// the entries' own checks then decide, accepting the untouched ones and
// refusing (and counting) the altered one. A run signed by another key
// fails the same way, and one signed by pub that lists a bad entry
// signature proves only what pub signed: an owner can sign its own
// entries anyway, so nothing is gained over signing each.
func (v *Verifier) ProveRun(pub ed25519.PublicKey, r *Run, sig []byte) int {
	if len(pub) != ed25519.PublicKeySize || len(sig) != SignatureSize || len(r.Entries) == 0 {
		v.runFailed.Add(1)
		return 0
	}
	keys := make([][32]byte, 0, len(r.Entries))
	fresh := 0
	for _, e := range r.Entries {
		k := cacheKey(pub, e.Msg, e.Sig)
		if !v.cache.Contains(k) {
			fresh++
		}
		keys = append(keys, k)
	}
	if fresh == 0 {
		return 0
	}
	if !ed25519.Verify(pub, AppendRunMessage(nil, r), sig) {
		v.runFailed.Add(1)
		return 0
	}
	for _, k := range keys {
		v.cache.Add(k, struct{}{})
	}
	v.verified.Add(1)
	v.runProved.Add(uint64(fresh))
	return fresh
}
