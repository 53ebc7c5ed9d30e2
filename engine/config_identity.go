package engine

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/telepathine/telepathine/engine/internal/identity"
	"github.com/telepathine/telepathine/engine/internal/protocol"
)

// IdentityConfig turns on identity mode (issue 13): every entry a peer
// writes carries its Ed25519 signature, every replica checks it before
// applying, and nobody — not even a peer holding the cluster key — can
// write, delete, expire, say or ask in another peer's name, push its
// version, generation or heartbeat epoch out of reach, or kill it with
// forged suspicions. The zero value is off. All peers of a cluster must
// agree: a peer with identity mode on and one with it off refuse each
// other's state and count it (Stats.Unsigned, Stats.MixedIdentity). See
// the README's "Identity mode" section.
type IdentityConfig struct {
	// KeyFile is this peer's private key: PEM PKCS#8 (as written by
	// GenerateIdentity, `telepathine identity new` or `openssl genpkey
	// -algorithm ed25519`) or a raw 32-byte seed (binary, hex or base64).
	// Default none: identity mode off unless Key is set.
	KeyFile string
	// Key is the private key itself, in any form KeyFile accepts (for
	// bindings and tests that hold keys in memory). KeyFile wins when both
	// are set. Default none.
	Key []byte
	// AllowList is a file (lines `NAME KEY`, KEY the 32-byte public key in
	// hex or base64) or a directory (one NAME.pub per peer, as written by
	// GenerateIdentity) naming who may join and with which key. Default
	// none: only TOFU decides.
	AllowList string
	// TOFU pins the first key seen for each name not on the allow-list
	// and refuses any later different key for it (Stats.KeyChanged).
	// Default false: with identity mode on, AllowList or TOFU is required.
	TOFU bool
}

// Enabled reports whether identity mode is on.
func (c *IdentityConfig) Enabled() bool { return c.KeyFile != "" || len(c.Key) > 0 }

// ErrIdentityConfig: identity mode is misconfigured (a key that cannot be
// read, an allow-list that cannot be parsed, neither allow-list nor TOFU).
var ErrIdentityConfig = errors.New("telepathine: invalid identity configuration")

// protocol builds the core's identity (nil when off).
func (c *IdentityConfig) protocol(name string) (*protocol.Identity, error) {
	if !c.Enabled() {
		if c.AllowList != "" || c.TOFU {
			return nil, fmt.Errorf("%w: an allow-list or TOFU without a key pair (KeyFile or Key)", ErrIdentityConfig)
		}
		return nil, nil
	}
	var kp identity.KeyPair
	var err error
	if c.KeyFile != "" {
		kp, err = identity.LoadKeyPair(c.KeyFile)
	} else {
		kp, err = identity.ParsePrivate(c.Key)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIdentityConfig, err)
	}
	var allow map[string]ed25519.PublicKey
	if c.AllowList != "" {
		if allow, err = identity.LoadAllowList(c.AllowList); err != nil {
			return nil, fmt.Errorf("%w: allow-list: %v", ErrIdentityConfig, err)
		}
		if own, ok := allow[name]; ok && name != "" && !own.Equal(kp.Public) {
			return nil, fmt.Errorf("%w: the allow-list names %q with another key than this peer's", ErrIdentityConfig, name)
		}
	} else if !c.TOFU {
		return nil, fmt.Errorf("%w: identity mode needs an allow-list (AllowList) or trust on first use (TOFU)", ErrIdentityConfig)
	}
	return &protocol.Identity{Keys: kp, Pins: identity.NewPins(allow, c.TOFU)}, nil
}

// GenerateIdentity creates a key pair in dir: identity.key (the private
// key, mode 0600, never overwritten) for IdentityConfig.KeyFile, and
// identity.pub (PEM) to copy into the other peers' allow-list directory
// as NAME.pub. It returns both paths and the public key.
func GenerateIdentity(dir string) (keyFile, pubFile string, public []byte, err error) {
	kp, err := identity.Generate()
	if err != nil {
		return "", "", nil, err
	}
	keyFile, pubFile, err = identity.WriteKeyPair(dir, kp)
	return keyFile, pubFile, kp.Public, err
}

// ReloadAllowList re-reads Config.Identity.AllowList and replaces this
// peer's allow-list: how a re-keyed peer (its entry replaced in the file or
// directory) is accepted without restarting the others. Names now listed
// drop their trust-on-first-use pins. An error leaves the list in use
// unchanged.
func (p *Peer) ReloadAllowList() error {
	ic := &p.cfg.Identity
	if !ic.Enabled() || ic.AllowList == "" {
		return fmt.Errorf("%w: no allow-list configured", ErrIdentityConfig)
	}
	allow, err := identity.LoadAllowList(ic.AllowList)
	if err != nil {
		return fmt.Errorf("%w: allow-list: %v", ErrIdentityConfig, err)
	}
	p.mu.Lock()
	pins := p.core.IdentityPins()
	p.mu.Unlock()
	pins.SetAllowList(allow)
	return nil
}
