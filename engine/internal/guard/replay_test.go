package guard

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine/internal/seal"
)

var t0 = time.UnixMilli(1_780_000_000_000)

// link is a sender and a receiver sharing a key, and the receiver's replay
// guard: packets are sealed and opened for real, so the tests replay real
// captures rather than made-up headers.
type link struct {
	t      *testing.T
	send   *seal.Sealer
	recv   *seal.Sealer
	replay *Replay
}

func key() seal.Key {
	var k seal.Key
	for i := range k {
		k[i] = byte(i * 7)
	}
	return k
}

func newSealer(t testing.TB) *seal.Sealer {
	t.Helper()
	r, err := seal.NewKeyring(key())
	require.NoError(t, err)
	s, err := seal.New(seal.Options{Cluster: "guard", Keyring: r, Policy: seal.Strict})
	require.NoError(t, err)
	return s
}

func newLink(t *testing.T, cfg ReplayConfig, start time.Time) *link {
	return &link{t: t, send: newSealer(t), recv: newSealer(t), replay: NewReplay(cfg, start)}
}

// capture seals n packets sent at times from..., one ms apart.
func capture(t testing.TB, s *seal.Sealer, n int, from time.Time) [][]byte {
	t.Helper()
	out := make([][]byte, n)
	for i := range out {
		pkt, err := s.Seal(nil, []byte{byte(i), byte(i >> 8)}, from.Add(time.Duration(i)*time.Millisecond))
		require.NoError(t, err)
		out[i] = pkt
	}
	return out
}

// deliver opens each packet (a copy: Open decrypts in place) and checks it
// against the guard at now; it returns the verdict counts.
func (l *link) deliver(pkts [][]byte, now time.Time) map[Verdict]int {
	l.t.Helper()
	counts := map[Verdict]int{}
	for _, p := range pkts {
		_, h, err := l.recv.Open(bytes.Clone(p), now)
		require.NoError(l.t, err)
		counts[l.replay.Check(h.Session, h.Counter, h.SentMs, now)]++
	}
	return counts
}

func TestReplayInOrder(t *testing.T) {
	l := newLink(t, ReplayConfig{}, t0.Add(-time.Second))
	pkts := capture(t, l.send, 2000, t0)
	now := t0.Add(3 * time.Second)
	assert.Equal(t, map[Verdict]int{Accepted: 2000}, l.deliver(pkts, now))

	// The attacker replays the whole capture: nothing gets through. The last
	// WindowSize counters are known duplicates, the older ones too old.
	got := l.deliver(pkts, now)
	assert.Zero(t, got[Accepted])
	assert.Equal(t, WindowSize, got[Duplicate])
	assert.Equal(t, 2000-WindowSize, got[TooOld])
	st := l.replay.Stats()
	assert.Equal(t, uint64(2000), st.Count(Accepted))
	assert.Equal(t, 1, st.Sessions)
}

func TestReplayReordered(t *testing.T) {
	l := newLink(t, ReplayConfig{}, t0.Add(-time.Second))
	pkts := capture(t, l.send, 3000, t0)
	// The network reorders within blocks smaller than the window.
	rng := rand.New(rand.NewPCG(1, 2))
	shuffled := make([][]byte, 0, len(pkts))
	for i := 0; i < len(pkts); i += 500 {
		block := append([][]byte(nil), pkts[i:min(i+500, len(pkts))]...)
		rng.Shuffle(len(block), func(a, b int) { block[a], block[b] = block[b], block[a] })
		shuffled = append(shuffled, block...)
	}
	now := t0.Add(5 * time.Second)
	assert.Equal(t, map[Verdict]int{Accepted: 3000}, l.deliver(shuffled, now))

	// Replayed in a random order, interleaved with new traffic: only the
	// new traffic gets through.
	fresh := capture(t, l.send, 100, t0.Add(4*time.Second))
	mixed := append(append([][]byte(nil), pkts...), fresh...)
	rng.Shuffle(len(mixed), func(a, b int) { mixed[a], mixed[b] = mixed[b], mixed[a] })
	got := l.deliver(mixed, now)
	assert.Equal(t, 100, got[Accepted], "%v", got)
	assert.Equal(t, 3000, got[Duplicate]+got[TooOld]+got[Accepted]-100)
}

