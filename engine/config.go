package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"time"

	"github.com/telepathine/telepathine/engine/clock"
	"github.com/telepathine/telepathine/engine/internal/failure"
	"github.com/telepathine/telepathine/engine/internal/protocol"
	"github.com/telepathine/telepathine/engine/internal/state"
	"github.com/telepathine/telepathine/engine/transport"
)

// Config configures a Peer. Start from LANConfig, WANConfig or LocalConfig
// and change what you need. A field left at zero when the Peer is created
// takes LANConfig's value, whatever preset the rest came from: a zero is
// "not set", and the Peer cannot tell which preset it started from. So
// Config{} behaves like LANConfig(); to get WAN timings start from
// WANConfig() rather than zeroing fields of it.
type Config struct {
	// Name identifies the peer in the cluster and survives restarts.
	// Default: the advertised address ("host:port").
	Name string
	// Cluster is the cluster's name. Packets of another cluster are dropped
	// and counted, never merged. Default "telepathine".
	Cluster string
	// BindAddr is the host:port to listen on, for TCP and UDP alike. Port 0
	// picks a free port. Default "127.0.0.1:0".
	BindAddr string
	// AdvertiseAddr is the host:port other peers send to. Default: the bound
	// address; when binding a wildcard address (0.0.0.0, ::) the first
	// non-loopback address of this host, with the bound port.
	AdvertiseAddr string
	// Seeds are host:port addresses contacted to join and, now and then,
	// to heal partitions. ":9000" means 127.0.0.1:9000. Default none.
	Seeds []string
	// AddressMap translates addresses when sending: a packet for a key
	// ("host:port", as peers advertise it or as a seed is written) goes to
	// its value instead. For peers behind NAT or port forwarding whose
	// advertised address is not reachable from here (the reference's
	// addressMap). Default none. See addressmap.go.
	AddressMap map[string]string
	// Generation numbers this incarnation; a restart must use a higher one.
	// Default: the start time in Unix nanoseconds.
	Generation uint64

	// TransportMode is UDPPreferred (default: datagrams up to MTU, TCP
	// above) or TCPOnly.
	TransportMode TransportMode
	// MTU is the largest packet sent as one UDP datagram. Default 1400
	// (below Ethernet's 1500 with room for headers).
	MTU int
	// Transport, when set, is called at each Start instead of binding
	// sockets (tests and simulations use the in-memory network).
	Transport func() (transport.Transport, error)
	// Resolver looks up seeds given as host names; each resolves to every
	// address it names (a headless Service, a round-robin record), again
	// every 10 gossip rounds while no seed answers. Default: the system
	// resolver with real sockets; none with an injected Transport (names
	// are then left to the transport).
	Resolver transport.Resolver

	// GossipInterval is the time between gossip rounds. LAN default 200 ms
	// (memberlist's LAN cadence): each round is one Syn to each target.
	GossipInterval time.Duration
	// Fanout is how many random live peers each round gossips with.
	// Default 3: spreads in O(log N) rounds with a small factor.
	Fanout int
	// QuietFanout replaces Fanout once nothing has changed for QuietAfter:
	// a converged cluster only needs heartbeats to flow, and most of what a
	// quiet round costs is packet headers. Default 1.
	QuietFanout int
	// QuietAfter is how long without news (a changed key, a new or dead
	// peer, a digest mismatch) makes the cluster quiet. Default 10 gossip
	// intervals.
	QuietAfter time.Duration
	// HeartbeatInterval is how often the local heartbeat counter advances;
	// it is what the failure detectors of other peers listen to. Default 1 s:
	// a crash is detected in a few seconds while a quiet cluster carries one
	// heartbeat per peer per second.
	HeartbeatInterval time.Duration
	// DeltaBudget bounds the entries carried by one message, in bytes
	// (estimated). It caps what a flood of Set calls can put on the network
	// per exchange, and is shared fairly between the nodes with updates.
	// One entry larger than it still travels alone. Default 1 MiB.
	DeltaBudget int
	// FullDigestEvery makes every n-th round send a full digest (every
	// node's line with whole values) even when the fingerprint shows no
	// difference: belt and braces for the fingerprint, and the repair for
	// heartbeats too far apart for a heartbeat vector. Default 50 (10 s on
	// LAN).
	FullDigestEvery int
	// PushFanout is, beyond PushDirectMax, how many sub-ranges of its range
	// the originator and then each relay of a broadcast tree cut and push a
	// fresh change (a Set, a Say) to (relay.go). Default 3: every peer is
	// reached in log3 N hops (5 at N = 256), each relay sending 3 packets
	// per tree; anti-entropy covers what a loss cuts off.
	PushFanout int
	// PushDirectMax: while there are at most this many live peers, a fresh
	// change is pushed straight to all of them (N-1 packets in all, and
	// nobody missed); beyond, it travels down Relay.Trees ring-range
	// broadcast trees (about Trees*N packets). Default 64.
	PushDirectMax int
	// Relay: broadcast trees beyond PushDirectMax (config_relay.go).
	Relay RelayConfig

	// Failure tunes the phi-accrual failure detector.
	Failure FailureConfig
	// Liveness: ring watchers, quorum verdicts, quiet anti-entropy and
	// graceful leave (config_liveness.go).
	Liveness Liveness
	// DeadGrace is how long a dead peer's state is kept before it is
	// removed. Default 1 h.
	DeadGrace time.Duration
	// TombstoneGrace is how long deletions and expiries are remembered
	// before being collected. A peer partitioned for longer is brought back
	// with a reset of the nodes it missed, so nothing deleted comes back.
	// Default 10 min.
	TombstoneGrace time.Duration

	// SayDuration is how long a Say is delivered (to peers that join during
	// it too) when the call does not say. Default 20 s, as the reference.
	SayDuration time.Duration
	// Limits bounds sizes and queues.
	Limits LimitsConfig

	// Security is the cluster keyring, the staged plaintext upgrade and the
	// state directory (config_security.go). Default: plain mode (CRC-32C).
	Security SecurityConfig
	// Identity turns on signed identities (config_identity.go). Default
	// off.
	Identity IdentityConfig

	// Clock is the time source. Default the wall clock.
	Clock clock.Clock
	// Logger receives diagnostics. Default: discard.
	Logger *slog.Logger
	// RandSeed seeds the random choices (gossip targets, digest subsets),
	// making a run reproducible: a simulation, a replayed bug report.
	// Default 0: a random seed.
	RandSeed uint64
}

