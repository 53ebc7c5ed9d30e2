package bridge

import (
	"context"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/telepathine/telepathine/engine"
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
	var out, one []byte
	err := b.collect(h, timeoutMS, maxEvents, func(ev *engine.Event) bool {
		one = appendEvent(one[:0], ev)
		out = protowire.AppendTag(out, fEventBatchEvents, protowire.BytesType)
		out = protowire.AppendBytes(out, one)
		return len(out) >= batchSoftBytes
	})
	return out, err
}

// collect is the batch loop of PollMany and PollFlat: it waits for a first
// event as Poll does, then hands add the events already queued behind it
// until maxEvents (0: DefaultBatch) were added or add reports the batch
// full. Only the first wait can fail: the end of the stream or an empty
// queue after it ends the batch (the end is reported by the next call).
func (b *Bridge) collect(h uint64, timeoutMS int64, maxEvents uint32, add func(*engine.Event) (full bool)) error {
	if maxEvents > MaxBatch {
		return errorf(ErrInvalidArgument, "max_events %d above %d", maxEvents, MaxBatch)
	}
	if maxEvents == 0 {
		maxEvents = DefaultBatch
	}
	st, ev, err := b.next(h, timeoutMS)
	if err != nil {
		return err
	}
	for n := uint32(1); !add(ev) && n < maxEvents; n++ {
		if ev, err = st.s.Next(done); err != nil {
			break
		}
	}
	return nil
}
