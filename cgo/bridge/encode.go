package bridge

import (
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/telepathine/telepathine/engine"
)

// Every event delivered to C is serialized, so the Event message is written
// by hand with protowire: about ten times faster than building the
// generated message and marshalling it by reflection, and without
// allocating. The bytes are exactly what proto.Marshal(EventToProto(e))
// gives (the tests and a fuzz target compare them); field numbers are those
// of schema/proto/telepathine/api/v1/api.proto.

// Field numbers of the api messages written here.
const (
	fEventName protowire.Number = 1
	fEventPeer protowire.Number = 2

	fKeyChangeKey     protowire.Number = 1
	fKeyChangeValue   protowire.Number = 2
	fKeyChangeExpires protowire.Number = 3

	fAskedAskID protowire.Number = 4 // Said and Asked share fields 1-3 with KeyChange

	fValueData     protowire.Number = 1
	fValueEncoding protowire.Number = 2
)

// eventField is the Event oneof field of each kind.
var eventField = map[engine.Kind]protowire.Number{
	engine.KindStart: 10, engine.KindStop: 11, engine.KindSet: 12, engine.KindDelete: 13,
	engine.KindExpired: 14, engine.KindSay: 15, engine.KindAsk: 16, engine.KindPeerNew: 17,
	engine.KindPeerStart: 18, engine.KindPeerStop: 19,
}

// appendEvent appends the serialized api Event of e to b.
func appendEvent(b []byte, e *engine.Event) []byte {
	b = appendString(b, fEventName, e.Name())
	b = appendString(b, fEventPeer, e.Peer)
	field, ok := eventField[e.Kind]
	if !ok {
		return b // a kind this bridge does not know: name and peer only
	}
	b = protowire.AppendTag(b, field, protowire.BytesType)
	switch e.Kind {
	case engine.KindSet, engine.KindDelete, engine.KindExpired, engine.KindSay, engine.KindAsk:
		// KeyChange{key, value, expires_at_ms}, Said{event, data,
		// expires_at_ms} and Asked{..., ask_id} share one layout.
		vsize := valueSize(e.Value)
		size := stringSize(fKeyChangeKey, e.Key) +
			protowire.SizeTag(fKeyChangeValue) + protowire.SizeBytes(vsize) +
			varintSize(fKeyChangeExpires, uint64(e.ExpiresAt))
		if e.Kind == engine.KindAsk {
			size += varintSize(fAskedAskID, e.AskID)
		}
		b = protowire.AppendVarint(b, uint64(size))
		b = appendString(b, fKeyChangeKey, e.Key)
		b = protowire.AppendTag(b, fKeyChangeValue, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(vsize))
		b = appendValue(b, e.Value)
		b = appendVarint(b, fKeyChangeExpires, uint64(e.ExpiresAt))
		if e.Kind == engine.KindAsk {
			b = appendVarint(b, fAskedAskID, e.AskID)
		}
	default:
		b = protowire.AppendVarint(b, 0) // Lifecycle{} or PeerChange{}
	}
	return b
}

func appendValue(b []byte, v engine.Value) []byte {
	if len(v.Data) > 0 {
		b = protowire.AppendTag(b, fValueData, protowire.BytesType)
		b = protowire.AppendBytes(b, v.Data)
	}
	return appendVarint(b, fValueEncoding, uint64(v.Encoding))
}

func valueSize(v engine.Value) int {
	n := varintSize(fValueEncoding, uint64(v.Encoding))
	if len(v.Data) > 0 {
		n += protowire.SizeTag(fValueData) + protowire.SizeBytes(len(v.Data))
	}
	return n
}

// proto3 leaves zero scalars out.

func appendString(b []byte, f protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, f, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func stringSize(f protowire.Number, s string) int {
	if s == "" {
		return 0
	}
	return protowire.SizeTag(f) + protowire.SizeBytes(len(s))
}

func appendVarint(b []byte, f protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, f, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func varintSize(f protowire.Number, v uint64) int {
	if v == 0 {
		return 0
	}
	return protowire.SizeTag(f) + protowire.SizeVarint(v)
}
