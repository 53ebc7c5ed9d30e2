package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeyPair is a peer's signing identity.
type KeyPair struct {
	Public  ed25519.PublicKey
	Private ed25519.PrivateKey
}

// Errors of key handling.
var (
	ErrBadKey = errors.New("identity: not an Ed25519 key (expected PEM PKCS#8/PKIX, or a raw 32-byte seed / 64-byte private key / 32-byte public key, optionally hex or base64)")
)

// Generate creates a fresh key pair from crypto/rand.
func Generate() (KeyPair, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return KeyPair{}, err
	}
	return KeyPair{Public: pub, Private: priv}, nil
}

// FromSeed derives the key pair of a 32-byte seed.
func FromSeed(seed []byte) (KeyPair, error) {
	if len(seed) != ed25519.SeedSize {
		return KeyPair{}, ErrBadKey
	}
	priv := ed25519.NewKeyFromSeed(seed)
	return KeyPair{Public: priv.Public().(ed25519.PublicKey), Private: priv}, nil
}

// ParsePrivate reads a private key: PEM "PRIVATE KEY" (PKCS#8, what
// `openssl genpkey -algorithm ed25519` writes), or raw bytes — a 32-byte
// seed or a 64-byte private key — as binary, hex or base64.
func ParsePrivate(b []byte) (KeyPair, error) {
	if blk, _ := pem.Decode(b); blk != nil {
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return KeyPair{}, fmt.Errorf("%w: %v", ErrBadKey, err)
		}
		priv, ok := k.(ed25519.PrivateKey)
		if !ok {
			return KeyPair{}, ErrBadKey
		}
		return KeyPair{Public: priv.Public().(ed25519.PublicKey), Private: priv}, nil
	}
	raw := decodeRaw(b)
	switch len(raw) {
	case ed25519.SeedSize:
		return FromSeed(raw)
	case ed25519.PrivateKeySize:
		kp, err := FromSeed(raw[:ed25519.SeedSize])
		if err != nil || !kp.Public.Equal(ed25519.PublicKey(raw[ed25519.SeedSize:])) {
			return KeyPair{}, ErrBadKey // a private key whose public half does not match
		}
		return kp, nil
	}
	return KeyPair{}, ErrBadKey
}

// ParsePublic reads a public key: PEM "PUBLIC KEY" (PKIX) or 32 raw bytes
// as binary, hex or base64.
func ParsePublic(b []byte) (ed25519.PublicKey, error) {
	if blk, _ := pem.Decode(b); blk != nil {
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, ErrBadKey
		}
		return pub, nil
	}
	raw := decodeRaw(b)
	if len(raw) != ed25519.PublicKeySize {
		return nil, ErrBadKey
	}
	return ed25519.PublicKey(raw), nil
}

// decodeRaw accepts binary, or text holding hex or standard base64.
func decodeRaw(b []byte) []byte {
	s := strings.TrimSpace(string(b))
	if h, err := hex.DecodeString(s); err == nil && len(h) > 0 {
		return h
	}
	if d, err := base64.StdEncoding.DecodeString(s); err == nil && len(d) > 0 {
		return d
	}
	return b
}

// LoadKeyPair reads a private key file (see ParsePrivate).
func LoadKeyPair(path string) (KeyPair, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return KeyPair{}, err
	}
	kp, err := ParsePrivate(b)
	if err != nil {
		return KeyPair{}, fmt.Errorf("%s: %w", path, err)
	}
	return kp, nil
}

// MarshalPrivatePEM encodes the private key as PEM PKCS#8.
func (kp KeyPair) MarshalPrivatePEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(kp.Private)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicPEM encodes a public key as PEM PKIX.
func MarshalPublicPEM(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// Files written by WriteKeyPair.
const (
	PrivateFile = "identity.key"
	PublicFile  = "identity.pub"
)

// WriteKeyPair writes dir/identity.key (PEM PKCS#8, mode 0600, never
// overwritten: losing a key re-keys a peer) and dir/identity.pub (PEM
// PKIX, the file to distribute into allow-lists, as NAME.pub).
func WriteKeyPair(dir string, kp KeyPair) (privPath, pubPath string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	priv, err := kp.MarshalPrivatePEM()
	if err != nil {
		return "", "", err
	}
	pub, err := MarshalPublicPEM(kp.Public)
	if err != nil {
		return "", "", err
	}
	privPath = filepath.Join(dir, PrivateFile)
	pubPath = filepath.Join(dir, PublicFile)
	f, err := os.OpenFile(privPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", "", err
	}
	if _, err := f.Write(priv); err != nil {
		_ = f.Close()
		return "", "", err
	}
	if err := f.Close(); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(pubPath, pub, 0o644); err != nil {
		return "", "", err
	}
	return privPath, pubPath, nil
}