// FailureConfig tunes the phi-accrual failure detector (Hayashibara et al.):
// a peer's suspicion level phi grows with the time since its last heartbeat,
// measured against the rhythm its heartbeats had so far.
type FailureConfig struct {
	// Threshold is the suspicion level above which a peer is dead.
	// Default 8 (about a 1e-8 chance of a false suspicion per check); a
	// positive finite number.
	Threshold float64
	// Window is how many heartbeat intervals the detector remembers.
	// Default 1000; at most MaxPhiWindow (allocated per peer).
	Window int
	// MinStdDev floors the standard deviation, so very regular heartbeats
	// do not make the detector hair-triggered. Default 250 ms.
	MinStdDev time.Duration
	// AcceptablePause is a grace added to the expected interval before
	// a ring watcher's suspicion grows. Beats come straight from the peer
	// (no gossip jitter), a death needs every watcher's suspicion, and a
	// live peer refutes a suspicion within Liveness.SuspectGrace, so LAN
	// needs none: default 0 (a watcher suspects 2.4 s after the last beat
	// at 1 s beats and MinStdDev 250 ms; a crash is declared dead by all
	// in about 2.6 s, SuspectGrace included). The 300 ms it was cost that
	// much detection time and prevented no false death in the simulator
	// (50 % loss, starvation). A negative value also means none. A
	// watcher's own lag (CPU starvation) is added to it automatically.
	AcceptablePause time.Duration
}

