// Package wire converts between the engine's packets and their Cap'n Proto
// encoding (schema/capnp/wire.capnp). Decoding treats every byte as hostile:
// sizes are bounded before anything is allocated, traversal and depth limits
// stop amplification, unions are read only after checking Which, and every
// failure is an error, never a panic.
package wire

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"sync"

	capnp "capnproto.org/go/capnp/v3"

	gen "github.com/telepathine/telepathine/gen/wire"

	"github.com/telepathine/telepathine/engine/internal/state"
)

// Type is the kind of message a packet carries. Values follow the schema's
// union order; ONLY APPEND.
type Type uint8

// Message types.
const (
	Syn Type = iota
	SynAck
	Ack
	Push
	Reply
	BadCluster
	Beat
)

var typeNames = [...]string{"syn", "synack", "ack", "push", "reply", "badcluster", "beat"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// NumTypes is the number of message types, for per-type counters.
const NumTypes = int(Beat) + 1

// Magic and Version identify the protocol; see the schema.
const (
	Magic   = gen.Magic
	Version = gen.ProtocolVersion
)

// Packet is a decoded packet. Only the fields of its Type are set.
type Packet struct {
	Cluster string
	// Sender is who sent the packet. Decode leaves it zero when the packet
	// carries SenderKey instead; the receiver resolves the key.
	Sender state.NodeID
	// SenderKey, when not 0, replaces Sender on the wire: the key of the
	// sender's (name, generation), state.NodeKey (compact header).
	SenderKey uint64
	Type      Type
	Digest    state.Digest // Syn, SynAck
	Delta     state.Delta  // SynAck, Ack, Push
	Mismatch  bool         // SynAck
	Reply     ReplyMsg     // Reply
	// Heartbeat is the sender's liveness counter (Beat).
	Heartbeat uint64
	// Token is the address-validation token: set on a Syn, echoed by the
	// SynAck that answers it; 0 means none.
	Token uint64
	// Padding is filler the receiver ignores; only its length matters (a
	// first Syn earns credit for the SynAck under the 3x rule). Decode
	// reports its length without copying it out.
	Padding int
}

// ReplyMsg answers an ask.
type ReplyMsg struct {
	AskNode    uint64
	AskVersion uint64
	Value      []byte
	Encoding   state.Encoding
	// Sig: the replier's signature (identity mode), nil when off.
	Sig []byte
}

// Errors of Decode. Each has its own counter in the engine's Stats.
var (
	ErrTruncated = errors.New("wire: truncated or corrupt packet")
	ErrOversized = errors.New("wire: packet larger than the limit")
	ErrMagic     = errors.New("wire: not a telepathine packet")
	ErrVersion   = errors.New("wire: unsupported protocol version")
	ErrMalformed = errors.New("wire: malformed packet")
)

// maxDepth is far above what the schema nests (Packet > SynAck > Delta >
// NodeDelta > Entry) and far below what could hurt.
const maxDepth = 16

// Encode returns the packed encoding of p. The result is newly allocated and
// owned by the caller (it can be handed to a transport). The message is built
// in a pooled arena that is released once packed.
func Encode(p *Packet) ([]byte, error) { return encode(p, true) }

// EncodeSealed is Encode without the magic number, for a packet that travels
// in an authenticated (encrypted) envelope: authentication already tells our
// packets from stray traffic, which is all the magic is for, and it saves 4
// of the bytes a small packet pays for encryption. Decode it with
// Limits.Sealed.
func EncodeSealed(p *Packet) ([]byte, error) { return encode(p, false) }

func encode(p *Packet, magic bool) ([]byte, error) {
	msg, seg, err := capnp.NewMessage(capnp.SingleSegment(nil))
	if err != nil {
		return nil, err
	}
	defer msg.Release()
	root, err := gen.NewRootPacket(seg)
	if err != nil {
		return nil, err
	}
	if err := encodePacket(root, p); err != nil {
		return nil, err
	}
	if !magic {
		root.SetMagic(0)
	}
	return msg.MarshalPacked()
}

func encodePacket(root gen.Packet, p *Packet) error {
	root.SetMagic(Magic)
	root.SetVersion(Version)
	root.SetToken(p.Token)
	if p.Padding > 0 {
		// Non-zero bytes: packed encoding would squeeze zeros to nothing.
		if err := root.SetPadding(bytes.Repeat([]byte{0xa5}, p.Padding)); err != nil {
			return err
		}
	}
	if err := root.SetCluster(p.Cluster); err != nil {
		return err
	}
	if p.SenderKey != 0 {
		root.SetSenderKey(p.SenderKey)
	} else {
		sender, err := root.NewSender()
		if err != nil {
			return err
		}
		if err := encodeNodeID(sender, p.Sender); err != nil {
			return err
		}
	}
	body := root.Body()
	switch p.Type {
	case Syn:
		syn, err := body.NewSyn()
		if err != nil {
			return err
		}
		d, err := syn.NewDigest()
		if err != nil {
			return err
		}
		return encodeDigest(d, &p.Digest)
	case SynAck:
		sa, err := body.NewSynAck()
		if err != nil {
			return err
		}
		sa.SetMismatch(p.Mismatch)
		d, err := sa.NewDigest()
		if err != nil {
			return err
		}
		if err := encodeDigest(d, &p.Digest); err != nil {
			return err
		}
		dl, err := sa.NewDelta()
		if err != nil {
			return err
		}
		return encodeDelta(dl, &p.Delta)
	case Ack:
		ack, err := body.NewAck()
		if err != nil {
			return err
		}
		dl, err := ack.NewDelta()
		if err != nil {
			return err
		}
		return encodeDelta(dl, &p.Delta)
	case Push:
		dl, err := body.NewPush()
		if err != nil {
			return err
		}
		return encodeDelta(dl, &p.Delta)
	case Reply:
		r, err := body.NewReply()
		if err != nil {
			return err
		}
		r.SetAskNode(p.Reply.AskNode)
		r.SetAskVersion(p.Reply.AskVersion)
		r.SetEncoding(gen.Encoding(p.Reply.Encoding))
		if len(p.Reply.Sig) > 0 {
			if err := r.SetSignature(p.Reply.Sig); err != nil {
				return err
			}
		}
		return r.SetValue(p.Reply.Value)
	case BadCluster:
		body.SetBadCluster()
		return nil
	case Beat:
		b, err := body.NewBeat()
		if err != nil {
			return err
		}
		b.SetHeartbeat(p.Heartbeat)
		return nil
	}
	return fmt.Errorf("wire: cannot encode %v", p.Type)
}

func encodeNodeID(n gen.NodeId, id state.NodeID) error {
	if err := n.SetName(id.Name); err != nil {
		return err
	}
	n.SetGeneration(id.Generation)
	if id.Addr == id.Name {
		return nil // an absent address means "same as the name": most peers are named by address
	}
	return n.SetAddress(id.Addr)
}

func encodeDigest(d gen.Digest, dg *state.Digest) error {
	d.SetComplete(dg.Complete)
	d.SetFingerprint(dg.Fingerprint)
	list, err := d.NewEntries(int32(len(dg.Entries)))
	if err != nil {
		return err
	}
	for i, e := range dg.Entries {
		l := list.At(i)
		l.SetNode(e.Key)
		l.SetHeartbeat(e.Heartbeat)
		l.SetVersion(e.Version)
	}
	return nil
}

func encodeDelta(dl gen.Delta, d *state.Delta) error {
	dl.SetRelay(d.Relay)
	dl.SetRelayTree(d.Tree)
	dl.SetRelayFrom(d.RangeFrom)
	dl.SetRelayTo(d.RangeTo)
	nodes, err := dl.NewNodes(int32(len(d.Nodes)))
	if err != nil {
		return err
	}
	for i := range d.Nodes {
		nd := &d.Nodes[i]
		w := nodes.At(i)
		id, err := w.NewNode()
		if err != nil {
			return err
		}
		if err := encodeNodeID(id, nd.ID); err != nil {
			return err
		}
		w.SetHeartbeat(nd.Heartbeat)
		w.SetFromVersion(nd.From)
		w.SetToVersion(nd.To)
		w.SetReset(nd.Reset)
		w.SetGcFloor(nd.GCFloor)
		if len(nd.PubKey) > 0 {
			if err := w.SetPublicKey(nd.PubKey); err != nil {
				return err
			}
		}
		if len(nd.Head.Sig) > 0 {
			h, err := w.NewHead()
			if err != nil {
				return err
			}
			h.SetVersion(nd.Head.Version)
			h.SetEpoch(nd.Head.Epoch)
			if err := h.SetSignature(nd.Head.Sig); err != nil {
				return err
			}
		}
		if len(nd.RunSig) > 0 {
			if err := w.SetRunSignature(nd.RunSig); err != nil {
				return err
			}
		}
		entries, err := w.NewEntries(int32(len(nd.Entries)))
		if err != nil {
			return err
		}
		for j, e := range nd.Entries {
			we := entries.At(j)
			we.SetVersion(e.Version)
			we.SetKind(gen.EntryKind(e.Kind))
			we.SetEncoding(gen.Encoding(e.Encoding))
			we.SetExpiresAt(e.ExpiresAt)
			if err := we.SetKey(e.Key); err != nil {
				return err
			}
			if len(e.Value) > 0 {
				if err := we.SetValue(e.Value); err != nil {
					return err
				}
			}
			if len(e.Sig) > 0 {
				if err := we.SetSignature(e.Sig); err != nil {
					return err
				}
			}
			if len(e.ExpirySig) > 0 {
				if err := we.SetExpirySignature(e.ExpirySig); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Limits bound decoding.
type Limits struct {
	// MaxPacket is the largest unpacked packet accepted, in bytes.
	MaxPacket int
	// Sealed accepts a packet without the magic number (EncodeSealed): set
	// only for a packet whose envelope authenticated.
	Sealed bool
}

// unpack expands packed data, refusing to produce more than max bytes: packed
// encoding turns two bytes into up to 2 KiB of zeros, so the input length
// says little about the output. The size is worked out from the tag bytes
// first (cheap, allocation-free), then expandPacked fills a buffer of
// exactly that size.
func unpack(data []byte, max int) ([]byte, error) {
	size, err := unpackedSize(data, max)
	if err != nil {
		return nil, err
	}
	out := unpackBuffer(size)[:size]
	expandPacked(out, data)
	return out, nil
}

// expandPacked unpacks src, a stream unpackedSize accepted, into out, of
// the size unpackedSize gave. It does what packed.Unpack does (fuzzed
// against it: FuzzExpandPacked) in a third of the time a push of says took
// there: out is cleared in one pass and only the non-zero bytes are then
// written, where the library grew and zeroed its output word by word.
func expandPacked(out, src []byte) {
	clear(out)
	o := 0
	for i := 0; i < len(src); {
		tag := src[i]
		i++
		switch tag {
		case 0x00:
			o += 8 * (1 + int(src[i]))
			i++
		case 0xff:
			n := 8 * (1 + int(src[i+8]))
			copy(out[o:o+8], src[i:i+8])
			copy(out[o+8:o+n], src[i+9:i+1+n])
			i += 1 + n
			o += n
		default:
			w := out[o : o+8 : o+8]
			for t := tag; t != 0; t &= t - 1 {
				w[bits.TrailingZeros8(t)] = src[i]
				i++
			}
			o += 8
		}
	}
}

// unpackPool recycles the buffers packets are unpacked into: Decode copies
// everything it keeps out of the buffer, so the buffer is free once Decode
// returns, and a stream of pushes would otherwise allocate one per packet.
// Buffers above pooledUnpackMax (a packet above the largest DeltaBudget
// default) are left to the collector rather than kept alive by the pool.
var unpackPool sync.Pool

const pooledUnpackMax = 2 << 20

func unpackBuffer(size int) []byte {
	if size <= pooledUnpackMax {
		if b, ok := unpackPool.Get().(*[]byte); ok && cap(*b) >= size {
			return (*b)[:0]
		}
	}
	return make([]byte, 0, size)
}

func releaseUnpacked(b []byte) {
	if cap(b) <= pooledUnpackMax {
		b = b[:0]
		unpackPool.Put(&b)
	}
}

// unpackedSize walks the tags of a packed stream: 0x00 is a zero word
// followed by a count of further zero words; 0xff is a literal word followed
// by a count of further literal words; any other tag is one word whose
// non-zero bytes follow, one per set bit.
func unpackedSize(data []byte, max int) (int, error) {
	words := 0
	for i := 0; i < len(data); {
		tag := data[i]
		i++
		switch tag {
		case 0x00:
			if i >= len(data) {
				return 0, ErrTruncated
			}
			words += 1 + int(data[i])
			i++
		case 0xff:
			if i+8 >= len(data) {
				return 0, ErrTruncated
			}
			n := int(data[i+8])
			i += 9 + 8*n
			if i > len(data) {
				return 0, ErrTruncated
			}
			words += 1 + n
		default:
			i += bits.OnesCount8(tag)
			if i > len(data) {
				return 0, ErrTruncated
			}
			words++
		}
		if words*8 > max {
			return 0, ErrOversized
		}
	}
	return words * 8, nil
}

// Decode parses a packed packet. Values are copied out of the packet, so the
// result shares no memory with data.
func Decode(data []byte, lim Limits) (p *Packet, err error) {
	defer func() {
		// go-capnp reports most problems as errors; this turns any panic that
		// slips through on hostile input into an error too.
		if r := recover(); r != nil {
			p, err = nil, ErrMalformed
		}
	}()
	if lim.MaxPacket <= 0 {
		lim.MaxPacket = 32 << 20
	}
	raw, err := unpack(data, lim.MaxPacket)
	if err != nil {
		return nil, err
	}
	defer releaseUnpacked(raw)
	msg, err := capnp.Unmarshal(raw)
	if err != nil {
		return nil, ErrTruncated
	}
	// Reading a word twice through aliased pointers counts twice: a packet can
	// make us read at most a few times its own size.
	msg.ResetReadLimit(uint64(4*len(raw) + 1024))
	msg.DepthLimit = maxDepth
	root, err := gen.ReadRootPacket(msg)
	if err != nil {
		return nil, ErrMalformed
	}
	if m := root.Magic(); m != Magic && (m != 0 || !lim.Sealed) {
		return nil, ErrMagic
	}
	if root.Version() != Version {
		return nil, ErrVersion
	}
	p = &Packet{Token: root.Token()}
	if root.HasPadding() {
		// Its length only: a padded Syn is a first Syn to an address its
		// sender has not validated, which a quiet peer still answers. The
		// bytes stay in the message (Data is a view, not a copy).
		pad, err := root.Padding()
		if err != nil {
			return nil, ErrMalformed
		}
		p.Padding = len(pad)
	}
	if p.Cluster, err = text(root.Cluster()); err != nil {
		return nil, err
	}
	if !root.HasSender() {
		// Compact header: the key alone, resolved by the receiver.
		if p.SenderKey = root.SenderKey(); p.SenderKey == 0 {
			return nil, ErrMalformed
		}
	} else {
		sender, err := root.Sender()
		if err != nil {
			return nil, ErrMalformed
		}
		if p.Sender, err = decodeNodeID(sender); err != nil {
			return nil, err
		}
		if p.Sender.Name == "" || p.Sender.Addr == "" {
			return nil, ErrMalformed
		}
	}
	body := root.Body()
	switch body.Which() {
	case gen.Packet_body_Which_syn:
		p.Type = Syn
		syn, err := body.Syn()
		if err != nil {
			return nil, ErrMalformed
		}
		d, err := syn.Digest()
		if err != nil {
			return nil, ErrMalformed
		}
		if p.Digest, err = decodeDigest(d); err != nil {
			return nil, err
		}
	case gen.Packet_body_Which_synAck:
		p.Type = SynAck
		sa, err := body.SynAck()
		if err != nil {
			return nil, ErrMalformed
		}
		p.Mismatch = sa.Mismatch()
		d, err := sa.Digest()
		if err != nil {
			return nil, ErrMalformed
		}
		if p.Digest, err = decodeDigest(d); err != nil {
			return nil, err
		}
		dl, err := sa.Delta()
		if err != nil {
			return nil, ErrMalformed
		}
		if p.Delta, err = decodeDelta(dl); err != nil {
			return nil, err
		}
	case gen.Packet_body_Which_ack:
		p.Type = Ack
		ack, err := body.Ack()
		if err != nil {
			return nil, ErrMalformed
		}
		dl, err := ack.Delta()
		if err != nil {
			return nil, ErrMalformed
		}
		if p.Delta, err = decodeDelta(dl); err != nil {
			return nil, err
		}
	case gen.Packet_body_Which_push:
		p.Type = Push
		dl, err := body.Push()
		if err != nil {
			return nil, ErrMalformed
		}
		if p.Delta, err = decodeDelta(dl); err != nil {
			return nil, err
		}
	case gen.Packet_body_Which_reply:
		p.Type = Reply
		r, err := body.Reply()
		if err != nil {
			return nil, ErrMalformed
		}
		v, err := r.Value()
		if err != nil {
			return nil, ErrMalformed
		}
		p.Reply = ReplyMsg{
			AskNode: r.AskNode(), AskVersion: r.AskVersion(),
			Value: clone(v), Encoding: state.Encoding(r.Encoding()),
		}
		if r.HasSignature() {
			sig, err := r.Signature()
			if err != nil {
				return nil, ErrMalformed
			}
			p.Reply.Sig = clone(sig)
		}
	case gen.Packet_body_Which_badCluster:
		p.Type = BadCluster
	case gen.Packet_body_Which_beat:
		p.Type = Beat
		b, err := body.Beat()
		if err != nil {
			return nil, ErrMalformed
		}
		p.Heartbeat = b.Heartbeat()
	default:
		return nil, ErrMalformed // a message type from a newer protocol
	}
	return p, nil
}

func text(s string, err error) (string, error) {
	if err != nil || !state.ValidText(s) {
		return "", ErrMalformed
	}
	return s, nil
}

// arena hands out copies of event payloads carved from shared chunks: a
// packet of says costs a few allocations instead of one per payload. Only
// events and asks use it: they all end within a say's duration, so a chunk
// is not kept alive much longer than its payloads, whereas one surviving
// value would pin a whole chunk for as long as it is not overwritten.
type arena struct{ buf []byte }

// arenaChunk bounds a chunk; a payload larger than a quarter of it gets
// its own allocation, so little of a chunk is ever wasted.
const arenaChunk = 16 << 10

// copy copies b; left is how many entries remain in the run (b's
// included), which sizes a new chunk as if they all were b's size: a
// packet of one say allocates only its payload.
func (a *arena) copy(b []byte, left int) []byte {
	if len(b) == 0 {
		return nil
	}
	if len(b) > arenaChunk/4 {
		return bytes.Clone(b)
	}
	if cap(a.buf)-len(a.buf) < len(b) {
		a.buf = make([]byte, 0, min(arenaChunk, max(len(b)*left, len(b))))
	}
	n := len(a.buf)
	a.buf = append(a.buf, b...)
	// Full slice expression: appending to one payload never writes over
	// the next.
	return a.buf[n : n+len(b) : n+len(b)]
}

func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return bytes.Clone(b)
}

func decodeNodeID(n gen.NodeId) (state.NodeID, error) {
	var id state.NodeID
	var err error
	if id.Name, err = text(n.Name()); err != nil {
		return id, err
	}
	if id.Addr, err = text(n.Address()); err != nil {
		return id, err
	}
	if id.Addr == "" {
		id.Addr = id.Name
	}
	id.Generation = n.Generation()
	return id, nil
}

func decodeDigest(d gen.Digest) (state.Digest, error) {
	out := state.Digest{Complete: d.Complete(), Fingerprint: d.Fingerprint()}
	list, err := d.Entries()
	if err != nil {
		return out, ErrMalformed
	}
	// The heartbeats field (vectors of round 1) is no longer read: liveness
	// travels in Beat packets to ring watchers instead.
	out.Entries = make([]state.DigestEntry, list.Len())
	for i := range out.Entries {
		l := list.At(i)
		out.Entries[i] = state.DigestEntry{Key: l.Node(), Heartbeat: l.Heartbeat(), Version: l.Version()}
	}
	return out, nil
}

func decodeDelta(dl gen.Delta) (state.Delta, error) {
	out := state.Delta{Relay: dl.Relay(), Tree: dl.RelayTree(), RangeFrom: dl.RelayFrom(), RangeTo: dl.RelayTo()}
	var events arena
	nodes, err := dl.Nodes()
	if err != nil {
		return out, ErrMalformed
	}
	out.Nodes = make([]state.NodeDelta, nodes.Len())
	for i := range out.Nodes {
		w := nodes.At(i)
		nd := &out.Nodes[i]
		id, err := w.Node()
		if err != nil {
			return out, ErrMalformed
		}
		if nd.ID, err = decodeNodeID(id); err != nil {
			return out, err
		}
		nd.Heartbeat = w.Heartbeat()
		nd.From = w.FromVersion()
		nd.To = w.ToVersion()
		nd.Reset = w.Reset()
		nd.GCFloor = w.GcFloor()
		if w.HasPublicKey() {
			pk, err := w.PublicKey()
			if err != nil {
				return out, ErrMalformed
			}
			nd.PubKey = clone(pk)
		}
		if w.HasHead() {
			h, err := w.Head()
			if err != nil {
				return out, ErrMalformed
			}
			sig, err := h.Signature()
			if err != nil {
				return out, ErrMalformed
			}
			nd.Head = state.Head{Version: h.Version(), Epoch: h.Epoch(), Sig: clone(sig)}
		}
		if w.HasRunSignature() {
			rs, err := w.RunSignature()
			if err != nil {
				return out, ErrMalformed
			}
			nd.RunSig = clone(rs)
		}
		entries, err := w.Entries()
		if err != nil {
			return out, ErrMalformed
		}
		if entries.Len() == 0 {
			continue
		}
		nd.Entries = make([]*state.Entry, entries.Len())
		// One backing array for the node's entries: fewer allocations.
		backing := make([]state.Entry, entries.Len())
		for j := range nd.Entries {
			we := entries.At(j)
			e := &backing[j]
			e.Version = we.Version()
			e.Kind = state.Kind(we.Kind())
			e.Encoding = state.Encoding(we.Encoding())
			e.ExpiresAt = we.ExpiresAt()
			kb, err := we.KeyBytes()
			switch {
			case err != nil:
				return out, ErrMalformed
			case j > 0 && string(kb) == backing[j-1].Key:
				// A stream of one event name: share the previous string
				// instead of allocating the same key once per entry.
				e.Key = backing[j-1].Key
			default:
				if e.Key, err = text(string(kb), nil); err != nil {
					return out, err
				}
			}
			v, err := we.Value()
			if err != nil {
				return out, ErrMalformed
			}
			if e.Kind == state.KindEvent || e.Kind == state.KindAsk {
				e.Value = events.copy(v, len(nd.Entries)-j)
			} else {
				e.Value = clone(v)
			}
			if we.HasSignature() {
				sig, err := we.Signature()
				if err != nil {
					return out, ErrMalformed
				}
				e.Sig = clone(sig)
			}
			if we.HasExpirySignature() {
				sig, err := we.ExpirySignature()
				if err != nil {
					return out, ErrMalformed
				}
				e.ExpirySig = clone(sig)
			}
			nd.Entries[j] = e
		}
	}
	return out, nil
}
