package protocol

import (
	"sort"

	"github.com/telepathine/telepathine/engine/internal/state"
	"github.com/telepathine/telepathine/engine/internal/wire"
)

// PushQueue returns the pushes waiting to be sent: runs of entries and
// their bytes (bounded by Config.PushQueueBytes).
func (c *Core) PushQueue() (runs, bytes int) { return len(c.push.items), c.push.bytes }

// Replica is this replica's view of one other peer's state.
type Replica struct {
	Peer string
	// Held is the highest version held with nothing missing below it.
	Held uint64
	// Known is the highest version known to exist (digests, held-back
	// pushes): Known - Held changes are still missing here.
	Known uint64
}

// Replicas returns the replication state of every other peer held, sorted
// by name.
func (c *Core) Replicas() []Replica {
	if c.st == nil {
		return nil
	}
	self := c.st.Self()
	var out []Replica
	c.st.Each(func(n *state.Node) {
		if n != self {
			out = append(out, Replica{Peer: n.ID.Name, Held: n.Version, Known: n.Known()})
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Peer < out[j].Peer })
	return out
}

// SetSeeds replaces the seed addresses (a DNS seed name resolved anew).
func (c *Core) SetSeeds(addrs []string) {
	seeds := make(map[string]bool, len(addrs))
	for _, a := range addrs {
		if a != c.id.Addr {
			seeds[a] = true
		}
	}
	c.seeds = seeds
}

// SeedAnswers reports whether some seed is a live peer: the cluster is then
// reachable through the seeds.
func (c *Core) SeedAnswers() bool {
	for _, a := range c.liveAddrs() {
		if c.seeds[a] {
			return true
		}
	}
	return false
}

// ProbeSeeds sends a Syn with the full digest to each of addrs that is not
// a live peer: a seed name may stand for groups of peers that do not know
// each other yet, and the rounds contact one seed at a time.
func (c *Core) ProbeSeeds(addrs []string) Output {
	var out Output
	if !c.running || len(addrs) == 0 {
		return out
	}
	live := make(map[string]bool)
	for _, a := range c.liveAddrs() {
		live[a] = true
	}
	var digest *state.Digest
	for _, a := range addrs {
		if live[a] || a == c.id.Addr {
			continue
		}
		if digest == nil {
			d := c.st.FullDigest(c.DigestLines(), nil, c.rng)
			digest = &d
		}
		out.send(a, c.stamp(&wire.Packet{Type: wire.Syn, Digest: *digest}))
	}
	return out
}
