package state

import "encoding/binary"

// Liveness entries: what ring watchers and leaving nodes publish in their
// own replicated state, so verdicts spread, and are refuted, like any other
// state (see the protocol package's members.go for the rules).

// suspicionSize is the value of a suspicion: the accused's generation and
// the heartbeat of it the watcher last knew, 8 bytes each, big-endian.
const suspicionSize = 16

// Suspicion is a watcher's accusation as held in its replicated state.
type Suspicion struct {
	Generation, Heartbeat uint64
}

// Suspicion returns n's current suspicion of accused, if it holds one that
// is not retracted.
func (n *Node) Suspicion(accused string) (Suspicion, bool) {
	return decodeSuspicion(n.sus[accused])
}

// decodeSuspicion reads a suspicion entry's value; false for a retraction
// (empty value) or no entry.
func decodeSuspicion(e *Entry) (Suspicion, bool) {
	if e == nil || len(e.Value) != suspicionSize {
		return Suspicion{}, false
	}
	return Suspicion{
		Generation: binary.BigEndian.Uint64(e.Value),
		Heartbeat:  binary.BigEndian.Uint64(e.Value[8:]),
	}, true
}

// SuspicionIn decodes e as a suspicion of accused, whatever node's log it
// comes from: a suspicion held back ahead of a gap can still be read.
func SuspicionIn(e *Entry, accused string) (Suspicion, bool) {
	if e == nil || e.Kind != KindSuspect || e.Key != accused {
		return Suspicion{}, false
	}
	return decodeSuspicion(e)
}

// SuspicionRun returns the one-entry run of author's log that holds its
// current suspicion of accused (whatever author wrote since stays out: a
// busy log would make it a large packet), to hand the accused its own
// suspicion; false when author holds none.
func (c *Cluster) SuspicionRun(author, accused string) (Run, bool) {
	n, ok := c.byName[author]
	if !ok {
		return Run{}, false
	}
	e := n.sus[accused]
	if _, held := decodeSuspicion(e); !held || e.Version == 0 {
		return Run{}, false
	}
	return Run{Node: n, From: e.Version - 1, To: e.Version, Entries: []*Entry{e}}, true
}

// EachSuspicion calls f for every suspicion n holds (retractions skipped).
func (n *Node) EachSuspicion(f func(accused string, s Suspicion)) {
	for name := range n.sus {
		if s, ok := n.Suspicion(name); ok {
			f(name, s)
		}
	}
}

// Suspect publishes, in the local node's state, a suspicion of accused at
// (generation, heartbeat). It returns false when the same suspicion is
// already current (nothing written).
func (c *Cluster) Suspect(accused string, s Suspicion) bool {
	if cur, ok := c.self.Suspicion(accused); ok && cur == s {
		return false
	}
	v := make([]byte, suspicionSize)
	binary.BigEndian.PutUint64(v, s.Generation)
	binary.BigEndian.PutUint64(v[8:], s.Heartbeat)
	c.localAppend(&Entry{Kind: KindSuspect, Key: accused, Value: v})
	return true
}

// Retract withdraws the local node's suspicion of accused, if it holds one.
func (c *Cluster) Retract(accused string) bool {
	if _, ok := c.self.Suspicion(accused); !ok {
		return false
	}
	c.localAppend(&Entry{Kind: KindSuspect, Key: accused})
	return true
}

// Leave appends the local node's graceful-leave marker.
func (c *Cluster) Leave() {
	if c.self.Left {
		return
	}
	c.self.Left = true
	c.localAppend(&Entry{Kind: KindLeave})
}

// Beat records a heartbeat received straight from the node (a Beat packet):
// it reports whether it advanced the heartbeat held for that incarnation.
func (c *Cluster) Beat(name string, generation, heartbeat uint64) bool {
	n, ok := c.byName[name]
	if !ok || n == c.self || n.ID.Generation != generation || heartbeat <= n.Heartbeat || !c.heartbeatOK(n, heartbeat) {
		return false
	}
	c.setHeartbeat(n, heartbeat)
	return true
}

// applyLiveness stores a suspicion or leave entry of another node and
// reports it.
func (c *Cluster) applyLiveness(n *Node, e *Entry, out []Change) []Change {
	if e.Kind == KindLeave {
		n.store(e)
		if !n.Left {
			n.Left = true
			out = append(out, Change{Kind: NodeLeft, Node: n.ID, Entry: e})
		}
		return out
	}
	n.store(e)
	return append(out, Change{Kind: SuspicionChanged, Node: n.ID, Entry: e})
}

// SetSelfHeartbeat moves the local heartbeat forward to hb (a refutation
// starts a new epoch); it never moves it back.
func (c *Cluster) SetSelfHeartbeat(hb uint64) {
	if hb > c.self.Heartbeat {
		c.setHeartbeat(c.self, hb)
	}
}
