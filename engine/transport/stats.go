package transport

import "sync/atomic"

// counters is the lock-free backing store of Stats, shared by both
// transports so that the in-memory one counts exactly like the network one.
type counters struct {
	udpPacketsSent, udpBytesSent         atomic.Uint64
	udpPacketsReceived, udpBytesReceived atomic.Uint64
	tcpFramesSent, tcpBytesSent          atomic.Uint64
	tcpFramesReceived, tcpBytesReceived  atomic.Uint64
	sendErrors, dropped, badFrames       atomic.Uint64
	connsOpened, connsClosed             atomic.Uint64
	inboundRefused, framesRefused        atomic.Uint64
	frameTimeouts                        atomic.Uint64
}

// sent counts one packet of n payload bytes handed to the network.
func (c *counters) sent(stream bool, n int) {
	if stream {
		c.tcpFramesSent.Add(1)
		c.tcpBytesSent.Add(uint64(n))
	} else {
		c.udpPacketsSent.Add(1)
		c.udpBytesSent.Add(uint64(n))
	}
}

// received counts one packet of n payload bytes read from the network.
func (c *counters) received(stream bool, n int) {
	if stream {
		c.tcpFramesReceived.Add(1)
		c.tcpBytesReceived.Add(uint64(n))
	} else {
		c.udpPacketsReceived.Add(1)
		c.udpBytesReceived.Add(uint64(n))
	}
}

// snapshot reads every counter. Fields are read one by one, so a snapshot
// taken while traffic flows is not a single instant; each field is exact.
func (c *counters) snapshot() Stats {
	return Stats{
		UDPPacketsSent:     c.udpPacketsSent.Load(),
		UDPBytesSent:       c.udpBytesSent.Load(),
		UDPPacketsReceived: c.udpPacketsReceived.Load(),
		UDPBytesReceived:   c.udpBytesReceived.Load(),
		TCPFramesSent:      c.tcpFramesSent.Load(),
		TCPBytesSent:       c.tcpBytesSent.Load(),
		TCPFramesReceived:  c.tcpFramesReceived.Load(),
		TCPBytesReceived:   c.tcpBytesReceived.Load(),
		SendErrors:         c.sendErrors.Load(),
		Dropped:            c.dropped.Load(),
		BadFrames:          c.badFrames.Load(),
		ConnsOpened:        c.connsOpened.Load(),
		ConnsClosed:        c.connsClosed.Load(),
		InboundRefused:     c.inboundRefused.Load(),
		FramesRefused:      c.framesRefused.Load(),
		FrameTimeouts:      c.frameTimeouts.Load(),
	}
}
