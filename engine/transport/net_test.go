package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNetBindsTCPAndUDPOnOnePort(t *testing.T) {
	n := newNet(t, Config{})
	ap, err := netip.ParseAddrPort(n.Addr())
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", ap.Addr().String())
	assert.NotZero(t, ap.Port())

	// Both protocols hold the port: binding it again fails for each.
	_, err = net.Listen("tcp", n.Addr())
	assert.Error(t, err)
	_, err = net.ListenPacket("udp", n.Addr())
	assert.Error(t, err)

	// And a fixed port is honoured once free.
	require.NoError(t, n.Close())
	again, err := NewNet(Config{BindAddr: n.Addr()})
	require.NoError(t, err)
	defer again.Close()
	assert.Equal(t, n.Addr(), again.Addr())
}

func TestNetAddrIPv6(t *testing.T) {
	requireIPv6(t)
	n := newNet(t, Config{BindAddr: "[::1]:0"})
	host, port, err := net.SplitHostPort(n.Addr())
	require.NoError(t, err)
	assert.Equal(t, "::1", host)
	assert.NotEqual(t, "0", port)
	assert.Equal(t, '[', rune(n.Addr()[0]))
}

func TestNetConfigErrors(t *testing.T) {
	for name, cfg := range map[string]Config{
		"mode":          {Mode: Mode(7)},
		"negative MTU":  {MTU: -1},
		"MTU too big":   {MTU: MaxDatagram + 1},
		"negative wait": {WriteTimeout: -time.Second},
		"bad bind":      {BindAddr: "not an address"},
		"queue":         {QueueLen: -3},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewNet(cfg)
			assert.Error(t, err)
		})
	}
}

func TestNetBadAddr(t *testing.T) {
	n := newNet(t, Config{})
	for _, addr := range []string{"nonsense", "1.2.3.4", ":7000", "host:port", "1.2.3.4:99999"} {
		assert.ErrorIs(t, n.Send(addr, []byte("x")), ErrBadAddr, "udp %q", addr)
		assert.ErrorIs(t, n.Send(addr, make([]byte, 5000)), ErrBadAddr, "tcp %q", addr)
	}
	assert.Equal(t, uint64(10), n.Stats().Dropped)
}

func TestNetHostName(t *testing.T) {
	if _, err := net.LookupHost("localhost"); err != nil {
		t.Skipf("localhost does not resolve: %v", err)
	}
	a := newNet(t, Config{})
	b := newNet(t, Config{})
	start(t, a)
	sb := start(t, b)
	_, port, err := net.SplitHostPort(b.Addr())
	require.NoError(t, err)
	to := net.JoinHostPort("localhost", port)
	require.NoError(t, a.Send(to, []byte("udp")))
	require.NoError(t, a.Send(to, make([]byte, 5000)))
	pkts := sb.wait(t, 2)
	assert.ElementsMatch(t, []int{3, 5000}, []int{len(pkts[0].Data), len(pkts[1].Data)})
}

func TestNetSendBeforeStart(t *testing.T) {
	a := newNet(t, Config{})
	b := newNet(t, Config{})
	require.NoError(t, a.Send(b.Addr(), []byte("early")))
	require.NoError(t, a.Send(b.Addr(), make([]byte, 3000)))
	sb := start(t, b) // the kernel held both meanwhile
	assert.Len(t, sb.wait(t, 2), 2)
}

func TestNetBadFrameLength(t *testing.T) {
	const maxFrame = 1 << 16
	for name, prefix := range map[string]uint32{"zero": 0, "above MaxFrame": maxFrame + 1, "huge": 1<<32 - 1} {
		t.Run(name, func(t *testing.T) {
			n := newNet(t, Config{MaxFrame: maxFrame})
			s := start(t, n)
			c, err := net.Dial("tcp", n.Addr())
			require.NoError(t, err)
			defer c.Close()
			_, err = c.Write(binary.BigEndian.AppendUint32(nil, prefix))
			require.NoError(t, err)

			// The transport hangs up: the read ends instead of timing out.
			require.NoError(t, c.SetReadDeadline(time.Now().Add(waitFor)))
			_, err = c.Read(make([]byte, 1))
			require.Error(t, err)
			assert.False(t, errors.Is(err, os.ErrDeadlineExceeded), "connection not closed")
			require.Eventually(t, func() bool { return n.Stats().BadFrames == 1 }, waitFor, tick)
			require.Eventually(t, func() bool { return n.Stats().ConnsClosed == 1 }, waitFor, tick)
			assert.Zero(t, s.len())

			// The transport still works for well-behaved peers.
			c2, err := net.Dial("tcp", n.Addr())
			require.NoError(t, err)
			defer c2.Close()
			_, err = c2.Write(append(binary.BigEndian.AppendUint32(nil, 2), "ok"...))
			require.NoError(t, err)
			p := s.wait(t, 1)[0]
			assert.Equal(t, []byte("ok"), p.Data)
			assert.Equal(t, c2.LocalAddr().String(), p.From)
		})
	}
}

