package bench

import (
	"path/filepath"
	"testing"
)

func TestRecordMergesResults(t *testing.T) {
	t.Setenv("BENCH_RESULTS", filepath.Join(t.TempDir(), "r", "loopback.json"))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(record("telepathine", 256, "1.0 1.0 1.0", map[string]float64{"join_ms": 900}))
	must(record("memberlist", 64, "2.0", map[string]float64{"join_ms": 1200}))
	must(record("telepathine", 256, "3.0", map[string]float64{"detect_ms": 5000}))
	must(record("telepathine", 256, "4.0", map[string]float64{"join_ms": 800}))
	rs, err := ReadResults(resultsPath())
	must(err)
	if len(rs) != 2 {
		t.Fatalf("want one entry per (system, N), got %+v", rs)
	}
	tp := rs[1]
	if rs[0].System != "memberlist" || tp.System != "telepathine" || tp.N != 256 {
		t.Fatalf("sorted by system then N: %+v", rs)
	}
	if tp.Metrics["join_ms"] != 800 || tp.Metrics["detect_ms"] != 5000 || tp.Load["join_ms"] != "4.0" {
		t.Fatalf("later figures replace earlier ones, others stay: %+v", tp)
	}
}
