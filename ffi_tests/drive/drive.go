// Package drive starts and commands interop drivers: programs that run one
// Telepathine peer through a language binding and speak the JSON-lines
// protocol of ffi_tests/PROTOCOL.md. The interop tests and the demo use it
// to put peers written in Go, C, Python and Node in one cluster.
package drive

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Value is a protocol value: text, a JSON document, or raw bytes.
type Value struct {
	Encoding string          `json:"encoding"`
	Text     *string         `json:"text,omitempty"`
	JSON     json.RawMessage `json:"json,omitempty"`
	Base64   *string         `json:"base64,omitempty"`
}

// Text, JSON and Raw build values.
func Text(s string) *Value { return &Value{Encoding: "text", Text: &s} }

// JSON wraps a JSON document.
func JSON(doc string) *Value { return &Value{Encoding: "json", JSON: json.RawMessage(doc)} }

// Raw wraps bytes.
func Raw(b []byte) *Value {
	s := base64.StdEncoding.EncodeToString(b)
	return &Value{Encoding: "raw", Base64: &s}
}

// Equal compares encodings and contents (JSON documents semantically).
func (v *Value) Equal(o *Value) bool {
	if v == nil || o == nil || v.Encoding != o.Encoding {
		return false
	}
	switch v.Encoding {
	case "text":
		return *v.Text == *o.Text
	case "raw":
		return *v.Base64 == *o.Base64
	}
	var x, y any
	if json.Unmarshal(v.JSON, &x) != nil || json.Unmarshal(o.JSON, &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

// String renders a value for people: text quoted, JSON as is, bytes in hex.
func (v *Value) String() string {
	if v == nil {
		return "<none>"
	}
	switch v.Encoding {
	case "text":
		return fmt.Sprintf("%q (text)", *v.Text)
	case "json":
		return string(v.JSON) + " (json)"
	}
	b, _ := base64.StdEncoding.DecodeString(*v.Base64)
	return fmt.Sprintf("%x (bytes)", b)
}

// Event is an event a driver reported.
type Event struct {
	Name  string `json:"name"`
	Peer  string `json:"peer"`
	Key   string `json:"key"`
	Value *Value `json:"value"`
	Sub   string `json:"sub"`
}

// Proc is one running driver.
type Proc struct {
	Lang string
	Name string // the peer's name, once started
	Addr string // its advertised address, once started

	cmd   *exec.Cmd
	stdin io.WriteCloser

	mu      sync.Mutex
	nextID  int64
	waiting map[int64]chan map[string]any
	events  []Event
	onEvent func(Event)
	exited  chan struct{}
}

// Spawn starts a driver from its command line. stderr receives the driver's
// diagnostics; onEvent (may be nil) is called for each event, on the
// reader's goroutine, in arrival order.
func Spawn(lang string, argv []string, stderr io.Writer, onEvent func(Event)) (*Proc, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("no driver command for %s", lang)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the %s driver: %w", lang, err)
	}
	p := &Proc{Lang: lang, cmd: cmd, stdin: stdin, waiting: map[int64]chan map[string]any{},
		onEvent: onEvent, exited: make(chan struct{})}
	go p.read(stdout)
	return p, nil
}

func (p *Proc) read(r io.Reader) {
	defer close(p.exited)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		if ev, ok := m["event"]; ok {
			b, _ := json.Marshal(ev)
			var e Event
			_ = json.Unmarshal(b, &e)
			p.mu.Lock()
			p.events = append(p.events, e)
			f := p.onEvent
			p.mu.Unlock()
			if f != nil {
				f(e)
			}
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
	for id, ch := range p.waiting {
		close(ch)
		delete(p.waiting, id)
	}
	p.waiting = nil
	p.mu.Unlock()
}

// ErrGone is returned by Call once the driver process has ended.
var ErrGone = errors.New("driver is gone")

// Call sends a command and waits up to timeout for its response, returning
// the response's fields or the driver's error.
func (p *Proc) Call(cmd string, fields map[string]any, timeout time.Duration) (map[string]any, error) {
	p.mu.Lock()
	if p.waiting == nil {
		p.mu.Unlock()
		return nil, fmt.Errorf("[%s] %s: %w", p.Lang, cmd, ErrGone)
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
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("[%s] %s: %w", p.Lang, cmd, err)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("[%s] %s: %w", p.Lang, cmd, ErrGone)
		}
		if ok, _ := m["ok"].(bool); !ok {
			return m, fmt.Errorf("[%s] %s: %v", p.Lang, cmd, m["error"])
		}
		return m, nil
	case <-time.After(timeout):
		return nil, fmt.Errorf("[%s] %s: no answer in %v", p.Lang, cmd, timeout)
	}
}

// Start starts the driver's peer in cluster with the given seeds; a name set
// on p beforehand is kept (a restarted process takes its predecessor's).
func (p *Proc) Start(cluster string, seeds ...string) error {
	if seeds == nil {
		seeds = []string{}
	}
	m, err := p.Call("start", map[string]any{"cluster": cluster, "seeds": seeds, "name": p.Name}, 30*time.Second)
	if err != nil {
		return err
	}
	p.Name, _ = m["name"].(string)
	p.Addr, _ = m["addr"].(string)
	return nil
}

// Get reads key of peer ("" for the driver's own peer).
func (p *Proc) Get(peer, key string) (*Value, bool, error) {
	m, err := p.Call("get", map[string]any{"peer": peer, "key": key}, 10*time.Second)
	if err != nil {
		return nil, false, err
	}
	if found, _ := m["found"].(bool); !found {
		return nil, false, nil
	}
	return ToValue(m["value"]), true, nil
}

// Peers lists peer names: which is "all", "live" or "dead".
func (p *Proc) Peers(which string) ([]string, error) {
	m, err := p.Call("peers", map[string]any{"which": which}, 10*time.Second)
	if err != nil {
		return nil, err
	}
	var out []string
	list, _ := m["peers"].([]any)
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// Events returns the events received so far that satisfy pred.
func (p *Proc) Events(pred func(Event) bool) []Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Event
	for _, e := range p.events {
		if pred == nil || pred(e) {
			out = append(out, e)
		}
	}
	return out
}

// Kill ends the process at once with SIGKILL (a crash: no goodbye) and
// waits for it.
func (p *Proc) Kill() {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
	}
}

// Exit asks the driver to close its peer and exit, killing it if it does
// not within the timeout.
func (p *Proc) Exit(timeout time.Duration) {
	b, _ := json.Marshal(map[string]any{"cmd": "exit"})
	_, _ = p.stdin.Write(append(b, '\n'))
	_ = p.stdin.Close()
	select {
	case <-p.exited:
		_ = p.cmd.Wait()
	case <-time.After(timeout):
		p.Kill()
	}
}

// ToValue converts a decoded JSON value object.
func ToValue(x any) *Value {
	b, _ := json.Marshal(x)
	var v Value
	if json.Unmarshal(b, &v) != nil {
		return nil
	}
	return &v
}

// Command splits a driver command line ("venv/bin/python driver.py").
func Command(s string) []string { return strings.Fields(s) }
