package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// openInbound is the number of TCP connections the transport holds open; the
// tests below never send from it, so all of them are inbound.
func openInbound(n *Net) int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return len(n.conns)
}

// 2,000 connections that send half a length prefix and stall: before the
// limits all were held for IdleTimeout (60 s). Now at most MaxInboundConns are
// open at any time, the excess is closed at once, and the rest are closed
// after FrameTimeout.
func TestTCPHalfHeaderFlood(t *testing.T) {
	const attackers = 2000
	n := newNet(t, Config{FrameTimeout: time.Second})
	start(t, n)
	cap := DefaultMaxInboundConns

	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			if v := int64(openInbound(n)); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	})

	conns := make([]net.Conn, 0, attackers)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	began := time.Now()
	for range attackers {
		c, err := net.Dial("tcp", n.Addr())
		require.NoError(t, err)
		conns = append(conns, c)
		_, err = c.Write([]byte{0, 0}) // half a length prefix
		require.NoError(t, err)
	}

	dialing := time.Since(began)
	// Every attacker is disconnected: refused at once or timed out.
	require.Eventually(t, func() bool {
		s := n.Stats()
		return s.InboundRefused+s.FrameTimeouts == attackers
	}, 4*waitFor, 10*time.Millisecond, "stats %+v", n.Stats())
	close(stop)
	wg.Wait()

	s := n.Stats()
	assert.LessOrEqual(t, peak.Load(), int64(cap), "never more than MaxInboundConns open")
	// A slot frees only when its connection's frame times out, so while
	// the attackers dial at most cap more are accepted per FrameTimeout: on
	// a fast machine (dialing within a second) that is about 2*cap, on a
	// loaded one more, never all.
	accepted := cap * (int(dialing/time.Second) + 2)
	assert.GreaterOrEqual(t, s.InboundRefused, uint64(max(attackers-accepted, 0)), "the excess refused at once (dialing took %v)", dialing)
	assert.LessOrEqual(t, s.ConnsOpened, uint64(accepted), "accepted no faster than slots free")
	assert.Equal(t, s.ConnsOpened, s.FrameTimeouts, "every accepted one timed out")
	assert.Equal(t, s.ConnsOpened, s.ConnsClosed)
	assert.Zero(t, openInbound(n))
	for _, c := range conns {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(waitFor)))
		_, err := c.Read(make([]byte, 1))
		require.Error(t, err, "the server closed it")
		var ne net.Error
		if errors.As(err, &ne) {
			require.False(t, ne.Timeout(), "closed, not left hanging: %v", err)
		}
	}
	t.Logf("%d half-header connections: %d refused at once, %d timed out, peak %d open", attackers, s.InboundRefused, s.FrameTimeouts, peak.Load())
}

// 8 connections each announcing a 32 MiB frame and sending all of it but the
// last byte. Before the limits the peer buffered all of them (410 MiB RSS);
// now at most MaxBufferedBytes (64 MiB by default) is held at once.
func TestTCPBigFrameMemoryBound(t *testing.T) {
	const (
		attackers = 8
		size      = DefaultMaxFrame
	)
	n := newNet(t, Config{FrameTimeout: 2 * time.Second})
	var delivered atomic.Int64
	require.NoError(t, n.Start(func(Packet) { delivered.Add(1) }))

	body := make([]byte, size-1) // shared by every attacker, allocated before the baseline
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	base := heap()

	var wg sync.WaitGroup
	conns := make([]net.Conn, attackers)
	for i := range conns {
		c, err := net.Dial("tcp", n.Addr())
		require.NoError(t, err)
		conns[i] = c
		wg.Go(func() {
			_ = c.SetWriteDeadline(time.Now().Add(4 * waitFor))
			if _, err := c.Write(binary.BigEndian.AppendUint32(nil, size)); err != nil {
				return
			}
			_, _ = c.Write(body) // blocks while the peer does not read; fails once it closes
		})
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	}()

	var peak uint64
	deadline := time.Now().Add(4 * waitFor)
	for time.Now().Before(deadline) {
		if h := heap(); h > base && h-base > peak {
			peak = h - base
		}
		s := n.Stats()
		if s.FrameTimeouts+s.FramesRefused >= attackers {
			break
		}
		time.Sleep(20 * time.Millisecond) // sampling period of the heap, not a synchronisation
	}
	s := n.Stats()
	require.Equal(t, uint64(attackers), s.FrameTimeouts+s.FramesRefused, "every stalled frame was dropped: %+v", s)
	assert.Zero(t, delivered.Load(), "no incomplete frame reached the handler")
	const bound = 2*DefaultMaxFrame + 16<<20 // the budget plus buffers and slack
	assert.Less(t, peak, uint64(bound), "heap growth %d MiB", peak>>20)
	assert.Greater(t, peak, uint64(DefaultMaxFrame/2), "the attack did make the peer buffer a frame (the test measures something)")
	assert.GreaterOrEqual(t, s.FrameTimeouts, uint64(2), "the frames that got the budget stalled and timed out")
	t.Logf("8 x 32 MiB frames: peak heap growth %d MiB (bound %d MiB; 256 MiB unbounded), %d timed out, %d refused",
		peak>>20, bound>>20, s.FrameTimeouts, s.FramesRefused)
}

// Legitimate big frames wait for the budget instead of failing: with room for
// one maximal frame, three peers sending one each all get through.
func TestTCPBigFramesWaitForBudget(t *testing.T) {
	const size = 4 << 20
	recv := newNet(t, Config{MaxFrame: size, MaxBufferedBytes: size})
	sk := start(t, recv)
	payload := bytes.Repeat([]byte{7}, size)
	for range 3 {
		s := newNet(t, Config{MaxFrame: size})
		require.NoError(t, s.Send(recv.Addr(), bytes.Clone(payload)))
	}
	pkts := sk.wait(t, 3)
	for _, p := range pkts {
		assert.Equal(t, size, len(p.Data))
	}
	assert.Zero(t, recv.Stats().FramesRefused)
}

func TestTCPLimitsConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"negative conns":      {MaxInboundConns: -1},
		"negative bytes":      {MaxBufferedBytes: -1},
		"budget below frame":  {MaxFrame: 1 << 20, MaxBufferedBytes: 1<<20 - 1},
		"negative frame wait": {FrameTimeout: -time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewNet(cfg)
			assert.Error(t, err)
		})
	}
	c, err := Config{MaxFrame: 1 << 20}.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, int64(2<<20), c.MaxBufferedBytes)
	assert.Equal(t, DefaultMaxInboundConns, c.MaxInboundConns)
	assert.Equal(t, DefaultFrameTimeout, c.FrameTimeout)
}
