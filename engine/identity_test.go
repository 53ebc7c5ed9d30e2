package engine

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine/internal/identity"
	"github.com/telepathine/telepathine/engine/internal/state"
	"github.com/telepathine/telepathine/engine/internal/wire"
	"github.com/telepathine/telepathine/engine/transport"
)

// Identity mode on real sockets (issue 13): three peers with keys generated
// by GenerateIdentity and trust on first use (ports are 0, so names are
// known only once bound). A key holder forges, over UDP, a set of one
// peer's key in the name of that peer: every peer drops it and counts it,
// the value stays, and real writes keep flowing.
func TestIdentityRealSocketsForgedSetDropped(t *testing.T) {
	dir := t.TempDir()
	keys := make([]string, 3)
	for i := range keys {
		kf, pf, pub, err := GenerateIdentity(filepath.Join(dir, string(rune('a'+i))))
		require.NoError(t, err)
		require.Len(t, pub, 32)
		_, err = os.Stat(pf)
		require.NoError(t, err)
		keys[i] = kf
	}
	cl := newNetCluster(t, 3, func(i int, c *Config) {
		loadTolerant(c)
		c.Identity = IdentityConfig{KeyFile: keys[i], TOFU: true}
	})
	eventually(t, waitFor, cl.converged, "join in identity mode")
	victim := cl.peers[1]
	require.NoError(t, victim.Set("k", String("real")))
	eventually(t, waitFor, func() bool {
		for _, p := range cl.peers {
			kv, err := p.Lookup(victim.Name(), "k")
			if err != nil || kv.Value.String() != "real" {
				return false
			}
		}
		return true
	}, "the real value everywhere")

	// The rogue: its own key pair, the cluster's (plain) envelope.
	rogue, err := identity.Generate()
	require.NoError(t, err)
	victim.mu.Lock()
	vid := victim.core.ID()
	version := victim.core.Stats().Sets // one set: version 1
	victim.mu.Unlock()
	require.Equal(t, uint64(1), version)
	e := &state.Entry{Version: 2, Kind: state.KindSet, Key: "k", Value: []byte("evil"), Encoding: state.EncodingText}
	ie := identity.Entry{Owner: vid.Name, Generation: vid.Generation, Version: 2, Key: "k", Value: e.Value, Encoding: uint8(e.Encoding)}
	e.Sig = rogue.Sign(identity.AppendEntryMessage(nil, &ie))
	h := identity.Head{Owner: vid.Name, Generation: vid.Generation, Version: 2}
	pk := &wire.Packet{
		Cluster: "test", Sender: state.NodeID{Name: "rogue", Generation: 1, Addr: "127.0.0.1:1"}, Type: wire.Push,
		Delta: state.Delta{Nodes: []state.NodeDelta{{
			ID: vid, From: 1, To: 2, Entries: []*state.Entry{e},
			PubKey: rogue.Public, Head: state.Head{Version: 2, Sig: rogue.Sign(identity.AppendHeadMessage(nil, &h))},
		}}},
	}
	b, err := wire.Encode(pk)
	require.NoError(t, err)
	data := plainEnvelope(t, b)
	for _, p := range []*Peer{cl.peers[0], cl.peers[2]} {
		conn, err := net.Dial("udp", p.Addr())
		require.NoError(t, err)
		_, err = conn.Write(data)
		require.NoError(t, err)
		require.NoError(t, conn.Close())
	}
	for _, p := range []*Peer{cl.peers[0], cl.peers[2]} {
		eventually(t, waitFor, func() bool { return p.Stats().BadSignature >= 1 }, "%s counts the forged entry", p.Name())
		kv, err := p.Lookup(victim.Name(), "k")
		require.NoError(t, err)
		require.Equal(t, "real", kv.Value.String(), "the forged set was applied")
		require.Positive(t, p.Stats().DropCauses()["bad_signature"])
	}
	require.NoError(t, victim.Set("k", String("after")))
	eventually(t, waitFor, func() bool {
		for _, p := range cl.peers {
			kv, err := p.Lookup(victim.Name(), "k")
			if err != nil || kv.Value.String() != "after" {
				return false
			}
		}
		return true
	}, "a real write after the forgery")
	for _, p := range cl.peers {
		require.Positive(t, p.Stats().SignaturesVerified, "%s verified nothing", p.Name())
	}
}

