package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/telepathine/telepathine/ffi_tests/drive"
)

// multiDemo narrates a cluster of driver processes, one per language: peers
// written in Go, C, Python and Node sharing keys and events, one killed with
// SIGKILL, detected, and restarted.
type multiDemo struct {
	start   time.Time
	pace    time.Duration // pause between acts, so people can follow
	mu      sync.Mutex
	labels  map[string]string // peer name -> language label
	procs   []*drive.Proc
	drivers map[string][]string
	quiet   bool // while true, routine set events are not narrated
}

func (d *multiDemo) say(who, format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Printf("%6.2fs  %-8s %s\n", time.Since(d.start).Seconds(), who, fmt.Sprintf(format, args...))
}

func (d *multiDemo) label(name string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if l, ok := d.labels[name]; ok {
		return l
	}
	return name
}

func (d *multiDemo) spawn(lang string) (*drive.Proc, error) {
	var p *drive.Proc
	p, err := drive.Spawn(lang, d.drivers[lang], os.Stderr, func(e drive.Event) {
		from := d.label(e.Peer)
		switch {
		case strings.HasPrefix(e.Name, "peer:"):
			d.say(lang, "%-11s %s", e.Name, from)
		case strings.HasPrefix(e.Name, "say:"):
			d.say(lang, "heard       %q from %s: %s", e.Key, from, e.Value)
		case e.Name == "key:expired":
			d.say(lang, "expired     %s's %q (was %s)", from, e.Key, e.Value)
		case e.Name == "set" || strings.HasPrefix(e.Name, "set:"):
			d.mu.Lock()
			quiet := d.quiet
			d.mu.Unlock()
			if !quiet {
				d.say(lang, "learnt      %s set %q = %s", from, e.Key, e.Value)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return p, nil
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
		if _, err := p.Call("on", map[string]any{"pattern": pattern}, 10*time.Second); err != nil {
			return err
		}
	}
	_, err := p.Call("hear", map[string]any{"pattern": "**", "reply": drive.Text(p.Lang + " here")}, 10*time.Second)
	return err
}

func (d *multiDemo) waitFor(max time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(max)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(25 * time.Millisecond)
	}
	return true
}

func (d *multiDemo) allLive(n int) bool {
	for _, p := range d.procs {
		live, err := p.Peers("live")
		if err != nil || len(live) != n {
			return false
		}
	}
	return true
}

// act prints an act's title after a pause.
func (d *multiDemo) act(title string) {
	time.Sleep(d.pace) // pacing for human readers, not synchronisation
	fmt.Printf("\n== %s\n", title)
}

func runMultiDemo(drivers map[string][]string, pace time.Duration) error {
	langs := make([]string, 0, len(drivers))
	for l := range drivers {
		langs = append(langs, l)
	}
	order := map[string]int{"go": 0, "c": 1, "python": 2, "node": 3}
	sort.Slice(langs, func(i, j int) bool { return order[langs[i]] < order[langs[j]] })
	d := &multiDemo{start: time.Now(), pace: pace, labels: map[string]string{}, drivers: drivers}
	const cluster = "demo"
	fmt.Printf("Telepathine demo: %d peers, one per language (%s), on loopback, cluster %q.\n", len(langs), strings.Join(langs, ", "), cluster)
	fmt.Printf("Each peer is a separate process driving the engine through its binding.\n\n")
	defer func() {
		for _, p := range d.procs {
			p.Exit(5 * time.Second)
		}
	}()

	fmt.Println("== joining: each peer is seeded with the first")
	for i, l := range langs {
		p, err := d.spawn(l)
		if err != nil {
			return err
		}
		seeds := []string{}
		if i > 0 {
			seeds = append(seeds, d.procs[0].Addr)
		}
		if err := d.join(p, cluster, seeds...); err != nil {
			return err
		}
		d.procs = append(d.procs, p)
		d.say(l, "started     on %s", p.Addr)
	}
	if !d.waitFor(20*time.Second, func() bool { return d.allLive(len(d.procs) - 1) }) {
		return fmt.Errorf("the cluster did not form")
	}
	d.say("demo", "every peer sees %d live peers", len(d.procs)-1)

	d.act("shared memory: each peer sets a key with a value natural to its language")
	greetings := map[string]*drive.Value{
		"go":     drive.JSON(`{"from":"go","cores":2}`),
		"c":      drive.Raw([]byte{0xca, 0xfe, 0xba, 0xbe}),
		"python": drive.JSON(`{"from":"python","tags":["dict","list"]}`),
		"node":   drive.Text("hello from node"),
	}
	for _, p := range d.procs {
		v := greetings[p.Lang]
		if v == nil {
			v = drive.Text("hello from " + p.Lang)
		}
		if _, err := p.Call("set", map[string]any{"key": "greeting", "value": v}, 10*time.Second); err != nil {
			return err
		}
		d.say(p.Lang, "set         greeting = %s", v)
	}
	d.waitFor(10*time.Second, func() bool {
		for _, r := range d.procs {
			for _, o := range d.procs {
				if _, ok, err := r.Get(o.Name, "greeting"); err != nil || !ok {
					return false
				}
			}
		}
		return true
	})
	d.mu.Lock()
	d.quiet = true
	d.mu.Unlock()
	last := d.procs[len(d.procs)-1]
	for _, o := range d.procs {
		v, _, _ := last.Get(o.Name, "greeting")
		d.say(last.Lang, "reads       %s's greeting: %s", o.Lang, v)
	}

	d.act("event bus: say reaches every other peer once; ask collects replies")
	sender := d.procs[len(d.procs)-1]
	if _, err := sender.Call("say", map[string]any{"event": "chat:hello", "value": drive.Text("hi all, " + sender.Lang + " speaking")}, 10*time.Second); err != nil {
		return err
	}
	d.waitFor(5*time.Second, func() bool {
		for _, p := range d.procs {
			if p != sender && len(p.Events(func(e drive.Event) bool { return e.Name == "say:chat:hello" })) == 0 {
				return false
			}
		}
		return true
	})
	asker := d.procs[0]
	m, err := asker.Call("ask", map[string]any{"event": "whois", "value": drive.Text("who is there?"), "timeout_ms": 3000}, 10*time.Second)
	if err != nil {
		return err
	}
	replies, _ := m["replies"].([]any)
	for _, r := range replies {
		rm, _ := r.(map[string]any)
		name, _ := rm["peer"].(string)
		d.say(asker.Lang, "reply       from %s: %s", d.label(name), drive.ToValue(rm["value"]))
	}

	d.act("expiry: a lease expires on every replica at the same absolute time")
	owner := d.procs[0]
	at := time.Now().Add(2 * time.Second).UnixMilli()
	if _, err := owner.Call("set", map[string]any{"key": "lease", "value": drive.Text("held by " + owner.Lang), "expires_at": at}, 10*time.Second); err != nil {
		return err
	}
	d.say(owner.Lang, "set         lease, expiring in 2 s")
	d.waitFor(8*time.Second, func() bool {
		for _, p := range d.procs {
			if len(p.Events(func(e drive.Event) bool { return e.Name == "key:expired" })) == 0 {
				return false
			}
		}
		return true
	})

	if len(d.procs) >= 3 {
		d.act("failure: one peer is killed with SIGKILL, detected, and restarted")
		vi := 1
		victim := d.procs[vi]
		name := victim.Name
		d.say("demo", "kill -9 the %s peer", victim.Lang)
		victim.Kill()
		killed := time.Now()
		others := append(append([]*drive.Proc{}, d.procs[:vi]...), d.procs[vi+1:]...)
		d.waitFor(20*time.Second, func() bool {
			for _, p := range others {
				dead, _ := p.Peers("dead")
				if !contains(dead, name) {
					return false
				}
			}
			return true
		})
		d.say("demo", "every other peer declared it dead after %.1fs", time.Since(killed).Seconds())
		again, err := d.spawn(victim.Lang)
		if err != nil {
			return err
		}
		again.Name = name
		if err := d.join(again, cluster, d.procs[0].Addr); err != nil {
			return err
		}
		d.procs[vi] = again
		d.mu.Lock()
		d.quiet = false
		d.mu.Unlock()
		if _, err := again.Call("set", map[string]any{"key": "status", "value": drive.Text("back as a new generation")}, 10*time.Second); err != nil {
			return err
		}
		d.say(again.Lang, "restarted   as %s, set status", again.Name)
		d.waitFor(20*time.Second, func() bool {
			for _, p := range others {
				v, ok, _ := p.Get(name, "status")
				live, _ := p.Peers("live")
				if !ok || v == nil || !contains(live, name) {
					return false
				}
			}
			return true
		})
	}
	fmt.Printf("\nDemo over after %.1fs: %d languages, one cluster.\n", time.Since(d.start).Seconds(), len(langs))
	return nil
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}
