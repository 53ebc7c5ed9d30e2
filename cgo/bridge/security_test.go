package bridge

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/telepathine/telepathine/engine"
	apiv1 "github.com/telepathine/telepathine/gen/api/v1"
)

func clusterKey(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func keyring(t *testing.T, b *Bridge, h uint64) [][]byte {
	t.Helper()
	raw, err := b.Keys(h)
	require.NoError(t, err)
	var kr apiv1.Keyring
	require.NoError(t, proto.Unmarshal(raw, &kr))
	return kr.GetKeys()
}

func TestSecurityConfigReachesTheEngine(t *testing.T) {
	k1, k2 := clusterKey(1), clusterKey(2)
	c := &apiv1.Config{
		Keys: [][]byte{k1, k2}, NetworkKey: "pass", AcceptPlaintext: true, SendPlaintext: true, StateDir: "/var/lib/tp",
	}
	b, err := proto.Marshal(c)
	require.NoError(t, err)
	cfg, err := ConfigFromProto(b)
	require.NoError(t, err)
	assert.Equal(t, engine.SecurityConfig{
		Keys: [][]byte{k1, k2}, NetworkKey: "pass", AcceptPlaintext: true, SendPlaintext: true, StateDir: "/var/lib/tp",
	}, cfg.Security)
	c.Keys[0][0] = 9 // the engine's copy is its own
	assert.Equal(t, byte(1), cfg.Security.Keys[0][0])
}

func TestKeyringThroughTheBridge(t *testing.T) {
	b := New()
	h, err := b.NewEngine(localConfig(t, newCluster(t), func(c *apiv1.Config) { c.Keys = [][]byte{clusterKey(1)} }))
	require.NoError(t, err)
	assert.Equal(t, [][]byte{clusterKey(1)}, keyring(t, b, h))

	in := clusterKey(2)
	require.NoError(t, b.InstallKey(h, in))
	in[0] = 7 // borrowed: the bridge kept a copy
	require.NoError(t, b.UseKey(h, clusterKey(2)))
	assert.Equal(t, [][]byte{clusterKey(2), clusterKey(1)}, keyring(t, b, h))

	requireCode(t, ErrKeyMaterial, b.InstallKey(h, make([]byte, 31)))
	requireCode(t, ErrKeyMaterial, b.InstallKey(h, nil))
	requireCode(t, ErrKeyMaterial, b.UseKey(h, make([]byte, 33)))
	requireCode(t, ErrPrimaryKey, b.RemoveKey(h, clusterKey(2)))
	requireCode(t, ErrKeyNotInstalled, b.UseKey(h, clusterKey(3)))
	requireCode(t, ErrKeyNotInstalled, b.RemoveKey(h, clusterKey(3)))
	require.NoError(t, b.RemoveKey(h, clusterKey(1)))
	assert.Equal(t, [][]byte{clusterKey(2)}, keyring(t, b, h))
	require.NoError(t, b.SetPlaintext(h, true, false))

	require.NoError(t, b.CloseEngine(h, 0))
	requireCode(t, ErrClosed, b.InstallKey(h, clusterKey(4)))
	requireCode(t, ErrClosed, b.SetPlaintext(h, false, false))
	_, err = b.Keys(h)
	requireCode(t, ErrClosed, err)
	requireCode(t, ErrHandle, b.UseKey(0, clusterKey(1)))
	_, err = b.Keys(12345)
	requireCode(t, ErrHandle, err)
}

func TestStatsCarryDropCauses(t *testing.T) {
	s := StatsToProto(engine.Stats{Malformed: 3, ForeignCluster: 2})
	assert.Equal(t, uint64(3), s.GetDrops()["malformed"])
	assert.Equal(t, uint64(2), s.GetDrops()["foreign_cluster"])
	assert.Equal(t, len(engine.Stats{}.DropCauses()), len(s.GetDrops()), "every cause, zero ones included")
}

func TestIdentityConfigReachesTheEngine(t *testing.T) {
	seed := bytes.Repeat([]byte{5}, 32)
	c := &apiv1.Config{IdentityKeyFile: "/etc/tp/identity.key", IdentityKey: seed, AllowKeys: "/etc/tp/peers", Tofu: true}
	b, err := proto.Marshal(c)
	require.NoError(t, err)
	cfg, err := ConfigFromProto(b)
	require.NoError(t, err)
	assert.Equal(t, engine.IdentityConfig{KeyFile: "/etc/tp/identity.key", Key: seed, AllowList: "/etc/tp/peers", TOFU: true}, cfg.Identity)
	c.IdentityKey[0] = 9 // the engine's copy is its own
	assert.Equal(t, byte(5), cfg.Identity.Key[0])

	// An engine in identity mode from key bytes alone, and a clear refusal
	// of a junk key.
	br := New()
	h, err := br.NewEngine(localConfig(t, newCluster(t), func(c *apiv1.Config) { c.IdentityKey, c.Tofu = seed, true }))
	require.NoError(t, err)
	require.NoError(t, br.CloseEngine(h, 0))
	_, err = br.NewEngine(localConfig(t, newCluster(t), func(c *apiv1.Config) { c.IdentityKey, c.Tofu = []byte("junk"), true }))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "identity")
}
