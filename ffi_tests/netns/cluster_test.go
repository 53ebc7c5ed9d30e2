//go:build netns

// Package netns runs real `telepathine agent` processes, one per Linux
// network namespace, on a bridge, and breaks the network between them: loss,
// a partition, a peer cut off and restarted. It needs root and iproute2, and
// builds only with the tag netns (`make test-netns`), so `go test ./...`
// does not compile it.
//
// Every agent is driven through the CLI (set, del, get, keys, peers), as a
// user would. Deaths are observed through `telepathine hear --json '**'`,
// one stream per agent started before the scenario: a "peer:stop" event is
// the agent declaring a peer dead, "peer:start" alive again. The event bus is
// the engine's public contract (log lines are not), and a stream sees every
// transition however short, which polling `peers` would miss. That the
// streams lose nothing is itself checked: each must carry a set event for
// every acknowledged write of the other peers.
package netns

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var bin string // the telepathine CLI, built by TestMain

// TestMain refuses to run where the tests cannot: a skipped multi-host test
// would read as a pass.
func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "netns tests need root (network namespaces, veth, bridges): run `make test-netns` as root")
		os.Exit(1)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		fmt.Fprintln(os.Stderr, "netns tests need `ip` (Debian package iproute2)")
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "tp-netns")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	bin = filepath.Join(dir, "telepathine")
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/telepathine/telepathine/cmd/telepathine").CombinedOutput()
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building the CLI: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// peerCount is N: 6 by default (the brief's 5 to 8; two cores), TP_NETNS_PEERS
// to change it.
func peerCount(t *testing.T) int {
	n := 6
	if s := os.Getenv("TP_NETNS_PEERS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 3 || v > 200 {
			t.Fatalf("TP_NETNS_PEERS=%q: want a number from 3 to 200", s)
		}
		n = v
	}
	return n
}

// cliTimeout bounds one CLI call: they are local Unix-socket round trips.
const cliTimeout = 10 * time.Second

type agent struct {
	idx  int // 1-based, the topology's peer number
	name string
	ns   string
	sock string
	log  string
	addr string // the bound address, read back from the agent

	cmd  *exec.Cmd
	done chan struct{}
	w    *watcher
}

type cluster struct {
	t      *testing.T
	tp     *topo
	name   string
	dir    string
	agents []*agent
}

// newCluster starts one agent per namespace, the first without seeds and
// the others seeded with its address, and returns once every agent's event
// stream is live and every agent sees every other alive.
func newCluster(t *testing.T, n int) *cluster {
	t.Helper()
	tp := newTopo(t, n)
	c := &cluster{t: t, tp: tp, name: tp.prefix, dir: t.TempDir()}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("n%d", i)
		c.agents = append(c.agents, &agent{idx: i, name: name, ns: tp.peerNS[i-1],
			sock: filepath.Join(c.dir, name+".sock"), log: filepath.Join(c.dir, name+".log")})
	}
	t.Cleanup(func() {
		if t.Failed() {
			c.dumpState()
		}
		for _, a := range c.agents {
			a.kill()
		}
		if t.Failed() {
			c.dumpLogs()
		}
	})
	first := c.agents[0]
	c.start(first, tp.ip(1)+":0")
	for _, a := range c.agents[1:] {
		c.start(a, tp.ip(a.idx)+":0", first.addr)
	}
	t.Logf("cluster %s: %d agents, loss by %s", c.name, n, tp.loss)
	c.waitReady()
	c.waitAllAlive(30 * time.Second)
	return c
}

