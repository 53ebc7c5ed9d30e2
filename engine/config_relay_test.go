package engine

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRelayConfigDefaultsAndBounds(t *testing.T) {
	c := Config{}.withDefaults()
	require.Equal(t, 2, c.Relay.Trees, "two trees by default")
	pc := c.protocol()
	require.Equal(t, 2, pc.RelayTrees)
	require.False(t, pc.JoinPush, "the join push is off by default")

	c.Relay.JoinPush = true
	require.True(t, c.protocol().JoinPush)

	cfg := LANConfig()
	cfg.Relay.Trees = 5
	_, err := New(cfg)
	require.ErrorIs(t, err, ErrConfig, "more trees than the core accepts")
}
