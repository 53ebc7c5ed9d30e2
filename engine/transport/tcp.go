package transport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"time"
)

// TCP buffer sizes. The writer's buffer lets a burst of small frames leave in
// one write; frames larger than it bypass it. The reader's buffer does the
// same for reads.
const (
	writeBufferSize = 32 << 10
	readBufferSize  = 32 << 10
	// readChunk is the step by which a large incoming frame's buffer grows as
	// its bytes actually arrive, so that a length prefix alone (up to
	// MaxFrame) reserves no memory, and the idle deadline is renewed while a
	// slow but live peer trickles a big frame.
	readChunk = 64 << 10
	// maxBurst bounds the frames written between two flushes, so that the
	// sent counters and the reaction to Close or a hang-up never lag behind
	// a sender that keeps the queue full.
	maxBurst = 128
)

// outConn is the queue and writer goroutine for one destination. The writer
// owns the connection: it dials when a frame arrives and nothing is
// connected, and it closes the connection on error, when the peer hangs up
// and after IdleTimeout without frames. It exits, removing itself from
// Net.out, once idle and unconnected, so a departed peer costs nothing.
type outConn struct {
	n     *Net
	addr  string
	queue chan []byte
}

// sendTCP queues data for the writer of addr, starting one if needed.
func (n *Net) sendTCP(addr string, data []byte) error {
	n.mu.RLock()
	if n.isClosed {
		n.mu.RUnlock()
		return ErrClosed
	}
	o := n.out[addr]
	if o != nil {
		// Queueing under the read lock excludes the writer's retire check,
		// which takes the write lock: a frame is never left in the queue of
		// a writer that is exiting.
		err := o.enqueue(data)
		n.mu.RUnlock()
		return err
	}
	n.mu.RUnlock()

	if _, _, err := splitAddr(addr); err != nil {
		n.stats.dropped.Add(1)
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.isClosed {
		return ErrClosed
	}
	o = n.out[addr]
	if o == nil {
		o = &outConn{n: n, addr: addr, queue: make(chan []byte, n.cfg.QueueLen)}
		n.out[addr] = o
		n.wg.Add(1)
		go o.run()
	}
	return o.enqueue(data)
}

func (o *outConn) enqueue(data []byte) error {
	select {
	case o.queue <- data:
		return nil
	default:
		o.n.stats.dropped.Add(1)
		return ErrQueueFull
	}
}

// retire removes the writer from Net.out if its queue is empty; it reports
// whether the writer must exit.
func (o *outConn) retire() bool {
	n := o.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(o.queue) > 0 {
		return false
	}
	delete(n.out, o.addr)
	return true
}

// discard empties the queue after a failure or on Close, counting each frame
// as a send error: a dead peer should not cost every queued frame its own
// DialTimeout or WriteTimeout.
func (o *outConn) discard() {
	for {
		select {
		case <-o.queue:
			o.n.stats.sendErrors.Add(1)
		default:
			return
		}
	}
}

func (o *outConn) run() {
	n := o.n
	defer n.wg.Done()
	var (
		conn net.Conn
		bw   *bufio.Writer
		hung <-chan struct{} // closed by the watcher when the peer hangs up
		// Frames written into bw since the last successful flush: they are
		// counted sent only once flushed, and failed if the flush fails.
		pending, pendingBytes uint64
	)
	hangUp := func() {
		if conn != nil {
			n.release(conn)
			conn, hung = nil, nil
		}
	}
	fail := func(err error, frames uint64) {
		n.cfg.Logger.Debug("transport: tcp send", "to", o.addr, "err", err)
		n.stats.sendErrors.Add(frames + pending)
		pending, pendingBytes = 0, 0
		hangUp()
		o.discard()
	}
	idle := time.NewTimer(n.cfg.IdleTimeout)
	defer idle.Stop()
	for {
		select {
		case <-n.ctx.Done():
			hangUp()
			o.discard()
			return
		case <-hung:
			// The peer closed (idle timeout, restart). Whatever we write now
			// would be lost, so reconnect for the next frame instead.
			hangUp()
		case <-idle.C:
			if o.retire() {
				hangUp()
				return
			}
			idle.Reset(n.cfg.IdleTimeout)
		case data := <-o.queue:
			select {
			case <-hung: // the peer left while we waited: do not write into the void
				hangUp()
			default:
			}
			if conn == nil {
				c, err := n.dialer.DialContext(n.ctx, "tcp", o.addr)
				if err != nil {
					fail(err, 1)
					idle.Reset(n.cfg.IdleTimeout)
					continue
				}
				dead := make(chan struct{})
				if !n.adopt(c, func() { watch(c, dead) }) {
					n.stats.sendErrors.Add(1)
					continue // closing: the ctx case ends the loop
				}
				conn, hung = c, dead
				if bw == nil {
					bw = bufio.NewWriterSize(c, writeBufferSize)
				} else {
					bw.Reset(c)
				}
			}
			// Write this frame and whatever else is queued, flushing when
			// the queue runs dry (or every maxBurst frames) so that bursts
			// coalesce into few writes.
			for {
				if err := writeFrame(conn, bw, data, n.cfg.WriteTimeout); err != nil {
					fail(err, 1)
					break
				}
				pending++
				pendingBytes += uint64(len(data))
				if pending < maxBurst {
					select {
					case data = <-o.queue:
						continue
					default:
					}
				}
				if err := bw.Flush(); err != nil {
					fail(err, 0)
					break
				}
				n.stats.tcpFramesSent.Add(pending)
				n.stats.tcpBytesSent.Add(pendingBytes)
				pending, pendingBytes = 0, 0
				break
			}
			idle.Reset(n.cfg.IdleTimeout)
		}
	}
}

// writeFrame buffers one length-prefixed frame. The deadline is renewed per
// frame, so it bounds each frame rather than the life of the connection, and
// covers the writes bw makes on the frame's behalf, including the flush.
func writeFrame(conn net.Conn, bw *bufio.Writer, data []byte, timeout time.Duration) error {
	if err := conn.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := bw.Write(binary.BigEndian.AppendUint32(bw.AvailableBuffer(), uint32(len(data)))); err != nil {
		return err
	}
	_, err := bw.Write(data)
	return err
}

// watch reads from an outbound connection, which the peer never writes to,
// only to learn when the peer closes it; it then closes dead. It ends when
// the writer closes the connection.
func watch(c net.Conn, dead chan<- struct{}) {
	defer close(dead)
	var buf [64]byte
	for {
		if _, err := c.Read(buf[:]); err != nil {
			return
		}
	}
}

// acceptTCP is the accept loop; each inbound connection gets a reader.
func (n *Net) acceptTCP() {
	defer n.wg.Done()
	var delay time.Duration
	for {
		c, err := n.tcpLn.AcceptTCP()
		if err != nil {
			if n.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			n.cfg.Logger.Warn("transport: tcp accept", "err", err)
			if !n.backoff(&delay) {
				return
			}
			continue
		}
		delay = 0
		if !n.adopt(c, func() { n.readFrames(c) }) {
			return
		}
	}
}

// readFrames is the reader of one inbound connection: it hands each frame to
// the handler in order, and closes the connection on a bad length prefix, an
// I/O error, or IdleTimeout without a byte.
func (n *Net) readFrames(c net.Conn) {
	defer n.release(c)
	from := c.RemoteAddr().String()
	br := bufio.NewReaderSize(c, readBufferSize)
	var hdr [FrameHeader]byte
	for {
		if err := c.SetReadDeadline(time.Now().Add(n.cfg.IdleTimeout)); err != nil {
			return
		}
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			n.logReadErr(from, err)
			return
		}
		size := binary.BigEndian.Uint32(hdr[:])
		if size == 0 || uint64(size) > uint64(n.cfg.MaxFrame) {
			n.stats.badFrames.Add(1)
			n.cfg.Logger.Debug("transport: bad frame length", "from", from, "len", size)
			return
		}
		data, err := readBody(c, br, int(size), n.cfg.IdleTimeout)
		if err != nil {
			n.logReadErr(from, err)
			return
		}
		n.stats.received(true, len(data))
		n.handler(Packet{Data: data, From: from, Stream: true})
	}
}

// readBody reads a frame body of size bytes into a new slice, growing it
// only as fast as the bytes come in.
func readBody(c net.Conn, br *bufio.Reader, size int, idle time.Duration) ([]byte, error) {
	if size <= readChunk {
		data := make([]byte, size)
		_, err := io.ReadFull(br, data)
		return data, err
	}
	data := make([]byte, 0, readChunk)
	for len(data) < size {
		// Double what arrived so far: the copies cost at most the frame's
		// size again, and the buffer never exceeds twice what was received.
		step := min(size-len(data), max(len(data), readChunk))
		data = slices.Grow(data, step)
		if err := c.SetReadDeadline(time.Now().Add(idle)); err != nil {
			return nil, err
		}
		if _, err := io.ReadFull(br, data[len(data):len(data)+step]); err != nil {
			return nil, err
		}
		data = data[:len(data)+step]
	}
	return data, nil
}

func (n *Net) logReadErr(from string, err error) {
	switch {
	case n.closed.Load(), errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
	case errors.Is(err, os.ErrDeadlineExceeded):
		n.cfg.Logger.Debug("transport: idle connection closed", "from", from)
	default:
		n.cfg.Logger.Debug("transport: tcp read", "from", from, "err", err)
	}
}
