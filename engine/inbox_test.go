package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine/transport"
)

// A flood of packets at a peer that cannot keep up: the transport's readers
// are not held behind the peer's lock (each returns at once), at most
// inboxPackets wait, and the rest are dropped oldest first and counted.
// Before the inbox, every reader waited for the lock with its packet: the
// flood below never returned while the lock was held.
func TestInboxFloodDropsOldestAndNeverBlocksReaders(t *testing.T) {
	cl := newMemCluster(t, 1, transport.MemOptions{}, nil)
	p := cl.peers[0]
	garbage := func(i int) transport.Packet {
		return transport.Packet{Data: []byte(fmt.Sprintf("not a packet %d", i)), From: "10.9.9.9:7946"}
	}
	before := p.Stats()

	p.mu.Lock()
	locked := true
	unlock := func() {
		if locked {
			locked = false
			p.mu.Unlock()
		}
	}
	defer unlock()
	// The first packet's reader finds nobody draining: it drains, and waits
	// for the lock with that packet taken out of the queue.
	go p.onPacket(garbage(0))
	eventually(t, 5*time.Second, func() bool {
		p.inbox.mu.Lock()
		defer p.inbox.mu.Unlock()
		return p.inbox.draining && p.inbox.n == 0
	}, "the first reader drains")
	const flood = 2000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= flood; i++ {
			p.onPacket(garbage(i))
		}
	}()
	eventually(t, 5*time.Second, func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}, "every reader returns while the peer's lock is held")
	require.Equal(t, uint64(flood-inboxPackets), p.inbox.dropped.Load(), "all but the newest inboxPackets dropped")
	unlock()

	eventually(t, 5*time.Second, func() bool {
		p.inbox.mu.Lock()
		defer p.inbox.mu.Unlock()
		return !p.inbox.draining
	}, "the inbox drains")
	after := p.Stats()
	require.Equal(t, uint64(flood-inboxPackets), after.InboxDropped)
	require.Equal(t, after.InboxDropped, after.DropCauses()["inbox_full"])
	var handled uint64
	for cause, n := range after.DropCauses() {
		if cause != "inbox_full" {
			handled += n - before.DropCauses()[cause]
		}
	}
	require.Equal(t, uint64(1+inboxPackets), handled, "the first packet and the newest inboxPackets reached the core (and were dropped there as garbage)")
}

// The queue keeps the newest packets in order, and holds a packet larger
// than its byte bound when nothing else waits.
func TestInboxKeepsNewestInOrder(t *testing.T) {
	var b inbox
	require.True(t, b.put(transport.Packet{From: "0"}), "the first caller drains")
	for i := 1; i < inboxPackets+50; i++ {
		require.False(t, b.put(transport.Packet{From: fmt.Sprint(i)}), "one drainer at a time")
	}
	require.Equal(t, uint64(50), b.dropped.Load())
	for i := 50; i < inboxPackets+50; i++ {
		in, ok := b.take()
		require.True(t, ok)
		require.Equal(t, fmt.Sprint(i), in.From)
	}
	_, ok := b.take()
	require.False(t, ok, "empty: the drainer's turn ends")

	require.True(t, b.put(transport.Packet{Data: make([]byte, inboxBytes+1)}), "a lone packet is kept whatever its size")
	require.False(t, b.put(transport.Packet{Data: make([]byte, 10)}))
	require.Equal(t, uint64(51), b.dropped.Load(), "the large one made room")
	in, ok := b.take()
	require.True(t, ok)
	require.Len(t, in.Data, 10)
	require.Equal(t, 0, b.bytes)
}
