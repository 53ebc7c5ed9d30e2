// Package state holds the replicated state of a cluster and the scuttlebutt
// reconciliation over it: digests that summarise what a peer holds, deltas
// that carry what the other side lacks, and the rules for applying them. It is
// pure: no I/O, no goroutines, no clock (the time is passed in as Unix
// milliseconds), so every rule can be tested directly and simulated fast.
//
// Invariants (see also the README's protocol section):
//   - Each node incarnation (name, generation) numbers its changes 1, 2, 3...
//     A replica holds a prefix of that sequence: Node.Version is the highest
//     version below which it has seen everything (superseded and expired
//     entries count as seen). Deltas therefore carry entries in version order
//     and a receiver applies a prefix, never leaving a gap.
//   - A higher generation of a name replaces the lower one entirely.
//   - Deletions and expiries are tombstones with a version, so they replicate
//     like values. Tombstones are collected after a grace period; a replica
//     that asks for versions below what was collected gets a reset (the whole
//     current state of that node) instead of a delta, so a deleted key never
//     comes back.
package state

import (
	"hash/fnv"
	"unicode/utf8"
)

// Encoding tags a value so every binding hands back what was set.
type Encoding uint8

// Value encodings, in wire order (see schema/capnp/wire.capnp).
const (
	EncodingRaw  Encoding = iota // bytes
	EncodingText                 // UTF-8 text
	EncodingJSON                 // a JSON document
)

func (e Encoding) String() string {
	switch e {
	case EncodingRaw:
		return "raw"
	case EncodingText:
		return "text"
	case EncodingJSON:
		return "json"
	}
	return "unknown"
}

// Kind says what an entry is. Unknown kinds (from newer peers) are stored and
// forwarded like events but never shown to the application.
type Kind uint8

// Entry kinds, in wire order.
const (
	KindSet       Kind = iota // a key's value
	KindTombstone             // a key's deletion or expiry
	KindEvent                 // a say
	KindAsk                   // a say asking for replies
	KindSuspect               // a ring watcher's suspicion of the peer named by Key (liveness.go)
	KindLeave                 // the node left gracefully
)

// keyed reports whether the kind lives in the key/value map.
func (k Kind) keyed() bool { return k == KindSet || k == KindTombstone }

// Entry is one versioned change of a node. Entries are immutable once built:
// they are shared between the state, deltas being encoded and event handlers.
type Entry struct {
	Version  uint64
	Kind     Kind
	Key      string // key, or event name for events
	Value    []byte
	Encoding Encoding
	// ExpiresAt is in Unix milliseconds. For KindSet: when the value expires
	// (0 = never). For KindTombstone: when the key was deleted or expired,
	// which starts the collection grace period. For events: end of delivery.
	ExpiresAt int64
	// Sig is the owner's signature (identity mode, issue 13; nil when off).
	// ExpirySig, for a set with an expiry, signs the tombstone it turns
	// into, which every replica derives on its own.
	Sig, ExpirySig []byte
}

// Expired reports whether a set has expired or an event ended at now.
func (e *Entry) Expired(now int64) bool {
	return e.ExpiresAt != 0 && e.ExpiresAt <= now && e.Kind != KindTombstone
}

// Live reports whether the entry is a value visible at now.
func (e *Entry) Live(now int64) bool { return e.Kind == KindSet && !e.Expired(now) }

// asTombstone returns the tombstone an expired set turns into. Every replica
// derives the same one, so expiry needs no message of its own.
func (e *Entry) asTombstone() *Entry {
	return &Entry{Version: e.Version, Kind: KindTombstone, Key: e.Key, ExpiresAt: e.ExpiresAt, Sig: e.ExpirySig}
}

// Wire-size estimates used for byte budgets. They slightly overestimate the
// packed Cap'n Proto size, so a delta built under a budget encodes below it.
const (
	entryOverhead     = 48 // struct + two pointers + padding
	nodeDeltaOverhead = 80 // struct, NodeId, list header
	digestEntrySize   = 27 // three words, packed: tags + non-zero bytes
	packetOverhead    = 64 // packet header without the sender's strings
)

// EntrySize estimates the encoded size of an entry.
func EntrySize(e *Entry) int {
	return entryOverhead + len(e.Key) + len(e.Value) + len(e.Sig) + len(e.ExpirySig)
}

// NodeID identifies one incarnation of a peer.
type NodeID struct {
	Name       string
	Generation uint64
	Addr       string
}

// Key is the 64-bit digest key of the incarnation (FNV-1a of name and
// generation). A restart changes it, which is how digests notice restarts.
func (id NodeID) Key() uint64 { return NodeKey(id.Name, id.Generation) }

// NodeKey computes the digest key of (name, generation).
func NodeKey(name string, generation uint64) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	var b [9]byte
	for i := 0; i < 8; i++ {
		b[1+i] = byte(generation >> (56 - 8*i))
	}
	h.Write(b[:])
	return h.Sum64()
}

// Size estimates the encoded size of the identity strings.
func (id NodeID) Size() int { return len(id.Name) + len(id.Addr) + 16 }

// ValidText reports whether s is acceptable as a key, event or peer name:
// valid UTF-8 without NUL (Cap'n Proto text is NUL-terminated).
func ValidText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return false
		}
	}
	return true
}

// mix is splitmix64's finaliser: a cheap, well-spread 64-bit hash.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// fingerprintOf is one node's contribution to a cluster fingerprint: its
// key and version. Heartbeats stay out of it, so a quiet cluster's
// fingerprints match and its anti-entropy exchanges a few bytes.
func fingerprintOf(n *Node) uint64 {
	return mix(n.key ^ mix(n.Version))
}
