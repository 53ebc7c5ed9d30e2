package protocol

import "time"

// logLimiter lets one warning through per second, so a flood of bad
// packets cannot flood the logs.
type logLimiter struct{ last time.Time }

func (l *logLimiter) allow(now time.Time) bool {
	if now.Sub(l.last) < time.Second {
		return false
	}
	l.last = now
	return true
}
