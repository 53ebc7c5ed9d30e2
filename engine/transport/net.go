package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// bindAttempts bounds how often NewNet retries when the port the system gave
// the TCP listener turns out to be taken for UDP by someone else.
const bindAttempts = 10

// Net is the network Transport: UDP datagrams and length-prefixed TCP frames
// on one port number.
//
// Goroutines: one UDP read loop and one TCP accept loop (both started by
// Start), one reader per inbound TCP connection, and per destination one
// writer plus, while connected, one watcher that notices the peer hanging up.
// The handler runs on the UDP read loop and on the inbound readers, so it may
// run concurrently with itself, but packets of one TCP connection are handed
// over one at a time, in order.
//
// Connections are used in one direction only: a node answers by sending to
// the peer's advertised address, never by writing on an inbound connection.
type Net struct {
	cfg     Config
	addr    string
	localIP netip.Addr // bound IP; unspecified for a wildcard bind
	tcpLn   *net.TCPListener
	udpConn *net.UDPConn
	dialer  net.Dialer
	res     resolver

	// ctx is cancelled by Close: it aborts dials, DNS lookups and back-off
	// waits, and tells writers to stop.
	ctx    context.Context
	cancel context.CancelFunc

	closed  atomic.Bool // fast path for Send; authoritative copy under mu
	handler Handler     // set once by Start, before the loops that read it

	// mu guards the fields below and makes "closed" and "a goroutine joins
	// wg" mutually exclusive, so wg.Add never races with Close's wg.Wait.
	mu       sync.RWMutex
	isClosed bool
	started  bool
	out      map[string]*outConn   // keyed by the address string given to Send
	conns    map[net.Conn]struct{} // every open TCP connection, both directions
	wg       sync.WaitGroup

	stats counters
	in    inbound // limits on what inbound TCP may hold (tcp.go)
}

var _ Transport = (*Net)(nil)

// NewNet validates cfg and binds the TCP listener and the UDP socket, so Addr
// is valid as soon as NewNet returns; no packet is read until Start. With port
// 0 the system picks the TCP port and UDP binds the same number, retrying with
// a new port (up to 10 times) if UDP finds it taken.
func NewNet(cfg Config) (*Net, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ln, uc, err := bind(cfg.BindAddr)
	if err != nil {
		return nil, err
	}
	tcpAddr := ln.Addr().(*net.TCPAddr)
	local, _ := netip.AddrFromSlice(tcpAddr.IP)
	local = local.Unmap().WithZone(tcpAddr.Zone)
	n := &Net{
		cfg:     cfg,
		addr:    net.JoinHostPort(local.String(), strconv.Itoa(tcpAddr.Port)),
		localIP: local,
		tcpLn:   ln,
		udpConn: uc,
		out:     make(map[string]*outConn),
		conns:   make(map[net.Conn]struct{}),
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.dialer = net.Dialer{Timeout: cfg.DialTimeout}
	if !local.IsUnspecified() {
		// Leave from the bound IP so a multi-homed peer sees the address we
		// advertise, not whichever interface the route picks.
		n.dialer.LocalAddr = &net.TCPAddr{IP: tcpAddr.IP, Zone: tcpAddr.Zone}
		n.dialer.Control = dialControl
	}
	n.res = resolver{timeout: cfg.DialTimeout, family: family(local)}
	n.in = newInbound(cfg)
	return n, nil
}

// bind listens on TCP and UDP with the same port number.
func bind(addr string) (*net.TCPListener, *net.UDPConn, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("transport: bind address %q: %w", addr, err)
	}
	attempts := bindAttempts
	if ta.Port != 0 {
		attempts = 1 // a fixed port taken for UDP will not free itself
	}
	var lastErr error
	for range attempts {
		ln, err := net.ListenTCP("tcp", ta)
		if err != nil {
			return nil, nil, fmt.Errorf("transport: listen tcp %s: %w", addr, err)
		}
		bound := ln.Addr().(*net.TCPAddr)
		uc, err := net.ListenUDP("udp", &net.UDPAddr{IP: bound.IP, Port: bound.Port, Zone: bound.Zone})
		if err == nil {
			setUDPReadBuffer(uc)
			return ln, uc, nil
		}
		ln.Close()
		lastErr = err
	}
	return nil, nil, fmt.Errorf("transport: listen udp %s: %w", addr, lastErr)
}

