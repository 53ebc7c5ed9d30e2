package dashboard

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/telepathine/telepathine/engine"
)

// maxListedValue bounds each value in /v1/keys and /v1/events: the page
// shows values, it does not transfer them (values go up to 8 MiB).
const maxListedValue = 1024

type selfJSON struct {
	Name       string `json:"name"`
	Addr       string `json:"addr"`
	Generation string `json:"generation"` // a string: uint64 exceeds JavaScript's numbers
	Running    bool   `json:"running"`
	Cluster    string `json:"cluster"`
}

type peerJSON struct {
	Name       string  `json:"name"`
	Addr       string  `json:"addr"`
	Alive      bool    `json:"alive"`
	Phi        float64 `json:"phi"`
	Generation string  `json:"generation"`
	Heartbeat  uint64  `json:"heartbeat"`
	Version    uint64  `json:"version"`
}

type lagJSON struct {
	Origin        string  `json:"origin"`
	Held          uint64  `json:"held"`
	Known         uint64  `json:"known"`
	Behind        uint64  `json:"behind"`
	BehindSeconds float64 `json:"behind_seconds"`
}

type peersJSON struct {
	Time        int64      `json:"time"` // Unix ms
	Self        selfJSON   `json:"self"`
	Peers       []peerJSON `json:"peers"`
	Replication []lagJSON  `json:"replication"`
}

type valueJSON struct {
	Encoding  string `json:"encoding"` // text, json or raw (then Data is base64)
	Data      string `json:"data"`
	Size      int    `json:"size"`
	Truncated bool   `json:"truncated,omitempty"`
}

type keyJSON struct {
	Key       string    `json:"key"`
	Version   uint64    `json:"version"`
	ExpiresAt int64     `json:"expires_at,omitempty"` // Unix ms
	Value     valueJSON `json:"value"`
}

type peerKeysJSON struct {
	Peer string    `json:"peer"`
	Self bool      `json:"self,omitempty"`
	Keys []keyJSON `json:"keys"`
}

type eventJSON struct {
	Time      int64      `json:"time"` // Unix ms, when the dashboard saw it
	Name      string     `json:"name"`
	Peer      string     `json:"peer"`
	Key       string     `json:"key,omitempty"`
	Value     *valueJSON `json:"value,omitempty"`
	ExpiresAt int64      `json:"expires_at,omitempty"`
}

func finite(phi float64) float64 {
	if math.IsInf(phi, 0) || math.IsNaN(phi) || phi > 1e9 {
		return 1e9 // JSON has no infinity
	}
	return phi
}

func listValue(v engine.Value) valueJSON {
	d := v.Data
	out := valueJSON{Size: len(d)}
	if len(d) > maxListedValue {
		d, out.Truncated = d[:maxListedValue], true
	}
	switch v.Encoding {
	case engine.Text, engine.JSON:
		out.Encoding = "text"
		if v.Encoding == engine.JSON {
			out.Encoding = "json"
		}
		for len(d) > 0 && !utf8.Valid(d) { // a cut inside a character
			d = d[:len(d)-1]
		}
		out.Data = string(d)
	default:
		out.Encoding = "raw"
		out.Data = base64.StdEncoding.EncodeToString(d)
	}
	return out
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

func (s *Server) peers(w http.ResponseWriter, _ *http.Request) {
	out := peersJSON{
		Time: time.Now().UnixMilli(),
		Self: selfJSON{Name: s.p.Name(), Addr: s.p.Addr(), Generation: strconv.FormatUint(s.p.Generation(), 10),
			Running: s.p.Running(), Cluster: s.p.Config().Cluster},
		Peers:       []peerJSON{},
		Replication: []lagJSON{},
	}
	for _, pi := range s.p.AllPeers() {
		out.Peers = append(out.Peers, peerJSON{Name: pi.Name, Addr: pi.Addr, Alive: pi.Alive, Phi: finite(pi.Phi),
			Generation: strconv.FormatUint(pi.Generation, 10), Heartbeat: pi.Heartbeat, Version: pi.Version})
	}
	for _, l := range s.col.Lag() {
		out.Replication = append(out.Replication, lagJSON{Origin: l.Origin, Held: l.Held, Known: l.Known,
			Behind: l.Behind, BehindSeconds: l.For.Seconds()})
	}
	writeJSON(w, out)
}

// keys lists the live keys of every peer (the local one first), or of the
// peer named by ?peer=.
func (s *Server) keys(w http.ResponseWriter, r *http.Request) {
	self := s.p.Name()
	names := []string{self}
	for _, pi := range s.p.AllPeers() {
		names = append(names, pi.Name)
	}
	if want := r.URL.Query().Get("peer"); want != "" {
		found := false
		for _, n := range names {
			if n == want {
				found = true
			}
		}
		if !found {
			http.Error(w, fmt.Sprintf("unknown peer %q", want), http.StatusNotFound)
			return
		}
		names = []string{want}
	}
	out := make([]peerKeysJSON, 0, len(names))
	for _, name := range names {
		pk := peerKeysJSON{Peer: name, Self: name == self, Keys: []keyJSON{}}
		keys, _ := s.p.KeysOf(name) // a name from the peer list is valid
		for _, k := range keys {
			kv, err := s.p.Lookup(name, k)
			if err != nil {
				continue // expired or deleted since the listing
			}
			pk.Keys = append(pk.Keys, keyJSON{Key: k, Version: kv.Version, ExpiresAt: kv.ExpiresAt, Value: listValue(kv.Value)})
		}
		out = append(out, pk)
	}
	writeJSON(w, map[string]any{"time": time.Now().UnixMilli(), "peers": out})
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	if !s.p.Running() {
		http.Error(w, "not running", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// events streams the peer's events as server-sent events, one JSON object
// per message, until the client goes away. ?pattern= filters (default
// "**", everything). A client too slow to keep up loses events (counted in
// the stream's metrics), never slows the peer.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	pattern := r.URL.Query().Get("pattern")
	if pattern == "" {
		pattern = "**"
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	stream, err := s.p.Events(pattern, 256)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	defer stream.Close()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprint(w, ": telepathine events\n\n")
	flusher.Flush()

	ctx := r.Context()
	evs := make(chan *engine.Event)
	go func() {
		defer close(evs)
		for {
			e, err := stream.Next(ctx)
			if err != nil {
				return
			}
			select {
			case evs <- e:
			case <-ctx.Done():
				return
			}
		}
	}()
	tick := time.NewTicker(s.keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			flusher.Flush()
		case e, ok := <-evs:
			if !ok {
				return
			}
			ej := eventJSON{Time: time.Now().UnixMilli(), Name: e.Name(), Peer: e.Peer, Key: e.Key, ExpiresAt: e.ExpiresAt}
			if e.Value.Data != nil {
				v := listValue(e.Value)
				ej.Value = &v
			}
			b, err := json.Marshal(ej)
			if err != nil {
				continue
			}
			if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
				return
			}
			flusher.Flush()
		}
	}
}
