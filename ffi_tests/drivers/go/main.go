// Command go-driver runs one Telepathine peer from Go, commanded over
// stdin/stdout as described in ffi_tests/PROTOCOL.md. It is the one Go peer
// of every cross-language test and benchmark: the interop tests, the demo,
// the C test and benchmark, and the Python and Node tests and benchmarks.
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/telepathine/telepathine/engine"
)

type request struct {
	ID        int64         `json:"id"`
	Cmd       string        `json:"cmd"`
	Cluster   string        `json:"cluster"`
	Seeds     []string      `json:"seeds"`
	Name      string        `json:"name"`
	Key       string        `json:"key"`
	Peer      string        `json:"peer"`
	Value     *engine.Value `json:"value"`
	ExpiresAt int64         `json:"expires_at"`
	Event     string        `json:"event"`
	ForMS     int64         `json:"for_ms"`
	Buffered  bool          `json:"buffered"`
	Count     int           `json:"count"`
	TimeoutMS int64         `json:"timeout_ms"`
	Pattern   string        `json:"pattern"`
	Reply     *engine.Value `json:"reply"`
	Which     string        `json:"which"`
	// start's keyring and keyring's operation (PROTOCOL.md).
	Keys            []string `json:"keys"`
	NetworkKey      string   `json:"network_key"`
	AcceptPlaintext bool     `json:"accept_plaintext"`
	SendPlaintext   bool     `json:"send_plaintext"`
	Op              string   `json:"op"`
	ClusterKey      string   `json:"cluster_key"`
}

type driver struct {
	mu   sync.Mutex // serialises stdout lines
	out  *bufio.Writer
	peer *engine.Peer
}

func (d *driver) write(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]any{"ok": false, "error": err.Error()})
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.out.Write(b)
	d.out.WriteByte('\n')
	d.out.Flush()
}

func (d *driver) event(sub string, e *engine.Event) {
	ev := map[string]any{"name": e.Name(), "peer": e.Peer, "key": e.Key, "sub": sub}
	switch e.Kind {
	case engine.KindSet, engine.KindDelete, engine.KindExpired, engine.KindSay, engine.KindAsk:
		ev["value"] = e.Value
	}
	d.write(map[string]any{"event": ev})
}

func value(v *engine.Value) (engine.Value, error) {
	if v == nil {
		return engine.Value{}, errors.New("missing value")
	}
	return *v, nil
}

