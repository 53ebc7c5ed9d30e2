package engine

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/telepathine/telepathine/engine/internal/state"
)

// SetOption modifies a Set.
type SetOption func(*setOptions)

type setOptions struct{ expiresAt int64 }

// ExpiresAt makes the value expire at t on every replica (millisecond
// resolution). Each replica then drops it and emits "key:expired".
func ExpiresAt(t time.Time) SetOption {
	return func(o *setOptions) { o.expiresAt = t.UnixMilli() }
}

// ExpiresAtMillis is ExpiresAt with a Unix time in milliseconds, as the
// reference API takes it; 0 means never.
func ExpiresAtMillis(ms int64) SetOption {
	return func(o *setOptions) { o.expiresAt = ms }
}

// KeyValue is a value held for a peer, with its metadata.
type KeyValue struct {
	Peer  string
	Key   string
	Value Value
	// ExpiresAt is the expiry in Unix milliseconds, 0 for none.
	ExpiresAt int64
	// Version orders the owner's changes (per generation).
	Version uint64
}

// Set stores key=value in the local peer's state and spreads it to every
// peer: pushed at once to a few, reconciled to all by anti-entropy. The peer
// keeps value.Data; do not modify it afterwards. Works before Start too (the
// value leaves with the first gossip).
func (p *Peer) Set(key string, value Value, opts ...SetOption) error {
	var o setOptions
	for _, f := range opts {
		f(&o)
	}
	if err := checkEncoding(value); err != nil {
		return err
	}
	if o.expiresAt < 0 {
		return fmt.Errorf("%w: negative expiry", ErrInvalidArgument)
	}
	if err := p.checkKey(key); err != nil {
		return err
	}
	if len(value.Data) > p.cfg.Limits.ValueSize {
		return fmt.Errorf("%w: value of %d bytes above Limits.ValueSize %d", ErrValueTooLarge, len(value.Data), p.cfg.Limits.ValueSize)
	}
	if err := checkValue(value); err != nil {
		return err
	}
	now := p.clk.Now()
	p.mu.Lock()
	if p.status == statusClosed {
		p.mu.Unlock()
		return ErrClosed
	}
	out, err := p.core.Set(now, key, value.Data, state.Encoding(value.Encoding), o.expiresAt)
	p.report(&out)
	p.mu.Unlock()
	return mapStateErr(err)
}

// Delete removes key from the local peer's state everywhere: a tombstone is
// replicated, then collected after TombstoneGrace. It reports whether a live
// value was deleted.
func (p *Peer) Delete(key string) (bool, error) {
	if err := p.checkKey(key); err != nil {
		return false, err
	}
	now := p.clk.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.status == statusClosed {
		return false, ErrClosed
	}
	out, deleted, err := p.core.Delete(now, key)
	if err != nil {
		return false, mapStateErr(err)
	}
	p.report(&out)
	return deleted, nil
}

// Get returns the local peer's live value of key, like a map: false when
// there is none (an invalid key has none either).
func (p *Peer) Get(key string) (Value, bool) {
	kv, err := p.Lookup("", key)
	return kv.Value, err == nil
}

// Keys returns the local peer's live keys, sorted.
func (p *Peer) Keys() []string {
	keys, _ := p.KeysOf("")
	return keys
}

// Lookup returns the live value of key held for peer (any peer; "" is the
// local one) with its metadata. Errors: ErrNotFound when there is none,
// ErrInvalidKey, ErrInvalidArgument for a peer name no peer can have,
// ErrClosed.
func (p *Peer) Lookup(peer, key string) (KeyValue, error) {
	if err := p.checkPeerName(peer); err != nil {
		return KeyValue{}, err
	}
	if err := p.checkKey(key); err != nil {
		return KeyValue{}, err
	}
	nowMS := p.clk.Now().UnixMilli()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.status == statusClosed {
		return KeyValue{}, ErrClosed
	}
	e, ok := p.core.Get(peer, key, nowMS)
	if !ok {
		return KeyValue{}, fmt.Errorf("%w: no live value for key %q", ErrNotFound, key)
	}
	if peer == "" {
		peer = p.core.ID().Name
	}
	// Copy: callers may keep or modify what they get.
	return KeyValue{
		Peer: peer, Key: key, ExpiresAt: e.ExpiresAt, Version: e.Version,
		Value: Value{Data: bytes.Clone(e.Value), Encoding: Encoding(e.Encoding)},
	}, nil
}

// KeysOf returns the live keys held for peer (any peer; "" is the local
// one), sorted; none for a peer not known. Errors: ErrInvalidArgument for a
// peer name no peer can have, ErrClosed.
func (p *Peer) KeysOf(peer string) ([]string, error) {
	if err := p.checkPeerName(peer); err != nil {
		return nil, err
	}
	nowMS := p.clk.Now().UnixMilli()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.status == statusClosed {
		return nil, ErrClosed
	}
	return p.core.Keys(peer, nowMS), nil
}

// checkKey says why key cannot be a key, if it cannot.
func (p *Peer) checkKey(key string) error {
	if !validName(key, p.cfg.Limits.KeySize) {
		return fmt.Errorf("%w: %s", ErrInvalidKey, describeName("key", key, p.cfg.Limits.KeySize))
	}
	return nil
}

// checkPeerName accepts "" (the local peer) and names a peer can have.
func (p *Peer) checkPeerName(peer string) error {
	if peer != "" && !validName(peer, p.cfg.Limits.KeySize) {
		return fmt.Errorf("%w: %s", ErrInvalidArgument, describeName("peer name", peer, p.cfg.Limits.KeySize))
	}
	return nil
}

func mapStateErr(err error) error {
	switch {
	case errors.Is(err, state.ErrValueSize):
		return ErrValueTooLarge
	case errors.Is(err, state.ErrInvalidKey):
		return ErrInvalidKey
	}
	return err
}
