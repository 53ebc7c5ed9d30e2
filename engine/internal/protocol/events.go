package protocol

import "github.com/telepathine/telepathine/engine/internal/state"

// EventKind is what an Event reports; the runtime maps it to its own kinds.
type EventKind uint8

// Event kinds.
const (
	PeerNew    EventKind = iota + 1 // a peer was discovered
	PeerStart                       // a peer seems alive (new, or back)
	PeerStop                        // a peer died or left (Reason says which)
	KeySet                          // a peer set a key
	KeyDeleted                      // a peer deleted a key (Value: the last one)
	KeyExpired                      // a key reached its expiry here (own keys too)
	Said                            // a peer said something (Key: the event name)
	Asked                           // a peer asked something; AskID names it for Reply
)

// Event is one thing the peer learnt. Value bytes are shared with the
// replica: read-only.
type Event struct {
	Kind      EventKind
	Peer      string
	Key       string
	Value     []byte
	Encoding  state.Encoding
	ExpiresAt int64
	AskID     uint64
	// Reason says why a peer stopped (PeerStop).
	Reason Reason
}

// AskReply is a reply to an ask of this peer, once per replying peer.
type AskReply struct {
	// Version is the ask entry's version, returned by Ask.
	Version  uint64
	Peer     string
	Value    []byte
	Encoding state.Encoding
	// Complete is set on the reply that completes the expected count.
	Complete bool
}
