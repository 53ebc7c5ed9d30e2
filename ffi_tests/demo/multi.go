package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/telepathine/telepathine/engine"
	"github.com/telepathine/telepathine/ffi_tests/drive"
)

// multiDemo narrates a cluster of driver processes, one per language.
type multiDemo struct {
	*narrator
	drivers map[string][]string

	mu     sync.Mutex
	labels map[string]string // peer name -> language label
	quiet  bool              // while true, routine set events are not narrated
	procs  []*drive.Proc
}

func (d *multiDemo) label(name string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if l, ok := d.labels[name]; ok {
		return l
	}
	return name
}

func (d *multiDemo) setQuiet(q bool) {
	d.mu.Lock()
	d.quiet = q
	d.mu.Unlock()
}

func (d *multiDemo) spawn(lang string) (*drive.Proc, error) {
	return drive.Spawn(lang, d.drivers[lang], os.Stderr, func(e drive.Event) {
		from := d.label(e.Peer)
		val := "<none>"
		if e.Value != nil {
			val = drive.Show(*e.Value)
		}
		switch {
		case strings.HasPrefix(e.Name, "peer:"):
			d.say(lang, "%-11s %s", e.Name, from)
		case strings.HasPrefix(e.Name, "say:"):
			d.say(lang, "heard       %q from %s: %s", e.Key, from, val)
		case e.Name == "key:expired":
			d.say(lang, "expired     %s's %q (was %s)", from, e.Key, val)
		case e.Name == "set" || strings.HasPrefix(e.Name, "set:"):
			d.mu.Lock()
			quiet := d.quiet
			d.mu.Unlock()
			if !quiet {
				d.say(lang, "learnt      %s set %q = %s", from, e.Key, val)
			}
		}
	})
}

// join starts a spawned peer and subscribes it to what the demo narrates
// (drivers take subscriptions once their peer exists).
func (d *multiDemo) join(p *drive.Proc, cluster string, seeds ...string) error {
	if err := p.Start(cluster, seeds...); err != nil {
		return err
	}
	d.mu.Lock()
	d.labels[p.Name] = p.Lang
	d.mu.Unlock()
	for _, pattern := range []string{"peer:*", "key:expired", "set"} {
		if err := p.On(pattern); err != nil {
			return err
		}
	}
	reply := engine.String(p.Lang + " here")
	return p.Hear("**", &reply)
}

// allLive reports whether every peer sees n live peers.
func (d *multiDemo) allLive(n int) (bool, error) {
	for _, p := range d.procs {
		live, err := p.Peers("live")
		if err != nil || len(live) != n {
			return false, err
		}
	}
	return true, nil
}

// greeting is the value each language sets: one natural to it.
func greeting(lang string) engine.Value {
	switch lang {
	case "go":
		return engine.Value{Data: []byte(`{"from":"go","cores":2}`), Encoding: engine.JSON}
	case "c":
		return engine.Bytes([]byte{0xca, 0xfe, 0xba, 0xbe})
	case "python":
		return engine.Value{Data: []byte(`{"from":"python","tags":["dict","list"]}`), Encoding: engine.JSON}
	}
	return engine.String("hello from " + lang)
}

