package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type agent struct {
	control string
	addr    string
	cancel  context.CancelFunc
	done    chan error
}

func startAgent(t *testing.T, seeds ...string) *agent {
	t.Helper()
	return startAgentWith(t, func(c *engine.Config) { c.Seeds = seeds })
}

func startAgentWith(t *testing.T, mutate func(*engine.Config)) *agent {
	t.Helper()
	dir, err := os.MkdirTemp("", "tp") // short: Unix socket paths are limited to ~100 bytes
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	a := &agent{control: filepath.Join(dir, "c.sock"), done: make(chan error, 1)}
	cfg := engine.LocalConfig()
	cfg.Cluster = "cli-test"
	mutate(&cfg)
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	out := &syncBuffer{}
	go func() { a.done <- runAgent(ctx, cfg, a.control, out) }()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "listening on") }, 10*time.Second, 5*time.Millisecond)
	// The socket file appears at bind, before listen: wait until it accepts.
	require.Eventually(t, func() bool {
		c, err := net.Dial("unix", a.control)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	}, 10*time.Second, 5*time.Millisecond)
	line := out.String()
	a.addr = strings.Fields(line[strings.Index(line, "listening on ")+len("listening on "):])[0]
	t.Cleanup(func() {
		cancel()
		<-a.done
	})
	return a
}

// tp runs one command against an agent and returns its output.
func tp(t *testing.T, a *agent, args ...string) (string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	full := append([]string{args[0], "--control", a.control}, args[1:]...)
	code := run(full, &out, &errb)
	return out.String() + errb.String(), code
}

func TestCLIAgainstTwoAgents(t *testing.T) {
	a := startAgent(t)
	b := startAgent(t, a.addr)

	out, code := tp(t, a, "set", "color", "blue")
	require.Equal(t, 0, code, out)
	out, code = tp(t, a, "set", "--json", "cfg", `{"replicas":3}`)
	require.Equal(t, 0, code, out)
	out, code = tp(t, a, "set", "--json", "bad", `{`)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "not valid JSON")

	// cfg was set after color: once b holds it, it holds color too (a
	// replica applies each owner's changes in order).
	require.Eventually(t, func() bool {
		out, code := tp(t, b, "get", "--peer", a.addr, "cfg")
		return code == 0 && out == "{\"replicas\":3}\n"
	}, 10*time.Second, 10*time.Millisecond)
	out, _ = tp(t, b, "get", "--peer", a.addr, "color")
	assert.Equal(t, "blue\n", out)
	out, _ = tp(t, b, "keys", "--peer", a.addr)
	assert.Equal(t, "cfg\ncolor\n", out)

	out, code = tp(t, b, "peers", "--live")
	require.Equal(t, 0, code)
	assert.Contains(t, out, a.addr)
	assert.Contains(t, out, "alive")

	// hear: events stream until the command has its count.
	hearOut := make(chan string, 1)
	go func() {
		o, _ := tp(t, b, "hear", "-n", "2", "say:**")
		hearOut <- o
	}()
	// The stream must be open before saying: retry the say until heard.
	deadline := time.After(10 * time.Second)
	var heard string
loop:
	for {
		out, code = tp(t, a, "say", "--for", "1s", "deploy:done", "v42")
		require.Equal(t, 0, code, out)
		select {
		case heard = <-hearOut:
			break loop
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatal("hear never printed the events")
		}
	}
	assert.Contains(t, heard, "say:deploy:done")
	assert.Contains(t, heard, "v42")

	out, code = tp(t, a, "del", "color")
	require.Equal(t, 0, code, out)
	require.Eventually(t, func() bool {
		_, code := tp(t, b, "get", "--peer", a.addr, "color")
		return code == 1
	}, 10*time.Second, 10*time.Millisecond)
	out, _ = tp(t, b, "get", "--peer", a.addr, "color")
	assert.Contains(t, out, "not found")
}

func TestCLIErrors(t *testing.T) {
	var out, errb bytes.Buffer
	assert.Equal(t, 2, run([]string{"bogus"}, &out, &errb))
	assert.Contains(t, errb.String(), "unknown command")
	errb.Reset()
	assert.Equal(t, 1, run([]string{"get", "--control", filepath.Join(t.TempDir(), "none.sock"), "k"}, &out, &errb))
	assert.Contains(t, errb.String(), "no agent")
	errb.Reset()
	assert.Equal(t, 1, run([]string{"agent", "--preset", "fast"}, &out, &errb))
	assert.Contains(t, errb.String(), "unknown preset")
	a := startAgent(t)
	o, code := tp(t, a, "set", "", "v")
	assert.Equal(t, 1, code)
	assert.Contains(t, o, "key")
}

