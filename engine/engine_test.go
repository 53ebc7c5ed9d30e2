package engine

import (
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
		v, ok := b.GetRemote(a.Name(), "color")
		return ok && v.String() == "red"
	}, "value never arrived")
	v, _ := b.GetRemote(a.Name(), "color")
	assert.Equal(t, Text, v.Encoding)
}
