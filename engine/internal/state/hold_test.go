package state

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sayN appends n events of the local node at now.
func sayN(t *testing.T, c *Cluster, n int, now int64) {
	t.Helper()
	for i := range n {
		_, err := c.Say(KindEvent, "e", fmt.Appendf(nil, "%d", i), EncodingText, now+60_000)
		require.NoError(t, err)
	}
}

// HeldAt answers from the versions recorded at each tick: the newest tick
// at or before the time asked, nothing for a time before every tick
// remembered.
func TestHeldAtRemembersVersionPerTick(t *testing.T) {
	a := newTestCluster("a", 1)
	self := a.Self()
	_, ok := self.HeldAt(t0)
	assert.False(t, ok, "no tick yet")
	for i := range 20 {
		sayN(t, a, 10, t0+int64(i)*200)
		a.Tick(t0+int64(i)*200, 0, nil) // version 10(i+1) at t0+200i
	}
	v, ok := self.HeldAt(t0 + 19*200)
	require.True(t, ok)
	assert.Equal(t, uint64(200), v)
	v, ok = self.HeldAt(t0 + 15*200 + 199)
	require.True(t, ok)
	assert.Equal(t, uint64(160), v, "the tick at or before the time asked")
	_, ok = self.HeldAt(t0 + 3*200)
	assert.False(t, ok, "older than the %d ticks remembered", markCount)
}

// HoldFresh caps what an answer carries at the version held at the hold
// time; what lies below goes as usual, in version order, and the
// NodeDelta's To stops at the cap, so the receiver applies a prefix and
// asks again for the rest later.
func TestHoldFreshLeavesRecentVersionsOut(t *testing.T) {
	a, b := newTestCluster("a", 1), newTestCluster("b", 1)
	rng := rand.New(rand.NewPCG(1, 2))
	now := t0
	for range 12 {
		sayN(t, a, 5, now)
		a.Tick(now, 0, nil)
		now += 200
	}
	// a holds versions 1..60; 5 were added at each of the 12 ticks.
	syn := b.FullDigest(0, nil, rng)
	cmp, _ := a.Compare(&syn, nil)
	require.Len(t, cmp.Requests, 1)

	hold, horizon := now-400, now-2000
	near := HoldFresh(cmp.Requests, hold, horizon)
	assert.False(t, near, "b holds nothing of a: far behind")
	d := a.BuildDelta(cmp.Requests, 1<<20, now, rng)
	require.Len(t, d.Nodes, 1)
	nd := d.Nodes[0]
	held, _ := a.Self().HeldAt(hold)
	assert.Equal(t, uint64(55), held, "the tick at the hold time (the 11th) held 55")
	assert.Equal(t, held, nd.To, "capped at what was held at the hold time")
	require.Len(t, nd.Entries, int(held))
	assert.Equal(t, held, nd.Entries[len(nd.Entries)-1].Version)

	_, _, err := b.Apply(&d, now, false, nil, nil)
	require.NoError(t, err)
	n, _ := b.Node("a")
	assert.Equal(t, held, n.Version, "the capped answer applies as a prefix")

	// Once the hold time has passed, the rest goes too.
	later := now + 2000
	a.Tick(later, 0, nil)
	syn = b.FullDigest(0, nil, rng)
	cmp, _ = a.Compare(&syn, nil)
	assert.False(t, HoldFresh(cmp.Requests, later-400, later-2000), "b lacks versions held here since before the horizon")
	d = a.BuildDelta(cmp.Requests, 1<<20, later, rng)
	require.Len(t, d.Nodes, 1)
	assert.Equal(t, uint64(60), d.Nodes[0].To)
	assert.Len(t, d.Nodes[0].Entries, 5, "56..60")
}

// A requester that already holds everything up to the cap gets nothing: an
// exchange does not carry what is in flight. A reset is never capped.
func TestHoldFreshNothingBelowTheCapAndResetsUncapped(t *testing.T) {
	a, b := newTestCluster("a", 1), newTestCluster("b", 1)
	rng := rand.New(rand.NewPCG(1, 2))
	now := t0
	sayN(t, a, 5, now)
	a.Tick(now, 0, nil)
	exchange(t, a, b, now, 1<<20) // b holds 1..5
	now += 200
	sayN(t, a, 5, now)
	a.Tick(now, 0, nil)

	syn := b.FullDigest(0, nil, rng)
	cmp, _ := a.Compare(&syn, nil)
	require.Len(t, cmp.Requests, 1)
	assert.True(t, HoldFresh(cmp.Requests, now-100, now-150), "b lacks only versions held here since the horizon")
	d := a.BuildDelta(cmp.Requests, 1<<20, now, rng)
	assert.True(t, d.Empty(), "versions 6..10 are younger than the hold")

	reqs := []Request{{Node: a.Self(), From: 0, Reset: true}}
	assert.False(t, HoldFresh(reqs, now-100, now-150))
	d = a.BuildDelta(reqs, 1<<20, now, rng)
	require.Len(t, d.Nodes, 1)
	assert.Equal(t, uint64(10), d.Nodes[0].To, "a reset carries the whole state")
}

// Duplicates counts entries that arrive when already held.
func TestDuplicatesCounted(t *testing.T) {
	a, b := newTestCluster("a", 1), newTestCluster("b", 1)
	rng := rand.New(rand.NewPCG(1, 2))
	sayN(t, a, 5, t0)
	syn := b.FullDigest(0, nil, rng)
	cmp, _ := a.Compare(&syn, nil)
	d := a.BuildDelta(cmp.Requests, 1<<20, t0, rng)
	_, _, err := b.Apply(&d, t0, false, nil, nil)
	require.NoError(t, err)
	assert.Zero(t, b.Duplicates())
	_, _, err = b.Apply(&d, t0, false, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(5), b.Duplicates(), "the same five entries again")
}

// HeldAt keeps only the version changes of the ticks remembered, and
// answers as a record of the version at every tick would: checked against
// that record over random ticks (some at the same time) and random runs
// of changes.
func TestHeldAtMatchesPerTickRecord(t *testing.T) {
	a := newTestCluster("a", 1)
	self := a.Self()
	rng := rand.New(rand.NewPCG(3, 4))
	type mark struct {
		at      int64
		version uint64
	}
	var record []mark
	now := t0
	for range 400 {
		if rng.IntN(3) > 0 {
			sayN(t, a, rng.IntN(4), now)
		}
		a.Tick(now, 0, nil)
		record = append(record, mark{now, self.Version})
		for q := range 8 {
			at := now - int64(q)*97 - rng.Int64N(50)
			want, wantOK := uint64(0), false
			var best int64
			for i := max(len(record)-markCount, 0); i < len(record); i++ {
				if m := record[i]; m.at <= at && (!wantOK || m.at >= best) {
					want, wantOK, best = m.version, true, m.at
				}
			}
			got, ok := self.HeldAt(at)
			require.Equal(t, wantOK, ok, "tick at or before %d remembered", at)
			require.Equal(t, want, got, "version held at %d", at)
		}
		require.LessOrEqual(t, len(self.hist), markCount, "history bounded by the ticks remembered")
		if rng.IntN(4) > 0 {
			now += 200
		}
	}
	for range markCount + 1 {
		now += 200
		a.Tick(now, 0, nil)
	}
	now += sweepEvery
	a.Tick(now, 0, nil)
	assert.Nil(t, self.hist, "a quiet node keeps no history")
	v, ok := self.HeldAt(now)
	require.True(t, ok)
	assert.Equal(t, self.Version, v)
}
