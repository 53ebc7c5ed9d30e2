package protocol

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine/internal/state"
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

// scales are the cluster sizes the scale tests run at (see raceDetector).
func scales(ns ...int) []int {
	if raceDetector {
		return ns[:1]
	}
	return ns
}

func TestSimQuietTrafficFlatAndCrashDetectedFast(t *testing.T) {
	// Every packet is sealed since the trust layer (issue 11): a CRC-32C
	// envelope of 5 bytes plus the packet's token and padding slots make a
	// beat 76 B instead of 67, and a Syn carries a token. Measured before
	// that merge: 229 B/s (N = 64) and 232 B/s (N = 256); after: 262 and
	// 264 B/s. Beats with the compact header (the sender's key instead
	// of its NodeId): 200 B/s at both sizes, within issue 12's targets.
	budget := map[int]float64{64: 250, 256: 300}
	for _, n := range scales(64, 256) {
		s := settle(t, n, lanLiveness())
		bps := quietBps(s, 30*time.Second)
		t.Logf("N=%d: quiet cluster writes %.0f B/s per peer", n, bps)
		require.LessOrEqual(t, bps, budget[n], "N=%d", n)
		for _, p := range s.peers {
			require.Zero(t, failedStops(p), "no false death while quiet")
			require.Zero(t, p.sent[wire.Push], "nothing pushed in a quiet cluster")
		}

		took := crashDetection(t, s, 6, uint64(n))
		med, worst := median(took), slices.Max(took)
		t.Logf("N=%d: crash declared dead by all: median %v, worst %v (%v)", n, med, worst, took)
		require.LessOrEqual(t, med, 3*time.Second)
		require.LessOrEqual(t, worst, 4*time.Second)
		for _, p := range s.running() {
			require.Equal(t, 6, failedStops(p), "%s: only the victims died", p.Name())
			for _, info := range p.LivePeers() {
				require.Equal(t, StateAlive, info.State, "%s sees %s suspect", p.Name(), info.Name)
			}
		}
	}
}

func TestSimNoFalseDeathAtTenPercentLoss(t *testing.T) {
	for _, n := range scales(64, 256) {
		s := settle(t, n, lanLiveness())
		s.net.SetLoss(0.10)
		for i := 0; i < 2*60*5; i++ { // 2 simulated minutes
			s.step()
		}
		for _, p := range s.peers {
			require.Zero(t, failedStops(p), "N=%d: %s declared a live peer dead at 10 %% loss", n, p.Name())
		}
		// Detection still works under that loss.
		took := crashDetection(t, s, 4, 10)
		t.Logf("N=%d, 10%% loss: crash declared dead by all after %v", n, took)
		require.LessOrEqual(t, slices.Max(took), 6*time.Second)
	}
}

func TestSimNoLivePeerLostAtFiftyPercentLoss(t *testing.T) {
	// chitchat's bar: 30 s at 50 % loss and no live peer is ever declared
	// dead, not even for a moment by one observer. Each seed is another
	// draw of the losses (under the race detector, one).
	seeds := []uint64{1, 2, 3}
	if raceDetector {
		seeds = seeds[:1]
	}
	for _, seed := range seeds {
		s := settle(t, 64, lanLiveness())
		s.net.rng = rand.New(rand.NewPCG(seed, 7))
		s.net.SetLoss(0.5)
		for i := 0; i < 30*5; i++ { // 30 s
			s.step()
		}
		var suspicions, refutations uint64
		for _, p := range s.peers {
			suspicions += p.core.Stats().Suspicions
			refutations += p.core.Stats().Refutations
		}
		t.Logf("N=64, 30 s at 50%% loss (seed %d): %d suspicions, %d refutations", seed, suspicions, refutations)
		require.Positive(t, refutations, "the loss made watchers suspect live peers, and they refuted")
		for _, p := range s.peers {
			require.Zero(t, failedStops(p), "%s declared a live peer dead at 50 %% loss (seed %d)", p.Name(), seed)
			require.Len(t, p.LivePeers(), 63, "%s lost a live peer", p.Name())
		}
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
	for i := 0; i < 60*5; i++ { // 1 simulated minute
		for _, p := range s.peers {
			if !s.now.Before(p.stalledUntil) && rng.Float64() < 0.05 {
				p.stalledUntil = s.now.Add(200*time.Millisecond + time.Duration(rng.IntN(1000))*time.Millisecond)
				stalls++
			}
		}
		s.step()
	}
	t.Logf("%d stalls of 0.2-1.2 s over 1 min at N=64", stalls)
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
	// Nobody probes, beats to, pushes to or gossips with it afterwards:
	// count what is sent to its address over a minute.
	before := s.net.sentTo[leaver.addr]
	for i := 0; i < 5*60; i++ {
		s.step()
		for _, p := range s.running() {
			require.NotContains(t, p.core.targets(true), leaver.addr)
			require.NotContains(t, p.core.members.beatTo, leaver.Name())
		}
	}
	require.Equal(t, before, s.net.sentTo[leaver.addr], "packets sent to a peer that left")
	for _, p := range s.running() {
		require.Zero(t, failedStops(p), "a leave is not a failure")
	}
	// Its restart (a higher generation) is welcome at once.
	s.add(10)
	s.until(10, s.allKnowAll, "rejoin after leave")
}

func TestSimHeapPerPeer(t *testing.T) {
	for _, n := range scales(256) { // 1,024: BenchmarkHeapPerPeer
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

// BenchmarkHeapPerPeer reports the heap per simulated peer of a settled
// LAN cluster at N = 256 and 1,024.
func BenchmarkHeapPerPeer(b *testing.B) {
	for _, n := range []int{256, 1024} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			var perPeer float64
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				s := settle(b, n, lanLiveness())
				runtime.GC()
				runtime.ReadMemStats(&after)
				perPeer = float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
				runtime.KeepAlive(s)
			}
			b.ReportMetric(perPeer/1024, "heap-KB/peer")
		})
	}
}

