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

	capnp "capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/packed"

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
func Encode(p *Packet) ([]byte, error) {
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
		}
	}
	return nil
}

// Limits bound decoding.
type Limits struct {
	// MaxPacket is the largest unpacked packet accepted, in bytes.
	MaxPacket int
}

// unpack expands packed data, refusing to produce more than max bytes: packed
// encoding turns two bytes into up to 2 KiB of zeros, so the input length
// says little about the output. The size is worked out from the tag bytes
// first (cheap, allocation-free), then the library unpacks into a buffer of
// exactly that size.
func unpack(data []byte, max int) ([]byte, error) {
	size, err := unpackedSize(data, max)
	if err != nil {
		return nil, err
	}
	out, err := packed.Unpack(make([]byte, 0, size), data)
	if err != nil {
		return nil, ErrTruncated
	}
	return out, nil
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
	if root.Magic() != Magic {
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
			if e.Key, err = text(we.Key()); err != nil {
				return out, err
			}
			v, err := we.Value()
			if err != nil {
				return out, ErrMalformed
			}
			e.Value = clone(v)
			nd.Entries[j] = e
		}
	}
	return out, nil
}
