// Command cgo is Telepathine's C shared library (make lib: go build
// -buildmode=c-shared -o build/libtelepathine.so ./cgo). The contract is
// the hand-written telepathine.h beside this file, which the preamble
// includes so that the C compiler checks every export against it.
//
// This is a thin layer: each export turns its C arguments into Go values
// (borrowed views, never copies of what the bridge does not keep), calls
// package bridge, copies the result into malloc'd memory, and turns errors
// into a status and a message. A deferred recover in each export keeps Go
// panics from crossing into C. No Go pointer is ever handed to C.
package main

/*
#include <stdlib.h>
#include "telepathine.h"

// cgo has no const: these typedefs spell the header's const-qualified
// types, so the prototypes cgo writes for the exports match the header's.
typedef const uint8_t tp_cbyte;
typedef const char tp_cchar;

// cgo cannot call C function pointers: these trampolines do. user_data
// travels as an integer so that Go never treats it as a pointer.
//
// tp_current_sub is the subscription whose callback runs on this thread (0
// for none): a call into the library made from inside a callback runs on
// the callback's thread, so the close functions learn from it whether they
// are called from the very callback they would otherwise wait for. Only
// tp_call_event and tp_in_callback touch it, both compiled in this file's
// translation unit.
static __thread uint64_t tp_current_sub;

static inline void tp_call_event(tp_event_fn fn, uintptr_t user_data,
                                 uint64_t sub, const uint8_t *event,
                                 size_t len) {
  uint64_t outer = tp_current_sub;
  tp_current_sub = sub;
  fn((void *)user_data, event, len);
  tp_current_sub = outer;
}

static inline uint64_t tp_in_callback(void) { return tp_current_sub; }

static inline void tp_call_finalizer(tp_finalizer_fn fn, uintptr_t user_data) {
  fn((void *)user_data);
}
*/
import "C"

import (
	"strings"
	"unsafe"

	"github.com/telepathine/telepathine/cgo/bridge"
)

func main() {}

var br = bridge.Default

// maxView bounds an input length before it becomes a Go slice (unsafe.Slice
// refuses lengths beyond the address space); real limits come after.
const maxView = 1 << 46

// inputs turns borrowed C byte ranges into Go slices that alias C memory,
// remembering the first bad one.
type inputs struct{ err error }

func (in *inputs) bytes(p *C.tp_cbyte, n C.size_t, what string) []byte {
	switch {
	case in.err != nil || n == 0:
		return nil
	case p == nil:
		in.err = bridge.Errorf(bridge.ErrInvalidArgument, "%s is NULL with length %d", what, uint64(n))
		return nil
	case uint64(n) > maxView:
		in.err = bridge.Errorf(bridge.ErrInvalidArgument, "%s length %d out of range", what, uint64(n))
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))
}

// need records an error for a NULL out-pointer.
func (in *inputs) need(isNil bool, what string) {
	if in.err == nil && isNil {
		in.err = bridge.Errorf(bridge.ErrInvalidArgument, "%s is NULL", what)
	}
}

// zero zeroes the tp_bufs a call may fill: on entry, outputs and the error
// are {NULL, 0}.
func zero(bufs ...*C.tp_buf) {
	for _, b := range bufs {
		if b != nil {
			b.data, b.len = nil, 0
		}
	}
}

// fill copies b into malloc'd memory with a 0 byte after it.
func fill(out *C.tp_buf, b []byte) {
	p := C.malloc(C.size_t(len(b) + 1))
	dst := unsafe.Slice((*byte)(p), len(b)+1)
	copy(dst, b)
	dst[len(b)] = 0
	out.data, out.len = (*C.uint8_t)(p), C.size_t(len(b))
}

// status turns err into a status; a negative one also gets its message in
// errOut (when not NULL).
func status(errOut *C.tp_buf, err error) C.int {
	code, msg := bridge.Status(err)
	if code < 0 && errOut != nil {
		fill(errOut, []byte(strings.ToValidUTF8(msg, "\uFFFD")))
	}
	return C.int(code)
}

// output stores b in out on success, then returns the status.
func output(out, errOut *C.tp_buf, b []byte, err error) C.int {
	if err == nil {
		fill(out, b)
	}
	return status(errOut, err)
}

