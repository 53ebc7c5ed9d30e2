package engine

import (
	"fmt"

	"github.com/telepathine/telepathine/engine/internal/state"
)

// PeerInfo describes another peer as this one sees it.
type PeerInfo struct {
	Name       string
	Addr       string
	Alive      bool
	Phi        float64 // current suspicion level; 0 for a dead peer
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
		out[i] = PeerInfo(n)
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
