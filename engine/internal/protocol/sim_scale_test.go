package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The simulator at scale: figures in gossip rounds against the epidemic
// bound log2 N + ln N (the rounds a push-pull epidemic needs to reach N
// peers with high probability), bytes per peer per second, and the heap
// the cluster holds per peer. Whatever the core does (its liveness design
// included) is what is measured: the scenario only sets, crashes and
// counts.

// scaleResult is one N's figures; JSON names are read by bench/plot.
type scaleResult struct {
	N              int     `json:"n"`
	Bound          float64 `json:"bound_rounds"`
	JoinRounds     int     `json:"join_rounds"`
	SpreadAERounds int     `json:"spread_antientropy_rounds"`
	SpreadPush     int     `json:"spread_push_rounds"`
	DetectRounds   int     `json:"detect_rounds"`
	DetectMS       float64 `json:"detect_ms"`
	QuietBps       float64 `json:"quiet_bytes_per_peer_sec"`
	BytesPerRound  float64 `json:"quiet_bytes_per_peer_round"`
	// JoinBytes and SpreadAEBytes are the bytes each peer sent per round
	// while the cluster joined, and while a key spread by anti-entropy.
	JoinBytes     float64 `json:"join_bytes_per_peer_round"`
	SpreadAEBytes float64 `json:"spread_antientropy_bytes_per_peer_round"`
	HeapPerPeer   float64 `json:"heap_bytes_per_peer"`
	// HeapJoined is the heap per peer right after the join completed
	// (what the join's transient state still holds).
	HeapJoined float64 `json:"heap_bytes_per_peer_joined"`
	// QuietCores is the CPU the simulator spent on the quiet rounds over
	// the simulated time: what the protocol cores of N quiet peers cost in
	// one process, without sockets or encryption (a floor for loopback).
	QuietCores float64 `json:"quiet_cores"`
	// JoinCores is the same for the concurrent join: CPU spent until all
	// know all over the simulated time it took.
	JoinCores   float64 `json:"join_cores"`
	WallSeconds float64 `json:"wall_seconds"`
}

func epidemicBound(n int) float64 { return math.Log2(float64(n)) + math.Log(float64(n)) }

// scaleConfig is the simulator's LAN preset with room for 4,096 peers.
// Detectors exist only for the peers a peer watches on the ring (Watchers,
// 3), so the phi window stays at its default.
func scaleConfig() Config {
	c := simConfig()
	c.Limits.MaxNodes = 1 << 14
	return c
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// writeHeapProfile writes the settled cluster's heap to
// $SIM_SCALE_HEAPPROF.N (go tool pprof -sample_index=inuse_space) so the
// bytes each peer holds per known node can be attributed.
func writeHeapProfile(tb testing.TB, n int) {
	prefix := os.Getenv("SIM_SCALE_HEAPPROF")
	if prefix == "" {
		return
	}
	f, err := os.Create(fmt.Sprintf("%s.%d", prefix, n))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		tb.Fatal(err)
	}
}

// scaleLog prints a phase's figures to stderr as soon as they are
// measured when SIM_SCALE_LOG is set: a 4,096-peer run on a shared
// machine takes hours, and what it measured so far should not wait for
// its end.
func scaleLog(wall time.Time, format string, args ...any) {
	if os.Getenv("SIM_SCALE_LOG") == "" {
		return
	}
	fmt.Fprintf(os.Stderr, "%s sim-scale +%.0fs (cpu %.0fs): %s\n", time.Now().UTC().Format(time.TimeOnly),
		time.Since(wall).Seconds(), cpuTime().Seconds(), fmt.Sprintf(format, args...))
}

