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
	"sync"
	"syscall"
	"time"

	"github.com/telepathine/telepathine/engine"
	"github.com/telepathine/telepathine/engine/transport"
)

func bytesValue(b []byte) engine.Value { return engine.Bytes(b) }

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
	web := addHTTPFlags(fs) // http.go
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
		cfg.TransportMode = transport.TCPOnly
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

// runAgent runs a peer and its control socket until ctx ends, and each
// extra (the --http server) beside them until then.
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
	errc := make(chan error, 1)
	go func() { errc <- serveControl(ctx, control, p) }()
	xctx, xcancel := context.WithCancel(ctx)
	var xwg sync.WaitGroup
	for _, f := range extras {
		xwg.Go(func() {
			if err := f(xctx, p); err != nil {
				fmt.Fprintf(out, "agent: %v\n", err)
			}
		})
	}
	defer xwg.Wait()
	defer xcancel()
	select {
	case <-ctx.Done():
	case err = <-errc:
		if err != nil {
			return fmt.Errorf("control socket: %w", err)
		}
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Stop(stopCtx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	<-errc
	fmt.Fprintf(out, "agent %s stopped\n", p.Name())
	return nil
}
