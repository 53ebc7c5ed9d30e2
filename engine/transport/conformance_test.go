package transport

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// waitFor bounds every poll in this package's tests: generous for a loaded CI
// machine, never reached when things work.
const waitFor = 5 * time.Second

const tick = time.Millisecond

// sink collects the packets a handler receives.
type sink struct {
	mu   sync.Mutex
	pkts []Packet
}

func (s *sink) handle(p Packet) {
	s.mu.Lock()
	s.pkts = append(s.pkts, p)
	s.mu.Unlock()
}

func (s *sink) packets() []Packet {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Packet(nil), s.pkts...)
}

func (s *sink) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pkts)
}

// wait polls until at least n packets arrived and returns them.
func (s *sink) wait(t testing.TB, n int) []Packet {
	t.Helper()
	require.Eventually(t, func() bool { return s.len() >= n }, waitFor, tick,
		"want %d packets", n)
	return s.packets()
}

// waitSent polls until tr counts frames TCP frames sent: a frame counts as
// sent once its flush returned, which may be after the peer received it.
func waitSent(t testing.TB, tr Transport, frames uint64) {
	t.Helper()
	require.Eventually(t, func() bool { return tr.Stats().TCPFramesSent >= frames }, waitFor, tick)
}

// pairFactory makes two unstarted transports that can reach each other;
// cleanup is registered on t.
type pairFactory func(t *testing.T, mode Mode, maxFrame int) (a, b Transport)

// start starts tr with a fresh sink.
func start(t testing.TB, tr Transport) *sink {
	t.Helper()
	s := &sink{}
	require.NoError(t, tr.Start(s.handle))
	return s
}

