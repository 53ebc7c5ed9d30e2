// Package bridge is everything behind Telepathine's C ABI except the cgo
// glue: the handle table, the api protobuf conversions, error-to-status
// mapping, and subscription management. Inputs are validated by the engine
// (its errors become status codes); the bridge only bounds what it copies
// out of C memory. It has no cgo, so
// it is tested like any Go package (race detector included); cgo/ only
// converts C arguments to Go values, calls a Bridge method, and copies the
// result into C memory.
//
// Inputs are borrowed: a []byte passed to a Bridge method may be C memory
// that is freed as soon as the call returns, so every method copies what it
// keeps and never retains the slice. Outputs are fresh Go slices, owned by
// the caller.
package bridge

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/telepathine/telepathine/engine"
	"google.golang.org/protobuf/proto"
)

// Bridge holds the handles of one library instance. Its methods are safe
// for concurrent use.
type Bridge struct {
	t *table
}

// New returns an empty bridge.
func New() *Bridge { return &Bridge{t: newTable()} }

// Handles returns the number of open handles (tests use it to find leaks).
func (b *Bridge) Handles() int { return b.t.live() }

// engineEntry is what an engine handle names.
type engineEntry struct {
	peer *engine.Peer
	lim  engine.LimitsConfig

	mu     sync.Mutex
	closed bool
	subs   map[*subscription]struct{}
}

// NewEngine creates an engine from a serialized api Config and returns its
// handle.
func (b *Bridge) NewEngine(config []byte) (uint64, error) {
	cfg, err := ConfigFromProto(config)
	if err != nil {
		return 0, err
	}
	p, err := engine.New(cfg)
	if err != nil {
		return 0, err
	}
	e := &engineEntry{peer: p, lim: p.Config().Limits, subs: make(map[*subscription]struct{})}
	h, err := b.t.add(kindEngine, e)
	if err != nil {
		_ = p.Close()
		return 0, err
	}
	return h, nil
}

func (b *Bridge) engine(h uint64) (*engineEntry, error) {
	return get[*engineEntry](b.t, h, kindEngine)
}

// Start starts the engine.
func (b *Bridge) Start(h uint64) error {
	e, err := b.engine(h)
	if err != nil {
		return err
	}
	return e.peer.Start(context.Background())
}

// Stop stops the engine (it can be started again).
func (b *Bridge) Stop(h uint64) error {
	e, err := b.engine(h)
	if err != nil {
		return err
	}
	return e.peer.Stop(context.Background())
}

// CloseEngine closes the engine and ends its subscriptions (finalizers
// run) and streams (still pollable until drained). Idempotent: 0 and a
// closed handle are fine. Every concurrent closer returns only once the
// engine's callbacks are over (except a closer's own callback: caller is
// the handle of the subscription whose callback makes the call, 0 outside
// any).
func (b *Bridge) CloseEngine(h, caller uint64) error {
	e, ok, err := find[*engineEntry](b.t, h, kindEngine)
	if !ok {
		return err
	}
	e.mu.Lock()
	first := !e.closed
	e.closed = true
	subs := make([]*subscription, 0, len(e.subs))
	for s := range e.subs {
		subs = append(subs, s)
	}
	e.mu.Unlock()
	if first {
		// Closing the peer ends its streams and subscriptions; the loop
		// below waits for callbacks that are running.
		err = e.peer.Close()
	}
	for _, s := range subs {
		s.end(s.handle == caller)
	}
	if first {
		for _, s := range subs {
			b.t.drop(s.handle)
		}
		b.t.drop(h)
	}
	return err
}

// Info returns a serialized api EngineInfo.
func (b *Bridge) Info(h uint64) ([]byte, error) {
	e, err := b.engine(h)
	if err != nil {
		return nil, err
	}
	return marshal(InfoToProto(e.peer))
}

// Stats returns a serialized api Stats.
func (b *Bridge) Stats(h uint64) ([]byte, error) {
	e, err := b.engine(h)
	if err != nil {
		return nil, err
	}
	return marshal(StatsToProto(e.peer.Stats()))
}

// Set stores key=value (copied) with an expiry in Unix ms (0: none).
func (b *Bridge) Set(h uint64, key, value []byte, enc int, expiresAtMS int64) error {
	e, err := b.engine(h)
	if err != nil {
		return err
	}
	k, err := e.text(key, "key", engine.ErrInvalidKey)
	if err != nil {
		return err
	}
	v, err := e.value(value, enc)
	if err != nil {
		return err
	}
	return e.peer.Set(k, v, engine.ExpiresAtMillis(expiresAtMS))
}

// Get returns the local live value of key as a serialized api KeyValue, or
// a NotFound status.
func (b *Bridge) Get(h uint64, key []byte) ([]byte, error) {
	return b.GetRemote(h, nil, key)
}

// GetRemote returns the live value of key held for peer ("" is the local
// peer) as a serialized api KeyValue, or a NotFound status.
func (b *Bridge) GetRemote(h uint64, peer, key []byte) ([]byte, error) {
	e, err := b.engine(h)
	if err != nil {
		return nil, err
	}
	name, err := e.text(peer, "peer name", engine.ErrInvalidArgument)
	if err != nil {
		return nil, err
	}
	k, err := e.text(key, "key", engine.ErrInvalidKey)
	if err != nil {
		return nil, err
	}
	kv, err := e.peer.Lookup(name, k)
	if err != nil {
		return nil, err
	}
	return marshal(KeyValueToProto(kv))
}

