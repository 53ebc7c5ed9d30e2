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

// HandlePacket takes a packet that arrived at now from the address from
// (as the socket saw it: not authenticated). Whatever the bytes, it never
// panics: bad packets are dropped and counted. Replies go to the sender's
// advertised address today; from is passed down so that the checks to come
// (address validation, amplification limits) have it where they belong.
func (c *Core) HandlePacket(now time.Time, from string, data []byte) Output {
	var out Output
	c.stats.Received++
	pk, err := c.open(data)
	if err != nil {
		c.countDecodeError(err)
		return out
	}
	if !c.running {
		return out
	}
	if pk.Cluster != c.cfg.Cluster {
		c.stats.ForeignCluster++
		c.warn(now, "dropped a packet of another cluster", "cluster", pk.Cluster, "from", pk.Sender.Addr)
		if pk.Type == wire.Syn {
			// Tell a misconfigured peer once per Syn; never answer a
			// BadCluster, so two clusters cannot ping-pong.
			out.send(pk.Sender.Addr, c.stamp(&wire.Packet{Type: wire.BadCluster}))
		}
		return out
	}
	if pk.Sender.Name == c.id.Name && pk.Sender.Generation == c.id.Generation {
		c.stats.SelfPackets++ // a seed list that names ourselves
		return out
	}
	c.stats.ReceivedByType[pk.Type]++
	switch pk.Type {
	case wire.Syn:
		c.onSyn(now, from, pk, &out)
	case wire.SynAck:
		c.onSynAck(now, from, pk, &out)
	case wire.Ack:
		c.onDelta(now, from, pk, false, &out)
	case wire.Push:
		c.onDelta(now, from, pk, true, &out)
	case wire.Reply:
		c.onReply(pk, &out)
	case wire.BadCluster:
		c.warn(now, "a peer says we are in the wrong cluster", "peer", pk.Sender.Addr)
	}
	return out
}

// open decodes a packet's bytes: the seam where an envelope (checksum,
// decryption, replay window) will be removed first.
func (c *Core) open(data []byte) (*wire.Packet, error) {
	return wire.Decode(data, wire.Limits{MaxPacket: c.cfg.MaxPacketSize})
}

func (c *Core) warn(now time.Time, msg string, args ...any) {
	if c.warns.allow(now) {
		c.log.Warn(msg, args...)
	}
}

// onSyn answers a digest: the entries the initiator lacks, the lines of what
// we lack, fresher heartbeats, and our full digest when its fingerprint
// shows a difference it did not list.
func (c *Core) onSyn(now time.Time, _ string, pk *wire.Packet, out *Output) {
	ms := now.UnixMilli()
	cmp, changes := c.st.Compare(&pk.Digest, nil)
	reply := &wire.Packet{Type: wire.SynAck}
	reply.Delta = c.st.BuildDelta(cmp.Requests, c.cfg.DeltaBudget, ms, c.rng)
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
		if cmp.HeartbeatsAhead {
			reply.Digest.Fingerprint = c.st.Fingerprint()
			reply.Digest.Heartbeats = c.st.HeartbeatVector()
		}
	}
	c.applyChanges(changes, now, out)
	out.send(pk.Sender.Addr, c.stamp(reply))
}

// onSynAck applies what the responder sent, answers what it wants, and
// follows up at once when its digest shows we lack more than it sent.
func (c *Core) onSynAck(now time.Time, _ string, pk *wire.Packet, out *Output) {
	ms := now.UnixMilli()
	changes, _, err := c.st.Apply(&pk.Delta, ms, false, nil, nil)
	if err != nil {
		c.stats.BadDelta++
		return
	}
	cmp, changes := c.st.Compare(&pk.Digest, changes)
	to := pk.Sender.Addr
	if d := c.st.BuildDelta(cmp.Requests, c.cfg.DeltaBudget, ms, c.rng); !d.Empty() {
		out.send(to, c.stamp(&wire.Packet{Type: wire.Ack, Delta: d}))
	}
	if len(cmp.Wants) > 0 {
		if c.followups == nil {
			c.followups = make(map[string]int)
		}
		if c.followups[to] < maxFollowups {
			c.followups[to]++
			c.stats.Followups++
			d := c.st.FullDigest(c.DigestLines(), cmp.Wants, c.rng)
			out.send(to, c.stamp(&wire.Packet{Type: wire.Syn, Digest: d}))
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
	changes, fresh, err := c.st.Apply(&pk.Delta, now.UnixMilli(), push, nil, nil)
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
