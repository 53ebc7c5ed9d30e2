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

// saidValues lists the values of the Said events p reported, in order.
func saidValues(p *simPeer) []string {
	var out []string
	for _, e := range p.events {
		if e.Kind == Said {
			out = append(out, string(e.Value))
		}
	}
	return out
}

// sayStream has sender say perStep events before each of steps rounds.
func sayStream(t *testing.T, s *sim, sender *simPeer, steps, perStep int) int {
	t.Helper()
	n := 0
	for range steps {
		for range perStep {
			out, err := sender.core.Say(s.now, "tp", fmt.Appendf(nil, "%05d", n), state.EncodingText, time.Minute, false)
			require.NoError(t, err)
			s.do(sender, out)
			n++
		}
		s.step()
	}
	return n
}

// requireHeardInOrder checks that every peer but sender heard the n events
// exactly once, in the order said.
func requireHeardInOrder(t *testing.T, s *sim, sender *simPeer, n int) {
	t.Helper()
	for _, p := range s.peers {
		if p == sender {
			continue
		}
		got := saidValues(p)
		require.Len(t, got, n, "%s", p.Name())
		for i, v := range got {
			require.Equal(t, fmt.Sprintf("%05d", i), v, "%s: event %d", p.Name(), i)
		}
	}
}

func heardAll(s *sim, sender *simPeer, n int) func() bool {
	return func() bool {
		for _, p := range s.peers {
			if p != sender && len(saidValues(p)) < n {
				return false
			}
		}
		return true
	}
}

// With versions in flight held out of anti-entropy answers, anti-entropy
// still completes whatever the pushes lose: a say stream over a network
// that loses a fifth of the packets (pushes, Syns and answers alike) and
// duplicates a tenth reaches every receiver exactly once, in order.
func TestSimFreshHoldLossyStreamExactlyOnceInOrder(t *testing.T) {
	s := newSim(t, 16, simConfig())
	s.until(100, s.allKnowAll, "join")
	s.net.SetLoss(0.2)
	s.net.SetDuplicate(0.1)
	sender := s.peers[0]
	n := sayStream(t, s, sender, 50, 20)
	require.Positive(t, s.net.lost[wire.Push], "pushes were lost")
	rounds := s.until(100, heardAll(s, sender, n), "every say everywhere")
	t.Logf("%d pushes lost; every receiver complete %d rounds after the stream", s.net.lost[wire.Push], rounds)
	requireHeardInOrder(t, s, sender, n)
}

// The last pushes of a stream lost: nothing comes after them to reveal the
// gap by a held-back run, and no other peer holds them either; anti-entropy
// from the sender alone repairs it once the hold is over.
func TestSimFreshHoldRepairsLostTail(t *testing.T) {
	s := newSim(t, 4, simConfig())
	s.until(50, s.allKnowAll, "join")
	sender := s.peers[0]
	n := sayStream(t, s, sender, 3, 10)
	s.net.SetLoss(1) // the next pushes reach nobody
	for i := range 10 {
		out, err := sender.core.Say(s.now, "tp", fmt.Appendf(nil, "%05d", n+i), state.EncodingText, time.Minute, false)
		require.NoError(t, err)
		s.do(sender, out)
	}
	s.flush()
	n += 10
	s.net.SetLoss(0)
	require.False(t, heardAll(s, sender, n)(), "the tail was lost")
	rounds := s.until(50, heardAll(s, sender, n), "the tail repaired")
	assert.GreaterOrEqual(t, time.Duration(rounds)*s.cfg.GossipInterval, s.cfg.FreshHold, "not before the hold is over")
	requireHeardInOrder(t, s, sender, n)
}

// A receiver stalled while a stream goes on (its packets wait in its
// queue) runs its round first when it wakes: its Syns show it far behind.
// Without the hold, the answers carry again what waits in its queue; with
// it, nothing arrives twice.
func TestSimFreshHoldSkipsPushesInFlight(t *testing.T) {
	run := func(hold time.Duration) (dups uint64) {
		cfg := simConfig()
		cfg.FreshHold = hold
		s := newSim(t, 4, cfg)
		s.until(50, s.allKnowAll, "join")
		for range 20 {
			s.step() // a few rounds of version history
		}
		sender, slow := s.peers[0], s.peers[3]
		slow.stalledUntil = s.now.Add(250 * time.Millisecond)
		n := sayStream(t, s, sender, 4, 50)
		s.until(50, heardAll(s, sender, n), "every say everywhere")
		requireHeardInOrder(t, s, sender, n)
		for _, p := range s.peers {
			for _, d := range p.core.Stats().DuplicatesByType {
				dups += d
			}
		}
		return dups
	}
	without, with := run(0), run(simConfig().FreshHold)
	t.Logf("entries received twice: %d without the hold, %d with it", without, with)
	assert.Positive(t, without, "the stalled receiver got its queued pushes again by anti-entropy")
	assert.Zero(t, with)
}

// A receiver stalled for longer than the hold but less than the repair
// horizon lags, but its queue holds what it lacks: answers to it are one
// datagram each (a little duplicated, much less than its whole backlog).
func TestSimRepairHorizonBoundsAnswersToNearReceiver(t *testing.T) {
	run := func(horizon time.Duration) (dups uint64) {
		cfg := simConfig()
		cfg.RepairHorizon = horizon
		s := newSim(t, 4, cfg)
		s.until(50, s.allKnowAll, "join")
		for range 20 {
			s.step()
		}
		sender, slow := s.peers[0], s.peers[3]
		slow.stalledUntil = s.now.Add(time.Second)
		n := sayStream(t, s, sender, 6, 2000)
		s.until(50, heardAll(s, sender, n), "every say everywhere")
		requireHeardInOrder(t, s, sender, n)
		for _, d := range slow.core.Stats().DuplicatesByType {
			dups += d
		}
		return dups
	}
	without, with := run(0), run(simConfig().RepairHorizon)
	t.Logf("entries the slow receiver got twice: %d without the horizon, %d with it", without, with)
	assert.Greater(t, without, uint64(4000), "its backlog again, beyond the hold")
	assert.Less(t, with, without/4)
}