// LimitsConfig bounds what a Peer accepts and holds. Each bound protects
// memory or the network against a peer, or a caller, that sends too much.
type LimitsConfig struct {
	// KeySize bounds keys and event names, in bytes. Default 1 KiB.
	KeySize int
	// ValueSize bounds values, in bytes. Default 8 MiB; with KeySize and
	// 4 KiB of headers it must fit PacketSize.
	ValueSize int
	// PacketSize is the largest packet sent or accepted, i.e. the TCP
	// frame limit. Default 32 MiB.
	PacketSize int
	// EventNameSize bounds event names of Say and Ask. Default 256 bytes;
	// at most KeySize.
	EventNameSize int
	// EventPayloadSize bounds the data of Say, Ask and replies. Default
	// 256 KiB: events ride on gossip packets and are pushed to several
	// peers. At most ValueSize.
	EventPayloadSize int
	// Peers bounds how many peers are held; strangers beyond it are
	// ignored. Default 4096.
	Peers int
	// HandlerQueue is the number of events a subscription queues while its
	// handler is busy; beyond it events are dropped and counted. Default
	// 1024; at most MaxHandlerQueue (allocated per subscription).
	HandlerQueue int
	// PushQueueBytes bounds the fresh changes waiting to be pushed. Past it
	// pushes are dropped (and counted); anti-entropy delivers them instead.
	// Default 8 MiB.
	PushQueueBytes int
}

// TransportMode chooses how packets travel.
type TransportMode int

const (
	// UDPPreferred sends packets up to the MTU as UDP datagrams and larger
	// ones over TCP.
	UDPPreferred TransportMode = iota
	// TCPOnly sends every packet over TCP (networks that drop UDP).
	TCPOnly
)

// String names the mode as the CLI flag does.
func (m TransportMode) String() string {
	switch m {
	case UDPPreferred:
		return "udp"
	case TCPOnly:
		return "tcp"
	}
	return fmt.Sprintf("TransportMode(%d)", int(m))
}

func (m TransportMode) transport() transport.Mode {
	if m == TCPOnly {
		return transport.TCPOnly
	}
	return transport.UDPPreferred
}

// Upper bounds of Config fields that size allocations made up front.
const (
	MaxHandlerQueue = 1 << 20
	MaxPhiWindow    = 1 << 16
)

// LANConfig is tuned for a data-centre network: memberlist's LAN cadence.
func LANConfig() Config {
	return Config{
		Cluster:           "telepathine",
		BindAddr:          "127.0.0.1:0",
		TransportMode:     UDPPreferred,
		MTU:               transport.DefaultMTU,
		GossipInterval:    200 * time.Millisecond,
		Fanout:            3,
		QuietFanout:       1,
		QuietAfter:        2 * time.Second,
		HeartbeatInterval: time.Second,
		DeltaBudget:       1 << 20,
		FullDigestEvery:   50,
		PushFanout:        3,
		PushDirectMax:     64,
		Relay:             RelayConfig{Trees: 2},
		Failure: FailureConfig{
			Threshold:       8,
			Window:          1000,
			MinStdDev:       250 * time.Millisecond,
			AcceptablePause: 0,
		},
		DeadGrace:      time.Hour,
		TombstoneGrace: 10 * time.Minute,
		SayDuration:    20 * time.Second,
		Limits: LimitsConfig{
			KeySize:          1 << 10,
			ValueSize:        8 << 20,
			PacketSize:       transport.DefaultMaxFrame,
			EventNameSize:    256,
			EventPayloadSize: 256 << 10,
			Peers:            4096,
			HandlerQueue:     1024,
			PushQueueBytes:   8 << 20,
		},
	}
}

// WANConfig is tuned for links with more latency and loss: slower rounds,
// a wider fanout, a more patient failure detector.
func WANConfig() Config {
	c := LANConfig()
	c.GossipInterval = 500 * time.Millisecond
	c.QuietAfter = 5 * time.Second
	c.Fanout = 4
	c.HeartbeatInterval = 2 * time.Second
	c.Failure.MinStdDev = 500 * time.Millisecond
	c.Failure.AcceptablePause = 5 * time.Second
	c.DeadGrace = 24 * time.Hour
	c.TombstoneGrace = time.Hour
	return c
}

// LocalConfig is for tests and demos on one machine: everything ten times
// faster than LAN, and short graces.
func LocalConfig() Config {
	c := LANConfig()
	c.GossipInterval = 50 * time.Millisecond
	c.QuietAfter = 500 * time.Millisecond
	c.HeartbeatInterval = 100 * time.Millisecond
	c.Failure.MinStdDev = 50 * time.Millisecond
	c.Failure.AcceptablePause = 300 * time.Millisecond
	c.DeadGrace = time.Minute
	c.TombstoneGrace = 30 * time.Second
	return c
}

