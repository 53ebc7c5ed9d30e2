package engine

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine/internal/seal"
	"github.com/telepathine/telepathine/engine/transport"
)

// cluster is a set of peers built for a test; every peer is closed at the
// end of the test.
type cluster struct {
	t     testing.TB
	net   *transport.MemNetwork // nil on real sockets
	peers []*Peer
	cfg   func(i int, c *Config)
}

func testConfig() Config {
	c := LocalConfig()
	c.Cluster = "test"
	return c
}

// loadTolerant makes the failure detector patient, for tests of many peers
// on real time that test something else than failure detection: on a
// loaded machine (-race, -count, other packages in parallel) heartbeats
// are late by seconds, and a peer wrongly declared dead keeps a cluster
// from ever looking converged.
func loadTolerant(c *Config) {
	c.Failure.AcceptablePause = 10 * time.Second
}

// memAddr is the in-memory address of peer i.
func memAddr(i int) string { return fmt.Sprintf("10.0.%d.%d:7946", i/250, i%250+1) }

// newMemCluster starts n peers on an in-memory network, all seeded with the
// first one.
func newMemCluster(t testing.TB, n int, opts transport.MemOptions, mutate func(i int, c *Config)) *cluster {
	t.Helper()
	cl := &cluster{t: t, net: transport.NewMemNetwork(opts), cfg: mutate}
	for i := 0; i < n; i++ {
		cl.add(i)
	}
	return cl
}

func (cl *cluster) config(i int) Config {
	c := testConfig()
	if cl.net != nil {
		addr := memAddr(i)
		mode := c.TransportMode
		c.AdvertiseAddr = addr
		c.Transport = func() (transport.Transport, error) { return cl.net.Endpoint(addr, mode.transport()), nil }
		if i > 0 {
			c.Seeds = []string{memAddr(0)}
		}
	} else if i > 0 {
		c.Seeds = []string{cl.peers[0].Addr()}
	}
	c.RandSeed = uint64(i + 1)
	if cl.cfg != nil {
		cl.cfg(i, &c)
	}
	return c
}

// add creates and starts peer i.
func (cl *cluster) add(i int) *Peer {
	cl.t.Helper()
	p, err := New(cl.config(i))
	require.NoError(cl.t, err)
	require.NoError(cl.t, p.Start(context.Background()))
	cl.t.Cleanup(func() { _ = p.Close() })
	if i < len(cl.peers) {
		cl.peers[i] = p
	} else {
		cl.peers = append(cl.peers, p)
	}
	return p
}

// newNetCluster starts n peers on loopback sockets (port 0, read back).
func newNetCluster(t testing.TB, n int, mutate func(i int, c *Config)) *cluster {
	t.Helper()
	cl := &cluster{t: t, cfg: mutate}
	for i := 0; i < n; i++ {
		cl.add(i)
	}
	return cl
}

// waitFor bounds every wait of the engine's tests.
const waitFor = 10 * time.Second

// eventually is the engine tests' one wait: testify's require.Eventually,
// polling cond every 5 ms until it holds or d has passed. cond runs on a
// goroutine of testify's: it must not call t.Fatal or require.
func eventually(t testing.TB, d time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	require.Eventually(t, cond, d, 5*time.Millisecond, append([]any{"within %v: " + msg, d}, args...)...)
}

// converged reports whether every peer sees every other as alive.
func (cl *cluster) converged() bool {
	for _, p := range cl.peers {
		if len(p.LivePeers()) != len(cl.peers)-1 {
			return false
		}
	}
	return true
}

// recorder collects events of one subscription.
type recorder struct {
	mu     sync.Mutex
	events []*Event
}

func (r *recorder) handler(e *Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) snapshot() []*Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*Event(nil), r.events...)
}

func (r *recorder) count(pred func(*Event) bool) int {
	n := 0
	for _, e := range r.snapshot() {
		if pred(e) {
			n++
		}
	}
	return n
}

func record(p *Peer, pattern string) *recorder {
	r := &recorder{}
	p.On(pattern, r.handler)
	return r
}

// remote is Lookup reduced to what most tests check: the value, if any.
func remote(p *Peer, peer, key string) (Value, bool) {
	kv, err := p.Lookup(peer, key)
	return kv.Value, err == nil
}

// plainEnvelope wraps an encoded packet in the plain (CRC-32C) envelope, as
// a peer without a key (or an attacker without it) sends it.
func plainEnvelope(t testing.TB, payload []byte) []byte {
	t.Helper()
	s, err := seal.New(seal.Options{Cluster: "any"})
	require.NoError(t, err)
	b, err := s.Seal(nil, payload, time.Now())
	require.NoError(t, err)
	return b
}
