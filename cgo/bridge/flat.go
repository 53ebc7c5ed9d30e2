package bridge

import (
	"bytes"
	"encoding/binary"
	"slices"
	"sync"

	"github.com/telepathine/telepathine/engine"
)

// The flat batch (tp_events_poll_flat, ABI 1.2): the events of one batch
// as columns of fixed-size fields that point into a table of strings, so
// that a host reads a field with one indexed load instead of parsing a
// protobuf message per event. Hosts whose per-object cost is high (Python
// builds every field it reads; a JS reader of protobuf allocates per
// field) spend most of an event's time there otherwise. Columns, not
// records: a host with vectorised primitives (Python's map over a
// memoryview, JavaScript typed arrays) then reads a whole column in one
// call. The names, peers and keys of a batch repeat (a flood is one event
// name from a few peers): each distinct string is stored once, so a host
// decodes it once per batch. Text and JSON values go in the same table
// (decoded along with it); raw values in a data section.
//
// Layout (all integers little-endian; telepathine.h describes it for C):
//
//	header   32 bytes: u32 events, u32 strings, u32 table bytes, u32 data bytes, 16 reserved
//	offsets  strings x u32: where each string starts in the table
//	table    the strings, each followed by a 0 byte; string 0 is ""
//	padding  to a multiple of 8 bytes from the start
//	columns  events x: i64 expires_at_ms, u64 ask_id, u32 name, u32 peer,
//	         u32 key, u32 value, u32 value length, u8 kind, u8 encoding,
//	         u8 flags
//	padding  to a multiple of 8 bytes
//	data     raw value bytes: the last "data bytes" of the batch
//
// A later ABI minor may append columns after flags (the data section stays
// last), and fields in the reserved bytes of the header.
//
// A value is a string only when its bytes can be one (text without a 0
// byte, JSON, which never holds one): the reader then gets the value as a
// decoded string, the form its host wants for text and for a JSON parser.

// The header's TP_FLAT_* constants.
const (
	FlatHeaderSize = 32
	// FlatValueString is the flag of a value held in the string table.
	FlatValueString = 1
)

const (
	// flatEventSize is the bytes of columns per event.
	flatEventSize = 8 + 8 + 5*4 + 3
	// flatMaxBytes bounds a flat batch below 4 GiB, so that every offset
	// fits its u32 (a batch already stops near batchSoftBytes; one event
	// can be larger, up to the engine's value limit).
	flatMaxBytes = 1<<32 - 1
)

// flatBuilder accumulates one flat batch. Builders are pooled: their
// buffers and map keep their capacity from one batch to the next.
type flatBuilder struct {
	expires                        []int64
	askIDs                         []uint64
	names, peers, keys, vals, lens []uint32
	kinds, encs, flags             []byte
	table                          []byte
	offsets                        []uint32
	data                           []byte
	index                          map[string]uint32
	// The last name, peer and key interned: a flood repeats them (one
	// event name from a few peers), so most lookups end here, with a
	// comparison of strings that share their bytes.
	last [3]internMemo
}

type internMemo struct {
	s  string
	i  uint32
	ok bool
}

// Fields of flatBuilder.last.
const (
	memoName = iota
	memoPeer
	memoKey
)

var flatPool = sync.Pool{New: func() any {
	return &flatBuilder{index: make(map[string]uint32)}
}}

func (f *flatBuilder) reset() {
	f.expires, f.askIDs = f.expires[:0], f.askIDs[:0]
	f.names, f.peers, f.keys, f.vals, f.lens = f.names[:0], f.peers[:0], f.keys[:0], f.vals[:0], f.lens[:0]
	f.kinds, f.encs, f.flags = f.kinds[:0], f.encs[:0], f.flags[:0]
	f.table, f.offsets, f.data = f.table[:0], f.offsets[:0], f.data[:0]
	clear(f.index)
	f.last = [3]internMemo{}
	f.intern("") // string 0
}

// intern returns the index of s in the table, adding it once per batch.
func (f *flatBuilder) intern(s string) uint32 {
	if i, ok := f.index[s]; ok {
		return i
	}
	i := newString(f, s)
	f.index[s] = i
	return i
}

// internAs is intern through the memo of field m.
func (f *flatBuilder) internAs(m int, s string) uint32 {
	l := &f.last[m]
	if l.ok && l.s == s {
		return l.i
	}
	i := f.intern(s)
	*l = internMemo{s: s, i: i, ok: true}
	return i
}

