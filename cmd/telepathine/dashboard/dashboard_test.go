package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine"
	"github.com/telepathine/telepathine/engine/transport"
)

func memCluster(t *testing.T, n int) []*engine.Peer {
	t.Helper()
	net := transport.NewMemNetwork(transport.MemOptions{})
	var peers []*engine.Peer
	for i := range n {
		addr := fmt.Sprintf("10.0.0.%d:7946", i+1)
		cfg := engine.LocalConfig()
		cfg.Cluster = "dash"
		cfg.Name = fmt.Sprintf("p%d", i)
		cfg.AdvertiseAddr = addr
		cfg.Transport = func() (transport.Transport, error) { return net.Endpoint(addr, transport.UDPPreferred), nil }
		if i > 0 {
			cfg.Seeds = []string{"10.0.0.1:7946"}
		}
		p, err := engine.New(cfg)
		require.NoError(t, err)
		require.NoError(t, p.Start(context.Background()))
		t.Cleanup(func() { _ = p.Close() })
		peers = append(peers, p)
	}
	for _, p := range peers {
		require.Eventually(t, func() bool { return len(p.LivePeers()) == n-1 }, 10*time.Second, 10*time.Millisecond)
	}
	return peers
}

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func TestCheckAddrRefusesBeyondLoopbackUnlessPublic(t *testing.T) {
	for _, a := range []string{"127.0.0.1:0", "127.9.9.9:80", "[::1]:8080", "localhost:9000"} {
		require.NoError(t, CheckAddr(a, false), a)
	}
	for _, a := range []string{"0.0.0.0:9000", ":9000", "[::]:9000", "10.1.2.3:9000", "example.org:80"} {
		err := CheckAddr(a, false)
		require.ErrorIs(t, err, ErrNotLoopback, a)
		require.Contains(t, err.Error(), "--http-public")
		require.NoError(t, CheckAddr(a, true), a)
	}
	require.Error(t, CheckAddr("no-port", true))
	_, err := Listen("0.0.0.0:0", false)
	require.ErrorIs(t, err, ErrNotLoopback)
	ln, err := Listen("127.0.0.1:0", false)
	require.NoError(t, err)
	require.NoError(t, ln.Close())
}

func TestPeersAndKeys(t *testing.T) {
	peers := memCluster(t, 2)
	s := New(peers[0])
	exp := time.Now().Add(time.Hour)
	require.NoError(t, peers[1].Set("color", engine.String("blue")))
	require.NoError(t, peers[1].Set("lease", engine.String("me"), engine.ExpiresAt(exp)))
	require.NoError(t, peers[1].Set("blob", engine.Bytes([]byte{0, 1, 2})))
	doc, _ := engine.JSONValue(map[string]int{"cpus": 8})
	require.NoError(t, peers[0].Set("info", doc))
	require.Eventually(t, func() bool { keys, err := peers[0].KeysOf("p1"); return err == nil && len(keys) == 3 }, 5*time.Second, 5*time.Millisecond)

	rec := get(t, s, "/v1/peers")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	var ps peersJSON
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &ps))
	require.Equal(t, "p0", ps.Self.Name)
	require.True(t, ps.Self.Running)
	require.Len(t, ps.Peers, 1)
	require.Equal(t, "p1", ps.Peers[0].Name)
	require.True(t, ps.Peers[0].Alive)
	require.Equal(t, uint64(3), ps.Peers[0].Version)
	require.Equal(t, []lagJSON{{Origin: "p1", Held: 3, Known: 3}}, ps.Replication)

	rec = get(t, s, "/v1/keys")
	require.Equal(t, http.StatusOK, rec.Code)
	var ks struct{ Peers []peerKeysJSON }
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &ks))
	require.Len(t, ks.Peers, 2)
	require.Equal(t, peerKeysJSON{Peer: "p0", Self: true, Keys: []keyJSON{
		{Key: "info", Version: 1, Value: valueJSON{Encoding: "json", Data: `{"cpus":8}`, Size: 10}}}}, ks.Peers[0])
	require.Equal(t, []keyJSON{
		{Key: "blob", Version: 3, Value: valueJSON{Encoding: "raw", Data: "AAEC", Size: 3}},
		{Key: "color", Version: 1, Value: valueJSON{Encoding: "text", Data: "blue", Size: 4}},
		{Key: "lease", Version: 2, ExpiresAt: exp.UnixMilli(), Value: valueJSON{Encoding: "text", Data: "me", Size: 2}},
	}, ks.Peers[1].Keys)

	rec = get(t, s, "/v1/keys?peer=p1")
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &ks))
	require.Len(t, ks.Peers, 1)
	require.Equal(t, http.StatusNotFound, get(t, s, "/v1/keys?peer=nobody").Code)
	require.Equal(t, http.StatusOK, get(t, s, "/healthz").Code)
}

func TestLongValuesAreCut(t *testing.T) {
	v := listValue(engine.String(strings.Repeat("é", maxListedValue))) // 2 bytes each
	require.True(t, v.Truncated)
	require.Equal(t, 2*maxListedValue, v.Size)
	require.Len(t, v.Data, maxListedValue, "cut on a character boundary")
}

func TestReadOnlyAndStaticPage(t *testing.T) {
	peers := memCluster(t, 1)
	s := New(peers[0])
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(m, "/v1/keys", strings.NewReader("{}")))
		require.Equal(t, http.StatusMethodNotAllowed, rec.Code, m)
	}
	rec := get(t, s, "/")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), `<canvas id="phi"`)
	require.Contains(t, rec.Header().Get("Content-Security-Policy"), "default-src 'self'")
	rec = get(t, s, "/app.js")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Header().Get("Content-Type"), "javascript")
	require.NotContains(t, rec.Body.String(), "http", "the page loads nothing from elsewhere")

	rec = get(t, s, "/metrics")
	require.Equal(t, http.StatusOK, rec.Code)
	body := rec.Body.String()
	for _, m := range []string{"telepathine_peers{state=\"alive\"} 0", "telepathine_running 1", "go_goroutines", "telepathine_dropped_packets_total{cause=\"malformed\"} 0"} {
		require.Contains(t, body, m)
	}
}

func TestEventsStreamAsSSE(t *testing.T) {
	peers := memCluster(t, 2)
	s := New(peers[0])
	s.keepAlive = 20 * time.Millisecond
	srv := httptest.NewServer(s)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/events?pattern=say:**", nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	r := bufio.NewReader(resp.Body)
	line, err := r.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, ": telepathine events\n", line, "the stream is open: subscribed before the say")

	require.NoError(t, peers[1].Say("chat:hello", engine.String("hi")))
	var got eventJSON
	for {
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			require.NoError(t, json.Unmarshal([]byte(data), &got))
			break
		}
	}
	require.Equal(t, "say:chat:hello", got.Name)
	require.Equal(t, "p1", got.Peer)
	require.Equal(t, &valueJSON{Encoding: "text", Data: "hi", Size: 2}, got.Value)
	// The stream ends when the client goes: the subscription is released.
	cancel()
	_, _ = io.Copy(io.Discard, resp.Body)
	require.Eventually(t, func() bool { return len(peers[0].Subscriptions()) == 0 }, 5*time.Second, 5*time.Millisecond)
}

func TestServeStopsWithContext(t *testing.T) {
	peers := memCluster(t, 1)
	ln, err := Listen("127.0.0.1:0", false)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, New(peers[0])) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
}
