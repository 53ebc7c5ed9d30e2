package bench

import (
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The benchmarks run each system in turn (never both at once) at each N
// of BENCH_N (comma-separated; default 64); one op is one full scenario on
// a fresh cluster. Figures are reported once per sub-benchmark over all its
// ops: median and worst, with incomplete runs counted at their deadline, and
// recorded in results/loopback.json (see ResultsFile). ns/op is the wall
// time of a whole scenario.
//
//	cd bench && BENCH_N=64,256 go test -run '^$' -bench 'Compare(Join|Crash)' -benchtime=5x -timeout 60m
//
// (make bench-compare runs them all: see the Makefile.)

// systems are compared in this order.
var systems = []System{Memberlist{}, Telepathine{}}

// joinSystems add Telepathine joining through two seeds, the first of them
// down: every run must still complete.
var joinSystems = []System{Memberlist{}, Telepathine{}, Telepathine{SeedDown: true}}

// lanParams are the scenario sizes of the benchmarks at N = 64.
var lanParams = Params{
	N: 64,
	// Gossip has long delivered what it will by then; a member still
	// missing waits for memberlist's push-pull (every 60 s at N = 64, the
	// first 60-90 s after start), and the run counts as incomplete.
	JoinDeadline: 20 * time.Second,
	// The other scenarios wait less for the join before going on.
	SetupJoinDeadline: 5 * time.Second,
	// Telepathine's detectors have then seen 5 heartbeats of every peer.
	Settle:         5 * time.Second,
	Updates:        10,
	UpdateEvery:    500 * time.Millisecond,
	UpdateDeadline: 10 * time.Second,
	CrashDeadline:  30 * time.Second,
	// See Params: one memberlist push-pull per peer in the window.
	QuietSettle: 35 * time.Second,
	QuietWindow: 60 * time.Second,
}

// paramsFor scales lanParams to n peers. memberlist's push-pull interval
// grows with N (30 s up to 32 peers, then one more 30 s per doubling: 120 s
// at 256), and the quiet window is that interval so that it holds one
// push-pull per peer; at 256 peers its join through several seeds needs
// longer before the other scenarios start.
func paramsFor(n int) Params {
	p := lanParams
	p.N = n
	pushPull := 30 * time.Second
	if n > 32 {
		pushPull *= time.Duration(math.Ceil(math.Log2(float64(n))-math.Log2(32))) + 1
	}
	p.QuietWindow = pushPull
	p.QuietSettle = pushPull/2 + 5*time.Second
	if n > 64 {
		p.JoinDeadline = 30 * time.Second
		p.SetupJoinDeadline = 20 * time.Second
	}
	return p
}

// benchNs are the cluster sizes of this run.
func benchNs(b *testing.B) []int {
	v := os.Getenv("BENCH_N")
	if v == "" {
		return []int{64}
	}
	var ns []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 {
			b.Fatalf("BENCH_N: bad size %q", f)
		}
		ns = append(ns, n)
	}
	return ns
}

// eachSystem runs a scenario for every N and system; run returns the
// metrics, which are reported and recorded.
func eachSystem(b *testing.B, syss []System, run func(b *testing.B, sys System, p Params) map[string]float64) {
	for _, n := range benchNs(b) {
		p := paramsFor(n)
		for _, sys := range syss {
			b.Run(fmt.Sprintf("N=%d/system=%s", n, sys.Name()), func(b *testing.B) {
				// Two cores shared with anything else running skew every
				// figure: the load says whether the machine was quiet.
				avg, _ := os.ReadFile("/proc/loadavg")
				b.Logf("load average before: %s", strings.TrimSpace(string(avg)))
				metrics := run(b, sys, p)
				names := slices.Sorted(maps.Keys(metrics))
				for _, k := range names {
					b.ReportMetric(metrics[k], k)
				}
				if err := record(sys.Name(), n, string(avg), metrics); err != nil {
					b.Errorf("recording the results: %v", err)
				}
			})
		}
	}
}

// Each op logs its own figures (shown under "--- BENCH:"), so the worst
// runs behind a median can be read.

// describe is an outcome in words.
func describe(o Outcome) string {
	if !o.Complete {
		return fmt.Sprintf("incomplete at %v", o.Took)
	}
	return o.Took.Round(time.Millisecond).String()
}

// joinNote says how the join before a scenario went: after an incomplete
// one the scenario ran on a partial membership.
func joinNote(j Outcome) string {
	if !j.Complete {
		return fmt.Sprintf("cluster not fully joined after %v", j.Took)
	}
	return "joined in " + describe(j)
}

// BenchmarkCompareJoin: N peers join through one seed at once; the time
// until every peer counts every other as a live member, and the process CPU
// time spent until then (join_cpu_s: the whole cluster's work, which other
// processes on the machine stretch less than the wall time).
func BenchmarkCompareJoin(b *testing.B) {
	eachSystem(b, joinSystems, func(b *testing.B, sys System, p Params) map[string]float64 {
		var outs []Outcome
		var cpus []float64
		for b.Loop() {
			o, err := RunJoin(sys, p)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("run %d: all know all: %s, %.2f CPU-s", len(outs)+1, describe(o), o.CPU.Seconds())
			outs = append(outs, o)
			cpus = append(cpus, o.CPU.Seconds())
		}
		s := Summarize(outs)
		return map[string]float64{"join_ms": ms(s.Median), "join_max_ms": ms(s.Max),
			"join_cpu_s": median(cpus), "join_max_cpu_s": maxOf(cpus),
			"join_incomplete": float64(s.Incomplete), "join_runs": float64(len(outs))}
	})
}

