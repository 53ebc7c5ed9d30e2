package state

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// A digest cut to a few lines names the nodes whose lines changed last
// (the news a peer may lack), not only a random subset: at 200 nodes and
// 20 lines a random pick would name a given node one time in ten.
func TestCutDigestListsRecentChangesFirst(t *testing.T) {
	hub := newTestCluster("hub", 1)
	peers := make([]*Cluster, 200)
	for i := range peers {
		peers[i] = newTestCluster(fmt.Sprintf("p%d", i), 1)
		_, err := peers[i].Set("k", []byte("v"), 0, 0)
		require.NoError(t, err)
		exchange(t, peers[i], hub, t0, 1<<20)
	}
	news := peers[7]
	_, err := news.Set("k", []byte("w"), 0, 0)
	require.NoError(t, err)
	exchange(t, news, hub, t0, 1<<20)
	line := news.Self().Line()
	for seed := range uint64(50) {
		d := hub.FullDigest(20, nil, rand.New(rand.NewPCG(seed, 1)))
		require.False(t, d.Complete)
		require.Len(t, d.Entries, 20)
		require.Contains(t, d.Entries[:11], line, "seed %d", seed)
		keys := map[uint64]bool{}
		for _, e := range d.Entries {
			require.False(t, keys[e.Key], "a line listed twice")
			keys[e.Key] = true
		}
	}
	// The must lines still come first, right after self's.
	must := []DigestEntry{peers[3].Self().Line()}
	d := hub.FullDigest(20, must, rand.New(rand.NewPCG(1, 1)))
	require.Equal(t, hub.Self().Line(), d.Entries[0])
	require.Equal(t, must[0], d.Entries[1])
	require.Contains(t, d.Entries, line)
}
