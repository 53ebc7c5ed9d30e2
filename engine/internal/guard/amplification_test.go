package guard

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The attack of the issue: 100 Syns of 90 bytes with a forged source (the
// victim) asked for 12.1 MB of replies. With the rule, the victim receives at
// most 3x what the attacker spent.
func TestAmplificationForgedSource(t *testing.T) {
	a := NewAmplification(AmpConfig{})
	const victim = "198.51.100.7:7946"
	var sent, wanted int
	for i := range 100 {
		now := t0.Add(time.Duration(i) * 10 * time.Millisecond)
		a.Received(victim, 90, now)
		// The protocol would answer each Syn with ~121 KB in 1,400-byte
		// packets; each goes out only if allowed.
		for range 87 {
			wanted += 1400
			if a.Allow(victim, 1400, now) {
				sent += 1400
			}
		}
	}
	assert.Equal(t, 100*87*1400, wanted)
	assert.LessOrEqual(t, sent, 3*100*90)
	assert.Greater(t, sent, 0, "a small answer still fits the budget")
	st := a.Stats()
	assert.Equal(t, uint64(sent/1400), st.Allowed)
	assert.Equal(t, uint64((wanted-sent)/1400), st.Refused)
	assert.Equal(t, uint64(wanted-sent), st.RefusedBytes)
	t.Logf("amplification: %d B wanted, %d B sent for %d B received (ratio %.2f)", wanted, sent, 9000, float64(sent)/9000)
}

func TestAmplificationUnknownAddressGetsNothing(t *testing.T) {
	a := NewAmplification(AmpConfig{})
	assert.False(t, a.Allow("203.0.113.1:1", 1, t0))
	a.Received("203.0.113.1:1", 100, t0)
	assert.True(t, a.Allow("203.0.113.1:1", 300, t0))
	assert.False(t, a.Allow("203.0.113.1:1", 1, t0))
	a.Received("203.0.113.1:1", 1, t0)
	assert.True(t, a.Allow("203.0.113.1:1", 3, t0))
	assert.False(t, a.Allow("203.0.113.1:1", 1, t0))
}

func TestAmplificationValidated(t *testing.T) {
	a := NewAmplification(AmpConfig{Validity: time.Minute})
	const peer = "192.0.2.10:7000"
	a.Received(peer, 100, t0)
	a.Validated(peer, t0)
	assert.True(t, a.IsValidated(peer, t0))
	assert.True(t, a.Allow(peer, 10<<20, t0), "a validated peer gets full state")
	// Validation lapses: back to the 3x rule, with no credit.
	later := t0.Add(2 * time.Minute)
	assert.False(t, a.IsValidated(peer, later))
	assert.False(t, a.Allow(peer, 1, later))
	// Revalidated.
	a.Validated(peer, later)
	a.Validated(peer, later) // idempotent, refreshes
	assert.True(t, a.Allow(peer, 1<<20, later.Add(59*time.Second)))
	u, v := a.Len()
	assert.Equal(t, 0, u)
	assert.Equal(t, 1, v)
}

// A flood from 100,000 forged sources keeps the tables bounded and cannot push
// validated peers out.
func TestAmplificationBoundedUnderForgedFlood(t *testing.T) {
	a := NewAmplification(AmpConfig{Unvalidated: 1000, Validated: 10})
	peers := make([]string, 10)
	for i := range peers {
		peers[i] = fmt.Sprintf("10.0.0.%d:7000", i)
		a.Validated(peers[i], t0)
	}
	for i := range 100_000 {
		src := fmt.Sprintf("172.16.%d.%d:%d", i/65536, (i/256)%256, i%256)
		now := t0.Add(time.Duration(i) * time.Microsecond)
		a.Received(src, 90, now)
		a.Allow(src, 1400, now)
	}
	u, v := a.Len()
	assert.Equal(t, 1000, u)
	assert.Equal(t, 10, v)
	for _, p := range peers {
		assert.True(t, a.IsValidated(p, t0.Add(time.Second)), p)
	}
	st := a.Stats()
	assert.Equal(t, uint64(99_000), st.Evicted)
	assert.Equal(t, uint64(100_000), st.Refused, "1,400 B never fits 3 x 90 B")
	// The eleventh validated peer evicts the least recently used one.
	a.Validated("10.0.1.1:7000", t0.Add(time.Second))
	_, v = a.Len()
	assert.Equal(t, 10, v)
	require.Equal(t, uint64(99_001), a.Stats().Evicted)
}
