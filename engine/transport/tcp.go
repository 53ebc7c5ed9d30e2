package transport

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"time"

	"golang.org/x/sync/semaphore"
)

// TCP buffer sizes. The writer's buffer lets a burst of small frames leave in
// one write; frames larger than it bypass it. The reader's buffer does the
// same for reads.
const (
	writeBufferSize = 32 << 10
	readBufferSize  = 32 << 10
	// readChunk is the step by which a large incoming frame is read: each
	// step must arrive within FrameTimeout, so a slow but live peer keeps
	// its connection while a stalled one loses it.
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

// inbound bounds what strangers can make us hold through inbound TCP: how
// many connections, and how many frame bytes being read at once.
type inbound struct {
	conns *semaphore.Weighted // one unit per open inbound connection
	bytes *semaphore.Weighted // frame bytes reserved, MaxBufferedBytes in all
}

func newInbound(cfg Config) inbound {
	return inbound{
		conns: semaphore.NewWeighted(int64(cfg.MaxInboundConns)),
		bytes: semaphore.NewWeighted(cfg.MaxBufferedBytes),
	}
}

// reserve takes size bytes of the frame budget, waiting at most FrameTimeout
// for other frames to finish; false means the frame is refused.
func (n *Net) reserve(size int64) bool {
	if n.in.bytes.TryAcquire(size) {
		return true
	}
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.FrameTimeout)
	defer cancel()
	return n.in.bytes.Acquire(ctx, size) == nil
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
		if !n.in.conns.TryAcquire(1) {
			// Closed at once: an idle or half-open connection would
			// otherwise hold a descriptor and a goroutine for IdleTimeout.
			c.Close()
			n.stats.inboundRefused.Add(1)
			n.cfg.Logger.Debug("transport: inbound connection refused", "from", c.RemoteAddr(), "max", n.cfg.MaxInboundConns)
			continue
		}
		if !n.adopt(c, func() {
			defer n.in.conns.Release(1)
			n.readFrames(c)
		}) {
			n.in.conns.Release(1)
			return
		}
	}
}

// readFrames is the reader of one inbound connection: it hands each frame to
// the handler in order, and closes the connection on a bad length prefix, an
// I/O error, IdleTimeout without a byte between frames, a frame stalled for
// FrameTimeout, or a frame that cannot reserve its bytes in time.
func (n *Net) readFrames(c net.Conn) {
	defer n.release(c)
	from := c.RemoteAddr().String()
	var (
		br  io.Reader = c // buffered from the first frame on, see below
		hdr [FrameHeader]byte
	)
	for {
		if err := c.SetReadDeadline(time.Now().Add(n.cfg.IdleTimeout)); err != nil {
			return
		}
		if _, err := io.ReadFull(br, hdr[:1]); err != nil {
			n.logReadErr(from, err)
			return
		}
		if _, ok := br.(*bufio.Reader); !ok {
			// The read buffer is allocated once a frame begins, so that
			// connections that never send cost no 32 KiB each.
			br = bufio.NewReaderSize(c, readBufferSize)
		}
		// The frame began: the rest must keep coming.
		if err := c.SetReadDeadline(time.Now().Add(n.cfg.FrameTimeout)); err != nil {
			return
		}
		if _, err := io.ReadFull(br, hdr[1:]); err != nil {
			n.frameReadErr(from, err)
			return
		}
		size := binary.BigEndian.Uint32(hdr[:])
		if size == 0 || uint64(size) > uint64(n.cfg.MaxFrame) {
			n.stats.badFrames.Add(1)
			n.cfg.Logger.Debug("transport: bad frame length", "from", from, "len", size)
			return
		}
		if !n.reserve(int64(size)) {
			if n.ctx.Err() == nil {
				n.stats.framesRefused.Add(1)
				n.cfg.Logger.Debug("transport: frame refused, buffer budget exhausted", "from", from, "len", size)
			}
			return
		}
		data, err := readBody(c, br.(*bufio.Reader), int(size), n.cfg.FrameTimeout)
		if err != nil {
			n.in.bytes.Release(int64(size))
			n.frameReadErr(from, err)
			return
		}
		n.stats.received(true, len(data))
		n.handler(Packet{Data: data, From: from, Stream: true})
		// Released only now: the handler decodes the frame, so until it
		// returns the bytes are still ours to account for.
		n.in.bytes.Release(int64(size))
	}
}

// frameReadErr counts a frame that stalled half-sent, then logs as usual.
func (n *Net) frameReadErr(from string, err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) && !n.closed.Load() {
		n.stats.frameTimeouts.Add(1)
	}
	n.logReadErr(from, err)
}

// readBody reads a frame body of size bytes into a new slice. The slice is
// allocated whole: its size was reserved from MaxBufferedBytes, which bounds
// the memory of all frames in flight, and growing it as bytes arrive would
// cost up to one and a half times the frame at each doubling. Each readChunk
// must arrive within idle, so a trickling peer cannot hold the budget.
func readBody(c net.Conn, br *bufio.Reader, size int, idle time.Duration) ([]byte, error) {
	data := make([]byte, size)
	for off := 0; off < size; {
		step := min(size-off, readChunk)
		if err := c.SetReadDeadline(time.Now().Add(idle)); err != nil {
			return nil, err
		}
		if _, err := io.ReadFull(br, data[off:off+step]); err != nil {
			return nil, err
		}
		off += step
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
