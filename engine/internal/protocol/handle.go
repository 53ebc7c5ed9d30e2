package protocol

import (
	"time"

	"github.com/telepathine/telepathine/engine/internal/state"
	"github.com/telepathine/telepathine/engine/internal/wire"
)

// maxFollowups bounds the extra Syns sent to one peer in one round to fetch
// what its SynAck showed we lack; catch-up beyond that waits for the next
// round.
const maxFollowups = 4

// HandlePacket takes a datagram that arrived at now from the address from
// (as the socket saw it: not authenticated). Whatever the bytes, it never
// panics: bad packets are dropped and counted by cause. Replies go to from,
// never to the address written inside the packet, and are held to the 3x
// rule until from proved it receives.
func (c *Core) HandlePacket(now time.Time, from string, data []byte) Output {
	return c.handle(now, from, false, data)
}

// HandleStream takes a frame that arrived over a TCP connection from the
// remote address from; replies go to the sender's advertised port on that
// same host (see replyTo).
func (c *Core) HandleStream(now time.Time, from string, data []byte) Output {
	return c.handle(now, from, true, data)
}

func (c *Core) handle(now time.Time, from string, stream bool, data []byte) Output {
	var out Output
	c.stats.Received++
	size := len(data) // before Open, which decrypts in place
	pk, err := c.open(now, from, data)
	if err != nil || !c.running {
		return out
	}
	if amp := c.cfg.Trust.Amp; amp != nil && !stream {
		amp.Received(from, size, now)
	}
	if pk.Cluster != c.cfg.Cluster {
		c.stats.ForeignCluster++
		c.warn(now, "dropped a packet of another cluster", "cluster", pk.Cluster, "from", from)
		// Tell a misconfigured peer, at most once a second per source and
		// 20 a second in all; never answer a BadCluster, so two clusters
		// cannot ping-pong.
		if pk.Type == wire.Syn {
			if !c.cfg.Trust.BadCluster.Allow(from, now) {
				c.stats.RateLimited++
			} else if to, limited, ok := c.replyTo(from, stream, pk); ok {
				out.reply(to, limited, c.stamp(&wire.Packet{Type: wire.BadCluster}))
			}
		}
		return out
	}
	if pk.SenderKey != 0 {
		// Compact header (beats, which go only to the sender's ring
		// watchers, and those hold its line): the key names a peer we
		// hold, or the packet is dropped and counted; the sender's line
		// reaches us by gossip like any other.
		n, ok := c.st.NodeByKey(pk.SenderKey)
		if !ok {
			c.stats.UnknownSender++
			return out
		}
		pk.Sender = n.ID
	}
	if pk.Sender.Name == c.id.Name && pk.Sender.Generation == c.id.Generation {
		c.stats.SelfPackets++ // a seed list that names ourselves
		return out
	}
	c.stats.ReceivedByType[pk.Type]++
	c.stats.BytesByType[pk.Type] += uint64(size)
	dups := c.st.Duplicates()
	if pk.Type == wire.SynAck {
		// Before the gate opens: a SynAck that echoes our token proves
		// its address, and the gate admits more from a proven address.
		c.checkToken(now, from, stream, pk.Token)
	}
	c.gate.begin(now, from, pk, stream)
	_, knew := c.st.Node(pk.Sender.Name)
	c.st.SetGate(c.gate)
	switch pk.Type {
	case wire.Syn:
		c.onSyn(now, from, stream, pk, &out)
	case wire.SynAck:
		c.onSynAck(now, from, stream, pk, &out)
	case wire.Ack:
		c.onDelta(now, from, pk, false, &out)
	case wire.Push:
		c.onDelta(now, from, pk, true, &out)
	case wire.Reply:
		c.onReply(pk, &out)
	case wire.BadCluster:
		c.warn(now, "a peer says we are in the wrong cluster", "peer", pk.Sender.Addr, "from", from)
	case wire.Beat:
		c.onBeat(now, pk, &out)
	}
	c.st.SetGate(nil)
	c.warnMixed(now, from)
	c.stats.DuplicatesByType[pk.Type] += c.st.Duplicates() - dups
	c.verify(pk.Sender, from, stream)
	if _, known := c.st.Node(pk.Sender.Name); known && !knew && !stream {
		c.probe(now, from, &out)
	}
	return out
}

func (c *Core) warn(now time.Time, msg string, args ...any) {
	if c.warns.allow(now) {
		c.log.Warn(msg, args...)
	}
}

