package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/telepathine/telepathine/engine"
)

// The agent serves a control socket (a Unix socket) that the other commands
// talk to: one JSON request per connection, answered by one JSON response,
// or by a stream of events for "hear".

type request struct {
	Op        string        `json:"op"`
	Key       string        `json:"key,omitempty"`
	Peer      string        `json:"peer,omitempty"`
	Value     *engine.Value `json:"value,omitempty"`
	ExpiresAt int64         `json:"expires_at,omitempty"` // Unix ms
	Event     string        `json:"event,omitempty"`
	ForMS     int64         `json:"for_ms,omitempty"`
	Pattern   string        `json:"pattern,omitempty"`
	Which     string        `json:"which,omitempty"`  // peers: all, live, dead; keyring: list, install, use, remove
	Accept    bool          `json:"accept,omitempty"` // plaintext
	Send      bool          `json:"send,omitempty"`   // plaintext
}

// display renders a value for a terminal: text as is, JSON documents as
// written, raw bytes in base64.
func display(v engine.Value) string {
	if v.Encoding == engine.Raw {
		return "base64:" + base64.StdEncoding.EncodeToString(v.Data)
	}
	return string(v.Data)
}

type response struct {
	OK    bool          `json:"ok"`
	Error string        `json:"error,omitempty"`
	Value *engine.Value `json:"value,omitempty"`
	Found bool          `json:"found,omitempty"`
	Keys  []string      `json:"keys,omitempty"`
	Peers []peerJSON    `json:"peers,omitempty"`
	Event *eventJSON    `json:"event,omitempty"`
	Self  *peerJSON     `json:"self,omitempty"`
}

type peerJSON struct {
	Name       string  `json:"name"`
	Addr       string  `json:"addr"`
	Alive      bool    `json:"alive"`
	Phi        float64 `json:"phi"`
	Generation string  `json:"generation"`
	Heartbeat  uint64  `json:"heartbeat"`
}

type eventJSON struct {
	Name      string        `json:"name"`
	Peer      string        `json:"peer"`
	Key       string        `json:"key,omitempty"`
	Value     *engine.Value `json:"value,omitempty"`
	ExpiresAt int64         `json:"expires_at,omitempty"`
}

func peerInfos(ps []engine.PeerInfo) []peerJSON {
	out := make([]peerJSON, len(ps))
	for i, p := range ps {
		phi := p.Phi
		if phi > 1e9 {
			phi = 1e9 // JSON has no infinity
		}
		out[i] = peerJSON{Name: p.Name, Addr: p.Addr, Alive: p.Alive, Phi: phi,
			Generation: strconv.FormatUint(p.Generation, 10), Heartbeat: p.Heartbeat}
	}
	return out
}

// defaultControl is where the agent listens and the commands connect when
// --control is not given.
func defaultControl() string {
	if p := os.Getenv("TELEPATHINE_CONTROL"); p != "" {
		return p
	}
	dir := os.Getenv("XDG_RUNTIME_DIR")
	if dir == "" {
		dir = os.TempDir()
	}
	return filepath.Join(dir, fmt.Sprintf("telepathine-%d.sock", os.Getuid()))
}

// serveControl answers control requests until ctx ends. The accept loop
// and the connections' handlers are one group: a failing listener ends the
// handlers (their context is cancelled), and serveControl returns once
// every one has.
func serveControl(ctx context.Context, path string, p *engine.Peer) error {
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return fmt.Errorf("control socket %s is in use: is another agent running?", path)
	}
	_ = os.Remove(path) // a stale socket of a dead agent
	l, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(path) }()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		<-gctx.Done()
		_ = l.Close() // ends Accept
		return nil
	})
	g.Go(func() error {
		for {
			c, err := l.Accept()
			if err != nil {
				if gctx.Err() != nil {
					return nil
				}
				return err
			}
			g.Go(func() error {
				defer c.Close()
				handleControl(gctx, c, p)
				return nil
			})
		}
	})
	return g.Wait()
}

