package transport

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// stubResolver answers from a table; block, when set, holds every look-up
// until closed.
type stubResolver struct {
	mu    sync.Mutex
	table map[string][]string
	calls atomic.Int32
	block chan struct{}
}

func (s *stubResolver) LookupNetIP(ctx context.Context, _, host string) ([]netip.Addr, error) {
	s.calls.Add(1)
	if s.block != nil {
		select {
		case <-s.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ips, ok := s.table[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	out := make([]netip.Addr, len(ips))
	for i, ip := range ips {
		out[i] = netip.MustParseAddr(ip)
	}
	return out, nil
}

func TestSeedResolverExpandsEveryAddress(t *testing.T) {
	stub := &stubResolver{table: map[string][]string{
		"peers.svc": {"10.1.0.1", "10.1.0.2", "::ffff:10.1.0.3"},
		"other":     {"10.1.0.2"},
	}}
	r := NewSeedResolver(stub, time.Second)
	addrs, failed := r.Resolve(context.Background(),
		[]string{"peers.svc:7946", "10.9.9.9:7000", "other:7946", "gone.svc:7946", "no-port"})
	require.Equal(t, []string{"10.1.0.1:7946", "10.1.0.2:7946", "10.1.0.3:7946", "10.9.9.9:7000"}, addrs,
		"every address of a name, IP literals kept, duplicates removed, v4-mapped unmapped")
	require.Equal(t, []string{"gone.svc:7946", "no-port"}, failed)
	require.True(t, IsHostName("peers.svc:7946"))
	require.False(t, IsHostName("10.1.0.1:7946"))
	require.False(t, IsHostName("[::1]:7946"))
}

func TestSeedResolverSharesConcurrentLookups(t *testing.T) {
	stub := &stubResolver{table: map[string][]string{"peers.svc": {"10.1.0.1"}}, block: make(chan struct{})}
	r := NewSeedResolver(stub, 5*time.Second)
	var wg sync.WaitGroup
	results := make([][]string, 8)
	var started atomic.Int32
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started.Add(1)
			results[i], _ = r.Resolve(context.Background(), []string{"peers.svc:7946"})
		}()
	}
	// Wait until every caller started and a look-up is in flight, then let
	// it answer: callers that joined it get its answer without a query.
	require.Eventually(t, func() bool { return started.Load() == 8 && stub.calls.Load() >= 1 }, 5*time.Second, time.Millisecond)
	close(stub.block)
	wg.Wait()
	for _, res := range results {
		require.Equal(t, []string{"10.1.0.1:7946"}, res)
	}
	require.Less(t, stub.calls.Load(), int32(8), "concurrent look-ups of one name are merged")
}

func TestSeedResolverHonoursContext(t *testing.T) {
	stub := &stubResolver{table: map[string][]string{"slow": {"10.1.0.1"}}, block: make(chan struct{})}
	defer close(stub.block)
	r := NewSeedResolver(stub, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan []string)
	go func() {
		_, failed := r.Resolve(ctx, []string{"slow:1"})
		done <- failed
	}()
	require.Eventually(t, func() bool { return stub.calls.Load() == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	select {
	case failed := <-done:
		require.Equal(t, []string{"slow:1"}, failed)
	case <-time.After(5 * time.Second):
		t.Fatal("Resolve did not return when its context ended")
	}
}