func TestReplayWindowEdges(t *testing.T) {
	r := NewReplay(ReplayConfig{}, t0)
	now := t0.Add(time.Second)
	ms := now.UnixMilli()
	require.Equal(t, Accepted, r.Check(1, 5000, ms, now))
	assert.Equal(t, TooOld, r.Check(1, 5000-WindowSize, ms, now))
	assert.Equal(t, Accepted, r.Check(1, 5000-WindowSize+1, ms, now))
	assert.Equal(t, Duplicate, r.Check(1, 5000-WindowSize+1, ms, now))
	assert.Equal(t, Duplicate, r.Check(1, 5000, ms, now))
	// A jump beyond the whole window clears it; the old counters are then
	// too old, the ones just below the new highest are fresh.
	require.Equal(t, Accepted, r.Check(1, 100_000, ms, now))
	assert.Equal(t, TooOld, r.Check(1, 5000, ms, now))
	assert.Equal(t, Accepted, r.Check(1, 99_999, ms, now))
	// A jump within the window clears exactly the skipped words.
	require.Equal(t, Accepted, r.Check(1, 100_200, ms, now))
	assert.Equal(t, Duplicate, r.Check(1, 99_999, ms, now))
	assert.Equal(t, Accepted, r.Check(1, 100_100, ms, now))
	// Sessions are independent.
	assert.Equal(t, Accepted, r.Check(2, 5000, ms, now))
}

func TestReplayTimeWindow(t *testing.T) {
	l := newLink(t, ReplayConfig{MaxAge: 30 * time.Second, MaxSkew: 5 * time.Second}, t0)
	pkts := capture(t, l.send, 10, t0.Add(time.Second))
	// Replayed a minute later, before the receiver ever saw them: stale.
	assert.Equal(t, map[Verdict]int{Stale: 10}, l.deliver(pkts, t0.Add(time.Minute)))
	// Sent "in the future" (the attacker cannot change the sealed time, but
	// a sender's clock can run ahead): refused beyond the skew.
	future := capture(t, l.send, 3, t0.Add(20*time.Second))
	assert.Equal(t, map[Verdict]int{Future: 3}, l.deliver(future, t0.Add(2*time.Second)))
	assert.Equal(t, map[Verdict]int{Accepted: 3}, l.deliver(future, t0.Add(16*time.Second)))
}

// A table of 4 sessions under a flood of new sessions (a malicious key
// holder): the table stays at 4, and the evicted victim's captured packets
// cannot be replayed although they are still recent.
func TestReplayAfterEviction(t *testing.T) {
	l := newLink(t, ReplayConfig{Sessions: 4}, t0)
	victim := capture(t, l.send, 50, t0.Add(time.Second))
	now := t0.Add(2 * time.Second)
	require.Equal(t, map[Verdict]int{Accepted: 50}, l.deliver(victim, now))

	// One tick (seal.TickUnit) apart: the envelope's send time has that
	// resolution, and a session sent within the horizon's tick is not
	// after it.
	for i := range 1000 {
		other := newSealer(t)
		got := l.deliver(capture(t, other, 1, t0.Add(2*time.Second+time.Duration(i)*seal.TickUnit)), now.Add(time.Duration(i)*seal.TickUnit))
		require.Equal(t, 1, got[Accepted], "new session %d", i)
	}
	st := l.replay.Stats()
	assert.Equal(t, 4, st.Sessions)
	assert.Equal(t, uint64(997), st.Evicted)

	got := l.deliver(victim, now.Add(time.Second))
	assert.Equal(t, map[Verdict]int{Forgotten: 50}, got)

	// The victim's live traffic, sent after the horizon, is welcome again.
	live := now.Add(1000*seal.TickUnit + time.Second)
	assert.Equal(t, map[Verdict]int{Accepted: 5}, l.deliver(capture(t, l.send, 5, live), live))
}

