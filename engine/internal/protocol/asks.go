package protocol

import (
	"github.com/telepathine/telepathine/engine/internal/state"
	"github.com/telepathine/telepathine/engine/internal/wire"
)

// asking is an ask of this peer waiting for replies.
type asking struct {
	expect int
	seen   map[string]bool
}

// heardAsk remembers where to send the reply to an ask heard here.
type heardAsk struct {
	asker   state.NodeID
	version uint64
	endsAt  int64
	replied bool
}

// askRegistry holds both sides of asks: this peer's asks waiting for
// replies (by the version of their entry) and the asks of others heard
// here (by the id given to the application), until they end.
type askRegistry struct {
	asking map[uint64]*asking
	heard  map[uint64]*heardAsk
	next   uint64
}

func newAskRegistry() askRegistry {
	return askRegistry{asking: make(map[uint64]*asking), heard: make(map[uint64]*heardAsk)}
}

func (r *askRegistry) stopAsking() { clear(r.asking) }

// hear registers an ask of another peer and returns its id.
func (r *askRegistry) hear(from state.NodeID, e *state.Entry) uint64 {
	r.next++
	r.heard[r.next] = &heardAsk{asker: from, version: e.Version, endsAt: e.ExpiresAt}
	return r.next
}

// expire forgets heard asks whose time is over.
func (r *askRegistry) expire(now int64) {
	for id, h := range r.heard {
		if now >= h.endsAt {
			delete(r.heard, id)
		}
	}
}

// reply records a reply to an ask of this peer; ok is false for an ask
// that is over (or never was) and for a second reply of the same peer.
func (r *askRegistry) reply(version uint64, peer string) (complete, ok bool) {
	a := r.asking[version]
	if a == nil || a.seen[peer] {
		return false, false
	}
	a.seen[peer] = true
	return len(a.seen) >= a.expect, true
}

// onReply hands a reply to an ask of this incarnation to its waiter.
func (c *Core) onReply(pk *wire.Packet, out *Output) {
	if pk.Reply.AskNode != c.id.Key() {
		c.stats.LateReplies++
		return
	}
	if c.auth != nil && !c.auth.verifyReply(pk) {
		return
	}
	complete, ok := c.asks.reply(pk.Reply.AskVersion, pk.Sender.Name)
	if !ok {
		if c.asks.asking[pk.Reply.AskVersion] == nil {
			c.stats.LateReplies++
		}
		return
	}
	out.Replies = append(out.Replies, AskReply{
		Version: pk.Reply.AskVersion, Peer: pk.Sender.Name,
		Value: pk.Reply.Value, Encoding: pk.Reply.Encoding, Complete: complete,
	})
}

// EndAsk forgets an ask of this peer (its waiter is done).
func (c *Core) EndAsk(version uint64) { delete(c.asks.asking, version) }