func measureScale(tb testing.TB, n int) scaleResult {
	wall := time.Now()
	base := heapInUse()
	r := scaleResult{N: n, Bound: epidemicBound(n)}
	// The engine's trust layer, as the engine runs it: plain envelopes,
	// the 3x rule, the new-peer limits (without it no address is ever
	// validated, and every answer over UDP is held to 8 strangers).
	var s *sim
	s = newTrustSim(tb, n, scaleConfig(), trustFor(tb, &s, false, true))
	s.dropEvents = true
	limit := int(10 * r.Bound)
	sent := func() (b uint64) {
		for _, p := range s.peers {
			b += p.bytes
		}
		return b
	}
	cpu0 := cpuTime()
	b0 := sent()
	round := 0
	r.JoinRounds = s.until(limit, func() bool {
		if os.Getenv("SIM_SCALE_LOG") != "" {
			// Each round of a long join: how far it got and at what cost.
			least, sum := n, 0
			for _, p := range s.peers {
				k := p.core.members.liveCount()
				least, sum = min(least, k), sum+k
			}
			scaleLog(wall, "N=%d join round %d: live peers known min %d, mean %.0f of %d; %.0f B/peer so far",
				n, round, least, float64(sum)/float64(n), n-1, float64(sent()-b0)/float64(n))
		}
		round++
		return s.allKnowAll()
	}, "join")
	r.JoinBytes = float64(sent()-b0) / float64(n) / float64(max(r.JoinRounds, 1))
	r.JoinCores = (cpuTime() - cpu0).Seconds() / (float64(max(r.JoinRounds, 1)) * s.cfg.GossipInterval.Seconds())
	if h := heapInUse(); h > base {
		r.HeapJoined = float64(h-base) / float64(n)
	}
	scaleLog(wall, "N=%d join: %d rounds (bound %.1f), %.0f B/peer/round, %.2f cores, heap %.0f B/peer",
		n, r.JoinRounds, r.Bound, r.JoinBytes, r.JoinCores, r.HeapJoined)

	// Anti-entropy alone (no push) while the cluster is busy: the epidemic
	// the bound is about. (Once quiet, a change waits for the next quiet
	// Syn, QuietInterval, before the same epidemic starts.)
	owner := s.peers[n/2]
	s.setQuietly(owner, "ae", "v")
	b0 = sent()
	r.SpreadAERounds = s.until(limit, func() bool { return s.allHave(owner, "ae", "v") }, "spread by anti-entropy")
	r.SpreadAEBytes = float64(sent()-b0) / float64(n) / float64(max(r.SpreadAERounds, 1))
	scaleLog(wall, "N=%d spread by anti-entropy: %d rounds, %.0f B/peer/round", n, r.SpreadAERounds, r.SpreadAEBytes)

	// Settle the detectors and go quiet, then count quiet bytes.
	for i := 0; i < 100; i++ {
		s.step()
	}
	var before uint64
	for _, p := range s.peers {
		before += p.bytes
	}
	const quiet = 50 // 10 s
	cpu0 = cpuTime()
	for i := 0; i < quiet; i++ {
		s.step()
	}
	r.QuietCores = (cpuTime() - cpu0).Seconds() / (quiet * s.cfg.GossipInterval.Seconds())
	var after uint64
	for _, p := range s.peers {
		after += p.bytes
	}
	r.BytesPerRound = float64(after-before) / float64(n) / quiet
	r.QuietBps = r.BytesPerRound / s.cfg.GossipInterval.Seconds()
	if h := heapInUse(); h > base {
		r.HeapPerPeer = float64(h-base) / float64(n)
	}
	writeHeapProfile(tb, n)
	scaleLog(wall, "N=%d quiet: %.1f B/peer/round, %.1f B/peer/s, %.3f cores; heap %.0f B/peer", n, r.BytesPerRound, r.QuietBps, r.QuietCores, r.HeapPerPeer)

	s.set(owner, "push", "v", 0)
	s.flush()
	r.SpreadPush = s.until(limit, func() bool { return s.allHave(owner, "push", "v") }, "spread with push")
	scaleLog(wall, "N=%d spread with push: %d rounds", n, r.SpreadPush)

	victim := s.peers[n-1]
	s.net.Isolate(victim.addr)
	s.stop(victim)
	crashed := s.elapsed()
	r.DetectRounds = s.until(200, func() bool {
		for _, p := range s.running() {
			if !s.declaredDead(p, victim.Name()) {
				return false
			}
		}
		return true
	}, "crash declared dead by all")
	r.DetectMS = float64((s.elapsed() - crashed).Milliseconds())
	r.WallSeconds = time.Since(wall).Seconds()
	scaleLog(wall, "N=%d crash declared dead by all: %d rounds (%.0f ms)", n, r.DetectRounds, r.DetectMS)
	return r
}

func TestSimScaleWithinEpidemicBound(t *testing.T) {
	r := measureScale(t, 64)
	t.Logf("%+v", r)
	require := func(ok bool, what string) {
		if !ok {
			t.Errorf("%s: %+v", what, r)
		}
	}
	require(float64(r.JoinRounds) <= 1.5*r.Bound, "join within 1.5x the epidemic bound")
	require(float64(r.SpreadAERounds) <= 1.5*r.Bound, "anti-entropy spread within 1.5x the bound")
	require(r.SpreadPush == 0, "the relay trees reach all before the next round")
	require(r.HeapPerPeer > 0, "heap measured")
}

