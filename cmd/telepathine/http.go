package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/telepathine/telepathine/cmd/telepathine/dashboard"
	"github.com/telepathine/telepathine/engine"
)

// httpFlags are the agent's --http flags: metrics, JSON API and dashboard.
type httpFlags struct {
	addr   *string
	public *bool
}

func addHTTPFlags(fs *flag.FlagSet) httpFlags {
	return httpFlags{
		addr: fs.String("http", "", "serve /metrics, the JSON API (/v1/...) and the dashboard on this address, e.g. 127.0.0.1:9090"),
		public: fs.Bool("http-public", false,
			"allow --http beyond loopback (the dashboard is read-only but shows every key and event)"),
	}
}

// agentExtras listens on --http, before the peer starts so that a refused
// or busy address fails the agent at once, and returns what runAgent runs
// beside the peer: nothing when --http is not set.
func (h httpFlags) agentExtras(out io.Writer) ([]func(context.Context, *engine.Peer) error, error) {
	if *h.addr == "" {
		if *h.public {
			return nil, fmt.Errorf("--http-public needs --http")
		}
		return nil, nil
	}
	ln, err := dashboard.Listen(*h.addr, *h.public)
	if err != nil {
		return nil, err
	}
	return []func(context.Context, *engine.Peer) error{func(ctx context.Context, p *engine.Peer) error {
		fmt.Fprintf(out, "dashboard on http://%s/ (metrics at /metrics)\n", ln.Addr())
		return dashboard.Serve(ctx, ln, dashboard.New(p))
	}}, nil
}