// guard, deferred first in every export, turns a panic into
// TP_ERR_INTERNAL with a message: no Go panic may unwind into C.
func guard(rc *C.int, errOut *C.tp_buf) {
	if r := recover(); r != nil {
		*rc = status(errOut, bridge.Recovered(r))
	}
}

// ------------------------------------------------------------- library

//export tp_abi_version
func tp_abi_version() C.uint32_t { return bridge.ABIVersion }

// The names tp_status_name returns: C strings made once, never freed.
var (
	statusNames = func() map[bridge.Code]*C.tp_cchar {
		m := make(map[bridge.Code]*C.tp_cchar)
		for _, c := range bridge.Codes() {
			m[c] = (*C.tp_cchar)(C.CString(c.String()))
		}
		return m
	}()
	unknownStatus = (*C.tp_cchar)(C.CString(bridge.Code(1 << 30).String()))
)

//export tp_status_name
func tp_status_name(code C.int) *C.tp_cchar {
	if s, ok := statusNames[bridge.Code(code)]; ok {
		return s
	}
	return unknownStatus
}

// tp_buf_free is plain C (buf.c): no Go runtime entry to free memory.

// -------------------------------------------------------------- engine

//export tp_engine_new
func tp_engine_new(config *C.tp_cbyte, configLen C.size_t, engine *C.tp_engine, errOut *C.tp_buf) (rc C.int) {
	defer guard(&rc, errOut)
	zero(errOut)
	if engine != nil {
		*engine = 0
	}
	var in inputs
	in.need(engine == nil, "engine out-pointer")
	cfg := in.bytes(config, configLen, "config")
	if in.err != nil {
		return status(errOut, in.err)
	}
	h, err := br.NewEngine(cfg)
	if err == nil {
		*engine = C.tp_engine(h)
	}
	return status(errOut, err)
}

//export tp_engine_start
func tp_engine_start(engine C.tp_engine, errOut *C.tp_buf) (rc C.int) {
	defer guard(&rc, errOut)
	zero(errOut)
	return status(errOut, br.Start(uint64(engine)))
}

//export tp_engine_stop
func tp_engine_stop(engine C.tp_engine, errOut *C.tp_buf) (rc C.int) {
	defer guard(&rc, errOut)
	zero(errOut)
	return status(errOut, br.Stop(uint64(engine)))
}

//export tp_engine_close
func tp_engine_close(engine C.tp_engine, errOut *C.tp_buf) (rc C.int) {
	defer guard(&rc, errOut)
	zero(errOut)
	return status(errOut, br.CloseEngine(uint64(engine), uint64(C.tp_in_callback())))
}

//export tp_engine_info
func tp_engine_info(engine C.tp_engine, info, errOut *C.tp_buf) (rc C.int) {
	defer guard(&rc, errOut)
	zero(info, errOut)
	if info == nil {
		return status(errOut, bridge.Errorf(bridge.ErrInvalidArgument, "info is NULL"))
	}
	b, err := br.Info(uint64(engine))
	return output(info, errOut, b, err)
}

//export tp_engine_stats
func tp_engine_stats(engine C.tp_engine, stats, errOut *C.tp_buf) (rc C.int) {
	defer guard(&rc, errOut)
	zero(stats, errOut)
	if stats == nil {
		return status(errOut, bridge.Errorf(bridge.ErrInvalidArgument, "stats is NULL"))
	}
	b, err := br.Stats(uint64(engine))
	return output(stats, errOut, b, err)
}

// ----------------------------------------------------------- key/value

//export tp_engine_set
func tp_engine_set(engine C.tp_engine, key *C.tp_cbyte, keyLen C.size_t, value *C.tp_cbyte, valueLen C.size_t,
	encoding C.int, expiresAtMS C.int64_t, errOut *C.tp_buf) (rc C.int) {
	defer guard(&rc, errOut)
	zero(errOut)
	var in inputs
	k := in.bytes(key, keyLen, "key")
	v := in.bytes(value, valueLen, "value")
	if in.err != nil {
		return status(errOut, in.err)
	}
	return status(errOut, br.Set(uint64(engine), k, v, int(encoding), int64(expiresAtMS)))
}

