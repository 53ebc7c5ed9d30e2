package guard

import (
	"container/list"
	"sync"
	"time"
)

// Defaults of AmpConfig.
const (
	// DefaultAmpFactor is QUIC's limit (RFC 9000 §8): to an address not yet
	// validated, send at most 3 times what it sent us.
	DefaultAmpFactor = 3
	// DefaultAmpUnvalidated bounds the addresses tracked before validation;
	// the least recently seen is forgotten (and so gets no credit at all, the
	// safe direction).
	DefaultAmpUnvalidated = 4096
	// DefaultAmpValidated bounds the validated addresses. They have their own
	// table so a flood of forged sources, which can never validate, cannot
	// push a real peer out.
	DefaultAmpValidated = 4096
	// DefaultAmpValidity is how long a validation lasts without a new one: an
	// address can change hands (DHCP, NAT), so proof of receiving expires.
	DefaultAmpValidity = 10 * time.Minute
)

// AmpConfig configures an Amplification. Zero values mean the defaults.
type AmpConfig struct {
	Factor      int
	Unvalidated int
	Validated   int
	Validity    time.Duration
}

// Amplification applies QUIC's anti-amplification rule per source address:
// until a round trip proves the address receives what we send (the engine
// calls Validated when an authentic reply arrives from it), the bytes sent to
// it are at most Factor times the bytes received from it. A forged source
// address therefore turns us into a reflector of at most Factor, not the
// 1,347x measured before.
type Amplification struct {
	cfg AmpConfig

	mu          sync.Mutex
	addrs       map[string]*list.Element // of *ampEntry, in one of the lists
	unvalidated list.List                // front: most recently touched
	validated   list.List
	stats       AmpStats
}

type ampEntry struct {
	addr           string
	validated      bool
	validUntil     time.Time
	received, sent uint64
}

// AmpStats counts what Amplification did.
type AmpStats struct {
	// Allowed and Refused count Allow calls; RefusedBytes the bytes refused.
	Allowed, Refused, RefusedBytes uint64
	// Evicted counts addresses forgotten to stay within the bounds.
	Evicted uint64
}

// NewAmplification returns an empty table.
func NewAmplification(cfg AmpConfig) *Amplification {
	if cfg.Factor <= 0 {
		cfg.Factor = DefaultAmpFactor
	}
	if cfg.Unvalidated <= 0 {
		cfg.Unvalidated = DefaultAmpUnvalidated
	}
	if cfg.Validated <= 0 {
		cfg.Validated = DefaultAmpValidated
	}
	if cfg.Validity <= 0 {
		cfg.Validity = DefaultAmpValidity
	}
	return &Amplification{cfg: cfg, addrs: make(map[string]*list.Element)}
}

// Received records n bytes received from addr.
func (a *Amplification) Received(addr string, n int, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.entry(addr, now, true)
	e.received += uint64(max(n, 0))
}

// Allow reports whether n more bytes may be sent to addr, and if so counts
// them as sent. A validated address is always allowed.
func (a *Amplification) Allow(addr string, n int, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.entry(addr, now, false)
	switch {
	case e != nil && e.validated:
		a.stats.Allowed++
		return true
	case e != nil && e.sent+uint64(max(n, 0)) <= uint64(a.cfg.Factor)*e.received:
		e.sent += uint64(max(n, 0))
		a.stats.Allowed++
		return true
	}
	a.stats.Refused++
	a.stats.RefusedBytes += uint64(max(n, 0))
	return false
}

// Validated records that addr proved it receives what we send (it answered
// something only a receiver could have answered), lifting the limit for
// Validity.
func (a *Amplification) Validated(addr string, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if el, ok := a.addrs[addr]; ok {
		e := el.Value.(*ampEntry)
		if e.validated {
			e.validUntil = now.Add(a.cfg.Validity)
			a.validated.MoveToFront(el)
			return
		}
		a.unvalidated.Remove(el)
		delete(a.addrs, addr)
	}
	if a.validated.Len() >= a.cfg.Validated {
		a.evict(&a.validated)
	}
	e := &ampEntry{addr: addr, validated: true, validUntil: now.Add(a.cfg.Validity)}
	a.addrs[addr] = a.validated.PushFront(e)
}

// IsValidated reports whether addr is currently validated.
func (a *Amplification) IsValidated(addr string, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.entry(addr, now, false)
	return e != nil && e.validated
}

// entry finds addr's entry, expiring a lapsed validation; with create it
// makes an unvalidated one when none exists.
func (a *Amplification) entry(addr string, now time.Time, create bool) *ampEntry {
	if el, ok := a.addrs[addr]; ok {
		e := el.Value.(*ampEntry)
		if !e.validated {
			a.unvalidated.MoveToFront(el)
			return e
		}
		if now.Before(e.validUntil) {
			a.validated.MoveToFront(el)
			return e
		}
		// Lapsed: start over as unvalidated, with no credit.
		a.validated.Remove(el)
		delete(a.addrs, addr)
	}
	if !create {
		return nil
	}
	if a.unvalidated.Len() >= a.cfg.Unvalidated {
		a.evict(&a.unvalidated)
	}
	e := &ampEntry{addr: addr}
	a.addrs[addr] = a.unvalidated.PushFront(e)
	return e
}

func (a *Amplification) evict(l *list.List) {
	back := l.Back()
	delete(a.addrs, back.Value.(*ampEntry).addr)
	l.Remove(back)
	a.stats.Evicted++
}

// Len returns the number of unvalidated and validated addresses tracked.
func (a *Amplification) Len() (unvalidated, validated int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.unvalidated.Len(), a.validated.Len()
}

// Stats returns the counters.
func (a *Amplification) Stats() AmpStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stats
}
