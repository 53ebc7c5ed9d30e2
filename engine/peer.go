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

	"github.com/telepathine/telepathine/engine/clock"
	"github.com/telepathine/telepathine/engine/internal/bus"
	"github.com/telepathine/telepathine/engine/internal/incarnation"
	"github.com/telepathine/telepathine/engine/internal/protocol"
	"github.com/telepathine/telepathine/engine/internal/state"
	"github.com/telepathine/telepathine/engine/transport"
)

type status int

const (
	statusNew status = iota
	statusRunning
	statusStopped
	statusClosed
)

// Peer is one member of a cluster: the runtime around the protocol core
// (goroutines, lock, transport, event delivery). All methods are safe for
// concurrent use.
type Peer struct {
	cfg Config
	clk clock.Clock
	log *slog.Logger
	bus *bus.Bus[*Event]
	// emitting is report's scratch list of a packet's events for
	// bus.EmitAll (guarded by mu, like report).
	emitting []*Event

	// lifeMu serialises Start, Stop and Close; mu guards everything below
	// and every call into core.
	lifeMu sync.Mutex
	mu     sync.Mutex

	status status
	core   *protocol.Core
	tr     transport.Transport
	// sess is the running incarnation's transport, read without mu by the
	// send path.
	sess      atomic.Pointer[session]
	boundAddr string
	asks      map[uint64]*askWait // by version of the ask entry

	stop chan struct{}
	kick chan struct{}
	wg   sync.WaitGroup

	stats sendCounters
	// inbox queues received packets for the core (inbox.go).
	inbox inbox
}

type session struct {
	tr transport.Transport
}

// New creates a peer from cfg (zero fields take the defaults documented on
// Config). It binds nothing until Start.
func New(cfg Config) (*Peer, error) {
	cfg = cfg.withDefaults()
	err := cfg.validate()
	if err != nil {
		return nil, err
	}
	seed := cfg.RandSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	pc := cfg.protocol()
	if pc.Trust, err = cfg.trust(); err != nil {
		return nil, err
	}
	if pc.Identity, err = cfg.Identity.protocol(cfg.Name); err != nil {
		return nil, err
	}
	p := &Peer{
		cfg:  cfg,
		clk:  cfg.Clock,
		log:  cfg.Logger,
		bus:  bus.New(cfg.Limits.HandlerQueue, cfg.Logger, topicOf),
		core: protocol.New(pc, rng),
		asks: make(map[uint64]*askWait),
	}
	p.core.SetName(cfg.Name)
	return p, nil
}

// Start binds the transport, joins the cluster through the seeds and starts
// gossiping; "start" is emitted once the transport runs. A stopped peer can
// be started again: it comes back as a new generation, republishing its own
// keys, so its fresh values win everywhere. A failed Start leaves the peer
// as it was. ctx bounds the start (an ended ctx returns its error).
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
	prev := p.core.ID()
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
	if err := ctx.Err(); err != nil {
		_ = tr.Close()
		return err
	}
	now := p.clk.Now()
	gen := p.cfg.Generation
	if gen == 0 || restart {
		// max(now, last persisted + 1): with a StateDir a restart outranks
		// the previous incarnation even after the clock stepped back.
		if gen, err = incarnation.Next(p.cfg.Security.StateDir, now); err != nil {
			_ = tr.Close()
			return fmt.Errorf("telepathine: %w", err)
		}
	}
	if restart && gen <= prev.Generation {
		gen = prev.Generation + 1
	}
	name := prev.Name
	if name == "" {
		name = advertise
	}
	id := state.NodeID{Name: name, Generation: gen, Addr: advertise}

	// The transport starts before the core: packets that arrive before the
	// core runs are dropped by it (and come again), and a transport that
	// fails to start leaves nothing behind.
	p.sess.Store(&session{tr: tr})
	if err := tr.Start(p.onPacket); err != nil {
		p.sess.Store(nil)
		_ = tr.Close()
		return fmt.Errorf("telepathine: start transport: %w", err)
	}
	p.mu.Lock()
	p.core.Start(now, id)
	p.tr = tr
	p.stop = make(chan struct{})
	p.kick = make(chan struct{}, 1)
	p.status = statusRunning
	p.emit(newEvent(KindStart, name, "", Value{}, 0, nil))
	p.mu.Unlock()
	p.wg.Add(2)
	go p.gossipLoop(p.stop)
	go p.pushLoop(p.stop)
	p.startSeeds(p.stop) // seeds.go: DNS seed names
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
		BindAddr: bind, Mode: p.cfg.TransportMode.transport(), MTU: p.cfg.MTU,
		MaxFrame: p.cfg.Limits.PacketSize, Logger: p.log,
	})
	if err != nil {
		return nil, fmt.Errorf("telepathine: bind %s: %w", bind, err)
	}
	p.boundAddr = tr.Addr()
	return tr, nil
}

