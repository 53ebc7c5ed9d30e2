package engine

// STAND-IN (branch h-secabi, helper H15). This file has exactly the exported
// API of the agreed security design (_notes/SECURITY-API.md) so that the C
// ABI, the bindings and the drivers can be built and tested before the
// engine implements it. H11's version of this file, which wires the keyring
// into the wire path, REPLACES this one at merge: keep H11's file, drop this
// one. Nothing outside this file may rely on anything here but the agreed
// exported names.
//
// What this stand-in does: it keeps the keyring and the plaintext flags of
// each Peer, guarded by the Peer's lock, and validates every call by the
// agreed rules (32-byte keys, the primary cannot be removed, unknown keys are
// refused). What it does not do: seal or open a single packet, persist
// generations in StateDir, or validate Config.Security in New.

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"weak"

	"github.com/telepathine/telepathine/engine/internal/seal"
)

// SecurityConfig: integrity always, encryption with a keyring, staged
// upgrade, restarts that win.
type SecurityConfig struct {
	// Keys are AES-256 keys (32 bytes each). The first is the primary: it
	// seals what this peer sends; every key opens what it receives. Empty
	// (and no NetworkKey): plain mode, every packet still carries a CRC-32C.
	// Default none.
	Keys [][]byte
	// NetworkKey, when set, is a passphrase: a key is derived from it
	// (argon2id, salt from the cluster name) and put first (primary). The
	// reference library's `network` option maps here. Default none.
	NetworkKey string
	// AcceptPlaintext keeps accepting plaintext packets although keys are
	// set (upgrade stages 1-2). Default false: with keys, plaintext is refused.
	AcceptPlaintext bool
	// SendPlaintext keeps sending plaintext although keys are set (upgrade
	// stage 1). Default false.
	SendPlaintext bool
	// StateDir, when set, persists the last generation so that a restart
	// always wins, even after the clock stepped back. Default none.
	StateDir string
}

// Keyring errors. Compare with errors.Is.
var (
	// ErrInvalidKeyMaterial: a key that is not 32 bytes, or text that does
	// not decode to one.
	ErrInvalidKeyMaterial = errors.New("telepathine: invalid key material")
	// ErrPrimaryKey: removing the primary key (make another primary first).
	ErrPrimaryKey = errors.New("telepathine: cannot remove the primary key")
	// ErrUnknownKeyID: using or removing a key that is not installed.
	ErrUnknownKeyID = errors.New("telepathine: key not installed")
)

// keyState is the stand-in keyring of one Peer, guarded by that Peer's mu.
type keyState struct {
	keys          [][]byte // primary first
	accept, send  bool
	loadedFromCfg bool
}

// keyStates maps a Peer to its keyring without adding a field to Peer (so
// this file replaces cleanly); entries go when the Peer is collected.
var keyStates sync.Map // weak.Pointer[Peer] -> *keyState

func (p *Peer) keyState() *keyState {
	wp := weak.Make(p)
	if v, ok := keyStates.Load(wp); ok {
		return v.(*keyState)
	}
	v, loaded := keyStates.LoadOrStore(wp, &keyState{})
	if !loaded {
		runtime.AddCleanup(p, func(k weak.Pointer[Peer]) { keyStates.Delete(k) }, wp)
	}
	return v.(*keyState)
}

// lockKeys locks the Peer and returns its keyring, filled from the
// configuration on first use. It fails on a closed Peer.
func (p *Peer) lockKeys() (*keyState, error) {
	ks := p.keyState()
	p.mu.Lock()
	if p.status == statusClosed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if !ks.loadedFromCfg {
		ks.loadedFromCfg = true
		sec := p.cfg.Security
		ks.accept, ks.send = sec.AcceptPlaintext, sec.SendPlaintext
		if sec.NetworkKey != "" {
			ks.keys = append(ks.keys, KeyFromPassphrase(p.cfg.Cluster, sec.NetworkKey))
		}
		for _, k := range sec.Keys {
			if len(k) == seal.KeySize && indexKey(ks.keys, k) < 0 {
				ks.keys = append(ks.keys, bytes.Clone(k))
			}
		}
	}
	return ks, nil
}

