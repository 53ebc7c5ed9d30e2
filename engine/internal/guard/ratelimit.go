package guard

import (
	"container/list"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of LimitConfig.
const (
	// DefaultLimitSources bounds the per-source limiters kept.
	DefaultLimitSources = 4096
	// DefaultLimitIdle drops a source's limiter after this long unused: by
	// then its bucket is full again anyway for any rate above Burst/Idle, so
	// forgetting it changes nothing.
	DefaultLimitIdle = time.Minute
)

// LimitConfig configures a Limiter.
type LimitConfig struct {
	// Rate and Burst are each source's token bucket (events per second, and
	// the most at once). Rate 0 refuses everything once Burst is spent.
	Rate  rate.Limit
	Burst int
	// GlobalRate and GlobalBurst bound all sources together; a forged-source
	// flood gets a fresh bucket per address, so the per-source limit alone
	// bounds nothing. GlobalRate 0 means no global limit.
	GlobalRate  rate.Limit
	GlobalBurst int
	// Sources bounds the limiters kept (least recently used evicted first).
	// Default DefaultLimitSources.
	Sources int
	// Idle drops limiters unused for this long. Default DefaultLimitIdle.
	Idle time.Duration
}

// Limiter is a token bucket per source (golang.org/x/time/rate) in a bounded
// table, plus an optional global bucket. Use one for BadCluster replies, one
// for new peers introduced per source, and so on.
type Limiter struct {
	cfg    LimitConfig
	global *rate.Limiter

	mu      sync.Mutex
	sources map[string]*list.Element // of *limitEntry
	lru     list.List                // front: most recently used
	stats   LimitStats
}

type limitEntry struct {
	src      string
	lim      *rate.Limiter
	lastUsed time.Time
}

// LimitStats counts a Limiter's decisions.
type LimitStats struct {
	Allowed, Refused uint64
	// RefusedGlobal counts refusals by the global bucket (included in Refused).
	RefusedGlobal uint64
	Evicted       uint64
}

// NewLimiter returns an empty Limiter.
func NewLimiter(cfg LimitConfig) *Limiter {
	if cfg.Sources <= 0 {
		cfg.Sources = DefaultLimitSources
	}
	if cfg.Idle <= 0 {
		cfg.Idle = DefaultLimitIdle
	}
	l := &Limiter{cfg: cfg, sources: make(map[string]*list.Element)}
	if cfg.GlobalRate > 0 {
		l.global = rate.NewLimiter(cfg.GlobalRate, max(cfg.GlobalBurst, 1))
	}
	return l
}

// Allow takes one token of src's bucket at now.
func (l *Limiter) Allow(src string, now time.Time) bool { return l.AllowN(src, 1, now) == 1 }

// AllowN takes up to n tokens of src's bucket (and of the global one) at now,
// and returns how many it took: a caller with n candidates admits that many.
func (l *Limiter) AllowN(src string, n int, now time.Time) int {
	if n <= 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.limiter(src, now)
	ok := min(n, int(lim.TokensAt(now)))
	if l.global != nil {
		if g := min(ok, int(l.global.TokensAt(now))); g < ok {
			l.stats.RefusedGlobal += uint64(ok - g)
			ok = g
		}
		if ok > 0 {
			l.global.AllowN(now, ok)
		}
	}
	if ok > 0 {
		lim.AllowN(now, ok)
	}
	l.stats.Allowed += uint64(ok)
	l.stats.Refused += uint64(n - ok)
	return ok
}

// AllowGlobal takes one token of the global bucket only, at now: for a
// source trusted beyond a source's bucket, which the global bound still
// holds. Without a global bucket it allows everything.
func (l *Limiter) AllowGlobal(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.global != nil && !l.global.AllowN(now, 1) {
		l.stats.RefusedGlobal++
		l.stats.Refused++
		return false
	}
	l.stats.Allowed++
	return true
}

func (l *Limiter) limiter(src string, now time.Time) *rate.Limiter {
	// Drop limiters idle for too long, oldest first, so that the table
	// holds the sources of the last Idle only.
	for back := l.lru.Back(); back != nil; back = l.lru.Back() {
		e := back.Value.(*limitEntry)
		if now.Sub(e.lastUsed) < l.cfg.Idle || e.src == src {
			break
		}
		l.drop(back)
	}
	if el, ok := l.sources[src]; ok {
		e := el.Value.(*limitEntry)
		e.lastUsed = now
		l.lru.MoveToFront(el)
		return e.lim
	}
	if l.lru.Len() >= l.cfg.Sources {
		l.drop(l.lru.Back())
	}
	e := &limitEntry{src: src, lim: rate.NewLimiter(l.cfg.Rate, l.cfg.Burst), lastUsed: now}
	l.sources[src] = l.lru.PushFront(e)
	return e.lim
}

func (l *Limiter) drop(el *list.Element) {
	delete(l.sources, el.Value.(*limitEntry).src)
	l.lru.Remove(el)
	l.stats.Evicted++
}

// Len returns the number of sources tracked.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

// Stats returns the counters.
func (l *Limiter) Stats() LimitStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

// DefaultMaxNewPeersPerPacket is K of PeerAdmission: a real packet introduces
// a handful of peers (a join, a digest after a partition); a packet naming
// hundreds is a table-filling attempt.
const DefaultMaxNewPeersPerPacket = 8

// PeerAdmission bounds how fast strangers enter the peer table: at most
// PerPacket new peers from one packet, and at most the per-source (and global)
// rate of its Limiter. Before it, 513 datagrams filled a 4,096-peer table.
type PeerAdmission struct {
	// PerPacket is K; 0 means DefaultMaxNewPeersPerPacket.
	PerPacket int
	// Limiter meters new peers per source per second.
	Limiter *Limiter
}

// Admit returns how many of the candidates new peers a packet from src may
// introduce at now: the caller admits that many (the first ones) and counts
// the rest as refused.
func (p PeerAdmission) Admit(src string, candidates int, now time.Time) int {
	k := p.PerPacket
	if k <= 0 {
		k = DefaultMaxNewPeersPerPacket
	}
	n := min(candidates, k)
	if n <= 0 {
		return 0
	}
	if p.Limiter != nil {
		n = p.Limiter.AllowN(src, n, now)
	}
	return n
}
