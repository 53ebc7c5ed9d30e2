package engine

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// STAND-IN test of the stand-in config_security.go (see there): H11's tests
// replace it at merge.

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestKeyringRulesStandIn(t *testing.T) {
	cfg := LocalConfig()
	cfg.Security.Keys = [][]byte{key(1), key(2)}
	p, err := New(cfg)
	require.NoError(t, err)
	assert.Equal(t, [][]byte{key(1), key(2)}, p.ClusterKeys())

	assert.ErrorIs(t, p.InstallKey(key(3)[:31]), ErrInvalidKeyMaterial)
	assert.ErrorIs(t, p.InstallKey(nil), ErrInvalidKeyMaterial)
	require.NoError(t, p.InstallKey(key(3)))
	require.NoError(t, p.InstallKey(key(3)), "installing twice is harmless")
	assert.ErrorIs(t, p.UseKey(key(4)), ErrUnknownKeyID)
	require.NoError(t, p.UseKey(key(3)))
	assert.Equal(t, [][]byte{key(3), key(1), key(2)}, p.ClusterKeys())
	assert.ErrorIs(t, p.RemoveKey(key(3)), ErrPrimaryKey)
	require.NoError(t, p.RemoveKey(key(1)))
	assert.ErrorIs(t, p.RemoveKey(key(1)), ErrUnknownKeyID)
	assert.Equal(t, [][]byte{key(3), key(2)}, p.ClusterKeys())
	p.ClusterKeys()[0][0] = 9 // a copy
	assert.Equal(t, key(3), p.ClusterKeys()[0])

	require.NoError(t, p.SetPlaintext(true, true))
	assert.ErrorIs(t, p.SetPlaintext(false, true), ErrInvalidArgument)

	require.NoError(t, p.Close())
	assert.ErrorIs(t, p.InstallKey(key(5)), ErrClosed)
	assert.ErrorIs(t, p.SetPlaintext(false, false), ErrClosed)
	assert.Nil(t, p.ClusterKeys())
}

func TestNetworkKeyIsPrimaryStandIn(t *testing.T) {
	cfg := LocalConfig()
	cfg.Cluster = "c1"
	cfg.Security.NetworkKey = "correct horse"
	cfg.Security.Keys = [][]byte{key(7)}
	p, err := New(cfg)
	require.NoError(t, err)
	defer p.Close()
	derived := KeyFromPassphrase("c1", "correct horse")
	require.Len(t, derived, 32)
	assert.Equal(t, [][]byte{derived, key(7)}, p.ClusterKeys())
	assert.NotEqual(t, derived, KeyFromPassphrase("c2", "correct horse"), "the cluster salts the key")
	assert.Nil(t, KeyFromPassphrase("c1", ""))
}

func TestParseKey(t *testing.T) {
	k := key(0xfb)
	for _, s := range []string{
		base64.StdEncoding.EncodeToString(k), base64.RawStdEncoding.EncodeToString(k),
		base64.URLEncoding.EncodeToString(k), base64.RawURLEncoding.EncodeToString(k),
		hex.EncodeToString(k), " " + hex.EncodeToString(k) + "\n",
	} {
		got, err := ParseKey(s)
		require.NoError(t, err, s)
		assert.Equal(t, k, got, s)
	}
	for _, s := range []string{"", "zz", base64.StdEncoding.EncodeToString(k[:16]), hex.EncodeToString(k[:31])} {
		_, err := ParseKey(s)
		assert.ErrorIs(t, err, ErrInvalidKeyMaterial, s)
	}
}
