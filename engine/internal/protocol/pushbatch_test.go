package protocol

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine/internal/state"
	"github.com/telepathine/telepathine/engine/internal/wire"
)

// Says queued between two flushes leave coalesced: one NodeDelta per
// packet, every packet one datagram (at most the MTU once encoded), all
// targets sharing the same packets, and a receiver hears every event once,
// in order; the per-item grouping needed one packet per say.
func TestPushCoalescesIntoDatagrams(t *testing.T) {
	s := newSim(t, 4, simConfig())
	s.until(50, s.allKnowAll, "join")
	sender := s.peers[0]
	const says = 150
	for i := range says {
		out, err := sender.core.Say(s.now, "tp", fmt.Appendf(nil, "payload %04d of some thirty bytes", i), state.EncodingText, time.Minute, false)
		require.NoError(t, err)
		require.True(t, out.PushReady)
	}
	plan := sender.core.TakePushes()
	perItem := plan.packetsPerItem()
	pks := plan.Packets()

	byTarget := map[string][]*wire.Packet{}
	for _, o := range pks {
		byTarget[o.To] = append(byTarget[o.To], o.Packet)
		require.Len(t, o.Packet.Delta.Nodes, 1, "contiguous runs of one node merge")
		b, err := sender.core.Encode(s.now, o)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(b), simConfig().MTU, "a push packet is one datagram")
	}
	require.Len(t, byTarget, 3)
	var first []*wire.Packet
	for _, ps := range byTarget {
		if first == nil {
			first = ps
		}
		assert.Equal(t, first, ps, "targets share the same packet values")
	}
	n := len(first)
	assert.Greater(t, n, 1, "150 says do not fit one datagram")
	assert.Less(t, n, says/5, "at least 5 says per datagram")
	assert.Greater(t, len(perItem), 3*n, "fewer packets than before coalescing")

	// Every receiver hears every say exactly once and in order.
	for _, p := range s.peers[1:] {
		var heard []string
		for _, pk := range byTarget[p.addr] {
			b, err := sender.core.Encode(s.now, Outgoing{To: p.addr, Packet: pk})
			require.NoError(t, err)
			for _, e := range p.core.HandlePacket(s.now, sender.addr, b).Events {
				if e.Kind == Said {
					heard = append(heard, string(e.Value))
				}
			}
		}
		require.Len(t, heard, says, "%s", p.Name())
		for i, v := range heard {
			require.Equal(t, fmt.Sprintf("payload %04d of some thirty bytes", i), v)
		}
	}
}

// A backlog beyond pushDatagrams datagrams goes as one large (TCP) packet
// per target instead of a burst of datagrams.
func TestPushBacklogGoesAsOneStreamPacket(t *testing.T) {
	s := newSim(t, 2, simConfig())
	s.until(50, s.allKnowAll, "join")
	sender := s.peers[0]
	for i := range 3000 {
		_, err := sender.core.Say(s.now, "tp", fmt.Appendf(nil, "payload %04d", i), state.EncodingText, time.Minute, false)
		require.NoError(t, err)
	}
	plan := sender.core.TakePushes()
	pks := plan.Packets()
	require.Len(t, pks, 1)
	require.Len(t, pks[0].Packet.Delta.Nodes, 1)
	assert.Len(t, pks[0].Packet.Delta.Nodes[0].Entries, 3000)
	b, err := sender.core.Encode(s.now, pks[0])
	require.NoError(t, err)
	assert.Greater(t, len(b), simConfig().MTU)
}

// A forwarded item never goes back where it came from, and items of
// different nodes are not merged.
func TestPushCoalesceSkipsOriginAndKeepsNodesApart(t *testing.T) {
	a := state.NodeID{Name: "a", Generation: 1, Addr: "10.0.0.1:1"}
	b := state.NodeID{Name: "b", Generation: 1, Addr: "10.0.0.2:1"}
	entry := func(v uint64) *state.Entry { return &state.Entry{Version: v, Key: "k", Kind: state.KindEvent} }
	nd := func(id state.NodeID, from uint64) state.NodeDelta {
		return state.NodeDelta{ID: id, From: from, To: from + 1, Entries: []*state.Entry{entry(from + 1)}}
	}
	pl := PushPlan{
		targets: []string{"10.0.0.3:1", b.Addr},
		items:   []pushItem{{except: "", size: 100}, {except: b.Addr, size: 100}, {except: "", size: 100}},
		nds:     []state.NodeDelta{nd(a, 0), nd(b, 4), nd(a, 1)},
		budget:  1000, cluster: "c", sender: a,
	}
	pks := pl.Packets()
	got := map[string][]state.NodeDelta{}
	for _, o := range pks {
		got[o.To] = append(got[o.To], o.Packet.Delta.Nodes...)
	}
	// To the third peer: a(0..1), b(4..5), a(1..2): not contiguous in a
	// row, so three NodeDeltas; to b: a's two runs, now adjacent, merged.
	require.Len(t, got["10.0.0.3:1"], 3)
	require.Len(t, got[b.Addr], 1)
	assert.Equal(t, uint64(0), got[b.Addr][0].From)
	assert.Equal(t, uint64(2), got[b.Addr][0].To)
	assert.Len(t, got[b.Addr][0].Entries, 2)
	assert.Len(t, pl.nds[0].Entries, 1, "merging never changes the plan's own runs")
}

// Merging a run of n queued says costs O(n): the merged slice grows in
// place once it belongs to the packet, instead of being copied at each
// say (which made a flush of 3000 says allocate 3000 slices).
func TestPushCoalesceMergesInLinearTime(t *testing.T) {
	s := newSim(t, 2, simConfig())
	s.until(50, s.allKnowAll, "join")
	sender := s.peers[0]
	for i := range 3000 {
		_, err := sender.core.Say(s.now, "tp", fmt.Appendf(nil, "payload %04d", i), state.EncodingText, time.Minute, false)
		require.NoError(t, err)
	}
	plan := sender.core.TakePushes()
	allocs := testing.AllocsPerRun(10, func() { plan.coalesce(func(int) bool { return true }) })
	assert.Less(t, allocs, 40.0, "a few slice doublings, not one copy per say")
	pks := plan.coalesce(func(int) bool { return true })
	require.Len(t, pks, 1)
	for i, e := range pks[0].Delta.Nodes[0].Entries {
		require.Equal(t, plan.nds[i].Entries[0], e, "entries in queue order")
	}
}
