// Package metrics exports a running engine.Peer to Prometheus: a
// prometheus.Collector that reads the peer's public counters at each scrape.
// It lives apart from engine so that programs that embed the engine without
// Prometheus do not link client_golang.
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(metrics.New(peer))
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// Every metric is named telepathine_*; the list, with labels, is in the
// README ("Metrics and dashboard") and in Describe.
package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/telepathine/telepathine/engine"
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("telepathine_"+name, help, labels, nil)
}

var (
	descPeers      = desc("peers", "Other peers known, by state (alive, dead).", "state")
	descPhi        = desc("peer_phi", "Phi accrual suspicion level of each peer (0 once dead).", "peer")
	descAlive      = desc("peer_alive", "1 if the peer seems alive, 0 if it seems dead.", "peer")
	descPackets    = desc("packets_total", "Gossip packets by direction (in, out) and message type.", "direction", "type")
	descTrPackets  = desc("transport_packets_total", "Packets (UDP datagrams, TCP frames) by direction and transport.", "direction", "transport")
	descTrBytes    = desc("transport_bytes_total", "Payload bytes by direction and transport.", "direction", "transport")
	descDrops      = desc("dropped_packets_total", "Incoming packets dropped whole, by cause.", "cause")
	descOutErrors  = desc("send_problems_total", "Outgoing packets not sent, by problem (encode, send, push_queue_full).", "problem")
	descPushRuns   = desc("push_queue_runs", "Runs of entries waiting to be pushed.")
	descPushBytes  = desc("push_queue_bytes", "Bytes waiting to be pushed.")
	descSubEvents  = desc("subscription_events_total", "Events per subscription pattern and kind (handler, stream), by outcome (delivered, dropped).", "pattern", "kind", "outcome")
	descSubQueue   = desc("subscription_queue_depth", "Events waiting in subscription queues, per pattern and kind.", "pattern", "kind")
	descEvDropped  = desc("events_dropped_total", "Events lost to full subscription queues, all subscriptions (cancelled ones included).")
	descPanics     = desc("handler_panics_total", "Event handler calls that panicked.")
	descHeld       = desc("replication_version", "Highest version of each origin held here with no gap below.", "origin")
	descBehind     = desc("replication_behind_versions", "Changes of each origin known to exist but not yet held here.", "origin")
	descBehindSecs = desc("replication_behind_seconds", "How long this replica has been behind each origin (0 when up to date).", "origin")
	descRounds     = desc("gossip_rounds_total", "Gossip rounds run.")
	descDeaths     = desc("deaths_total", "Peers declared dead.")
	descKeys       = desc("keys", "Live keys of the local peer.")
	descPending    = desc("pending_runs", "Pushed runs held back until a gap fills.")
	descUp         = desc("running", "1 while the local peer runs.")
)

// Collector is a prometheus.Collector over one peer. Safe for concurrent
// use; each Collect reads the peer once.
type Collector struct {
	p   *engine.Peer
	now func() time.Time

	mu     sync.Mutex
	behind map[string]time.Time // origin -> first seen behind
}

// Option configures a Collector.
type Option func(*Collector)

// WithClock replaces the wall clock used to time replication lag (tests).
func WithClock(now func() time.Time) Option { return func(c *Collector) { c.now = now } }