//export tp_engine_get
func tp_engine_get(engine C.tp_engine, key *C.tp_cbyte, keyLen C.size_t, kv, errOut *C.tp_buf) (rc C.int) {
	defer guard(&rc, errOut)
	zero(kv, errOut)
	var in inputs
	in.need(kv == nil, "kv")
	k := in.bytes(key, keyLen, "key")
	if in.err != nil {
		return status(errOut, in.err)
	}
	b, err := br.Get(uint64(engine), k)
	return output(kv, errOut, b, err)
}

//export tp_engine_get_remote
func tp_engine_get_remote(engine C.tp_engine, peer *C.tp_cbyte, peerLen C.size_t, key *C.tp_cbyte, keyLen C.size_t,
	kv, errOut *C.tp_buf) (rc C.int) {
	defer guard(&rc, errOut)
	zero(kv, errOut)
	var in inputs
	in.need(kv == nil, "kv")
	p := in.bytes(peer, peerLen, "peer")
	k := in.bytes(key, keyLen, "key")
	if in.err != nil {
		return status(errOut, in.err)
	}
	b, err := br.GetRemote(uint64(engine), p, k)
	return output(kv, errOut, b, err)
}

//export tp_engine_get_remote_keys
func tp_engine_get_remote_keys(engine C.tp_engine, peer *C.tp_cbyte, peerLen C.size_t, keys, errOut *C.tp_buf) (rc C.int) {
	defer guard(&rc, errOut)
	zero(keys, errOut)
	var in inputs
	in.need(keys == nil, "keys")
	p := in.bytes(peer, peerLen, "peer")
	if in.err != nil {
		return status(errOut, in.err)
	}
	b, err := br.GetRemoteKeys(uint64(engine), p)
	return output(keys, errOut, b, err)
}

//export tp_engine_delete
func tp_engine_delete(engine C.tp_engine, key *C.tp_cbyte, keyLen C.size_t, deleted *C.int, errOut *C.tp_buf) (rc C.int) {
	defer guard(&rc, errOut)
	zero(errOut)
	if deleted != nil {
		*deleted = 0
	}
	var in inputs
	k := in.bytes(key, keyLen, "key")
	if in.err != nil {
		return status(errOut, in.err)
	}
	ok, err := br.Delete(uint64(engine), k)
	if err == nil && ok && deleted != nil {
		*deleted = 1
	}
	return status(errOut, err)
}

// --------------------------------------------------------------- peers

func peers(engine C.tp_engine, which bridge.Which, out, errOut *C.tp_buf) C.int {
	zero(out, errOut)
	if out == nil {
		return status(errOut, bridge.Errorf(bridge.ErrInvalidArgument, "peers is NULL"))
	}
	b, err := br.Peers(uint64(engine), which)
	return output(out, errOut, b, err)
}

//export tp_engine_all_peers
func tp_engine_all_peers(engine C.tp_engine, out, errOut *C.tp_buf) (rc C.int) {
	defer guard(&rc, errOut)
	return peers(engine, bridge.AllPeers, out, errOut)
}

//export tp_engine_live_peers
func tp_engine_live_peers(engine C.tp_engine, out, errOut *C.tp_buf) (rc C.int) {
	defer guard(&rc, errOut)
	return peers(engine, bridge.LivePeers, out, errOut)
}

//export tp_engine_dead_peers
func tp_engine_dead_peers(engine C.tp_engine, out, errOut *C.tp_buf) (rc C.int) {
	defer guard(&rc, errOut)
	return peers(engine, bridge.DeadPeers, out, errOut)
}

// ----------------------------------------------------- cluster keyring

// keyCall is the shape of the three calls that take one key.
func keyCall(engine C.tp_engine, key *C.tp_cbyte, keyLen C.size_t, errOut *C.tp_buf,
	call func(uint64, []byte) error) C.int {
	zero(errOut)
	var in inputs
	k := in.bytes(key, keyLen, "key")
	if in.err != nil {
		return status(errOut, in.err)
	}
	return status(errOut, call(uint64(engine), k))
}

//export tp_engine_install_key
func tp_engine_install_key(engine C.tp_engine, key *C.tp_cbyte, keyLen C.size_t, errOut *C.tp_buf) (rc C.int) {
	defer guard(&rc, errOut)
	return keyCall(engine, key, keyLen, errOut, br.InstallKey)
}

