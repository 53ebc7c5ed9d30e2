// Package engine is Telepathine's gossip engine: peers replicate their
// per-peer key/value state with scuttlebutt anti-entropy, detect failures
// with a phi accrual detector, and carry a distributed event bus (say, hear,
// ask) on the same packets, over UDP and TCP.
//
// A Peer owns its state; everything it learns arrives as local events that
// handlers subscribe to by pattern (see On). The protocol itself lives in the
// sub-packages: state (reconciliation), failure (phi accrual), wire (codec),
// transport (UDP/TCP and in-memory) and bus (local subscriptions).
package engine

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/telepathine/telepathine/engine/clock"
	"github.com/telepathine/telepathine/engine/internal/bus"
	"github.com/telepathine/telepathine/engine/internal/failure"
	"github.com/telepathine/telepathine/engine/internal/state"
	"github.com/telepathine/telepathine/engine/internal/wire"
	"github.com/telepathine/telepathine/engine/transport"
)

type status int

const (
	statusNew status = iota
	statusRunning
	statusStopped
	statusClosed
)

// Peer is one member of a cluster. All methods are safe for concurrent use.
type Peer struct {
	cfg Config
	clk clock.Clock
	log *slog.Logger
	bus *bus.Bus[*Event]

	// lifeMu serialises Start, Stop and Close; mu guards everything below.
	lifeMu sync.Mutex
	mu     sync.Mutex

	status  status
	id      state.NodeID
	st      *state.Cluster
	members map[string]*member
	rng     *rand.Rand
	tr      transport.Transport
	seeds   map[string]bool
	// sess is the running incarnation's identity and transport, read
	// without mu by the send path.
	sess      atomic.Pointer[session]
	boundAddr string

	round     uint64
	lastBeat  time.Time
	lastNews  time.Time // last change learnt or made: gossip at full fanout until QuietAfter later
	needFull  bool
	followups map[string]int

	pushQ     []pushItem
	pushBytes int
	roundQ    []pushItem

	asks     map[uint64]*askWait // by version of the ask entry
	heard    map[uint64]*heardAsk
	nextAsk  uint64
	lastWarn time.Time

	stop chan struct{}
	kick chan struct{}
	wg   sync.WaitGroup

	stats counters
}

type session struct {
	id state.NodeID
	tr transport.Transport
}

// member is what the local peer thinks of another peer's liveness.
type member struct {
	fd        *failure.Detector
	alive     bool
	deadSince time.Time
}

// New creates a peer from cfg (zero fields take LAN defaults). It binds
// nothing until Start.
func New(cfg Config) (*Peer, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	p := &Peer{
		cfg:     cfg,
		clk:     cfg.Clock,
		log:     cfg.Logger,
		bus:     bus.New(cfg.HandlerQueue, cfg.Logger, topicOf),
		members: make(map[string]*member),
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		seeds:   make(map[string]bool),
		asks:    make(map[uint64]*askWait),
		heard:   make(map[uint64]*heardAsk),
	}
	for _, s := range cfg.Seeds {
		p.seeds[s] = true
	}
	return p, nil
}

// Start binds the transport, joins the cluster through the seeds and starts
// gossiping. A stopped peer can be started again: it comes back as a new
// generation, republishing its own keys, so its fresh values win everywhere.
func (p *Peer) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.lifeMu.Lock()
	defer p.lifeMu.Unlock()
	p.mu.Lock()
	switch p.status {
	case statusRunning:
		p.mu.Unlock()
		return ErrRunning
	case statusClosed:
		p.mu.Unlock()
		return ErrClosed
	}
	restart := p.status == statusStopped
	p.mu.Unlock()

	tr, err := p.openTransport(restart)
	if err != nil {
		return err
	}
	advertise := p.cfg.AdvertiseAddr
	if advertise == "" {
		if advertise, err = advertiseFor(tr.Addr()); err != nil {
			_ = tr.Close()
			return err
		}
	}
	now := p.clk.Now()
	p.mu.Lock()
	gen := p.cfg.Generation
	if gen == 0 || restart {
		gen = uint64(now.UnixNano())
	}
	if restart && gen <= p.id.Generation {
		gen = p.id.Generation + 1
	}
	name := p.id.Name
	if name == "" {
		name = p.cfg.Name
	}
	if name == "" {
		name = advertise
	}
	p.id = state.NodeID{Name: name, Generation: gen, Addr: advertise}
	if p.st != nil {
		// A restart, or values set before the first start: republish the
		// local keys under this incarnation.
		p.st.Restart(p.id, now.UnixMilli())
		for _, m := range p.members {
			m.fd.Reset()
			m.alive = false
			m.deadSince = now
		}
	} else {
		p.st = state.NewCluster(p.id, state.Limits{
			MaxKey: p.cfg.MaxKeySize, MaxValue: p.cfg.MaxValueSize, MaxNodes: p.cfg.MaxPeers,
			MaxPend: 256, PendingMS: (10 * p.cfg.GossipInterval).Milliseconds(),
		})
	}
	delete(p.seeds, advertise)
	p.tr = tr
	p.sess.Store(&session{id: p.id, tr: tr})
	p.lastBeat = now
	p.lastNews = now
	p.needFull = true
	p.stop = make(chan struct{})
	p.kick = make(chan struct{}, 1)
	p.status = statusRunning
	p.emit(newEvent(KindStart, name, "", Value{}, 0, nil))
	p.mu.Unlock()

	if err := tr.Start(p.onPacket); err != nil {
		p.mu.Lock()
		p.status = statusStopped
		p.mu.Unlock()
		_ = tr.Close()
		return err
	}
	if !p.cfg.manual {
		p.wg.Add(2)
		go p.gossipLoop(p.stop)
		go p.pushLoop(p.stop)
	}
	p.log.Info("peer started", "name", name, "addr", advertise, "generation", gen, "cluster", p.cfg.Cluster)
	return nil
}

