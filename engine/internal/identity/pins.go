package identity

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Errors of Pins.Check.
var (
	// ErrNotAllowed: the name is not on the allow-list, or is with another key.
	ErrNotAllowed = errors.New("identity: name and key not on the allow-list")
	// ErrKeyChanged: trust on first use pinned another key for this name.
	ErrKeyChanged = errors.New("identity: a different key is pinned for this name")
	// ErrNoKey: the peer presented no public key (identity mode off there).
	ErrNoKey = errors.New("identity: peer presented no public key")
)

// Pins binds peer names to public keys: from an allow-list (only listed
// pairs are accepted), or trust on first use (the first key seen for a
// name is pinned, a later different one refused). With both, listed names
// must match the list and other names are pinned on first use. Safe for
// concurrent use.
type Pins struct {
	mu     sync.RWMutex
	allow  map[string]ed25519.PublicKey // nil: no allow-list
	tofu   bool
	pinned map[string]ed25519.PublicKey
}

// NewPins returns pins with an allow-list (nil: none) and TOFU on or off.
// With neither, every key is refused but the local peer's own.
func NewPins(allow map[string]ed25519.PublicKey, tofu bool) *Pins {
	return &Pins{allow: allow, tofu: tofu, pinned: make(map[string]ed25519.PublicKey)}
}

// Check reports whether pub may speak for name, pinning it on first use.
func (p *Pins) Check(name string, pub []byte) error {
	if len(pub) != ed25519.PublicKeySize {
		return ErrNoKey
	}
	p.mu.RLock()
	want, listed := p.allow[name]
	pin, pinned := p.pinned[name]
	tofu := p.tofu
	p.mu.RUnlock()
	switch {
	case listed:
		if !want.Equal(ed25519.PublicKey(pub)) {
			return ErrNotAllowed
		}
		return nil
	case pinned:
		if !pin.Equal(ed25519.PublicKey(pub)) {
			return ErrKeyChanged
		}
		return nil
	case !tofu:
		return ErrNotAllowed
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if pin, ok := p.pinned[name]; ok { // pinned meanwhile
		if !pin.Equal(ed25519.PublicKey(pub)) {
			return ErrKeyChanged
		}
		return nil
	}
	p.pinned[name] = bytes.Clone(pub)
	return nil
}

// Pin binds name to pub (the local peer's own key, or a binding learnt
// otherwise), replacing a TOFU pin.
func (p *Pins) Pin(name string, pub ed25519.PublicKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pinned[name] = bytes.Clone(pub)
}

// SetAllowList replaces the allow-list (a re-key: the operator replaced a
// peer's entry). Pins of names now listed are dropped: the list decides.
func (p *Pins) SetAllowList(allow map[string]ed25519.PublicKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.allow = allow
	for name := range allow {
		delete(p.pinned, name)
	}
}

// Pinned returns a copy of the trust-on-first-use bindings.
func (p *Pins) Pinned() map[string]ed25519.PublicKey {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make(map[string]ed25519.PublicKey, len(p.pinned))
	for k, v := range p.pinned {
		out[k] = v
	}
	return out
}

// LoadAllowList reads an allow-list from a file or a directory.
//
// A file lists one peer a line: `NAME KEY`, KEY being the 32-byte public
// key in hex or base64; blank lines and lines starting with '#' are
// skipped. A directory holds one file per peer, NAME.pub, with the peer's
// public key as written by `telepathine identity new` (PEM) or raw; other
// files are ignored.
func LoadAllowList(path string) (map[string]ed25519.PublicKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	out := make(map[string]ed25519.PublicKey)
	if !st.IsDir() {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if err := parseList(b, out); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return out, nil
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".pub") {
			continue
		}
		name := strings.TrimSuffix(e.Name(), ".pub")
		b, err := os.ReadFile(filepath.Join(path, e.Name()))
		if err != nil {
			return nil, err
		}
		pub, err := ParsePublic(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		out[name] = pub
	}
	return out, nil
}

func parseList(b []byte, out map[string]ed25519.PublicKey) error {
	sc := bufio.NewScanner(bytes.NewReader(b))
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		f := strings.Fields(s)
		if len(f) != 2 {
			return fmt.Errorf("line %d: want NAME KEY", line)
		}
		pub, err := ParsePublic([]byte(f[1]))
		if err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		out[f[0]] = pub
	}
	return sc.Err()
}
