package engine

import (
	"sync"
	"sync/atomic"

	"github.com/telepathine/telepathine/engine/transport"
)

// The inbox is the receive path's back-pressure. The transport calls the
// handler from its UDP reader and from one reader per inbound TCP
// connection; each used to wait for the peer's lock itself, so a peer that
// fell behind (a 256-peer join on a loaded 2-core machine) had thousands
// of readers queued behind its lock, each holding a packet that only aged
// while it waited, and every call that needed the lock (Stats) waited
// behind them. Now a packet joins a bounded queue and the reader returns at
// once; one goroutine at a time (whichever found nobody draining) takes the
// packets out in order and hands them to the core. When the queue is full
// the oldest packet waiting is dropped, and counted: it is the stalest, and
// anti-entropy repeats whatever it carried.

// Bounds of the inbox. A packet is kept whatever its size when nothing else
// waits, so that one large stream frame (a whole state) still gets through.
const (
	// inboxPackets is about what a peer handles in a few gossip rounds
	// when it keeps up; a backlog beyond it is news too old to be worth
	// the CPU.
	inboxPackets = 256
	// inboxBytes bounds the memory the queued packets hold.
	inboxBytes = 16 << 20
)

type inbox struct {
	mu       sync.Mutex
	ring     []transport.Packet // capacity inboxPackets, used from head on
	head, n  int
	bytes    int
	draining bool
	dropped  atomic.Uint64
}

// put queues in, dropping the oldest packets while the bounds are
// exceeded, and reports whether the caller must drain (nobody is).
func (b *inbox) put(in transport.Packet) (drain bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ring == nil {
		b.ring = make([]transport.Packet, inboxPackets)
	}
	for b.n > 0 && (b.n == len(b.ring) || b.bytes+len(in.Data) > inboxBytes) {
		b.pop()
		b.dropped.Add(1)
	}
	b.ring[(b.head+b.n)%len(b.ring)] = in
	b.n++
	b.bytes += len(in.Data)
	if b.draining {
		return false
	}
	b.draining = true
	return true
}

// take returns the oldest packet waiting; when none is, it ends the
// caller's turn at draining and returns false.
func (b *inbox) take() (transport.Packet, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.n == 0 {
		b.draining = false
		return transport.Packet{}, false
	}
	return b.pop(), true
}

func (b *inbox) pop() transport.Packet {
	in := b.ring[b.head]
	b.ring[b.head] = transport.Packet{} // keeps no bytes alive
	b.head = (b.head + 1) % len(b.ring)
	b.n--
	b.bytes -= len(in.Data)
	return in
}