// Sets made in a burst leave together (the push loop batches what queued
// while it was sending), as one run per datagram that the owner signs
// once: the receivers prove each run with one verification and apply its
// entries from the cache.
func TestIdentityRealSocketsRunSignature(t *testing.T) {
	dir := t.TempDir()
	cl := newNetCluster(t, 3, func(i int, c *Config) {
		loadTolerant(c)
		kf, _, _, err := GenerateIdentity(filepath.Join(dir, string(rune('a'+i))))
		require.NoError(t, err)
		c.Identity = IdentityConfig{KeyFile: kf, TOFU: true}
	})
	eventually(t, waitFor, cl.converged, "join in identity mode")
	n := 0
	eventually(t, waitFor, func() bool {
		// Bursts until some coalesce: whether one does depends on the
		// scheduler, so the test writes until it has seen it.
		for range 50 {
			require.NoError(t, cl.peers[1].Set(fmt.Sprint("burst", n), String("v")))
			n++
		}
		return cl.peers[0].Stats().SignaturesRunProved >= 2 && cl.peers[2].Stats().SignaturesRunProved >= 2
	}, "bursts proved by run signatures")
	last := fmt.Sprint("burst", n-1)
	eventually(t, waitFor, func() bool {
		for _, p := range []*Peer{cl.peers[0], cl.peers[2]} {
			if kv, err := p.Lookup(cl.peers[1].Name(), last); err != nil || kv.Value.String() != "v" {
				return false
			}
		}
		return true
	}, "every burst applied")
	for _, p := range []*Peer{cl.peers[0], cl.peers[2]} {
		require.Zero(t, p.Stats().BadSignature)
	}
}

// Configuration errors are reported at New, clearly.
func TestIdentityConfigErrors(t *testing.T) {
	dir := t.TempDir()
	kf, _, _, err := GenerateIdentity(dir)
	require.NoError(t, err)
	for name, ic := range map[string]IdentityConfig{
		"no allow-list, no TOFU": {KeyFile: kf},
		"unreadable key":         {KeyFile: filepath.Join(dir, "missing"), TOFU: true},
		"junk key":               {Key: []byte("junk"), TOFU: true},
		"TOFU without a key":     {TOFU: true},
		"missing allow-list":     {KeyFile: kf, AllowList: filepath.Join(dir, "nope")},
	} {
		c := testConfig()
		c.Identity = ic
		_, err := New(c)
		require.ErrorIs(t, err, ErrIdentityConfig, name)
	}
	c := testConfig()
	c.Identity = IdentityConfig{KeyFile: kf, AllowList: dir} // identity.pub is not NAME.pub: an empty list
	p, err := New(c)
	require.NoError(t, err)
	require.NoError(t, p.Close())
}

// A peer re-keys (a new process under the same name with a new key pair):
// the others refuse it until its allow-list entry is replaced and they
// reload the list, then accept it and its values, without a restart.
func TestIdentityReloadAllowListAdmitsARekeyedPeer(t *testing.T) {
	dir := t.TempDir()
	allow := filepath.Join(dir, "peers")
	require.NoError(t, os.Mkdir(allow, 0o700))
	keyFile := func(i, gen int) string {
		kf, pf, _, err := GenerateIdentity(filepath.Join(dir, fmt.Sprintf("p%d-%d", i, gen)))
		require.NoError(t, err)
		b, err := os.ReadFile(pf)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(allow, memAddr(i)+".pub"), b, 0o644))
		return kf
	}
	keys := []string{keyFile(0, 0), keyFile(1, 0), keyFile(2, 0)}
	cl := newMemCluster(t, 3, transport.MemOptions{}, func(i int, c *Config) {
		loadTolerant(c)
		c.Identity = IdentityConfig{KeyFile: keys[i], AllowList: allow}
	})
	eventually(t, waitFor, cl.converged, "join with an allow-list")
	require.NoError(t, cl.peers[2].Close())

	keys[2] = keyFile(2, 1) // the new key, and its entry replaced in the directory
	rekeyed := cl.add(2)
	require.NoError(t, rekeyed.Set("k", String("after re-key")))
	eventually(t, waitFor, func() bool {
		return cl.peers[0].Stats().NotAllowed > 0 && cl.peers[1].Stats().NotAllowed > 0
	}, "the new key refused before the reload")
	_, err := cl.peers[0].Lookup(memAddr(2), "k")
	require.ErrorIs(t, err, ErrNotFound)

	for _, p := range cl.peers[:2] {
		require.NoError(t, p.ReloadAllowList())
	}
	eventually(t, waitFor, func() bool {
		for _, p := range cl.peers[:2] {
			kv, err := p.Lookup(memAddr(2), "k")
			if err != nil || kv.Value.String() != "after re-key" {
				return false
			}
		}
		return true
	}, "the re-keyed peer's value after the reload")

	c := testConfig()
	require.ErrorIs(t, func() error { p, err := New(c); require.NoError(t, err); defer p.Close(); return p.ReloadAllowList() }(), ErrIdentityConfig)
}
