// Package protocol is Telepathine's protocol core, sans I/O: one Core takes
// what happens to a peer — a packet arrived (now, from, bytes), a timer
// fired, the application set a key or said something — and returns what to
// do about it: packets to send (address and packet) and events to report.
// It owns no lock, goroutine, socket or clock, and its randomness is a
// *rand.Rand the caller seeds, so a test or a simulation drives it
// deterministically in a plain loop. The runtime around it (engine.Peer)
// serialises calls, reads the clock, moves bytes and delivers events.
package protocol

import (
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/telepathine/telepathine/engine/internal/failure"
	"github.com/telepathine/telepathine/engine/internal/guard"
	"github.com/telepathine/telepathine/engine/internal/state"
	"github.com/telepathine/telepathine/engine/internal/wire"
)

// Config is what the core needs of the engine's configuration, defaults
// already filled in.
type Config struct {
	Cluster           string
	GossipInterval    time.Duration
	HeartbeatInterval time.Duration
	Fanout            int
	QuietFanout       int
	QuietAfter        time.Duration
	DeltaBudget       int
	FullDigestEvery   int
	PushFanout        int
	PushDirectMax     int
	PushQueueBytes    int
	// RelayTrees is how many broadcast trees a push travels in beyond
	// PushDirectMax (relay.go).
	RelayTrees int
	// JoinPush: a peer that learns a new peer from that peer itself pushes
	// its line on at once (relay.go).
	JoinPush       bool
	DeadGrace      time.Duration
	TombstoneGrace time.Duration

	// FreshHold: versions held here for less than this are left out of
	// anti-entropy answers to live peers, because pushes are delivering
	// them (state.HoldFresh); 0 holds nothing back. The engine sets it to
	// two gossip intervals: a push takes far less, and a lost push is
	// then repaired by the rounds after. RepairHorizon (the engine: ten
	// gossip intervals, the life of a held-back push) bounds the answers
	// to a live peer that lags less than that to one datagram: it is
	// being fed by pushes, only slower than they come, and duplicating its
	// backlog would slow it down further. Both must stay within the
	// version history a replica keeps (16 rounds, state.HeldAt): beyond,
	// every peer looks far and answers go in full.
	FreshHold, RepairHorizon time.Duration

	// MTU bounds a digest to one datagram; TCPOnly lifts that bound.
	MTU     int
	TCPOnly bool
	// MaxPacketSize bounds packets accepted and sent.
	MaxPacketSize int
	// Phi configures the failure detector a ring watcher runs on the beats
	// of each peer it watches.
	Phi failure.Config
	// Watchers (K) is how many ring successors watch each peer; Quorum (Q)
	// how many live peers must suspect a peer before it is declared dead.
	Watchers, Quorum int
	// QuietInterval spaces the anti-entropy Syns of a quiet cluster (one
	// target each); FullDigestPeriod spaces full digests when nothing
	// else asks for one.
	QuietInterval    time.Duration
	FullDigestPeriod time.Duration
	// SuspectGrace is how long a quorum of suspicions must hold before
	// the accused is dead: time for it to refute.
	SuspectGrace time.Duration
	// Limits bound what the network may make the replica hold.
	Limits state.Limits
	// Seeds are the addresses contacted to join and to heal partitions.
	Seeds []string
	// Logger receives diagnostics (warnings rate-limited to one a second).
	Logger *slog.Logger
	// Trust configures the envelope and the admission checks (trust.go).
	Trust Trust
	// Identity turns identity mode on (identity.go); nil: off.
	Identity *Identity
}

// Outgoing is one packet to send. The core fills Cluster and Sender;
// Encode turns it into bytes.
type Outgoing struct {
	To     string
	Packet *wire.Packet
	// Limited: a reply to an address not known to receive; Encode applies
	// the 3x rule to it.
	Limited bool
	// Pad: fill the datagram (a Syn to an address not validated yet).
	Pad bool
}

// Output is what one call asks the runtime to do.
type Output struct {
	// Packets to send, in order.
	Packets []Outgoing
	// Events to report, in the order they happened.
	Events []Event
	// Replies to asks of this peer, for their waiters.
	Replies []AskReply
	// PushReady is set when fresh changes wait in the push queue: the
	// runtime should call FlushPushes soon.
	PushReady bool
}

// Recycle hands back out's events once the runtime is done with them (it
// has copied what it keeps), so the next packet's events reuse their room.
// The events are cleared first: the slice keeps no key or value alive.
func (c *Core) Recycle(out *Output) {
	if cap(out.Events) > cap(c.spareEvents) {
		clear(out.Events)
		c.spareEvents = out.Events[:0]
	}
	out.Events = nil
}

// growEvents makes room for n more events in out, from the recycled slice
// when out has none yet.
func (c *Core) growEvents(out *Output, n int) {
	if out.Events == nil && cap(c.spareEvents) >= n {
		out.Events, c.spareEvents = c.spareEvents, nil
		return
	}
	out.Events = slices.Grow(out.Events, n)
}

func (o *Output) send(to string, pk *wire.Packet) {
	o.Packets = append(o.Packets, Outgoing{To: to, Packet: pk})
}

