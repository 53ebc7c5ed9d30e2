package transport

import (
	"encoding/binary"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine/clock"
)

var epoch = time.Unix(1_700_000_000, 0)

// memNodes starts one endpoint per address and returns them with their sinks.
func memNodes(t *testing.T, n *MemNetwork, mode Mode, addrs ...string) ([]*MemTransport, []*sink) {
	t.Helper()
	eps := make([]*MemTransport, len(addrs))
	sinks := make([]*sink, len(addrs))
	for i, addr := range addrs {
		eps[i] = n.Endpoint(addr, mode)
		sinks[i] = start(t, eps[i])
		t.Cleanup(func() { eps[i].Close() })
	}
	return eps, sinks
}

func TestMemLossDropsDatagramsOnly(t *testing.T) {
	n := NewMemNetwork(MemOptions{Loss: 1})
	eps, sinks := memNodes(t, n, UDPPreferred, "a", "b")
	for range 50 {
		require.NoError(t, eps[0].Send("b", []byte("datagram")))
	}
	require.NoError(t, eps[0].Send("b", make([]byte, 5000)))
	// The frame was sent last on the same path; once it is in, nothing else
	// is coming.
	pkts := sinks[1].wait(t, 1)
	require.Len(t, pkts, 1)
	assert.True(t, pkts[0].Stream)
	assert.Equal(t, MemStats{Delivered: 1, Lost: 50}, waitDelivered(t, n, 1))
	st := eps[0].Stats()
	assert.Equal(t, uint64(50), st.UDPPacketsSent, "the sender cannot tell a lost datagram")
	assert.Equal(t, uint64(50), st.Dropped)
}

// waitDelivered polls until delivered handler calls returned.
func waitDelivered(t *testing.T, n *MemNetwork, delivered uint64) MemStats {
	t.Helper()
	require.Eventually(t, func() bool { return n.Stats().Delivered >= delivered }, waitFor, tick)
	return n.Stats()
}

func TestMemPartitionAndHeal(t *testing.T) {
	n := NewMemNetwork(MemOptions{Sync: true})
	eps, sinks := memNodes(t, n, UDPPreferred, "a", "b", "c")
	a, b, c := eps[0], eps[1], eps[2]
	n.Partition([]string{"a"}, []string{"b"}) // c is in no group

	for _, data := range [][]byte{[]byte("small"), make([]byte, 5000)} {
		require.NoError(t, a.Send("b", data))
		require.NoError(t, b.Send("a", data))
		require.NoError(t, c.Send("a", data))
		require.NoError(t, c.Send("b", data))
		require.NoError(t, a.Send("c", data))
	}
	assert.Equal(t, 2, sinks[0].len(), "a hears only c")
	assert.Equal(t, 2, sinks[1].len(), "b hears only c")
	assert.Equal(t, 2, sinks[2].len(), "c hears a")
	assert.Equal(t, uint64(4), n.Stats().PartitionDropped)
	assert.Equal(t, uint64(2), a.Stats().Dropped)

	n.Heal()
	require.NoError(t, a.Send("b", []byte("healed")))
	require.NoError(t, b.Send("a", []byte("healed")))
	assert.Equal(t, 3, sinks[0].len())
	assert.Equal(t, 3, sinks[1].len())
}

func TestMemCutRestoreIsolate(t *testing.T) {
	n := NewMemNetwork(MemOptions{Sync: true})
	eps, sinks := memNodes(t, n, UDPPreferred, "a", "b", "c")
	a, c := eps[0], eps[2]
	ping := func() [3]int {
		for _, from := range eps {
			for _, to := range []string{"a", "b", "c"} {
				if to != from.Addr() {
					require.NoError(t, from.Send(to, []byte("x")))
				}
			}
		}
		var got [3]int
		for i, s := range sinks {
			got[i] = s.len()
			s.mu.Lock()
			s.pkts = nil
			s.mu.Unlock()
		}
		return got
	}
	n.Cut("b", "a")
	assert.Equal(t, [3]int{1, 1, 2}, ping())
	n.Restore("a", "b")
	assert.Equal(t, [3]int{2, 2, 2}, ping())
	n.Isolate("c")
	assert.Equal(t, [3]int{1, 1, 0}, ping())
	// Isolation covers endpoints that appear later too.
	d, sd := memNodes(t, n, UDPPreferred, "d")
	require.NoError(t, d[0].Send("c", []byte("x")))
	require.NoError(t, c.Send("d", []byte("x")))
	require.NoError(t, a.Send("d", []byte("x")))
	assert.Equal(t, 1, sd[0].len())
	n.Heal()
	assert.Equal(t, [3]int{2, 2, 2}, ping())
}

