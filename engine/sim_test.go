package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine/clock"
	"github.com/telepathine/telepathine/engine/transport"
)

// sim is a deterministic cluster: a manual clock, an in-memory network that
// delivers synchronously, and rounds driven by the test. Nothing sleeps; a
// simulated minute takes milliseconds.
type sim struct {
	tb    testing.TB
	clk   *clock.Manual
	net   *transport.MemNetwork
	peers []*Peer
	base  Config
	rng   *rand.Rand
	now   time.Duration // simulated time since start
}

var simEpoch = time.Unix(1_800_000_000, 0)

func newSim(tb testing.TB, n int, base Config) *sim {
	tb.Helper()
	clk := clock.NewManual(simEpoch)
	s := &sim{
		tb: tb, clk: clk, base: base, rng: rand.New(rand.NewPCG(42, uint64(n))),
		net: transport.NewMemNetwork(transport.MemOptions{Sync: true, Clock: clk, Seed: 7}),
	}
	for i := 0; i < n; i++ {
		s.add(i)
	}
	return s
}

func (s *sim) config(i int) Config {
	c := s.base
	addr := memAddr(i)
	c.AdvertiseAddr = addr
	c.Clock = s.clk
	c.manual = true
	c.Seed = uint64(i + 1)
	mode := c.TransportMode
	c.Transport = func() (transport.Transport, error) { return s.net.Endpoint(addr, mode), nil }
	if i > 0 {
		c.Seeds = []string{memAddr(0)}
	}
	return c
}

func (s *sim) add(i int) *Peer {
	p, err := New(s.config(i))
	require.NoError(s.tb, err)
	require.NoError(s.tb, p.Start(context.Background()))
	s.tb.Cleanup(func() { _ = p.Close() })
	if i < len(s.peers) {
		s.peers[i] = p
	} else {
		s.peers = append(s.peers, p)
	}
	return p
}

