//go:build race

package protocol

// raceDetector: the simulator runs about ten times slower under -race, so
// the scale tests keep to N = 64 there; plain `go test` (and the
// benchmarks) run them at N = 256 and 1,024 too.
const raceDetector = true