//export tp_engine_use_key
func tp_engine_use_key(engine C.tp_engine, key *C.tp_cbyte, keyLen C.size_t, errOut *C.tp_buf) (rc C.int) {
	defer guard(&rc, errOut)
	return keyCall(engine, key, keyLen, errOut, br.UseKey)
}

//export tp_engine_remove_key
func tp_engine_remove_key(engine C.tp_engine, key *C.tp_cbyte, keyLen C.size_t, errOut *C.tp_buf) (rc C.int) {
	defer guard(&rc, errOut)
	return keyCall(engine, key, keyLen, errOut, br.RemoveKey)
}

//export tp_engine_keys
func tp_engine_keys(engine C.tp_engine, keys, errOut *C.tp_buf) (rc C.int) {
	defer guard(&rc, errOut)
	zero(keys, errOut)
	if keys == nil {
		return status(errOut, bridge.Errorf(bridge.ErrInvalidArgument, "keys is NULL"))
	}
	b, err := br.Keys(uint64(engine))
	return output(keys, errOut, b, err)
}

//export tp_engine_set_plaintext
func tp_engine_set_plaintext(engine C.tp_engine, accept, send C.int, errOut *C.tp_buf) (rc C.int) {
	defer guard(&rc, errOut)
	zero(errOut)
	return status(errOut, br.SetPlaintext(uint64(engine), accept != 0, send != 0))
}

// ---------------------------------------------------------- say and ask

//export tp_engine_say
func tp_engine_say(engine C.tp_engine, event *C.tp_cbyte, eventLen C.size_t, data *C.tp_cbyte, dataLen C.size_t,
	encoding C.int, durationMS C.int64_t, flags C.uint32_t, errOut *C.tp_buf) (rc C.int) {
	defer guard(&rc, errOut)
	zero(errOut)
	var in inputs
	ev := in.bytes(event, eventLen, "event")
	d := in.bytes(data, dataLen, "data")
	if in.err != nil {
		return status(errOut, in.err)
	}
	return status(errOut, br.Say(uint64(engine), ev, d, int(encoding), int64(durationMS), uint32(flags)))
}

//export tp_engine_ask
func tp_engine_ask(engine C.tp_engine, event *C.tp_cbyte, eventLen C.size_t, data *C.tp_cbyte, dataLen C.size_t,
	encoding C.int, timeoutMS C.int64_t, replies, errOut *C.tp_buf) (rc C.int) {
	defer guard(&rc, errOut)
	zero(replies, errOut)
	var in inputs
	in.need(replies == nil, "replies")
	ev := in.bytes(event, eventLen, "event")
	d := in.bytes(data, dataLen, "data")
	if in.err != nil {
		return status(errOut, in.err)
	}
	b, err := br.Ask(uint64(engine), ev, d, int(encoding), int64(timeoutMS))
	return output(replies, errOut, b, err)
}

//export tp_engine_reply
func tp_engine_reply(engine C.tp_engine, askID C.uint64_t, data *C.tp_cbyte, dataLen C.size_t, encoding C.int,
	errOut *C.tp_buf) (rc C.int) {
	defer guard(&rc, errOut)
	zero(errOut)
	var in inputs
	d := in.bytes(data, dataLen, "data")
	if in.err != nil {
		return status(errOut, in.err)
	}
	return status(errOut, br.Reply(uint64(engine), uint64(askID), d, int(encoding)))
}

// -------------------------------------------------------------- events

// callback delivers a subscription's events to C. Its calls are
// serialised by the subscription, so one C buffer is reused for every
// event: no allocation per event once it is large enough.
type callback struct {
	fn   C.tp_event_fn
	fin  C.tp_finalizer_fn
	ud   C.uintptr_t
	buf  unsafe.Pointer
	size int
}

const (
	minEventBuf  = 512
	keepEventBuf = 64 << 10 // a larger buffer is shrunk after a smaller event
)

func (c *callback) deliver(sub uint64, ev []byte) {
	if len(ev) > c.size || (c.size > keepEventBuf && len(ev) <= keepEventBuf) {
		C.free(c.buf)
		c.size = max(len(ev), minEventBuf)
		c.buf = C.malloc(C.size_t(c.size))
	}
	copy(unsafe.Slice((*byte)(c.buf), c.size), ev)
	C.tp_call_event(c.fn, c.ud, C.uint64_t(sub), (*C.uint8_t)(c.buf), C.size_t(len(ev)))
}

