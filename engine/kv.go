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
	if err := checkValue(value); err != nil {
		return err
	}
	if len(value.Data) > p.cfg.Limits.ValueSize {
		return ErrValueTooLarge
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

// Get returns the local peer's live value of key.
func (p *Peer) Get(key string) (Value, bool) {
	kv, ok := p.lookup("", key)
	return kv.Value, ok
}

// GetRemote returns the live value of key held for peer (any peer, the
// local one included).
func (p *Peer) GetRemote(peer, key string) (Value, bool) {
	kv, ok := p.lookup(peer, key)
	return kv.Value, ok
}

// Lookup is GetRemote with metadata (expiry, version). peer "" is the local
// peer.
func (p *Peer) Lookup(peer, key string) (KeyValue, bool) { return p.lookup(peer, key) }

func (p *Peer) lookup(peer, key string) (KeyValue, bool) {
	nowMS := p.clk.Now().UnixMilli()
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.core.Get(peer, key, nowMS)
	if !ok {
		return KeyValue{}, false
	}
	if peer == "" {
		peer = p.core.ID().Name
	}
	// Copy: callers may keep or modify what they get.
	return KeyValue{
		Peer: peer, Key: key, ExpiresAt: e.ExpiresAt, Version: e.Version,
		Value: Value{Data: bytes.Clone(e.Value), Encoding: Encoding(e.Encoding)},
	}, true
}

// GetRemoteKeys returns the live keys held for peer, sorted.
func (p *Peer) GetRemoteKeys(peer string) []string {
	nowMS := p.clk.Now().UnixMilli()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.core.Keys(peer, nowMS)
}

// Keys returns the local peer's live keys, sorted.
func (p *Peer) Keys() []string { return p.GetRemoteKeys("") }

func mapStateErr(err error) error {
	switch {
	case errors.Is(err, state.ErrValueSize):
		return ErrValueTooLarge
	case errors.Is(err, state.ErrInvalidKey):
		return ErrInvalidKey
	}
	return err
}
