package bridge

import (
	"context"

	"google.golang.org/protobuf/encoding/protowire"
)

// Batched polling (tp_events_poll_many): one crossing of the C boundary
// takes every event already queued, up to a maximum, instead of one. The
// per-call cost of a host (a ctypes call and its GIL hand-over, a Node
// threadsafe-function hop) then spreads over the whole batch.

const (
	// DefaultBatch is the maximum events per batch when the caller passes 0.
	DefaultBatch = 1024
	// MaxBatch bounds the events of one batch.
	MaxBatch = 1 << 16
	// batchSoftBytes ends a batch once it holds this many bytes (an event
	// larger than that still goes, alone), so a burst of large events does
	// not make one huge allocation.
	batchSoftBytes = 4 << 20
	// fEventBatchEvents is EventBatch.events.
	fEventBatchEvents protowire.Number = 1
)

// done is a context that is already over: Next with it takes a queued
// event or returns at once.
var done = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// PollMany waits up to timeoutMS (0: not at all; negative: until an event
// or the stream's end) for a first event, then takes those already queued
// behind it, up to maxEvents (0: DefaultBatch), and returns them as a
// serialized api EventBatch, oldest first. A Timeout status says no event
// came. When the stream ends after some events were taken, those are
// returned and the next call reports the end (ErrClosed).
func (b *Bridge) PollMany(h uint64, timeoutMS int64, maxEvents uint32) ([]byte, error) {
	if maxEvents > MaxBatch {
		return nil, errorf(ErrInvalidArgument, "max_events %d above %d", maxEvents, MaxBatch)
	}
	if maxEvents == 0 {
		maxEvents = DefaultBatch
	}
	st, ev, err := b.next(h, timeoutMS)
	if err != nil {
		return nil, err
	}
	var out, one []byte
	for n := uint32(1); ; n++ {
		one = appendEvent(one[:0], ev)
		out = protowire.AppendTag(out, fEventBatchEvents, protowire.BytesType)
		out = protowire.AppendBytes(out, one)
		if n == maxEvents || len(out) >= batchSoftBytes {
			return out, nil
		}
		// Only what is already queued: the end of the stream or an empty
		// queue ends the batch (the end is reported by the next call).
		if ev, err = st.s.Next(done); err != nil {
			return out, nil
		}
	}
}
