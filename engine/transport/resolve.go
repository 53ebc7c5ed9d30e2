package transport

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"
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
		e = r.lookup(ctx, host)
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
