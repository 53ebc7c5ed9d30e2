package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/telepathine/telepathine/engine"
)

// b knows a only under an address nobody listens at (TEST-NET-1): the map
// sends those packets to a's real address, and the two peers join.
func TestAddressMapTranslatesWhenSending(t *testing.T) {
	ctx := context.Background()
	cfg := engine.LocalConfig()
	a, err := engine.New(cfg)
	require.NoError(t, err)
	require.NoError(t, a.Start(ctx))
	t.Cleanup(func() { _ = a.Close() })

	const unreachable = "192.0.2.1:7946"
	cfgB := engine.LocalConfig()
	cfgB.Seeds = []string{unreachable}
	cfgB.AddressMap = map[string]string{unreachable: a.Addr()}
	b, err := engine.New(cfgB)
	require.NoError(t, err)
	cfgB.AddressMap[unreachable] = "192.0.2.2:1" // the peer kept its own copy
	require.NoError(t, b.Start(ctx))
	t.Cleanup(func() { _ = b.Close() })

	require.NoError(t, a.Set("k", engine.String("v")))
	require.Eventually(t, func() bool {
		kv, err := b.Lookup(a.Name(), "k")
		return err == nil && kv.Value.String() == "v"
	}, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, a.Addr(), b.Config().AddressMap[unreachable])
}

func TestAddressMapRejectsWhatIsNotHostPort(t *testing.T) {
	for _, m := range []map[string]string{
		{"no-port": "127.0.0.1:1"},
		{"127.0.0.1:1": "no-port"},
	} {
		cfg := engine.LocalConfig()
		cfg.AddressMap = m
		_, err := engine.New(cfg)
		require.ErrorIs(t, err, engine.ErrConfig, "%v", m)
	}
}
