package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"sync"
)

// Keyring errors.
var (
	ErrKeyNotInstalled = errors.New("seal: key not installed")
	ErrRemovePrimary   = errors.New("seal: cannot remove the primary key")
	// ErrKeyIDClash refuses a second key whose id equals an installed key's:
	// logs and operators tell keys apart by id, so two keys must never share
	// one (a 1 in 4 billion chance per pair of random keys).
	ErrKeyIDClash = errors.New("seal: another installed key has the same id")
)

// ringKey is an installed key with its ready AEAD.
type ringKey struct {
	key  Key
	id   KeyID
	aead cipher.AEAD
}

func newRingKey(k Key) (*ringKey, error) {
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCMWithTagSize(block, TagSize) // 12-byte nonce
	if err != nil {
		return nil, err
	}
	return &ringKey{key: k, id: k.ID(), aead: aead}, nil
}

// Keyring holds the cluster keys: one primary that seals, and every
// installed key (the primary included) opens. Rotation without downtime is
// Install(new) on every peer, then UsePrimary(new) on every peer, then
// Remove(old) on every peer: at each step every peer can open what every
// other peer sends.
//
// A Keyring is safe for concurrent use; a Sealer reads it on every packet.
type Keyring struct {
	mu      sync.RWMutex
	primary *ringKey
	keys    []*ringKey // installed keys in installation order, primary included
}

// NewKeyring returns a keyring whose primary is primary, with others installed
// as accepted keys.
func NewKeyring(primary Key, others ...Key) (*Keyring, error) {
	r := &Keyring{}
	for _, k := range append([]Key{primary}, others...) {
		if err := r.Install(k); err != nil {
			return nil, err
		}
	}
	if err := r.UsePrimary(primary); err != nil {
		return nil, err
	}
	return r, nil
}

// Install adds an accepted key; installing a key twice is harmless. The first
// key ever installed becomes the primary.
func (r *Keyring) Install(k Key) error {
	rk, err := newRingKey(k)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, have := range r.keys {
		if have.id == rk.id {
			if have.key == k {
				return nil
			}
			return ErrKeyIDClash
		}
	}
	r.keys = append(r.keys, rk)
	if r.primary == nil {
		r.primary = rk
	}
	return nil
}

// UsePrimary makes an installed key the one that seals.
func (r *Keyring) UsePrimary(k Key) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	rk := r.find(k)
	if rk == nil {
		return ErrKeyNotInstalled
	}
	r.primary = rk
	return nil
}

// Remove uninstalls an accepted key; packets sealed with it no longer open.
func (r *Keyring) Remove(k Key) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.primary != nil && r.primary.key == k {
		return ErrRemovePrimary
	}
	for i, have := range r.keys {
		if have.key == k {
			r.keys = append(r.keys[:i:i], r.keys[i+1:]...)
			return nil
		}
	}
	return ErrKeyNotInstalled
}

// Keys returns the installed keys, primary first.
func (r *Keyring) Keys() []Key {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Key, 0, len(r.keys))
	if r.primary != nil {
		out = append(out, r.primary.key)
	}
	for _, rk := range r.keys {
		if rk != r.primary {
			out = append(out, rk.key)
		}
	}
	return out
}

// Primary returns the sealing key; ok is false on an empty keyring.
func (r *Keyring) Primary() (k Key, ok bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.primary == nil {
		return Key{}, false
	}
	return r.primary.key, true
}

func (r *Keyring) find(k Key) *ringKey {
	for _, have := range r.keys {
		if have.key == k {
			return have
		}
	}
	return nil
}

// sealing returns the primary key, or nil when none is installed.
func (r *Keyring) sealing() *ringKey {
	if r == nil {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.primary
}

// installed returns the installed keys. The slice is never written after
// it is published (Install appends past every published length, Remove
// builds a new array), so the caller may read it without the lock.
func (r *Keyring) installed() []*ringKey {
	if r == nil {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.keys
}
