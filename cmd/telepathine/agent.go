package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/telepathine/telepathine/engine"
)

// cmdAgent runs a peer until SIGINT or SIGTERM, then leaves gracefully.
func cmdAgent(args []string, out io.Writer) error {
	fs, control := newFlags("agent")
	bind := fs.String("bind", "127.0.0.1:7946", "address to listen on (TCP and UDP)")
	advertise := fs.String("advertise", "", "address other peers reach this one at (default: the bound one)")
	seeds := fs.String("seeds", "", "comma-separated seed addresses")
	cluster := fs.String("cluster", "telepathine", "cluster name: peers of other clusters are ignored")
	name := fs.String("name", "", "peer name (default: the advertised address)")
	preset := fs.String("preset", "lan", "timing preset: lan, wan or local")
	tcpOnly := fs.Bool("tcp-only", false, "send everything over TCP (no UDP)")
	verbose := fs.Bool("v", false, "log gossip activity to stderr")
	web := addHTTPFlags(fs)     // http.go
	sec := addSecurityFlags(fs) // security.go
	idf := addIdentityFlags(fs) // identity.go
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	var cfg engine.Config
	switch *preset {
	case "lan":
		cfg = engine.LANConfig()
	case "wan":
		cfg = engine.WANConfig()
	case "local":
		cfg = engine.LocalConfig()
	default:
		return fmt.Errorf("unknown preset %q (lan, wan, local)", *preset)
	}
	cfg.BindAddr = *bind
	cfg.AdvertiseAddr = *advertise
	cfg.Seeds = splitList(*seeds)
	cfg.Cluster = *cluster
	cfg.Name = *name
	if *tcpOnly {
		cfg.TransportMode = engine.TCPOnly
	}
	idf.apply(&cfg)
	if err := sec.apply(&cfg); err != nil {
		return err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	extras, err := web.agentExtras(out)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runAgent(ctx, cfg, *control, out, extras...)
}

// runAgent runs a peer, its control socket and each extra (the --http
// server) until ctx ends. They live and fail together: the control socket
// failing ends the others; the peer leaves gracefully once ctx is over.
func runAgent(ctx context.Context, cfg engine.Config, control string, out io.Writer, extras ...func(context.Context, *engine.Peer) error) error {
	p, err := engine.New(cfg)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.Start(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "agent %s listening on %s (cluster %q, control %s)\n", p.Name(), p.Addr(), cfg.Cluster, control)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := serveControl(gctx, control, p); err != nil {
			return fmt.Errorf("control socket: %w", err)
		}
		return nil
	})
	for _, f := range extras {
		g.Go(func() error { return f(gctx, p) })
	}
	g.Go(func() error {
		<-gctx.Done()
		// Leave gracefully, within a bound of its own: ctx is already over.
		stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.Stop(stopCtx); err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	fmt.Fprintf(out, "agent %s stopped\n", p.Name())
	return nil
}