// New returns a Collector over p. Register it with a prometheus.Registerer.
func New(p *engine.Peer, opts ...Option) *Collector {
	c := &Collector{p: p, now: time.Now, behind: map[string]time.Time{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descPeers, descPhi, descAlive, descPackets, descTrPackets, descTrBytes, descDrops,
		descOutErrors, descPushRuns, descPushBytes, descSubEvents, descSubQueue, descEvDropped,
		descPanics, descHeld, descBehind, descBehindSecs, descRounds, descDeaths, descKeys,
		descPending, descUp,
	} {
		ch <- d
	}
}

// Lag is this replica's lag behind one origin.
type Lag struct {
	Origin string
	// Held is the highest version held; Known the highest the origin is
	// known to have reached; Behind = Known - Held.
	Held, Known, Behind uint64
	// For is how long the replica has been behind, measured from the first
	// call to Lag or Collect that saw it behind (so its resolution is the
	// scrape or poll interval); 0 when up to date.
	For time.Duration
}

// Lag returns the replication lag per origin, sorted by origin, and
// updates the timing of lag episodes.
func (c *Collector) Lag() []Lag { return c.lag(c.p.Replicas()) }

func (c *Collector) lag(reps []engine.Replica) []Lag {
	now := c.now()
	out := make([]Lag, 0, len(reps))
	c.mu.Lock()
	defer c.mu.Unlock()
	live := make(map[string]bool, len(reps))
	for _, r := range reps {
		l := Lag{Origin: r.Peer, Held: r.Held, Known: r.Known}
		live[r.Peer] = true
		if r.Known > r.Held {
			l.Behind = r.Known - r.Held
			since, ok := c.behind[r.Peer]
			if !ok {
				since = now
				c.behind[r.Peer] = now
			}
			l.For = now.Sub(since)
		} else {
			delete(c.behind, r.Peer)
		}
		out = append(out, l)
	}
	for o := range c.behind {
		if !live[o] {
			delete(c.behind, o)
		}
	}
	return out
}

// Collect reads the peer and sends every metric.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	s := c.p.Stats()
	running := 0.0
	if c.p.Running() {
		running = 1
	}
	gauge(descUp, running)
	gauge(descPeers, float64(s.LivePeers), "alive")
	gauge(descPeers, float64(s.DeadPeers), "dead")
	for _, pi := range c.p.AllPeers() {
		alive := 0.0
		if pi.Alive {
			alive = 1
		}
		gauge(descAlive, alive, pi.Name)
		gauge(descPhi, pi.Phi, pi.Name)
	}
	for typ, n := range s.PacketsSent {
		counter(descPackets, n, "out", typ)
	}
	for typ, n := range s.PacketsReceived {
		counter(descPackets, n, "in", typ)
	}
	t := s.Transport
	counter(descTrPackets, t.UDPPacketsSent, "out", "udp")
	counter(descTrPackets, t.TCPFramesSent, "out", "tcp")
	counter(descTrPackets, t.UDPPacketsReceived, "in", "udp")
	counter(descTrPackets, t.TCPFramesReceived, "in", "tcp")
	counter(descTrBytes, t.UDPBytesSent, "out", "udp")
	counter(descTrBytes, t.TCPBytesSent, "out", "tcp")
	counter(descTrBytes, t.UDPBytesReceived, "in", "udp")
	counter(descTrBytes, t.TCPBytesReceived, "in", "tcp")
	for cause, n := range s.DropCauses() {
		counter(descDrops, n, cause)
	}
	counter(descOutErrors, s.EncodeErrors, "encode")
	counter(descOutErrors, s.SendErrors+t.SendErrors, "send")
	counter(descOutErrors, s.PushDropped, "push_queue_full")
	runs, bytes := c.p.PushQueue()
	gauge(descPushRuns, float64(runs))
	gauge(descPushBytes, float64(bytes))

	// Several subscriptions may share a pattern: one series per (pattern,
	// kind), summed, so label sets stay unique.
	type subKey struct{ pattern, kind string }
	type subVal struct {
		delivered, dropped uint64
		depth              int
	}
	subs := map[subKey]*subVal{}
	for _, st := range c.p.Subscriptions() {
		k := subKey{st.Pattern, "handler"}
		if st.Stream {
			k.kind = "stream"
		}
		v := subs[k]
		if v == nil {
			v = &subVal{}
			subs[k] = v
		}
		v.delivered += st.Delivered
		v.dropped += st.Dropped
		v.depth += st.Queued
	}
	for k, v := range subs {
		counter(descSubEvents, v.delivered, k.pattern, k.kind, "delivered")
		counter(descSubEvents, v.dropped, k.pattern, k.kind, "dropped")
		gauge(descSubQueue, float64(v.depth), k.pattern, k.kind)
	}
	counter(descEvDropped, s.EventsDropped)
	counter(descPanics, s.HandlerPanics)

	for _, l := range c.Lag() {
		gauge(descHeld, float64(l.Held), l.Origin)
		gauge(descBehind, float64(l.Behind), l.Origin)
		gauge(descBehindSecs, l.For.Seconds(), l.Origin)
	}
	counter(descRounds, s.Rounds)
	counter(descDeaths, s.Deaths)
	gauge(descKeys, float64(s.Keys))
	gauge(descPending, float64(s.PendingRuns))
}
