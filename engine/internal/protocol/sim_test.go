package protocol

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine/internal/wire"
)

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
	s.stop(victim)
	crashed := s.elapsed()
	s.until(200, func() bool {
		for _, p := range s.running() {
			if _, dead := find(p.DeadPeers(), name); !dead {
				return false
			}
		}
		return true
	}, "crash detection")
	took := s.elapsed() - crashed
	t.Logf("crash detected by all after %v of simulated time (LAN config)", took)
	require.Less(t, took, 5*time.Second, "LAN target: dead everywhere within 5 s")
	require.Greater(t, took, time.Second, "not before a few heartbeats were missed")
}

func TestSimExpiryWithoutSleeping(t *testing.T) {
	s := newSim(t, 4, simConfig())
	s.until(50, s.allKnowAll, "join")
	owner := s.peers[2]
	at := s.now.Add(3 * time.Second)
	s.set(owner, "lease", "x", at.UnixMilli())
	s.flush()
	require.True(t, s.allHave(owner, "lease", "x"), "pushed to everyone at once")
	s.until(20, func() bool { return !s.now.Before(at) }, "time passes")
	for _, p := range s.peers {
		_, ok := p.core.Get(owner.Name(), "lease", s.now.UnixMilli())
		require.False(t, ok, "expired at %v on %s", at, p.Name())
	}
	s.step()
	for i, p := range s.peers {
		require.Equal(t, 1, count(p.events, KeyExpired), "peer %d: one key:expired", i)
	}
}

func TestSimDigestSubsetsStillConverge(t *testing.T) {
	// 80 peers: a full digest (80 lines) does not fit a 1400-byte datagram,
	// so digests go as random subsets; membership must still converge.
	s := newSim(t, 80, simConfig())
	require.Less(t, s.peers[0].core.DigestLines(), 80)
	rounds := s.until(100, s.allKnowAll, "membership with digest subsets")
	t.Logf("80 peers with digest subsets converged in %d rounds", rounds)
}

func TestSimQuietClusterSendsOnlyDigests(t *testing.T) {
	s := newSim(t, 16, simConfig())
	s.until(50, s.allKnowAll, "join")
	for _, p := range s.peers {
		s.set(p, "k", p.Name(), 0)
	}
	s.flush()
	for i := 0; i < 100; i++ {
		s.step()
	}
	before := make([][wire.NumTypes]uint64, len(s.peers))
	for i, p := range s.peers {
		before[i] = p.sent
	}
	for i := 0; i < 50; i++ {
		s.step()
	}
	for i, p := range s.peers {
		after := p.sent
		require.Equal(t, before[i][wire.Ack], after[wire.Ack], "no deltas once converged")
		require.Equal(t, before[i][wire.Push], after[wire.Push], "no pushes once converged")
		require.Greater(t, after[wire.Syn], before[i][wire.Syn])
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
			s.set(flooder, fmt.Sprintf("flood/%d", i), string(make([]byte, 512)), 0)
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
		s.set(p, "k", fmt.Sprint(i), 0)
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
	s.stop(victim)
	s.until(100, func() bool {
		for _, p := range s.running() {
			if _, dead := find(p.DeadPeers(), name); !dead {
				return false
			}
		}
		return true
	}, "declared dead")
	requireDownIndex(t, s)
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
	requireDownIndex(t, s)
}

// requireDownIndex checks that each running peer's list of members not
// alive (what the removal sweep walks; built with the ring) names every
// member that is not alive, unless the ring is due to be rebuilt (which
// judge does before its sweep): one missing would never be removed.
// It steps the simulation until at least one peer's ring is built.
func requireDownIndex(t *testing.T, s *sim) {
	t.Helper()
	for i := 0; ; i++ {
		built := 0
		for _, p := range s.running() {
			if !p.core.members.ringDirty {
				built++
			}
		}
		if built > 0 {
			break
		}
		require.Less(t, i, 10, "no ring rebuilt in 10 steps")
		s.step()
	}
	for _, p := range s.running() {
		m := &p.core.members
		if m.ringDirty {
			continue
		}
		for name, mb := range m.byName {
			if !mb.alive {
				require.Contains(t, m.down, name, "%s: a member not alive is missing from its down list", p.Name())
			}
		}
	}
}
