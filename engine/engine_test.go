package engine

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine/transport"
)

func TestTwoPeersConvergeInMemory(t *testing.T) {
	cl := newMemCluster(t, 2, transport.MemOptions{}, nil)
	a, b := cl.peers[0], cl.peers[1]
	require.NoError(t, a.Set("color", String("red")))
	eventually(t, 5*time.Second, cl.converged, "peers never saw each other")
	eventually(t, 5*time.Second, func() bool {
		v, ok := remote(b, a.Name(), "color")
		return ok && v.String() == "red"
	}, "value never arrived")
	v, _ := remote(b, a.Name(), "color")
	assert.Equal(t, Text, v.Encoding)
}

func TestTwoPeersConvergeOnLoopback(t *testing.T) {
	cl := newNetCluster(t, 2, nil)
	a, b := cl.peers[0], cl.peers[1]
	assert.NotContains(t, a.Addr(), ":0", "port 0 was read back")
	require.NoError(t, b.Set("k", Bytes([]byte{0, 1, 2})))
	eventually(t, 5*time.Second, func() bool {
		v, ok := remote(a, b.Name(), "k")
		return ok && string(v.Data) == "\x00\x01\x02" && v.Encoding == Raw
	}, "value never arrived")
}

// 16 peers on real sockets: the runtime at some scale (loops, locks,
// sockets, JSON values). 32 peers and more are the simulator's
// (internal/protocol TestSimThirtyTwoPeersReadIdenticalValues,
// TestSimDigestSubsetsStillConverge): 32 real-time peers under -race on a
// shared 2-core machine took longer than any deadline worth having.
func TestManyPeersOnSocketsConvergeAndReadIdenticalValues(t *testing.T) {
	const n = 16
	cl := newNetCluster(t, n, func(i int, c *Config) { loadTolerant(c) })
	for i, p := range cl.peers {
		doc, err := JSONValue(map[string]any{"peer": i, "tags": []string{"a", "b"}})
		require.NoError(t, err)
		require.NoError(t, p.Set("info", doc))
		require.NoError(t, p.Set("name", String(fmt.Sprintf("peer-%d", i))))
	}
	eventually(t, waitFor*3, cl.converged, "membership did not converge")
	eventually(t, waitFor*3, func() bool {
		for _, p := range cl.peers {
			for j, q := range cl.peers {
				v, ok := remote(p, q.Name(), "name")
				if !ok || v.String() != fmt.Sprintf("peer-%d", j) {
					return false
				}
			}
		}
		return true
	}, "values did not converge")
	want, _ := cl.peers[5].Get("info")
	for _, p := range cl.peers {
		v, ok := remote(p, cl.peers[5].Name(), "info")
		require.True(t, ok)
		assert.Equal(t, want, v)
	}
}

func TestSetEventsCarryOwnerKeyValue(t *testing.T) {
	cl := newMemCluster(t, 2, transport.MemOptions{}, nil)
	a, b := cl.peers[0], cl.peers[1]
	all := record(b, "set")
	one := record(b, "set:color")
	wild := record(b, "set:*")
	known := &recorder{}
	b.Know("color", func(peer string, v Value, e *Event) { known.handler(e) })
	mine := record(a, "set")
	require.NoError(t, a.Set("color", String("blue")))
	require.NoError(t, a.Set("ui:theme", String("dark")))
	eventually(t, 5*time.Second, func() bool { return all.count(func(*Event) bool { return true }) == 2 }, "set events")
	eventually(t, 5*time.Second, func() bool { return known.count(func(*Event) bool { return true }) == 1 }, "know")
	assert.Equal(t, 1, one.count(func(*Event) bool { return true }))
	assert.Equal(t, 1, wild.count(func(*Event) bool { return true }), "set:* does not match set:ui:theme")
	e := one.snapshot()[0]
	assert.Equal(t, a.Name(), e.Peer)
	assert.Equal(t, "color", e.Key)
	assert.Equal(t, "blue", e.Value.String())
	assert.Equal(t, "set:color", e.Name())
	assert.Zero(t, mine.count(func(*Event) bool { return true }), "a peer gets no set events for its own sets")
}

