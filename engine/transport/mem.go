package transport

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/telepathine/telepathine/engine/clock"
)

// DefaultInboxLen bounds the packets waiting in one in-memory endpoint's
// inbox. It only matters when a handler stalls: a healthy test never comes
// near it, and a stuck one should not eat the machine's memory.
const DefaultInboxLen = 1 << 16

// MemOptions configures a MemNetwork. Zero values mean the default. The
// fault fields set the initial faults; the MemNetwork setters change them
// later.
type MemOptions struct {
	// MTU is the largest packet that travels as a datagram from an
	// UDPPreferred endpoint. Default DefaultMTU.
	MTU int
	// MaxFrame is the largest packet accepted by Send. Default DefaultMaxFrame.
	MaxFrame int
	// Sync delivers each packet on the sender's goroutine, inside Send, for
	// deterministic simulations. It cannot be combined with a delay. A
	// handler that sends therefore re-enters other handlers recursively.
	Sync bool
	// Clock times delays. With a clock.Manual, delayed packets arrive inside
	// Advance. Default clock.Real{}.
	Clock clock.Clock
	// Seed seeds the random source of loss, duplication and delay (zero is a
	// seed like any other). Runs repeat exactly when the sends happen in the
	// same order, which Sync with a manual clock guarantees.
	Seed int64
	// InboxLen bounds each endpoint's inbox in asynchronous mode; packets
	// past it are dropped and counted in MemStats.Overflowed and in the
	// receiver's Stats.Dropped. Default DefaultInboxLen.
	InboxLen int
	// Loss is the probability that a datagram is lost. Frames are reliable.
	Loss float64
	// Duplicate is the probability that a datagram arrives twice.
	Duplicate float64
	// MinDelay and MaxDelay bound the delay of every packet: fixed when
	// MaxDelay <= MinDelay, uniform in [MinDelay, MaxDelay] otherwise.
	MinDelay, MaxDelay time.Duration
}

// MemStats counts what a MemNetwork did with packets. All fields only grow.
type MemStats struct {
	// Delivered counts packets whose handler call returned.
	Delivered uint64
	// Lost counts datagrams dropped by the loss probability.
	Lost uint64
	// Duplicated counts extra copies made by the duplication probability.
	Duplicated uint64
	// PartitionDropped counts packets stopped by Partition, Cut or Isolate.
	PartitionDropped uint64
	// Unreachable counts packets addressed to no started endpoint, or to one
	// that closed before the packet arrived.
	Unreachable uint64
	// Overflowed counts packets dropped because the receiver's inbox was full.
	Overflowed uint64
}

// MemNetwork connects in-memory endpoints and injects faults between them.
// All methods are safe for concurrent use, including while packets flow.
//
// It imitates the network transport: each endpoint has a Mode, packets up to
// the MTU from an UDPPreferred endpoint are datagrams (which may be lost,
// duplicated and, with a random delay, reordered) and everything else is a
// frame (reliable and in order per sender and receiver, like a TCP
// connection). Both endpoints count Stats exactly as Net would, and every
// delivered packet is a fresh copy, so sender and receiver never share
// memory.
//
// Partitions are checked when a packet is sent: a packet already in flight
// when a partition starts still arrives, as it would on a real network.
type MemNetwork struct {
	mtu, maxFrame, inboxLen int
	sync                    bool
	clock                   clock.Clock

	mu  sync.RWMutex
	eps map[string]*MemTransport // started, not closed

	fmu                sync.RWMutex // faults
	loss, dup          float64
	minDelay, maxDelay time.Duration
	groups             map[string]int
	cuts               map[[2]string]struct{} // sorted pairs
	isolated           map[string]struct{}

	rmu sync.Mutex
	rng *rand.Rand

	// links keeps the ordered, delayed traffic of one sender and receiver
	// while some of it is in flight; an idle link is deleted.
	lmu   sync.Mutex
	links map[linkKey]*memLink

	delivered, lost, duplicated, partitioned, unreachable, overflowed atomic.Uint64
}

// NewMemNetwork returns an empty network. It panics on options that make no
// sense (probabilities outside [0, 1], negative sizes or delays, Sync with a
// delay): they are programming errors in a test.
func NewMemNetwork(opts MemOptions) *MemNetwork {
	mustNotNegative("MTU", opts.MTU)
	mustNotNegative("MaxFrame", opts.MaxFrame)
	mustNotNegative("InboxLen", opts.InboxLen)
	n := &MemNetwork{
		mtu:      orDefault(opts.MTU, DefaultMTU),
		maxFrame: orDefault(opts.MaxFrame, DefaultMaxFrame),
		inboxLen: orDefault(opts.InboxLen, DefaultInboxLen),
		sync:     opts.Sync,
		clock:    opts.Clock,
		eps:      make(map[string]*MemTransport),
		groups:   make(map[string]int),
		cuts:     make(map[[2]string]struct{}),
		isolated: make(map[string]struct{}),
		links:    make(map[linkKey]*memLink),
		rng:      rand.New(rand.NewPCG(uint64(opts.Seed), 0x7e1e9a7)),
	}
	if n.clock == nil {
		n.clock = clock.Real{}
	}
	n.SetLoss(opts.Loss)
	n.SetDuplicate(opts.Duplicate)
	n.SetDelayRange(opts.MinDelay, max(opts.MinDelay, opts.MaxDelay))
	return n
}