func TestMemDuplication(t *testing.T) {
	n := NewMemNetwork(MemOptions{Sync: true, Duplicate: 1})
	eps, sinks := memNodes(t, n, UDPPreferred, "a", "b")
	require.NoError(t, eps[0].Send("b", []byte("twice")))
	require.NoError(t, eps[0].Send("b", make([]byte, 5000)))
	pkts := sinks[1].packets()
	require.Len(t, pkts, 3, "datagram twice, frame once")
	assert.Equal(t, pkts[0].Data, pkts[1].Data)
	pkts[0].Data[0] = 'T'
	assert.Equal(t, byte('t'), pkts[1].Data[0], "each copy is its own memory")
	assert.Equal(t, uint64(1), n.Stats().Duplicated)
	assert.Equal(t, uint64(2), eps[1].Stats().UDPPacketsReceived)
	assert.Equal(t, uint64(1), eps[0].Stats().UDPPacketsSent)
}

func TestMemSeedIsDeterministic(t *testing.T) {
	run := func(seed int64) []int {
		n := NewMemNetwork(MemOptions{Sync: true, Seed: seed, Loss: 0.3, Duplicate: 0.2})
		eps, sinks := memNodes(t, n, UDPPreferred, "a", "b")
		for i := range 200 {
			require.NoError(t, eps[0].Send("b", binary.BigEndian.AppendUint32(nil, uint32(i))))
		}
		var got []int
		for _, p := range sinks[1].packets() {
			got = append(got, int(binary.BigEndian.Uint32(p.Data)))
		}
		return got
	}
	first := run(42)
	assert.Equal(t, first, run(42))
	assert.NotEqual(t, first, run(43))
	assert.Greater(t, len(first), 100)
	assert.Less(t, len(first), 200)
}

func TestMemDelayWithManualClock(t *testing.T) {
	clk := clock.NewManual(epoch)
	n := NewMemNetwork(MemOptions{Clock: clk})
	n.SetDelay(100 * time.Millisecond)
	eps, sinks := memNodes(t, n, UDPPreferred, "a", "b")
	require.NoError(t, eps[0].Send("b", []byte("later")))
	require.NoError(t, eps[0].Send("b", make([]byte, 5000)))
	clk.Advance(99 * time.Millisecond)
	assert.Equal(t, 2, clk.Pending(), "both still in flight")
	assert.Zero(t, sinks[1].len())
	clk.Advance(time.Millisecond)
	assert.Zero(t, clk.Pending())
	pkts := sinks[1].wait(t, 2)
	assert.Equal(t, []byte("later"), pkts[0].Data)
	assert.Len(t, pkts[1].Data, 5000)
}

func TestMemRandomDelayKeepsFrameOrder(t *testing.T) {
	clk := clock.NewManual(epoch)
	n := NewMemNetwork(MemOptions{Clock: clk, Seed: 7, MinDelay: time.Millisecond, MaxDelay: 100 * time.Millisecond})
	eps, sinks := memNodes(t, n, UDPPreferred, "a", "b")
	const count = 300
	for i := range count {
		data := binary.BigEndian.AppendUint32(nil, uint32(i))
		if i%2 == 1 {
			data = append(data, make([]byte, DefaultMTU)...) // a frame
		}
		require.NoError(t, eps[0].Send("b", data))
	}
	clk.Advance(100 * time.Millisecond)
	pkts := sinks[1].wait(t, count)
	var frames, datagrams []int
	for _, p := range pkts {
		seq := int(binary.BigEndian.Uint32(p.Data))
		if p.Stream {
			frames = append(frames, seq)
		} else {
			datagrams = append(datagrams, seq)
		}
	}
	assert.True(t, slices.IsSorted(frames), "frames keep send order")
	assert.Len(t, frames, count/2)
	assert.Len(t, datagrams, count/2)
	assert.False(t, slices.IsSorted(datagrams), "random delays reorder datagrams")
	n.lmu.Lock()
	assert.Empty(t, n.links, "drained links are forgotten")
	n.lmu.Unlock()
}

func TestMemDelayChangeDoesNotReorderFrames(t *testing.T) {
	clk := clock.NewManual(epoch)
	n := NewMemNetwork(MemOptions{Clock: clk, MinDelay: time.Second})
	eps, sinks := memNodes(t, n, TCPOnly, "a", "b")
	require.NoError(t, eps[0].Send("b", []byte("first")))
	n.SetDelay(0)
	require.NoError(t, eps[0].Send("b", []byte("second")))
	assert.Zero(t, sinks[1].len(), "second waits behind first, like TCP")
	clk.Advance(time.Second)
	pkts := sinks[1].wait(t, 2)
	assert.Equal(t, "first", string(pkts[0].Data))
	assert.Equal(t, "second", string(pkts[1].Data))
}

