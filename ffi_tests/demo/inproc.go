package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/telepathine/telepathine/engine"
)

// runInProcess plays the demo with Go peers in this process: a cluster
// forms, peers share keys, say and ask, one is stopped, detected and
// restarted, and a lease expires everywhere. Every step is checked.
func runInProcess(ctx context.Context, n *narrator, count int) error {
	if count < 3 {
		return fmt.Errorf("need at least 3 peers")
	}
	var namesMu sync.Mutex
	names := map[string]string{} // peer name -> nickname
	nick := func(name string) string {
		namesMu.Lock()
		defer namesMu.Unlock()
		if s, ok := names[name]; ok {
			return s
		}
		return name
	}
	var expiredMu sync.Mutex
	expired := map[int]bool{} // peers that saw the lease expire

	n.printf("Telepathine demo: %d peers in one process, on loopback, cluster %q, Local timings.\n\n", count, "demo")
	ps := make([]*engine.Peer, count)
	defer func() {
		for _, p := range ps {
			if p != nil {
				_ = p.Close()
			}
		}
	}()
	for i := range ps {
		cfg := engine.LocalConfig()
		cfg.Cluster = "demo"
		if i > 0 {
			cfg.Seeds = []string{ps[0].Addr()}
		}
		p, err := engine.New(cfg)
		if err != nil {
			return err
		}
		ps[i] = p
		who := fmt.Sprintf("peer-%d", i)
		p.On("peer:*", func(e *engine.Event) { n.say(who, "%-10s %s", e.Name(), nick(e.Peer)) })
		p.On("set", func(e *engine.Event) { n.say(who, "learnt     %s set %s=%s", nick(e.Peer), e.Key, e.Value) })
		p.On("key:expired", func(e *engine.Event) {
			n.say(who, "expired    %s's %s (was %q)", nick(e.Peer), e.Key, e.Value)
			expiredMu.Lock()
			expired[i] = true
			expiredMu.Unlock()
		})
		p.Hear("**", func(data engine.Value, from string, e *engine.Event) {
			n.say(who, "heard      %q from %s: %s", e.Key, nick(from), data)
		})
		if err := p.Start(ctx); err != nil {
			return err
		}
		namesMu.Lock()
		names[p.Name()] = who
		namesMu.Unlock()
		n.say(who, "started on %s", p.Addr())
	}
	allSee := func(k int) func() (bool, error) {
		return func() (bool, error) {
			for _, p := range ps {
				if len(p.LivePeers()) != k {
					return false, nil
				}
			}
			return true, nil
		}
	}
	if err := waitFor(ctx, "forming the cluster", 10*time.Second, allSee(count-1)); err != nil {
		return err
	}
	n.say("demo", "every peer sees %d live peers", count-1)

	// Shared memory.
	if err := ps[1].Set("motd", engine.String("hello from peer-1")); err != nil {
		return err
	}
	lease := time.Now().Add(3 * time.Second)
	if err := ps[2].Set("lease", engine.String("peer-2 holds the lock"), engine.ExpiresAt(lease)); err != nil {
		return err
	}
	if err := waitFor(ctx, "every peer reading peer-1's motd", 5*time.Second, func() (bool, error) {
		for _, p := range ps {
			if kv, err := p.Lookup(ps[1].Name(), "motd"); err != nil || kv.Value.String() != "hello from peer-1" {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		return err
	}
	n.say("demo", "every peer reads peer-1's motd")

	// Event bus.
	speaker, answerer := count-2, count-1
	heard := make(chan struct{}, count)
	ps[0].HearOnce("chat:hello", func(engine.Value, string, *engine.Event) { heard <- struct{}{} })
	ps[answerer].Hear("whoami", func(_ engine.Value, _ string, e *engine.Event) {
		_ = e.Reply(engine.String(fmt.Sprintf("peer-%d here", answerer)))
	})
	if err := ps[speaker].Say("chat:hello", engine.String(fmt.Sprintf("hi all, this is peer-%d", speaker))); err != nil {
		return err
	}
	select {
	case <-heard:
		n.say("demo", "peer-0 heard peer-%d's say", speaker)
	case <-time.After(5 * time.Second):
		return fmt.Errorf("peer-0 never heard peer-%d's say", speaker)
	case <-ctx.Done():
		return ctx.Err()
	}
	var replies []engine.Answer
	for try := 0; try < 3 && len(replies) == 0; try++ { // see the multi-language demo
		var err error
		if replies, err = ps[0].Ask(ctx, "whoami", engine.String("?"), time.Second); err != nil {
			return err
		}
	}
	if len(replies) != 1 || replies[0].Peer != ps[answerer].Name() {
		return fmt.Errorf("ask: %d replies, want one from peer-%d", len(replies), answerer)
	}
	n.say("peer-0", "reply      from %s: %s", nick(replies[0].Peer), replies[0].Value)

	// Failure detection: stop one peer, watch the others notice, restart it.
	victim := count - 1
	n.say("demo", "stopping peer-%d", victim)
	if err := ps[victim].Stop(ctx); err != nil {
		return err
	}
	t0 := time.Now()
	if err := waitFor(ctx, "every peer declaring the stopped one dead", 15*time.Second, func() (bool, error) {
		for i, p := range ps {
			if i != victim && len(p.DeadPeers()) != 1 {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		return err
	}
	n.say("demo", "all peers declared peer-%d dead after %.1fs", victim, time.Since(t0).Seconds())
	if err := ps[victim].Set("status", engine.String("back with a new generation")); err != nil {
		return err
	}
	if err := ps[victim].Start(ctx); err != nil {
		return err
	}
	n.say("demo", "restarted peer-%d", victim)
	if err := waitFor(ctx, "every peer seeing the restarted one", 10*time.Second, allSee(count-1)); err != nil {
		return err
	}
	n.say("demo", "every peer sees peer-%d alive again", victim)
	// The restarted peer may have been stopped when the lease expired: it
	// must no longer read it; every other peer reports the expiry.
	if err := waitFor(ctx, "the lease expiring on every replica", time.Until(lease)+5*time.Second, func() (bool, error) {
		expiredMu.Lock()
		defer expiredMu.Unlock()
		for i := range ps {
			if i != victim && !expired[i] {
				return false, nil
			}
		}
		_, err := ps[victim].Lookup(ps[2].Name(), "lease")
		return errors.Is(err, engine.ErrNotFound), nil
	}); err != nil {
		return err
	}
	n.say("demo", "peer-2's lease expired on every replica")

	n.printf("\nDemo over after %.1fs.\n", time.Since(n.start).Seconds())
	for i, p := range ps {
		st := p.Stats()
		n.printf("  peer-%d: %d live, %d rounds, %d B sent, %d B received\n", i,
			st.LivePeers, st.Rounds, st.Transport.BytesSent(), st.Transport.BytesReceived())
	}
	return nil
}
