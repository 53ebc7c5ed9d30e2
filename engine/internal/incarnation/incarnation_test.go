package incarnation

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Unix(1_780_000_000, 0)

// The case: the clock steps back an hour between two starts. With a
// state directory, the restart's generation still exceeds the previous one.
func TestClockSteppedBackOneHour(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	first, err := Next(dir, t0)
	require.NoError(t, err)
	assert.Equal(t, uint64(t0.UnixNano()), first)

	second, err := Next(dir, t0.Add(-time.Hour))
	require.NoError(t, err)
	assert.Equal(t, first+1, second, "restarts always win")

	third, err := Next(dir, t0.Add(-time.Hour+time.Second))
	require.NoError(t, err)
	assert.Equal(t, second+1, third)

	// Once the clock is ahead again, the clock wins.
	fourth, err := Next(dir, t0.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, uint64(t0.Add(time.Hour).UnixNano()), fourth)
	last, err := Last(dir)
	require.NoError(t, err)
	assert.Equal(t, fourth, last)
}

// Without a directory the clock alone decides, so a step back loses: the
// documented limitation.
func TestNoDirectoryIsTheClock(t *testing.T) {
	first, err := Next("", t0)
	require.NoError(t, err)
	second, err := Next("", t0.Add(-time.Hour))
	require.NoError(t, err)
	assert.Less(t, second, first)
	g, err := Next("", time.Unix(0, -5))
	require.NoError(t, err)
	assert.Equal(t, uint64(1), g, "never zero, never negative")
}

func TestCorruptFileRefused(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, FileName), []byte("12ab"), 0o600))
	_, err := Next(dir, t0)
	assert.ErrorContains(t, err, "corrupt")
}

func TestNoTemporaryFilesLeft(t *testing.T) {
	dir := t.TempDir()
	for i := range 5 {
		_, err := Next(dir, t0.Add(-time.Duration(i)*time.Minute))
		require.NoError(t, err)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, FileName, entries[0].Name())
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	require.NoError(t, err)
	assert.Equal(t, "1780000000000000004\n", string(b))
}

func TestUnwritableDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	_, err := Next(filepath.Join(file, "sub"), t0)
	assert.Error(t, err)
}

func TestMaximumRefused(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, FileName), []byte("18446744073709551615\n"), 0o600))
	_, err := Next(dir, t0)
	assert.Error(t, err)
}