func TestExpiryFiresOnEveryReplicaOnce(t *testing.T) {
	cl := newMemCluster(t, 4, transport.MemOptions{}, nil)
	eventually(t, 10*time.Second, cl.converged, "converge")
	recs := make([]*recorder, len(cl.peers))
	for i, p := range cl.peers {
		recs[i] = record(p, "key:expired")
	}
	owner := cl.peers[1]
	expires := time.Now().Add(800 * time.Millisecond)
	require.NoError(t, owner.Set("lease", String("holder-1"), ExpiresAt(expires)))
	eventually(t, 5*time.Second, func() bool {
		for _, p := range cl.peers {
			if _, ok := remote(p, owner.Name(), "lease"); !ok {
				return false
			}
		}
		return true
	}, "value did not spread before expiring")
	eventually(t, 10*time.Second, func() bool {
		for _, r := range recs {
			if r.count(func(*Event) bool { return true }) < 1 {
				return false
			}
		}
		return true
	}, "expiry not seen everywhere")
	// Give a few more rounds a chance to (wrongly) fire it again.
	rounds := cl.peers[0].Stats().Rounds
	eventually(t, 5*time.Second, func() bool { return cl.peers[0].Stats().Rounds > rounds+5 }, "rounds")
	for i, r := range recs {
		evs := r.snapshot()
		require.Len(t, evs, 1, "peer %d", i)
		e := evs[0]
		assert.Equal(t, owner.Name(), e.Peer, "the event names the owner")
		assert.Equal(t, "lease", e.Key)
		assert.Equal(t, "holder-1", e.Value.String())
		assert.Equal(t, expires.UnixMilli(), e.ExpiresAt)
		_, ok := remote(cl.peers[i], owner.Name(), "lease")
		assert.False(t, ok)
	}
}

func TestStoppedPeerDeadEverywhereThenRestartWins(t *testing.T) {
	cl := newMemCluster(t, 5, transport.MemOptions{}, nil)
	eventually(t, 10*time.Second, cl.converged, "converge")
	victim := cl.peers[3]
	require.NoError(t, victim.Set("v", String("before")))
	name := victim.Name()
	deaths := make([]*recorder, len(cl.peers))
	for i, p := range cl.peers {
		deaths[i] = record(p, "peer:stop")
	}
	oldGen := victim.Generation()
	require.NoError(t, victim.Stop(context.Background()))
	eventually(t, 15*time.Second, func() bool {
		for i, p := range cl.peers {
			if i == 3 {
				continue
			}
			if _, dead := find(p.DeadPeers(), name); !dead {
				return false
			}
		}
		return true
	}, "stopped peer not declared dead by all")
	// The state says dead at once; the event reaches the handler a moment
	// later, on its subscription's goroutine.
	stops := func(r *recorder) int { return r.count(func(e *Event) bool { return e.Peer == name }) }
	for i, r := range deaths {
		if i != 3 {
			eventually(t, 5*time.Second, func() bool { return stops(r) >= 1 }, "peer:stop on peer %d", i)
			assert.Equal(t, 1, stops(r), "peer %d", i)
		}
	}
	// Restart the same peer object: a new generation, its new value wins.
	require.NoError(t, victim.Set("v", String("after")))
	require.NoError(t, victim.Start(context.Background()))
	assert.Greater(t, victim.Generation(), oldGen)
	eventually(t, 15*time.Second, func() bool {
		for i, p := range cl.peers {
			if i == 3 {
				continue
			}
			if _, alive := find(p.LivePeers(), name); !alive {
				return false
			}
			if v, ok := remote(p, name, "v"); !ok || v.String() != "after" {
				return false
			}
		}
		return true
	}, "restarted peer not alive everywhere with its new value")
}

func find(infos []PeerInfo, name string) (PeerInfo, bool) {
	for _, i := range infos {
		if i.Name == name {
			return i, true
		}
	}
	return PeerInfo{}, false
}

func TestRestartedProcessNewGenerationWins(t *testing.T) {
	// A crash and a new process on the same address: a new Peer object,
	// versions from 1 again, and still its values win.
	cl := newMemCluster(t, 3, transport.MemOptions{}, nil)
	eventually(t, 10*time.Second, cl.converged, "converge")
	old := cl.peers[2]
	for i := 0; i < 20; i++ {
		require.NoError(t, old.Set("k", String(fmt.Sprintf("old-%d", i))))
	}
	name := old.Name()
	eventually(t, 5*time.Second, func() bool {
		v, ok := remote(cl.peers[0], name, "k")
		return ok && v.String() == "old-19"
	}, "old value")
	require.NoError(t, old.Close())
	fresh := cl.add(2)
	require.Equal(t, name, fresh.Name())
	require.NoError(t, fresh.Set("k", String("new")))
	eventually(t, 10*time.Second, func() bool {
		v, ok := remote(cl.peers[0], name, "k")
		return ok && v.String() == "new"
	}, "new generation did not win")
}

