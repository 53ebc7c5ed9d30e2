package bridge

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	apiv1 "github.com/telepathine/telepathine/gen/api/v1"
)

// waitFor is the deadline the tests poll against; nothing sleeps as
// synchronisation.
const waitFor = 10 * time.Second

var clusterSeq atomic.Uint64

// localConfig is a serialized LOCAL-preset Config in a cluster of the
// test's own, so parallel tests never join each other.
func localConfig(t testing.TB, cluster string, mutate ...func(*apiv1.Config)) []byte {
	t.Helper()
	c := &apiv1.Config{Preset: apiv1.Preset_PRESET_LOCAL, Cluster: cluster}
	for _, m := range mutate {
		m(c)
	}
	b, err := proto.Marshal(c)
	require.NoError(t, err)
	return b
}

func newCluster(t testing.TB) string {
	return fmt.Sprintf("bridge-%s-%d", t.Name(), clusterSeq.Add(1))
}

// started creates and starts an engine whose handle is closed at the end
// of the test.
func started(t testing.TB, b *Bridge, cfg []byte) uint64 {
	t.Helper()
	h, err := b.NewEngine(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.CloseEngine(h, 0) })
	require.NoError(t, b.Start(h))
	return h
}

func info(t testing.TB, b *Bridge, h uint64) *apiv1.EngineInfo {
	t.Helper()
	raw, err := b.Info(h)
	require.NoError(t, err)
	var i apiv1.EngineInfo
	require.NoError(t, proto.Unmarshal(raw, &i))
	return &i
}

// pair starts two engines of one cluster, the second seeded with the
// first, and waits until each sees the other alive.
func pair(t testing.TB, b *Bridge, mutate ...func(*apiv1.Config)) (a, c uint64) {
	t.Helper()
	cluster := newCluster(t)
	a = started(t, b, localConfig(t, cluster, mutate...))
	addr := info(t, b, a).GetAddr()
	c = started(t, b, localConfig(t, cluster, append(mutate, func(c *apiv1.Config) { c.Seeds = []string{addr} })...))
	require.Eventually(t, func() bool {
		return len(peerList(t, b, a, LivePeers)) == 1 && len(peerList(t, b, c, LivePeers)) == 1
	}, waitFor, 5*time.Millisecond, "the two engines never saw each other alive")
	return a, c
}

func peerList(t testing.TB, b *Bridge, h uint64, which Which) []*apiv1.PeerInfo {
	t.Helper()
	raw, err := b.Peers(h, which)
	require.NoError(t, err)
	var l apiv1.PeerList
	require.NoError(t, proto.Unmarshal(raw, &l))
	return l.GetPeers()
}

func decodeEvent(t testing.TB, raw []byte) *apiv1.Event {
	t.Helper()
	var e apiv1.Event
	require.NoError(t, proto.Unmarshal(raw, &e))
	return &e
}

// requireCode asserts err's status code.
func requireCode(t testing.TB, want Code, err error) {
	t.Helper()
	got, msg := Status(err)
	require.Equal(t, want, got, "status %s, message: %s", got, msg)
}
