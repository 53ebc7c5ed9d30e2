package engine

import (
	"fmt"

	"github.com/telepathine/telepathine/engine/internal/protocol"
	"github.com/telepathine/telepathine/engine/internal/state"
)

// PeerState is another peer's liveness as this one sees it.
type PeerState uint8

// Peer states.
const (
	PeerAlive   PeerState = iota // alive
	PeerSuspect                  // alive, but some of its watchers suspect it (no quorum yet)
	PeerDead                     // declared dead by a quorum of its watchers (reason "failed")
	PeerLeft                     // left the cluster gracefully (reason "left")
)

var peerStateNames = [...]string{"alive", "suspect", "dead", "left"}

func (s PeerState) String() string {
	if int(s) < len(peerStateNames) {
		return peerStateNames[s]
	}
	return "unknown"
}

// Reason says why a peer stopped being alive: in peer:stop events
// (Event.Reason) and in PeerInfo.
type Reason uint8

// Reasons.
const (
	ReasonNone   Reason = iota // alive, or not a peer:stop event
	ReasonFailed               // it stopped answering: its watchers declared it dead
	ReasonLeft                 // it announced its departure (Stop, Close)
)

func (r Reason) String() string {
	switch r {
	case ReasonFailed:
		return "failed"
	case ReasonLeft:
		return "left"
	}
	return ""
}

func reasonOf(r protocol.Reason) Reason {
	switch r {
	case protocol.ReasonFailed:
		return ReasonFailed
	case protocol.ReasonLeft:
		return ReasonLeft
	}
	return ReasonNone
}

// PeerInfo describes another peer as this one sees it.
type PeerInfo struct {
	Name  string
	Addr  string
	Alive bool
	State PeerState
	// Reason is why the peer is not alive (ReasonNone while it is).
	Reason Reason
	// Phi is this peer's own suspicion level of the peer when it is one of
	// its ring watchers (Watched); for other peers, Failure.Threshold while a
	// watcher's suspicion of it is held (their phi crossed it), else 0.
	Phi     float64
	Watched bool
	// Suspects is how many live peers hold a suspicion of it.
	Suspects   int
	Generation uint64
	Heartbeat  uint64
	// Version is the highest version of the peer's changes held here.
	Version uint64
}

// AllPeers returns every other peer known, alive or dead, sorted by name.
func (p *Peer) AllPeers() []PeerInfo { return p.peers(func(bool) bool { return true }) }

// LivePeers returns the peers that seem alive, sorted by name.
func (p *Peer) LivePeers() []PeerInfo { return p.peers(func(alive bool) bool { return alive }) }

// DeadPeers returns the peers that seem dead, sorted by name.
func (p *Peer) DeadPeers() []PeerInfo { return p.peers(func(alive bool) bool { return !alive }) }

// Member returns what is known of one other peer.
func (p *Peer) Member(name string) (PeerInfo, bool) {
	for _, i := range p.AllPeers() {
		if i.Name == name {
			return i, true
		}
	}
	return PeerInfo{}, false
}

func (p *Peer) peers(keep func(alive bool) bool) []PeerInfo {
	now := p.clk.Now()
	p.mu.Lock()
	infos := p.core.Peers(now, keep)
	p.mu.Unlock()
	out := make([]PeerInfo, len(infos))
	for i, n := range infos {
		out[i] = PeerInfo{
			Name: n.Name, Addr: n.Addr, Alive: n.Alive, State: PeerState(n.State),
			Phi: n.Phi, Watched: n.Watched, Suspects: n.Suspects,
			Generation: n.Generation, Heartbeat: n.Heartbeat, Version: n.Version,
		}
		switch n.State {
		case protocol.StateDead:
			out[i].Reason = ReasonFailed
		case protocol.StateLeft:
			out[i].Reason = ReasonLeft
		}
	}
	return out
}

// PeerNames returns the names of infos, for callers that want the
// reference's plain lists.
func PeerNames(infos []PeerInfo) []string {
	out := make([]string, len(infos))
	for i, p := range infos {
		out[i] = p.Name
	}
	return out
}

func validName(s string, max int) bool {
	return s != "" && len(s) <= max && state.ValidText(s)
}

// describeName says why s fails validName, for error messages.
func describeName(what, s string, max int) string {
	switch {
	case s == "":
		return "empty " + what
	case len(s) > max:
		return fmt.Sprintf("%s of %d bytes above the limit of %d", what, len(s), max)
	}
	return what + " is not valid UTF-8 or contains NUL"
}
