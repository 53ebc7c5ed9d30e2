package bench

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// countingTransport wraps memberlist's own NetTransport and counts the bytes
// memberlist hands to it: UDP payloads (WriteTo) and everything written on
// TCP streams, the ones it dials (push-pull, TCP fallback pings) and the
// ones it accepts (its replies). Like Telepathine's transport counters, it
// counts payload bytes, not IP/UDP/TCP headers.
type countingTransport struct {
	inner *memberlist.NetTransport
	sent  atomic.Uint64

	streams  chan net.Conn
	done     chan struct{}
	stopOnce sync.Once
	relay    sync.WaitGroup
}

// The NodeAware methods are implemented so memberlist uses the wrapper as
// it would use NetTransport, not through its compatibility shim.
var _ memberlist.NodeAwareTransport = (*countingTransport)(nil)

func newCountingTransport(inner *memberlist.NetTransport) *countingTransport {
	t := &countingTransport{inner: inner, streams: make(chan net.Conn), done: make(chan struct{})}
	// Accepted streams pass through a relay that wraps them: memberlist
	// reads StreamCh, the inner transport writes to its own.
	t.relay.Go(func() {
		for {
			select {
			case c := <-inner.StreamCh():
				select {
				case t.streams <- &countingConn{Conn: c, sent: &t.sent}:
				case <-t.done:
					_ = c.Close()
					return
				}
			case <-t.done:
				return
			}
		}
	})
	return t
}

// BytesSent is the total sent so far.
func (t *countingTransport) BytesSent() uint64 { return t.sent.Load() }

func (t *countingTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	return t.inner.FinalAdvertiseAddr(ip, port)
}

func (t *countingTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	at, err := t.inner.WriteTo(b, addr)
	if err == nil {
		t.sent.Add(uint64(len(b)))
	}
	return at, err
}

func (t *countingTransport) WriteToAddress(b []byte, addr memberlist.Address) (time.Time, error) {
	at, err := t.inner.WriteToAddress(b, addr)
	if err == nil {
		t.sent.Add(uint64(len(b)))
	}
	return at, err
}

func (t *countingTransport) PacketCh() <-chan *memberlist.Packet { return t.inner.PacketCh() }

func (t *countingTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.count(t.inner.DialTimeout(addr, timeout))
}

func (t *countingTransport) DialAddressTimeout(addr memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.count(t.inner.DialAddressTimeout(addr, timeout))
}

func (t *countingTransport) count(c net.Conn, err error) (net.Conn, error) {
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, sent: &t.sent}, nil
}

func (t *countingTransport) StreamCh() <-chan net.Conn { return t.streams }

// Shutdown closes the listeners first (NetTransport waits for its accept
// loop, which may be blocked handing a connection to the relay, so the
// relay must still run), then stops the relay.
func (t *countingTransport) Shutdown() error {
	var err error
	t.stopOnce.Do(func() {
		stopped := make(chan error, 1)
		go func() { stopped <- t.inner.Shutdown() }()
		// Drain what the accept loop still hands over until it is down.
		for {
			select {
			case err = <-stopped:
				close(t.done)
				t.relay.Wait()
				return
			case c := <-t.streams:
				_ = c.Close()
			}
		}
	})
	return err
}

// countingConn counts the bytes written on a TCP stream.
type countingConn struct {
	net.Conn
	sent *atomic.Uint64
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.sent.Add(uint64(n))
	return n, err
}
