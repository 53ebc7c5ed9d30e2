package engine

import "sort"

// This file holds the read-only accessors that monitoring needs beyond
// Stats and the peer lists (engine/metrics, the CLI's dashboard). Each
// takes the peer's lock briefly and copies what it returns.

// DropCauses returns the counters of dropped incoming packets by cause, as
// named in metrics ("malformed", "truncated", ...). A new drop counter in
// Stats gets a line here and then appears in every exporter without further
// code.
func (s Stats) DropCauses() map[string]uint64 {
	return map[string]uint64{
		"truncated":       s.Truncated,
		"oversized":       s.Oversized,
		"bad_magic":       s.BadMagic,
		"bad_version":     s.BadVersion,
		"malformed":       s.Malformed,
		"bad_delta":       s.BadDelta,
		"foreign_cluster": s.ForeignCluster,
		"self":            s.SelfPackets,
		"unknown_sender":  s.UnknownSender,
		"inbox_full":      s.InboxDropped,
		"bad_frame":       s.Transport.BadFrames,
		"checksum":        s.Checksum,
		"auth_failed":     s.AuthFailed,
		"plaintext":       s.Plaintext,
		"no_key":          s.NoKey,
		"unknown_key":     s.UnknownKey,
		"replayed":        s.Replayed,
		"bad_generation":  s.BadGeneration,
		"bad_signature":   s.BadSignature,
		"unsigned":        s.Unsigned,
		"not_allowed":     s.NotAllowed,
		"key_changed":     s.KeyChanged,
		"beyond_head":     s.BeyondHead,
		"mixed_identity":  s.MixedIdentity,
	}
}

// SubscriptionStats describes one live subscription (On, Hear, ...) or
// stream (Events).
type SubscriptionStats struct {
	Pattern string
	// Stream is true for a pull stream, false for a handler.
	Stream bool
	// Delivered counts events handed to the subscription (queued for its
	// handler or stream); Dropped those lost to a full queue.
	Delivered, Dropped uint64
	// Queued is how many events wait now, of QueueLen.
	Queued, QueueLen int
}

// Subscriptions returns the counters of every live subscription, sorted by
// pattern.
func (p *Peer) Subscriptions() []SubscriptionStats {
	sinks := p.bus.Sinks()
	out := make([]SubscriptionStats, len(sinks))
	for i, s := range sinks {
		out[i] = SubscriptionStats{
			Pattern: s.Pattern, Stream: s.Stream, Delivered: s.Queued, Dropped: s.Dropped,
			Queued: s.Depth, QueueLen: s.Capacity,
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Pattern != out[j].Pattern {
			return out[i].Pattern < out[j].Pattern
		}
		return !out[i].Stream && out[j].Stream
	})
	return out
}

// PushQueue returns the pushes waiting to be sent: runs of entries and
// their bytes (bounded by Config.Limits.PushQueueBytes).
func (p *Peer) PushQueue() (runs, bytes int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.core.PushQueue()
}

// Replica is this peer's replica of one other peer's state.
type Replica struct {
	Peer string
	// Held is the highest version held with nothing missing below it.
	Held uint64
	// Known is the highest version this peer knows the owner has reached
	// (from digests and pushes); Known - Held changes are still missing.
	Known uint64
}

// Replicas returns the replication state of every other peer held, sorted
// by name.
func (p *Peer) Replicas() []Replica {
	p.mu.Lock()
	rs := p.core.Replicas()
	p.mu.Unlock()
	out := make([]Replica, len(rs))
	for i, r := range rs {
		out[i] = Replica(r)
	}
	return out
}
