package engine

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/telepathine/telepathine/engine/internal/guard"
	"github.com/telepathine/telepathine/engine/internal/protocol"
	"github.com/telepathine/telepathine/engine/internal/seal"
)

// SecurityConfig: integrity always, encryption with a keyring, staged
// upgrade, restarts that win. The zero value is plain mode: every packet
// carries a CRC-32C, nothing is encrypted. See the README's Security section
// for what each mode protects against.
type SecurityConfig struct {
	// Keys are AES-256 keys (32 bytes each). The first is the primary: it
	// seals what this peer sends; every key opens what it receives. Empty
	// (and no NetworkKey): plain mode, every packet still carries a
	// CRC-32C. Default none.
	Keys [][]byte
	// NetworkKey, when set, is a passphrase: a key is derived from it
	// (argon2id, salt from the cluster name, about 0.2-0.4 s and 64 MiB once
	// at New) and put first (primary). The reference library's `network`
	// option maps here. Prefer a random key: no KDF saves a weak passphrase.
	NetworkKey string
	// AcceptPlaintext keeps accepting plaintext packets although keys are
	// set (upgrade stages 1-2). Default false: with a key, plaintext is
	// refused and counted (Stats.Plaintext).
	AcceptPlaintext bool
	// SendPlaintext keeps sending plaintext although keys are set (upgrade
	// stage 1). Requires AcceptPlaintext. Default false.
	SendPlaintext bool
	// StateDir, when set, persists the last generation so that a restart
	// always wins, even after the clock stepped back. Default none: the
	// generation is the start time, and a restart after the clock stepped
	// back by d is ignored by the others for up to d.
	StateDir string
}

// Errors of the key methods.
var (
	// ErrInvalidKeyMaterial: a key that is not 32 bytes, text that is not
	// a key, an empty passphrase, or a plaintext policy that cannot work.
	ErrInvalidKeyMaterial = errors.New("telepathine: invalid key material")
	// ErrPrimaryKey: the primary key cannot be removed (use another first).
	ErrPrimaryKey = errors.New("telepathine: the primary key cannot be removed")
	// ErrUnknownKeyID: the key is not installed.
	ErrUnknownKeyID = errors.New("telepathine: key not installed")
)

// KeyFromPassphrase derives the cluster key for a passphrase (argon2id,
// t=3, 64 MiB, 4 lanes; salt SHA-256 of a fixed domain and the cluster
// name). Every peer of the cluster derives the same key. An empty
// passphrase returns nil.
func KeyFromPassphrase(cluster, passphrase string) []byte {
	k, err := seal.KeyFromPassphrase(passphrase, cluster)
	if err != nil {
		return nil
	}
	return k[:]
}

// ParseKey reads a 32-byte key written in base64 (standard or URL
// alphabet, padded or not, as `openssl rand -base64 32` prints it) or hex.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*seal.KeySize {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != seal.KeySize {
				return nil, fmt.Errorf("%w: a key is 32 bytes, got %d", ErrInvalidKeyMaterial, len(b))
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("%w: not base64 or hex of 32 bytes", ErrInvalidKeyMaterial)
}

func toKey(b []byte) (seal.Key, error) {
	k, err := seal.KeyFromBytes(b)
	if err != nil {
		return k, fmt.Errorf("%w: a key is 32 bytes, got %d", ErrInvalidKeyMaterial, len(b))
	}
	return k, nil
}

// policy is the upgrade stage of accept/send plaintext with keys set.
func policy(accept, send bool) (seal.Policy, error) {
	if send && !accept {
		return seal.Policy{}, fmt.Errorf("%w: sending plaintext while refusing it splits the cluster", ErrInvalidKeyMaterial)
	}
	return seal.Policy{VerifyIncoming: !accept, SendEncrypted: !send}, nil
}

