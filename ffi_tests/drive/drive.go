// Package drive starts and commands interop drivers: programs that run one
// Telepathine peer through a language binding and speak the JSON-lines
// protocol of ffi_tests/PROTOCOL.md. The interop tests and the demo use it
// to put peers written in Go, C, Python and Node in one cluster.
//
// Values travel in engine.Value's own JSON form (engine/bus/value_json.go),
// so a value read back from any driver is an engine.Value again.
package drive

import (
	"bufio"
	"bytes"
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

	"github.com/telepathine/telepathine/engine"
)

// Timeout bounds every command but the ones that wait by design (start,
// ask): a driver that does not answer in this time is broken.
const Timeout = 30 * time.Second

// Same reports whether two values have the same encoding and contents,
// JSON documents compared as documents (drivers may re-serialise them).
func Same(a, b engine.Value) bool {
	if a.Encoding != b.Encoding {
		return false
	}
	if a.Encoding != engine.JSON {
		return bytes.Equal(a.Data, b.Data)
	}
	var x, y any
	if json.Unmarshal(a.Data, &x) != nil || json.Unmarshal(b.Data, &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

// Show renders a value for people: text quoted, JSON as is, bytes in hex.
func Show(v engine.Value) string {
	switch v.Encoding {
	case engine.Text:
		return fmt.Sprintf("%q (text)", v.Data)
	case engine.JSON:
		return string(v.Data) + " (json)"
	}
	return fmt.Sprintf("%x (bytes)", v.Data)
}

// Event is an event a driver reported.
type Event struct {
	Name  string        `json:"name"`
	Peer  string        `json:"peer"`
	Key   string        `json:"key"`
	Value *engine.Value `json:"value"`
	Sub   string        `json:"sub"`
}

// Reply is one answer to an ask.
type Reply struct {
	Peer  string       `json:"peer"`
	Value engine.Value `json:"value"`
}

// Stats are the counters every driver reports (the `stats` command).
type Stats struct {
	ForeignCluster uint64 `json:"foreign_cluster"`
	EventsDropped  uint64 `json:"events_dropped"`
	Sets           uint64 `json:"sets"`
	Says           uint64 `json:"says"`
	LivePeers      int    `json:"live_peers"`
	// Drops counts incoming packets dropped, by cause (Stats.DropCauses).
	Drops map[string]uint64 `json:"drops"`
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
	waiting map[int64]chan json.RawMessage
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
	p := &Proc{Lang: lang, cmd: cmd, stdin: stdin, waiting: map[int64]chan json.RawMessage{},
		onEvent: onEvent, exited: make(chan struct{})}
	go p.read(stdout)
	return p, nil
}

// line is what a driver writes: a response (id, ok, error) or an event.
type line struct {
	ID    *int64          `json:"id"`
	Event json.RawMessage `json:"event"`
}

func (p *Proc) read(r io.Reader) {
	defer close(p.exited)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var l line
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		if l.Event != nil {
			var e Event
			if json.Unmarshal(l.Event, &e) != nil {
				continue
			}
			p.mu.Lock()
			p.events = append(p.events, e)
			f := p.onEvent
			p.mu.Unlock()
			if f != nil {
				f(e)
			}
			continue
		}
		if l.ID == nil {
			continue
		}
		p.mu.Lock()
		ch := p.waiting[*l.ID]
		delete(p.waiting, *l.ID)
		p.mu.Unlock()
		if ch != nil {
			ch <- append(json.RawMessage(nil), sc.Bytes()...)
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

// Call sends a command and waits up to timeout for its response, which it
// decodes into out (a pointer to a struct of the response's fields, or nil).
// A response with "ok": false is returned as an error with its message.
func (p *Proc) Call(cmd string, fields map[string]any, timeout time.Duration, out any) error {
	p.mu.Lock()
	if p.waiting == nil {
		p.mu.Unlock()
		return fmt.Errorf("[%s] %s: %w", p.Lang, cmd, ErrGone)
	}
	p.nextID++
	id := p.nextID
	ch := make(chan json.RawMessage, 1)
	p.waiting[id] = ch
	p.mu.Unlock()
	req := map[string]any{"id": id, "cmd": cmd}
	for k, v := range fields {
		req[k] = v
	}
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("[%s] %s: %w", p.Lang, cmd, err)
	}
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("[%s] %s: %w", p.Lang, cmd, err)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case raw, ok := <-ch:
		if !ok {
			return fmt.Errorf("[%s] %s: %w", p.Lang, cmd, ErrGone)
		}
		var status struct {
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		}
		if err := json.Unmarshal(raw, &status); err != nil {
			return fmt.Errorf("[%s] %s: bad response: %w", p.Lang, cmd, err)
		}
		if !status.OK {
			return fmt.Errorf("[%s] %s: %s", p.Lang, cmd, status.Error)
		}
		if out != nil {
			if err := json.Unmarshal(raw, out); err != nil {
				return fmt.Errorf("[%s] %s: bad response: %w", p.Lang, cmd, err)
			}
		}
		return nil
	case <-timer.C:
		return fmt.Errorf("[%s] %s: no answer in %v", p.Lang, cmd, timeout)
	}
}

// Start starts the driver's peer in cluster with the given seeds; a name set
// on p beforehand is kept (a restarted process takes its predecessor's).
func (p *Proc) Start(cluster string, seeds ...string) error {
	if seeds == nil {
		seeds = []string{}
	}
	var r struct {
		Name string `json:"name"`
		Addr string `json:"addr"`
	}
	if err := p.Call("start", map[string]any{"cluster": cluster, "seeds": seeds, "name": p.Name}, Timeout, &r); err != nil {
		return err
	}
	if r.Name == "" || r.Addr == "" {
		return fmt.Errorf("[%s] start: no name or address in the response", p.Lang)
	}
	p.Name, p.Addr = r.Name, r.Addr
	return nil
}

// Security is the keyring part of `start` (ffi_tests/PROTOCOL.md).
type Security struct {
	Keys            [][]byte
	NetworkKey      string
	AcceptPlaintext bool
	SendPlaintext   bool
}

// StartSecure is Start with a keyring.
func (p *Proc) StartSecure(cluster string, sec Security, seeds ...string) error {
	if seeds == nil {
		seeds = []string{}
	}
	keys := make([]string, len(sec.Keys))
	for i, k := range sec.Keys {
		keys[i] = base64.StdEncoding.EncodeToString(k)
	}
	var r struct {
		Name string `json:"name"`
		Addr string `json:"addr"`
	}
	fields := map[string]any{
		"cluster": cluster, "seeds": seeds, "name": p.Name, "keys": keys, "network_key": sec.NetworkKey,
		"accept_plaintext": sec.AcceptPlaintext, "send_plaintext": sec.SendPlaintext,
	}
	if err := p.Call("start", fields, Timeout, &r); err != nil {
		return err
	}
	if r.Name == "" || r.Addr == "" {
		return fmt.Errorf("[%s] start: no name or address in the response", p.Lang)
	}
	p.Name, p.Addr = r.Name, r.Addr
	return nil
}

// Keyring runs a keyring operation ("list", "install", "use", "remove"; key
// is ignored by "list") and returns the keys after it, primary first.
func (p *Proc) Keyring(op string, key []byte) ([][]byte, error) {
	var r struct {
		Keys []string `json:"keys"`
	}
	fields := map[string]any{"op": op}
	if key != nil {
		fields["cluster_key"] = base64.StdEncoding.EncodeToString(key)
	}
	if err := p.Call("keyring", fields, Timeout, &r); err != nil {
		return nil, err
	}
	out := make([][]byte, len(r.Keys))
	for i, k := range r.Keys {
		b, err := base64.StdEncoding.DecodeString(k)
		if err != nil {
			return nil, fmt.Errorf("[%s] keyring: %w", p.Lang, err)
		}
		out[i] = b
	}
	return out, nil
}

// Set sets a key of the driver's peer; expiresAt is Unix ms (0: never).
func (p *Proc) Set(key string, v engine.Value, expiresAt int64) error {
	fields := map[string]any{"key": key, "value": v}
	if expiresAt != 0 {
		fields["expires_at"] = expiresAt
	}
	return p.Call("set", fields, Timeout, nil)
}

// Get reads key of peer ("" for the driver's own peer).
func (p *Proc) Get(peer, key string) (engine.Value, bool, error) {
	var r struct {
		Found bool          `json:"found"`
		Value *engine.Value `json:"value"`
	}
	if err := p.Call("get", map[string]any{"peer": peer, "key": key}, Timeout, &r); err != nil {
		return engine.Value{}, false, err
	}
	if !r.Found {
		return engine.Value{}, false, nil
	}
	if r.Value == nil {
		return engine.Value{}, false, fmt.Errorf("[%s] get: found without a value", p.Lang)
	}
	return *r.Value, true, nil
}

// Say says event with data to every other peer.
func (p *Proc) Say(event string, data engine.Value) error {
	return p.Call("say", map[string]any{"event": event, "value": data}, Timeout, nil)
}

// Ask asks event and returns the replies that came within timeout.
func (p *Proc) Ask(event string, data engine.Value, timeout time.Duration) ([]Reply, error) {
	var r struct {
		Replies []Reply `json:"replies"`
	}
	err := p.Call("ask", map[string]any{"event": event, "value": data, "timeout_ms": timeout.Milliseconds()},
		timeout+Timeout, &r)
	return r.Replies, err
}

// Hear subscribes to say events matching pattern; asks heard through it are
// answered with reply when reply is not nil.
func (p *Proc) Hear(pattern string, reply *engine.Value) error {
	fields := map[string]any{"pattern": pattern}
	if reply != nil {
		fields["reply"] = *reply
	}
	return p.Call("hear", fields, Timeout, nil)
}

// On subscribes to local events matching pattern (set:*, peer:*, ...).
func (p *Proc) On(pattern string) error {
	return p.Call("on", map[string]any{"pattern": pattern}, Timeout, nil)
}

// Peers lists peer names: which is "all", "live" or "dead".
func (p *Proc) Peers(which string) ([]string, error) {
	var r struct {
		Peers []string `json:"peers"`
	}
	err := p.Call("peers", map[string]any{"which": which}, Timeout, &r)
	return r.Peers, err
}

// Stats returns the driver's peer's counters.
func (p *Proc) Stats() (Stats, error) {
	var r struct {
		Stats *Stats `json:"stats"`
	}
	if err := p.Call("stats", nil, Timeout, &r); err != nil {
		return Stats{}, err
	}
	if r.Stats == nil {
		return Stats{}, fmt.Errorf("[%s] stats: no stats in the response", p.Lang)
	}
	return *r.Stats, nil
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

// Command splits a driver command line ("venv/bin/python driver.py").
func Command(s string) []string { return strings.Fields(s) }