// start runs a's agent in its namespace, binding bind (port 0 the first
// time; the same port on a restart, as a restarted host keeps its address),
// reads the bound address back from its first line, and starts its event
// stream once the control socket answers.
func (c *cluster) start(a *agent, bind string, seeds ...string) {
	c.t.Helper()
	args := []string{"netns", "exec", a.ns, bin, "agent", "--bind", bind, "--name", a.name,
		"--cluster", c.name, "--control", a.sock, "-v"}
	if len(seeds) > 0 {
		args = append(args, "--seeds", strings.Join(seeds, ","))
	}
	logf, err := os.OpenFile(a.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	fmt.Fprintf(logf, "---- %s ip %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	// `ip netns exec` execs the agent in place: the PID is the agent's, so
	// SIGKILL reaches the agent itself. Its lifetime is the scenario's,
	// ended by kill (t.Cleanup), not by a context.
	cmd := exec.Command("ip", args...)
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	a.cmd, a.done, a.addr = cmd, make(chan struct{}), ""
	addrc := make(chan string, 1)
	go func(done chan struct{}) {
		defer close(done)
		defer logf.Close()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(logf, "stdout:", sc.Text())
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addrc <- m[1]:
				default:
				}
			}
		}
		_ = cmd.Wait()
	}(a.done)
	select {
	case a.addr = <-addrc:
	case <-a.done:
		c.t.Fatalf("agent %s exited at start-up (log %s):\n%s", a.name, a.log, tail(a.log))
	case <-time.After(20 * time.Second):
		c.t.Fatalf("agent %s printed no bound address in 20 s (log %s)", a.name, a.log)
	}
	c.eventually(10*time.Second, "control socket of "+a.name, func() error {
		_, err := c.peers(a)
		return err
	})
	a.w = c.watch(a)
}

// listening is the agent's first line on stdout: "agent NAME listening on
// ADDR (cluster ...)". It is how the port picked for :0 is read back.
var listening = regexp.MustCompile(`listening on ([^\s,;()]+)`)

// kill SIGKILLs the agent (no graceful leave) and waits for it to be gone.
func (a *agent) kill() {
	if a.cmd == nil || a.cmd.Process == nil {
		return
	}
	select {
	case <-a.done:
	default:
		_ = a.cmd.Process.Signal(syscall.SIGKILL)
		select {
		case <-a.done:
		case <-time.After(10 * time.Second):
		}
	}
	if a.w != nil {
		a.w.stop()
	}
}

// waitReady proves every agent's event stream is subscribed: an event it
// delivers proves it. A `hear` process subscribes some time after it
// starts, so events emitted before then are not on its stream: in rounds,
// every agent sets "ready" to a new value, until every stream shows a set
// by every other agent made in the round.
func (c *cluster) waitReady() {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for round := 0; ; round++ {
		since := time.Now()
		for _, a := range c.agents {
			c.mustCLI(a, "set", "ready", fmt.Sprintf("%d-%d", since.UnixNano(), round))
		}
		err := poll(3*time.Second, func() error {
			for _, r := range c.agents {
				for _, o := range c.agents {
					if r != o && !r.w.has(func(e event) bool { return e.Name == "set:ready" && e.Peer == o.name && !e.at.Before(since) }) {
						return fmt.Errorf("%s's stream shows no ready from %s", r.name, o.name)
					}
				}
			}
			return nil
		})
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("event streams not live after 30 s: %v", err)
		}
	}
}

// ---------------------------------------------------------------- CLI

