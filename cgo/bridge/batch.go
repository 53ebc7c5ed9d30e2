package bridge

import (
	"sync"

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

// PollMany waits up to timeoutMS (0: not at all; negative: until an event
// or the stream's end) for a first event, then takes those already queued
// behind it, up to maxEvents (0: DefaultBatch), and returns them as a
// serialized api EventBatch, oldest first. A Timeout status says no event
// came. When the stream ends after some events were taken, those are
// returned and the next call reports the end (ErrClosed).
func (b *Bridge) PollMany(h uint64, timeoutMS int64, maxEvents uint32) ([]byte, error) {
	var out, one []byte
	err := b.collect(h, timeoutMS, maxEvents, batchSoftBytes, eventCost, func(ev *engine.Event) {
		one = appendEvent(one[:0], ev)
		out = protowire.AppendTag(out, fEventBatchEvents, protowire.BytesType)
		out = protowire.AppendBytes(out, one)
	})
	return out, err
}

// eventCost bounds the bytes an event adds to a batch of either form: its
// strings and value, and room for the fixed fields.
func eventCost(ev *engine.Event) int {
	return 64 + len(ev.Peer) + 2*len(ev.Key) + len(ev.Value.Data)
}

// takeChunk is how many events collect takes from the stream under one
// lock: enough to spread the lock over many events, few enough that the
// engine, which queues under the same lock, is not held off for long.
const takeChunk = 256

// takeBufs holds collect's buffers of taken events.
var takeBufs = sync.Pool{New: func() any { return new([]*engine.Event) }}

// collect is the batch loop of PollMany and PollFlat: it waits for a first
// event as Poll does, then takes the events already queued behind it (by
// chunks, one lock each) and hands each to add, until maxEvents (0:
// DefaultBatch) were added or the cost of those added reaches softBytes
// (batchSoftBytes but in tests; the event that crosses it still goes: a batch of one
// event can be larger). Only the first wait can fail: the end of the
// stream or an empty queue after it ends the batch (the end is reported by
// the next call).
func (b *Bridge) collect(h uint64, timeoutMS int64, maxEvents uint32, softBytes int, cost func(*engine.Event) int, add func(*engine.Event)) error {
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
	add(ev)
	n, spent := int(1), cost(ev)
	more := func(ev *engine.Event) bool {
		if spent >= softBytes {
			return false
		}
		spent += cost(ev)
		return true
	}
	bp := takeBufs.Get().(*[]*engine.Event)
	defer takeBufs.Put(bp)
	for n < int(maxEvents) && spent < softBytes {
		evs := st.s.Take((*bp)[:0], min(int(maxEvents)-n, takeChunk), more)
		*bp = evs
		if len(evs) == 0 {
			break
		}
		for i, ev := range evs {
			add(ev)
			evs[i] = nil // the pool keeps no event alive
		}
		n += len(evs)
	}
	return nil
}