// accusedScene is a 16-peer cluster whose victim sends nothing but its
// pushes (its refutations: no beat, and no gossip that would carry its
// heartbeat), and where drop decides the rest; it runs 10 s, long enough
// for the victim's watchers to suspect it, and returns the cluster and the
// victim.
func accusedScene(t *testing.T, drop func(s *sim, victim *simPeer, from, to string, pk *wire.Packet) bool) (*sim, *simPeer) {
	s := settle(t, 16, lanLiveness())
	victim := s.peers[5]
	s.net.drop = func(from, to string, pk *wire.Packet) bool {
		if from == victim.addr && pk.Type != wire.Push {
			return true
		}
		return drop(s, victim, from, to, pk)
	}
	for i := 0; i < 10*5; i++ {
		s.step()
	}
	return s, victim
}

// watcherAddrs are the addresses of p's ring watchers.
func watcherAddrs(s *sim, p *simPeer) map[string]bool {
	w := map[string]bool{}
	for _, name := range p.core.members.beatTo {
		for _, q := range s.peers {
			if q.Name() == name {
				w[q.addr] = true
			}
		}
	}
	return w
}

func TestSimAccusedThatMissedTheAnnouncementRefutes(t *testing.T) {
	// The victim hears only its watchers' pushes, and loses the first one
	// each of them sends it (the announcement of its suspicion). A watcher
	// repeats its suspicion to the accused while it holds it, so the
	// victim still learns of it, refutes, and nobody declares it dead.
	heard := map[string]int{}
	s, victim := accusedScene(t, func(s *sim, victim *simPeer, from, to string, pk *wire.Packet) bool {
		if to != victim.addr {
			return false
		}
		if !watcherAddrs(s, victim)[from] || pk.Type != wire.Push {
			return true // only its watchers' pushes reach it
		}
		heard[from]++
		return heard[from] == 1
	})
	require.Positive(t, victim.core.Stats().Refutations, "the accused refuted")
	for _, p := range s.peers {
		require.Zero(t, failedStops(p), "%s declared the refuting peer dead", p.Name())
	}
}

// A push that tells the accused of its suspicion is a run of the
// watcher's log; when the accused lacks an earlier entry of that log the
// state holds the run back until the gap is filled, and an accused that
// learnt of its suspicion only that way could not refute it in time (at
// 50 % loss a 256-peer cluster saw 42 false deaths in six 30 s runs; 0 in
// six with this, the watchers' retractions and the observers telling the
// accused). The suspicion is read and refuted before the run is applied.
func TestSimSuspicionAheadOfGapRefuted(t *testing.T) {
	s := newSim(t, 4, simConfig())
	s.until(50, s.allKnowAll, "join")
	accused, w := s.peers[1], s.peers[2]
	s.setQuietly(w, "k", "v") // an entry of w's log the accused lacks
	an, ok := w.core.st.Node(accused.Name())
	require.True(t, ok)
	from := w.core.st.Self().Version
	require.True(t, w.core.st.Suspect(accused.Name(), state.Suspicion{Generation: an.ID.Generation, Heartbeat: an.Heartbeat}))
	run := w.core.st.LocalRun(from, s.now.UnixMilli())
	pk := w.core.stamp(&wire.Packet{Type: wire.Push, Delta: state.Delta{Nodes: []state.NodeDelta{run.NodeDelta()}}})
	before := accused.core.Stats().Refutations
	s.do(w, Output{Packets: []Outgoing{{To: accused.addr, Packet: pk}}})
	held, ok := accused.core.st.Node(w.Name())
	require.True(t, ok)
	require.Less(t, held.Version, run.To, "the run waits behind the gap")
	require.Equal(t, before+1, accused.core.Stats().Refutations, "refuted all the same")
}
