// Package transport moves encoded packets between peers. The engine only sees
// the Transport interface; the network implementation speaks UDP and TCP, and
// the in-memory one (for tests and simulations) can lose, delay, duplicate and
// partition packets while counting every byte.
package transport

import (
	"errors"
	"log/slog"
	"time"
)

// Mode chooses how packets travel.
type Mode int

const (
	// UDPPreferred sends a packet as one UDP datagram when it fits the MTU and
	// as a TCP frame otherwise. Gossip is loss-tolerant, so small packets take
	// the cheap path and large ones the reliable one.
	UDPPreferred Mode = iota
	// TCPOnly sends every packet as a TCP frame (networks that drop UDP).
	TCPOnly
)

func (m Mode) String() string {
	switch m {
	case UDPPreferred:
		return "udp-preferred"
	case TCPOnly:
		return "tcp-only"
	}
	return "unknown"
}

// Defaults shared by every transport.
const (
	// DefaultMTU is the largest UDP payload sent: it stays under the 1500-byte
	// Ethernet MTU with room for IP/UDP headers and tunnels.
	DefaultMTU = 1400
	// DefaultMaxFrame bounds a TCP frame. A length prefix above it closes the
	// connection: a peer never allocates what a stranger announces.
	DefaultMaxFrame = 32 << 20
	// FrameHeader is the size of the big-endian length prefix of a TCP frame.
	FrameHeader = 4
)

// Errors returned by Send.
var (
	ErrClosed    = errors.New("transport: closed")
	ErrTooLarge  = errors.New("transport: packet larger than the maximum frame")
	ErrQueueFull = errors.New("transport: send queue full")
	ErrBadAddr   = errors.New("transport: bad address")
	// ErrEmpty refuses a zero-length packet: a TCP frame cannot carry one (a
	// zero length prefix is a bad frame), so neither path accepts it.
	ErrEmpty = errors.New("transport: empty packet")
	// ErrStarted is returned by a second call to Start.
	ErrStarted = errors.New("transport: already started")
)

// Packet is one received packet.
type Packet struct {
	// Data is the encoded packet. The handler owns it: the transport never
	// touches it again.
	Data []byte
	// From is the remote address the packet came from as the socket saw it. It
	// is not the sender's advertised address (that is inside the packet) and
	// is not authenticated.
	From string
	// Stream is true when the packet arrived over TCP.
	Stream bool
}

// Handler receives packets. It may be called from several goroutines at once
// and should return quickly: a slow handler delays further packets of the same
// connection (TCP) or socket (UDP).
type Handler func(Packet)

// Transport sends and receives whole packets.
type Transport interface {
	// Start binds (if not yet bound) and starts delivering received packets
	// to h. It is called once.
	Start(h Handler) error
	// Addr returns the bound address as host:port; valid after Start. When the
	// configured port was 0 it carries the port the system chose.
	Addr() string
	// Send queues data for addr and returns without waiting for the network.
	// The transport takes ownership of data: the caller must not modify it
	// afterwards. An error means the packet will certainly not be sent (too
	// large, queue full, closed, unparsable address); a nil error is not a
	// delivery guarantee.
	Send(addr string, data []byte) error
	// Stats returns counters since Start.
	Stats() Stats
	// Close stops delivery, closes sockets and connections and waits for the
	// transport's goroutines to end. Safe to call more than once.
	Close() error
}

// Stats counts what a transport did. All fields only grow.
type Stats struct {
	UDPPacketsSent, UDPBytesSent         uint64
	UDPPacketsReceived, UDPBytesReceived uint64
	TCPFramesSent, TCPBytesSent          uint64
	TCPFramesReceived, TCPBytesReceived  uint64
	// SendErrors counts packets that were accepted by Send but could not be
	// written (dial failure, write timeout, connection reset).
	SendErrors uint64
	// Dropped counts packets refused by Send (queue full, too large) and, for
	// the in-memory transport, packets it decided to lose.
	Dropped uint64
	// BadFrames counts incoming TCP frames with an invalid length prefix;
	// each one closes its connection.
	BadFrames uint64
	// ConnsOpened and ConnsClosed count TCP connections (both directions).
	ConnsOpened, ConnsClosed uint64
	// InboundRefused counts inbound TCP connections closed at once because
	// MaxInboundConns were open.
	InboundRefused uint64
	// FramesRefused counts inbound frames that could not reserve their bytes
	// within MaxBufferedBytes in time; each closes its connection.
	FramesRefused uint64
	// FrameTimeouts counts inbound connections closed because a frame
	// stalled half-sent (length prefix or body) beyond FrameTimeout.
	FrameTimeouts uint64
}

// BytesSent is the total payload bytes sent, both protocols.
func (s Stats) BytesSent() uint64 { return s.UDPBytesSent + s.TCPBytesSent }

// BytesReceived is the total payload bytes received, both protocols.
func (s Stats) BytesReceived() uint64 { return s.UDPBytesReceived + s.TCPBytesReceived }

// Config configures the network transport. Zero values mean the default.
type Config struct {
	// BindAddr is the host:port to listen on for both TCP and UDP (same port
	// number). Port 0 picks a free port. Default "127.0.0.1:0".
	BindAddr string
	// Mode selects UDP-preferred or TCP-only. Default UDPPreferred.
	Mode Mode
	// MTU is the largest packet sent as a UDP datagram. Default DefaultMTU.
	MTU int
	// MaxFrame is the largest TCP frame sent or accepted. Default DefaultMaxFrame.
	MaxFrame int
	// DialTimeout bounds a TCP connect. Default 2s.
	DialTimeout time.Duration
	// WriteTimeout bounds one frame write; a stuck peer costs at most this
	// before its connection is dropped. Default 5s.
	WriteTimeout time.Duration
	// IdleTimeout closes a TCP connection that carried nothing for this long.
	// Default 60s.
	IdleTimeout time.Duration
	// MaxInboundConns caps the inbound TCP connections open at once; one
	// more is closed as soon as it is accepted (Stats.InboundRefused). Peers
	// use TCP only for packets above the MTU and each holds at most one
	// connection to us, so even a large cluster needs far fewer. Default 512.
	MaxInboundConns int
	// MaxBufferedBytes bounds the bytes of inbound frames being read at once,
	// across all connections: a frame reserves its announced length before
	// its body is read and keeps it until the handler returned. A frame that
	// cannot reserve within FrameTimeout is refused and its connection closed
	// (Stats.FramesRefused). It must be at least MaxFrame. Default 2 x
	// MaxFrame (64 MiB): two maximal frames at once, where without it 8
	// connections held 410 MiB.
	MaxBufferedBytes int64
	// FrameTimeout bounds a half-sent frame: once its first byte arrived,
	// the rest of the length prefix and each 64 KiB of the body must arrive
	// within it, or the connection is closed (Stats.FrameTimeouts). It is
	// also the longest a frame waits for MaxBufferedBytes. Default 5s, a
	// floor of about 13 KB/s for a frame in flight.
	FrameTimeout time.Duration
	// QueueLen is the number of packets queued per destination connection
	// before Send returns ErrQueueFull. Default 256.
	QueueLen int
	// Logger receives diagnostics (bad frames, dial and accept failures),
	// mostly at debug level since a hostile peer can cause them at will.
	// Default: discard.
	Logger *slog.Logger
}
