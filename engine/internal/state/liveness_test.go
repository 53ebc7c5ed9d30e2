package state

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSuspicionReplicatesAndRetracts(t *testing.T) {
	w, o := newTestCluster("w", 1), newTestCluster("o", 1)
	// A user key with the accused's name lives in another namespace.
	_, err := w.Set("p", []byte("user value"), EncodingText, 0)
	require.NoError(t, err)
	require.True(t, w.Suspect("p", Suspicion{Generation: 7, Heartbeat: 42}))
	require.False(t, w.Suspect("p", Suspicion{Generation: 7, Heartbeat: 42}), "same suspicion: nothing written")
	_, chO := exchange(t, w, o, t0, 1<<20)
	require.Len(t, kinds(chO, SuspicionChanged), 1)
	nw, _ := o.Node("w")
	s, ok := nw.Suspicion("p")
	require.True(t, ok)
	assert.Equal(t, Suspicion{Generation: 7, Heartbeat: 42}, s)
	e, ok := o.Get("w", "p", t0)
	require.True(t, ok, "the user key survives next to the suspicion")
	assert.Equal(t, "user value", string(e.Value))

	require.True(t, w.Retract("p"))
	require.False(t, w.Retract("p"), "nothing left to retract")
	_, chO = exchange(t, w, o, t0, 1<<20)
	require.Len(t, kinds(chO, SuspicionChanged), 1)
	_, ok = nw.Suspicion("p")
	assert.False(t, ok, "retracted everywhere")
	// Superseded suspicions are garbage: a late joiner gets the current one only.
	l := newTestCluster("l", 1)
	_, chL := exchange(t, w, l, t0, 1<<20)
	assert.Len(t, kinds(chL, SuspicionChanged), 1)
}

func TestLeaveReplicatesOnceAndRestartClearsIt(t *testing.T) {
	p, o := newTestCluster("p", 1), newTestCluster("o", 1)
	exchange(t, p, o, t0, 1<<20)
	p.Leave()
	p.Leave()
	_, chO := exchange(t, p, o, t0, 1<<20)
	require.Len(t, kinds(chO, NodeLeft), 1)
	np, _ := o.Node("p")
	assert.True(t, np.Left)
	_, chO = exchange(t, p, o, t0, 1<<20)
	assert.Empty(t, kinds(chO, NodeLeft), "reported once")

	p.Restart(NodeID{Name: "p", Generation: 2, Addr: "p"}, t0)
	assert.False(t, p.Self().Left, "a new incarnation has not left")
	_, chO = exchange(t, p, o, t0, 1<<20)
	require.Len(t, kinds(chO, NodeRestarted), 1)
	np, _ = o.Node("p")
	assert.False(t, np.Left)
}

func TestBeatAdvancesOnlyTheSameIncarnation(t *testing.T) {
	p, o := newTestCluster("p", 1), newTestCluster("o", 1)
	exchange(t, p, o, t0, 1<<20)
	fp := o.Fingerprint()
	assert.True(t, o.Beat("p", 1, 5))
	assert.False(t, o.Beat("p", 1, 5), "not newer")
	assert.False(t, o.Beat("p", 2, 9), "another generation")
	assert.False(t, o.Beat("x", 1, 9), "unknown")
	assert.False(t, o.Beat("o", 1, 9), "ourselves")
	np, _ := o.Node("p")
	assert.Equal(t, uint64(5), np.Heartbeat)
	assert.Equal(t, fp, o.Fingerprint(), "heartbeats stay out of the fingerprint")
}

func TestMalformedSuspicionRejected(t *testing.T) {
	o := newTestCluster("o", 1)
	d := Delta{Nodes: []NodeDelta{{ID: NodeID{Name: "w", Generation: 1, Addr: "w"}, From: 0, To: 1,
		Entries: []*Entry{{Version: 1, Kind: KindSuspect, Key: "p", Value: []byte{1, 2, 3}}}}}}
	_, _, err := o.Apply(&d, t0, false, nil, nil)
	assert.ErrorIs(t, err, ErrBadDelta)
}