func (p *Peer) openTransport(restart bool) (transport.Transport, error) {
	if p.cfg.Transport != nil {
		return p.cfg.Transport()
	}
	bind := p.cfg.BindAddr
	if restart && p.tr != nil {
		// Come back on the same port, so the name and address peers know
		// stay valid.
		bind = p.boundAddr
	}
	tr, err := transport.NewNet(transport.Config{
		BindAddr: bind, Mode: p.cfg.TransportMode, MTU: p.cfg.MTU,
		MaxFrame: p.cfg.MaxPacketSize, Logger: p.log,
	})
	if err != nil {
		return nil, fmt.Errorf("telepathine: bind %s: %w", bind, err)
	}
	p.boundAddr = tr.Addr()
	return tr, nil
}

// Stop leaves the cluster: gossip stops, sockets close, and the other peers
// declare this one dead once their failure detectors notice. State and
// subscriptions are kept; Start brings the peer back. Safe to call twice.
func (p *Peer) Stop(ctx context.Context) error {
	p.lifeMu.Lock()
	defer p.lifeMu.Unlock()
	return p.stopLocked()
}

func (p *Peer) stopLocked() error {
	p.mu.Lock()
	if p.status != statusRunning {
		p.mu.Unlock()
		return nil
	}
	p.status = statusStopped
	close(p.stop)
	tr := p.tr
	for _, a := range p.asks {
		a.finish()
	}
	p.mu.Unlock()
	p.wg.Wait()
	err := tr.Close()
	p.mu.Lock()
	p.emit(newEvent(KindStop, p.id.Name, "", Value{}, 0, nil))
	p.mu.Unlock()
	p.log.Info("peer stopped", "name", p.id.Name)
	return err
}

// Close stops the peer if needed and ends every subscription and stream:
// no handler call starts after it returns; one already running finishes
// (each Subscription's Done tells when). Safe to call twice, from a handler
// too; a closed peer cannot be restarted.
func (p *Peer) Close() error {
	p.lifeMu.Lock()
	defer p.lifeMu.Unlock()
	err := p.stopLocked()
	p.mu.Lock()
	p.status = statusClosed
	p.mu.Unlock()
	p.bus.Close()
	return err
}

// Name returns the peer's name (set once the peer has started).
func (p *Peer) Name() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.id.Name == "" {
		return p.cfg.Name
	}
	return p.id.Name
}

// Addr returns the advertised address (set once the peer has started).
func (p *Peer) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.id.Addr
}

// Generation returns the current incarnation's generation.
func (p *Peer) Generation() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.id.Generation
}

// Running reports whether the peer is started.
func (p *Peer) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status == statusRunning
}

// Config returns the configuration in effect (defaults filled in).
func (p *Peer) Config() Config { return p.cfg }

func (p *Peer) nowMS() int64 { return p.clk.Now().UnixMilli() }

// emit hands an event to the bus. It is called with mu held, so events reach
// subscribers in the order the state changed.
func (p *Peer) emit(e *Event) { p.bus.Emit(e) }

// send encodes and sends a packet; it must be called without mu held (the
// in-memory transport may deliver synchronously into another peer).
func (p *Peer) send(addr string, pk *wire.Packet) {
	s := p.sess.Load()
	pk.Cluster = p.cfg.Cluster
	pk.Sender = s.id
	b, err := wire.Encode(pk)
	if err != nil {
		p.stats.encodeErrors.Add(1)
		p.log.Error("encode failed", "type", pk.Type, "err", err)
		return
	}
	if len(b) > p.cfg.MaxPacketSize {
		p.stats.oversizedOut.Add(1)
		return
	}
	p.stats.sent[pk.Type].Add(1)
	if err := s.tr.Send(addr, b); err != nil {
		p.stats.sendErrors.Add(1)
	}
}