func TestPartitionHealsAndConverges(t *testing.T) {
	cl := newMemCluster(t, 6, transport.MemOptions{}, func(i int, c *Config) {
		if i > 0 {
			c.Seeds = []string{memAddr(0), memAddr(3)}
		}
	})
	eventually(t, 10*time.Second, cl.converged, "converge")
	left := []string{memAddr(0), memAddr(1), memAddr(2)}
	right := []string{memAddr(3), memAddr(4), memAddr(5)}
	cl.net.Partition(left, right)
	eventually(t, 15*time.Second, func() bool {
		return len(cl.peers[0].DeadPeers()) == 3 && len(cl.peers[4].DeadPeers()) == 3
	}, "sides did not see each other die")
	require.NoError(t, cl.peers[1].Set("side", String("left")))
	require.NoError(t, cl.peers[4].Set("side", String("right")))
	cl.net.Heal()
	eventually(t, 15*time.Second, func() bool {
		if !cl.converged() {
			return false
		}
		for _, p := range cl.peers {
			l, ok1 := remote(p, cl.peers[1].Name(), "side")
			r, ok2 := remote(p, cl.peers[4].Name(), "side")
			if !ok1 || !ok2 || l.String() != "left" || r.String() != "right" {
				return false
			}
		}
		return true
	}, "did not converge after healing")
}

func TestDeletedKeyDoesNotComeBackAfterPartition(t *testing.T) {
	cl := newMemCluster(t, 4, transport.MemOptions{}, func(i int, c *Config) {
		c.TombstoneGrace = 300 * time.Millisecond // collected while partitioned
		if i > 0 {
			c.Seeds = []string{memAddr(0), memAddr(3)}
		}
	})
	eventually(t, 10*time.Second, cl.converged, "converge")
	owner := cl.peers[0]
	require.NoError(t, owner.Set("doomed", String("x")))
	eventually(t, 5*time.Second, func() bool {
		_, ok := remote(cl.peers[3], owner.Name(), "doomed")
		return ok
	}, "value spread")
	cl.net.Isolate(memAddr(3))
	deleted, err := owner.Delete("doomed")
	require.NoError(t, err)
	require.True(t, deleted)
	eventually(t, 5*time.Second, func() bool {
		for _, p := range cl.peers[:3] {
			if _, ok := remote(p, owner.Name(), "doomed"); ok {
				return false
			}
		}
		return true
	}, "delete spread on the majority side")
	eventually(t, 10*time.Second, func() bool {
		owner.mu.Lock()
		defer owner.mu.Unlock()
		return owner.core.CollectedUpTo() > 0
	}, "tombstone collected")
	_, stale := remote(cl.peers[3], owner.Name(), "doomed")
	require.True(t, stale, "the isolated peer still holds the old value")
	deletes := record(cl.peers[3], "delete:doomed")
	cl.net.Heal()
	eventually(t, 15*time.Second, func() bool {
		_, ok := remote(cl.peers[3], owner.Name(), "doomed")
		return !ok && cl.converged()
	}, "isolated peer never learnt the deletion")
	eventually(t, 5*time.Second, func() bool { return deletes.count(func(*Event) bool { return true }) == 1 }, "delete event")
	// And it never reappears anywhere over several rounds.
	rounds := owner.Stats().Rounds
	eventually(t, 5*time.Second, func() bool { return owner.Stats().Rounds > rounds+10 }, "rounds")
	for _, p := range cl.peers {
		_, ok := remote(p, owner.Name(), "doomed")
		assert.False(t, ok)
	}
}

func TestForeignClusterNeverMerges(t *testing.T) {
	cl := newMemCluster(t, 2, transport.MemOptions{}, func(i int, c *Config) {
		if i == 1 {
			c.Cluster = "other"
		}
	})
	a, b := cl.peers[0], cl.peers[1]
	require.NoError(t, b.Set("secret", String("x")))
	eventually(t, 5*time.Second, func() bool { return a.Stats().ForeignCluster > 0 }, "foreign packets counted")
	assert.Empty(t, a.AllPeers())
	assert.Empty(t, b.AllPeers())
	_, ok := remote(a, b.Name(), "secret")
	assert.False(t, ok)
}