// BenchmarkCompareUpdate: updates published one every 500 ms from rotating
// peers of a joined cluster; the time until every other peer has each, and
// the fraction that reach every peer within 10 s.
func BenchmarkCompareUpdate(b *testing.B) {
	eachSystem(b, systems, func(b *testing.B, sys System, p Params) map[string]float64 {
		var outs []Outcome
		for b.Loop() {
			r, err := RunUpdates(sys, p)
			if err != nil {
				b.Fatal(err)
			}
			all, slowest := 0, time.Duration(0)
			for k, u := range r.Updates {
				outs = append(outs, u.Outcome)
				slowest = max(slowest, u.Took)
				if u.Complete {
					all++
				} else {
					b.Logf("update %d reached %d of %d peers in %v", k, u.Reached, p.N-1, p.UpdateDeadline)
				}
			}
			b.Logf("run: %d/%d updates reached every peer, slowest %v (%s)",
				all, len(r.Updates), slowest.Round(time.Millisecond), joinNote(r.Join))
		}
		s := Summarize(outs)
		return map[string]float64{"update_ms": ms(s.Median), "update_max_ms": ms(s.Max),
			"fraction_all": float64(len(outs)-s.Incomplete) / float64(len(outs))}
	})
}

// BenchmarkCompareCrash: one peer of a joined cluster crashes; the time
// until every other peer declares it dead, and false deaths (summed over
// the ops).
func BenchmarkCompareCrash(b *testing.B) {
	eachSystem(b, systems, func(b *testing.B, sys System, p Params) map[string]float64 {
		return crashRuns(b, sys, p, false)
	})
}

// crashRuns runs the crash scenario once per op and returns its metrics;
// busy names them with a _busy suffix and logs the load average of each
// run (the busy loops' share of it).
func crashRuns(b *testing.B, sys System, p Params, busy bool) map[string]float64 {
	suffix := ""
	if busy {
		suffix = "_busy"
	}
	var outs []Outcome
	falseDeaths := 0
	for b.Loop() {
		r, err := RunCrash(sys, p)
		if err != nil {
			b.Fatal(err)
		}
		what := ""
		if busy {
			avg, _ := os.ReadFile("/proc/loadavg")
			what = fmt.Sprintf(" (busy, load %s)", strings.TrimSpace(string(avg)))
		}
		b.Logf("run %d%s: declared dead by all: %s, %d false deaths (%s)",
			len(outs)+1, what, describe(r.Detect), r.FalseDeaths, joinNote(r.Join))
		outs = append(outs, r.Detect)
		falseDeaths += r.FalseDeaths
	}
	s := Summarize(outs)
	return map[string]float64{"detect" + suffix + "_ms": ms(s.Median), "detect" + suffix + "_max_ms": ms(s.Max),
		"detect" + suffix + "_incomplete": float64(s.Incomplete), "false_deaths" + suffix: float64(falseDeaths)}
}

// BenchmarkCompareCrashBusy is BenchmarkCompareCrash on a CPU-loaded
// machine: a busy-looping process per core runs through every op (join,
// settle, crash, detection), so both systems' timers and packet handling
// wait for the CPU. Metrics carry a _busy suffix so they sit beside the
// idle ones in the results file.
func BenchmarkCompareCrashBusy(b *testing.B) {
	eachSystem(b, systems, func(b *testing.B, sys System, p Params) map[string]float64 {
		busy, err := StartBusy(0)
		if err != nil {
			b.Fatal(err)
		}
		defer busy.Stop()
		metrics := crashRuns(b, sys, p, true)
		if busy.Running() == 0 {
			b.Fatal("the busy loops ended before the scenario did")
		}
		return metrics
	})
}

// BenchmarkCompareQuiet: bytes sent per peer per second by a joined cluster
// where nothing changes, over one memberlist push-pull interval (60 s at
// N = 64). One op is enough: the window averages every peer over a minute
// or more, and an op takes 100 s or more.
func BenchmarkCompareQuiet(b *testing.B) {
	eachSystem(b, systems, func(b *testing.B, sys System, p Params) map[string]float64 {
		var rates, cores, heaps []float64
		for b.Loop() {
			r, err := RunQuiet(sys, p)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("run %d: %.0f B/s per peer, %.3f cores, %.0f KB heap per peer (%s)",
				len(rates)+1, r.BytesPerPeerSec, r.Cores, r.HeapPerPeer/1024, joinNote(r.Join))
			rates = append(rates, r.BytesPerPeerSec)
			cores = append(cores, r.Cores)
			heaps = append(heaps, r.HeapPerPeer)
		}
		return map[string]float64{"quiet_B/s/peer": median(rates), "quiet_max_B/s/peer": maxOf(rates),
			"quiet_cores": median(cores), "heap_B/peer": median(heaps)}
	})
}
