package engine

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine/transport"
)

// dnsStub is a Resolver whose answers a test changes while peers run.
type dnsStub struct {
	mu    sync.Mutex
	table map[string][]string
	calls atomic.Int32
}

func (d *dnsStub) set(host string, ips ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.table[host] = ips
}

func (d *dnsStub) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	d.calls.Add(1)
	d.mu.Lock()
	defer d.mu.Unlock()
	ips := d.table[host]
	if len(ips) == 0 {
		return nil, errors.New("no such host")
	}
	out := make([]netip.Addr, len(ips))
	for i, ip := range ips {
		out[i] = netip.MustParseAddr(ip)
	}
	return out, nil
}

// startMemPeer starts a peer at addr of net with seeds and a resolver.
func startMemPeer(t *testing.T, net *transport.MemNetwork, addr string, res transport.Resolver, seeds ...string) *Peer {
	t.Helper()
	c := testConfig()
	c.AdvertiseAddr = addr
	c.Seeds = seeds
	c.Resolver = res
	c.Transport = func() (transport.Transport, error) { return net.Endpoint(addr, c.TransportMode.transport()), nil }
	p, err := New(c)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// A seed name joins through every address it resolves to: two peers that
// do not know each other become one cluster through a third whose only
// seed is a name for both.
func TestSeedNameJoinsThroughEveryAddress(t *testing.T) {
	net := transport.NewMemNetwork(transport.MemOptions{})
	dns := &dnsStub{table: map[string][]string{}}
	dns.set("peers.test", "10.0.0.1", "10.0.0.2")
	a := startMemPeer(t, net, "10.0.0.1:7946", nil)
	b := startMemPeer(t, net, "10.0.0.2:7946", nil)
	c := startMemPeer(t, net, "10.0.0.3:7946", dns, "peers.test:7946")
	for _, p := range []*Peer{a, b, c} {
		require.Eventually(t, func() bool { return len(p.LivePeers()) == 2 }, 10*time.Second, 5*time.Millisecond, p.Name())
	}
}

// A name that resolves to nothing yet is asked again while no seed
// answers; once a seed answers, DNS is left alone.
func TestSeedNameReResolvedWhileNoSeedAnswers(t *testing.T) {
	net := transport.NewMemNetwork(transport.MemOptions{})
	dns := &dnsStub{table: map[string][]string{}}
	c := startMemPeer(t, net, "10.0.0.3:7946", dns, "peers.test:7946")
	require.Eventually(t, func() bool { return dns.calls.Load() >= 3 }, 10*time.Second, 5*time.Millisecond,
		"no answer: asked again and again")
	require.Empty(t, c.LivePeers())

	startMemPeer(t, net, "10.0.0.1:7946", nil)
	dns.set("peers.test", "10.0.0.1")
	require.Eventually(t, func() bool { return len(c.LivePeers()) == 1 }, 10*time.Second, 5*time.Millisecond)
	// Joined: the next ticks find a seed answering and leave DNS alone
	// (until the slow refresh, seedRefreshTicks ticks later).
	settled := dns.calls.Load()
	require.Never(t, func() bool { return dns.calls.Load() > settled+1 },
		5*seedResolveRounds*c.Config().GossipInterval, 10*time.Millisecond)
}
