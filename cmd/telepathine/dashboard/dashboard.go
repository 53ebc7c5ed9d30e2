// Package dashboard serves a running peer over HTTP, read-only: Prometheus
// metrics at /metrics, JSON at /v1/peers and /v1/keys, the event stream as
// server-sent events at /v1/events, and a one-page dashboard at / that draws
// them (embedded in the binary: plain HTML, CSS and JavaScript, no build
// step, nothing fetched from elsewhere).
package dashboard

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/telepathine/telepathine/engine"
	"github.com/telepathine/telepathine/engine/metrics"
)

//go:embed web
var webFS embed.FS

// Server is the dashboard's http.Handler.
type Server struct {
	p   *engine.Peer
	col *metrics.Collector
	mux *http.ServeMux
	// keepAlive is the interval of SSE comments that keep idle proxies and
	// browsers from closing /v1/events. Default 15 s.
	keepAlive time.Duration
}

// New returns the dashboard of p. Its registry holds the peer's collector
// and the Go runtime and process collectors.
func New(p *engine.Peer) *Server {
	s := &Server{p: p, col: metrics.New(p), mux: http.NewServeMux(), keepAlive: 15 * time.Second}
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.col, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	web, _ := fs.Sub(webFS, "web")
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	s.mux.HandleFunc("GET /v1/peers", s.peers)
	s.mux.HandleFunc("GET /v1/keys", s.keys)
	s.mux.HandleFunc("GET /v1/events", s.events)
	s.mux.HandleFunc("GET /healthz", s.health)
	s.mux.Handle("GET /", http.FileServerFS(web))
	return s
}

// ServeHTTP serves GET and HEAD only: the dashboard changes nothing.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "read-only: GET only", http.StatusMethodNotAllowed)
		return
	}
	// The page loads nothing from elsewhere; say so to the browser.
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	s.mux.ServeHTTP(w, r)
}

// ErrNotLoopback is returned by Listen for an address beyond loopback
// without public set.
var ErrNotLoopback = errors.New("refusing to serve the dashboard beyond loopback without --http-public")

// CheckAddr accepts a loopback host:port (127.0.0.0/8, ::1, localhost), or
// any address when public is set. An empty host means every interface, and
// a host name other than localhost may resolve anywhere: both need public.
func CheckAddr(addr string, public bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--http %q: %w", addr, err)
	}
	if public || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--http %s: %w", addr, ErrNotLoopback)
}

// Listen checks addr (see CheckAddr) and listens on it.
func Listen(addr string, public bool) (net.Listener, error) {
	if err := CheckAddr(addr, public); err != nil {
		return nil, err
	}
	return net.Listen("tcp", addr)
}

// Serve serves h on ln until ctx ends, then shuts down (open event streams
// end with it).
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		<-done // Shutdown has returned: no request is still running
		return nil
	}
	return err
}
