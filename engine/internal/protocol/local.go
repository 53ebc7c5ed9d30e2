package protocol

import (
	"errors"
	"sort"
	"time"

	"github.com/telepathine/telepathine/engine/internal/state"
	"github.com/telepathine/telepathine/engine/internal/wire"
)

// Errors of local operations; the runtime maps them to its own.
var (
	ErrNotRunning = errors.New("protocol: not running")
	ErrUnknownAsk = errors.New("protocol: unknown or finished ask")
)

// Set stores key=value of the local peer at now and queues it for an
// immediate push. It works before Start (the value leaves with the first
// gossip). Errors come from state (ErrInvalidKey, ErrValueSize).
func (c *Core) Set(now time.Time, key string, value []byte, enc state.Encoding, expiresAt int64) (Output, error) {
	var out Output
	c.ensureState()
	from := c.st.Self().Version
	if _, err := c.st.Set(key, value, enc, expiresAt); err != nil {
		return out, err
	}
	c.stats.Sets++
	c.local(now, from, false, &out)
	return out, nil
}

// Delete writes a tombstone for key and reports whether a live value was
// deleted.
func (c *Core) Delete(now time.Time, key string) (Output, bool, error) {
	var out Output
	c.ensureState()
	from := c.st.Self().Version
	_, deleted, err := c.st.Delete(key, now.UnixMilli())
	if err != nil {
		return out, false, err
	}
	c.local(now, from, false, &out)
	return out, deleted, nil
}

// Say appends an event of the local peer, delivered to the others until
// now+d; buffered waits for the next round instead of pushing at once.
func (c *Core) Say(now time.Time, event string, data []byte, enc state.Encoding, d time.Duration, buffered bool) (Output, error) {
	out, _, err := c.say(now, state.KindEvent, event, data, enc, d, buffered)
	return out, err
}

// Ask says an ask and registers it for replies: it returns the ask's
// version (which AskReply and EndAsk name) and when it ends.
func (c *Core) Ask(now time.Time, event string, data []byte, enc state.Encoding, d time.Duration) (Output, uint64, error) {
	out, e, err := c.say(now, state.KindAsk, event, data, enc, d, false)
	if err != nil {
		return out, 0, err
	}
	expect := c.members.liveCount()
	if expect == 0 {
		expect = 1 << 30 // nobody to wait for now, but someone may join
	}
	c.asks.asking[e.Version] = &asking{expect: expect, seen: make(map[string]bool)}
	return out, e.Version, nil
}

func (c *Core) say(now time.Time, kind state.Kind, event string, data []byte, enc state.Encoding, d time.Duration, buffered bool) (Output, *state.Entry, error) {
	var out Output
	if !c.running {
		return out, nil, ErrNotRunning
	}
	from := c.st.Self().Version
	e, err := c.st.Say(kind, event, data, enc, now.Add(d).UnixMilli())
	if err != nil {
		return out, nil, err
	}
	c.stats.Says++
	c.local(now, from, buffered, &out)
	return out, e, nil
}

func (c *Core) local(now time.Time, from uint64, buffered bool, out *Output) {
	if !c.running {
		return
	}
	c.lastNews = now
	if !c.members.anyLive() {
		// Nobody to push to: a push plan now would have no target (pushes
		// go to live peers only, directly or down trees of live peers),
		// and building the run, queueing it and waking the push loop for
		// nothing was half the cost of a Set of a peer alone. A peer that
		// comes later gets the change by anti-entropy, as it gets every
		// older one.
		return
	}
	c.pushLocal(now.UnixMilli(), from, buffered, out)
}

// Reply answers the ask heard here under id (Event.AskID). Only the first
// reply is sent; later ones return no packet and no error.
func (c *Core) Reply(now time.Time, id uint64, value []byte, enc state.Encoding) (Output, error) {
	var out Output
	h, ok := c.asks.heard[id]
	if !ok || now.UnixMilli() >= h.endsAt {
		return out, ErrUnknownAsk
	}
	if !c.running {
		return out, ErrNotRunning
	}
	if h.replied {
		return out, nil
	}
	h.replied = true
	// The asker's address came with its ask, maybe through a relay: unless
	// the asker was heard from at that address, the reply is held to the
	// 3x rule like any answer to an address not known to receive.
	m := c.members.byName[h.asker.Name]
	r := wire.ReplyMsg{AskNode: h.asker.Key(), AskVersion: h.version, Value: value, Encoding: enc}
	if c.auth != nil {
		c.auth.signReply(c.id, &r)
	}
	out.reply(h.asker.Addr, m == nil || !m.verified, c.stamp(&wire.Packet{Type: wire.Reply, Reply: r}))
	return out, nil
}

// Get returns the live entry of key held for peer ("" is the local peer).
// The entry is shared with the replica: copy what is handed out.
func (c *Core) Get(peer, key string, nowMS int64) (*state.Entry, bool) {
	if c.st == nil {
		return nil, false
	}
	if peer == "" {
		peer = c.id.Name
	}
	return c.st.Get(peer, key, nowMS)
}

// Keys returns the live keys held for peer ("" is the local peer), sorted.
func (c *Core) Keys(peer string, nowMS int64) []string {
	if c.st == nil {
		return nil
	}
	if peer == "" {
		peer = c.id.Name
	}
	return c.st.Keys(peer, nowMS)
}

// PeerState is a peer's liveness as the local peer sees it.
type PeerState uint8

// Peer states.
const (
	StateAlive   PeerState = iota
	StateSuspect           // alive, but some watcher suspects it (no quorum yet)
	StateDead              // declared dead by a quorum of its watchers
	StateLeft              // left gracefully
)

// PeerInfo describes another peer as this one sees it.
type PeerInfo struct {
	Name  string
	Addr  string
	Alive bool
	State PeerState
	// Phi is this peer's own suspicion level of the peer when it watches
	// it (Watched); otherwise the threshold when some watcher's suspicion
	// is held (their phi crossed it), else 0.
	Phi        float64
	Watched    bool
	Suspects   int // live peers holding a valid suspicion of it
	Generation uint64
	Heartbeat  uint64
	Version    uint64
}

// Peers returns every other peer known that keep accepts, sorted by name.
func (c *Core) Peers(now time.Time, keep func(alive bool) bool) []PeerInfo {
	out := make([]PeerInfo, 0, len(c.members.byName))
	for name, m := range c.members.byName {
		if !keep(m.alive) {
			continue
		}
		n, ok := c.st.Node(name)
		if !ok {
			continue
		}
		pi := PeerInfo{
			Name: name, Addr: n.ID.Addr, Alive: m.alive, Watched: m.fd != nil,
			Suspects:   c.members.validAccusers(n),
			Generation: n.ID.Generation, Heartbeat: n.Heartbeat, Version: n.Version,
		}
		switch {
		case m.left:
			pi.State = StateLeft
		case !m.alive:
			pi.State = StateDead
		case pi.Suspects > 0:
			pi.State = StateSuspect
		}
		if m.fd != nil {
			pi.Phi = m.fd.Phi(now)
		} else if pi.Suspects > 0 {
			pi.Phi = c.cfg.Phi.Threshold
		}
		out = append(out, pi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// CollectedUpTo returns the version up to which the local peer's
// tombstones have been collected (0 before any).
func (c *Core) CollectedUpTo() uint64 {
	if c.st == nil {
		return 0
	}
	return c.st.Self().GCFloor
}