// flush delivers pushes until none are queued (forwarding cascades).
func (s *sim) flush() {
	for {
		busy := false
		for _, p := range s.peers {
			p.mu.Lock()
			n := len(p.pushQ)
			p.mu.Unlock()
			if n > 0 && p.Running() {
				busy = true
				p.flushPushes()
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
	d := s.base.GossipInterval
	s.clk.Advance(d)
	s.now += d
	order := s.rng.Perm(len(s.peers))
	for _, i := range order {
		if p := s.peers[i]; p.Running() {
			p.gossipRound()
		}
	}
	s.flush()
}

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

func (s *sim) running() []*Peer {
	var out []*Peer
	for _, p := range s.peers {
		if p.Running() {
			out = append(out, p)
		}
	}
	return out
}

func (s *sim) allKnowAll() bool {
	run := s.running()
	for _, p := range run {
		if len(p.LivePeers()) != len(run)-1 {
			return false
		}
	}
	return true
}

func (s *sim) allHave(owner *Peer, key, want string) bool {
	for _, p := range s.running() {
		v, ok := p.GetRemote(owner.Name(), key)
		if !ok || v.String() != want {
			return false
		}
	}
	return true
}

func simConfig() Config {
	c := LANConfig()
	c.Cluster = "sim"
	return c
}

func TestSimFailureDetectionWithoutSleeping(t *testing.T) {
	s := newSim(t, 8, simConfig())
	s.until(50, s.allKnowAll, "join")
	// Let the detectors learn the heartbeat rhythm.
	for i := 0; i < 50; i++ {
		s.step()
	}
	for _, p := range s.peers {
		require.Empty(t, p.DeadPeers(), "no false death in a healthy cluster")
	}
	victim := s.peers[5]
	name := victim.Name()
	s.net.Isolate(memAddr(5)) // a crash, as the others see it
	require.NoError(t, victim.Stop(context.Background()))
	crashed := s.now
	s.until(200, func() bool {
		for _, p := range s.running() {
			if _, dead := find(p.DeadPeers(), name); !dead {
				return false
			}
		}
		return true
	}, "crash detection")
	took := s.now - crashed
	t.Logf("crash detected by all after %v of simulated time (LAN config)", took)
	require.Less(t, took, 5*time.Second, "LAN target: dead everywhere within 5 s")
	require.Greater(t, took, time.Second, "not before a few heartbeats were missed")
}

func TestSimExpiryWithoutSleeping(t *testing.T) {
	s := newSim(t, 4, simConfig())
	s.until(50, s.allKnowAll, "join")
	recs := make([]*recorder, len(s.peers))
	for i, p := range s.peers {
		recs[i] = &recorder{}
		p.On("key:expired", recs[i].handler)
	}
	owner := s.peers[2]
	at := s.clk.Now().Add(3 * time.Second)
	require.NoError(t, owner.Set("lease", String("x"), ExpiresAt(at)))
	s.flush()
	require.True(t, s.allHave(owner, "lease", "x"), "pushed to everyone at once")
	s.until(20, func() bool { return !s.clk.Now().Before(at) }, "time passes")
	for _, p := range s.peers {
		_, ok := p.GetRemote(owner.Name(), "lease")
		require.False(t, ok, "expired at %v on %s", at, p.Name())
	}
	s.step()
	for i, r := range recs {
		require.Eventually(t, func() bool { return r.count(func(*Event) bool { return true }) == 1 },
			5*time.Second, time.Millisecond, "peer %d: one key:expired", i)
	}
}

func TestSimDigestSubsetsStillConverge(t *testing.T) {
	// 80 peers: a full digest (80 lines) does not fit a 1400-byte datagram,
	// so digests go as random subsets; membership must still converge.
	s := newSim(t, 80, simConfig())
	require.Less(t, s.peers[0].digestLines(), 80)
	rounds := s.until(100, s.allKnowAll, "membership with digest subsets")
	t.Logf("80 peers with digest subsets converged in %d rounds", rounds)
}

func TestSimQuietClusterSendsOnlyDigests(t *testing.T) {
	s := newSim(t, 16, simConfig())
	s.until(50, s.allKnowAll, "join")
	for _, p := range s.peers {
		require.NoError(t, p.Set("k", String(p.Name())))
	}
	s.flush()
	for i := 0; i < 100; i++ {
		s.step()
	}
	before := make([]Stats, len(s.peers))
	for i, p := range s.peers {
		before[i] = p.Stats()
	}
	for i := 0; i < 50; i++ {
		s.step()
	}
	for i, p := range s.peers {
		after := p.Stats()
		require.Equal(t, before[i].PacketsSent["ack"], after.PacketsSent["ack"], "no deltas once converged")
		require.Equal(t, before[i].PacketsSent["push"], after.PacketsSent["push"], "no pushes once converged")
		require.Greater(t, after.PacketsSent["syn"], before[i].PacketsSent["syn"])
	}
}

func TestSimSetFloodDoesNotStarveHeartbeats(t *testing.T) {
	c := simConfig()
	c.DeltaBudget = 64 << 10
	s := newSim(t, 6, c)
	s.until(50, s.allKnowAll, "join")
	for i := 0; i < 30; i++ {
		s.step()
	}
	flooder := s.peers[0]
	for r := 0; r < 30; r++ {
		for i := 0; i < 200; i++ {
			require.NoError(t, flooder.Set(fmt.Sprintf("flood/%d", i), Bytes(make([]byte, 512))))
		}
		s.step()
		for _, p := range s.peers {
			require.Empty(t, p.DeadPeers(), "round %d: a set flood made %s suspect a peer", r, p.Name())
		}
	}
	s.until(100, func() bool { return s.allHave(flooder, "flood/199", string(make([]byte, 512))) }, "flood delivered")
}

func TestSimLossyNetworkConverges(t *testing.T) {
	s := newSim(t, 16, simConfig())
	s.net.SetLoss(0.2)
	s.net.SetDuplicate(0.1)
	s.until(100, s.allKnowAll, "join over a lossy network")
	for i, p := range s.peers {
		require.NoError(t, p.Set("k", String(fmt.Sprint(i))))
	}
	s.until(100, func() bool {
		for i, p := range s.peers {
			if !s.allHave(p, "k", fmt.Sprint(i)) {
				return false
			}
		}
		return true
	}, "values over a lossy network")
}

func TestSimDeadPeerRemovedAfterGraceAndNotResurrected(t *testing.T) {
	c := simConfig()
	c.DeadGrace = 10 * time.Second
	s := newSim(t, 6, c)
	s.until(50, s.allKnowAll, "join")
	victim := s.peers[4]
	name := victim.Name()
	s.net.Isolate(memAddr(4))
	require.NoError(t, victim.Stop(context.Background()))
	s.until(100, func() bool {
		for _, p := range s.running() {
			if _, dead := find(p.DeadPeers(), name); !dead {
				return false
			}
		}
		return true
	}, "declared dead")
	// Peers pass the grace period at slightly different times; until all
	// have, some still gossip about the dead peer. Nobody brings it back.
	s.until(200, func() bool {
		for _, p := range s.running() {
			if _, known := find(p.AllPeers(), name); known {
				return false
			}
		}
		return true
	}, "removed everywhere")
	for i := 0; i < 100; i++ {
		s.step()
		for _, p := range s.running() {
			_, known := find(p.AllPeers(), name)
			require.False(t, known, "round %d: %s resurrected %s", i, p.Name(), name)
		}
	}
	// The same name coming back as a new process is welcome.
	s.net.Heal()
	s.add(4)
	s.until(50, s.allKnowAll, "rejoin")
}