// onSyn answers a digest: the entries the initiator lacks, the lines of what
// we lack or hold fresher, and our full digest when its fingerprint shows a
// difference it did not list.
func (c *Core) onSyn(now time.Time, from string, stream bool, pk *wire.Packet, out *Output) {
	to, limited, ok := c.replyTo(from, stream, pk)
	if !ok {
		return
	}
	ms := now.UnixMilli()
	cmp, changes := c.st.Compare(&pk.Digest, nil)
	c.wantSender(pk, &cmp)
	c.dropProgressing(now, &cmp)
	reply := &wire.Packet{Type: wire.SynAck, Token: pk.Token}
	budget := c.holdFresh(now, pk.Sender, cmp.Requests)
	reply.Delta = c.st.BuildDelta(cmp.Requests, budget, ms, c.rng)
	c.markAnswered(pk.Sender, &reply.Delta)
	lines := make([]state.DigestEntry, 0, 1+len(cmp.Wants)+len(cmp.Fresher))
	lines = append(lines, c.st.Self().Line())
	lines = append(lines, cmp.Wants...)
	lines = append(lines, cmp.Fresher...)
	if cmp.Mismatch {
		c.lastNews = now
		reply.Mismatch = true
		reply.Digest = c.st.FullDigest(c.DigestLines(), lines[1:], c.rng)
	} else {
		reply.Digest = state.Digest{Entries: lines}
	}
	c.applyChanges(changes, now, out)
	if !reply.Mismatch && reply.Delta.Empty() && len(lines) == 1 && pk.Digest.Fingerprint == c.st.Fingerprint() &&
		pk.Padding == 0 {
		// Same fingerprint, nothing to send or ask: the initiator learns
		// nothing from an answer (a quiet cluster's usual case), so none
		// is sent. A padded Syn is answered all the same: it is a first
		// Syn to an address its sender has not validated, and only our
		// SynAck echoing its token validates it.
		c.stats.QuietSyns++
		return
	}
	out.reply(to, limited, c.stamp(reply))
}

// onSynAck applies what the responder sent, answers what it wants, and
// follows up at once when its digest shows we lack more than it sent.
func (c *Core) onSynAck(now time.Time, from string, stream bool, pk *wire.Packet, out *Output) {
	ms := now.UnixMilli()
	c.prewarm(&pk.Delta)
	changes, _, err := c.st.Apply(&pk.Delta, ms, false, nil, nil)
	if err != nil {
		c.stats.BadDelta++
		return
	}
	cmp, changes := c.st.Compare(&pk.Digest, changes)
	c.dropProgressing(now, &cmp)
	to, limited, ok := c.replyTo(from, stream, pk)
	if !ok {
		c.applyChanges(changes, now, out)
		return
	}
	budget := c.holdFresh(now, pk.Sender, cmp.Requests)
	if d := c.st.BuildDelta(cmp.Requests, budget, ms, c.rng); !d.Empty() {
		c.markAnswered(pk.Sender, &d)
		out.reply(to, limited, c.stamp(&wire.Packet{Type: wire.Ack, Delta: d}))
	}
	if len(cmp.Wants) > 0 {
		if c.followups == nil {
			c.followups = make(map[string]int)
		}
		if c.followups[to] < maxFollowups {
			c.followups[to]++
			c.stats.Followups++
			d := c.st.FullDigest(c.DigestLines(), cmp.Wants, c.rng)
			o := c.synTo(to, d, now)
			o.Limited, o.Pad = limited, false
			out.Packets = append(out.Packets, o)
		} else {
			c.needFull = true
		}
	}
	if pk.Mismatch {
		c.needFull = true
		c.lastNews = now
	}
	c.applyChanges(changes, now, out)
}

// onDelta applies an Ack or a Push. Fresh entries of a push are forwarded
// (each peer forwards what it learnt by push once: epidemic broadcast).
func (c *Core) onDelta(now time.Time, _ string, pk *wire.Packet, push bool, out *Output) {
	c.prewarm(&pk.Delta)
	if push {
		// Only a push is held behind a gap; an Ack's suspicions are
		// applied, and refuted, as they come (suspicionChanged).
		c.refuteCarried(now, &pk.Delta, out)
	}
	// The changes of a push are consumed here (turned into events), so
	// their slice is the core's own scratch, reused packet after packet
	// instead of grown anew for each.
	changes, fresh, err := c.st.Apply(&pk.Delta, now.UnixMilli(), push, c.scratch[:0], nil)
	defer c.keepScratch(changes)
	if err != nil {
		c.stats.BadDelta++
		return
	}
	if push && pk.Delta.Tree != 0 {
		c.relayDelta(pk, out)
	} else if push && pk.Delta.Relay && len(fresh) > 0 {
		// A peer of an older version relays epidemically: forward what is
		// new once, through our own push queue.
		items := make([]pushItem, 0, len(fresh))
		for _, r := range fresh {
			items = append(items, pushItem{run: r, except: pk.Sender.Addr})
		}
		c.enqueuePush(out, items...)
	}
	c.pushNewcomer(now, pk, changes, out)
	c.applyChanges(changes, now, out)
}
