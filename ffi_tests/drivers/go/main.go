// Command go-driver runs one Telepathine peer from Go, commanded over
// stdin/stdout as described in ffi_tests/PROTOCOL.md.
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/telepathine/telepathine/engine"
	"github.com/telepathine/telepathine/ffi_tests/drive"
)

// value is the protocol's value (ffi_tests/PROTOCOL.md).
type value = drive.Value

// toEngine converts a protocol value to the engine's.
func toEngine(v *value) (engine.Value, error) {
	if v == nil {
		return engine.Value{}, errors.New("missing value")
	}
	switch v.Encoding {
	case "text":
		if v.Text == nil {
			return engine.String(""), nil
		}
		return engine.String(*v.Text), nil
	case "json":
		return engine.RawJSON(v.JSON)
	case "raw":
		b := []byte{}
		if v.Base64 != nil {
			var err error
			if b, err = base64.StdEncoding.DecodeString(*v.Base64); err != nil {
				return engine.Value{}, err
			}
		}
		return engine.Bytes(b), nil
	}
	return engine.Value{}, fmt.Errorf("unknown encoding %q", v.Encoding)
}

func fromEngine(v engine.Value) *value {
	switch v.Encoding {
	case engine.Text:
		s := string(v.Data)
		return &value{Encoding: "text", Text: &s}
	case engine.JSON:
		return &value{Encoding: "json", JSON: json.RawMessage(v.Data)}
	}
	s := base64.StdEncoding.EncodeToString(v.Data)
	return &value{Encoding: "raw", Base64: &s}
}

type request struct {
	ID        int64    `json:"id"`
	Cmd       string   `json:"cmd"`
	Cluster   string   `json:"cluster"`
	Seeds     []string `json:"seeds"`
	Name      string   `json:"name"`
	Key       string   `json:"key"`
	Peer      string   `json:"peer"`
	Value     *value   `json:"value"`
	ExpiresAt int64    `json:"expires_at"`
	Event     string   `json:"event"`
	ForMS     int64    `json:"for_ms"`
	TimeoutMS int64    `json:"timeout_ms"`
	Pattern   string   `json:"pattern"`
	Reply     *value   `json:"reply"`
	Which     string   `json:"which"`
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
		ev["value"] = fromEngine(e.Value)
	}
	d.write(map[string]any{"event": ev})
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
		v, err := toEngine(r.Value)
		if err != nil {
			return nil, err
		}
		return nil, d.peer.Set(r.Key, v, engine.ExpiresAtMillis(r.ExpiresAt))
	case "get":
		v, ok := d.peer.GetRemote(r.Peer, r.Key)
		res := map[string]any{"found": ok}
		if ok {
			res["value"] = fromEngine(v)
		}
		return res, nil
	case "keys":
		keys := d.peer.GetRemoteKeys(r.Peer)
		if keys == nil {
			keys = []string{}
		}
		return map[string]any{"keys": keys}, nil
	case "del":
		deleted, err := d.peer.Delete(r.Key)
		return map[string]any{"deleted": deleted}, err
	case "say":
		v, err := toEngine(r.Value)
		if err != nil {
			return nil, err
		}
		var opts []engine.SayOption
		if r.ForMS > 0 {
			opts = append(opts, engine.For(time.Duration(r.ForMS)*time.Millisecond))
		}
		return nil, d.peer.Say(r.Event, v, opts...)
	case "ask":
		v, err := toEngine(r.Value)
		if err != nil {
			return nil, err
		}
		replies, err := d.peer.Ask(ctx, r.Event, v, time.Duration(r.TimeoutMS)*time.Millisecond)
		if err != nil {
			return nil, err
		}
		out := []map[string]any{}
		for _, rp := range replies {
			out = append(out, map[string]any{"peer": rp.Peer, "value": fromEngine(rp.Value)})
		}
		return map[string]any{"replies": out}, nil
	case "hear":
		var reply *engine.Value
		if r.Reply != nil {
			v, err := toEngine(r.Reply)
			if err != nil {
				return nil, err
			}
			reply = &v
		}
		pattern := r.Pattern
		d.peer.Hear(pattern, func(_ engine.Value, _ string, e *engine.Event) {
			if reply != nil && e.Kind == engine.KindAsk {
				_ = e.Reply(*reply)
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
		return map[string]any{"peers": names}, nil
	case "stop":
		return nil, d.peer.Stop(ctx)
	}
	return nil, fmt.Errorf("unknown command %q", r.Cmd)
}

func main() {
	d := &driver{out: bufio.NewWriter(os.Stdout)}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	for in.Scan() {
		var r request
		if err := json.Unmarshal(in.Bytes(), &r); err != nil {
			d.write(map[string]any{"ok": false, "error": "bad request: " + err.Error()})
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
