package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine"
)

// `identity new` writes a key pair the agent's flags accept, and an agent
// runs in identity mode with it.
func TestCLIIdentityNewAndAgentFlags(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	require.Equal(t, 0, run([]string{"identity", "new", "--out", dir}, &out, &errb), errb.String())
	assert.Contains(t, out.String(), "identity.key")
	assert.Contains(t, out.String(), "allow-list line: NAME ")
	st, err := os.Stat(filepath.Join(dir, "identity.key"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	out.Reset()
	errb.Reset()
	assert.Equal(t, 1, run([]string{"identity", "new", "--out", dir}, &out, &errb), "an existing key is never overwritten")
	assert.Equal(t, 1, run([]string{"identity"}, &out, &errb))

	// An allow-list file naming this peer, built from the printed line.
	fs, _ := newFlags("agent")
	idf := addIdentityFlags(fs)
	require.NoError(t, fs.Parse([]string{"--identity-key", filepath.Join(dir, "identity.key"), "--tofu"}))
	cfg := engine.LocalConfig()
	idf.apply(&cfg)
	assert.True(t, cfg.Identity.Enabled())
	assert.True(t, cfg.Identity.TOFU)

	a := startAgentWith(t, func(c *engine.Config) { c.Identity = cfg.Identity })
	o, code := tp(t, a, "set", "k", "v")
	require.Equal(t, 0, code, o)
	o, code = tp(t, a, "get", "k")
	require.Equal(t, 0, code, o)
	assert.Equal(t, "v", strings.TrimSpace(o))
}
