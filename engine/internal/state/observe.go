package state

// Known is the highest version of the node this replica knows to exist: the
// larger of what it holds (Version), what a digest of any peer showed, and
// the end of any pushed run held back by a gap. Known - Version is how many
// of the owner's changes this replica still lacks.
func (n *Node) Known() uint64 {
	k := max(n.Version, n.seen)
	for _, r := range n.pending {
		k = max(k, r.to)
	}
	return k
}

// Each calls f for every node held, self included, in no particular order.
func (c *Cluster) Each(f func(*Node)) {
	for _, n := range c.nodes {
		f(n)
	}
}
