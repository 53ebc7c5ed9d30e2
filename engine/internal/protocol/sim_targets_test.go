package protocol

import (
	"fmt"
	"testing"
	"time"
)

// lanTargets measures, in simulated time at memberlist's LAN cadence, the
// figures issue #2 designs for: concurrent join, a Set reaching everyone, a
// crash detected by all, and the bytes a quiet cluster sends per peer.
type lanTargets struct {
	join, spreadPush, spreadAE, detect time.Duration
	quietBps                           float64
	falseDeaths                        int
}

func measureLAN(tb testing.TB, n int) lanTargets {
	var out lanTargets
	s := newSim(tb, n, simConfig())
	start := s.elapsed()
	s.until(100, s.allKnowAll, "join")
	out.join = s.elapsed() - start

	// Quiet: let detectors settle, then count bytes over 30 s.
	for i := 0; i < 50; i++ {
		s.step()
	}
	var before uint64
	for _, p := range s.peers {
		before += p.bytes
	}
	const quiet = 150 // rounds: 30 s
	for i := 0; i < quiet; i++ {
		s.step()
	}
	var after uint64
	for _, p := range s.peers {
		after += p.bytes
	}
	out.quietBps = float64(after-before) / float64(n) / (float64(quiet) * s.cfg.GossipInterval.Seconds())

	// A Set with the push fast path: synchronous in the simulator, so it is
	// everywhere before the next round unless the epidemic missed someone.
	owner := s.peers[n/2]
	s.set(owner, "k1", "v", 0)
	s.flush()
	r := s.until(20, func() bool { return s.allHave(owner, "k1", "v") }, "spread with push")
	out.spreadPush = time.Duration(r) * s.cfg.GossipInterval
	// Anti-entropy alone (no push), for comparison.
	s.setQuietly(owner, "k2", "v")
	r = s.until(50, func() bool { return s.allHave(owner, "k2", "v") }, "spread by anti-entropy")
	out.spreadAE = time.Duration(r) * s.cfg.GossipInterval

	// Crash one peer.
	victim := s.peers[n-1]
	s.net.Isolate(memAddr(n - 1))
	s.stop(victim)
	crashed := s.elapsed()
	s.until(100, func() bool {
		for _, p := range s.running() {
			if _, dead := find(p.DeadPeers(), victim.Name()); !dead {
				return false
			}
		}
		return true
	}, "detection")
	out.detect = s.elapsed() - crashed
	for _, p := range s.running() {
		out.falseDeaths += len(p.DeadPeers()) - 1
	}
	return out
}

// BenchmarkLANTargets reports, for N = 64 at LAN cadence in the simulator,
// the figures the engine is designed for: join (all know all), a Set
// reaching all (with push; and by anti-entropy alone), a crash detected by
// all, false deaths, and bytes sent per peer per second by a quiet cluster.
// Time here is simulated time, so the figures are protocol properties, not
// machine speed.
func BenchmarkLANTargets(b *testing.B) {
	for _, n := range []int{16, 64} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			var m lanTargets
			for b.Loop() {
				m = measureLAN(b, n)
			}
			b.ReportMetric(float64(m.join.Milliseconds()), "join-ms")
			b.ReportMetric(float64(m.spreadPush.Milliseconds()), "set-ms")
			b.ReportMetric(float64(m.spreadAE.Milliseconds()), "set-antientropy-ms")
			b.ReportMetric(float64(m.detect.Milliseconds()), "detect-ms")
			b.ReportMetric(float64(m.falseDeaths), "false-deaths")
			b.ReportMetric(m.quietBps, "quiet-B/s/peer")
		})
	}
}

// BenchmarkRoundsToSpread: gossip rounds until a key set on one peer is held
// by all N, by anti-entropy alone (no push) — the epidemic's depth — and
// with the push fast path.
func BenchmarkRoundsToSpread(b *testing.B) {
	for _, n := range []int{16, 64, 256} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			s := newSim(b, n, simConfig())
			s.until(200, s.allKnowAll, "join")
			var ae, push, k int
			for b.Loop() {
				k++
				owner := s.peers[s.rng.IntN(n)]
				key := fmt.Sprintf("k%d", k)
				s.setQuietly(owner, key, "v")
				ae += s.until(100, func() bool { return s.allHave(owner, key, "v") }, "anti-entropy")
				key += "p"
				s.set(owner, key, "v", 0)
				s.flush()
				push += s.until(100, func() bool { return s.allHave(owner, key, "v") }, "push")
			}
			b.ReportMetric(float64(ae)/float64(k), "rounds-antientropy")
			b.ReportMetric(float64(push)/float64(k), "rounds-push")
		})
	}
}
