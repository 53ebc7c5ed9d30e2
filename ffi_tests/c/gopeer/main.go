// Command gopeer is the Go peer that the C tests of the C ABI join: an
// engine on 127.0.0.1 with the Local preset, driven line by line on stdin.
//
// On start it sets "go-key" (text "from-go") and "go-json" (JSON), answers
// every ask of "ping:*" with "pong:" + the data, then prints
//
//	ADDR host:port
//	NAME name
//	READY
//
// and executes one command per line, answering each with a line ("OK",
// "TIMEOUT", "ERR message", or as said below):
//
//	say EVENT DATA                 say EVENT with text DATA
//	flood EVENT N                  say EVENT N times (data "0".."N-1"), buffered
//	ask EVENT DATA TIMEOUT_MS      ask; answers "REPLY peer data" lines, then "END"
//	wait-key PEER KEY VALUE MS     wait until PEER's KEY replica holds VALUE
//	wait-peers N MS                wait until N peers seem alive
//	quit                           close and exit (so does the end of stdin)
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/telepathine/telepathine/engine"
)

func main() {
	cluster := flag.String("cluster", "ffi", "cluster name")
	flag.Parse()
	if err := run(*cluster); err != nil {
		fmt.Fprintln(os.Stderr, "gopeer:", err)
		os.Exit(1)
	}
}

func run(cluster string) error {
	cfg := engine.LocalConfig()
	cfg.Cluster = cluster
	cfg.HandlerQueue = 1 << 16
	p, err := engine.New(cfg)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.Set("go-key", engine.String("from-go")); err != nil {
		return err
	}
	doc, _ := engine.RawJSON([]byte(`{"lang":"go"}`))
	if err := p.Set("go-json", doc); err != nil {
		return err
	}
	p.Hear("ping:*", func(data engine.Value, from string, e *engine.Event) {
		if e.Kind == engine.KindAsk {
			_ = e.Reply(engine.String("pong:" + data.String()))
		}
	})
	if err := p.Start(context.Background()); err != nil {
		return err
	}
	out := bufio.NewWriter(os.Stdout)
	say := func(format string, args ...any) {
		fmt.Fprintf(out, format+"\n", args...)
		_ = out.Flush()
	}
	say("ADDR %s", p.Addr())
	say("NAME %s", p.Name())
	say("READY")

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "quit":
			return nil
		case f[0] == "say" && len(f) == 3:
			reply(say, p.Say(f[1], engine.String(f[2])))
		case f[0] == "flood" && len(f) == 3:
			n, _ := strconv.Atoi(f[2])
			var err error
			for i := 0; i < n && err == nil; i++ {
				err = p.Say(f[1], engine.String(strconv.Itoa(i)), engine.Buffered())
			}
			reply(say, err)
		case f[0] == "ask" && len(f) == 4:
			ms, _ := strconv.Atoi(f[3])
			rs, err := p.Ask(context.Background(), f[1], engine.String(f[2]), time.Duration(ms)*time.Millisecond)
			if err != nil {
				reply(say, err)
				continue
			}
			for _, r := range rs {
				say("REPLY %s %s", r.Peer, r.Value)
			}
			say("END")
		case f[0] == "wait-key" && len(f) == 5:
			ms, _ := strconv.Atoi(f[4])
			waitUntil(say, ms, func() bool {
				v, ok := p.GetRemote(f[1], f[2])
				return ok && v.String() == f[3]
			})
		case f[0] == "wait-peers" && len(f) == 3:
			n, _ := strconv.Atoi(f[1])
			ms, _ := strconv.Atoi(f[2])
			waitUntil(say, ms, func() bool { return len(p.LivePeers()) >= n })
		default:
			say("ERR unknown command %q", in.Text())
		}
	}
	return in.Err()
}

func reply(say func(string, ...any), err error) {
	if err != nil {
		say("ERR %v", err)
		return
	}
	say("OK")
}

// waitUntil polls cond until it holds or ms milliseconds pass.
func waitUntil(say func(string, ...any), ms int, cond func() bool) {
	deadline := time.Now().Add(time.Duration(ms) * time.Millisecond)
	for !cond() {
		if time.Now().After(deadline) {
			say("TIMEOUT")
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	say("OK")
}