// keyring builds the keyring of the configuration (empty in plain mode:
// keys can be installed at run time for a staged upgrade).
func (s *SecurityConfig) keyring(cluster string) (*seal.Keyring, bool, error) {
	ring := &seal.Keyring{}
	var keys []seal.Key
	if s.NetworkKey != "" {
		k, err := seal.KeyFromPassphrase(s.NetworkKey, cluster)
		if err != nil {
			return nil, false, fmt.Errorf("%w: %v", ErrInvalidKeyMaterial, err)
		}
		keys = append(keys, k)
	}
	for _, b := range s.Keys {
		k, err := toKey(b)
		if err != nil {
			return nil, false, err
		}
		keys = append(keys, k)
	}
	for _, k := range keys {
		if err := ring.Install(k); err != nil {
			return nil, false, fmt.Errorf("%w: %v", ErrInvalidKeyMaterial, err)
		}
	}
	return ring, len(keys) > 0, nil
}

// trust builds the protocol core's checks from the configuration.
func (c *Config) trust() (protocol.Trust, error) {
	ring, keyed, err := c.Security.keyring(c.Cluster)
	if err != nil {
		return protocol.Trust{}, err
	}
	pol := seal.Policy{} // plain mode: accept both, send plain
	if keyed {
		if pol, err = policy(c.Security.AcceptPlaintext, c.Security.SendPlaintext); err != nil {
			return protocol.Trust{}, err
		}
	}
	sealer, err := seal.New(seal.Options{Cluster: c.Cluster, Keyring: ring, Policy: pol})
	if err != nil {
		return protocol.Trust{}, err
	}
	return protocol.Trust{
		Sealer: sealer,
		Amp:    guard.NewAmplification(guard.AmpConfig{}),
		Route:  c.route,
	}, nil
}

// InstallKey adds an accepted key (32 bytes): packets sealed with it open
// here. Rotation: InstallKey(new) on every peer, then UseKey(new) on every
// peer, then RemoveKey(old) on every peer.
func (p *Peer) InstallKey(key []byte) error {
	k, err := toKey(key)
	if err != nil {
		return err
	}
	if err := p.core.Sealer().Keyring().Install(k); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidKeyMaterial, err)
	}
	p.log.Info("key installed", "key", k.String())
	return nil
}

// UseKey makes an installed key the primary: what this peer sends is
// sealed with it from now on.
func (p *Peer) UseKey(key []byte) error {
	k, err := toKey(key)
	if err != nil {
		return err
	}
	if err := p.core.Sealer().Keyring().UsePrimary(k); err != nil {
		return ErrUnknownKeyID
	}
	p.log.Info("primary key changed", "key", k.String())
	return nil
}

// RemoveKey uninstalls a key: packets sealed with it are refused from now
// on (Stats.UnknownKey). The primary cannot be removed (ErrPrimaryKey).
func (p *Peer) RemoveKey(key []byte) error {
	k, err := toKey(key)
	if err != nil {
		return err
	}
	switch err := p.core.Sealer().Keyring().Remove(k); {
	case errors.Is(err, seal.ErrRemovePrimary):
		return ErrPrimaryKey
	case err != nil:
		return ErrUnknownKeyID
	}
	p.log.Info("key removed", "key", k.String())
	return nil
}

// ClusterKeys returns copies of the installed keys, primary first (none in
// plain mode). Not Keys: that lists the local peer's data keys (kv.go).
func (p *Peer) ClusterKeys() [][]byte {
	ks := p.core.Sealer().Keyring().Keys()
	out := make([][]byte, len(ks))
	for i, k := range ks {
		out[i] = append([]byte(nil), k[:]...)
	}
	return out
}

// SetPlaintext moves this peer through a staged upgrade of a running
// plaintext cluster (do each stage on every peer before the next):
// install a key, then SetPlaintext(true, false) (accept both, send
// encrypted), then SetPlaintext(false, false) (encrypted only). (true,
// true) goes back to sending plaintext. Sending encrypted needs a key;
// sending plaintext while refusing it is refused (ErrInvalidKeyMaterial).
func (p *Peer) SetPlaintext(accept, send bool) error {
	pol, err := policy(accept, send)
	if err != nil {
		return err
	}
	s := p.core.Sealer()
	if _, ok := s.Keyring().Primary(); !ok && pol != (seal.Policy{}) {
		return fmt.Errorf("%w: encryption needs a key installed first", ErrInvalidKeyMaterial)
	}
	s.SetPolicy(pol)
	p.log.Info("plaintext policy changed", "accept_plaintext", accept, "send_plaintext", send)
	return nil
}
