package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// syncBuffer is a bytes.Buffer that many narrating goroutines may write.
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

// assertSteps checks that every step the demo narrates as done was printed.
func assertSteps(t *testing.T, out string, steps ...string) {
	t.Helper()
	for _, s := range steps {
		assert.Contains(t, out, s)
	}
	if t.Failed() {
		t.Log(out)
	}
}

// TestMultiLanguageDemo plays the driver demo (the make demo path) with
// three Go drivers and no pauses: every checked step must succeed.
func TestMultiLanguageDemo(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "go-driver")
	out, err := exec.Command("go", "build", "-o", bin, "../drivers/go").CombinedOutput()
	require.NoError(t, err, string(out))
	var buf syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err = run(ctx, []string{"-pace", "0", "-driver", "go=" + bin, "-driver", "go2=" + bin, "-driver", "go3=" + bin}, &buf)
	require.NoError(t, err, buf.String())
	assertSteps(t, buf.String(),
		"every peer sees 2 live peers",
		"every peer reads every greeting, with its type",
		"every other peer heard the say once",
		"2 replies, one from every other peer",
		"the lease expired on every replica",
		"every other peer declared it dead",
		"every other peer sees the go2 peer alive again, with its new status",
		"Demo over",
	)
}

// TestInProcessDemo plays the in-process Go demo with three peers.
func TestInProcessDemo(t *testing.T) {
	var buf syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	require.NoError(t, run(ctx, []string{"-peers", "3"}, &buf), buf.String())
	assertSteps(t, buf.String(),
		"every peer sees 2 live peers",
		"every peer reads peer-1's motd",
		"peer-0 heard peer-1's say",
		"reply      from peer-2: peer-2 here",
		"all peers declared peer-2 dead",
		"every peer sees peer-2 alive again",
		"peer-2's lease expired on every replica",
		"Demo over",
	)
}

// fakeDriver speaks the protocol but refuses every set: a cluster of one
// forms, then the shared-memory act fails.
const fakeDriver = `#!/bin/sh
while IFS= read -r line; do
  id=$(printf '%s' "$line" | sed -n 's/.*"id":\([0-9]*\).*/\1/p')
  case "$line" in
    *'"cmd":"exit"'*) exit 0 ;;
    *'"cmd":"start"'*) printf '{"id":%s,"ok":true,"name":"fake","addr":"127.0.0.1:1"}\n' "$id" ;;
    *'"cmd":"peers"'*) printf '{"id":%s,"ok":true,"peers":[]}\n' "$id" ;;
    *'"cmd":"set"'*) printf '{"id":%s,"ok":false,"error":"refused"}\n' "$id" ;;
    *) printf '{"id":%s,"ok":true}\n' "$id" ;;
  esac
done
`

// A step that fails ends the demo with the step's reason.
func TestDemoFailsWithTheStep(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "fake-driver")
	require.NoError(t, os.WriteFile(fake, []byte(fakeDriver), 0o755))
	var buf syncBuffer
	err := run(context.Background(), []string{"-pace", "0", "-driver", "fake=" + fake}, &buf)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "[fake] set: refused")
	assert.Contains(t, buf.String(), "every peer sees 0 live peers", "the steps before ran")

	err = run(context.Background(), []string{"-pace", "0", "-driver", "go=/nonexistent/driver"}, &buf)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "go driver")
	err = run(context.Background(), []string{"-peers", "2"}, &buf)
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "at least 3"), err.Error())
}
