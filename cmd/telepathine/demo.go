package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"

	"github.com/telepathine/telepathine/engine"
)

// narrator prints timestamped lines from many goroutines.
type narrator struct {
	mu    sync.Mutex
	start time.Time
}

func (n *narrator) say(who, format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	fmt.Printf("%6.2fs  %-10s %s\n", time.Since(n.start).Seconds(), who, fmt.Sprintf(format, args...))
}

func runDemo(args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	peers := fs.Int("peers", 5, "number of peers (in-process Go demo)")
	pace := fs.Duration("pace", 2*time.Second, "pause between the acts of the multi-language demo")
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
	if len(drivers) > 0 {
		return runMultiDemo(drivers, *pace)
	}
	if *peers < 3 {
		return fmt.Errorf("need at least 3 peers")
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	n := &narrator{start: time.Now()}
	names := map[string]string{} // address -> nickname
	var namesMu sync.Mutex
	nick := func(addr string) string {
		namesMu.Lock()
		defer namesMu.Unlock()
		if s, ok := names[addr]; ok {
			return s
		}
		return addr
	}

	cfg := func(i int, seed string) engine.Config {
		c := engine.LocalConfig()
		c.Cluster = "demo"
		if seed != "" {
			c.Seeds = []string{seed}
		}
		return c
	}
	start := func(i int, c engine.Config) (*engine.Peer, error) {
		p, err := engine.New(c)
		if err != nil {
			return nil, err
		}
		who := fmt.Sprintf("peer-%d", i)
		p.On("peer:*", func(e *engine.Event) {
			n.say(who, "%-10s %s", e.Name(), nick(e.Peer))
		})
		p.On("set", func(e *engine.Event) {
			n.say(who, "learnt     %s set %s=%s", nick(e.Peer), e.Key, e.Value)
		})
		p.Hear("**", func(data engine.Value, from string, e *engine.Event) {
			n.say(who, "heard      %q from %s: %s", e.Key, nick(from), data)
		})
		if err := p.Start(ctx); err != nil {
			return nil, err
		}
		namesMu.Lock()
		names[p.Name()] = who
		namesMu.Unlock()
		n.say(who, "started on %s", p.Addr())
		return p, nil
	}

	fmt.Printf("Telepathine demo: %d peers on loopback, cluster %q, Local timings.\n\n", *peers, "demo")
	ps := make([]*engine.Peer, *peers)
	var err error
	for i := range ps {
		seed := ""
		if i > 0 {
			seed = ps[0].Addr()
		}
		if ps[i], err = start(i, cfg(i, seed)); err != nil {
			return err
		}
	}
	defer func() {
		for _, p := range ps {
			_ = p.Close()
		}
	}()
	wait := func(d time.Duration, cond func() bool) bool {
		deadline := time.Now().Add(d)
		for !cond() {
			if time.Now().After(deadline) || ctx.Err() != nil {
				return false
			}
			time.Sleep(20 * time.Millisecond)
		}
		return true
	}
	allSee := func(k int) bool {
		for _, p := range ps {
			if len(p.LivePeers()) != k {
				return false
			}
		}
		return true
	}
	if !wait(10*time.Second, func() bool { return allSee(len(ps) - 1) }) {
		return fmt.Errorf("cluster did not form")
	}
	n.say("demo", "every peer sees %d live peers", len(ps)-1)

	// Shared memory.
	_ = ps[1].Set("motd", engine.String("hello from peer-1"))
	lease := time.Now().Add(3 * time.Second)
	_ = ps[2].Set("lease", engine.String("peer-2 holds the lock"), engine.ExpiresAt(lease))
	ps[0].On("key:expired", func(e *engine.Event) {
		n.say("peer-0", "expired    %s's %s (was %q)", nick(e.Peer), e.Key, e.Value)
	})
	wait(5*time.Second, func() bool {
		for _, p := range ps {
			if _, ok := p.GetRemote(ps[1].Name(), "motd"); !ok {
				return false
			}
		}
		return true
	})
	n.say("demo", "every peer reads peer-1's motd")

	// Event bus.
	speaker, answerer := len(ps)-2, len(ps)-1
	_ = ps[speaker].Say("chat:hello", engine.String(fmt.Sprintf("hi all, this is peer-%d", speaker)))
	ps[answerer].Hear("whoami", func(_ engine.Value, _ string, e *engine.Event) {
		_ = e.Reply(engine.String(fmt.Sprintf("peer-%d here", answerer)))
	})
	replies, _ := ps[0].Ask(ctx, "whoami", engine.String("?"), time.Second)
	for _, r := range replies {
		n.say("peer-0", "reply      from %s: %s", nick(r.Peer), r.Value)
	}

	// Failure detection: stop one peer, watch the others notice, restart it.
	victim := len(ps) - 1
	n.say("demo", "stopping peer-%d", victim)
	_ = ps[victim].Stop(ctx)
	t0 := time.Now()
	wait(15*time.Second, func() bool {
		for i, p := range ps {
			if i != victim && len(p.DeadPeers()) == 0 {
				return false
			}
		}
		return true
	})
	n.say("demo", "all peers declared peer-%d dead after %.1fs", victim, time.Since(t0).Seconds())
	_ = ps[victim].Set("status", engine.String("back with a new generation"))
	if err := ps[victim].Start(ctx); err != nil {
		return err
	}
	n.say("demo", "restarted peer-%d", victim)
	wait(10*time.Second, func() bool { return allSee(len(ps) - 1) })
	wait(5*time.Second, func() bool { return time.Now().After(lease.Add(500 * time.Millisecond)) })

	var b strings.Builder
	for i, p := range ps {
		st := p.Stats()
		fmt.Fprintf(&b, "  peer-%d: %d live, %d rounds, %d B sent, %d B received\n", i,
			st.LivePeers, st.Rounds, st.Transport.BytesSent(), st.Transport.BytesReceived())
	}
	fmt.Printf("\nDemo over after %.1fs.\n%s", time.Since(n.start).Seconds(), b.String())
	return nil
}