// BenchmarkSimScale runs the scale scenario once per N. N is taken from
// SIM_SCALE_N (comma-separated; default 256, so that `make bench` stays
// short; make bench-compare sets 1024,4096); SIM_SCALE_OUT names a JSON
// file the results are written to (bench/cmd/plot reads it).
//
//	SIM_SCALE_N=1024,4096 go test -run '^$' -bench SimScale -benchtime 1x -timeout 90m ./engine/internal/protocol/
func BenchmarkSimScale(b *testing.B) {
	ns := []int{256}
	if v := os.Getenv("SIM_SCALE_N"); v != "" {
		ns = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				b.Fatal(err)
			}
			ns = append(ns, n)
		}
	}
	var results []scaleResult
	for _, n := range ns {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			var r scaleResult
			for b.Loop() {
				r = measureScale(b, n)
			}
			b.ReportMetric(r.Bound, "bound-rounds")
			b.ReportMetric(float64(r.JoinRounds), "join-rounds")
			b.ReportMetric(float64(r.SpreadAERounds), "spread-ae-rounds")
			b.ReportMetric(float64(r.SpreadPush), "spread-push-rounds")
			b.ReportMetric(float64(r.DetectRounds), "detect-rounds")
			b.ReportMetric(r.QuietBps, "quiet-B/s/peer")
			b.ReportMetric(r.JoinBytes, "join-B/round/peer")
			b.ReportMetric(r.SpreadAEBytes, "spread-ae-B/round/peer")
			b.ReportMetric(r.BytesPerRound, "quiet-B/round/peer")
			b.ReportMetric(r.HeapPerPeer, "heap-B/peer")
			b.ReportMetric(r.QuietCores, "quiet-cores")
			b.ReportMetric(r.JoinCores, "join-cores")
			results = append(results, r)
		})
	}
	if out := os.Getenv("SIM_SCALE_OUT"); out != "" && len(results) > 0 {
		merged, err := mergeScaleResults(out, results)
		if err != nil {
			b.Fatal(err)
		}
		data, err := json.MarshalIndent(merged, "", "  ")
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(out, append(data, '\n'), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// mergeScaleResults returns the rows of the file at path (if any) with
// those of the same N replaced by results, sorted by N: a run of 4,096
// alone keeps the smaller clusters' rows.
func mergeScaleResults(path string, results []scaleResult) ([]scaleResult, error) {
	var rows []scaleResult
	switch data, err := os.ReadFile(path); {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(data, &rows); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	byN := map[int]scaleResult{}
	for _, r := range append(rows, results...) {
		byN[r.N] = r
	}
	merged := slices.Collect(maps.Values(byN))
	slices.SortFunc(merged, func(a, b scaleResult) int { return a.N - b.N })
	return merged, nil
}

func TestMergeScaleResultsKeepsOtherRows(t *testing.T) {
	path := t.TempDir() + "/sim.json"
	first, err := mergeScaleResults(path, []scaleResult{{N: 1024, JoinRounds: 20}, {N: 64, JoinRounds: 4}})
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(first)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := mergeScaleResults(path, []scaleResult{{N: 4096, JoinRounds: 25}, {N: 64, JoinRounds: 3}})
	if err != nil {
		t.Fatal(err)
	}
	want := []scaleResult{{N: 64, JoinRounds: 3}, {N: 1024, JoinRounds: 20}, {N: 4096, JoinRounds: 25}}
	if !slices.Equal(got, want) {
		t.Fatalf("merged %+v, want %+v", got, want)
	}
}

// 32 peers, each with two keys, all joining through the first: every peer
// ends up with every other's values, in simulated time. (The engine's test
// of the same scale runs on real sockets; what the protocol decides is
// shown here, where no loaded machine can slow it down.)
func TestSimThirtyTwoPeersReadIdenticalValues(t *testing.T) {
	const n = 32
	s := newSim(t, n, simConfig())
	for i, p := range s.peers {
		s.set(p, "name", fmt.Sprintf("peer-%d", i), 0)
		s.set(p, "info", fmt.Sprintf(`{"peer":%d,"tags":["a","b"]}`, i), 0)
	}
	rounds := s.until(200, s.allKnowAll, "membership of 32 peers")
	s.until(200, func() bool {
		for i, p := range s.peers {
			if !s.allHave(p, "name", fmt.Sprintf("peer-%d", i)) || !s.allHave(p, "info", fmt.Sprintf(`{"peer":%d,"tags":["a","b"]}`, i)) {
				return false
			}
		}
		return true
	}, "values of 32 peers")
	t.Logf("32 peers: membership in %d rounds", rounds)
}