func indexKey(keys [][]byte, k []byte) int {
	for i, have := range keys {
		if bytes.Equal(have, k) {
			return i
		}
	}
	return -1
}

func checkKeyMaterial(key []byte) error {
	if len(key) != seal.KeySize {
		return fmt.Errorf("%w: a key is %d bytes, got %d", ErrInvalidKeyMaterial, seal.KeySize, len(key))
	}
	return nil
}

// InstallKey adds an accepted key (32 bytes). Installing a key twice is
// harmless; the first key of an empty keyring becomes the primary.
func (p *Peer) InstallKey(key []byte) error {
	if err := checkKeyMaterial(key); err != nil {
		return err
	}
	ks, err := p.lockKeys()
	if err != nil {
		return err
	}
	defer p.mu.Unlock()
	if indexKey(ks.keys, key) < 0 {
		ks.keys = append(ks.keys, bytes.Clone(key))
	}
	return nil
}

// UseKey makes an installed key the primary.
func (p *Peer) UseKey(key []byte) error {
	if err := checkKeyMaterial(key); err != nil {
		return err
	}
	ks, err := p.lockKeys()
	if err != nil {
		return err
	}
	defer p.mu.Unlock()
	i := indexKey(ks.keys, key)
	if i < 0 {
		return ErrUnknownKeyID
	}
	k := ks.keys[i]
	copy(ks.keys[1:i+1], ks.keys[:i])
	ks.keys[0] = k
	return nil
}

// RemoveKey removes an installed key; the primary cannot be removed.
func (p *Peer) RemoveKey(key []byte) error {
	if err := checkKeyMaterial(key); err != nil {
		return err
	}
	ks, err := p.lockKeys()
	if err != nil {
		return err
	}
	defer p.mu.Unlock()
	i := indexKey(ks.keys, key)
	switch {
	case i < 0:
		return ErrUnknownKeyID
	case i == 0:
		return ErrPrimaryKey
	}
	ks.keys = append(ks.keys[:i:i], ks.keys[i+1:]...)
	return nil
}

// ClusterKeys returns copies of the installed keys, primary first (nil in
// plain mode or once closed). SECURITY-API.md calls it Keys, a name Peer
// already has (the live local keys, kv.go).
func (p *Peer) ClusterKeys() [][]byte {
	ks, err := p.lockKeys()
	if err != nil {
		return nil
	}
	defer p.mu.Unlock()
	out := make([][]byte, len(ks.keys))
	for i, k := range ks.keys {
		out[i] = bytes.Clone(k)
	}
	return out
}

// SetPlaintext sets the staged upgrade at runtime: accept plaintext
// packets, send plaintext packets. Sending plaintext while refusing it
// makes no sense at any stage and is refused.
func (p *Peer) SetPlaintext(accept, send bool) error {
	if send && !accept {
		return fmt.Errorf("%w: sending plaintext requires accepting it", ErrInvalidArgument)
	}
	ks, err := p.lockKeys()
	if err != nil {
		return err
	}
	defer p.mu.Unlock()
	ks.accept, ks.send = accept, send
	return nil
}

// KeyFromPassphrase derives a 32-byte key from a passphrase with argon2id
// (engine/internal/seal), salted with the cluster name. An empty passphrase
// gives nil.
func KeyFromPassphrase(cluster, passphrase string) []byte {
	k, err := seal.KeyFromPassphrase(passphrase, cluster)
	if err != nil {
		return nil
	}
	return k[:]
}

// ParseKey decodes a 32-byte key written in base64 (standard or URL, with
// or without padding) or hex.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*seal.KeySize {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		if b, err := enc.DecodeString(s); err == nil {
			if err := checkKeyMaterial(b); err != nil {
				return nil, err
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("%w: neither base64 nor hex of %d bytes", ErrInvalidKeyMaterial, seal.KeySize)
}