// GetRemoteKeys returns the live keys held for peer ("" is the local
// peer) as a serialized api KeyList.
func (b *Bridge) GetRemoteKeys(h uint64, peer []byte) ([]byte, error) {
	e, err := b.engine(h)
	if err != nil {
		return nil, err
	}
	name, err := e.text(peer, "peer name", engine.ErrInvalidArgument)
	if err != nil {
		return nil, err
	}
	keys, err := e.peer.KeysOf(name)
	if err != nil {
		return nil, err
	}
	return marshal(KeysToProto(keys))
}

// Delete deletes key and reports whether a live value was deleted.
func (b *Bridge) Delete(h uint64, key []byte) (bool, error) {
	e, err := b.engine(h)
	if err != nil {
		return false, err
	}
	k, err := e.text(key, "key", engine.ErrInvalidKey)
	if err != nil {
		return false, err
	}
	return e.peer.Delete(k)
}

// Which peers a peer list holds.
type Which int

// Peer lists.
const (
	AllPeers Which = iota
	LivePeers
	DeadPeers
)

// Peers returns a serialized api PeerList.
func (b *Bridge) Peers(h uint64, which Which) ([]byte, error) {
	e, err := b.engine(h)
	if err != nil {
		return nil, err
	}
	var infos []engine.PeerInfo
	switch which {
	case AllPeers:
		infos = e.peer.AllPeers()
	case LivePeers:
		infos = e.peer.LivePeers()
	case DeadPeers:
		infos = e.peer.DeadPeers()
	default:
		return nil, errorf(ErrInvalidArgument, "unknown peer list %d", which)
	}
	return marshal(PeersToProto(infos))
}

// SayBuffered is tp_engine_say's TP_SAY_BUFFERED flag.
const SayBuffered uint32 = 1

// Say says event with data for durationMS (0: the configured default).
func (b *Bridge) Say(h uint64, event, data []byte, enc int, durationMS int64, flags uint32) error {
	e, err := b.engine(h)
	if err != nil {
		return err
	}
	name, err := e.text(event, "event name", engine.ErrInvalidEvent)
	if err != nil {
		return err
	}
	v, err := e.value(data, enc)
	if err != nil {
		return err
	}
	if flags&^SayBuffered != 0 {
		return errorf(ErrInvalidArgument, "unknown say flags %#x", flags&^SayBuffered)
	}
	var opts []engine.SayOption
	if durationMS != 0 {
		d, err := millis(durationMS, "say duration")
		if err != nil {
			return err
		}
		opts = append(opts, engine.For(d))
	}
	if flags&SayBuffered != 0 {
		opts = append(opts, engine.Buffered())
	}
	return e.peer.Say(name, v, opts...)
}

// Ask asks event and waits up to timeoutMS for the replies, returned as a
// serialized api AskReplies.
func (b *Bridge) Ask(h uint64, event, data []byte, enc int, timeoutMS int64) ([]byte, error) {
	e, err := b.engine(h)
	if err != nil {
		return nil, err
	}
	name, err := e.text(event, "event name", engine.ErrInvalidEvent)
	if err != nil {
		return nil, err
	}
	v, err := e.value(data, enc)
	if err != nil {
		return nil, err
	}
	timeout, err := millis(timeoutMS, "ask timeout")
	if err != nil {
		return nil, err
	}
	rs, err := e.peer.Ask(context.Background(), name, v, timeout)
	if err != nil {
		return nil, err
	}
	return marshal(RepliesToProto(rs))
}

// Reply answers the ask askID (Event.ask.ask_id) with data.
func (b *Bridge) Reply(h uint64, askID uint64, data []byte, enc int) error {
	e, err := b.engine(h)
	if err != nil {
		return err
	}
	v, err := e.value(data, enc)
	if err != nil {
		return err
	}
	return e.peer.Reply(askID, v)
}

// ---------------------------------------------------------------- copies

// The engine validates every input; the bridge only bounds what it copies
// out of C memory (the inputs are borrowed): nothing longer than the
// largest packet can be accepted, so such an input is refused uncopied,
// with the error the engine gives for a too long input of its kind.

// text copies a name-like input; kind is the engine's error for a bad one.
func (e *engineEntry) text(b []byte, what string, kind error) (string, error) {
	if len(b) > e.lim.PacketSize {
		return "", fmt.Errorf("%w: %s of %d bytes above Limits.PacketSize %d", kind, what, len(b), e.lim.PacketSize)
	}
	return string(b), nil
}

// value copies a value or payload.
func (e *engineEntry) value(b []byte, enc int) (engine.Value, error) {
	if len(b) > e.lim.PacketSize {
		return engine.Value{}, fmt.Errorf("%w: value of %d bytes above Limits.PacketSize %d", engine.ErrValueTooLarge, len(b), e.lim.PacketSize)
	}
	if enc < 0 || enc > math.MaxUint8 {
		// Outside engine.Encoding's range: a conversion would wrap.
		return engine.Value{}, fmt.Errorf("%w: unknown encoding %d", engine.ErrInvalidArgument, enc)
	}
	return engine.Value{Data: bytes.Clone(b), Encoding: engine.Encoding(enc)}, nil
}

// millis converts milliseconds to a Duration, refusing what would overflow
// it; the engine judges the value (a negative duration, a zero timeout).
func millis(ms int64, what string) (time.Duration, error) {
	if ms > MaxDurationMS || ms < -MaxDurationMS {
		return 0, fmt.Errorf("%w: %s %d ms out of range", engine.ErrInvalidArgument, what, ms)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

func marshal(m proto.Message) ([]byte, error) {
	out, err := proto.Marshal(m)
	if err != nil {
		return nil, errorf(ErrInternal, "internal error: marshal %T: %v", m, err)
	}
	return out, nil
}

// Default is the bridge of the C library: one per process.
var Default = New()
