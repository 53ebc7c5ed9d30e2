package metrics

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine"
	"github.com/telepathine/telepathine/engine/transport"
)

// memCluster starts n peers on an in-memory network, seeded with the first.
func memCluster(t *testing.T, n int, mutate func(*engine.Config)) (*transport.MemNetwork, []*engine.Peer) {
	t.Helper()
	net := transport.NewMemNetwork(transport.MemOptions{})
	var peers []*engine.Peer
	for i := range n {
		addr := fmt.Sprintf("10.0.0.%d:7946", i+1)
		cfg := engine.LocalConfig()
		cfg.Cluster = "metrics"
		cfg.Name = fmt.Sprintf("p%d", i)
		cfg.AdvertiseAddr = addr
		cfg.Transport = func() (transport.Transport, error) { return net.Endpoint(addr, transport.UDPPreferred), nil }
		if i > 0 {
			cfg.Seeds = []string{"10.0.0.1:7946"}
		}
		if mutate != nil {
			mutate(&cfg)
		}
		p, err := engine.New(cfg)
		require.NoError(t, err)
		require.NoError(t, p.Start(context.Background()))
		t.Cleanup(func() { _ = p.Close() })
		peers = append(peers, p)
	}
	for _, p := range peers {
		require.Eventually(t, func() bool { return len(p.LivePeers()) == n-1 }, 10*time.Second, 10*time.Millisecond)
	}
	return net, peers
}

func TestCollectorPassesLint(t *testing.T) {
	_, peers := memCluster(t, 2, nil)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(New(peers[0]))
	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, problems)
}

func TestPeersByStateAndPhi(t *testing.T) {
	net, peers := memCluster(t, 3, nil)
	c := New(peers[0])
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(`
# HELP telepathine_peers Other peers known, by state (alive, dead).
# TYPE telepathine_peers gauge
telepathine_peers{state="alive"} 2
telepathine_peers{state="dead"} 0
# HELP telepathine_peer_alive 1 if the peer seems alive, 0 if it seems dead.
# TYPE telepathine_peer_alive gauge
telepathine_peer_alive{peer="p1"} 1
telepathine_peer_alive{peer="p2"} 1
# HELP telepathine_running 1 while the local peer runs.
# TYPE telepathine_running gauge
telepathine_running 1
`), "telepathine_peers", "telepathine_peer_alive", "telepathine_running"))
	require.Equal(t, 2, testutil.CollectAndCount(c, "telepathine_peer_phi"))

	// p2 falls silent: it turns dead in the metrics.
	net.Isolate("10.0.0.3:7946")
	require.Eventually(t, func() bool {
		return testutil.CollectAndCompare(c, strings.NewReader(`
# HELP telepathine_peers Other peers known, by state (alive, dead).
# TYPE telepathine_peers gauge
telepathine_peers{state="alive"} 1
telepathine_peers{state="dead"} 1
`), "telepathine_peers") == nil
	}, 15*time.Second, 20*time.Millisecond)
}

func TestTrafficDropsAndReplication(t *testing.T) {
	_, peers := memCluster(t, 2, nil)
	c := New(peers[0])
	require.NoError(t, peers[1].Set("color", engine.String("blue")))
	require.Eventually(t, func() bool {
		_, err := peers[0].Lookup("p1", "color")
		ok := err == nil
		return ok
	}, 5*time.Second, 5*time.Millisecond)

	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	byName := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			if m.Counter != nil {
				byName[key] = m.Counter.GetValue()
			} else {
				byName[key] = m.Gauge.GetValue()
			}
		}
	}
	require.Positive(t, byName["telepathine_packets_total,direction=in,type=push"])
	require.Positive(t, byName["telepathine_packets_total,direction=in,type=syn"]+byName["telepathine_packets_total,direction=out,type=syn"])
	require.Positive(t, byName["telepathine_transport_bytes_total,direction=in,transport=udp"])
	require.Positive(t, byName["telepathine_transport_packets_total,direction=out,transport=udp"])
	require.Positive(t, byName["telepathine_gossip_rounds_total"])
	// Every drop cause is exported, at 0 on a clean network.
	for _, cause := range []string{"malformed", "truncated", "oversized", "foreign_cluster"} {
		v, ok := byName["telepathine_dropped_packets_total,cause="+cause]
		require.True(t, ok, cause)
		require.Zero(t, v, cause)
	}
	held := byName["telepathine_replication_version,origin=p1"]
	require.Positive(t, held)
	require.Zero(t, byName["telepathine_replication_behind_versions,origin=p1"])
	require.Zero(t, byName["telepathine_replication_behind_seconds,origin=p1"])
}

