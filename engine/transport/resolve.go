package transport

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Host-name cache bounds: answers are kept long enough that gossip to a
// seed named by DNS does not query per packet, and short enough to follow a
// changed record; failures are cached briefly so a dead name does not stall
// every Send for DialTimeout.
const (
	resolveTTL         = 30 * time.Second
	resolveNegativeTTL = 5 * time.Second
	resolveCacheSize   = 1024
)

// resolver turns host:port into an address for the UDP path. IP literals are
// parsed without locking or allocating; host names go through a small cache.
type resolver struct {
	timeout time.Duration
	family  int // 4, 6 or 0 (any): the family the UDP socket can reach

	mu    sync.Mutex
	cache map[string]resolved
	// flight merges concurrent look-ups of one name (many Sends to a seed
	// named by DNS while its cache entry is cold or stale) into one query.
	flight singleflight.Group
}

type resolved struct {
	ap      netip.AddrPort
	err     error
	expires time.Time
}

func (r *resolver) resolve(ctx context.Context, addr string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	host, port, err := splitAddr(addr)
	if err != nil {
		return netip.AddrPort{}, err
	}
	now := time.Now()
	r.mu.Lock()
	e, ok := r.cache[host]
	r.mu.Unlock()
	if !ok || now.After(e.expires) {
		v, _, _ := r.flight.Do(host, func() (any, error) { return r.lookup(ctx, host), nil })
		e = v.(resolved)
		r.mu.Lock()
		if r.cache == nil || len(r.cache) >= resolveCacheSize {
			r.cache = make(map[string]resolved)
		}
		r.cache[host] = e
		r.mu.Unlock()
	}
	if e.err != nil {
		return netip.AddrPort{}, e.err
	}
	return netip.AddrPortFrom(e.ap.Addr(), port), nil
}

// lookup asks DNS for host and keeps the first address the socket can reach.
func (r *resolver) lookup(ctx context.Context, host string) resolved {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	now := time.Now()
	if err == nil {
		for _, ip := range ips {
			ip = ip.Unmap()
			if r.family == 0 || (r.family == 4) == ip.Is4() {
				return resolved{ap: netip.AddrPortFrom(ip, 0), expires: now.Add(resolveTTL)}
			}
		}
		err = fmt.Errorf("no IPv%d address", r.family)
	}
	if ctx.Err() != nil && ctx.Err() != context.DeadlineExceeded {
		// Cancelled by Close: do not cache a failure that says nothing about the name.
		return resolved{err: ErrClosed, expires: now}
	}
	return resolved{
		err:     fmt.Errorf("%w: %s: %v", ErrBadAddr, host, err),
		expires: now.Add(resolveNegativeTTL),
	}
}

// splitAddr checks that addr is host:port with a numeric port, without
// allocating, so that a malformed address fails in Send rather than in a
// writer goroutine.
func splitAddr(addr string) (host string, port uint16, err error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return "", 0, fmt.Errorf("%w: %q", ErrBadAddr, addr)
	}
	v, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %q", ErrBadAddr, addr)
	}
	return host, uint16(v), nil
}

// Resolver looks host names up. *net.Resolver (net.DefaultResolver)
// satisfies it; tests inject a stub.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// SeedResolver expands seed addresses given as host names into every
// address the name resolves to: a Kubernetes headless Service or a
// round-robin record names all the peers behind it, and joining through one
// of them only would make that one a single point of failure for the join.
// Concurrent look-ups of the same name share one query. Safe for concurrent
// use.
type SeedResolver struct {
	r       Resolver
	timeout time.Duration
	flight  singleflight.Group
}

// NewSeedResolver returns a SeedResolver over r (net.DefaultResolver when
// nil); each look-up is bounded by timeout (2 s when <= 0: a seed name that
// does not answer in that time is retried at the next resolution anyway).
func NewSeedResolver(r Resolver, timeout time.Duration) *SeedResolver {
	if r == nil {
		r = net.DefaultResolver
	}
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	return &SeedResolver{r: r, timeout: timeout}
}

// IsHostName reports whether addr is host:port with a host that is a name
// rather than an IP literal.
func IsHostName(addr string) bool {
	host, _, err := splitAddr(addr)
	if err != nil {
		return false
	}
	_, err = netip.ParseAddr(host)
	return err != nil
}

// Resolve expands seeds: IP literals are kept as they are; each host name
// is replaced by every address it resolves to, with its port, in the order
// DNS gave them. A name that fails to resolve is returned in failed (and
// kept out of addrs); the caller decides whether to keep trying it through
// the transport. Duplicates are removed.
func (s *SeedResolver) Resolve(ctx context.Context, seeds []string) (addrs, failed []string) {
	seen := make(map[string]bool, len(seeds))
	add := func(a string) {
		if !seen[a] {
			seen[a] = true
			addrs = append(addrs, a)
		}
	}
	for _, seed := range seeds {
		host, port, err := splitAddr(seed)
		if err != nil {
			failed = append(failed, seed)
			continue
		}
		if ip, err := netip.ParseAddr(host); err == nil {
			add(netip.AddrPortFrom(ip.Unmap(), port).String())
			continue
		}
		ips, err := s.lookup(ctx, host)
		if err != nil || len(ips) == 0 {
			failed = append(failed, seed)
			continue
		}
		for _, ip := range ips {
			add(netip.AddrPortFrom(ip.Unmap(), port).String())
		}
	}
	return addrs, failed
}

func (s *SeedResolver) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	ch := s.flight.DoChan(host, func() (any, error) {
		// The look-up is shared: bound it by its own timeout, not by the
		// context of whichever caller came first (each caller still stops
		// waiting when its own context ends, below).
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		defer cancel()
		return s.r.LookupNetIP(lctx, "ip", host)
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case res := <-ch:
		if res.Err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBadAddr, host, res.Err)
		}
		return res.Val.([]netip.Addr), nil
	}
}