// protocol is what the protocol core needs of the configuration.
func (c *Config) protocol() protocol.Config {
	return protocol.Config{
		Cluster: c.Cluster, GossipInterval: c.GossipInterval, HeartbeatInterval: c.HeartbeatInterval,
		Fanout: c.Fanout, QuietFanout: c.QuietFanout, QuietAfter: c.QuietAfter,
		DeltaBudget: c.DeltaBudget, FullDigestEvery: c.FullDigestEvery,
		PushFanout: c.PushFanout, PushDirectMax: c.PushDirectMax, PushQueueBytes: c.Limits.PushQueueBytes,
		FreshHold: 2 * c.GossipInterval, RepairHorizon: 10 * c.GossipInterval,
		RelayTrees: c.Relay.Trees, JoinPush: c.Relay.JoinPush,
		DeadGrace: c.DeadGrace, TombstoneGrace: c.TombstoneGrace,
		MTU: c.MTU, TCPOnly: c.TransportMode == TCPOnly, MaxPacketSize: c.Limits.PacketSize,
		Watchers: c.Liveness.Watchers, Quorum: c.Liveness.Quorum,
		QuietInterval: c.Liveness.QuietInterval, FullDigestPeriod: c.Liveness.FullDigestPeriod,
		SuspectGrace: c.Liveness.SuspectGrace,
		Phi: failure.Config{
			Threshold:       c.Failure.Threshold,
			WindowSize:      c.Failure.Window,
			MinStdDev:       c.Failure.MinStdDev,
			AcceptablePause: c.Failure.AcceptablePause,
			FirstInterval:   c.HeartbeatInterval,
			// A gap of many intervals is a partition or a pause, not a
			// rhythm to learn from.
			MaxInterval: 10 * c.HeartbeatInterval,
		},
		Limits: state.Limits{
			MaxKey: c.Limits.KeySize, MaxValue: c.Limits.ValueSize, MaxNodes: c.Limits.Peers,
			MaxPend: 256, PendingMS: (10 * c.GossipInterval).Milliseconds(),
		},
		Seeds:  c.Seeds,
		Logger: c.Logger,
	}
}

// withDefaults fills zero fields from LANConfig (whatever preset the others
// came from, as Config's doc says) and normalises seeds. Liveness is the
// exception: its zero fields take defaults relative to this config's own
// GossipInterval (config_liveness.go), so a WAN cadence keeps its ratios.
func (c Config) withDefaults() Config {
	d := LANConfig()
	setStr := func(v *string, def string) {
		if *v == "" {
			*v = def
		}
	}
	setInt := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	setDur := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	setStr(&c.Cluster, d.Cluster)
	setStr(&c.BindAddr, d.BindAddr)
	setInt(&c.MTU, d.MTU)
	setDur(&c.GossipInterval, d.GossipInterval)
	setInt(&c.Fanout, d.Fanout)
	setInt(&c.QuietFanout, d.QuietFanout)
	if c.QuietAfter <= 0 {
		c.QuietAfter = 10 * c.GossipInterval
	}
	setDur(&c.HeartbeatInterval, d.HeartbeatInterval)
	setInt(&c.DeltaBudget, d.DeltaBudget)
	setInt(&c.FullDigestEvery, d.FullDigestEvery)
	setInt(&c.PushFanout, d.PushFanout)
	setInt(&c.PushDirectMax, d.PushDirectMax)
	c.Relay = c.Relay.withDefaults()
	if c.Failure.Threshold == 0 {
		c.Failure.Threshold = d.Failure.Threshold
	}
	setInt(&c.Failure.Window, d.Failure.Window)
	setDur(&c.Failure.MinStdDev, d.Failure.MinStdDev)
	switch {
	case c.Failure.AcceptablePause == 0:
		c.Failure.AcceptablePause = d.Failure.AcceptablePause
	case c.Failure.AcceptablePause < 0:
		c.Failure.AcceptablePause = 0
	}
	c.Liveness = c.Liveness.withDefaults(&c)
	setDur(&c.DeadGrace, d.DeadGrace)
	setDur(&c.TombstoneGrace, d.TombstoneGrace)
	setDur(&c.SayDuration, d.SayDuration)
	l, dl := &c.Limits, d.Limits
	setInt(&l.KeySize, dl.KeySize)
	setInt(&l.ValueSize, dl.ValueSize)
	setInt(&l.PacketSize, dl.PacketSize)
	setInt(&l.EventNameSize, dl.EventNameSize)
	setInt(&l.EventPayloadSize, dl.EventPayloadSize)
	setInt(&l.Peers, dl.Peers)
	setInt(&l.HandlerQueue, dl.HandlerQueue)
	setInt(&l.PushQueueBytes, dl.PushQueueBytes)
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	seeds := make([]string, 0, len(c.Seeds))
	for _, s := range c.Seeds {
		if s = NormalizeAddr(s); s != "" {
			seeds = append(seeds, s)
		}
	}
	c.Seeds = seeds
	return c
}

