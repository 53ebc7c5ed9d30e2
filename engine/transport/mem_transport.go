package transport

import (
	"errors"
	"sync"
	"sync/atomic"
)

// MemTransport is one endpoint of a MemNetwork; it implements Transport.
//
// In asynchronous mode (the default) one inbox goroutine per endpoint calls
// the handler, one packet at a time, in arrival order. In Sync mode the
// handler runs on the goroutine of whoever sent the packet, inside Send, or
// concurrently when several goroutines send.
//
// Stats count as Net's would: the sender counts a UDP packet or a TCP frame
// as sent even if nobody receives it (the sender cannot know), and the
// receiver counts it received just before its handler runs. Dropped also
// counts, on the sender, packets the network lost or partitioned away and,
// on the receiver, packets its full inbox refused.
type MemTransport struct {
	net   *MemNetwork
	addr  string
	mode  Mode
	stats counters

	closed atomic.Bool // fast path for Send

	mu       sync.Mutex
	started  bool
	isClosed bool
	handler  Handler
	inbox    []Packet      // asynchronous mode: waiting for the inbox goroutine
	wake     chan struct{} // a packet was added to inbox
	done     chan struct{} // closed by Close
	// wg counts the inbox goroutine and, in Sync mode, handler calls in
	// progress; Add happens under mu while not closed.
	wg sync.WaitGroup
}

var _ Transport = (*MemTransport)(nil)

// Start registers the endpoint under its address, so packets sent to it from
// now on arrive, and starts delivering them to h. It fails with ErrStarted
// when called twice, ErrClosed after Close, and an error while another open
// endpoint holds the address.
func (t *MemTransport) Start(h Handler) error {
	if h == nil {
		return errors.New("transport: nil handler")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.isClosed:
		return ErrClosed
	case t.started:
		return ErrStarted
	}
	if err := t.net.register(t); err != nil {
		return err
	}
	t.started = true
	t.handler = h
	if !t.net.sync {
		t.wg.Add(1)
		go t.deliverLoop()
	}
	return nil
}

// Addr returns the address the endpoint was created with; it is valid
// before Start.
func (t *MemTransport) Addr() string { return t.addr }

// Stats returns the endpoint's counters.
func (t *MemTransport) Stats() Stats { return t.stats.snapshot() }

// Send routes data through the network's faults to the endpoint at addr. It
// never blocks on the receiver in asynchronous mode; in Sync mode it returns
// after the receiver's handler did. A packet to an address with no started
// endpoint is silently lost, as UDP to nowhere would be. Errors: ErrClosed,
// ErrEmpty, ErrTooLarge (the latter two counted in Stats.Dropped). Send may
// be called before Start.
func (t *MemTransport) Send(addr string, data []byte) error {
	if t.closed.Load() {
		return ErrClosed
	}
	n := t.net
	switch {
	case len(data) == 0:
		t.stats.dropped.Add(1)
		return ErrEmpty
	case len(data) > n.maxFrame:
		t.stats.dropped.Add(1)
		return ErrTooLarge
	}
	stream := t.mode == TCPOnly || len(data) > n.mtu
	t.stats.sent(stream, len(data))
	n.route(t, addr, data, stream)
	return nil
}

// Close unregisters the endpoint, drops its undelivered packets and waits
// for the inbox goroutine and, in Sync mode, for handler calls in progress.
// Once it returns the handler is not called again and Send returns
// ErrClosed. Calling it again is harmless. Calling it from the endpoint's
// own handler deadlocks, and so, in Sync mode, does calling it from any
// handler the endpoint's handler led to.
func (t *MemTransport) Close() error {
	t.mu.Lock()
	first := !t.isClosed
	t.isClosed = true
	t.closed.Store(true)
	t.inbox = nil
	started := t.started
	t.mu.Unlock()
	if first {
		if started {
			t.net.unregister(t)
		}
		close(t.done)
	}
	t.wg.Wait()
	return nil
}

// enqueue adds p to the inbox (asynchronous mode).
func (t *MemTransport) enqueue(p Packet) {
	n := t.net
	t.mu.Lock()
	switch {
	case t.isClosed:
		t.mu.Unlock()
		n.unreachable.Add(1)
		return
	case len(t.inbox) >= n.inboxLen:
		t.mu.Unlock()
		n.overflowed.Add(1)
		t.stats.dropped.Add(1)
		return
	}
	t.inbox = append(t.inbox, p)
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// deliverLoop is the inbox goroutine of an asynchronous endpoint.
func (t *MemTransport) deliverLoop() {
	defer t.wg.Done()
	var batch []Packet
	for {
		select {
		case <-t.done:
			return
		case <-t.wake:
		}
		for {
			// Swap the inbox for the spent batch so that senders append
			// while the handler runs, without a lock held.
			t.mu.Lock()
			batch, t.inbox = t.inbox, batch[:0]
			t.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			for i := range batch {
				select {
				case <-t.done:
					return
				default:
				}
				p := batch[i]
				batch[i] = Packet{} // the handler owns Data now
				t.deliver(p)
			}
		}
	}
}

// deliverSync calls the handler on the sender's goroutine (Sync mode).
func (t *MemTransport) deliverSync(p Packet) {
	t.mu.Lock()
	if t.isClosed {
		t.mu.Unlock()
		t.net.unreachable.Add(1)
		return
	}
	t.wg.Add(1)
	t.mu.Unlock()
	defer t.wg.Done()
	t.deliver(p)
}

func (t *MemTransport) deliver(p Packet) {
	t.stats.received(p.Stream, len(p.Data))
	t.handler(p)
	t.net.delivered.Add(1)
}