func TestOneMegabyteValueCrossesInUDPPreferredMode(t *testing.T) {
	cl := newNetCluster(t, 2, func(i int, c *Config) { c.TransportMode = UDPPreferred })
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	require.NoError(t, cl.peers[0].Set("blob", Bytes(big)))
	eventually(t, 10*time.Second, func() bool {
		v, ok := remote(cl.peers[1], cl.peers[0].Name(), "blob")
		return ok && assert.ObjectsAreEqual(big, v.Data)
	}, "1 MB value did not cross")
	st := cl.peers[1].Stats().Transport
	assert.Positive(t, st.UDPPacketsReceived, "small packets went by UDP")
	assert.Positive(t, st.TCPFramesReceived, "the large one went by TCP")
}

func TestTCPOnlyMode(t *testing.T) {
	cl := newNetCluster(t, 3, func(i int, c *Config) { c.TransportMode = TCPOnly })
	require.NoError(t, cl.peers[2].Set("k", String("v")))
	eventually(t, 10*time.Second, func() bool {
		v, ok := remote(cl.peers[0], cl.peers[2].Name(), "k")
		return ok && v.String() == "v" && cl.converged()
	}, "tcp-only cluster")
	assert.Zero(t, cl.peers[0].Stats().Transport.UDPPacketsSent)
}

func TestIPv6Loopback(t *testing.T) {
	l, err := net.ListenPacket("udp6", "[::1]:0")
	require.NoError(t, err, "this machine must have IPv6 loopback")
	l.Close()
	cl := newNetCluster(t, 3, func(i int, c *Config) { c.BindAddr = "[::1]:0" })
	assert.Contains(t, cl.peers[0].Addr(), "[::1]:")
	require.NoError(t, cl.peers[1].Set("v6", String("yes")))
	eventually(t, 10*time.Second, func() bool {
		v, ok := remote(cl.peers[2], cl.peers[1].Name(), "v6")
		return ok && v.String() == "yes" && cl.converged()
	}, "IPv6 cluster")
}

func TestBindAddressDistinctFromAdvertised(t *testing.T) {
	cl := newNetCluster(t, 1, func(i int, c *Config) { c.BindAddr = "0.0.0.0:0" })
	a := cl.peers[0]
	host, _, err := net.SplitHostPort(a.Addr())
	require.NoError(t, err)
	assert.False(t, net.ParseIP(host).IsUnspecified(), "advertises a concrete address: %s", a.Addr())
}

func TestLifecycleErrors(t *testing.T) {
	p, err := New(testConfig())
	require.NoError(t, err)
	_, err = p.Delete("x")
	require.NoError(t, err, "state exists before start")
	require.NoError(t, p.Set("early", String("set before start")))
	assert.ErrorIs(t, p.Say("x", String("y")), ErrNotRunning)
	require.NoError(t, p.Start(context.Background()))
	assert.ErrorIs(t, p.Start(context.Background()), ErrRunning)
	v, ok := p.Get("early")
	require.True(t, ok)
	assert.Equal(t, "set before start", v.String())
	require.NoError(t, p.Stop(context.Background()))
	require.NoError(t, p.Stop(context.Background()), "stop twice")
	require.NoError(t, p.Close())
	require.NoError(t, p.Close(), "close twice")
	assert.ErrorIs(t, p.Start(context.Background()), ErrClosed)
	assert.ErrorIs(t, p.Set("k", String("v")), ErrClosed)
}

