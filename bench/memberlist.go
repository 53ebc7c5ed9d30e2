package bench

import (
	"fmt"
	"io"
	"log"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/memberlist"
)

// Memberlist is the System of hashicorp/memberlist at DefaultLANConfig().
type Memberlist struct {
	// Configure, when set, changes each peer's configuration last (the
	// harness's own test shortens the push-pull interval with it). The
	// benchmarks leave it nil.
	Configure func(*memberlist.Config)
}

// Name implements System.
func (Memberlist) Name() string { return "memberlist" }

type mlCluster struct {
	peers []*mlPeer
}

// mlPeer is one memberlist with the delegates that make it report to the
// Observer and carry updates.
type mlPeer struct {
	index int
	name  string
	obs   *Observer
	ml    atomic.Pointer[memberlist.Memberlist]
	tr    *countingTransport
	// queue holds the updates this peer still has to gossip: memberlist
	// drains it through Delegate.GetBroadcasts, piggybacking on its gossip
	// and probe packets, each update sent RetransmitMult*ceil(log10(N+1))
	// times (8 at N = 64).
	queue *memberlist.TransmitLimitedQueue

	mu   sync.Mutex
	held map[string]bool // updates seen (published here or received)
}

// NewCluster implements System: every memberlist is created (bound to
// 127.0.0.1 port 0 and running alone); the others join peer 0 in JoinAll.
func (m Memberlist) NewCluster(n int, obs *Observer) (Cluster, error) {
	c := &mlCluster{}
	for i := range n {
		p, err := newMLPeer(i, obs, m.Configure)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.peers = append(c.peers, p)
	}
	return c, nil
}

func newMLPeer(i int, obs *Observer, configure func(*memberlist.Config)) (*mlPeer, error) {
	p := &mlPeer{index: i, name: fmt.Sprintf("ml-%02d", i), obs: obs, held: map[string]bool{}}
	cfg := memberlist.DefaultLANConfig()
	cfg.Name = p.name
	cfg.LogOutput = io.Discard
	quiet := log.New(io.Discard, "", 0)
	// memberlist builds its NetTransport itself unless given one; we build
	// the same one, to count its bytes. Port 0, read back.
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{"127.0.0.1"}, BindPort: 0, Logger: quiet,
	})
	if err != nil {
		return nil, err
	}
	port := nt.GetAutoBindPort()
	cfg.BindAddr, cfg.BindPort = "127.0.0.1", port
	cfg.AdvertiseAddr, cfg.AdvertisePort = "127.0.0.1", port
	p.tr = newCountingTransport(nt)
	cfg.Transport = p.tr
	cfg.Delegate = (*mlDelegate)(p)
	cfg.Events = (*mlEvents)(p)
	p.queue = &memberlist.TransmitLimitedQueue{
		RetransmitMult: cfg.RetransmitMult,
		NumNodes: func() int {
			if ml := p.ml.Load(); ml != nil {
				return ml.NumMembers()
			}
			return 1
		},
	}
	if configure != nil {
		configure(cfg)
	}
	ml, err := memberlist.Create(cfg)
	if err != nil {
		_ = p.tr.Shutdown()
		return nil, err
	}
	p.ml.Store(ml)
	return p, nil
}

func (c *mlCluster) Len() int { return len(c.peers) }

func (c *mlCluster) PeerName(i int) string { return c.peers[i].name }

// JoinAll makes every peer but the seeds Join them at once. Join is a
// synchronous push-pull (full state over TCP) with the address given; the
// rest of the membership arrives by gossip. Up to 64 peers there is one
// seed; beyond, one per 32 peers (8 at N = 256), which join the first one
// by one before the others join, spread evenly over them. A Join that
// fails (at N = 256 concurrent push-pulls time out on a loaded machine) is
// retried through the next seed, up to joinAttempts times: the join time
// includes the retries.
func (c *mlCluster) JoinAll() error {
	k := 1
	if len(c.peers) > 64 {
		k = len(c.peers) / 32
	}
	seeds := make([]string, k)
	for s := range k {
		seeds[s] = c.peers[s].ml.Load().LocalNode().Address()
		if s > 0 {
			if _, err := c.peers[s].ml.Load().Join(seeds[:1]); err != nil {
				return err
			}
		}
	}
	return joinAll(len(c.peers), func(i int) error {
		if i < k {
			return nil
		}
		var err error
		for a := range joinAttempts {
			if _, err = c.peers[i].ml.Load().Join([]string{seeds[(i+a)%k]}); err == nil {
				return nil
			}
		}
		return err
	})
}

