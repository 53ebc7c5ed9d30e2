// Command demo narrates a live Telepathine cluster on this machine (make
// demo). With -driver flags it runs one interop driver per language
// (ffi_tests/PROTOCOL.md): peers written in Go, C, Python and Node as
// separate processes in one cluster, sharing keys and events, one of them
// killed, detected and restarted. Without, it runs -peers Go peers in this
// process. Every step is checked: a step that fails ends the demo with its
// reason and exit status 1.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	peers := fs.Int("peers", 5, "number of peers of the in-process Go demo (without -driver)")
	pace := fs.Duration("pace", 2*time.Second, "pause between the acts, so people can follow")
	drivers := map[string][]string{}
	fs.Func("driver", "LANG=COMMAND: run a peer of LANG through its interop driver (repeatable)", func(s string) error {
		lang, cmd, ok := strings.Cut(s, "=")
		if !ok || lang == "" || strings.TrimSpace(cmd) == "" {
			return fmt.Errorf("want LANG=COMMAND, got %q", s)
		}
		drivers[lang] = strings.Fields(cmd)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	n := &narrator{out: out, start: time.Now(), pace: *pace}
	if len(drivers) > 0 {
		return runMulti(ctx, n, drivers)
	}
	return runInProcess(ctx, n, *peers)
}

// narrator prints timestamped lines from many goroutines.
type narrator struct {
	out   io.Writer
	start time.Time
	pace  time.Duration
	mu    sync.Mutex
}

func (n *narrator) say(who, format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	fmt.Fprintf(n.out, "%6.2fs  %-8s %s\n", time.Since(n.start).Seconds(), who, fmt.Sprintf(format, args...))
}

func (n *narrator) printf(format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	fmt.Fprintf(n.out, format, args...)
}

// act prints an act's title after a pause: pacing for human readers, not
// synchronisation (every step waits for what it checks).
func (n *narrator) act(ctx context.Context, title string) error {
	select {
	case <-time.After(n.pace):
	case <-ctx.Done():
		return ctx.Err()
	}
	n.printf("\n== %s\n", title)
	return nil
}

// waitFor polls cond until it holds, fails or max passes; what names the
// step in the error.
func waitFor(ctx context.Context, what string, max time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(max)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within %v", what, max)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		}
	}
}