func payload(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// testConformance is the behaviour every Transport must show.
func testConformance(t *testing.T, newPair pairFactory) {
	rng := rand.New(rand.NewPCG(1, 2))

	t.Run("SmallPacketTakesUDP", func(t *testing.T) {
		a, b := newPair(t, UDPPreferred, 0)
		start(t, a)
		sb := start(t, b)
		data := payload(rng, 100)
		require.NoError(t, a.Send(b.Addr(), bytes.Clone(data)))
		p := sb.wait(t, 1)[0]
		assert.Equal(t, data, p.Data)
		assert.False(t, p.Stream)
		assert.NotEmpty(t, p.From)
		assert.Equal(t, Stats{UDPPacketsSent: 1, UDPBytesSent: 100}, a.Stats())
		assert.Equal(t, Stats{UDPPacketsReceived: 1, UDPBytesReceived: 100}, b.Stats())
	})

	t.Run("LargePacketTakesTCP", func(t *testing.T) {
		a, b := newPair(t, UDPPreferred, 0)
		start(t, a)
		sb := start(t, b)
		data := payload(rng, 1<<20)
		require.NoError(t, a.Send(b.Addr(), bytes.Clone(data)))
		p := sb.wait(t, 1)[0]
		assert.Equal(t, data, p.Data)
		assert.True(t, p.Stream)
		waitSent(t, a, 1)
		sa := a.Stats()
		assert.Equal(t, uint64(1), sa.TCPFramesSent)
		assert.Equal(t, uint64(1<<20), sa.TCPBytesSent)
		assert.Zero(t, sa.UDPPacketsSent)
		sr := b.Stats()
		assert.Equal(t, uint64(1), sr.TCPFramesReceived)
		assert.Equal(t, uint64(1<<20), sr.TCPBytesReceived)
		assert.Zero(t, sr.UDPPacketsReceived)
	})

	t.Run("MTUBoundary", func(t *testing.T) {
		a, b := newPair(t, UDPPreferred, 0)
		start(t, a)
		sb := start(t, b)
		require.NoError(t, a.Send(b.Addr(), payload(rng, DefaultMTU)))
		require.NoError(t, a.Send(b.Addr(), payload(rng, DefaultMTU+1)))
		pkts := sb.wait(t, 2)
		byLen := map[int]bool{}
		for _, p := range pkts {
			byLen[len(p.Data)] = p.Stream
		}
		assert.Equal(t, map[int]bool{DefaultMTU: false, DefaultMTU + 1: true}, byLen)
	})

	t.Run("TCPOnlySendsFrames", func(t *testing.T) {
		a, b := newPair(t, TCPOnly, 0)
		start(t, a)
		sb := start(t, b)
		require.NoError(t, a.Send(b.Addr(), []byte("hello")))
		p := sb.wait(t, 1)[0]
		assert.Equal(t, []byte("hello"), p.Data)
		assert.True(t, p.Stream)
		waitSent(t, a, 1)
		assert.Zero(t, a.Stats().UDPPacketsSent)
		assert.Equal(t, uint64(1), a.Stats().TCPFramesSent)
	})

	t.Run("FramesArriveInOrder", func(t *testing.T) {
		a, b := newPair(t, TCPOnly, 0)
		start(t, a)
		sb := start(t, b)
		const count = 2000
		for i := range count {
			data := make([]byte, 4+rng.IntN(3000))
			binary.BigEndian.PutUint32(data, uint32(i))
			require.NoError(t, a.Send(b.Addr(), data))
		}
		pkts := sb.wait(t, count)
		require.Len(t, pkts, count)
		for i, p := range pkts {
			require.Equal(t, uint32(i), binary.BigEndian.Uint32(p.Data), "packet %d", i)
		}
	})

	t.Run("BothDirections", func(t *testing.T) {
		a, b := newPair(t, UDPPreferred, 0)
		sa := start(t, a)
		sb := start(t, b)
		require.NoError(t, a.Send(b.Addr(), []byte("ping")))
		require.NoError(t, b.Send(a.Addr(), payload(rng, 5000)))
		assert.Equal(t, []byte("ping"), sb.wait(t, 1)[0].Data)
		assert.Len(t, sa.wait(t, 1)[0].Data, 5000)
	})

	t.Run("TooLarge", func(t *testing.T) {
		const maxFrame = 64 << 10
		a, b := newPair(t, UDPPreferred, maxFrame)
		start(t, a)
		sb := start(t, b)
		assert.ErrorIs(t, a.Send(b.Addr(), make([]byte, maxFrame+1)), ErrTooLarge)
		assert.Equal(t, uint64(1), a.Stats().Dropped)
		require.NoError(t, a.Send(b.Addr(), make([]byte, maxFrame)))
		assert.Len(t, sb.wait(t, 1)[0].Data, maxFrame)
		waitSent(t, a, 1)
		assert.Equal(t, uint64(1), a.Stats().TCPFramesSent)
	})

	t.Run("Empty", func(t *testing.T) {
		a, b := newPair(t, UDPPreferred, 0)
		assert.ErrorIs(t, a.Send(b.Addr(), nil), ErrEmpty)
		assert.Equal(t, uint64(1), a.Stats().Dropped)
	})

	t.Run("Lifecycle", func(t *testing.T) {
		a, b := newPair(t, UDPPreferred, 0)
		assert.Error(t, a.Start(nil))
		start(t, a)
		assert.ErrorIs(t, a.Start(func(Packet) {}), ErrStarted)
		require.NoError(t, a.Close())
		require.NoError(t, a.Close())
		assert.ErrorIs(t, a.Send(b.Addr(), []byte("x")), ErrClosed)
		assert.ErrorIs(t, a.Send(b.Addr(), make([]byte, 5000)), ErrClosed)
		assert.ErrorIs(t, a.Start(func(Packet) {}), ErrClosed)
		// Closing an endpoint that never started is fine too.
		require.NoError(t, b.Close())
	})

	t.Run("NoHandlerCallAfterClose", func(t *testing.T) {
		a, b := newPair(t, UDPPreferred, 0)
		start(t, a)
		var closed, late, got atomic.Bool
		require.NoError(t, b.Start(func(Packet) {
			got.Store(true)
			if closed.Load() {
				late.Store(true)
			}
		}))
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				_ = a.Send(b.Addr(), make([]byte, 1+i%3000))
				runtime.Gosched()
			}
		}()
		require.Eventually(t, got.Load, waitFor, tick)
		require.NoError(t, b.Close())
		closed.Store(true)
		close(stop)
		<-done
		require.NoError(t, a.Close())
		assert.False(t, late.Load(), "handler called after Close returned")
	})

	t.Run("StatsMatch", func(t *testing.T) {
		a, b := newPair(t, UDPPreferred, 0)
		start(t, a)
		sb := start(t, b)
		var udpBytes, tcpBytes uint64
		for i := range 10 {
			n := 10 + i
			udpBytes += uint64(n)
			require.NoError(t, a.Send(b.Addr(), make([]byte, n)))
		}
		for i := range 3 {
			n := 10_000 * (i + 1)
			tcpBytes += uint64(n)
			require.NoError(t, a.Send(b.Addr(), make([]byte, n)))
		}
		sb.wait(t, 13)
		waitSent(t, a, 3)
		sa, sr := a.Stats(), b.Stats()
		assert.Equal(t, uint64(10), sa.UDPPacketsSent)
		assert.Equal(t, udpBytes, sa.UDPBytesSent)
		assert.Equal(t, uint64(3), sa.TCPFramesSent)
		assert.Equal(t, tcpBytes, sa.TCPBytesSent)
		assert.Equal(t, udpBytes+tcpBytes, sa.BytesSent())
		assert.Equal(t, uint64(10), sr.UDPPacketsReceived)
		assert.Equal(t, udpBytes, sr.UDPBytesReceived)
		assert.Equal(t, uint64(3), sr.TCPFramesReceived)
		assert.Equal(t, tcpBytes, sr.TCPBytesReceived)
		assert.Equal(t, sa.BytesSent(), sr.BytesReceived())
		assert.Zero(t, sa.SendErrors+sa.Dropped+sr.BadFrames)
	})
}

