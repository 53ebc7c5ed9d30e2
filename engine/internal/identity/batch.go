package identity

import (
	"crypto/ed25519"

	"github.com/hdevalence/ed25519consensus"
)

// MinBatch is the smallest number of uncached signatures VerifyBatch checks
// as one batch. Below it a batch is no cheaper than checking each alone
// (measured: a batch of 16 costs about 0.65 of 16 single checks, a batch
// of 64 about 0.35), so VerifyBatch leaves them to Verify.
const MinBatch = 8

// Signed is one signature to check: pub's signature Sig of Msg.
type Signed struct {
	Pub ed25519.PublicKey
	Msg []byte
	Sig []byte
}

// VerifyBatch checks many signatures at once and remembers them as good
// when the whole batch verifies, so the Verify calls that follow (one per
// entry, where the entry is applied) are cache hits. It returns how many
// signatures it proved good: 0 when fewer than MinBatch were unknown or
// when the batch failed. A failed batch proves nothing about any single
// signature and caches nothing: the caller's Verify calls then check each
// one alone and count the bad ones, so a forger gains nothing but the cost
// of one batch (about a third of the single checks it forces anyway).
//
// Batches use ed25519consensus (the ZIP-215 rules), single checks the
// standard library (RFC 8032). Both accept every signature an honest
// signer makes; they differ only on signatures a key's owner crafts on
// purpose with non-canonical or small-order points, which can make that
// owner's own entries accepted by one replica and refused by another —
// no more than the owner can do by signing two entries of one version. Nobody
// can make a batch accept a signature of a key it does not hold.
func (v *Verifier) VerifyBatch(items []Signed) int {
	var bv ed25519consensus.BatchVerifier
	keys := make([][32]byte, 0, len(items))
	for _, it := range items {
		if len(it.Pub) != ed25519.PublicKeySize || len(it.Sig) != SignatureSize {
			continue
		}
		k := cacheKey(it.Pub, it.Msg, it.Sig)
		if v.cache.Contains(k) {
			continue
		}
		if len(keys) == 0 {
			bv = ed25519consensus.NewBatchVerifier()
		}
		keys = append(keys, k)
		bv.Add(it.Pub, it.Msg, it.Sig)
	}
	if len(keys) < MinBatch || !bv.Verify() {
		return 0
	}
	for _, k := range keys {
		v.cache.Add(k, struct{}{})
	}
	v.verified.Add(uint64(len(keys)))
	v.batched.Add(uint64(len(keys)))
	return len(keys)
}
