package bus

// SinkStats describes one live subscription or stream, for metrics.
type SinkStats struct {
	Pattern string
	// Stream is true for a pull stream (Bus.Stream), false for a handler.
	Stream bool
	// Queued counts events accepted into the queue; Dropped those lost to a
	// full queue. Both only grow while the subscription lives.
	Queued, Dropped uint64
	// Depth is how many events wait in the queue now, of Capacity.
	Depth, Capacity int
}

// Sinks returns the counters of every live subscription and stream, in no
// particular order.
func (b *Bus[E]) Sinks() []SinkStats {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]SinkStats, 0, len(b.sinks))
	for s := range b.sinks {
		var q *queue[E]
		st := SinkStats{Pattern: s.pattern().String()}
		switch v := s.(type) {
		case *Subscription[E]:
			q = &v.queue
		case *Stream[E]:
			q, st.Stream = &v.queue, true
		default:
			continue
		}
		st.Queued, st.Dropped = q.queued.Load(), q.dropped.Load()
		st.Depth, st.Capacity = q.depth(), len(q.ring)
		out = append(out, st)
	}
	return out
}
