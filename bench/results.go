package bench

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ResultsFile is where the comparison benchmarks record their figures
// (BENCH_RESULTS overrides it), relative to the bench/ directory `go test`
// runs in. cmd/plot draws results/scale.png from it and from the
// simulator's results/sim.json, so the plot can be redrawn without
// rerunning a benchmark.
const ResultsFile = "results/loopback.json"

// Result is one system at one N: metrics by name (the names the benchmarks
// report), each with the load average before its run.
type Result struct {
	System  string             `json:"system"`
	N       int                `json:"n"`
	Metrics map[string]float64 `json:"metrics"`
	Load    map[string]string  `json:"load"`
	When    map[string]string  `json:"when"`
}

func resultsPath() string {
	if p := os.Getenv("BENCH_RESULTS"); p != "" {
		return p
	}
	return ResultsFile
}

// ReadResults reads a results file (none yet: empty).
func ReadResults(path string) ([]Result, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rs []Result
	return rs, json.Unmarshal(data, &rs)
}

// record merges metrics of system at n into the results file: figures of
// other systems, sizes and metrics stay as they were. Benchmarks run one
// after the other, so no lock is needed.
func record(system string, n int, load string, metrics map[string]float64) error {
	path := resultsPath()
	rs, err := ReadResults(path)
	if err != nil {
		return err
	}
	i := sort.Search(len(rs), func(i int) bool {
		return rs[i].System > system || rs[i].System == system && rs[i].N >= n
	})
	if i == len(rs) || rs[i].System != system || rs[i].N != n {
		rs = append(rs[:i], append([]Result{{System: system, N: n}}, rs[i:]...)...)
	}
	r := &rs[i]
	if r.Metrics == nil {
		r.Metrics, r.Load, r.When = map[string]float64{}, map[string]string{}, map[string]string{}
	}
	now := time.Now().UTC().Format(time.RFC3339)
	for k, v := range metrics {
		r.Metrics[k] = v
		r.Load[k] = strings.TrimSpace(load)
		r.When[k] = now
	}
	data, err := json.MarshalIndent(rs, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
