// Package incarnation chooses a peer's generation at start-up so that a
// restart always wins over the previous incarnation, even when the clock
// stepped back between the two (issue 11, item 6).
//
// The generation is max(now in ns since the Unix epoch, last + 1), where
// last is the generation the previous start persisted in the state
// directory. Without a state directory the generation is the clock alone:
// a restart after the clock stepped back by d gets a generation below its
// previous one, and the other peers ignore it until the clock passes the old
// generation (up to d later) or they forget the old incarnation. Configure a
// state directory wherever clocks can step back (no NTP slew, VM restores).
package incarnation

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// FileName is the file in the state directory holding the last generation,
// as decimal text (readable and editable by an operator).
const FileName = "generation"

// Next returns the generation of this start and, with a non-empty dir,
// persists it before returning: the write goes to a temporary file that is
// synced and renamed over FileName, and the directory is synced, so after a
// crash the file holds either the old or the new generation, never a torn
// one. The directory is created if missing. Only one process may use a
// state directory at a time.
func Next(dir string, now time.Time) (uint64, error) {
	gen := uint64(max(now.UnixNano(), 1))
	if dir == "" {
		return gen, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, fmt.Errorf("incarnation: state directory: %w", err)
	}
	last, err := Last(dir)
	if err != nil {
		return 0, err
	}
	if last == math.MaxUint64 {
		return 0, errors.New("incarnation: the persisted generation is at its maximum")
	}
	gen = max(gen, last+1)
	if err := persist(dir, gen); err != nil {
		return 0, err
	}
	return gen, nil
}

// Last returns the generation persisted in dir, or 0 when there is none.
func Last(dir string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("incarnation: %w", err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		// Refuse rather than guess: starting with a generation lower than the
		// last one is exactly what this package prevents.
		return 0, fmt.Errorf("incarnation: %s is corrupt: %w", filepath.Join(dir, FileName), err)
	}
	return v, nil
}

func persist(dir string, gen uint64) (err error) {
	tmp, err := os.CreateTemp(dir, FileName+".tmp-*")
	if err != nil {
		return fmt.Errorf("incarnation: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.WriteString(strconv.FormatUint(gen, 10) + "\n"); err != nil {
		return fmt.Errorf("incarnation: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("incarnation: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("incarnation: %w", err)
	}
	if err = os.Rename(tmp.Name(), filepath.Join(dir, FileName)); err != nil {
		return fmt.Errorf("incarnation: %w", err)
	}
	// The rename is durable only once the directory entry is.
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("incarnation: %w", err)
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("incarnation: %w", err)
	}
	return nil
}
