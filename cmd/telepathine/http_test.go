package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine"
)

func TestAgentRefusesPublicHTTPWithoutFlag(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"agent", "--bind", "127.0.0.1:0", "--http", "0.0.0.0:0"}, &out, &errb)
	require.Equal(t, 1, code)
	require.Contains(t, errb.String(), "refusing to serve the dashboard beyond loopback without --http-public")
	require.NotContains(t, out.String(), "listening on", "refused before the peer starts")

	code = run([]string{"agent", "--bind", "127.0.0.1:0", "--http-public"}, &out, &errb)
	require.Equal(t, 1, code)
	require.Contains(t, errb.String(), "--http-public needs --http")
}

func TestAgentServesDashboard(t *testing.T) {
	dir, err := os.MkdirTemp("", "tp")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	web := addHTTPFlags(fs)
	require.NoError(t, fs.Parse([]string{"--http", "127.0.0.1:0"}))
	out := &syncBuffer{}
	extras, err := web.agentExtras(out)
	require.NoError(t, err)
	require.Len(t, extras, 1)

	cfg := engine.LocalConfig()
	cfg.Cluster = "http-test"
	cfg.Name = "web"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runAgent(ctx, cfg, filepath.Join(dir, "c.sock"), out, extras...) }()
	re := regexp.MustCompile(`dashboard on (http://\S+/)`)
	require.Eventually(t, func() bool { return re.MatchString(out.String()) }, 10*time.Second, 5*time.Millisecond)
	base := re.FindStringSubmatch(out.String())[1]

	resp, err := http.Get(base + "v1/peers")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var peers struct{ Self struct{ Name string } }
	require.NoError(t, json.Unmarshal(body, &peers))
	require.Equal(t, "web", peers.Self.Name)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not stop")
	}
	_, err = http.Get(base + "healthz")
	require.Error(t, err, "the dashboard stops with the agent")
}
