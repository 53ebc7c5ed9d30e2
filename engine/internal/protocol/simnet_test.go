package protocol

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine/internal/failure"
	"github.com/telepathine/telepathine/engine/internal/state"
	"github.com/telepathine/telepathine/engine/internal/wire"
)

// sim is a deterministic cluster of cores: a simulated clock, a network
// that delivers every packet at once (through the real codec), and rounds
// driven by the test. No goroutine, no socket, no sleep: a simulated minute
// takes milliseconds.
type sim struct {
	tb    testing.TB
	now   time.Time
	start time.Time
	cfg   Config
	rng   *rand.Rand // round order
	net   *simNet
	peers []*simPeer
	// trust, when set, gives peer i its own envelope and checks.
	trust func(i int) Trust
	// ident, when set, gives peer i its identity (sim_identity_test.go).
	ident func(i int) *Identity
	// dropEvents: the peers' events are not kept. A concurrent join of N
	// peers raises N^2 of them, which the scale runs do not read and
	// which would otherwise count in the heap measured per peer.
	dropEvents bool
	// onSend, when set, sees every packet encoded (sent, whether or not
	// it is then delivered).
	onSend func(from *simPeer, o Outgoing, b []byte)
}

// simPeer is one core and what the sim observed of it.
type simPeer struct {
	core    *Core
	addr    string
	events  []Event
	sent    [wire.NumTypes]uint64
	bytes   uint64
	byType  [wire.NumTypes]uint64 // bytes sent, by message type
	running bool
	// stalledUntil simulates CPU starvation: until then the peer's ticks
	// do not run and packets for it wait in queue; at the end, its late
	// tick runs first, then the queued packets.
	stalledUntil time.Time
	queue        [][]byte
	queueFrom    []string
	// withheld counts replies the 3x rule held back.
	withheld uint64
	// pushesIn counts push packets received; firstHop is the hop count
	// (from the call that started the cascade) of the first one since the
	// last resetHops (-1: none).
	pushesIn uint64
	firstHop int
}

func (p *simPeer) Name() string { return p.core.ID().Name }

func (p *simPeer) peers(keep func(alive bool) bool) []PeerInfo {
	return p.core.Peers(time.Time{}, keep)
}
func (p *simPeer) LivePeers() []PeerInfo { return p.peers(func(a bool) bool { return a }) }
func (p *simPeer) DeadPeers() []PeerInfo { return p.peers(func(a bool) bool { return !a }) }
func (p *simPeer) AllPeers() []PeerInfo  { return p.peers(func(bool) bool { return true }) }

// simNet delivers packets between cores, with loss, duplication and cut
// links, drawn from its own seeded generator.
type simNet struct {
	rng       *rand.Rand
	loss, dup float64
	isolated  map[string]bool
	byAddr    map[string]*simPeer
	sentTo    map[string]uint64 // packets sent to each address, delivered or not
	lost      [wire.NumTypes]uint64
	// drop, when set, loses the packets it returns true for: a cut of
	// particular messages on particular links.
	drop func(from, to string, pk *wire.Packet) bool
}

func (n *simNet) Isolate(addr string)    { n.isolated[addr] = true }
func (n *simNet) Heal()                  { clear(n.isolated) }
func (n *simNet) SetLoss(p float64)      { n.loss = p }
func (n *simNet) SetDuplicate(p float64) { n.dup = p }

var simEpoch = time.Unix(1_800_000_000, 0)

// memAddr is the simulated address of peer i.
func memAddr(i int) string { return fmt.Sprintf("10.0.%d.%d:7946", i/250, i%250+1) }

func newSim(tb testing.TB, n int, cfg Config) *sim {
	tb.Helper()
	s := &sim{
		tb: tb, now: simEpoch, start: simEpoch, cfg: cfg, rng: rand.New(rand.NewPCG(42, uint64(n))),
		net: &simNet{rng: rand.New(rand.NewPCG(7, 7)), isolated: map[string]bool{}, byAddr: map[string]*simPeer{}, sentTo: map[string]uint64{}},
	}
	for i := 0; i < n; i++ {
		s.add(i)
	}
	return s
}

