package protocol

import (
	"fmt"
	"testing"
	"time"
)

// cpuTime is the CPU time this process used so far: on a machine shared
// with other jobs, wall-clock ns/op grows with their load, CPU per op does
// not.
// The cost of identity mode in the simulator (real cores, codec and
// envelope; bytes counted), N = 64, LAN preset, off and on in one run
// (issue 13's targets: Set-to-all latency +1 ms, quiet bytes +20 %).

func costSim(b *testing.B, on bool) *sim {
	if on {
		return newIdentSim(b, simN, false, nil).sim
	}
	return newSim(b, simN, simConfig())
}

// BenchmarkIdentitySetToAll: one Set pushed to the 63 other peers and
// applied by each; ns/op is the CPU of the whole fan-out (one signature,
// 63 verifications: the latency a receiver sees adds one signature and
// one verification to the network's), B/set the bytes on the wire.
func BenchmarkIdentitySetToAll(b *testing.B) {
	for _, mode := range []string{"off", "on"} {
		b.Run(mode, func(b *testing.B) {
			s := costSim(b, mode == "on")
			s.until(300, s.allKnowAll, "join")
			w := s.peers[5]
			before := totalBytes(s)
			verified := func() (n uint64) {
				for _, p := range s.peers {
					n += p.core.VerifierStats().Verified
				}
				return n
			}
			v0 := verified()
			i := 0
			var cpu time.Duration
			for b.Loop() {
				if i == 0 {
					cpu = cpuTime()
				}
				s.set(w, "k", fmt.Sprint(i), 0)
				s.flush()
				i++
			}
			cpu = cpuTime() - cpu
			b.ReportMetric(float64(cpu.Microseconds())/float64(i), "cpu-µs/set")
			b.ReportMetric(float64(cpu.Microseconds())/float64(i)/(simN-1), "cpu-µs/receiver")
			b.ReportMetric(float64(verified()-v0)/float64(i)/(simN-1), "verifies/receiver")
			if !s.allHave(w, "k", fmt.Sprint(i-1)) {
				b.Fatal("a set did not reach every peer by push")
			}
			b.ReportMetric(float64(totalBytes(s)-before)/float64(i), "B/set")
		})
	}
}

// BenchmarkIdentitySetLocal: what a Set costs its writer (sign included);
// its inverse is the sets per second one peer can make.
func BenchmarkIdentitySetLocal(b *testing.B) {
	for _, mode := range []string{"off", "on"} {
		b.Run(mode, func(b *testing.B) {
			s := costSim(b, mode == "on")
			w := s.peers[5]
			i := 0
			var cpu time.Duration
			for b.Loop() {
				if i == 0 {
					cpu = cpuTime()
				}
				if _, err := w.core.Set(s.now, fmt.Sprint("k", i%1000), []byte("value"), 0, 0); err != nil {
					b.Fatal(err)
				}
				w.core.TakePushes()
				i++
			}
			cpu = cpuTime() - cpu
			b.ReportMetric(float64(i)/cpu.Seconds(), "sets/cpu-s")
		})
	}
}

// BenchmarkIdentityQuietBytes: a converged, quiet cluster for one simulated
// minute; B/s/peer is what each peer sends per second.
func BenchmarkIdentityQuietBytes(b *testing.B) {
	for _, mode := range []string{"off", "on"} {
		b.Run(mode, func(b *testing.B) {
			for b.Loop() {
				s := costSim(b, mode == "on")
				for _, p := range s.peers {
					s.setQuietly(p, "k", "some value")
				}
				s.until(300, s.allKnowAll, "join")
				for range 50 {
					s.step()
				}
				before := totalBytes(s)
				const rounds = 300 // 60 s at 200 ms
				for range rounds {
					s.step()
				}
				secs := (rounds * simConfig().GossipInterval).Seconds()
				b.ReportMetric(float64(totalBytes(s)-before)/secs/simN, "B/s/peer")
				if !s.allKnowAll() {
					b.Fatal("a quiet cluster lost a peer")
				}
			}
		})
	}
}
