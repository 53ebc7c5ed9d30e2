//go:build interop

// Package interop runs peers written in Go, C, Python and Node as separate
// processes in one cluster and checks they behave as one. Drivers are named
// by environment variables (see driverCommand); `make test-interop` builds
// them all and sets TP_INTEROP_LANGS.
package interop

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/telepathine/telepathine/engine"
	"github.com/telepathine/telepathine/ffi_tests/drive"
)

// TestMain builds the Go driver when TP_DRIVER_GO does not name one.
func TestMain(m *testing.M) {
	if os.Getenv("TP_DRIVER_GO") == "" {
		dir, err := os.MkdirTemp("", "tp-interop")
		if err != nil {
			panic(err)
		}
		bin := dir + "/go-driver"
		if out, err := exec.Command("go", "build", "-o", bin, "./drivers/go").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building the Go driver: %v\n%s", err, out)
			os.Exit(1)
		}
		os.Setenv("TP_DRIVER_GO", bin)
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// langs lists the languages under test; every one must have a driver.
func langs() []string {
	s := os.Getenv("TP_INTEROP_LANGS")
	if s == "" {
		s = "go"
	}
	return strings.Split(s, ",")
}

// perLang is how many peers of each language a scenario starts: one, or two
// when a single language is under test (a cluster needs two peers).
func perLang() int {
	if len(langs()) == 1 {
		return 2
	}
	return 1
}

// driverCommand returns the command line of a language's driver, from
// TP_DRIVER_<LANG> (e.g. TP_DRIVER_PYTHON="venv/bin/python driver.py").
func driverCommand(t *testing.T, lang string) []string {
	v := os.Getenv("TP_DRIVER_" + strings.ToUpper(lang))
	require.NotEmpty(t, v, "no driver for %s: set TP_DRIVER_%s (make test-interop does)", lang, strings.ToUpper(lang))
	return drive.Command(v)
}

// proc is a driver process bound to a test: its calls fail the test.
type proc struct {
	*drive.Proc
	t *testing.T
}

func spawn(t *testing.T, lang string) *proc {
	t.Helper()
	d, err := drive.Spawn(lang, driverCommand(t, lang), &prefixWriter{prefix: "[" + lang + "] ", w: os.Stderr}, nil)
	require.NoError(t, err)
	t.Cleanup(d.Kill)
	return &proc{Proc: d, t: t}
}

func (p *proc) start(cluster string, seeds ...string) {
	p.t.Helper()
	require.NoError(p.t, p.Start(cluster, seeds...))
}

func (p *proc) set(key string, v engine.Value) {
	p.t.Helper()
	require.NoError(p.t, p.Set(key, v, 0))
}

func (p *proc) get(peer, key string) (engine.Value, bool) {
	p.t.Helper()
	v, ok, err := p.Get(peer, key)
	require.NoError(p.t, err)
	return v, ok
}

func (p *proc) stats() drive.Stats {
	p.t.Helper()
	s, err := p.Stats()
	require.NoError(p.t, err)
	return s
}

func (p *proc) peers(which string) []string {
	p.t.Helper()
	ps, err := p.Peers(which)
	require.NoError(p.t, err)
	return ps
}

func (p *proc) heard(pred func(drive.Event) bool) []drive.Event { return p.Events(pred) }

type prefixWriter struct {
	mu     sync.Mutex
	prefix string
	w      *os.File
}

func (w *prefixWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line != "" {
			fmt.Fprint(w.w, w.prefix+line)
		}
	}
	return len(b), nil
}

// eventually polls cond with a deadline.
func eventually(t *testing.T, d time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: "+msg, append([]any{d}, args...)...)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cluster starts perLang drivers per language, all seeded with the first.
func cluster(t *testing.T, name string, perLang int) []*proc {
	var ps []*proc
	for _, l := range langs() {
		for i := 0; i < perLang; i++ {
			ps = append(ps, spawn(t, l))
		}
	}
	ps[0].start(name)
	// The others join at once, as a cluster would; errgroup collects the
	// first failure (require may not run outside the test's goroutine).
	var g errgroup.Group
	for _, p := range ps[1:] {
		g.Go(func() error { return p.Start(name, ps[0].Addr) })
	}
	require.NoError(t, g.Wait())
	eventually(t, 30*time.Second, func() bool {
		for _, p := range ps {
			if len(p.peers("live")) != len(ps)-1 {
				return false
			}
		}
		return true
	}, "cluster of %d did not form", len(ps))
	return ps
}
