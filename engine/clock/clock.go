// Package clock abstracts time so that gossip rounds, failure detection and
// expiry can be driven by a manual clock in tests and simulations, faster than
// real time and without sleeping.
package clock

import "time"

// Clock is the source of time for the engine. Implementations must be safe for
// concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTicker returns a ticker that delivers ticks every d on C. Like
	// time.Ticker it drops ticks for slow receivers.
	NewTicker(d time.Duration) Ticker
	// AfterFunc calls f in its own goroutine (real clock) or in the goroutine
	// that advances time (manual clock) once d has elapsed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Ticker delivers ticks on C until stopped.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not started and reports whether it did.
	Stop() bool
}

// Real is the wall clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// NewTicker wraps time.NewTicker.
func (Real) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

// AfterFunc wraps time.AfterFunc.
func (Real) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time { return r.t.C }
func (r realTicker) Stop()               { r.t.Stop() }