func (o *Output) reply(to string, limited bool, pk *wire.Packet) {
	o.Packets = append(o.Packets, Outgoing{To: to, Packet: pk, Limited: limited})
}

// Core is one peer's protocol state. It is not safe for concurrent use:
// the runtime serialises every call (Encode excepted).
type Core struct {
	cfg Config
	rng *rand.Rand

	running bool
	id      state.NodeID
	st      *state.Cluster
	members membership
	seeds   map[string]bool

	round uint64
	// startRound is round when the incarnation started (seedFirst).
	startRound uint64
	lastBeat   time.Time
	lastTick   time.Time
	slack      time.Duration // how late our own ticks run (trackLag)
	lastSyn    time.Time
	lastFull   time.Time

	lastRefute    time.Time
	refuteTokens  float64 // refute's bucket, as of lastRefute
	refutePending bool
	// refuteEchoes is how many more rounds repeat the last refutation
	// (refute).
	refuteEchoes int

	lastNews  time.Time // last change learnt or made: full fanout until QuietAfter later
	needFull  bool
	joinSeen  bool // a node joined since the last full digest: send one complete (Tick)
	followups map[string]int

	push  pushQueue
	relay relayRings
	asks  askRegistry
	log   *slog.Logger
	warns logLimiter

	// scratch is reused for the changes of each push applied (onDelta).
	scratch []state.Change
	// spareEvents is the events slice of an Output the runtime handed back
	// (Recycle): a push of hundreds of says reuses it instead of
	// allocating hundreds of events' room per packet.
	spareEvents []Event
	// progress is what live peers' requests showed of their versions
	// lately (markProgress).
	progress map[progressKey]progressMark
	// progressPeak is the most marks progress held since it was last
	// copied (forgetProgress shrinks it).
	progressPeak int

	stats Counters

	replay   *guard.Replay
	tokens   map[uint64]pendingToken
	tokenRng *rand.ChaCha8
	gate     *gate
	// sealedIn: the packet being handled authenticated under the cluster
	// key (set by open).
	sealedIn bool

	auth      *authority // identity mode; nil when off
	mixedSeen uint64     // MixedRefused when last logged (identity mode off)
}

// New returns a core that is not running yet; local operations (Set,
// Delete) already work on its private state.
func New(cfg Config, rng *rand.Rand) *Core {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Core{
		cfg:     cfg,
		rng:     rng,
		members: newMembership(cfg.Phi, cfg.Watchers, cfg.Quorum),
		seeds:   make(map[string]bool),
		asks:    newAskRegistry(),
		log:     cfg.Logger,
	}
	for _, s := range cfg.Seeds {
		c.seeds[s] = true
	}
	c.initTrust()
	c.initIdentity()
	return c
}

// ID returns the current incarnation's identity (the zero NodeID before
// the first Start, but for the configured name).
func (c *Core) ID() state.NodeID { return c.id }

// SetName names the peer before its first Start.
func (c *Core) SetName(name string) { c.id.Name = name }

// ensureState creates the local state before the first Start, so Set works
// on a peer that has not started yet: the real identity comes with Start,
// which republishes the state under it.
func (c *Core) ensureState() {
	if c.st == nil {
		c.st = state.NewCluster(state.NodeID{Name: c.id.Name}, c.cfg.Limits)
		c.setAuthority()
	}
}

// Start begins an incarnation with identity id: a restart (or values set
// before the first start) republishes the local keys under it. Known peers
// keep their liveness: verdicts come from the suspicions replicated.
func (c *Core) Start(now time.Time, id state.NodeID) {
	c.id = id
	c.members.self = id.Name
	if c.replay == nil {
		c.replay = c.cfg.Trust.Replay
		if c.replay == nil {
			c.replay = guard.NewReplay(guard.ReplayConfig{}, now)
		}
	}
	if c.st != nil {
		c.st.Restart(id, now.UnixMilli())
		c.members.restartSelf(c.st, now)
	} else {
		c.st = state.NewCluster(id, c.cfg.Limits)
		c.setAuthority()
	}
	c.lastTick, c.slack, c.lastSyn, c.lastFull = time.Time{}, 0, time.Time{}, now
	c.lastRefute, c.refutePending, c.refuteEchoes = time.Time{}, false, 0
	c.refuteTokens = refuteBurst
	c.startRound = c.round
	delete(c.seeds, id.Addr)
	c.lastBeat = now
	c.lastNews = now
	c.needFull = true
	c.running = true
}

// Stop ends the incarnation: asks waiting here end, state and membership
// stay for the next Start.
func (c *Core) Stop() {
	c.running = false
	c.asks.stopAsking()
	c.push.clear()
}

// stamp fills what every packet of this incarnation carries.
func (c *Core) stamp(pk *wire.Packet) *wire.Packet {
	pk.Cluster = c.cfg.Cluster
	pk.Sender = c.id
	return pk
}

// stampKey is stamp with the compact header: the sender's 64-bit key
// instead of its NodeId, for packets to peers that hold our line.
func (c *Core) stampKey(pk *wire.Packet) *wire.Packet {
	pk.Cluster = c.cfg.Cluster
	pk.SenderKey = state.NodeKey(c.id.Name, c.id.Generation)
	return pk
}