// newTrustSim is newSim with each peer's Trust built by trust.
func newTrustSim(tb testing.TB, n int, cfg Config, trust func(i int) Trust) *sim {
	s := newSim(tb, 0, cfg)
	s.trust = trust
	for i := 0; i < n; i++ {
		s.add(i)
	}
	return s
}

// add creates and starts peer i (a new process: a new generation).
func (s *sim) add(i int) *simPeer {
	cfg := s.cfg
	addr := memAddr(i)
	if i > 0 {
		cfg.Seeds = []string{memAddr(0)}
	}
	seed := uint64(i + 1)
	if s.trust != nil {
		cfg.Trust = s.trust(i)
	}
	if s.ident != nil {
		cfg.Identity = s.ident(i)
	}
	p := &simPeer{core: New(cfg, rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))), addr: addr, running: true, firstHop: -1}
	p.core.Start(s.now, state.NodeID{Name: addr, Generation: uint64(s.now.UnixNano()), Addr: addr})
	s.net.byAddr[addr] = p
	if i < len(s.peers) {
		s.peers[i] = p
	} else {
		s.peers = append(s.peers, p)
	}
	return p
}

// stop stops a peer: its core stops answering.
func (s *sim) stop(p *simPeer) {
	p.core.Stop()
	p.running = false
}

// do delivers what a call returned, and what the deliveries return, until
// nothing is in flight.
func (s *sim) do(from *simPeer, out Output) {
	type flight struct {
		from *simPeer
		out  Outgoing
		hop  int
	}
	var queue []flight
	take := func(p *simPeer, o Output, hop int) {
		if !s.dropEvents {
			p.events = append(p.events, o.Events...)
		}
		for _, pk := range o.Packets {
			queue = append(queue, flight{p, pk, hop})
		}
	}
	take(from, out, 1)
	for len(queue) > 0 {
		f := queue[0]
		queue = queue[1:]
		b, err := f.from.core.Encode(s.now, f.out)
		if errors.Is(err, ErrAmplification) {
			f.from.withheld++
			continue
		}
		if err != nil {
			s.tb.Fatalf("encode: %v", err)
		}
		if s.onSend != nil {
			s.onSend(f.from, f.out, b)
		}
		f.from.sent[f.out.Packet.Type]++
		f.from.bytes += uint64(len(b))
		f.from.byType[f.out.Packet.Type] += uint64(len(b))
		s.net.sentTo[f.out.To]++
		to := s.net.byAddr[f.out.To]
		if to == nil || !to.running || s.net.isolated[f.from.addr] || s.net.isolated[f.out.To] ||
			s.net.drop != nil && s.net.drop(f.from.addr, f.out.To, f.out.Packet) {
			continue
		}
		copies := 1
		if s.net.rng.Float64() < s.net.loss {
			copies = 0
			s.net.lost[f.out.Packet.Type]++
		} else if s.net.rng.Float64() < s.net.dup {
			copies = 2
		}
		if f.out.Packet.Type == wire.Push {
			to.pushesIn += uint64(copies)
			if copies > 0 && to.firstHop < 0 {
				to.firstHop = f.hop
			}
		}
		for range copies {
			if s.now.Before(to.stalledUntil) {
				to.queue = append(to.queue, append([]byte(nil), b...))
				to.queueFrom = append(to.queueFrom, f.from.addr)
				continue
			}
			take(to, to.core.HandlePacket(s.now, f.from.addr, append([]byte(nil), b...)), f.hop+1)
		}
	}
}

// set sets a text value on p and delivers the pushes it makes.
func (s *sim) set(p *simPeer, key, value string, expiresAt int64) {
	s.tb.Helper()
	out, err := p.core.Set(s.now, key, []byte(value), state.EncodingText, expiresAt)
	require.NoError(s.tb, err)
	s.do(p, out)
}

// setQuietly sets a value without pushing it: anti-entropy alone must
// spread it.
func (s *sim) setQuietly(p *simPeer, key, value string) {
	s.tb.Helper()
	_, err := p.core.st.Set(key, []byte(value), state.EncodingText, 0)
	require.NoError(s.tb, err)
}

// flush delivers pushes until none are queued (forwarding cascades).
func (s *sim) flush() {
	for {
		busy := false
		for _, p := range s.peers {
			if p.running && !s.now.Before(p.stalledUntil) && p.core.PushPending() {
				busy = true
				s.do(p, p.core.FlushPushes())
			}
		}
		if !busy {
			return
		}
	}
}

