// Command telepathine runs a Telepathine peer and talks to it.
//
//	telepathine agent --bind ADDR --advertise ADDR --seeds A,B --cluster NAME
//	telepathine set KEY VALUE        telepathine get [--peer P] KEY
//	telepathine del KEY              telepathine keys [--peer P]
//	telepathine say EVENT DATA       telepathine hear [PATTERN]
//	telepathine peers [--live|--dead]
//
// The agent serves a control socket (default $XDG_RUNTIME_DIR or /tmp,
// telepathine-UID.sock; --control or TELEPATHINE_CONTROL to change it) that
// the other commands use.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/telepathine/telepathine/engine"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) < 1 {
		usage(stderr)
		return 2
	}
	cmds := map[string]func([]string, io.Writer) error{
		"agent": cmdAgent, "set": cmdSet, "get": cmdGet, "del": cmdDel, "keys": cmdKeys,
		"say": cmdSay, "hear": cmdHear, "peers": cmdPeers, "plaintext": cmdPlaintext,
		"identity": cmdIdentity,
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	f, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "telepathine: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	if err := f(args[1:], stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "telepathine:", err)
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `usage: telepathine <command> [flags] [args]

commands:
  agent    run a peer:  --bind ADDR --advertise ADDR --seeds A,B --cluster NAME
  set      set a key of the agent's peer:   set [--json|--raw] [--ttl D] KEY VALUE
  get      read a key (own, or --peer's):   get [--peer NAME] KEY
  del      delete a key:                    del KEY
  keys     list keys (own, or --peer's):    keys [--peer NAME]
  say      send an event to every peer:     say [--json] [--for D] EVENT DATA
  hear     print events until interrupted:  hear [--json] [PATTERN]   (default "**")
  peers    list peers:                      peers [--live|--dead] [--json]
  keys list|install KEY|use KEY|remove KEY  manage the cluster keyring (rotation)
  plaintext --accept=BOOL --send=BOOL       staged plaintext->encrypted upgrade
  identity new --out DIR                    create an Ed25519 key pair (identity mode)

agent security flags: --keyring-file PATH --network-key-file PATH
  --accept-plaintext --send-plaintext --state-dir DIR (see README, Security)
agent identity flags: --identity-key FILE --allow-keys FILE|DIR --tofu
  (see README, Identity mode)

Every command but agent talks to a running agent through its control socket
(--control PATH, or TELEPATHINE_CONTROL; default %s).
`, defaultControl())
}

func newFlags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	control := fs.String("control", defaultControl(), "agent control socket")
	return fs, control
}

// value builds the request value of a command-line string.
func value(s string, asJSON, raw bool) (*engine.Value, error) {
	var v engine.Value
	switch {
	case asJSON && raw:
		return nil, errors.New("--json and --raw exclude each other")
	case asJSON:
		if !json.Valid([]byte(s)) {
			return nil, fmt.Errorf("not valid JSON: %s", s)
		}
		v = engine.Value{Data: []byte(s), Encoding: engine.JSON}
	case raw:
		v = engine.Bytes([]byte(s))
	default:
		v = engine.String(s)
	}
	return &v, nil
}

func cmdSet(args []string, out io.Writer) error {
	fs, control := newFlags("set")
	asJSON := fs.Bool("json", false, "the value is a JSON document")
	raw := fs.Bool("raw", false, "the value is raw bytes")
	ttl := fs.Duration("ttl", 0, "expire the key after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return errors.New("usage: set [--json|--raw] [--ttl D] KEY VALUE")
	}
	v, err := value(fs.Arg(1), *asJSON, *raw)
	if err != nil {
		return err
	}
	req := request{Op: "set", Key: fs.Arg(0), Value: v}
	if *ttl > 0 {
		req.ExpiresAt = time.Now().Add(*ttl).UnixMilli()
	}
	_, _, _, err = call(*control, req)
	return err
}

func cmdGet(args []string, out io.Writer) error {
	fs, control := newFlags("get")
	peer := fs.String("peer", "", "read the replica of this peer's key (default: the agent's own)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: get [--peer NAME] KEY")
	}
	resp, _, _, err := call(*control, request{Op: "get", Key: fs.Arg(0), Peer: *peer})
	if err != nil {
		return err
	}
	if !resp.Found {
		return fmt.Errorf("%s: not found", fs.Arg(0))
	}
	fmt.Fprintln(out, display(*resp.Value))
	return nil
}

func cmdDel(args []string, out io.Writer) error {
	fs, control := newFlags("del")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: del KEY")
	}
	resp, _, _, err := call(*control, request{Op: "del", Key: fs.Arg(0)})
	if err == nil && !resp.Found {
		fmt.Fprintf(out, "%s was not set\n", fs.Arg(0))
	}
	return err
}

func listDataKeys(control, peer string, out io.Writer) error {
	resp, _, _, err := call(control, request{Op: "keys", Peer: peer})
	if err != nil {
		return err
	}
	for _, k := range resp.Keys {
		fmt.Fprintln(out, k)
	}
	return nil
}

func cmdSay(args []string, out io.Writer) error {
	fs, control := newFlags("say")
	asJSON := fs.Bool("json", false, "the data is a JSON document")
	dur := fs.Duration("for", 0, "deliver for this long (default: the agent's SayDuration, 20s)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return errors.New("usage: say [--json] [--for D] EVENT DATA")
	}
	v, err := value(fs.Arg(1), *asJSON, false)
	if err != nil {
		return err
	}
	_, _, _, err = call(*control, request{Op: "say", Event: fs.Arg(0), Value: v, ForMS: dur.Milliseconds()})
	return err
}

func cmdHear(args []string, out io.Writer) error {
	fs, control := newFlags("hear")
	asJSON := fs.Bool("json", false, "print events as JSON lines")
	count := fs.Int("n", 0, "exit after this many events (0: until interrupted)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pattern := "**"
	if fs.NArg() > 0 {
		pattern = fs.Arg(0)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	_, dec, conn, err := call(*control, request{Op: "hear", Pattern: pattern})
	if err != nil {
		return err
	}
	defer conn.Close()
	go func() {
		<-ctx.Done()
		conn.Close()
	}()
	for n := 0; *count == 0 || n < *count; n++ {
		var r response
		if err := dec.Decode(&r); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("agent went away: %w", err)
		}
		e := r.Event
		if e == nil {
			continue
		}
		if *asJSON {
			b, _ := json.Marshal(e)
			fmt.Fprintln(out, string(b))
			continue
		}
		line := fmt.Sprintf("%-14s %s", e.Name, e.Peer)
		if e.Value != nil {
			line += "  " + display(*e.Value)
		}
		fmt.Fprintln(out, line)
	}
	return nil
}

func cmdPeers(args []string, out io.Writer) error {
	fs, control := newFlags("peers")
	live := fs.Bool("live", false, "only live peers")
	dead := fs.Bool("dead", false, "only dead peers")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	which := "all"
	switch {
	case *live && *dead:
		return errors.New("--live and --dead exclude each other")
	case *live:
		which = "live"
	case *dead:
		which = "dead"
	}
	resp, _, _, err := call(*control, request{Op: "peers", Which: which})
	if err != nil {
		return err
	}
	if *asJSON {
		b, _ := json.MarshalIndent(resp.Peers, "", "  ")
		fmt.Fprintln(out, string(b))
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADDRESS\tSTATE\tPHI\tHEARTBEAT")
	for _, p := range resp.Peers {
		state := "alive"
		if !p.Alive {
			state = "dead"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%d\n", p.Name, p.Addr, state, p.Phi, p.Heartbeat)
	}
	return tw.Flush()
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}
