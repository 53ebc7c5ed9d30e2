package bridge

import (
	"bytes"
	"encoding/binary"
	"slices"
	"sync"

	"github.com/telepathine/telepathine/engine"
)

// The flat batch (tp_events_poll_flat, ABI 1.2): the events of one batch as
// fixed-size records that point into a table of strings, so that a host
// reads a field with one indexed load instead of parsing a protobuf
// message per event. Hosts whose per-object cost is high (Python builds
// every field it reads; a JS reader of protobuf allocates per field) spend
// most of an event's time there otherwise. The names, peers and keys of a
// batch repeat (a flood is one event name from a few peers): each distinct
// string is stored once, so a host decodes it once per batch. Text and JSON
// values go in the same table (decoded along with it); raw values in a
// data section.
//
// Layout (all integers little-endian; telepathine.h describes it for C):
//
//	header   16 bytes: u32 events, u32 strings, u32 table bytes, u32 record size (40)
//	offsets  strings x u32: where each string starts in the table
//	table    the strings, each followed by a 0 byte; string 0 is ""
//	padding  to a multiple of 8 bytes from the start
//	records  events x record size, oldest event first
//	data     raw value bytes, to the end
//
// Record (40 bytes):
//
//	0  u8  kind (engine.Kind: 1 start ... 10 peer:stop)
//	1  u8  encoding of the value
//	2  u8  flags: FlatValueString when the value is string `value`
//	3  u8  reserved, 0
//	4  u32 name: string index
//	8  u32 peer: string index
//	12 u32 key: string index (key, or the event as said; 0 for none)
//	16 u32 value: string index (FlatValueString) or offset in the data section
//	20 u32 value length in bytes
//	24 i64 expires_at_ms (0 for none)
//	32 u64 ask_id (0 unless an ask)
//
// A value is a string only when its bytes can be one (text without a 0
// byte, JSON, which never holds one): the reader then gets the value as a
// decoded string, the form its host wants for text and for a JSON parser.

// The header's TP_FLAT_* constants.
const (
	FlatHeaderSize = 16
	FlatRecordSize = 40
	// FlatValueString is the record flag of a value held in the string
	// table.
	FlatValueString = 1
)

const (
	// flatMaxBytes bounds a flat batch below 4 GiB, so that every offset
	// fits its u32 (a batch already stops near batchSoftBytes; one event
	// can be larger, up to the engine's value limit).
	flatMaxBytes = 1<<32 - 1
)

// flatBuilder accumulates one flat batch. Builders are pooled: their
// buffers and map keep their capacity from one batch to the next.
type flatBuilder struct {
	records []byte
	table   []byte
	offsets []uint32
	data    []byte
	index   map[string]uint32
	events  uint32
}

var flatPool = sync.Pool{New: func() any {
	return &flatBuilder{index: make(map[string]uint32)}
}}

func (f *flatBuilder) reset() {
	f.records, f.table, f.offsets, f.data = f.records[:0], f.table[:0], f.offsets[:0], f.data[:0]
	clear(f.index)
	f.events = 0
	f.intern("") // string 0
}

// intern returns the index of s in the table, adding it once per batch.
func (f *flatBuilder) intern(s string) uint32 {
	if i, ok := f.index[s]; ok {
		return i
	}
	i := f.newString([]byte(s))
	f.index[s] = i
	return i
}

// newString appends b to the table as a string of its own (not shared).
func (f *flatBuilder) newString(b []byte) uint32 {
	i := uint32(len(f.offsets))
	f.offsets = append(f.offsets, uint32(len(f.table)))
	f.table = append(f.table, b...)
	f.table = append(f.table, 0)
	return i
}

// size is the length of the batch built so far.
func (f *flatBuilder) size() int {
	head := FlatHeaderSize + 4*len(f.offsets) + len(f.table)
	return (head+7)&^7 + len(f.records) + len(f.data)
}

// add appends the record of e.
func (f *flatBuilder) add(e *engine.Event) {
	var r [FlatRecordSize]byte
	r[0] = byte(e.Kind)
	binary.LittleEndian.PutUint32(r[4:], f.intern(e.Name()))
	binary.LittleEndian.PutUint32(r[8:], f.intern(e.Peer))
	if e.Key != "" {
		binary.LittleEndian.PutUint32(r[12:], f.intern(e.Key))
	}
	if carriesValue(e.Kind) {
		v := e.Value
		r[1] = byte(v.Encoding)
		binary.LittleEndian.PutUint32(r[20:], uint32(len(v.Data)))
		if v.Encoding == engine.Text && bytes.IndexByte(v.Data, 0) < 0 || v.Encoding == engine.JSON {
			r[2] = FlatValueString
			binary.LittleEndian.PutUint32(r[16:], f.newString(v.Data))
		} else {
			binary.LittleEndian.PutUint32(r[16:], uint32(len(f.data)))
			f.data = append(f.data, v.Data...)
		}
	}
	binary.LittleEndian.PutUint64(r[24:], uint64(e.ExpiresAt))
	binary.LittleEndian.PutUint64(r[32:], e.AskID)
	f.records = append(f.records, r[:]...)
	f.events++
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
	le.PutUint32(out[0:], f.events)
	le.PutUint32(out[4:], uint32(len(f.offsets)))
	le.PutUint32(out[8:], uint32(len(f.table)))
	le.PutUint32(out[12:], FlatRecordSize)
	at := FlatHeaderSize
	for _, o := range f.offsets {
		le.PutUint32(out[at:], o)
		at += 4
	}
	at += copy(out[at:], f.table)
	at = (at + 7) &^ 7
	at += copy(out[at:], f.records)
	copy(out[at:], f.data)
	return out
}

// PollFlat takes events as PollMany does (the same wait, the same end of a
// batch) and returns them as a flat batch (see the layout above).
func (b *Bridge) PollFlat(h uint64, timeoutMS int64, maxEvents uint32) ([]byte, error) {
	f := flatPool.Get().(*flatBuilder)
	defer flatPool.Put(f)
	f.reset()
	err := b.collect(h, timeoutMS, maxEvents, func(ev *engine.Event) bool {
		f.add(ev)
		return f.size() >= batchSoftBytes
	})
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
