package seal

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// KeySize is the length of a cluster key: AES-256.
const KeySize = 32

// KeyIDSize is the length of a key id; a sealed packet carries 3 bits of it
// as a hint.
const KeyIDSize = 4

// Key is a raw AES-256 cluster key.
type Key [KeySize]byte

// KeyID names a key: the first 4 bytes of SHA-256 of the key. Operators tell
// keys apart by it in logs without printing them, and its low 3 bits, sent in
// every sealed packet, let a receiver try only the keys with that hint. It
// reveals 32 bits of a hash of the key, which does not help guess a random
// 256-bit key.
type KeyID [KeyIDSize]byte

// ID returns the key's id.
func (k Key) ID() KeyID {
	sum := sha256.Sum256(k[:])
	return KeyID(sum[:KeyIDSize])
}

// String prints the key id only, so a key never ends up in a log by accident.
func (k Key) String() string { return "key:" + k.ID().String() }

// String is the id in hex.
func (id KeyID) String() string { return hex.EncodeToString(id[:]) }

// ErrKeySize reports a raw key that is not 32 bytes long.
var ErrKeySize = errors.New("seal: a key is exactly 32 bytes")

// KeyFromBytes copies a raw 32-byte key.
func KeyFromBytes(b []byte) (Key, error) {
	var k Key
	if len(b) != KeySize {
		return k, fmt.Errorf("%w (got %d)", ErrKeySize, len(b))
	}
	copy(k[:], b)
	return k, nil
}

// KeyFromBase64 decodes a raw 32-byte key written in standard base64 (with or
// without padding), as `openssl rand -base64 32` prints it.
func KeyFromBase64(s string) (Key, error) {
	s = strings.TrimSpace(s)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		var err2 error
		if b, err2 = base64.RawStdEncoding.DecodeString(s); err2 != nil {
			return Key{}, fmt.Errorf("seal: key is not base64: %w", err)
		}
	}
	return KeyFromBytes(b)
}

// Base64 encodes the key as KeyFromBase64 reads it.
func (k Key) Base64() string { return base64.StdEncoding.EncodeToString(k[:]) }

// Argon2id parameters of KeyFromPassphrase. They are part of the format: every
// peer must derive the same key, so changing them is a breaking change. They
// are RFC 9106's second recommended option (t=3, m=64 MiB, p=4): about 0.1-0.3 s
// once at start-up, and each guess of an offline attacker costs the same.
const (
	passTime    = 3
	passMemory  = 64 * 1024 // KiB
	passThreads = 4
	saltDomain  = "telepathine/seal/v1 passphrase salt\x00"
)

// ErrEmptyPassphrase refuses a passphrase that protects nothing.
var ErrEmptyPassphrase = errors.New("seal: empty passphrase")

// KeyFromPassphrase derives a key from a passphrase with argon2id.
//
// The salt is SHA-256("telepathine/seal/v1 passphrase salt" 0x00 cluster).
// Every peer has to derive the same key from the passphrase alone, so the salt
// cannot be random per peer; a random salt shared by configuration would be a
// second secret to distribute, at which point a raw key is simpler. Deriving
// the salt from the cluster name still makes a precomputed dictionary useless
// across clusters (an attacker must redo the memory-hard work for each cluster
// name), and the domain prefix keeps it apart from any other use of argon2 with
// the same name. What no salt can fix is a weak passphrase: use a raw key
// (KeyFromBase64) when one can be distributed.
func KeyFromPassphrase(passphrase, cluster string) (Key, error) {
	if passphrase == "" {
		return Key{}, ErrEmptyPassphrase
	}
	salt := PassphraseSalt(cluster)
	return Key(argon2.IDKey([]byte(passphrase), salt[:], passTime, passMemory, passThreads, KeySize)), nil
}

// PassphraseSalt is the fixed per-cluster salt KeyFromPassphrase uses,
// exposed so that other implementations can be checked against it.
func PassphraseSalt(cluster string) [32]byte {
	return sha256.Sum256([]byte(saltDomain + cluster))
}

// Bytes returns the id as a slice.
func (id KeyID) Bytes() []byte { return id[:] }
