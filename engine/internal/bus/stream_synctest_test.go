package bus

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A Next that is waiting (not one that comes after) wakes with ErrClosed
// when the stream is closed, and with the event when one is emitted.
// synctest.Wait returns only once the reader is durably blocked in Next,
// so the path under test is the one taken, with no sleep.
func TestStreamNextWakesOnClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBus(16)
		s := b.Stream("**", 4)
		type result struct {
			ev  *ev
			err error
		}
		got := make(chan result, 1)
		next := func() {
			e, err := s.Next(context.Background())
			got <- result{e, err}
		}

		go next()
		synctest.Wait() // the reader waits in Next
		require.Empty(t, got, "nothing to return yet")
		b.Emit(newEv("x", "peer:new"))
		r := <-got
		require.NoError(t, r.err)
		assert.Equal(t, "x", r.ev.data)

		go next()
		synctest.Wait()
		require.Empty(t, got)
		s.Close()
		assert.ErrorIs(t, (<-got).err, ErrClosed)
	})
}