func TestNetFrameSplitAcrossWrites(t *testing.T) {
	n := newNet(t, Config{})
	s := start(t, n)
	c, err := net.Dial("tcp", n.Addr())
	require.NoError(t, err)
	defer c.Close()
	body := bytes.Repeat([]byte("abc"), 100_000) // several read chunks
	frame := append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
	for len(frame) > 0 { // dribble it in uneven pieces
		k := min(len(frame), 7777)
		_, err := c.Write(frame[:k])
		require.NoError(t, err)
		frame = frame[k:]
	}
	assert.Equal(t, body, s.wait(t, 1)[0].Data)
}

func TestNetGarbageDatagramDelivered(t *testing.T) {
	n := newNet(t, Config{})
	s := start(t, n)
	c, err := net.Dial("udp", n.Addr())
	require.NoError(t, err)
	defer c.Close()
	for _, size := range []int{1, 333, 9000} { // 9000: above the MTU, still read whole
		garbage := payload(newRand(), size)
		_, err = c.Write(garbage)
		require.NoError(t, err)
		p := s.wait(t, 1)[0]
		s.mu.Lock()
		s.pkts = nil
		s.mu.Unlock()
		assert.Equal(t, garbage, p.Data)
		assert.False(t, p.Stream)
		assert.Equal(t, c.LocalAddr().String(), p.From)
	}
}

func TestNetUnreachableCountsSendErrors(t *testing.T) {
	// A port that was free a moment ago: nothing listens there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := ln.Addr().String()
	require.NoError(t, ln.Close())

	n := newNet(t, Config{Mode: TCPOnly})
	start(t, n)
	require.NoError(t, n.Send(dead, []byte("lost")))
	require.Eventually(t, func() bool { return n.Stats().SendErrors == 1 }, waitFor, tick)
	// The next Send dials again and fails again.
	require.NoError(t, n.Send(dead, []byte("lost again")))
	require.Eventually(t, func() bool { return n.Stats().SendErrors == 2 }, waitFor, tick)
	st := n.Stats()
	assert.Zero(t, st.TCPFramesSent)
	assert.Zero(t, st.ConnsOpened)
}

func TestNetStuckPeer(t *testing.T) {
	// A peer that accepts and never reads: the writer blocks once the socket
	// buffers fill, the queue fills behind it, and the write timeout then
	// gives up on the connection.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()

	n := newNet(t, Config{Mode: TCPOnly, QueueLen: 4, WriteTimeout: 300 * time.Millisecond})
	start(t, n)
	frame := make([]byte, 1<<20)
	var sent uint64
	var refused error
	require.Eventually(t, func() bool {
		refused = n.Send(ln.Addr().String(), frame)
		if refused == nil {
			sent++
		}
		return refused != nil
	}, waitFor, tick)
	require.ErrorIs(t, refused, ErrQueueFull)
	assert.Equal(t, uint64(1), n.Stats().Dropped)

	// Every accepted frame ends up either written or counted as an error.
	require.Eventually(t, func() bool {
		st := n.Stats()
		return st.SendErrors > 0 && st.TCPFramesSent+st.SendErrors == sent && st.ConnsClosed == 1
	}, waitFor, tick)
	c := <-accepted
	c.Close()
}

func TestNetIdleInboundClosed(t *testing.T) {
	n := newNet(t, Config{IdleTimeout: 100 * time.Millisecond})
	s := start(t, n)
	c, err := net.Dial("tcp", n.Addr())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write(append(binary.BigEndian.AppendUint32(nil, 2), "hi"...))
	require.NoError(t, err)
	s.wait(t, 1)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(waitFor)))
	_, err = c.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF, "server should hang up an idle connection")
	require.Eventually(t, func() bool { return n.Stats().ConnsClosed == 1 }, waitFor, tick)
}