// Start starts the UDP read loop and the TCP accept loop, which hand every
// received packet to h. It fails with ErrStarted when called twice and
// ErrClosed after Close.
func (n *Net) Start(h Handler) error {
	if h == nil {
		return errors.New("transport: nil handler")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.isClosed:
		return ErrClosed
	case n.started:
		return ErrStarted
	}
	n.started = true
	n.handler = h
	n.wg.Add(2)
	go n.readUDP()
	go n.acceptTCP()
	return nil
}

// Addr returns the bound host:port, with the port the system chose when the
// configured one was 0. It is valid from NewNet on, before Start.
func (n *Net) Addr() string { return n.addr }

// Stats returns the counters since NewNet.
func (n *Net) Stats() Stats { return n.stats.snapshot() }

// Send hands data to the network without waiting for it; Send may be called
// before Start and from any goroutine.
//
// In UDPPreferred mode a packet of at most MTU bytes is written as one UDP
// datagram by the calling goroutine (it may wait for socket buffer space,
// never for a peer). Anything larger, and everything in TCPOnly mode, is
// queued as a TCP frame on the connection to addr, which is dialled on demand
// by that destination's writer goroutine.
//
// addr is host:port. An IP literal costs nothing to resolve; a host name on
// the UDP path is looked up once (bounded by DialTimeout) and then cached,
// which is the only case where Send waits for the network.
//
// Errors: ErrClosed after Close; ErrEmpty, ErrTooLarge, ErrQueueFull or
// ErrBadAddr (the packet is refused and counted in Stats.Dropped); or the
// error of a failed UDP write (counted in Stats.SendErrors). Failures after
// a packet was queued are only counted, in Stats.SendErrors.
func (n *Net) Send(addr string, data []byte) error {
	if n.closed.Load() {
		return ErrClosed
	}
	switch {
	case len(data) == 0:
		n.stats.dropped.Add(1)
		return ErrEmpty
	case len(data) > n.cfg.MaxFrame:
		n.stats.dropped.Add(1)
		return ErrTooLarge
	}
	if n.cfg.Mode == UDPPreferred && len(data) <= n.cfg.MTU {
		return n.sendUDP(addr, data)
	}
	return n.sendTCP(addr, data)
}

// Close stops the loops, closes the sockets and every connection, discards
// queued frames (counted as SendErrors) and waits for all goroutines of the
// transport. Once it returns, the handler is not running and will not be
// called again, and Send returns ErrClosed. Calling it again is harmless;
// calling it from the handler deadlocks, as it waits for the handler.
func (n *Net) Close() error {
	n.mu.Lock()
	first := !n.isClosed
	n.isClosed = true
	n.closed.Store(true)
	var conns []net.Conn
	if first {
		for c := range n.conns {
			conns = append(conns, c)
		}
		clear(n.conns)
	}
	n.mu.Unlock()
	if first {
		n.cancel()
		n.tcpLn.Close()
		n.udpConn.Close()
		for _, c := range conns {
			c.Close()
			n.stats.connsClosed.Add(1)
		}
	}
	n.wg.Wait()
	return nil
}

// adopt registers a new connection, so that Close can interrupt its I/O, and
// starts fn as a transport goroutine. It fails, closing c, once Close began.
func (n *Net) adopt(c net.Conn, fn func()) bool {
	n.mu.Lock()
	if n.isClosed {
		n.mu.Unlock()
		c.Close()
		return false
	}
	n.conns[c] = struct{}{}
	n.wg.Add(1)
	n.mu.Unlock()
	n.stats.connsOpened.Add(1)
	go func() {
		defer n.wg.Done()
		fn()
	}()
	return true
}

// release closes a connection registered by adopt. It may be called more
// than once and after Close; the connection is counted closed exactly once.
func (n *Net) release(c net.Conn) {
	n.mu.Lock()
	_, ok := n.conns[c]
	delete(n.conns, c)
	n.mu.Unlock()
	c.Close()
	if ok {
		n.stats.connsClosed.Add(1)
	}
}

// backoff waits after a failed accept or read (out of file descriptors, say)
// so that a persistent error does not spin a core. It reports false when the
// transport closed meanwhile.
func (n *Net) backoff(delay *time.Duration) bool {
	const maxDelay = time.Second
	if *delay == 0 {
		*delay = 5 * time.Millisecond
	} else {
		*delay = min(2**delay, maxDelay)
	}
	t := time.NewTimer(*delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-n.ctx.Done():
		return false
	}
}

// family is the address family a socket bound to ip can send to: 4 or 6, or
// 0 for a wildcard bind on the dual-stack socket Go opens for it.
func family(ip netip.Addr) int {
	switch {
	case ip.IsUnspecified():
		return 0
	case ip.Is4():
		return 4
	}
	return 6
}
