package failure

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Unix(1_700_000_000, 0)

func testConfig() Config {
	return Config{
		Threshold:       8,
		WindowSize:      100,
		MinStdDev:       50 * time.Millisecond,
		AcceptablePause: 0,
		FirstInterval:   time.Second,
		MaxInterval:     10 * time.Second,
	}
}

func TestPhiZeroBeforeFirstHeartbeat(t *testing.T) {
	d := New(testConfig())
	assert.Zero(t, d.Phi(t0.Add(time.Hour)))
	assert.False(t, d.seen)
}

func TestPhiGrowsMonotonicallyWhileSilent(t *testing.T) {
	d := New(testConfig())
	now := t0
	for i := 0; i < 20; i++ {
		d.Heartbeat(now)
		now = now.Add(time.Second)
	}
	last := now.Add(-time.Second)
	prev := -1.0
	for ms := 0; ms <= 5000; ms += 100 {
		phi := d.Phi(last.Add(time.Duration(ms) * time.Millisecond))
		require.GreaterOrEqual(t, phi, prev, "phi must not decrease at %d ms", ms)
		prev = phi
	}
	assert.True(t, math.IsInf(prev, 1) || prev > 8)
}

func TestRegularHeartbeatsNeverSuspected(t *testing.T) {
	cfg := testConfig()
	cfg.MinStdDev = 100 * time.Millisecond
	d := New(cfg)
	r := rand.New(rand.NewPCG(1, 2))
	now := t0
	for i := 0; i < 2000; i++ {
		d.Heartbeat(now)
		// 1 s +- 200 ms jitter; check just before the next arrival.
		next := time.Second + time.Duration(r.IntN(400)-200)*time.Millisecond
		require.False(t, d.Suspect(now.Add(next-time.Millisecond)), "false suspicion at beat %d", i)
		now = now.Add(next)
	}
}

func TestSuspectedAfterSilence(t *testing.T) {
	d := New(testConfig())
	now := t0
	for i := 0; i < 30; i++ {
		d.Heartbeat(now)
		now = now.Add(time.Second)
	}
	last := d.last
	assert.False(t, d.Suspect(last.Add(1100*time.Millisecond)))
	assert.True(t, d.Suspect(last.Add(3*time.Second)))
}

func TestPriorKeepsNewPeerCalm(t *testing.T) {
	// One heartbeat seen: the prior (1 s, sd 250 ms) decides. Half a second
	// later phi is low; ten seconds later the peer is suspected.
	d := New(testConfig())
	d.Heartbeat(t0)
	assert.Less(t, d.Phi(t0.Add(500*time.Millisecond)), 1.0)
	assert.True(t, d.Suspect(t0.Add(10*time.Second)))
}

func TestAcceptablePauseDelaysSuspicion(t *testing.T) {
	cfg := testConfig()
	without := New(cfg)
	cfg.AcceptablePause = 2 * time.Second
	with := New(cfg)
	now := t0
	for i := 0; i < 30; i++ {
		without.Heartbeat(now)
		with.Heartbeat(now)
		now = now.Add(time.Second)
	}
	at := without.last.Add(2500 * time.Millisecond)
	assert.True(t, without.Suspect(at))
	assert.False(t, with.Suspect(at))
}

func TestMaxIntervalIgnoresOutliers(t *testing.T) {
	d := New(testConfig())
	now := t0
	for i := 0; i < 10; i++ {
		d.Heartbeat(now)
		now = now.Add(time.Second)
	}
	before := mean(d)
	d.Heartbeat(now.Add(time.Minute)) // back from a partition
	assert.Equal(t, before, mean(d))
}

func TestResetForgetsSamples(t *testing.T) {
	d := New(testConfig())
	d.Heartbeat(t0)
	d.Heartbeat(t0.Add(time.Second))
	d.Reset()
	assert.False(t, d.seen)
	assert.Zero(t, d.Phi(t0.Add(time.Hour)))
}

func TestWindowSlides(t *testing.T) {
	cfg := testConfig()
	cfg.WindowSize = 10
	cfg.FirstInterval = 0
	d := New(cfg)
	now := t0
	d.Heartbeat(now)
	for i := 0; i < 10; i++ {
		now = now.Add(5 * time.Second)
		d.Heartbeat(now)
	}
	for i := 0; i < 10; i++ {
		now = now.Add(time.Second)
		d.Heartbeat(now)
	}
	assert.Equal(t, time.Second, mean(d))
}

func BenchmarkPhi(b *testing.B) {
	d := New(testConfig())
	now := t0
	for i := 0; i < 1000; i++ {
		d.Heartbeat(now)
		now = now.Add(time.Second)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = d.Phi(now)
	}
}

// mean is the mean heartbeat interval in the window (FirstInterval before
// any): what the detector's expectation rests on.
func mean(d *Detector) time.Duration {
	if d.n == 0 {
		return d.cfg.FirstInterval
	}
	return time.Duration(d.sum / float64(d.n) * float64(time.Millisecond))
}

func TestTouchRestartsSuspicionWithoutLearning(t *testing.T) {
	d := New(testConfig())
	now := t0
	for i := 0; i < 20; i++ {
		d.Heartbeat(now)
		now = now.Add(time.Second)
	}
	last := now.Add(-time.Second)
	silent := last.Add(5 * time.Second)
	require.True(t, d.Suspect(silent), "5 s of silence after 1 s beats")
	n, sum := d.n, d.sum
	d.Touch(silent)
	assert.Zero(t, d.Phi(silent), "evidence of life restarts the suspicion")
	assert.False(t, d.Suspect(silent.Add(time.Second)))
	assert.True(t, d.Suspect(silent.Add(5*time.Second)), "and it grows again while silent")
	assert.Equal(t, n, d.n, "no interval learnt from a touch")
	assert.Equal(t, sum, d.sum)
	d.Touch(last) // older than the last arrival: ignored
	assert.Equal(t, silent, d.last)

	fresh := New(testConfig())
	fresh.Touch(t0)
	assert.True(t, fresh.seen, "a touch before any beat is the first beat")
	assert.False(t, fresh.Suspect(t0.Add(time.Second)))
}
