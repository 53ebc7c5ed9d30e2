package protocol

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine/internal/wire"
)

// Liveness at scale (issue #12), in the deterministic simulator: quiet
// bytes per peer, crash detection, false deaths under loss and CPU
// starvation, graceful leave, memory per peer. Simulated time, real codec.

// lanLiveness is the LAN preset with the engine's default cluster name, so
// byte counts are what a default deployment writes.
func lanLiveness() Config {
	c := simConfig()
	c.Cluster = "telepathine"
	return c
}

// settle joins n peers and lets the cluster go quiet.
func settle(tb testing.TB, n int, cfg Config) *sim {
	s := newSim(tb, n, cfg)
	s.until(200, s.allKnowAll, "join")
	for i := 0; i < 100; i++ { // 20 s: past QuietAfter, detectors warmed up
		s.step()
	}
	return s
}

// quietBps is the bytes written per peer per second over d of quiet.
func quietBps(s *sim, d time.Duration) float64 {
	var before, after uint64
	var tb, ta [wire.NumTypes]uint64
	for _, p := range s.peers {
		before += p.bytes
		for i := range tb {
			tb[i] += p.byType[i]
		}
	}
	for end := s.now.Add(d); s.now.Before(end); {
		s.step()
	}
	for _, p := range s.peers {
		after += p.bytes
		for i := range ta {
			ta[i] += p.byType[i]
		}
	}
	per := func(a, b uint64) float64 { return float64(a-b) / float64(len(s.peers)) / d.Seconds() }
	for i := range ta {
		if ta[i] > tb[i] {
			s.tb.Logf("  %v: %.1f B/s per peer", wire.Type(i), per(ta[i], tb[i]))
		}
	}
	return per(after, before)
}

func failedStops(p *simPeer) int {
	n := 0
	for _, e := range p.events {
		if e.Kind == PeerStop && e.Reason == ReasonFailed {
			n++
		}
	}
	return n
}

func TestSimQuietTrafficFlatInN(t *testing.T) {
	for _, tc := range []struct {
		n      int
		budget float64
	}{{64, 250}, {256, 300}} {
		s := settle(t, tc.n, lanLiveness())
		bps := quietBps(s, 60*time.Second)
		t.Logf("N=%d: quiet cluster writes %.0f B/s per peer", tc.n, bps)
		require.LessOrEqual(t, bps, tc.budget, "N=%d", tc.n)
		for _, p := range s.peers {
			require.Zero(t, failedStops(p), "no false death while quiet")
			require.Zero(t, p.sent[wire.Push], "nothing pushed in a quiet cluster")
		}
	}
}

// crashDetection crashes victims one at a time, each at a random phase of
// the heartbeat, and returns how long until every running peer declared
// it dead.
func crashDetection(tb testing.TB, s *sim, victims int, seed uint64) []time.Duration {
	rng := rand.New(rand.NewPCG(seed, 1))
	var took []time.Duration
	for v := 0; v < victims; v++ {
		for i := rng.IntN(5); i > 0; i-- { // random phase within a beat
			s.step()
		}
		run := s.running()
		victim := run[rng.IntN(len(run))]
		s.net.Isolate(victim.addr)
		s.stop(victim)
		crashed := s.now
		s.until(100, func() bool {
			for _, p := range s.running() {
				if info, ok := find(p.AllPeers(), victim.Name()); !ok || info.Alive {
					return false
				}
			}
			return true
		}, "crash detection")
		took = append(took, s.now.Sub(crashed))
		for i := 0; i < 25; i++ { // let the ring settle before the next crash
			s.step()
		}
	}
	return took
}

func median(ds []time.Duration) time.Duration {
	c := slices.Clone(ds)
	slices.Sort(c)
	return c[len(c)/2]
}

func TestSimCrashDetectedWithin3sMedian4sWorst(t *testing.T) {
	for _, n := range []int{64, 256} {
		s := settle(t, n, lanLiveness())
		took := crashDetection(t, s, 8, uint64(n))
		med, worst := median(took), slices.Max(took)
		t.Logf("N=%d: crash declared dead by all: median %v, worst %v (%v)", n, med, worst, took)
		require.LessOrEqual(t, med, 3*time.Second)
		require.LessOrEqual(t, worst, 4*time.Second)
		for _, p := range s.running() {
			require.Equal(t, 8, failedStops(p), "%s: only the victims died", p.Name())
			for _, info := range p.LivePeers() {
				if info.State != StateAlive {
					for _, q := range s.running() {
						if mb := q.core.members.byName[info.Name]; mb != nil && mb.fd != nil {
							for _, r := range s.running() {
								if r.Name() == info.Name {
									t.Logf("accused %s beats to %v; ring %d", r.Name(), r.core.members.beatTo, len(r.core.members.ring))
								}
							}
							t.Logf("watcher ring %d", len(q.core.members.ring))
							t.Logf("%s: fd of %s: phi %v last %v mean %v accused %v slack %v", q.Name(), info.Name, mb.fd.Phi(s.now), s.now.Sub(mb.fd.Last()), mb.fd.Mean(), mb.accused, q.core.slack)
						}
						t.Logf("%s: watches %v beats to %v; accusers %v", q.Name(), q.core.members.watched, q.core.members.beatTo, q.core.members.accusers[info.Name])
					}
				}
				require.Equal(t, StateAlive, info.State, "%s sees %s suspect", p.Name(), info.Name)
			}
		}
	}
}

