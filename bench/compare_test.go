package bench

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// The benchmarks run each system in turn (never both at once) at N = 64;
// one op is one full scenario on a fresh cluster. Figures are reported once
// per sub-benchmark over all its ops: median and worst, with incomplete runs
// counted at their deadline. ns/op is the wall time of a whole scenario.
//
//	cd bench && go test -run '^$' -bench 'Compare(Join|Crash)' -benchtime=5x -timeout 30m
//
// (make bench-compare runs Update 3 times and Quiet once: see the Makefile.)

// systems are compared in this order.
var systems = []System{Memberlist{}, Telepathine{}}

// lanParams are the scenario sizes of the benchmarks.
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

func eachSystem(b *testing.B, run func(b *testing.B, sys System)) {
	for _, sys := range systems {
		b.Run("system="+sys.Name(), func(b *testing.B) {
			// Two cores shared with anything else running skew every
			// figure: the load says whether the machine was quiet.
			if avg, err := os.ReadFile("/proc/loadavg"); err == nil {
				b.Logf("load average before: %s", strings.TrimSpace(string(avg)))
			}
			run(b, sys)
		})
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
// until every peer counts every other as a live member.
func BenchmarkCompareJoin(b *testing.B) {
	eachSystem(b, func(b *testing.B, sys System) {
		var outs []Outcome
		for b.Loop() {
			o, err := RunJoin(sys, lanParams)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("run %d: all know all: %s", len(outs)+1, describe(o))
			outs = append(outs, o)
		}
		s := Summarize(outs)
		b.ReportMetric(ms(s.Median), "join_ms")
		b.ReportMetric(ms(s.Max), "join_max_ms")
		b.ReportMetric(float64(s.Incomplete), "join_incomplete")
	})
}

// BenchmarkCompareUpdate: updates published one every 500 ms from rotating
// peers of a joined cluster; the time until every other peer has each, and
// the fraction that reach every peer within 10 s.
func BenchmarkCompareUpdate(b *testing.B) {
	eachSystem(b, func(b *testing.B, sys System) {
		var outs []Outcome
		for b.Loop() {
			r, err := RunUpdates(sys, lanParams)
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
					b.Logf("update %d reached %d of %d peers in %v", k, u.Reached, lanParams.N-1, lanParams.UpdateDeadline)
				}
			}
			b.Logf("run: %d/%d updates reached every peer, slowest %v (%s)",
				all, len(r.Updates), slowest.Round(time.Millisecond), joinNote(r.Join))
		}
		s := Summarize(outs)
		b.ReportMetric(ms(s.Median), "update_ms")
		b.ReportMetric(ms(s.Max), "update_max_ms")
		b.ReportMetric(float64(len(outs)-s.Incomplete)/float64(len(outs)), "fraction_all")
	})
}

// BenchmarkCompareCrash: one peer of a joined cluster crashes; the time
// until every other peer declares it dead, and false deaths (summed over
// the ops).
func BenchmarkCompareCrash(b *testing.B) {
	eachSystem(b, func(b *testing.B, sys System) {
		var outs []Outcome
		falseDeaths := 0
		for b.Loop() {
			r, err := RunCrash(sys, lanParams)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("run %d: declared dead by all: %s, %d false deaths (%s)",
				len(outs)+1, describe(r.Detect), r.FalseDeaths, joinNote(r.Join))
			outs = append(outs, r.Detect)
			falseDeaths += r.FalseDeaths
		}
		s := Summarize(outs)
		b.ReportMetric(ms(s.Median), "detect_ms")
		b.ReportMetric(ms(s.Max), "detect_max_ms")
		b.ReportMetric(float64(s.Incomplete), "detect_incomplete")
		b.ReportMetric(float64(falseDeaths), "false_deaths")
	})
}

// BenchmarkCompareQuiet: bytes sent per peer per second by a joined cluster
// where nothing changes, over a 60 s window. One op is enough: the window
// averages 64 peers over a minute, and an op takes 100 s.
func BenchmarkCompareQuiet(b *testing.B) {
	eachSystem(b, func(b *testing.B, sys System) {
		var rates []float64
		for b.Loop() {
			r, err := RunQuiet(sys, lanParams)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("run %d: %.0f B/s per peer (%s)", len(rates)+1, r.BytesPerPeerSec, joinNote(r.Join))
			rates = append(rates, r.BytesPerPeerSec)
		}
		b.ReportMetric(median(rates), "quiet_B/s/peer")
		b.ReportMetric(maxOf(rates), "quiet_max_B/s/peer")
	})
}
