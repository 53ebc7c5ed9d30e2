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
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.ensureState(); err != nil {
		return err
	}
	if len(value.Data) > p.cfg.MaxValueSize {
		return ErrValueTooLarge
	}
	from := p.st.Self().Version
	if _, err := p.st.Set(key, value.Data, state.Encoding(value.Encoding), o.expiresAt); err != nil {
		return mapStateErr(err)
	}
	p.stats.sets.Add(1)
	p.pushLocal(from, false)
	return nil
}

// Delete removes key from the local peer's state everywhere: a tombstone is
// replicated, then collected after TombstoneGrace. It reports whether a live
// value was deleted.
func (p *Peer) Delete(key string) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.ensureState(); err != nil {
		return false, err
	}
	from := p.st.Self().Version
	_, deleted, err := p.st.Delete(key, p.nowMS())
	if err != nil {
		return false, mapStateErr(err)
	}
	p.pushLocal(from, false)
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
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.st == nil {
		return KeyValue{}, false
	}
	if peer == "" {
		peer = p.id.Name
	}
	e, ok := p.st.Get(peer, key, p.nowMS())
	if !ok {
		return KeyValue{}, false
	}
	// Copy: callers may keep or modify what they get.
	return KeyValue{
		Peer: peer, Key: key, ExpiresAt: e.ExpiresAt, Version: e.Version,
		Value: Value{Data: bytes.Clone(e.Value), Encoding: Encoding(e.Encoding)},
	}, true
}

// GetRemoteKeys returns the live keys held for peer, sorted.
func (p *Peer) GetRemoteKeys(peer string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.st == nil {
		return nil
	}
	if peer == "" {
		peer = p.id.Name
	}
	return p.st.Keys(peer, p.nowMS())
}

// Keys returns the local peer's live keys, sorted.
func (p *Peer) Keys() []string { return p.GetRemoteKeys("") }

// ensureState creates the local state before the first Start, so Set works
// on a peer that has not started yet. Called with mu held.
func (p *Peer) ensureState() error {
	if p.status == statusClosed {
		return ErrClosed
	}
	if p.st == nil {
		// The real identity is given at Start; until then the state is
		// private and Start republishes it under the real one.
		p.st = state.NewCluster(state.NodeID{Name: p.cfg.Name}, state.Limits{
			MaxKey: p.cfg.MaxKeySize, MaxValue: p.cfg.MaxValueSize, MaxNodes: p.cfg.MaxPeers,
			MaxPend: 256, PendingMS: (10 * p.cfg.GossipInterval).Milliseconds(),
		})
	}
	return nil
}

// pushLocal queues the local entries above from for an immediate push
// (unless buffered, which waits for the next round). Called with mu held.
func (p *Peer) pushLocal(from uint64, buffered bool) {
	if p.status != statusRunning {
		return
	}
	p.lastNews = p.clk.Now()
	run := p.st.LocalRun(from, p.nowMS())
	it := pushItem{run: run}
	if buffered {
		p.roundQ = append(p.roundQ, it)
		return
	}
	p.enqueuePush(it)
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