// Stop leaves the cluster gracefully: the departure is announced to every
// live peer (each reports peer:stop with ReasonLeft at once, and stops
// watching and gossiping with this one), then gossip stops and sockets
// close. ctx bounds the announcement (Liveness.LeaveTimeout when ctx has
// no deadline); an ended ctx skips it, still stops the peer and returns
// ctx's error, and the others then find out through their failure
// detectors. State and subscriptions are kept; Start brings the peer back
// as a new generation, which the others welcome at once. Safe to call twice.
func (p *Peer) Stop(ctx context.Context) error {
	p.lifeMu.Lock()
	defer p.lifeMu.Unlock()
	if err := p.stopLocked(ctx); err != nil {
		return err
	}
	return ctx.Err()
}

func (p *Peer) stopLocked(ctx context.Context) error {
	p.mu.Lock()
	if p.status != statusRunning {
		p.mu.Unlock()
		return nil
	}
	var leave protocol.Output
	if ctx.Err() == nil {
		leave = p.core.Leave(p.clk.Now())
	}
	p.mu.Unlock()
	p.announce(ctx, leave.Packets)
	p.mu.Lock()
	p.status = statusStopped
	close(p.stop)
	tr := p.tr
	p.core.Stop()
	for _, a := range p.asks {
		a.finish()
	}
	p.mu.Unlock()
	p.wg.Wait()
	err := tr.Close()
	p.mu.Lock()
	p.emit(newEvent(KindStop, p.core.ID().Name, "", Value{}, 0, nil))
	p.mu.Unlock()
	p.log.Info("peer stopped", "name", p.core.ID().Name)
	return err
}

// announce sends the leave packets, waiting at most until ctx ends (or
// LeaveTimeout when ctx has no deadline): a blocked send must not hold up
// Stop, and closing the transport afterwards unblocks it.
func (p *Peer) announce(ctx context.Context, pks []protocol.Outgoing) {
	if len(pks) == 0 {
		return
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.cfg.Liveness.LeaveTimeout)
		defer cancel()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.send(pks)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		p.log.Warn("leave announcement cut short", "err", ctx.Err())
	}
}

// Close stops the peer if needed and ends every subscription and stream:
// no handler call starts after it returns; one already running finishes
// (each Subscription's Done tells when). Safe to call twice, from a handler
// too; a closed peer cannot be restarted.
func (p *Peer) Close() error {
	p.lifeMu.Lock()
	defer p.lifeMu.Unlock()
	err := p.stopLocked(context.Background())
	p.mu.Lock()
	p.status = statusClosed
	p.mu.Unlock()
	p.bus.Close()
	return err
}

// Name returns the peer's name (set once the peer has started, unless
// Config.Name set it).
func (p *Peer) Name() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.core.ID().Name
}

// Addr returns the advertised address (set once the peer has started).
func (p *Peer) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.core.ID().Addr
}

// Generation returns the current incarnation's generation.
func (p *Peer) Generation() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.core.ID().Generation
}

// Running reports whether the peer is started.
func (p *Peer) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status == statusRunning
}

// Config returns the configuration in effect (defaults filled in).
func (p *Peer) Config() Config { return p.cfg }

// emit hands an event to the bus. It is called with mu held, so events reach
// subscribers in the order the state changed.
func (p *Peer) emit(e *Event) { p.bus.Emit(e) }