func TestForeignClusterDropsAreCounted(t *testing.T) {
	net, peers := memCluster(t, 1, nil)
	cfg := engine.LocalConfig()
	cfg.Cluster = "other"
	cfg.AdvertiseAddr = "10.0.9.9:7946"
	cfg.Seeds = []string{"10.0.0.1:7946"}
	cfg.Transport = func() (transport.Transport, error) { return net.Endpoint("10.0.9.9:7946", transport.UDPPreferred), nil }
	stranger, err := engine.New(cfg)
	require.NoError(t, err)
	require.NoError(t, stranger.Start(context.Background()))
	t.Cleanup(func() { _ = stranger.Close() })
	c := New(peers[0])
	require.Eventually(t, func() bool {
		return metricValue(t, c, "telepathine_dropped_packets_total", `cause="foreign_cluster"`) > 0
	}, 5*time.Second, 10*time.Millisecond)
	require.Zero(t, metricValue(t, c, "telepathine_dropped_packets_total", `cause="malformed"`))
}

func TestSubscriptionCountsAndPushQueue(t *testing.T) {
	_, peers := memCluster(t, 2, func(c *engine.Config) { c.Limits.HandlerQueue = 4 })
	release := make(chan struct{})
	sub := peers[0].On("set:**", func(*engine.Event) { <-release })
	defer sub.Cancel()
	defer close(release)
	for i := range 20 {
		require.NoError(t, peers[1].Set(fmt.Sprintf("k%d", i), engine.String("v")))
	}
	c := New(peers[0])
	dropped := func() float64 {
		return metricValue(t, c, "telepathine_subscription_events_total", `pattern="set:**"`, `outcome="dropped"`)
	}
	require.Eventually(t, func() bool { return dropped() > 0 }, 5*time.Second, 5*time.Millisecond)
	delivered := metricValue(t, c, "telepathine_subscription_events_total", `pattern="set:**"`, `outcome="delivered"`)
	require.GreaterOrEqual(t, delivered, 4.0, "the queue filled before dropping")
	require.Equal(t, 20.0, delivered+dropped(), "every set was delivered or dropped")
	depth := metricValue(t, c, "telepathine_subscription_queue_depth", `pattern="set:**"`)
	require.LessOrEqual(t, depth, 4.0)
	require.Equal(t, 1, testutil.CollectAndCount(c, "telepathine_push_queue_bytes"))
}

// metricValue collects c and returns the value of the one series of name
// whose labels contain every fragment.
func metricValue(t *testing.T, c prometheus.Collector, name string, fragments ...string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			labels := make(map[string]string, len(m.GetLabel()))
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for _, f := range fragments {
				name, value, _ := strings.Cut(strings.ReplaceAll(f, `"`, ""), "=")
				if v, ok := labels[name]; !ok || v != value {
					continue series
				}
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	t.Fatalf("no series %s%v", name, fragments)
	return 0
}

// Lag episodes are timed from the first observation and end when caught up.
func TestLagTiming(t *testing.T) {
	now := time.Unix(1000, 0)
	c := New(nil, WithClock(func() time.Time { return now }))
	got := c.lag([]engine.Replica{{Peer: "a", Held: 5, Known: 5}, {Peer: "b", Held: 3, Known: 7}})
	require.Equal(t, []Lag{{Origin: "a", Held: 5, Known: 5}, {Origin: "b", Held: 3, Known: 7, Behind: 4}}, got)
	now = now.Add(1500 * time.Millisecond)
	got = c.lag([]engine.Replica{{Peer: "a", Held: 5, Known: 6}, {Peer: "b", Held: 5, Known: 7}})
	require.Equal(t, time.Duration(0), got[0].For, "a just fell behind")
	require.Equal(t, 1500*time.Millisecond, got[1].For, "b behind since the first sample")
	now = now.Add(time.Second)
	got = c.lag([]engine.Replica{{Peer: "a", Held: 6, Known: 6}})
	require.Equal(t, Lag{Origin: "a", Held: 6, Known: 6}, got[0])
	require.Empty(t, c.behind, "caught-up and vanished origins are forgotten")
}
