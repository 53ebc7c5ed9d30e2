package bridge

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHandleTable(t *testing.T) {
	tb := newTable()
	e, err := tb.add(kindEngine, "engine")
	require.NoError(t, err)
	s, err := tb.add(kindSubscription, "sub")
	require.NoError(t, err)
	assert.NotZero(t, e)
	assert.NotEqual(t, e, s)
	assert.Equal(t, kindEngine, kind(e&kindMask))
	assert.Equal(t, kindSubscription, kind(s&kindMask))

	v, err := get[string](tb, e, kindEngine)
	require.NoError(t, err)
	assert.Equal(t, "engine", v)

	_, err = get[string](tb, 0, kindEngine)
	requireCode(t, ErrHandle, err)
	_, err = get[string](tb, s, kindEngine) // a subscription is not an engine
	requireCode(t, ErrHandle, err)
	assert.Contains(t, err.Error(), "wrong kind")
	_, err = get[string](tb, 1000<<kindBits|uint64(kindEngine), kindEngine) // never issued
	requireCode(t, ErrHandle, err)
	assert.Contains(t, err.Error(), "unknown")

	// take: the first close gets the object, the next ones nothing, no error.
	v, ok, err := take[string](tb, e, kindEngine)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "engine", v)
	_, ok, err = take[string](tb, e, kindEngine)
	require.NoError(t, err)
	assert.False(t, ok)
	_, ok, err = take[string](tb, 0, kindEngine)
	require.NoError(t, err)
	assert.False(t, ok)
	_, err = get[string](tb, e, kindEngine)
	requireCode(t, ErrClosed, err)

	// Closing a handle never issued, or of another kind, is an error.
	_, _, err = take[string](tb, 1000<<kindBits|uint64(kindEngine), kindEngine)
	requireCode(t, ErrHandle, err)
	_, _, err = take[string](tb, s, kindEvents)
	requireCode(t, ErrHandle, err)
	// A closed handle of the wrong kind is still recognised as such.
	_, _, err = take[string](tb, s, kindSubscription)
	require.NoError(t, err)
	_, err = get[string](tb, s, kindEngine)
	requireCode(t, ErrHandle, err)
	assert.Equal(t, 0, tb.live())
}

func TestHandlesAreNeverReusedAndFitJavaScript(t *testing.T) {
	tb := newTable()
	seen := map[uint64]bool{}
	for range 1000 {
		h, err := tb.add(kindEvents, 1)
		require.NoError(t, err)
		require.False(t, seen[h])
		seen[h] = true
		_, ok, err := take[int](tb, h, kindEvents)
		require.NoError(t, err)
		require.True(t, ok)
	}
	tb.next = maxSerial - 1
	h, err := tb.add(kindEngine, 1)
	require.NoError(t, err)
	assert.Less(t, h, uint64(1)<<53)
	_, err = tb.add(kindEngine, 1)
	requireCode(t, ErrInternal, err)
}

func TestHandleTableConcurrent(t *testing.T) {
	tb := newTable()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 500 {
				h, err := tb.add(kindEngine, 1)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := get[int](tb, h, kindEngine); err != nil {
					t.Error(err)
				}
				_, _, _ = take[int](tb, h, kindEngine)
				_, _, _ = take[int](tb, h, kindEngine)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 0, tb.live())
}