// answerTo has b send a a Syn whose digest says b holds version v of a's
// node, and returns the entries of a's answer.
func answerTo(t *testing.T, s *sim, a, b *simPeer, v uint64) int {
	t.Helper()
	d := state.Digest{Fingerprint: 1, Entries: []state.DigestEntry{b.core.st.Self().Line(), {Key: a.core.st.Self().Key(), Heartbeat: 1, Version: v}}}
	o := b.core.synTo(a.addr, d, s.now)
	raw, err := b.core.Encode(s.now, o)
	require.NoError(t, err)
	out := a.core.HandlePacket(s.now, b.addr, raw)
	for _, o := range out.Packets {
		if o.Packet.Type == wire.SynAck {
			n := 0
			for _, nd := range o.Packet.Delta.Nodes {
				n += len(nd.Entries)
			}
			return n
		}
	}
	t.Fatalf("no SynAck")
	return 0
}

// A live peer lagging by more than the repair horizon gets what it lacks
// in full while its version stands still (a push was lost), but in one
// datagram while its version moves between its requests (pushes feed it;
// a busy cluster runs behind): resending its whole backlog then would only
// add to what keeps it behind.
func TestSimMovingPeerGetsSmallAnswersStalledOneFull(t *testing.T) {
	s := newSim(t, 2, simConfig())
	s.until(50, s.allKnowAll, "join")
	a, b := s.peers[0], s.peers[1]
	// A stream of 200 says a round; the digests below are what b claims.
	round := func() {
		for range 200 {
			_, err := a.core.Say(s.now, "tp", []byte("x"), state.EncodingText, time.Minute, false)
			require.NoError(t, err)
		}
		s.step()
	}
	for range 25 {
		round()
	}
	lag := func(d time.Duration) uint64 {
		v, ok := a.core.st.Self().HeldAt(s.now.Add(-d).UnixMilli())
		require.True(t, ok)
		return v
	}
	v := lag(3 * time.Second)
	first := answerTo(t, s, a, b, v)
	assert.Greater(t, first, 2000, "first seen 3 s behind: everything older than the hold")

	round()
	v += uint64(first) + 200 // beyond what the answer brought it: pushes did
	moving := answerTo(t, s, a, b, v)
	assert.Less(t, moving, 100, "moved since: one datagram")

	for range 12 {
		round() // b stands still, and falls beyond the repair horizon
	}
	stalled := answerTo(t, s, a, b, v)
	assert.Greater(t, stalled, 1500, "stood still for longer than the hold: in full again")
}

// A peer whose version rises only as far as our own answers took it is
// not fed by pushes: its pushes were lost (here all of them), and taking
// its rise for a push's doing would hold it to one datagram a round for
// as long as its backlog lasts (5,000 says: more than 100 rounds). Once
// it lags by more than the repair horizon, its repair goes in full.
func TestSimRepairedByAnswersNotTakenForPushFed(t *testing.T) {
	s := newSim(t, 2, simConfig())
	s.until(50, s.allKnowAll, "join")
	for range 20 {
		s.step() // version history
	}
	a, b := s.peers[0], s.peers[1]
	s.net.drop = func(from, _ string, pk *wire.Packet) bool { return from == a.addr && pk.Type == wire.Push }
	const says = 5000
	for i := range says {
		out, err := a.core.Say(s.now, "tp", fmt.Appendf(nil, "%05d", i), state.EncodingText, time.Minute, false)
		require.NoError(t, err)
		s.do(a, out)
	}
	s.flush()
	require.Empty(t, saidValues(b), "every push lost")
	rounds := s.until(100, heardAll(s, a, says), "the says repaired by anti-entropy")
	t.Logf("repaired in %d rounds", rounds)
	// Lagging less than the repair horizon (10 rounds) it gets a datagram
	// a round (it may have pushes waiting in its queue), then it all.
	horizon := int(s.cfg.RepairHorizon / s.cfg.GossipInterval)
	assert.LessOrEqual(t, rounds, horizon+3, "full answers past the horizon, not a datagram a round for ever")
	requireHeardInOrder(t, s, a, says)
}

// Buffered says wait for the round as one run: a burst costs one node
// header in the push queue, not one per say, so it fits the queue instead
// of being dropped to anti-entropy (50,000 says of 150 bytes of run each
// filled the engine's 8 MiB).
func TestBufferedSaysQueueAsOneRun(t *testing.T) {
	cfg := simConfig()
	cfg.PushQueueBytes = 64 << 10
	s := newSim(t, 2, cfg)
	s.until(50, s.allKnowAll, "join")
	a := s.peers[0]
	const says = 3000 // about 15 bytes of entry each: 45 KB, under the bound
	for i := range says {
		_, err := a.core.Say(s.now, "tp", fmt.Appendf(nil, "%05d", i), state.EncodingText, time.Minute, true)
		require.NoError(t, err)
	}
	require.Len(t, a.core.push.buffered, 1, "contiguous buffered says merge")
	s.step()
	assert.Zero(t, a.core.Stats().PushDropped)
	s.until(10, heardAll(s, a, says), "the says pushed at the round")
	requireHeardInOrder(t, s, a, says)
}
