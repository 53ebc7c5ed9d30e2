// Package failure implements the phi accrual failure detector (Hayashibara et
// al., 2004): instead of a yes/no verdict it gives a suspicion level phi that
// grows the longer a peer's next heartbeat is overdue, scaled by how regular
// its heartbeats have been. phi = k means roughly a 10^-k chance that the peer
// is in fact alive. The detector is pure: time is passed in, never read.
package failure

import (
	"math"
	"time"
)

// Config tunes a detector. The engine's Config carries these with defaults.
type Config struct {
	// Threshold is the phi above which a peer is considered dead. 8 (a 1e-8
	// chance of a wrong suspicion per check) is what Cassandra and Akka use.
	Threshold float64
	// WindowSize is how many recent heartbeat intervals are remembered.
	WindowSize int
	// MinStdDev keeps very regular heartbeats (loopback) from making the
	// detector hair-triggered: the standard deviation never drops below it.
	MinStdDev time.Duration
	// AcceptablePause is added to the expected interval before suspicion
	// grows: it absorbs GC pauses and gossip jitter.
	AcceptablePause time.Duration
	// FirstInterval is the prior: the expected heartbeat interval assumed
	// before any has been measured, so a new peer does not flap.
	FirstInterval time.Duration
	// MaxInterval drops intervals longer than this from the statistics (a
	// peer back from a partition should not teach the detector that minutes
	// between heartbeats are normal). 0 means no limit.
	MaxInterval time.Duration
}

// Detector tracks the heartbeat arrivals of one peer. It is not safe for
// concurrent use; the engine guards it with its own lock.
type Detector struct {
	cfg   Config
	ring  []float64 // intervals in milliseconds
	next  int
	n     int
	sum   float64
	sumSq float64
	last  time.Time
	seen  bool
}

// New returns a detector with no heartbeat seen yet.
func New(cfg Config) *Detector {
	if cfg.WindowSize < 2 {
		cfg.WindowSize = 2
	}
	return &Detector{cfg: cfg, ring: make([]float64, cfg.WindowSize)}
}

// Heartbeat records that a new heartbeat of the peer arrived at now.
func (d *Detector) Heartbeat(now time.Time) {
	if !d.seen {
		d.seen = true
		d.last = now
		if d.n == 0 && d.cfg.FirstInterval > 0 {
			// Seed the window with the prior: mean FirstInterval, standard
			// deviation a quarter of it.
			mean := ms(d.cfg.FirstInterval)
			d.add(mean - mean/4)
			d.add(mean + mean/4)
		}
		return
	}
	iv := now.Sub(d.last)
	d.last = now
	if iv < 0 || (d.cfg.MaxInterval > 0 && iv > d.cfg.MaxInterval) {
		return
	}
	d.add(ms(iv))
}

func (d *Detector) add(v float64) {
	if d.n == len(d.ring) {
		old := d.ring[d.next]
		d.sum -= old
		d.sumSq -= old * old
	} else {
		d.n++
	}
	d.ring[d.next] = v
	d.next = (d.next + 1) % len(d.ring)
	d.sum += v
	d.sumSq += v * v
}

// Touch takes other evidence that the peer is alive at now (not one of its
// heartbeats): suspicion starts over from now, but the interval since the
// last heartbeat is not learnt, since it measured no heartbeat rhythm.
// Before the first heartbeat it counts as that first heartbeat.
func (d *Detector) Touch(now time.Time) {
	if !d.seen {
		d.Heartbeat(now)
		return
	}
	if now.After(d.last) {
		d.last = now
	}
}

// Reset forgets every sample, as if the peer had never been heard. The engine
// calls it when a peer is declared dead so that its return starts afresh.
func (d *Detector) Reset() {
	*d = Detector{cfg: d.cfg, ring: d.ring}
	for i := range d.ring {
		d.ring[i] = 0
	}
}

// Phi returns the suspicion level at now: 0 right after a heartbeat, growing
// without bound while none arrives. It is 0 before the first heartbeat.
func (d *Detector) Phi(now time.Time) float64 {
	if !d.seen || d.n == 0 {
		return 0
	}
	mean := d.sum / float64(d.n)
	variance := d.sumSq/float64(d.n) - mean*mean
	std := math.Sqrt(math.Max(variance, 0))
	if min := ms(d.cfg.MinStdDev); std < min {
		std = min
	}
	if std <= 0 {
		std = 1 // milliseconds; only when MinStdDev is 0 and samples are identical
	}
	elapsed := ms(now.Sub(d.last))
	y := (elapsed - mean - ms(d.cfg.AcceptablePause)) / std
	// P(next heartbeat later than elapsed) for a normal distribution, through
	// erfc so that the tail does not round to 1 - 1 = 0 too early.
	p := 0.5 * math.Erfc(y/math.Sqrt2)
	if p <= 0 {
		return math.Inf(1)
	}
	return -math.Log10(p)
}

// Suspect reports whether phi at now exceeds the threshold.
func (d *Detector) Suspect(now time.Time) bool {
	return d.Phi(now) > d.cfg.Threshold
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