// A restarted receiver remembers no session; captures from before its start
// are refused, the sender's packets from after it accepted.
func TestReplayAfterReceiverRestart(t *testing.T) {
	l := newLink(t, ReplayConfig{}, t0.Add(-time.Second))
	before := capture(t, l.send, 200, t0.Add(time.Second))
	require.Equal(t, map[Verdict]int{Accepted: 200}, l.deliver(before, t0.Add(2*time.Second)))

	restart := t0.Add(3 * time.Second)
	l.replay = NewReplay(ReplayConfig{}, restart)
	assert.Equal(t, map[Verdict]int{Forgotten: 200}, l.deliver(before, restart.Add(time.Millisecond)))

	// Sent a tick after the restart: within its tick (seal.TickUnit, the
	// resolution of the envelope's send time) a packet is not after it.
	after := capture(t, l.send, 20, restart.Add(seal.TickUnit))
	assert.Equal(t, map[Verdict]int{Accepted: 20}, l.deliver(after, restart.Add(time.Second)))
	// The replay of the live traffic fails as for any known session.
	assert.Equal(t, map[Verdict]int{Duplicate: 20}, l.deliver(after, restart.Add(time.Second)))
}

// The attacker's flood of replays: 50,000 copies of 500 captured packets.
func TestReplayFlood(t *testing.T) {
	l := newLink(t, ReplayConfig{}, t0.Add(-time.Second))
	pkts := capture(t, l.send, 500, t0)
	now := t0.Add(time.Second)
	require.Equal(t, map[Verdict]int{Accepted: 500}, l.deliver(pkts, now))
	accepted := 0
	for i := range 50_000 {
		_, h, err := l.recv.Open(bytes.Clone(pkts[i%len(pkts)]), now)
		require.NoError(t, err)
		if l.replay.Check(h.Session, h.Counter, h.SentMs, now) == Accepted {
			accepted++
		}
	}
	assert.Zero(t, accepted)
	assert.Equal(t, uint64(50_000), l.replay.Stats().Count(Duplicate))
}

func TestVerdictStrings(t *testing.T) {
	seen := map[string]bool{}
	for v := range numVerdicts {
		s := v.String()
		assert.NotEqual(t, "unknown", s)
		assert.False(t, seen[s])
		seen[s] = true
	}
	assert.Equal(t, "unknown", numVerdicts.String())
	assert.Zero(t, ReplayStats{}.Count(numVerdicts))
}

// The check allocates nothing for a known session and nothing once the table
// is full (evicted sessions are recycled).
func TestReplayAllocs(t *testing.T) {
	r := NewReplay(ReplayConfig{Sessions: 8}, t0)
	now := t0.Add(time.Second)
	ms := now.UnixMilli()
	var c uint64
	assert.Zero(t, testing.AllocsPerRun(1000, func() { c++; r.Check(1, c, ms, now) }))
	for s := range uint64(8) {
		r.Check(100+s, 1, ms, now)
	}
	var s uint64 = 1000
	allocs := testing.AllocsPerRun(1000, func() { s++; r.Check(s, 1, ms, now) })
	assert.LessOrEqual(t, allocs, 1.0, "only the map may grow a bucket now and then")
}

func BenchmarkReplayCheck(b *testing.B) {
	r := NewReplay(ReplayConfig{}, t0)
	now := t0.Add(time.Second)
	ms := now.UnixMilli()
	b.ReportAllocs()
	var c uint64
	for b.Loop() {
		c++
		r.Check(c%64, c, ms, now)
	}
}
