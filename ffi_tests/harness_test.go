//go:build interop

// Package interop runs peers written in Go, C, Python and Node as separate
// processes in one cluster and checks they behave as one. Drivers are named
// by environment variables (see driverCommand); `make test-interop` builds
// them all and sets TP_INTEROP_LANGS=go,c,python,node.
package interop

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// langs lists the languages under test; every one must have a driver.
func langs() []string {
	s := os.Getenv("TP_INTEROP_LANGS")
	if s == "" {
		s = "go"
	}
	return strings.Split(s, ",")
}

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

// driverCommand returns the command line of a language's driver, from
// TP_DRIVER_<LANG> (e.g. TP_DRIVER_PYTHON="venv/bin/python driver.py").
func driverCommand(t *testing.T, lang string) []string {
	v := os.Getenv("TP_DRIVER_" + strings.ToUpper(lang))
	require.NotEmpty(t, v, "no driver for %s: set TP_DRIVER_%s (make test-interop does)", lang, strings.ToUpper(lang))
	return strings.Fields(v)
}

type event struct {
	Name  string `json:"name"`
	Peer  string `json:"peer"`
	Key   string `json:"key"`
	Value *value `json:"value"`
	Sub   string `json:"sub"`
}

type value struct {
	Encoding string          `json:"encoding"`
	Text     *string         `json:"text,omitempty"`
	JSON     json.RawMessage `json:"json,omitempty"`
	Base64   *string         `json:"base64,omitempty"`
}

func text(s string) *value { return &value{Encoding: "text", Text: &s} }
func jsonv(s string) *value {
	return &value{Encoding: "json", JSON: json.RawMessage(s)}
}
func raw(b []byte) *value {
	s := base64.StdEncoding.EncodeToString(b)
	return &value{Encoding: "raw", Base64: &s}
}

// same compares values by encoding and content (JSON semantically).
func same(a, b *value) bool {
	if a == nil || b == nil || a.Encoding != b.Encoding {
		return false
	}
	switch a.Encoding {
	case "text":
		return *a.Text == *b.Text
	case "raw":
		return *a.Base64 == *b.Base64
	}
	var x, y any
	if json.Unmarshal(a.JSON, &x) != nil || json.Unmarshal(b.JSON, &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

func (v *value) String() string {
	if v == nil {
		return "<nil>"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// proc is one driver process.
type proc struct {
	t     *testing.T
	lang  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	name  string
	addr  string

	mu      sync.Mutex
	nextID  int64
	waiting map[int64]chan map[string]any
	events  []event
	dead    bool
}

func spawn(t *testing.T, lang string) *proc {
	t.Helper()
	argv := driverCommand(t, lang)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = &prefixWriter{prefix: "[" + lang + "] ", w: os.Stderr}
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &proc{t: t, lang: lang, cmd: cmd, stdin: stdin, waiting: map[int64]chan map[string]any{}}
	go p.read(stdout)
	t.Cleanup(p.kill)
	return p
}

func (p *proc) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			p.t.Logf("[%s] bad line: %s", p.lang, sc.Text())
			continue
		}
		if ev, ok := m["event"]; ok {
			b, _ := json.Marshal(ev)
			var e event
			_ = json.Unmarshal(b, &e)
			p.mu.Lock()
			p.events = append(p.events, e)
			p.mu.Unlock()
			continue
		}
		id, _ := m["id"].(float64)
		p.mu.Lock()
		ch := p.waiting[int64(id)]
		delete(p.waiting, int64(id))
		p.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	}
	p.mu.Lock()
	p.dead = true
	for id, ch := range p.waiting {
		close(ch)
		delete(p.waiting, id)
	}
	p.mu.Unlock()
}

// call sends a request and waits (bounded) for its response.
func (p *proc) call(cmd string, fields map[string]any) map[string]any {
	p.t.Helper()
	p.mu.Lock()
	if p.dead {
		p.mu.Unlock()
		p.t.Fatalf("[%s] driver is gone", p.lang)
	}
	p.nextID++
	id := p.nextID
	ch := make(chan map[string]any, 1)
	p.waiting[id] = ch
	p.mu.Unlock()
	req := map[string]any{"id": id, "cmd": cmd}
	for k, v := range fields {
		req[k] = v
	}
	b, _ := json.Marshal(req)
	_, err := p.stdin.Write(append(b, '\n'))
	require.NoError(p.t, err)
	select {
	case m, ok := <-ch:
		require.True(p.t, ok, "[%s] driver died during %s", p.lang, cmd)
		require.Equal(p.t, true, m["ok"], "[%s] %s failed: %v", p.lang, cmd, m["error"])
		return m
	case <-time.After(30 * time.Second):
		p.t.Fatalf("[%s] no answer to %s", p.lang, cmd)
		return nil
	}
}

func (p *proc) start(cluster string, seeds ...string) {
	if seeds == nil {
		seeds = []string{}
	}
	m := p.call("start", map[string]any{"cluster": cluster, "seeds": seeds, "name": p.name})
	p.name, p.addr = m["name"].(string), m["addr"].(string)
}

func (p *proc) get(peer, key string) (*value, bool) {
	m := p.call("get", map[string]any{"peer": peer, "key": key})
	if found, _ := m["found"].(bool); !found {
		return nil, false
	}
	b, _ := json.Marshal(m["value"])
	var v value
	_ = json.Unmarshal(b, &v)
	return &v, true
}

func (p *proc) peers(which string) []string {
	m := p.call("peers", map[string]any{"which": which})
	var out []string
	for _, x := range m["peers"].([]any) {
		out = append(out, x.(string))
	}
	return out
}

func (p *proc) heard(pred func(event) bool) []event {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []event
	for _, e := range p.events {
		if pred(e) {
			out = append(out, e)
		}
	}
	return out
}

// kill ends the process at once (SIGKILL: no goodbye, a crash).
func (p *proc) kill() {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
	}
}

type prefixWriter struct {
	mu     sync.Mutex
	prefix string
	w      io.Writer
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

// perLang is how many peers of each language a scenario starts: one, or two
// when a single language is under test (a cluster needs two peers).
func perLang() int {
	if len(langs()) == 1 {
		return 2
	}
	return 1
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
	for _, p := range ps[1:] {
		p.start(name, ps[0].addr)
	}
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

func jsonMarshal(x any) ([]byte, error)   { return json.Marshal(x) }
func jsonUnmarshal(b []byte, x any) error { return json.Unmarshal(b, x) }