// step advances time by one gossip interval and runs every running peer's
// round, in random order, then delivers pushes.
func (s *sim) step() {
	s.now = s.now.Add(s.cfg.GossipInterval)
	for _, i := range s.rng.Perm(len(s.peers)) {
		p := s.peers[i]
		if !p.running || s.now.Before(p.stalledUntil) {
			continue
		}
		s.do(p, p.core.Tick(s.now))
		for len(p.queue) > 0 {
			b, from := p.queue[0], p.queueFrom[0]
			p.queue, p.queueFrom = p.queue[1:], p.queueFrom[1:]
			s.do(p, p.core.HandlePacket(s.now, from, b))
		}
	}
	s.flush()
}

// resetHops starts counting push receptions and hops afresh.
func (s *sim) resetHops() {
	for _, p := range s.peers {
		p.pushesIn, p.firstHop = 0, -1
	}
}

// elapsed is the simulated time since the start.
func (s *sim) elapsed() time.Duration { return s.now.Sub(s.start) }

// until steps until cond holds, returning the number of rounds, or fails
// after max rounds.
func (s *sim) until(max int, cond func() bool, what string) int {
	s.tb.Helper()
	for r := 0; r <= max; r++ {
		if cond() {
			return r
		}
		s.step()
	}
	s.tb.Fatalf("%s: not reached in %d rounds", what, max)
	return -1
}

func (s *sim) running() []*simPeer {
	var out []*simPeer
	for _, p := range s.peers {
		if p.running {
			out = append(out, p)
		}
	}
	return out
}

func (s *sim) allKnowAll() bool {
	run := s.running()
	for _, p := range run {
		if p.core.members.liveCount() != len(run)-1 {
			return false
		}
	}
	return true
}

// declaredDead reports whether p holds name as dead, as p.DeadPeers()
// would list it, without building the whole peer list (O(N) per peer per
// round, which made the check O(N^2 log N) a round at scale).
func (s *sim) declaredDead(p *simPeer, name string) bool {
	m := p.core.members.byName[name]
	if m == nil || m.alive {
		return false
	}
	_, held := p.core.st.Node(name)
	return held
}

func (s *sim) allHave(owner *simPeer, key, want string) bool {
	for _, p := range s.running() {
		e, ok := p.core.Get(owner.Name(), key, s.now.UnixMilli())
		if !ok || string(e.Value) != want {
			return false
		}
	}
	return true
}

func find(infos []PeerInfo, name string) (PeerInfo, bool) {
	for _, i := range infos {
		if i.Name == name {
			return i, true
		}
	}
	return PeerInfo{}, false
}

func count(events []Event, k EventKind) int {
	n := 0
	for _, e := range events {
		if e.Kind == k {
			n++
		}
	}
	return n
}

// simConfig is the engine's LAN preset (JoinPush off, as there).
func simConfig() Config {
	hb := time.Second
	return Config{
		Cluster: "sim", GossipInterval: 200 * time.Millisecond, HeartbeatInterval: hb,
		Fanout: 3, QuietFanout: 1, QuietAfter: 2 * time.Second, DeltaBudget: 1 << 20,
		FullDigestEvery: 50, PushFanout: 3, PushDirectMax: 64, PushQueueBytes: 8 << 20,
		FreshHold: 400 * time.Millisecond, RepairHorizon: 2 * time.Second,
		RelayTrees: 2, DeadGrace: time.Hour, TombstoneGrace: 10 * time.Minute, MTU: 1400, MaxPacketSize: 32 << 20,
		Watchers: 3, Quorum: 3, QuietInterval: 3 * time.Second, FullDigestPeriod: 10 * time.Minute, SuspectGrace: 600 * time.Millisecond,
		Phi: failure.Config{
			Threshold: 8, WindowSize: 1000, MinStdDev: 250 * time.Millisecond,
			AcceptablePause: 0, FirstInterval: hb, MaxInterval: 10 * hb,
		},
		Limits: state.Limits{MaxKey: 1 << 10, MaxValue: 8 << 20, MaxNodes: 4096, MaxPend: 256, PendingMS: 2000},
	}
}
