package bridge

import (
	"bytes"

	apiv1 "github.com/telepathine/telepathine/gen/api/v1"
)

// The cluster keyring (tp_engine_install_key ... tp_engine_set_plaintext).
// The engine judges the keys (size, primary, installed); the bridge only
// copies them, as every input is borrowed.

// InstallKey adds an accepted cluster key.
func (b *Bridge) InstallKey(h uint64, key []byte) error {
	e, err := b.engine(h)
	if err != nil {
		return err
	}
	return e.peer.InstallKey(bytes.Clone(key))
}

// UseKey makes an installed key the primary.
func (b *Bridge) UseKey(h uint64, key []byte) error {
	e, err := b.engine(h)
	if err != nil {
		return err
	}
	return e.peer.UseKey(bytes.Clone(key))
}

// RemoveKey removes an installed key other than the primary.
func (b *Bridge) RemoveKey(h uint64, key []byte) error {
	e, err := b.engine(h)
	if err != nil {
		return err
	}
	return e.peer.RemoveKey(bytes.Clone(key))
}

// Keys returns the installed keys, primary first, as a serialized api
// Keyring.
func (b *Bridge) Keys(h uint64) ([]byte, error) {
	e, err := b.engine(h)
	if err != nil {
		return nil, err
	}
	return marshal(KeyringToProto(e.peer.ClusterKeys()))
}

// SetPlaintext sets the staged upgrade: accept and send plaintext.
func (b *Bridge) SetPlaintext(h uint64, accept, send bool) error {
	e, err := b.engine(h)
	if err != nil {
		return err
	}
	return e.peer.SetPlaintext(accept, send)
}

// KeyringToProto converts the installed keys.
func KeyringToProto(keys [][]byte) *apiv1.Keyring { return &apiv1.Keyring{Keys: keys} }
