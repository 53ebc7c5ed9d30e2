package engine

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine/transport"
)

// failingTransport is an in-memory endpoint whose Start fails the first
// time, as a socket that cannot be bound would.
type failingTransport struct {
	transport.Transport
	fail   *atomic.Bool
	closed *atomic.Int32
}

var errNoStart = errors.New("cannot start")

func (f failingTransport) Start(h transport.Handler) error {
	if f.fail.CompareAndSwap(true, false) {
		return errNoStart
	}
	return f.Transport.Start(h)
}

func (f failingTransport) Close() error {
	f.closed.Add(1)
	return f.Transport.Close()
}

// A Start whose transport fails leaves nothing behind: no start event, not
// running, the transport closed; the next Start works and emits start once.
func TestFailedStartLeavesNothingBehind(t *testing.T) {
	net := transport.NewMemNetwork(transport.MemOptions{})
	var fail atomic.Bool
	var closed atomic.Int32
	fail.Store(true)
	cfg := testConfig()
	cfg.AdvertiseAddr = memAddr(0)
	cfg.Transport = func() (transport.Transport, error) {
		return failingTransport{net.Endpoint(memAddr(0), transport.UDPPreferred), &fail, &closed}, nil
	}
	p, err := New(cfg)
	require.NoError(t, err)
	defer p.Close()
	st, err := p.Events("*", 16)
	require.NoError(t, err)
	defer st.Close()

	require.ErrorIs(t, p.Start(context.Background()), errNoStart)
	assert.False(t, p.Running())
	assert.EqualValues(t, 1, closed.Load(), "the transport is closed")
	assert.ErrorIs(t, p.Say("x", String("y")), ErrNotRunning)

	require.NoError(t, p.Start(context.Background()))
	assert.True(t, p.Running())
	require.NoError(t, p.Stop(context.Background()))
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	var names []string
	for range 2 {
		e, err := st.Next(ctx)
		require.NoError(t, err)
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"start", "stop"}, names, "one start (the one that worked), then stop")
	short, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	_, err = st.Next(short)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "nothing else was emitted")
}

// Start honours its context: an ended one starts nothing.
func TestStartHonoursContext(t *testing.T) {
	p, err := New(testConfig())
	require.NoError(t, err)
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, p.Start(ctx), context.Canceled)
	assert.False(t, p.Running())
	require.NoError(t, p.Start(context.Background()))
	assert.True(t, p.Running())
}
