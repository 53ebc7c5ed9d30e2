package guard

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"golang.org/x/time/rate"
)

// Foreign-cluster packets from one source, 1,000 a second for 10 s: the
// BadCluster replies stay at the bucket's rate.
func TestLimiterBadClusterFlood(t *testing.T) {
	l := NewLimiter(LimitConfig{Rate: 1, Burst: 3})
	allowed := 0
	for i := range 10_000 {
		if l.Allow("203.0.113.9:4000", t0.Add(time.Duration(i)*time.Millisecond)) {
			allowed++
		}
	}
	assert.Equal(t, 3+9, allowed, "burst, then one a second over the 9.999 s that followed")
	st := l.Stats()
	assert.Equal(t, uint64(allowed), st.Allowed)
	assert.Equal(t, uint64(10_000-allowed), st.Refused)
	// Another source has its own bucket.
	assert.True(t, l.Allow("203.0.113.10:4000", t0))
}

// Forged sources each get a fresh bucket; the global bucket bounds them
// together and the table stays bounded.
func TestLimiterForgedSourcesGlobal(t *testing.T) {
	l := NewLimiter(LimitConfig{Rate: 1, Burst: 1, GlobalRate: 10, GlobalBurst: 10, Sources: 500})
	allowed := 0
	for i := range 100_000 {
		src := fmt.Sprintf("172.16.%d.%d:1", i/256%256, i%256)
		if l.Allow(src, t0.Add(time.Duration(i)*10*time.Microsecond)) { // 1 s in all
			allowed++
		}
	}
	assert.LessOrEqual(t, allowed, 10+10)
	assert.GreaterOrEqual(t, allowed, 10)
	assert.Equal(t, 500, l.Len())
	st := l.Stats()
	assert.Equal(t, uint64(100_000-500), st.Evicted)
	assert.Equal(t, uint64(100_000-allowed), st.RefusedGlobal)
}

func TestLimiterIdleEviction(t *testing.T) {
	l := NewLimiter(LimitConfig{Rate: 1, Burst: 1, Idle: time.Second})
	for i := range 50 {
		l.Allow(fmt.Sprint(i), t0)
	}
	assert.Equal(t, 50, l.Len())
	l.Allow("late", t0.Add(2*time.Second))
	assert.Equal(t, 1, l.Len(), "idle limiters are dropped")
	assert.Equal(t, uint64(50), l.Stats().Evicted)
}

func TestLimiterAllowN(t *testing.T) {
	l := NewLimiter(LimitConfig{Rate: rate.Limit(5), Burst: 10})
	assert.Equal(t, 10, l.AllowN("a", 25, t0))
	assert.Equal(t, 0, l.AllowN("a", 5, t0))
	assert.Equal(t, 5, l.AllowN("a", 8, t0.Add(time.Second)))
	assert.Equal(t, 0, l.AllowN("a", 0, t0))
	assert.Equal(t, uint64(15), l.Stats().Allowed)
	assert.Equal(t, uint64(15+5+3), l.Stats().Refused)
}

// The peer-table fill of the issue: 513 datagrams naming 8 new peers each
// (4,096 fakes). Per packet at most K, per source 16 a second.
func TestPeerAdmissionTableFill(t *testing.T) {
	p := PeerAdmission{
		PerPacket: 4,
		Limiter:   NewLimiter(LimitConfig{Rate: 16, Burst: 16, GlobalRate: 64, GlobalBurst: 64}),
	}
	admitted := 0
	for i := range 513 {
		admitted += p.Admit("198.51.100.1:9", 8, t0.Add(time.Duration(i)*time.Millisecond))
	}
	assert.LessOrEqual(t, admitted, 16+9)
	assert.GreaterOrEqual(t, admitted, 16)
	// The same from 513 forged sources: the global bucket holds.
	admitted = 0
	start := t0.Add(time.Minute)
	for i := range 513 {
		admitted += p.Admit(fmt.Sprintf("198.51.101.%d:9", i%256+i/256), 8, start.Add(time.Duration(i)*time.Millisecond))
	}
	assert.LessOrEqual(t, admitted, 64+33)
	assert.Equal(t, 4, PeerAdmission{PerPacket: 4}.Admit("x", 100, t0), "K per packet")
	assert.Equal(t, DefaultMaxNewPeersPerPacket, PeerAdmission{}.Admit("x", 100, t0))
	assert.Equal(t, 2, PeerAdmission{}.Admit("x", 2, t0))
	assert.Equal(t, 0, PeerAdmission{}.Admit("x", 0, t0))
}