// runMulti plays the multi-language demo; every step is checked.
func runMulti(ctx context.Context, n *narrator, drivers map[string][]string) error {
	langs := make([]string, 0, len(drivers))
	for l := range drivers {
		langs = append(langs, l)
	}
	order := map[string]int{"go": 0, "c": 1, "python": 2, "node": 3}
	sort.Slice(langs, func(i, j int) bool {
		if order[langs[i]] != order[langs[j]] {
			return order[langs[i]] < order[langs[j]]
		}
		return langs[i] < langs[j]
	})
	d := &multiDemo{narrator: n, drivers: drivers, labels: map[string]string{}}
	const cluster = "demo"
	n.printf("Telepathine demo: %d peers, one per language (%s), on loopback, cluster %q.\n", len(langs), strings.Join(langs, ", "), cluster)
	n.printf("Each peer is a separate process driving the engine through its binding.\n\n")
	defer func() {
		for _, p := range d.procs {
			p.Exit(5 * time.Second)
		}
	}()

	n.printf("== joining: each peer is seeded with the first\n")
	for i, l := range langs {
		p, err := d.spawn(l)
		if err != nil {
			return err
		}
		d.procs = append(d.procs, p)
		var seeds []string
		if i > 0 {
			seeds = []string{d.procs[0].Addr}
		}
		if err := d.join(p, cluster, seeds...); err != nil {
			return err
		}
		d.say(l, "started     on %s", p.Addr)
	}
	if err := waitFor(ctx, "forming the cluster", 20*time.Second, func() (bool, error) { return d.allLive(len(d.procs) - 1) }); err != nil {
		return err
	}
	d.say("demo", "every peer sees %d live peers", len(d.procs)-1)

	if err := n.act(ctx, "shared memory: each peer sets a key with a value natural to its language"); err != nil {
		return err
	}
	for _, p := range d.procs {
		v := greeting(p.Lang)
		if err := p.Set("greeting", v, 0); err != nil {
			return err
		}
		d.say(p.Lang, "set         greeting = %s", drive.Show(v))
	}
	if err := waitFor(ctx, "every peer reading every greeting", 10*time.Second, func() (bool, error) {
		for _, r := range d.procs {
			for _, o := range d.procs {
				v, ok, err := r.Get(o.Name, "greeting")
				if err != nil || !ok || !drive.Same(v, greeting(o.Lang)) {
					return false, err
				}
			}
		}
		return true, nil
	}); err != nil {
		return err
	}
	d.setQuiet(true)
	last := d.procs[len(d.procs)-1]
	for _, o := range d.procs {
		v, _, err := last.Get(o.Name, "greeting")
		if err != nil {
			return err
		}
		d.say(last.Lang, "reads       %s's greeting: %s", o.Lang, drive.Show(v))
	}
	d.say("demo", "every peer reads every greeting, with its type")

	if err := n.act(ctx, "event bus: say reaches every other peer once; ask collects replies"); err != nil {
		return err
	}
	sender := d.procs[len(d.procs)-1]
	if err := sender.Say("chat:hello", engine.String("hi all, "+sender.Lang+" speaking")); err != nil {
		return err
	}
	heardHello := func(p *drive.Proc) int {
		return len(p.Events(func(e drive.Event) bool { return e.Name == "say:chat:hello" && e.Peer == sender.Name }))
	}
	if err := waitFor(ctx, "every other peer hearing the say", 10*time.Second, func() (bool, error) {
		for _, p := range d.procs {
			if p != sender && heardHello(p) != 1 {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		return err
	}
	if heardHello(sender) != 0 {
		return fmt.Errorf("the %s peer heard its own say", sender.Lang)
	}
	d.say("demo", "every other peer heard the say once")
	asker := d.procs[0]
	want := len(d.procs) - 1
	var replies []drive.Reply
	// An ask's replies are counted from when it is registered; on a loaded
	// machine an early one can be late (see ffi_tests/c/ffi_test.c): try
	// up to three times for every answer.
	for try := 0; try < 3 && len(replies) < want; try++ {
		var err error
		if replies, err = asker.Ask("whois", engine.String("who is there?"), 3*time.Second); err != nil {
			return err
		}
	}
	for _, r := range replies {
		lang := d.label(r.Peer)
		if !drive.Same(r.Value, engine.String(lang+" here")) {
			return fmt.Errorf("ask: %s replied %s", lang, drive.Show(r.Value))
		}
		d.say(asker.Lang, "reply       from %s: %s", lang, drive.Show(r.Value))
	}
	if len(replies) != want {
		return fmt.Errorf("ask: %d replies, want %d", len(replies), want)
	}
	d.say("demo", "%d replies, one from every other peer", len(replies))

	if err := n.act(ctx, "expiry: a lease expires on every replica at the same absolute time"); err != nil {
		return err
	}
	owner := d.procs[0]
	at := time.Now().Add(2 * time.Second).UnixMilli()
	if err := owner.Set("lease", engine.String("held by "+owner.Lang), at); err != nil {
		return err
	}
	d.say(owner.Lang, "set         lease, expiring in 2 s")
	if err := waitFor(ctx, "the lease expiring on every replica", 10*time.Second, func() (bool, error) {
		for _, p := range d.procs {
			if len(p.Events(func(e drive.Event) bool { return e.Name == "key:expired" && e.Key == "lease" })) == 0 {
				return false, nil
			}
			if _, ok, err := p.Get(owner.Name, "lease"); ok || err != nil {
				return false, err
			}
		}
		return true, nil
	}); err != nil {
		return err
	}
	d.say("demo", "the lease expired on every replica")

	if len(d.procs) >= 3 {
		if err := d.crashAndRestart(ctx, cluster); err != nil {
			return err
		}
	}
	n.printf("\nDemo over after %.1fs: %d languages, one cluster.\n", time.Since(n.start).Seconds(), len(langs))
	return nil
}

// crashAndRestart kills one peer with SIGKILL, waits for every other to
// declare it dead, restarts it under its name and waits for it to be alive
// again with its new value.
func (d *multiDemo) crashAndRestart(ctx context.Context, cluster string) error {
	if err := d.act(ctx, "failure: one peer is killed with SIGKILL, detected, and restarted"); err != nil {
		return err
	}
	vi := 1
	victim := d.procs[vi]
	name := victim.Name
	d.say("demo", "kill -9 the %s peer", victim.Lang)
	victim.Kill()
	killed := time.Now()
	others := append(append([]*drive.Proc{}, d.procs[:vi]...), d.procs[vi+1:]...)
	if err := waitFor(ctx, "every other peer declaring the killed one dead", 20*time.Second, func() (bool, error) {
		for _, p := range others {
			dead, err := p.Peers("dead")
			if err != nil || !slices.Contains(dead, name) {
				return false, err
			}
		}
		return true, nil
	}); err != nil {
		return err
	}
	d.say("demo", "every other peer declared it dead after %.1fs", time.Since(killed).Seconds())
	again, err := d.spawn(victim.Lang)
	if err != nil {
		return err
	}
	d.procs[vi] = again
	again.Name = name
	if err := d.join(again, cluster, d.procs[0].Addr); err != nil {
		return err
	}
	d.setQuiet(false)
	status := engine.String("back as a new generation")
	if err := again.Set("status", status, 0); err != nil {
		return err
	}
	d.say(again.Lang, "restarted   as %s, set status", again.Name)
	if err := waitFor(ctx, "every other peer seeing the restarted one alive with its new value", 20*time.Second, func() (bool, error) {
		for _, p := range others {
			v, ok, err := p.Get(name, "status")
			if err != nil {
				return false, err
			}
			live, err := p.Peers("live")
			if err != nil || !ok || !drive.Same(v, status) || !slices.Contains(live, name) {
				return false, err
			}
		}
		return true, nil
	}); err != nil {
		return err
	}
	d.say("demo", "every other peer sees the %s peer alive again, with its new status", again.Lang)
	return nil
}
