package bench

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/telepathine/telepathine/engine"
)

// Telepathine is the System of this repository's engine, at engine.LANConfig().
type Telepathine struct {
	// SeedDown makes every peer but the seed join through two seeds, the
	// first of which is down (an address nobody listens on): the join must
	// complete through the other.
	SeedDown bool
}

// Name implements System.
func (t Telepathine) Name() string {
	if t.SeedDown {
		return "telepathine-seed-down"
	}
	return "telepathine"
}

// updateValue is the value of every published key: the same bytes a
// memberlist update carries besides its id.
var updateValue = engine.String("0123456789abcdef")

type tpCluster struct {
	peers []*engine.Peer
	names []string
}

// NewCluster implements System. The seed is created and started first:
// the others need its address (port 0, read back) in their Seeds. They are
// created here too, but New binds nothing; they bind and join in JoinAll.
func (t Telepathine) NewCluster(n int, obs *Observer) (Cluster, error) {
	c := &tpCluster{peers: make([]*engine.Peer, n), names: make([]string, n)}
	var seed, down string
	if t.SeedDown {
		var err error
		if down, err = unusedAddr(); err != nil {
			return nil, err
		}
	}
	for i := range n {
		cfg := engine.LANConfig() // 127.0.0.1 port 0
		cfg.Cluster = "bench"
		if i > 0 {
			cfg.Seeds = []string{seed}
			if down != "" {
				cfg.Seeds = []string{down, seed}
			}
		}
		p, err := engine.New(cfg)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.peers[i] = p
		// Subscribed before Start, so nothing is missed. "set" matches every
		// key; "peer:stop" is the failure detector declaring a peer dead.
		p.On("set", func(e *engine.Event) { obs.Delivered(i, e.Key) })
		p.On("peer:stop", func(e *engine.Event) { obs.Died(i, e.Peer) })
		if i == 0 {
			if err := p.Start(context.Background()); err != nil {
				c.Close()
				return nil, fmt.Errorf("start the seed: %w", err)
			}
			seed = p.Addr()
			c.names[0] = p.Name()
		}
	}
	return c, nil
}

// unusedAddr is a loopback address nobody listens on: a port bound (UDP
// and TCP) and released at once.
func unusedAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", err
	}
	return addr, nil
}

func (c *tpCluster) Len() int { return len(c.peers) }

// PeerName is the peer's advertised address, its default name: known once
// JoinAll has returned.
func (c *tpCluster) PeerName(i int) string { return c.names[i] }

// JoinAll starts every peer but the seed at once: Start binds the port and
// contacts the seed, then returns; the join itself goes on in gossip.
func (c *tpCluster) JoinAll() error {
	return joinAll(len(c.peers), func(i int) error {
		if err := c.peers[i].Start(context.Background()); err != nil {
			return err
		}
		c.names[i] = c.peers[i].Name()
		return nil
	})
}

func (c *tpCluster) KnowsAll(i int) bool { return len(c.peers[i].LivePeers()) == len(c.peers)-1 }

func (c *tpCluster) Knows(i int, name string) bool {
	info, ok := c.peers[i].Member(name)
	return ok && info.Alive
}

func (c *tpCluster) Publish(i int, id string) error { return c.peers[i].Set(id, updateValue) }

// Crash stops peer i without a word: Stop with a context already ended
// skips the leave announcement (a graceful Stop would tell every peer at
// once, which is not a crash), closes the sockets and sends nothing, so
// the others only learn of it from the beats that stop coming.
func (c *tpCluster) Crash(i int) error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.peers[i].Stop(ctx); !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func (c *tpCluster) BytesSent(i int) uint64 { return c.peers[i].Stats().Transport.BytesSent() }

func (c *tpCluster) Close() {
	closeAll(len(c.peers), func(i int) {
		if p := c.peers[i]; p != nil {
			_ = p.Close()
		}
	})
}