func TestMemSyncDeliversBeforeSendReturns(t *testing.T) {
	n := NewMemNetwork(MemOptions{Sync: true})
	a := n.Endpoint("a", UDPPreferred)
	b := n.Endpoint("b", UDPPreferred)
	var got atomic.Int32
	require.NoError(t, a.Start(func(Packet) {}))
	require.NoError(t, b.Start(func(p Packet) {
		got.Add(1)
		// A reply from inside the handler is delivered at once as well.
		require.NoError(t, b.Send("a", p.Data))
	}))
	defer a.Close()
	defer b.Close()
	require.NoError(t, a.Send("b", []byte("now")))
	assert.Equal(t, int32(1), got.Load())
	assert.Equal(t, uint64(1), a.Stats().UDPPacketsReceived)
	assert.Equal(t, uint64(2), n.Stats().Delivered)

	assert.Panics(t, func() { n.SetDelay(time.Millisecond) })
	assert.Panics(t, func() { NewMemNetwork(MemOptions{Sync: true, MinDelay: time.Millisecond}) })
}

func TestMemUnreachableAndRestart(t *testing.T) {
	n := NewMemNetwork(MemOptions{Sync: true})
	eps, _ := memNodes(t, n, UDPPreferred, "a")
	a := eps[0]
	require.NoError(t, a.Send("nobody", []byte("x")))
	assert.Equal(t, uint64(1), n.Stats().Unreachable)
	assert.Equal(t, Stats{UDPPacketsSent: 1, UDPBytesSent: 1}, a.Stats(), "not Dropped: the sender cannot know")

	b1 := n.Endpoint("b", UDPPreferred)
	require.NoError(t, b1.Start(func(Packet) {}))
	dup := n.Endpoint("b", UDPPreferred)
	assert.Error(t, dup.Start(func(Packet) {}), "address in use")
	require.NoError(t, b1.Close())
	require.NoError(t, a.Send("b", []byte("x")))
	assert.Equal(t, uint64(2), n.Stats().Unreachable)

	b2 := n.Endpoint("b", UDPPreferred)
	s := start(t, b2)
	defer b2.Close()
	require.NoError(t, a.Send("b", []byte("back")))
	assert.Equal(t, 1, s.len())
}

func TestMemCloseWithPacketsInFlight(t *testing.T) {
	clk := clock.NewManual(epoch)
	n := NewMemNetwork(MemOptions{Clock: clk, MinDelay: time.Second})
	eps, sinks := memNodes(t, n, UDPPreferred, "a", "b")
	require.NoError(t, eps[0].Send("b", []byte("x")))
	require.NoError(t, eps[0].Send("b", make([]byte, 5000)))
	require.NoError(t, eps[1].Close())
	clk.Advance(time.Second)
	assert.Zero(t, sinks[1].len())
	assert.Equal(t, uint64(2), n.Stats().Unreachable)
}

func TestMemInboxOverflow(t *testing.T) {
	n := NewMemNetwork(MemOptions{InboxLen: 2})
	a := n.Endpoint("a", UDPPreferred)
	b := n.Endpoint("b", UDPPreferred)
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	require.NoError(t, b.Start(func(Packet) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
	}))
	require.NoError(t, a.Send("b", []byte("1")))
	<-entered // the inbox goroutine holds packet 1 in the handler
	for range 4 {
		require.NoError(t, a.Send("b", []byte("x")))
	}
	assert.Equal(t, uint64(2), n.Stats().Overflowed)
	assert.Equal(t, uint64(2), b.Stats().Dropped)
	close(release)
	waitDelivered(t, n, 3)
	require.NoError(t, b.Close())
	require.NoError(t, a.Close())
}

func TestMemOptionsValidated(t *testing.T) {
	assert.Panics(t, func() { NewMemNetwork(MemOptions{Loss: 1.5}) })
	assert.Panics(t, func() { NewMemNetwork(MemOptions{MTU: -1}) })
	n := NewMemNetwork(MemOptions{})
	assert.Panics(t, func() { n.SetDuplicate(-0.1) })
	assert.Panics(t, func() { n.SetDelayRange(time.Second, time.Millisecond) })
	assert.Panics(t, func() { n.Endpoint("a", Mode(9)) })
}

func TestMemGoroutinesEnd(t *testing.T) {
	before := runtime.NumGoroutine()
	n := NewMemNetwork(MemOptions{MinDelay: time.Millisecond, MaxDelay: 3 * time.Millisecond})
	var eps []*MemTransport
	for _, addr := range []string{"a", "b", "c"} {
		ep := n.Endpoint(addr, UDPPreferred)
		start(t, ep)
		eps = append(eps, ep)
	}
	for i := range 100 {
		require.NoError(t, eps[i%3].Send(eps[(i+1)%3].Addr(), make([]byte, 1+i*50)))
	}
	waitDelivered(t, n, 100)
	for _, ep := range eps {
		require.NoError(t, ep.Close())
	}
	waitGoroutines(t, before)
}
