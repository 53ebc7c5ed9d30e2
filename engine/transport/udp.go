package transport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// udpReadBuffer holds the largest possible datagram, not just the MTU: a
// misconfigured peer's oversize packet is still read whole and handed over,
// and the engine decides what to do with it.
const udpReadBuffer = 64 << 10

// fromCacheSize bounds the cache of sender address strings kept by the UDP
// read loop, which spares one allocation per packet from a known peer.
const fromCacheSize = 1024

// udpSocketBuffer is the receive buffer asked of the kernel for the UDP
// socket. The default (about 200 KB on Linux) holds under a hundred full
// datagrams: a burst of coalesced pushes from a fast sender, arriving while
// the read loop waits for the engine, overflows it and the kernel drops
// them silently (anti-entropy repairs them, at the price of large TCP
// deltas and seconds of delay). The kernel caps the request at its maximum
// (net.core.rmem_max); asking is best effort, like memberlist's 2 MB.
const udpSocketBuffer = 4 << 20

func setUDPReadBuffer(uc *net.UDPConn) {
	for size := udpSocketBuffer; size >= 256<<10; size /= 2 {
		if uc.SetReadBuffer(size) == nil {
			return
		}
	}
}

// sendUDP writes one datagram on the calling goroutine.
func (n *Net) sendUDP(addr string, data []byte) error {
	ap, err := n.res.resolve(n.ctx, addr)
	if err != nil {
		n.stats.dropped.Add(1)
		return err
	}
	if _, err := n.udpConn.WriteToUDPAddrPort(data, ap); err != nil {
		if n.closed.Load() {
			return ErrClosed
		}
		n.stats.sendErrors.Add(1)
		return fmt.Errorf("transport: udp send to %s: %w", addr, err)
	}
	n.stats.sent(false, len(data))
	return nil
}

// readUDP is the UDP read loop. It copies each datagram out of the shared
// read buffer, so the handler owns its Data.
func (n *Net) readUDP() {
	defer n.wg.Done()
	buf := make([]byte, udpReadBuffer)
	from := make(map[netip.AddrPort]string)
	var delay time.Duration
	for {
		size, ap, err := n.udpConn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if n.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			n.cfg.Logger.Debug("transport: udp read", "err", err)
			if !n.backoff(&delay) {
				return
			}
			continue
		}
		delay = 0
		// A dual-stack socket reports IPv4 senders as ::ffff:a.b.c.d; show
		// them as the IPv4 address they are.
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		s, ok := from[ap]
		if !ok {
			if len(from) >= fromCacheSize {
				clear(from)
			}
			s = ap.String()
			from[ap] = s
		}
		data := make([]byte, size)
		copy(data, buf[:size])
		n.stats.received(false, size)
		n.handler(Packet{Data: data, From: s})
	}
}