func TestBadArguments(t *testing.T) {
	cl := newMemCluster(t, 1, transport.MemOptions{}, nil)
	p := cl.peers[0]
	assert.ErrorIs(t, p.Set("", String("v")), ErrInvalidKey)
	assert.ErrorIs(t, p.Set("bad\xff", String("v")), ErrInvalidKey)
	assert.ErrorIs(t, p.Set("k", Value{Data: []byte{0xff}, Encoding: Text}), ErrInvalidArgument)
	assert.ErrorIs(t, p.Set("k", Value{Data: []byte("{"), Encoding: JSON}), ErrInvalidArgument)
	assert.ErrorIs(t, p.Set("k", Value{Encoding: 9}), ErrInvalidArgument)
	assert.ErrorIs(t, p.Set("k", Bytes(make([]byte, p.Config().Limits.ValueSize+1))), ErrValueTooLarge)
	assert.ErrorIs(t, p.Say("", String("v")), ErrInvalidEvent)
	assert.ErrorIs(t, p.Say(string(make([]byte, 300)), String("v")), ErrInvalidEvent)
	assert.ErrorIs(t, p.Say("e", Bytes(make([]byte, p.Config().Limits.EventPayloadSize+1))), ErrValueTooLarge)
	assert.ErrorIs(t, p.Say("e", String("v"), For(-time.Second)), ErrInvalidArgument)
	_, err := New(Config{MTU: 10})
	assert.ErrorIs(t, err, ErrConfig)
	_, err = New(Config{Cluster: "bad\x00"})
	assert.ErrorIs(t, err, ErrConfig)
	_, err = New(Config{Limits: LimitsConfig{HandlerQueue: MaxHandlerQueue + 1}})
	assert.ErrorIs(t, err, ErrConfig, "an unbounded queue would be allocated whole")
	_, err = New(Config{Failure: FailureConfig{Window: MaxPhiWindow + 1}})
	assert.ErrorIs(t, err, ErrConfig)
}

func TestZeroConfigIsLAN(t *testing.T) {
	p, err := New(Config{})
	require.NoError(t, err)
	got, want := p.Config(), LANConfig()
	assert.Equal(t, want.Failure.AcceptablePause, got.Failure.AcceptablePause)
	assert.Equal(t, want.GossipInterval, got.GossipInterval)
	assert.Equal(t, want.QuietAfter, got.QuietAfter)
	assert.Equal(t, want.PushDirectMax, got.PushDirectMax)
	p2, err := New(Config{Failure: FailureConfig{AcceptablePause: -1}})
	require.NoError(t, err)
	assert.Zero(t, p2.Config().Failure.AcceptablePause, "negative means none")
}

// A zero field takes LANConfig's value whatever preset the others came
// from, as Config's doc says; the preset's other fields are kept.
func TestZeroFieldTakesLANDefault(t *testing.T) {
	c := WANConfig()
	c.Failure.MinStdDev = 0
	c.Limits.HandlerQueue = 0
	p, err := New(c)
	require.NoError(t, err)
	got, lan, wan := p.Config(), LANConfig(), WANConfig()
	require.NotEqual(t, lan.Failure.MinStdDev, wan.Failure.MinStdDev, "the presets must differ for the test to mean anything")
	assert.Equal(t, lan.Failure.MinStdDev, got.Failure.MinStdDev)
	assert.Equal(t, lan.Limits.HandlerQueue, got.Limits.HandlerQueue)
	assert.Equal(t, wan.Failure.AcceptablePause, got.Failure.AcceptablePause)
	assert.Equal(t, wan.GossipInterval, got.GossipInterval)

	// Config{} is LANConfig() field for field, once the defaults the
	// Peer fills in (clock, logger, seeds) are set aside.
	p0, err := New(Config{})
	require.NoError(t, err)
	z := p0.Config()
	z.Clock, z.Logger, z.Seeds = nil, nil, nil
	// Liveness defaults are relative to the config's own GossipInterval.
	lan.Liveness = lan.Liveness.withDefaults(&lan)
	assert.Equal(t, lan, z)
}

func TestDelayedLossyDuplicatingNetworkConverges(t *testing.T) {
	cl := newMemCluster(t, 12, transport.MemOptions{
		MinDelay: time.Millisecond, MaxDelay: 40 * time.Millisecond, Loss: 0.1, Duplicate: 0.1, Seed: 3,
	}, nil)
	eventually(t, 20*time.Second, cl.converged, "join over a delaying, lossy, duplicating network")
	for i, p := range cl.peers {
		require.NoError(t, p.Set("k", String(fmt.Sprint(i))))
	}
	eventually(t, 20*time.Second, func() bool {
		for _, p := range cl.peers {
			for j, q := range cl.peers {
				if v, ok := remote(p, q.Name(), "k"); !ok || v.String() != fmt.Sprint(j) {
					return false
				}
			}
		}
		return true
	}, "values")
}