func (d *driver) handle(r *request) (map[string]any, error) {
	ctx := context.Background()
	if r.Cmd != "start" && d.peer == nil {
		return nil, errors.New("not started")
	}
	switch r.Cmd {
	case "start":
		if d.peer == nil {
			cfg := engine.LocalConfig()
			cfg.Cluster = r.Cluster
			cfg.Seeds = r.Seeds
			cfg.Name = r.Name
			for _, k := range r.Keys {
				b, err := base64.StdEncoding.DecodeString(k)
				if err != nil {
					return nil, fmt.Errorf("keys: %w", err)
				}
				cfg.Security.Keys = append(cfg.Security.Keys, b)
			}
			cfg.Security.NetworkKey = r.NetworkKey
			cfg.Security.AcceptPlaintext, cfg.Security.SendPlaintext = r.AcceptPlaintext, r.SendPlaintext
			p, err := engine.New(cfg)
			if err != nil {
				return nil, err
			}
			d.peer = p
		}
		if err := d.peer.Start(ctx); err != nil {
			return nil, err
		}
		return map[string]any{"name": d.peer.Name(), "addr": d.peer.Addr()}, nil
	case "set":
		v, err := value(r.Value)
		if err != nil {
			return nil, err
		}
		return nil, d.peer.Set(r.Key, v, engine.ExpiresAtMillis(r.ExpiresAt))
	case "get":
		kv, err := d.peer.Lookup(r.Peer, r.Key)
		switch {
		case errors.Is(err, engine.ErrNotFound):
			return map[string]any{"found": false}, nil
		case err != nil:
			return nil, err
		}
		return map[string]any{"found": true, "value": kv.Value}, nil
	case "keys":
		keys, err := d.peer.KeysOf(r.Peer)
		if err != nil {
			return nil, err
		}
		if keys == nil {
			keys = []string{}
		}
		return map[string]any{"keys": keys}, nil
	case "del":
		deleted, err := d.peer.Delete(r.Key)
		return map[string]any{"deleted": deleted}, err
	case "say":
		v, err := value(r.Value)
		if err != nil {
			return nil, err
		}
		return nil, d.peer.Say(r.Event, v, d.sayOptions(r)...)
	case "say_burst":
		// Many says in one request, for benchmarks that measure the
		// receivers, not this pipe: data "0" .. "count-1" as text.
		if r.Count < 0 {
			return nil, fmt.Errorf("count %d < 0", r.Count)
		}
		opts := d.sayOptions(r)
		for i := range r.Count {
			if err := d.peer.Say(r.Event, engine.String(strconv.Itoa(i)), opts...); err != nil {
				return map[string]any{"said": i}, err
			}
		}
		return map[string]any{"said": r.Count}, nil
	case "ask":
		v, err := value(r.Value)
		if err != nil {
			return nil, err
		}
		replies, err := d.peer.Ask(ctx, r.Event, v, time.Duration(r.TimeoutMS)*time.Millisecond)
		if err != nil {
			return nil, err
		}
		out := []map[string]any{}
		for _, rp := range replies {
			out = append(out, map[string]any{"peer": rp.Peer, "value": rp.Value})
		}
		return map[string]any{"replies": out}, nil
	case "hear":
		var reply *engine.Value
		if r.Reply != nil {
			v := *r.Reply
			reply = &v
		}
		pattern := r.Pattern
		d.peer.Hear(pattern, func(_ engine.Value, _ string, e *engine.Event) {
			if reply != nil && e.Kind == engine.KindAsk {
				if err := e.Reply(*reply); err != nil {
					fmt.Fprintf(os.Stderr, "go driver: reply to %s: %v\n", e.Name(), err)
				}
			}
			d.event(pattern, e)
		})
		return nil, nil
	case "on":
		pattern := r.Pattern
		d.peer.On(pattern, func(e *engine.Event) { d.event(pattern, e) })
		return nil, nil
	case "peers":
		var ps []engine.PeerInfo
		switch r.Which {
		case "live":
			ps = d.peer.LivePeers()
		case "dead":
			ps = d.peer.DeadPeers()
		default:
			ps = d.peer.AllPeers()
		}
		names := engine.PeerNames(ps)
		if names == nil {
			names = []string{}
		}
		return map[string]any{"peers": names}, nil
	case "stats":
		s := d.peer.Stats()
		return map[string]any{"stats": map[string]any{
			"foreign_cluster": s.ForeignCluster, "events_dropped": s.EventsDropped,
			"sets": s.Sets, "says": s.Says, "live_peers": s.LivePeers, "drops": s.DropCauses(),
		}}, nil
	case "keyring":
		return d.keyring(r)
	case "stop":
		return nil, d.peer.Stop(ctx)
	}
	return nil, fmt.Errorf("unknown command %q", r.Cmd)
}

// keyring runs one keyring operation and reports the keys after it.
func (d *driver) keyring(r *request) (map[string]any, error) {
	if r.Op != "list" {
		key, err := base64.StdEncoding.DecodeString(r.ClusterKey)
		if err != nil {
			return nil, fmt.Errorf("cluster_key: %w", err)
		}
		switch r.Op {
		case "install":
			err = d.peer.InstallKey(key)
		case "use":
			err = d.peer.UseKey(key)
		case "remove":
			err = d.peer.RemoveKey(key)
		default:
			err = fmt.Errorf("unknown keyring op %q", r.Op)
		}
		if err != nil {
			return nil, err
		}
	}
	keys := []string{}
	for _, k := range d.peer.ClusterKeys() {
		keys = append(keys, base64.StdEncoding.EncodeToString(k))
	}
	return map[string]any{"keys": keys}, nil
}

func (d *driver) sayOptions(r *request) []engine.SayOption {
	var opts []engine.SayOption
	if r.ForMS > 0 {
		opts = append(opts, engine.For(time.Duration(r.ForMS)*time.Millisecond))
	}
	if r.Buffered {
		opts = append(opts, engine.Buffered())
	}
	return opts
}

func main() {
	d := &driver{out: bufio.NewWriter(os.Stdout)}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	for in.Scan() {
		var r request
		if err := json.Unmarshal(in.Bytes(), &r); err != nil {
			// The id, if the line has one, so the caller is not left waiting.
			var id struct {
				ID int64 `json:"id"`
			}
			_ = json.Unmarshal(in.Bytes(), &id)
			d.write(map[string]any{"id": id.ID, "ok": false, "error": "bad request: " + err.Error()})
			continue
		}
		if r.Cmd == "exit" {
			break
		}
		res, err := d.handle(&r)
		if res == nil {
			res = map[string]any{}
		}
		res["id"] = r.ID
		res["ok"] = err == nil
		if err != nil {
			res["error"] = err.Error()
		}
		d.write(res)
	}
	if d.peer != nil {
		_ = d.peer.Close()
	}
	d.write(map[string]any{"ok": true, "exited": true})
}