// TestAgentGracefulShutdown runs the real binary and stops it with SIGTERM
// (and another with SIGINT): it must leave, remove its socket and exit 0.
func TestAgentGracefulShutdown(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "telepathine")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		dir, err := os.MkdirTemp("", "tp")
		require.NoError(t, err)
		defer os.RemoveAll(dir)
		sock := filepath.Join(dir, "c.sock")
		cmd := exec.Command(bin, "agent", "--bind", "127.0.0.1:0", "--preset", "local", "--control", sock)
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		r := bufio.NewReader(stdout)
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		require.Contains(t, line, "listening on")
		require.NoError(t, cmd.Process.Signal(sig))
		rest, _ := io.ReadAll(r)
		require.NoError(t, cmd.Wait(), "exit status after %v", sig)
		assert.Contains(t, string(rest), "stopped")
		_, err = os.Stat(sock)
		assert.True(t, os.IsNotExist(err), "control socket removed")
	}
}

// The peer and the control socket live and fail together: an agent whose
// control socket cannot be served stops its peer and returns the reason at
// once, without waiting for a signal.
func TestAgentFailsWithItsControlSocket(t *testing.T) {
	a := startAgent(t)
	cfg := engine.LocalConfig()
	cfg.Cluster = "cli-test"
	done := make(chan error, 1)
	var out syncBuffer
	go func() { done <- runAgent(context.Background(), cfg, a.control, &out) }()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.Contains(t, err.Error(), "control socket")
		assert.Contains(t, err.Error(), "in use")
		assert.NotContains(t, out.String(), "stopped")
	case <-time.After(10 * time.Second):
		t.Fatal("the agent kept running without its control socket")
	}
	// The first agent is unaffected.
	o, code := tp(t, a, "peers")
	assert.Equal(t, 0, code, o)
}

// The keyring through the control socket: an agent started with a keyring
// file lists it, installs, uses and removes keys, and refuses bad input;
// plaintext moves the upgrade stage.
func TestCLIKeyringAndPlaintext(t *testing.T) {
	dir := t.TempDir()
	k1 := strings.Repeat("11", 32) // hex
	k2 := "IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI="
	file := filepath.Join(dir, "keyring")
	require.NoError(t, os.WriteFile(file, []byte("# cluster keys\n"+k1+"\n"), 0o600))

	fs, _ := newFlags("agent")
	sec := addSecurityFlags(fs)
	require.NoError(t, fs.Parse([]string{"--keyring-file", file, "--state-dir", dir}))
	cfg := engine.LocalConfig()
	require.NoError(t, sec.apply(&cfg))
	require.Len(t, cfg.Security.Keys, 1)
	assert.Equal(t, dir, cfg.Security.StateDir)

	a := startAgentWith(t, func(c *engine.Config) { c.Security = cfg.Security })
	k1b64 := "ERERERERERERERERERERERERERERERERERERERERERE="
	out, code := tp(t, a, "keys", "list")
	require.Equal(t, 0, code, out)
	assert.Equal(t, k1b64+" (primary)\n", out)
	out, code = tp(t, a, "keys", "install", k2)
	require.Equal(t, 0, code, out)
	out, code = tp(t, a, "keys", "use", k2)
	require.Equal(t, 0, code, out)
	assert.Equal(t, k2+" (primary)\n"+k1b64+"\n", out)
	out, code = tp(t, a, "keys", "remove", k2)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "primary key cannot be removed")
	out, code = tp(t, a, "keys", "remove", k1)
	require.Equal(t, 0, code, out)
	assert.Equal(t, k2+" (primary)\n", out)
	out, code = tp(t, a, "keys", "install", "not-a-key")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "invalid key material")

	out, code = tp(t, a, "plaintext", "--accept=true", "--send=false")
	require.Equal(t, 0, code, out)
	out, code = tp(t, a, "plaintext", "--accept=false", "--send=true")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "invalid key material")
	out, code = tp(t, a, "keys")
	require.Equal(t, 0, code, out)
	assert.Empty(t, out, "without a verb, keys lists data keys (none)")
}