func TestSimNoFalseDeathAtTenPercentLoss(t *testing.T) {
	s := settle(t, 64, lanLiveness())
	s.net.SetLoss(0.10)
	for i := 0; i < 5*60*5; i++ { // 5 simulated minutes
		s.step()
	}
	for _, p := range s.peers {
		require.Zero(t, failedStops(p), "%s declared a live peer dead at 10 %% loss", p.Name())
	}
	// Detection still works under that loss.
	took := crashDetection(t, s, 4, 10)
	t.Logf("N=64, 10%% loss: crash declared dead by all after %v", took)
	require.LessOrEqual(t, slices.Max(took), 6*time.Second)
}

func TestSimNoLivePeerLostAtFiftyPercentLoss(t *testing.T) {
	s := settle(t, 64, lanLiveness())
	s.net.SetLoss(0.5)
	for i := 0; i < 30*5; i++ { // 30 s
		s.step()
	}
	for _, p := range s.peers {
		require.Zero(t, failedStops(p), "%s declared a live peer dead at 50 %% loss", p.Name())
		require.Len(t, p.LivePeers(), 63)
	}
}

func TestSimNoFalseDeathWhenWatchersStarve(t *testing.T) {
	// CPU starvation: every round each peer may stall (its ticks do not
	// run, packets for it queue) for 0.2 to 1.2 s; when it wakes its late
	// tick runs before the queued beats. Stalls also delay the stalled
	// peer's own beats.
	s := settle(t, 64, lanLiveness())
	rng := rand.New(rand.NewPCG(3, 3))
	stalls := 0
	for i := 0; i < 2*60*5; i++ { // 2 simulated minutes
		for _, p := range s.peers {
			if !s.now.Before(p.stalledUntil) && rng.Float64() < 0.05 {
				p.stalledUntil = s.now.Add(200*time.Millisecond + time.Duration(rng.IntN(1000))*time.Millisecond)
				stalls++
			}
		}
		s.step()
	}
	t.Logf("%d stalls of 0.2-1.2 s over 2 min at N=64", stalls)
	for _, p := range s.peers {
		require.Zero(t, failedStops(p), "%s declared a live peer dead while starved", p.Name())
	}
}

func TestSimFalseSuspicionRefuted(t *testing.T) {
	// Cut the beats of one peer to its watchers only: they suspect it, the
	// suspicions reach it through the others, it refutes, and nobody is
	// left believing it dead.
	s := settle(t, 16, lanLiveness())
	victim := s.peers[3]
	watchers := victim.core.members.beatTo
	require.Len(t, watchers, 3)
	s.net.Isolate(victim.addr)
	for i := 0; i < 4*5; i++ {
		s.step()
	}
	s.net.Heal()
	s.until(50, func() bool {
		for _, p := range s.running() {
			if p == victim {
				continue
			}
			if info, ok := find(p.AllPeers(), victim.Name()); !ok || !info.Alive || info.Suspects > 0 {
				return false
			}
		}
		return true
	}, "refuted and alive everywhere")
	require.Positive(t, victim.core.Stats().Refutations, "the accused refuted")
}

func TestSimGracefulLeaveReachesAllAtOnce(t *testing.T) {
	s := settle(t, 64, lanLiveness())
	leaver := s.peers[10]
	s.do(leaver, leaver.core.Leave(s.now))
	s.stop(leaver)
	// No round has run: the announcement alone told everyone.
	for _, p := range s.running() {
		info, ok := find(p.AllPeers(), leaver.Name())
		require.True(t, ok)
		require.Equal(t, StateLeft, info.State, "%s", p.Name())
		require.False(t, info.Alive)
		require.Equal(t, 1, count(p.events, PeerStop))
		require.Equal(t, ReasonLeft, p.events[len(p.events)-1].Reason)
	}
	// Nobody probes, beats to or gossips with it afterwards.
	s.net.byAddr[leaver.addr] = nil
	var got int
	probe := &simPeer{core: New(lanLiveness(), rand.New(rand.NewPCG(1, 1))), addr: leaver.addr}
	_ = probe
	for i := 0; i < 5*60; i++ {
		s.step()
	}
	for _, p := range s.running() {
		require.NotContains(t, p.core.liveAddrs(), leaver.addr)
		require.NotContains(t, p.core.targets(true), leaver.addr)
		require.NotContains(t, p.core.members.beatTo, leaver.Name())
	}
	require.Zero(t, got)
	// Its restart (a higher generation) is welcome at once.
	s.add(10)
	s.until(10, s.allKnowAll, "rejoin after leave")
}

func TestSimHeapPerPeer(t *testing.T) {
	for _, n := range []int{256, 1024} {
		if testing.Short() && n > 256 {
			continue // a 1,024-peer join takes a while under -race
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := settle(t, n, lanLiveness())
		runtime.GC()
		runtime.ReadMemStats(&after)
		perPeer := float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
		t.Logf("N=%d: heap per simulated peer %.0f KB", n, perPeer/1024)
		require.Less(t, perPeer, float64(1<<20), "heap per peer at N=%d", n)
		runtime.KeepAlive(s)
	}
}

func BenchmarkLiveness(b *testing.B) {
	for _, n := range []int{64, 256} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			var bps float64
			var took []time.Duration
			for b.Loop() {
				s := settle(b, n, lanLiveness())
				bps = quietBps(s, 60*time.Second)
				took = crashDetection(b, s, 8, uint64(n))
			}
			b.ReportMetric(bps, "quiet-B/s/peer")
			b.ReportMetric(float64(median(took).Milliseconds()), "detect-median-ms")
			b.ReportMetric(float64(slices.Max(took).Milliseconds()), "detect-worst-ms")
		})
	}
}