// Endpoint returns a new, unstarted endpoint with address addr (any string)
// and mode. It receives only once started; Start fails while another open
// endpoint holds addr, and a closed endpoint's address can be taken again,
// which simulates a restart.
func (n *MemNetwork) Endpoint(addr string, mode Mode) *MemTransport {
	switch mode {
	case UDPPreferred, TCPOnly:
	default:
		panic(fmt.Sprintf("transport: unknown mode %d", int(mode)))
	}
	return &MemTransport{
		net:  n,
		addr: addr,
		mode: mode,
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
}

// Stats returns the network-wide counters.
func (n *MemNetwork) Stats() MemStats {
	return MemStats{
		Delivered:        n.delivered.Load(),
		Lost:             n.lost.Load(),
		Duplicated:       n.duplicated.Load(),
		PartitionDropped: n.partitioned.Load(),
		Unreachable:      n.unreachable.Load(),
		Overflowed:       n.overflowed.Load(),
	}
}

// SetLoss sets the probability in [0, 1] that a datagram is lost.
func (n *MemNetwork) SetLoss(p float64) {
	mustProbability("loss", p)
	n.fmu.Lock()
	n.loss = p
	n.fmu.Unlock()
}

// SetDuplicate sets the probability in [0, 1] that a datagram arrives twice.
func (n *MemNetwork) SetDuplicate(p float64) {
	mustProbability("duplicate", p)
	n.fmu.Lock()
	n.dup = p
	n.fmu.Unlock()
}

// SetDelay delays every packet sent from now on by d.
func (n *MemNetwork) SetDelay(d time.Duration) { n.SetDelayRange(d, d) }

// SetDelayRange delays every packet sent from now on by a uniformly random
// duration in [lo, hi]. A random delay may reorder datagrams; frames keep
// their order, a late frame holding back the ones behind it as TCP would.
// It panics in Sync mode unless both are zero.
func (n *MemNetwork) SetDelayRange(lo, hi time.Duration) {
	if lo < 0 || hi < lo {
		panic(fmt.Sprintf("transport: bad delay range [%v, %v]", lo, hi))
	}
	if n.sync && hi > 0 {
		panic("transport: a Sync MemNetwork cannot delay packets")
	}
	n.fmu.Lock()
	n.minDelay, n.maxDelay = lo, hi
	n.fmu.Unlock()
}

// Partition splits the network: endpoints in different groups cannot reach
// each other, in either direction; an address in no group reaches everyone.
// It replaces the previous partition and leaves cuts and isolations alone.
// Partition() with no groups removes the partition.
func (n *MemNetwork) Partition(groups ...[]string) {
	g := make(map[string]int)
	for i, group := range groups {
		for _, addr := range group {
			g[addr] = i
		}
	}
	n.fmu.Lock()
	n.groups = g
	n.fmu.Unlock()
}

// Cut breaks the link between a and b, in both directions.
func (n *MemNetwork) Cut(a, b string) {
	n.fmu.Lock()
	n.cuts[pair(a, b)] = struct{}{}
	n.fmu.Unlock()
}

// Restore undoes Cut(a, b). It does not override a partition or an isolation.
func (n *MemNetwork) Restore(a, b string) {
	n.fmu.Lock()
	delete(n.cuts, pair(a, b))
	n.fmu.Unlock()
}

// Isolate cuts addr off from every other address, present and future.
func (n *MemNetwork) Isolate(addr string) {
	n.fmu.Lock()
	n.isolated[addr] = struct{}{}
	n.fmu.Unlock()
}

// Heal removes every partition, cut and isolation. Loss, duplication and
// delay are left as they are.
func (n *MemNetwork) Heal() {
	n.fmu.Lock()
	n.groups = make(map[string]int)
	n.cuts = make(map[[2]string]struct{})
	n.isolated = make(map[string]struct{})
	n.fmu.Unlock()
}

// faults is what route needs to know about the current faults for one packet.
type faults struct {
	blocked            bool
	loss, dup          float64
	minDelay, maxDelay time.Duration
}

func (n *MemNetwork) faultsFor(from, to string) faults {
	n.fmu.RLock()
	defer n.fmu.RUnlock()
	f := faults{loss: n.loss, dup: n.dup, minDelay: n.minDelay, maxDelay: n.maxDelay}
	if from == to {
		return f
	}
	_, fromIsolated := n.isolated[from]
	_, toIsolated := n.isolated[to]
	_, cut := n.cuts[pair(from, to)]
	gf, inF := n.groups[from]
	gt, inT := n.groups[to]
	f.blocked = fromIsolated || toIsolated || cut || (inF && inT && gf != gt)
	return f
}

// route decides the fate of one packet and delivers or schedules its copies.
// The sender's own counters have already been updated.
func (n *MemNetwork) route(from *MemTransport, to string, data []byte, stream bool) {
	f := n.faultsFor(from.addr, to)
	if f.blocked {
		n.partitioned.Add(1)
		from.stats.dropped.Add(1)
		return
	}
	n.mu.RLock()
	dst := n.eps[to]
	n.mu.RUnlock()
	if dst == nil {
		n.unreachable.Add(1)
		return
	}
	copies := 1
	if !stream {
		if n.chance(f.loss) {
			n.lost.Add(1)
			from.stats.dropped.Add(1)
			return
		}
		if n.chance(f.dup) {
			copies = 2
			n.duplicated.Add(1)
		}
	}
	for range copies {
		if n.sync {
			n.handOver(from, dst, data, stream)
			continue
		}
		n.schedule(from, dst, data, stream, n.delay(f), f.maxDelay > f.minDelay)
	}
}

func (n *MemNetwork) chance(p float64) bool {
	switch {
	case p <= 0:
		return false
	case p >= 1:
		return true
	}
	n.rmu.Lock()
	defer n.rmu.Unlock()
	return n.rng.Float64() < p
}

func (n *MemNetwork) delay(f faults) time.Duration {
	if f.maxDelay <= f.minDelay {
		return f.minDelay
	}
	n.rmu.Lock()
	defer n.rmu.Unlock()
	return f.minDelay + time.Duration(n.rng.Int64N(int64(f.maxDelay-f.minDelay)+1))
}

// linkKey names the traffic of one sender to one receiver.
type linkKey struct{ from, to *MemTransport }

// memLink holds one link's packets in send order until each one's delay has
// passed; a packet leaves only when every packet before it has left.
type memLink struct {
	mu sync.Mutex
	q  []*flight
}

type flight struct {
	data   []byte
	stream bool
	ready  bool
}

// schedule delivers a packet after d in asynchronous mode. Datagrams with a
// random delay travel independently (and so may overtake each other);
// everything else goes through the link, which keeps send order.
func (n *MemNetwork) schedule(from, dst *MemTransport, data []byte, stream bool, d time.Duration, random bool) {
	if !stream && random {
		n.clock.AfterFunc(d, func() { n.handOver(from, dst, data, stream) })
		return
	}
	key := linkKey{from, dst}
	n.lmu.Lock()
	l := n.links[key]
	if l == nil && d == 0 {
		// Nothing of this link is in flight, so nothing can be overtaken.
		n.lmu.Unlock()
		n.handOver(from, dst, data, stream)
		return
	}
	if l == nil {
		l = &memLink{}
		n.links[key] = l
	}
	l.mu.Lock()
	n.lmu.Unlock()
	f := &flight{data: data, stream: stream, ready: d == 0}
	l.q = append(l.q, f)
	l.mu.Unlock()
	if d > 0 {
		n.clock.AfterFunc(d, func() { n.land(key, l, f) })
	}
}

// land marks f arrived and hands over every packet at the head of the link
// that has arrived, in order. The hand-over happens under the link's lock so
// that two timers firing at once cannot swap packets.
func (n *MemNetwork) land(key linkKey, l *memLink, f *flight) {
	l.mu.Lock()
	f.ready = true
	i := 0
	for ; i < len(l.q) && l.q[i].ready; i++ {
		n.handOver(key.from, key.to, l.q[i].data, l.q[i].stream)
		l.q[i] = nil
	}
	l.q = l.q[i:]
	empty := len(l.q) == 0
	l.mu.Unlock()
	if !empty {
		return
	}
	// Lock order lmu, then l.mu, as in schedule, which may be adding to l.
	n.lmu.Lock()
	l.mu.Lock()
	if len(l.q) == 0 && n.links[key] == l {
		delete(n.links, key)
	}
	l.mu.Unlock()
	n.lmu.Unlock()
}

// handOver gives dst its own copy of the packet.
func (n *MemNetwork) handOver(from, dst *MemTransport, data []byte, stream bool) {
	p := Packet{Data: append([]byte(nil), data...), From: from.addr, Stream: stream}
	if n.sync {
		dst.deliverSync(p)
	} else {
		dst.enqueue(p)
	}
}

func (n *MemNetwork) register(t *MemTransport) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.eps[t.addr] != nil {
		return fmt.Errorf("transport: address %q in use", t.addr)
	}
	n.eps[t.addr] = t
	return nil
}

func (n *MemNetwork) unregister(t *MemTransport) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.eps[t.addr] == t {
		delete(n.eps, t.addr)
	}
}

func pair(a, b string) [2]string {
	if b < a {
		a, b = b, a
	}
	return [2]string{a, b}
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func mustNotNegative(name string, v int) {
	if v < 0 {
		panic(fmt.Sprintf("transport: negative %s %d", name, v))
	}
}

func mustProbability(name string, p float64) {
	if !(p >= 0 && p <= 1) || math.IsNaN(p) {
		panic(fmt.Sprintf("transport: %s probability %v outside [0, 1]", name, p))
	}
}