// cli runs one CLI command against a's control socket.
func (c *cluster) cli(a *agent, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	full := append([]string{args[0], "--control", a.sock}, args[1:]...)
	cmd := exec.CommandContext(ctx, bin, full...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", a.name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

func (c *cluster) mustCLI(a *agent, args ...string) string {
	c.t.Helper()
	out, err := c.cli(a, args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// peerJSON is what `peers --json` prints for each peer.
type peerJSON struct {
	Name  string `json:"name"`
	Alive bool   `json:"alive"`
}

func (c *cluster) peers(a *agent) ([]peerJSON, error) {
	out, err := c.cli(a, "peers", "--json")
	if err != nil {
		return nil, err
	}
	var ps []peerJSON
	if err := json.Unmarshal([]byte(out), &ps); err != nil {
		return nil, fmt.Errorf("peers --json: %w: %q", err, out)
	}
	return ps, nil
}

// keys lists owner's keys as reader holds them.
func (c *cluster) keys(reader, owner *agent) (map[string]bool, error) {
	out, err := c.cli(reader, "keys", "--peer", owner.name)
	if err != nil {
		return nil, err
	}
	ks := map[string]bool{}
	for _, k := range strings.Fields(out) {
		ks[k] = true
	}
	return ks, nil
}

// get reads owner's key as reader holds it; found is false for "not found".
func (c *cluster) get(reader, owner *agent, key string) (value string, found bool, err error) {
	out, err := c.cli(reader, "get", "--peer", owner.name, key)
	if err != nil {
		if strings.Contains(err.Error(), "not found") {
			return "", false, nil
		}
		return "", false, err
	}
	return strings.TrimSuffix(out, "\n"), true, nil
}

// ---------------------------------------------------------------- waiting

// poll calls cond until it returns nil or d has passed; it returns cond's
// last error.
func poll(d time.Duration, cond func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// eventually polls cond until it returns nil, failing the test with its
// last error after d; it returns how long it took.
func (c *cluster) eventually(d time.Duration, what string, cond func() error) time.Duration {
	c.t.Helper()
	start := time.Now()
	if err := poll(d, cond); err != nil {
		c.t.Fatalf("%s: not true after %v: %v", what, d, err)
	}
	return time.Since(start)
}

// waitAllAlive waits until every running agent lists every other as alive.
func (c *cluster) waitAllAlive(d time.Duration) time.Duration {
	c.t.Helper()
	return c.eventually(d, "every agent sees every other alive", func() error {
		for _, a := range c.agents {
			ps, err := c.peers(a)
			if err != nil {
				return err
			}
			alive := map[string]bool{}
			for _, p := range ps {
				alive[p.Name] = p.Alive
			}
			for _, o := range c.agents {
				if o != a && !alive[o.name] {
					return fmt.Errorf("%s does not see %s alive (%v)", a.name, o.name, ps)
				}
			}
		}
		return nil
	})
}

// ---------------------------------------------------------------- writes

// writes records the acknowledged writes: owner -> key -> value. A write is
// acknowledged when `telepathine set` exited 0.
type writes struct {
	mu     sync.Mutex
	acked  map[string]map[string]string
	failed []string
}

func newWrites() *writes { return &writes{acked: map[string]map[string]string{}} }

func (w *writes) ack(owner, key, value string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.acked[owner] == nil {
		w.acked[owner] = map[string]string{}
	}
	w.acked[owner][key] = value
}

func (w *writes) fail(msg string) {
	w.mu.Lock()
	w.failed = append(w.failed, msg)
	w.mu.Unlock()
}

func (w *writes) of(owner string) map[string]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]string, len(w.acked[owner]))
	for k, v := range w.acked[owner] {
		out[k] = v
	}
	return out
}

func (w *writes) total() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, m := range w.acked {
		n += len(m)
	}
	return n
}

// writeFor runs one writer per agent for d (a scenario's duration, not a
// synchronisation): each sets a new key "<tag>-<name>-<seq>" every
// interval and records the sets that returned OK.
func (c *cluster) writeFor(d time.Duration, tag string, w *writes) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	for _, a := range c.agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(400 * time.Millisecond)
			defer tick.Stop()
			for seq := 0; ; seq++ {
				key := fmt.Sprintf("%s-%s-%d", tag, a.name, seq)
				val := fmt.Sprintf("v%d-%s", seq, a.name)
				if _, err := c.cli(a, "set", key, val); err != nil {
					w.fail(err.Error())
				} else {
					w.ack(a.name, key, val)
				}
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		}()
	}
	wg.Wait()
}

// waitWrites waits until every agent holds every acknowledged write of
// every other agent, with its value (checked on one key per pair: keys are
// written once, so a listed key has its only value), and until every
// agent's event stream has announced each of them. It returns how long
// the keys took to arrive.
func (c *cluster) waitWrites(w *writes, d time.Duration) time.Duration {
	c.t.Helper()
	type pair struct{ r, o *agent }
	pending := map[pair]bool{}
	for _, r := range c.agents {
		for _, o := range c.agents {
			if r != o {
				pending[pair{r, o}] = true
			}
		}
	}
	took := c.eventually(d, "every acknowledged write on every agent", func() error {
		var last error
		for p := range pending {
			ks, err := c.keys(p.r, p.o)
			if err != nil {
				return err
			}
			missing := 0
			for k := range w.of(p.o.name) {
				if !ks[k] {
					missing++
				}
			}
			if missing > 0 {
				last = fmt.Errorf("%s lacks %d of %s's acknowledged writes (and %d more pairs pending)",
					p.r.name, missing, p.o.name, len(pending)-1)
				continue
			}
			delete(pending, p)
		}
		return last
	})
	for _, r := range c.agents {
		for _, o := range c.agents {
			if r == o {
				continue
			}
			for k, v := range w.of(o.name) {
				got, ok, err := c.get(r, o, k)
				if err != nil || !ok || got != v {
					c.t.Fatalf("%s reads %s's %s = %q (found %v, err %v), want %q", r.name, o.name, k, got, ok, err, v)
				}
				break
			}
		}
	}
	c.eventually(10*time.Second, "every stream announced every acknowledged write", func() error {
		for _, r := range c.agents {
			seen := r.w.setKeys()
			for _, o := range c.agents {
				if r == o {
					continue
				}
				for k := range w.of(o.name) {
					if !seen[o.name+"\x00"+k] {
						return fmt.Errorf("%s's stream has no set event for %s's %s", r.name, o.name, k)
					}
				}
			}
		}
		return nil
	})
	return took
}

