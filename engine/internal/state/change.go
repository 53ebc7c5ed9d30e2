package state

// ChangeKind says what a Change reports.
type ChangeKind uint8

// What applying gossip, or time passing, can change.
const (
	// NodeJoined: a name never held before (or held and removed) appeared.
	NodeJoined ChangeKind = iota
	// NodeRestarted: a higher generation replaced a held incarnation; Old is
	// the replaced identity, whose entries are gone.
	NodeRestarted
	// HeartbeatAdvanced: the node's heartbeat counter grew.
	HeartbeatAdvanced
	// KeySet: a key got a new value (Entry); Prev is the value it replaced,
	// if it was live.
	KeySet
	// KeyDeleted: a live value (Prev) was deleted by a tombstone (Entry).
	KeyDeleted
	// KeyExpired: a value (Entry) reached its expiry on this replica.
	KeyExpired
	// EventHeard: an event or ask (Entry) of another node, once per
	// incarnation and in the sender's order.
	EventHeard
	// SuspicionChanged: the node (a ring watcher) published or retracted a
	// suspicion (Entry, KindSuspect) of the peer named by Entry.Key.
	SuspicionChanged
	// NodeLeft: the node announced a graceful leave.
	NodeLeft
)

func (k ChangeKind) String() string {
	switch k {
	case NodeJoined:
		return "node-joined"
	case NodeRestarted:
		return "node-restarted"
	case HeartbeatAdvanced:
		return "heartbeat"
	case KeySet:
		return "set"
	case KeyDeleted:
		return "delete"
	case KeyExpired:
		return "expired"
	case EventHeard:
		return "event"
	case SuspicionChanged:
		return "suspicion"
	case NodeLeft:
		return "left"
	}
	return "unknown"
}

// Change is one observable consequence of an operation on the cluster. The
// engine turns changes into local events and failure-detector input.
type Change struct {
	Kind  ChangeKind
	Node  NodeID
	Entry *Entry
	Prev  *Entry
	Old   NodeID
}