func TestConformanceNetIPv4(t *testing.T) {
	testConformance(t, netPair("127.0.0.1:0"))
}

func TestConformanceNetIPv6(t *testing.T) {
	requireIPv6(t)
	testConformance(t, netPair("[::1]:0"))
}

func TestConformanceMem(t *testing.T) {
	testConformance(t, func(t *testing.T, mode Mode, maxFrame int) (Transport, Transport) {
		n := NewMemNetwork(MemOptions{MaxFrame: maxFrame})
		a := n.Endpoint("10.0.0.1:7000", mode)
		b := n.Endpoint("10.0.0.2:7000", mode)
		t.Cleanup(func() { a.Close(); b.Close() })
		return a, b
	})
}

func TestConformanceMemSync(t *testing.T) {
	testConformance(t, func(t *testing.T, mode Mode, maxFrame int) (Transport, Transport) {
		n := NewMemNetwork(MemOptions{MaxFrame: maxFrame, Sync: true})
		a := n.Endpoint("a:1", mode)
		b := n.Endpoint("b:1", mode)
		t.Cleanup(func() { a.Close(); b.Close() })
		return a, b
	})
}

func netPair(bind string) pairFactory {
	return func(t *testing.T, mode Mode, maxFrame int) (Transport, Transport) {
		cfg := Config{BindAddr: bind, Mode: mode, MaxFrame: maxFrame, QueueLen: 4096}
		return newNet(t, cfg), newNet(t, cfg)
	}
}

func newNet(t testing.TB, cfg Config) *Net {
	t.Helper()
	n, err := NewNet(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })
	return n
}

// requireIPv6 skips the test when the host cannot listen on ::1.
func requireIPv6(t testing.TB) {
	t.Helper()
	n, err := NewNet(Config{BindAddr: "[::1]:0"})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	n.Close()
}

func newRand() *rand.Rand { return rand.New(rand.NewPCG(3, 4)) }

// waitGoroutines polls until no more than want goroutines run, and dumps them
// if that never happens. It polls on the test goroutine: require.Eventually
// would count its own condition goroutine.
func waitGoroutines(t testing.TB, want int) {
	t.Helper()
	deadline := time.NewTimer(waitFor)
	defer deadline.Stop()
	poll := time.NewTicker(tick)
	defer poll.Stop()
	for runtime.NumGoroutine() > want {
		select {
		case <-poll.C:
		case <-deadline.C:
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, want at most %d:\n%s",
				runtime.NumGoroutine(), want, buf[:runtime.Stack(buf, true)])
		}
	}
}