func TestNetIdleOutboundClosed(t *testing.T) {
	a := newNet(t, Config{Mode: TCPOnly, IdleTimeout: 100 * time.Millisecond})
	b := newNet(t, Config{Mode: TCPOnly})
	start(t, a)
	sb := start(t, b)
	require.NoError(t, a.Send(b.Addr(), []byte("one")))
	sb.wait(t, 1)
	require.Eventually(t, func() bool {
		st := a.Stats()
		return st.ConnsOpened == 1 && st.ConnsClosed == 1 && a.writers() == 0
	}, waitFor, tick)
	// The peer notices the hang-up too.
	require.Eventually(t, func() bool { return b.Stats().ConnsClosed == 1 }, waitFor, tick)
	// And a later Send dials afresh.
	require.NoError(t, a.Send(b.Addr(), []byte("two")))
	sb.wait(t, 2)
	assert.Equal(t, uint64(2), a.Stats().ConnsOpened)
}

func TestNetReconnectsAfterPeerRestart(t *testing.T) {
	a := newNet(t, Config{Mode: TCPOnly})
	b := newNet(t, Config{Mode: TCPOnly})
	start(t, a)
	sb := start(t, b)
	require.NoError(t, a.Send(b.Addr(), []byte("before")))
	sb.wait(t, 1)
	require.NoError(t, b.Close())
	// The watcher sees the peer hang up, so no frame is written into the
	// dead connection.
	require.Eventually(t, func() bool { return a.Stats().ConnsClosed == 1 }, waitFor, tick)

	b2 := newNet(t, Config{Mode: TCPOnly, BindAddr: b.Addr()})
	sb2 := start(t, b2)
	require.NoError(t, a.Send(b2.Addr(), []byte("after")))
	assert.Equal(t, []byte("after"), sb2.wait(t, 1)[0].Data)
	assert.Zero(t, a.Stats().SendErrors)
}

func TestNetCloseDiscardsQueuedFrames(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	n, err := NewNet(Config{Mode: TCPOnly, QueueLen: 64})
	require.NoError(t, err)
	start(t, n)
	frame := make([]byte, 1<<20)
	var sent uint64
	for range 64 {
		if n.Send(ln.Addr().String(), frame) == nil {
			sent++
		}
	}
	require.NoError(t, n.Close())
	st := n.Stats()
	assert.Equal(t, sent, st.TCPFramesSent+st.SendErrors)
	assert.Equal(t, st.ConnsOpened, st.ConnsClosed)
}

func TestNetGoroutinesEnd(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 3 {
		a, err := NewNet(Config{IdleTimeout: time.Minute})
		require.NoError(t, err)
		b, err := NewNet(Config{})
		require.NoError(t, err)
		start(t, a)
		sb := start(t, b)
		for i := range 20 {
			require.NoError(t, a.Send(b.Addr(), make([]byte, 1+i*500)))
			require.NoError(t, b.Send(a.Addr(), make([]byte, 1+i*500)))
		}
		sb.wait(t, 20)
		require.NoError(t, a.Close())
		require.NoError(t, b.Close())
		for _, n := range []*Net{a, b} {
			st := n.Stats()
			assert.Equal(t, st.ConnsOpened, st.ConnsClosed)
		}
	}
	waitGoroutines(t, before)
}

func TestNetPortIsFreedOnClose(t *testing.T) {
	n, err := NewNet(Config{})
	require.NoError(t, err)
	start(t, n)
	addr := n.Addr()
	require.NoError(t, n.Close())
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	uc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
	require.NoError(t, err)
	uc.Close()
}

// writers reports how many destination writers are alive.
func (n *Net) writers() int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return len(n.out)
}

func TestNetWildcardBindIsDualStack(t *testing.T) {
	n := newNet(t, Config{BindAddr: ":0"})
	s := start(t, n)
	_, port, err := net.SplitHostPort(n.Addr())
	require.NoError(t, err)
	a := newNet(t, Config{})
	to := net.JoinHostPort("127.0.0.1", port)
	require.NoError(t, a.Send(to, []byte("v4 datagram")))
	require.NoError(t, a.Send(to, make([]byte, 5000)))
	for _, p := range s.wait(t, 2) {
		// IPv4 peers show as IPv4, not as ::ffff:127.0.0.1.
		ap, err := netip.ParseAddrPort(p.From)
		require.NoError(t, err)
		assert.True(t, ap.Addr().Is4(), p.From)
	}
}