func handleControl(ctx context.Context, c net.Conn, p *engine.Peer) {
	var req request
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := json.NewDecoder(bufio.NewReader(c)).Decode(&req); err != nil {
		_ = json.NewEncoder(c).Encode(response{Error: "bad request: " + err.Error()})
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	enc := json.NewEncoder(c)
	fail := func(err error) { _ = enc.Encode(response{Error: err.Error()}) }
	switch req.Op {
	case "set":
		if req.Value == nil {
			fail(errors.New("missing value"))
			return
		}
		v := *req.Value
		if err := p.Set(req.Key, v, engine.ExpiresAtMillis(req.ExpiresAt)); err != nil {
			fail(err)
			return
		}
		_ = enc.Encode(response{OK: true})
	case "get":
		kv, err := p.Lookup(req.Peer, req.Key)
		switch {
		case errors.Is(err, engine.ErrNotFound):
			_ = enc.Encode(response{OK: true})
		case err != nil:
			fail(err)
		default:
			_ = enc.Encode(response{OK: true, Found: true, Value: &kv.Value})
		}
	case "keys":
		keys, err := p.KeysOf(req.Peer)
		if err != nil {
			fail(err)
			return
		}
		_ = enc.Encode(response{OK: true, Keys: keys})
	case "keyring", "plaintext":
		_ = enc.Encode(handleSecurity(p, req)) // security.go
	case "del":
		deleted, err := p.Delete(req.Key)
		if err != nil {
			fail(err)
			return
		}
		_ = enc.Encode(response{OK: true, Found: deleted})
	case "say":
		if req.Value == nil {
			fail(errors.New("missing value"))
			return
		}
		v := *req.Value
		var opts []engine.SayOption
		if req.ForMS > 0 {
			opts = append(opts, engine.For(time.Duration(req.ForMS)*time.Millisecond))
		}
		if err := p.Say(req.Event, v, opts...); err != nil {
			fail(err)
			return
		}
		_ = enc.Encode(response{OK: true})
	case "peers":
		var ps []engine.PeerInfo
		switch req.Which {
		case "live":
			ps = p.LivePeers()
		case "dead":
			ps = p.DeadPeers()
		default:
			ps = p.AllPeers()
		}
		self := peerJSON{Name: p.Name(), Addr: p.Addr(), Alive: true, Generation: strconv.FormatUint(p.Generation(), 10)}
		_ = enc.Encode(response{OK: true, Peers: peerInfos(ps), Self: &self})
	case "hear":
		pattern := req.Pattern
		if pattern == "" {
			pattern = "**"
		}
		st, err := p.Events(pattern, 0)
		if err != nil {
			fail(err)
			return
		}
		defer st.Close()
		_ = enc.Encode(response{OK: true})
		// The client hangs up to stop: notice it by reading.
		gone := make(chan struct{})
		go func() {
			_, _ = io.Copy(io.Discard, c)
			close(gone)
		}()
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-gone:
			case <-sctx.Done():
			}
			cancel()
		}()
		for {
			e, err := st.Next(sctx)
			if err != nil {
				return
			}
			ev := eventJSON{Name: e.Name(), Peer: e.Peer, Key: e.Key, ExpiresAt: e.ExpiresAt}
			if e.Kind != engine.KindStart && e.Kind != engine.KindStop && e.Kind != engine.KindPeerNew &&
				e.Kind != engine.KindPeerStart && e.Kind != engine.KindPeerStop {
				ev.Value = &e.Value
			}
			if err := enc.Encode(response{OK: true, Event: &ev}); err != nil {
				return
			}
		}
	default:
		fail(fmt.Errorf("unknown op %q", req.Op))
	}
}

// call sends one request to the agent and returns its first response; for
// "hear" the connection stays open and further responses follow on it.
func call(path string, req request) (response, *json.Decoder, net.Conn, error) {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return response{}, nil, nil, fmt.Errorf("no agent at %s (start one with 'telepathine agent'): %w", path, err)
	}
	if err := json.NewEncoder(c).Encode(req); err != nil {
		c.Close()
		return response{}, nil, nil, err
	}
	dec := json.NewDecoder(c)
	var resp response
	if err := dec.Decode(&resp); err != nil {
		c.Close()
		return response{}, nil, nil, fmt.Errorf("agent: %w", err)
	}
	if resp.Error != "" {
		c.Close()
		return resp, nil, nil, errors.New(resp.Error)
	}
	return resp, dec, c, nil
}