// ---------------------------------------------------------------- events

type event struct {
	at   time.Time
	Name string `json:"name"`
	Peer string `json:"peer"`
	Key  string `json:"key"`
}

// watcher is `telepathine hear --json '**'` on one agent, every line kept
// with the time it arrived.
type watcher struct {
	mu     sync.Mutex
	events []event
	cmd    *exec.Cmd
	done   chan struct{}
}

func (c *cluster) watch(a *agent) *watcher {
	c.t.Helper()
	// No timeout: the stream lives as long as the agent, and ends with it
	// or with stop.
	cmd := exec.Command(bin, "hear", "--json", "--control", a.sock, "**")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	errf, err := os.OpenFile(a.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd.Stderr = errf
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	w := &watcher{cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer errf.Close()
		w.read(stdout)
		_ = cmd.Wait()
	}()
	return w
}

func (w *watcher) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		e.at = time.Now()
		w.mu.Lock()
		w.events = append(w.events, e)
		w.mu.Unlock()
	}
}

func (w *watcher) stop() {
	if w.cmd.Process != nil {
		_ = w.cmd.Process.Kill()
	}
	select {
	case <-w.done:
	case <-time.After(10 * time.Second):
	}
}

func (w *watcher) filter(f func(event) bool) []event {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []event
	for _, e := range w.events {
		if f(e) {
			out = append(out, e)
		}
	}
	return out
}

func (w *watcher) has(f func(event) bool) bool { return len(w.filter(f)) > 0 }

// setKeys is every (peer, key) the stream announced a set of.
func (w *watcher) setKeys() map[string]bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]bool{}
	for _, e := range w.events {
		if strings.HasPrefix(e.Name, "set:") {
			out[e.Peer+"\x00"+e.Key] = true
		}
	}
	return out
}

// deaths lists every "peer X seems dead" any agent reported after since.
func (c *cluster) deaths(since time.Time) []string {
	var out []string
	for _, a := range c.agents {
		if a.w == nil {
			continue
		}
		for _, e := range a.w.filter(func(e event) bool { return e.Name == "peer:stop" && !e.at.Before(since) }) {
			out = append(out, fmt.Sprintf("%s declared %s dead at +%.1fs", a.name, e.Peer, e.at.Sub(since).Seconds()))
		}
	}
	return out
}

// ---------------------------------------------------------------- logs

// dumpState logs what each agent still answering knows: its peers and the
// keys it holds of each.
func (c *cluster) dumpState() {
	for _, a := range c.agents {
		ps, err := c.cli(a, "peers")
		if err != nil {
			c.t.Logf("---- %s: %v", a.name, err)
			continue
		}
		var held []string
		for _, o := range c.agents {
			if o != a {
				ks, err := c.keys(a, o)
				held = append(held, fmt.Sprintf("%s:%d(ready=%v,err=%v)", o.name, len(ks), ks["ready"], err))
			}
		}
		var evs []string
		if a.w != nil {
			for _, e := range a.w.filter(func(e event) bool { return !strings.HasPrefix(e.Key, "l") && !strings.HasPrefix(e.Key, "part-") }) {
				evs = append(evs, e.at.Format("05.000")+" "+e.Name+"/"+e.Peer)
			}
		}
		c.t.Logf("---- %s peers:\n%skeys held: %s\nevents: %s", a.name, ps, strings.Join(held, " "), strings.Join(evs, ", "))
	}
}

func (c *cluster) dumpLogs() {
	for _, a := range c.agents {
		c.t.Logf("---- %s (%s), last lines of %s:\n%s", a.name, a.addr, a.log, tail(a.log))
	}
}

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 25 {
		lines = lines[len(lines)-25:]
	}
	return strings.Join(lines, "\n")
}