// joinAttempts bounds memberlist's Join retries in JoinAll.
const joinAttempts = 4

// KnowsAll: NumMembers counts the nodes neither dead nor left (alive or
// suspect), the local one included.
func (c *mlCluster) KnowsAll(i int) bool { return c.peers[i].ml.Load().NumMembers() == len(c.peers) }

func (c *mlCluster) Knows(i int, name string) bool {
	for _, m := range c.peers[i].ml.Load().Members() {
		if m.Name == name {
			return true
		}
	}
	return false
}

// Publish queues the update for gossip from peer i.
func (c *mlCluster) Publish(i int, id string) error {
	c.peers[i].accept(id, false)
	return nil
}

// Crash shuts peer i down without Leave: its sockets close and it sends no
// dead message about itself, so the others must detect the failure.
func (c *mlCluster) Crash(i int) error { return c.peers[i].ml.Load().Shutdown() }

func (c *mlCluster) BytesSent(i int) uint64 { return c.peers[i].tr.BytesSent() }

func (c *mlCluster) Close() {
	closeAll(len(c.peers), func(i int) {
		if p := c.peers[i]; p != nil {
			_ = p.ml.Load().Shutdown()
		}
	})
}

// accept takes an update the first time this peer sees it: reports it
// (unless published here) and queues it for gossip, so every receiver
// forwards it as memberlist forwards its own membership news.
func (p *mlPeer) accept(id string, received bool) {
	p.mu.Lock()
	seen := p.held[id]
	p.held[id] = true
	p.mu.Unlock()
	if seen {
		return
	}
	if received {
		p.obs.Delivered(p.index, id)
	}
	p.queue.QueueBroadcast(update(message(id)))
}

// message is an update on the wire: "id=value", the same key and value
// bytes as Telepathine's Set.
func message(id string) string { return id + "=" + updateValue.String() }

// update is a queued broadcast. Updates have distinct ids: none
// invalidates another.
type update string

func (u update) Invalidates(memberlist.Broadcast) bool { return false }
func (u update) Message() []byte                       { return []byte(u) }
func (u update) Finished()                             {}

// mlDelegate is the peer as memberlist's Delegate: user messages in and out,
// and the updates held as the user state of push-pull.
type mlDelegate mlPeer

func (d *mlDelegate) NodeMeta(int) []byte { return nil }

// NotifyMsg gets an update gossiped by another peer. It runs on
// memberlist's packet goroutine: it must not block, and b is reused after.
func (d *mlDelegate) NotifyMsg(b []byte) {
	id, _, _ := strings.Cut(string(b), "=")
	(*mlPeer)(d).accept(id, true)
}

func (d *mlDelegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.queue.GetBroadcasts(overhead, limit)
}

// LocalState sends the updates held with each push-pull, so the periodic
// anti-entropy repairs what gossip missed.
func (d *mlDelegate) LocalState(bool) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	lines := make([]string, 0, len(d.held))
	for id := range d.held {
		lines = append(lines, message(id))
	}
	return []byte(strings.Join(lines, "\n"))
}

func (d *mlDelegate) MergeRemoteState(buf []byte, _ bool) {
	if len(buf) == 0 {
		return
	}
	for line := range strings.SplitSeq(string(buf), "\n") {
		id, _, _ := strings.Cut(line, "=")
		(*mlPeer)(d).accept(id, true)
	}
}

// mlEvents is the peer as memberlist's EventDelegate: NotifyLeave is
// memberlist declaring a node dead (or gone, but nobody leaves here).
type mlEvents mlPeer

func (e *mlEvents) NotifyJoin(*memberlist.Node)   {}
func (e *mlEvents) NotifyUpdate(*memberlist.Node) {}
func (e *mlEvents) NotifyLeave(n *memberlist.Node) {
	if n.Name != e.name {
		e.obs.Died(e.index, n.Name)
	}
}
