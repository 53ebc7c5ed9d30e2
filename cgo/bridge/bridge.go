// Package bridge is everything behind Telepathine's C ABI except the cgo
// glue: the handle table, input validation, the api protobuf conversions,
// error-to-status mapping, and subscription management. It has no cgo, so
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
	"sync"
	"time"
	"unicode/utf8"

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
	lim  limits

	mu     sync.Mutex
	closed bool
	subs   map[*subscription]struct{}
}

// limits are the sizes checked before anything is copied.
type limits struct {
	key, value, eventName, eventPayload, queue int
}

func (e *engineEntry) ok() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return !e.closed
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
	c := p.Config()
	e := &engineEntry{
		peer: p,
		lim: limits{
			key: c.Limits.KeySize, value: c.Limits.ValueSize, eventName: c.Limits.EventNameSize,
			eventPayload: c.Limits.EventPayloadSize, queue: c.Limits.HandlerQueue,
		},
		subs: make(map[*subscription]struct{}),
	}
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
	k, err := checkKey(key, e.lim.key)
	if err != nil {
		return err
	}
	v, err := checkValue(value, enc, e.lim.value, "max_value_size")
	if err != nil {
		return err
	}
	if expiresAtMS < 0 {
		return errorf(ErrInvalidArgument, "negative expiry %d", expiresAtMS)
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
	name, err := checkPeer(peer, e.lim.key)
	if err != nil {
		return nil, err
	}
	k, err := checkKey(key, e.lim.key)
	if err != nil {
		return nil, err
	}
	kv, ok := e.peer.Lookup(name, k)
	if !ok {
		if !e.ok() {
			return nil, engine.ErrClosed
		}
		return nil, errorf(NotFound, "no live value for key %q", k)
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
	name, err := checkPeer(peer, e.lim.key)
	if err != nil {
		return nil, err
	}
	return marshal(KeysToProto(e.peer.GetRemoteKeys(name)))
}

// Delete deletes key and reports whether a live value was deleted.
func (b *Bridge) Delete(h uint64, key []byte) (bool, error) {
	e, err := b.engine(h)
	if err != nil {
		return false, err
	}
	k, err := checkKey(key, e.lim.key)
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
	name, err := checkEvent(event, e.lim.eventName)
	if err != nil {
		return err
	}
	v, err := checkValue(data, enc, e.lim.eventPayload, "max_event_payload")
	if err != nil {
		return err
	}
	if flags&^SayBuffered != 0 {
		return errorf(ErrInvalidArgument, "unknown say flags %#x", flags&^SayBuffered)
	}
	var opts []engine.SayOption
	switch {
	case durationMS < 0 || durationMS > MaxDurationMS:
		return errorf(ErrInvalidArgument, "say duration %d ms out of range", durationMS)
	case durationMS > 0:
		opts = append(opts, engine.For(time.Duration(durationMS)*time.Millisecond))
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
	name, err := checkEvent(event, e.lim.eventName)
	if err != nil {
		return nil, err
	}
	v, err := checkValue(data, enc, e.lim.eventPayload, "max_event_payload")
	if err != nil {
		return nil, err
	}
	if timeoutMS <= 0 || timeoutMS > MaxDurationMS {
		return nil, errorf(ErrInvalidArgument, "ask timeout %d ms out of range (must be positive)", timeoutMS)
	}
	rs, err := e.peer.Ask(context.Background(), name, v, time.Duration(timeoutMS)*time.Millisecond)
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
	v, err := checkValue(data, enc, e.lim.eventPayload, "max_event_payload")
	if err != nil {
		return err
	}
	return e.peer.Reply(askID, v)
}

// ---------------------------------------------------------------- checks

// validText is the engine's rule for names: UTF-8 without NUL.
func validText(b []byte) bool {
	return utf8.Valid(b) && bytes.IndexByte(b, 0) < 0
}

// checkName validates a name-like input: what says what it is in messages,
// code is the error it gets, and empty ones are refused unless allowed.
func checkName(b []byte, max int, code Code, what, limit string, allowEmpty bool) (string, error) {
	switch {
	case len(b) == 0 && !allowEmpty:
		return "", errorf(code, "empty %s", what)
	case len(b) > max:
		return "", errorf(code, "%s of %d bytes exceeds %s %d", what, len(b), limit, max)
	case !validText(b):
		return "", errorf(code, "%s is not valid UTF-8 or contains NUL", what)
	}
	return string(b), nil
}

func checkKey(b []byte, max int) (string, error) {
	return checkName(b, max, ErrInvalidKey, "key", "max_key_size", false)
}

// checkPeer allows the empty name: it means the local peer.
func checkPeer(b []byte, max int) (string, error) {
	return checkName(b, max, ErrInvalidArgument, "peer name", "max_key_size", true)
}

func checkEvent(b []byte, max int) (string, error) {
	return checkName(b, max, ErrInvalidEvent, "event name", "max_event_name", false)
}

func checkPattern(b []byte, maxKey int) (string, error) {
	return checkName(b, maxKey+patternSlack, ErrInvalidArgument, "pattern", "the pattern limit", false)
}

// checkValue checks the encoding and size, then copies the bytes (the
// input is borrowed; the engine keeps what it is given). The engine checks
// that the bytes match the encoding.
func checkValue(b []byte, enc int, max int, limit string) (engine.Value, error) {
	if enc < int(engine.Raw) || enc > int(engine.JSON) {
		return engine.Value{}, errorf(ErrInvalidArgument, "unknown encoding %d", enc)
	}
	if len(b) > max {
		return engine.Value{}, errorf(ErrValueTooLarge, "value of %d bytes exceeds %s %d", len(b), limit, max)
	}
	return engine.Value{Data: bytes.Clone(b), Encoding: engine.Encoding(enc)}, nil
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