func (c *Config) validate() error {
	var errs []error
	if c.MTU < 576 {
		errs = append(errs, fmt.Errorf("MTU %d below 576", c.MTU))
	}
	l := &c.Limits
	if l.PacketSize < c.MTU {
		errs = append(errs, fmt.Errorf("Limits.PacketSize %d below MTU %d", l.PacketSize, c.MTU))
	}
	if l.ValueSize+l.KeySize+4096 > l.PacketSize {
		errs = append(errs, fmt.Errorf("Limits.ValueSize %d does not fit Limits.PacketSize %d", l.ValueSize, l.PacketSize))
	}
	// Both are allocated whole, per subscription and per peer.
	if l.HandlerQueue > MaxHandlerQueue {
		errs = append(errs, fmt.Errorf("Limits.HandlerQueue %d above %d", l.HandlerQueue, MaxHandlerQueue))
	}
	if t := c.Failure.Threshold; !(t > 0) || math.IsInf(t, 0) {
		errs = append(errs, fmt.Errorf("Failure.Threshold %v is not a positive finite number", t))
	}
	errs = append(errs, c.Liveness.validate()...)
	if c.Failure.Window > MaxPhiWindow {
		errs = append(errs, fmt.Errorf("Failure.Window %d above %d", c.Failure.Window, MaxPhiWindow))
	}
	if l.EventNameSize > l.KeySize {
		errs = append(errs, fmt.Errorf("Limits.EventNameSize %d above Limits.KeySize %d", l.EventNameSize, l.KeySize))
	}
	if l.EventPayloadSize > l.ValueSize {
		errs = append(errs, fmt.Errorf("Limits.EventPayloadSize %d above Limits.ValueSize %d", l.EventPayloadSize, l.ValueSize))
	}
	if c.TransportMode != UDPPreferred && c.TransportMode != TCPOnly {
		errs = append(errs, fmt.Errorf("unknown TransportMode %d", c.TransportMode))
	}
	if c.Name != "" && !validName(c.Name, c.Limits.KeySize) {
		errs = append(errs, errors.New("the peer name must be valid UTF-8 without NUL"))
	}
	if !validName(c.Cluster, c.Limits.KeySize) {
		errs = append(errs, errors.New("the cluster name must be valid UTF-8 without NUL"))
	}
	if _, _, err := net.SplitHostPort(c.BindAddr); err != nil {
		errs = append(errs, fmt.Errorf("BindAddr: %w", err))
	}
	errs = append(errs, c.validateAddressMap()...)
	errs = append(errs, c.Relay.validate()...)
	if c.AdvertiseAddr != "" {
		if _, _, err := net.SplitHostPort(c.AdvertiseAddr); err != nil {
			errs = append(errs, fmt.Errorf("AdvertiseAddr: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// NormalizeAddr turns ":9000" into "127.0.0.1:9000" and trims spaces; it
// returns "" for an empty address.
func NormalizeAddr(a string) string {
	for len(a) > 0 && (a[0] == ' ' || a[len(a)-1] == ' ') {
		if a[0] == ' ' {
			a = a[1:]
		} else {
			a = a[:len(a)-1]
		}
	}
	if a == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return a
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// advertiseFor picks the address to advertise for a bound address.
func advertiseFor(bound string) (string, error) {
	host, port, err := net.SplitHostPort(bound)
	if err != nil {
		return "", err
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsUnspecified() {
		return bound, nil
	}
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
				return net.JoinHostPort(n.IP.String(), port), nil
			}
		}
	}
	return net.JoinHostPort("127.0.0.1", port), nil
}