// newString appends b to the table as a string of its own (not shared).
func newString[T string | []byte](f *flatBuilder, b T) uint32 {
	i := uint32(len(f.offsets))
	f.offsets = append(f.offsets, uint32(len(f.table)))
	f.table = append(f.table, b...)
	f.table = append(f.table, 0)
	return i
}

func align8(n int) int { return (n + 7) &^ 7 }

// size is the length of the batch built so far.
func (f *flatBuilder) size() int {
	head := align8(FlatHeaderSize + 4*len(f.offsets) + len(f.table))
	return head + align8(len(f.kinds)*flatEventSize) + len(f.data)
}

// add appends e.
func (f *flatBuilder) add(e *engine.Event) {
	var key, val, n uint32
	var enc, flags byte
	if e.Key != "" {
		key = f.internAs(memoKey, e.Key)
	}
	if carriesValue(e.Kind) {
		v := e.Value
		enc, n = byte(v.Encoding), uint32(len(v.Data))
		if v.Encoding == engine.Text && bytes.IndexByte(v.Data, 0) < 0 || v.Encoding == engine.JSON {
			flags = FlatValueString
			val = newString(f, v.Data)
		} else {
			val = uint32(len(f.data))
			f.data = append(f.data, v.Data...)
		}
	}
	f.expires = append(f.expires, e.ExpiresAt)
	f.askIDs = append(f.askIDs, e.AskID)
	f.names = append(f.names, f.internAs(memoName, e.Name()))
	f.peers = append(f.peers, f.internAs(memoPeer, e.Peer))
	f.keys = append(f.keys, key)
	f.vals = append(f.vals, val)
	f.lens = append(f.lens, n)
	f.kinds = append(f.kinds, byte(e.Kind))
	f.encs = append(f.encs, enc)
	f.flags = append(f.flags, flags)
}

// carriesValue reports whether events of kind k have a value (the kinds
// whose protobuf detail holds one).
func carriesValue(k engine.Kind) bool {
	switch k {
	case engine.KindSet, engine.KindDelete, engine.KindExpired, engine.KindSay, engine.KindAsk:
		return true
	}
	return false
}

// bytes returns the finished batch (a new slice: the builder goes back to
// its pool).
func (f *flatBuilder) bytes() []byte {
	out := make([]byte, f.size())
	le := binary.LittleEndian
	le.PutUint32(out[0:], uint32(len(f.kinds)))
	le.PutUint32(out[4:], uint32(len(f.offsets)))
	le.PutUint32(out[8:], uint32(len(f.table)))
	le.PutUint32(out[12:], uint32(len(f.data)))
	at := FlatHeaderSize
	for _, o := range f.offsets {
		le.PutUint32(out[at:], o)
		at += 4
	}
	at = align8(at + copy(out[at:], f.table))
	for _, v := range f.expires {
		le.PutUint64(out[at:], uint64(v))
		at += 8
	}
	for _, v := range f.askIDs {
		le.PutUint64(out[at:], v)
		at += 8
	}
	for _, col := range [...][]uint32{f.names, f.peers, f.keys, f.vals, f.lens} {
		for _, v := range col {
			le.PutUint32(out[at:], v)
			at += 4
		}
	}
	at += copy(out[at:], f.kinds)
	at += copy(out[at:], f.encs)
	copy(out[at:], f.flags)
	copy(out[len(out)-len(f.data):], f.data)
	return out
}

// PollFlat takes events as PollMany does (the same wait, the same end of a
// batch) and returns them as a flat batch (see the layout above).
func (b *Bridge) PollFlat(h uint64, timeoutMS int64, maxEvents uint32) ([]byte, error) {
	return b.pollFlat(h, timeoutMS, maxEvents, batchSoftBytes)
}

// pollFlat is PollFlat with the batch's soft limit in bytes (tests).
func (b *Bridge) pollFlat(h uint64, timeoutMS int64, maxEvents uint32, softBytes int) ([]byte, error) {
	f := flatPool.Get().(*flatBuilder)
	defer flatPool.Put(f)
	f.reset()
	err := b.collect(h, timeoutMS, maxEvents, softBytes, eventCost, f.add)
	if err != nil {
		return nil, err
	}
	if f.size() > flatMaxBytes {
		return nil, errorf(ErrInternal, "flat batch of %d bytes above 4 GiB", f.size())
	}
	return f.bytes(), nil
}

// EventKinds returns the event kinds this bridge writes in full (the
// header names each one with a TP_EVENT_ macro), in order.
func EventKinds() []engine.Kind {
	out := make([]engine.Kind, 0, len(eventField))
	for k := range eventField {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
