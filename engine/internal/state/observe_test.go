package state

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// Known grows from a digest that shows the owner ahead and from a pushed
// run held back by a gap, and meets Version once the replica catches up.
func TestKnownTracksDigestsAndHeldBackRuns(t *testing.T) {
	a, b, c := newTestCluster("a", 1), newTestCluster("b", 1), newTestCluster("c", 1)
	exchange(t, a, b, t0, 1<<20)
	exchange(t, a, c, t0, 1<<20)
	nb, _ := b.Node("a")
	nc, _ := c.Node("a")
	require.Equal(t, a.Self().Version, nb.Version)
	require.Equal(t, nb.Version, nb.Known(), "caught up: nothing missing")

	// a changes three times; b sees only a's digest.
	var last Run
	for _, k := range []string{"k1", "k2", "k3"} {
		from := a.Self().Version
		_, err := a.Set(k, []byte("v"), EncodingText, 0)
		require.NoError(t, err)
		last = a.LocalRun(from, t0)
	}
	d := a.FullDigest(0, nil, rand.New(rand.NewPCG(1, 2)))
	b.Compare(&d, nil)
	require.Equal(t, uint64(3), nb.Known()-nb.Version, "three changes known, not held")

	// c gets only the push of the last change: held back behind the gap.
	nd := last.NodeDelta()
	_, _, err := c.Apply(&Delta{Nodes: []NodeDelta{nd}}, t0, true, nil, nil)
	require.NoError(t, err)
	require.Equal(t, a.Self().Version, nc.Known())
	require.Equal(t, uint64(3), nc.Known()-nc.Version)

	exchange(t, b, a, t0, 1<<20)
	exchange(t, c, a, t0, 1<<20)
	require.Equal(t, nb.Version, nb.Known(), "caught up again")
	require.Equal(t, nc.Version, nc.Known())
	require.Equal(t, a.Self().Version, nc.Version)
}