// finalize runs once, after the last deliver returned.
func (c *callback) finalize() {
	C.free(c.buf)
	c.buf, c.size = nil, 0
	if c.fin != nil {
		C.tp_call_finalizer(c.fin, c.ud)
	}
}

//export tp_engine_subscribe
func tp_engine_subscribe(engine C.tp_engine, pattern *C.tp_cbyte, patternLen C.size_t, fn C.tp_event_fn,
	userData unsafe.Pointer, fin C.tp_finalizer_fn, subscription *C.tp_subscription, errOut *C.tp_buf) (rc C.int) {
	defer guard(&rc, errOut)
	zero(errOut)
	if subscription != nil {
		*subscription = 0
	}
	var in inputs
	in.need(subscription == nil, "subscription out-pointer")
	in.need(fn == nil, "callback")
	p := in.bytes(pattern, patternLen, "pattern")
	if in.err != nil {
		return status(errOut, in.err)
	}
	c := &callback{fn: fn, fin: fin, ud: C.uintptr_t(uintptr(userData))}
	h, err := br.Subscribe(uint64(engine), p, c.deliver, c.finalize)
	if err == nil {
		*subscription = C.tp_subscription(h)
	}
	return status(errOut, err)
}

//export tp_subscription_close
func tp_subscription_close(subscription C.tp_subscription, errOut *C.tp_buf) (rc C.int) {
	defer guard(&rc, errOut)
	zero(errOut)
	return status(errOut, br.CloseSubscription(uint64(subscription), uint64(C.tp_in_callback())))
}

//export tp_events_open
func tp_events_open(engine C.tp_engine, pattern *C.tp_cbyte, patternLen C.size_t, queueLen C.uint32_t,
	events *C.tp_events, errOut *C.tp_buf) (rc C.int) {
	defer guard(&rc, errOut)
	zero(errOut)
	if events != nil {
		*events = 0
	}
	var in inputs
	in.need(events == nil, "events out-pointer")
	p := in.bytes(pattern, patternLen, "pattern")
	if in.err != nil {
		return status(errOut, in.err)
	}
	h, err := br.OpenEvents(uint64(engine), p, uint32(queueLen))
	if err == nil {
		*events = C.tp_events(h)
	}
	return status(errOut, err)
}

//export tp_events_poll
func tp_events_poll(events C.tp_events, timeoutMS C.int64_t, event, errOut *C.tp_buf) (rc C.int) {
	defer guard(&rc, errOut)
	zero(event, errOut)
	if event == nil {
		return status(errOut, bridge.Errorf(bridge.ErrInvalidArgument, "event is NULL"))
	}
	b, err := br.Poll(uint64(events), int64(timeoutMS))
	return output(event, errOut, b, err)
}

//export tp_events_close
func tp_events_close(events C.tp_events, errOut *C.tp_buf) (rc C.int) {
	defer guard(&rc, errOut)
	zero(errOut)
	return status(errOut, br.CloseEvents(uint64(events)))
}

// ------------------------------------------------------- batched events

//export tp_events_poll_many
func tp_events_poll_many(events C.tp_events, timeoutMS C.int64_t, maxEvents C.uint32_t, batch, errOut *C.tp_buf) (rc C.int) {
	defer guard(&rc, errOut)
	zero(batch, errOut)
	if batch == nil {
		return status(errOut, bridge.Errorf(bridge.ErrInvalidArgument, "batch is NULL"))
	}
	b, err := br.PollMany(uint64(events), int64(timeoutMS), uint32(maxEvents))
	return output(batch, errOut, b, err)
}

//export tp_events_poll_flat
func tp_events_poll_flat(events C.tp_events, timeoutMS C.int64_t, maxEvents C.uint32_t, batch, errOut *C.tp_buf) (rc C.int) {
	defer guard(&rc, errOut)
	zero(batch, errOut)
	if batch == nil {
		return status(errOut, bridge.Errorf(bridge.ErrInvalidArgument, "batch is NULL"))
	}
	b, err := br.PollFlat(uint64(events), int64(timeoutMS), uint32(maxEvents))
	return output(batch, errOut, b, err)
}
