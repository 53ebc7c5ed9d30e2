//go:build race

package protocol

// raceEnabled: the race detector makes sync.Pool drop a share of its items on
// purpose, so a pooled path may allocate now and then.
const raceEnabled = true
