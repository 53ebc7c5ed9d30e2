package protocol

import (
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine/internal/identity"
	"github.com/telepathine/telepathine/engine/internal/state"
	"github.com/telepathine/telepathine/engine/internal/wire"
)

// Identity mode in the simulator (issue 13): a rogue peer that holds the
// cluster key and an identity of its own (it is on the allow-list under its
// own name) tries every forgery of issue 11 plus liveness lies. Each is
// dropped, counted and changes nothing; honest peers keep converging.

// simKeys derives peer i's key pair from a fixed seed (fast, repeatable).
func simKeys(i, rekey int) identity.KeyPair {
	seed := make([]byte, ed25519.SeedSize)
	seed[0], seed[1] = byte(i), byte(rekey+1)
	kp, err := identity.FromSeed(seed)
	if err != nil {
		panic(err)
	}
	return kp
}

type identSim struct {
	*sim
	keys  []identity.KeyPair
	pins  []*identity.Pins
	allow map[string]ed25519.PublicKey
}

// newIdentSim starts n peers in identity mode; on is false for peers that
// run with identity mode off (mixed clusters).
func newIdentSim(tb testing.TB, n int, tofu bool, on func(i int) bool) *identSim {
	is := &identSim{allow: map[string]ed25519.PublicKey{}}
	for i := range n {
		is.keys = append(is.keys, simKeys(i, 0))
		if !tofu {
			is.allow[memAddr(i)] = is.keys[i].Public
		}
	}
	s := newSim(tb, 0, simConfig())
	s.ident = func(i int) *Identity {
		if on != nil && !on(i) {
			return nil
		}
		var allow map[string]ed25519.PublicKey
		if !tofu {
			allow = make(map[string]ed25519.PublicKey, len(is.allow))
			for k, v := range is.allow {
				allow[k] = v
			}
		}
		p := identity.NewPins(allow, tofu)
		for len(is.pins) <= i {
			is.pins = append(is.pins, nil)
		}
		is.pins[i] = p
		return &Identity{Keys: is.keys[i], Pins: p}
	}
	for i := range n {
		s.add(i)
	}
	is.sim = s
	return is
}

// inject encodes pk as sent by from (its envelope, its Sender unless the
// test set another) and hands it to every other running peer.
func (s *sim) inject(from *simPeer, pk *wire.Packet) {
	s.tb.Helper()
	sender := pk.Sender
	from.core.stamp(pk)
	if sender.Name != "" {
		pk.Sender = sender
	}
	for _, to := range s.running() {
		if to == from {
			continue
		}
		b, err := from.core.Encode(s.now, Outgoing{To: to.addr, Packet: pk})
		require.NoError(s.tb, err)
		s.do(to, to.core.HandlePacket(s.now, from.addr, b))
	}
}

// forgeSig signs an entry as if written by owner, with the wrong key.
func forgeSig(kp identity.KeyPair, owner state.NodeID, e *state.Entry) []byte {
	ie := entryOf(owner, e)
	return kp.Sign(identity.AppendEntryMessage(nil, &ie))
}

// view is what an honest peer holds of the victim.
type view struct {
	id        state.NodeID
	version   uint64
	heartbeat uint64
	k         string
	keys      int
}

func (s *identSim) views(victim *simPeer, honest []*simPeer) []view {
	out := make([]view, len(honest))
	for i, p := range honest {
		n, ok := p.core.st.Node(victim.Name())
		require.True(s.tb, ok)
		v := view{id: n.ID, version: n.Version, heartbeat: n.Heartbeat, keys: len(p.core.st.Keys(victim.Name(), s.now.UnixMilli()))}
		if e, ok := p.core.Get(victim.Name(), "k", s.now.UnixMilli()); ok {
			v.k = string(e.Value)
		}
		out[i] = v
	}
	return out
}

func sumStats(ps []*simPeer, f func(Counters) uint64) uint64 {
	var n uint64
	for _, p := range ps {
		n += f(p.core.Stats())
	}
	return n
}

func TestSimIdentityRogueForgeriesDroppedCountedHarmless(t *testing.T) {
	const n = 8
	s := newIdentSim(t, n, false, nil)
	s.until(100, s.allKnowAll, "join")
	victim, rogue := s.peers[1], s.peers[n-1]
	honest := s.peers[:n-1]
	s.set(victim, "k", "real", 0)
	s.until(20, func() bool { return s.allHave(victim, "k", "real") }, "real value everywhere")
	for range 10 {
		s.step()
	}
	eventsBefore := make([]int, len(honest))
	for i, p := range honest {
		eventsBefore[i] = len(p.events)
	}

	held, ok := rogue.core.st.Node(victim.Name())
	require.True(t, ok)
	rk := s.keys[n-1]
	// Heartbeat 0: the forged deltas advance no heartbeat, so a view
	// that changes shows a forgery that worked (the heartbeat forgeries
	// set theirs).
	base := func() state.NodeDelta {
		return state.NodeDelta{
			ID: held.ID, Heartbeat: 0, From: held.Version, To: held.Version + 1,
			PubKey: held.PubKey(), Head: held.Head(),
		}
	}
	entryDelta := func(e *state.Entry) state.NodeDelta {
		e.Version = held.Version + 1
		if e.Sig == nil {
			e.Sig = forgeSig(rk, held.ID, e)
		}
		nd := base()
		nd.Entries = []*state.Entry{e}
		return nd
	}
	push := func(nds ...state.NodeDelta) *wire.Packet {
		return &wire.Packet{Type: wire.Push, Delta: state.Delta{Nodes: nds}}
	}
	now := s.now.UnixMilli()
	type forgery struct {
		name    string
		pk      *wire.Packet
		counter func(Counters) uint64
	}
	badSig := func(c Counters) uint64 { return c.BadSignature }
	realSig := append([]byte(nil), held.Head().Sig...)
	forgeries := []forgery{
		{"set another's key", push(entryDelta(&state.Entry{Kind: state.KindSet, Key: "k", Value: []byte("evil"), Encoding: state.EncodingText})), badSig},
		{"set with a signature copied from the owner's head", push(entryDelta(&state.Entry{Kind: state.KindSet, Key: "k", Value: []byte("evil"), Sig: realSig})), badSig},
		{"delete another's key", push(entryDelta(&state.Entry{Kind: state.KindTombstone, Key: "k", ExpiresAt: now})), badSig},
		{"expire another's key", push(entryDelta(&state.Entry{Kind: state.KindSet, Key: "k", Value: []byte("x"), ExpiresAt: now - 1})), badSig},
		{"say as another", push(entryDelta(&state.Entry{Kind: state.KindEvent, Key: "ev", Value: []byte("lie"), ExpiresAt: now + 60_000})), badSig},
		{"ask as another", push(entryDelta(&state.Entry{Kind: state.KindAsk, Key: "q", ExpiresAt: now + 60_000})), badSig},
		{"declare dead in another watcher's name", push(func() state.NodeDelta {
			w := s.peers[2]
			wn, _ := rogue.core.st.Node(w.Name())
			e := &state.Entry{Version: wn.Version + 1, Kind: state.KindSuspect, Key: victim.Name(), Value: make([]byte, 16)}
			e.Sig = forgeSig(rk, wn.ID, e)
			return state.NodeDelta{ID: wn.ID, Heartbeat: wn.Heartbeat, From: wn.Version, To: wn.Version + 1, PubKey: wn.PubKey(), Head: wn.Head(), Entries: []*state.Entry{e}}
		}()), badSig},
		{"push the version out of reach (skipped range)", push(func() state.NodeDelta {
			nd := base()
			nd.To = 1 << 40
			return nd
		}()), func(c Counters) uint64 { return c.BeyondHead }},
		{"push the version out of reach (forged head)", push(func() state.NodeDelta {
			nd := base()
			nd.To = 1 << 40
			nd.Head = state.Head{Version: 1 << 40, Epoch: held.Head().Epoch}
			nd.Head.Sig = rk.Sign(identity.AppendHeadMessage(nil, &identity.Head{Owner: held.ID.Name, Generation: held.ID.Generation, Version: 1 << 40, Epoch: held.Head().Epoch}))
			return nd
		}()), badSig},
		{"new generation under the rogue's key", push(func() state.NodeDelta {
			id := held.ID
			id.Generation += uint64(time.Millisecond)
			h := identity.Head{Owner: id.Name, Generation: id.Generation, Version: 1}
			return state.NodeDelta{ID: id, Heartbeat: 1, To: 0, PubKey: rk.Public, Head: state.Head{Version: 1, Sig: rk.Sign(identity.AppendHeadMessage(nil, &h))}}
		}()), func(c Counters) uint64 { return c.NotAllowed }},
		{"new generation under the owner's key, rogue-signed", push(func() state.NodeDelta {
			id := held.ID
			id.Generation += uint64(time.Millisecond)
			h := identity.Head{Owner: id.Name, Generation: id.Generation, Version: 1}
			return state.NodeDelta{ID: id, Heartbeat: 1, PubKey: held.PubKey(), Head: state.Head{Version: 1, Sig: rk.Sign(identity.AppendHeadMessage(nil, &h))}}
		}()), badSig},
		{"heartbeat epoch far ahead in a delta", push(func() state.NodeDelta {
			nd := base()
			nd.To = nd.From
			nd.Heartbeat = (epoch(held.Heartbeat) + 5) << epochShift
			return nd
		}()), func(c Counters) uint64 { return c.BadHeartbeat }},
		{"heartbeat epoch far ahead in a beat", func() *wire.Packet {
			return &wire.Packet{Type: wire.Beat, Sender: held.ID, Heartbeat: (epoch(held.Heartbeat) + 5) << epochShift}
		}(), func(c Counters) uint64 { return c.BadHeartbeat }},
		{"unsigned delta (identity off)", push(func() state.NodeDelta {
			nd := base()
			nd.PubKey, nd.Head = nil, state.Head{}
			nd.Entries = []*state.Entry{{Version: held.Version + 1, Kind: state.KindSet, Key: "k", Value: []byte("evil")}}
			return nd
		}()), func(c Counters) uint64 { return c.BadSignature + c.Unsigned }},
	}
	for _, f := range forgeries {
		before := s.views(victim, honest)
		cnt := sumStats(honest, f.counter)
		s.inject(rogue, f.pk)
		after := s.views(victim, honest)
		require.Equal(t, before, after, "%s changed what honest peers hold of the victim", f.name)
		require.Greater(t, sumStats(honest, f.counter), cnt, "%s was not counted", f.name)
		t.Logf("%-50s dropped; counted %d -> %d", f.name, cnt, sumStats(honest, f.counter))
	}

	// A reply to an ask, in the victim's name.
	asker := s.peers[0]
	out, askV, err := asker.core.Ask(s.now, "q", nil, state.EncodingRaw, time.Minute)
	require.NoError(t, err)
	s.do(asker, out)
	bs := asker.core.Stats().BadSignature
	forged := &wire.Packet{Type: wire.Reply, Sender: held.ID, Reply: wire.ReplyMsg{AskNode: asker.core.ID().Key(), AskVersion: askV, Value: []byte("lie")}}
	rogue.core.stamp(forged)
	forged.Sender = held.ID
	b, err := rogue.core.Encode(s.now, Outgoing{To: asker.addr, Packet: forged})
	require.NoError(t, err)
	got := asker.core.HandlePacket(s.now, rogue.addr, b)
	require.Empty(t, got.Replies, "a forged reply reached the asker")
	require.Equal(t, bs+1, asker.core.Stats().BadSignature)

	// A lie about liveness in the rogue's own (signed) name: a suspicion of
	// the victim dated far ahead. One accuser is short of the quorum, and
	// its epoch is not the victim's, so it never counts.
	from := rogue.core.st.Self().Version
	rogue.core.st.Suspect(victim.Name(), state.Suspicion{Generation: held.ID.Generation, Heartbeat: 1 << 62})
	announce := &Output{}
	rogue.core.announce(s.now, from, announce)
	s.do(rogue, *announce)
	for range 50 {
		s.step()
	}
	for i, p := range honest {
		vn, ok := p.core.st.Node(victim.Name())
		require.True(t, ok)
		if p != victim {
			require.Zero(t, p.core.members.validAccusers(vn), "%s counts the rogue's suspicion", p.addr)
			_, alive := find(p.LivePeers(), victim.Name())
			require.True(t, alive, "%s thinks the victim is dead", p.addr)
		}
		for _, ev := range p.events[eventsBefore[i]:] {
			require.False(t, ev.Peer == victim.Name() && (ev.Kind == PeerStop || ev.Kind == Said || ev.Kind == Asked ||
				ev.Kind == KeySet && string(ev.Value) != "real" || ev.Kind == KeyDeleted), "%s reported a forged event %+v", p.addr, ev)
		}
	}

	// Honest peers keep converging: the victim's next real writes reach all.
	s.set(victim, "k", "after", 0)
	s.until(20, func() bool { return s.allHave(victim, "k", "after") }, "a real write after the forgeries")
	out2, err := victim.core.Say(s.now, "ev", []byte("true"), state.EncodingText, time.Minute, false)
	require.NoError(t, err)
	s.do(victim, out2)
	s.flush()
	for _, p := range honest {
		if p != victim {
			require.GreaterOrEqual(t, count(p.events, Said), 1, "%s did not hear the victim's real say", p.addr)
		}
	}
}

// A pre-signed expiry (the tombstone a set becomes) delivered before its
// time is refused; the set itself arrives later and is live.
func TestSimIdentityEarlyExpiryRefused(t *testing.T) {
	s := newIdentSim(t, 4, false, nil)
	s.until(100, s.allKnowAll, "join")
	victim, rogue := s.peers[1], s.peers[3]
	e, err := victim.core.st.Set("t", []byte("v"), state.EncodingText, s.now.Add(time.Hour).UnixMilli())
	require.NoError(t, err)
	require.NotEmpty(t, e.ExpirySig)
	held, _ := rogue.core.st.Node(victim.Name())
	tomb := &state.Entry{Version: e.Version, Kind: state.KindTombstone, Key: "t", ExpiresAt: e.ExpiresAt, Sig: e.ExpirySig}
	nd := state.NodeDelta{ID: held.ID, Heartbeat: held.Heartbeat, From: held.Version, To: e.Version,
		PubKey: held.PubKey(), Head: held.Head(), Entries: []*state.Entry{tomb}}
	bs := sumStats(s.peers[:3], func(c Counters) uint64 { return c.BadSignature })
	s.inject(rogue, &wire.Packet{Type: wire.Push, Delta: state.Delta{Nodes: []state.NodeDelta{nd}}})
	require.Greater(t, sumStats(s.peers[:3], func(c Counters) uint64 { return c.BadSignature }), bs)
	s.until(50, func() bool { return s.allHave(victim, "t", "v") }, "the real set after a refused early expiry")
}

// Keys rotate: the victim re-keys (new key pair, new incarnation) and the
// operator replaces its allow-list entry everywhere; its values survive.
func TestSimIdentityRekeyKeepsState(t *testing.T) {
	s := newIdentSim(t, 5, false, nil)
	s.until(100, s.allKnowAll, "join")
	victim := s.peers[2]
	s.set(victim, "k", "v", 0)
	s.until(20, func() bool { return s.allHave(victim, "k", "v") }, "value")
	nk := simKeys(2, 1)
	victim.core.Stop()
	require.NoError(t, victim.core.SetIdentityKeys(nk))
	s.allow[victim.addr] = nk.Public
	for _, p := range s.pins {
		p.SetAllowList(s.allow)
	}
	s.now = s.now.Add(time.Second)
	victim.core.Start(s.now, state.NodeID{Name: victim.addr, Generation: uint64(s.now.UnixNano()), Addr: victim.addr})
	s.until(100, func() bool {
		for _, p := range s.peers {
			n, ok := p.core.st.Node(victim.Name())
			if !ok || !ed25519.PublicKey(n.PubKey()).Equal(nk.Public) {
				return false
			}
		}
		return s.allHave(victim, "k", "v")
	}, "the re-keyed peer's state everywhere")
	s.set(victim, "k", "v2", 0)
	s.until(20, func() bool { return s.allHave(victim, "k", "v2") }, "a write under the new key")
}

// Trust on first use: the first key seen for a name is pinned, a second
// one refused and counted, and what was held stays.
func TestSimIdentityTOFURefusesSecondKey(t *testing.T) {
	s := newIdentSim(t, 4, true, nil)
	s.until(100, s.allKnowAll, "join")
	victim := s.peers[1]
	s.set(victim, "k", "v", 0)
	s.until(20, func() bool { return s.allHave(victim, "k", "v") }, "value")
	victim.core.Stop()
	require.NoError(t, victim.core.SetIdentityKeys(simKeys(1, 1)))
	s.now = s.now.Add(time.Second)
	victim.core.Start(s.now, state.NodeID{Name: victim.addr, Generation: uint64(s.now.UnixNano()), Addr: victim.addr})
	others := []*simPeer{s.peers[0], s.peers[2], s.peers[3]}
	for range 30 {
		s.step()
	}
	require.Positive(t, sumStats(others, func(c Counters) uint64 { return c.KeyChanged }))
	for _, p := range others {
		n, ok := p.core.st.Node(victim.Name())
		require.True(t, ok)
		require.True(t, ed25519.PublicKey(n.PubKey()).Equal(s.keys[1].Public), "%s took the second key", p.addr)
		e, ok := p.core.Get(victim.Name(), "k", s.now.UnixMilli())
		require.True(t, ok)
		require.Equal(t, "v", string(e.Value))
	}
}

// Mixed clusters: peers with identity mode off and on never merge; both
// sides count the refusal.
func TestSimIdentityMixedClusterRefused(t *testing.T) {
	s := newIdentSim(t, 5, false, func(i int) bool { return i != 4 })
	off := s.peers[4]
	s.set(off, "k", "plain", 0)
	for i := range 4 {
		s.set(s.peers[i], "k", fmt.Sprint("signed", i), 0)
	}
	for range 60 {
		s.step()
	}
	on := s.peers[:4]
	require.Positive(t, sumStats(on, func(c Counters) uint64 { return c.Unsigned }))
	require.Positive(t, off.core.Stats().Mixed)
	for _, p := range on {
		_, ok := p.core.st.Node(off.Name())
		require.False(t, ok, "%s holds the plain peer", p.addr)
	}
	for _, p := range on {
		_, ok := off.core.st.Node(p.Name())
		require.False(t, ok, "the plain peer holds %s", p.addr)
	}
	for _, p := range on[1:] {
		e, ok := p.core.Get(s.peers[0].Name(), "k", s.now.UnixMilli())
		require.True(t, ok)
		require.Equal(t, "signed0", string(e.Value))
	}
}

// A forged head kept as an unverified candidate (it came with a push that
// did not need it) never blocks the owner's refutation: a delta whose new
// epoch needs its head has that head verified on the spot.
func TestSimIdentityForgedCandidateHeadDoesNotBlockRefutation(t *testing.T) {
	s := newIdentSim(t, 4, false, nil)
	s.until(100, s.allKnowAll, "join")
	victim, rogue := s.peers[1], s.peers[3]
	held, _ := rogue.core.st.Node(victim.Name())
	bogus := identity.Head{Owner: held.ID.Name, Generation: held.ID.Generation, Version: held.Version + 50, Epoch: held.Head().Epoch + 9}
	nd := state.NodeDelta{ID: held.ID, From: held.Version, To: held.Version, PubKey: held.PubKey(),
		Head: state.Head{Version: bogus.Version, Epoch: bogus.Epoch, Sig: s.keys[3].Sign(identity.AppendHeadMessage(nil, &bogus))}}
	s.inject(rogue, &wire.Packet{Type: wire.Push, Delta: state.Delta{Nodes: []state.NodeDelta{nd}}})

	var out Output
	victim.core.refute(s.now, &out)
	s.do(victim, out)
	want := epoch(victim.core.st.Self().Heartbeat)
	require.NotZero(t, want)
	for _, p := range []*simPeer{s.peers[0], s.peers[2]} {
		n, _ := p.core.st.Node(victim.Name())
		require.Equal(t, want, epoch(n.Heartbeat), "%s did not take the refutation", p.addr)
		require.Equal(t, want, n.Head().Epoch)
	}
	// Sending the victim's state on verifies the forged candidate: refused,
	// counted, and the real head goes out.
	p0 := s.peers[0]
	bs := p0.core.Stats().BadSignature
	vn, _ := p0.core.st.Node(victim.Name())
	d := p0.core.st.BuildDelta([]state.Request{{Node: vn, Identity: true}}, 1<<20, s.now.UnixMilli(), nil)
	require.Len(t, d.Nodes, 1)
	require.Equal(t, want, d.Nodes[0].Head.Epoch, "the forged head went out")
	require.Equal(t, bs+1, p0.core.Stats().BadSignature, "the forged candidate was not checked")
}

// Under TOFU a key whose signature fails is never pinned: the real owner
// of the name still gets in afterwards.
func TestSimIdentityTOFUBadSignatureDoesNotPin(t *testing.T) {
	s := newIdentSim(t, 3, true, nil)
	s.until(100, s.allKnowAll, "join")
	rogue := s.peers[2]
	name := memAddr(3)
	id := state.NodeID{Name: name, Generation: uint64(s.now.UnixNano()), Addr: name}
	h := identity.Head{Owner: name, Generation: id.Generation, Version: 0}
	sig := s.keys[2].Sign(identity.AppendHeadMessage(nil, &h))
	sig[0] ^= 1
	s.inject(rogue, &wire.Packet{Type: wire.Push, Delta: state.Delta{Nodes: []state.NodeDelta{{
		ID: id, Heartbeat: 1, PubKey: s.keys[2].Public, Head: state.Head{Sig: sig},
	}}}})
	for _, p := range s.peers[:2] {
		_, pinned := p.core.cfg.Identity.Pins.Pinned()[name]
		require.False(t, pinned, "%s pinned a key that did not sign", p.addr)
	}
	s.keys = append(s.keys, simKeys(3, 0))
	late := s.add(3)
	s.until(100, s.allKnowAll, "the real owner of the name joins")
	s.set(late, "k", "v", 0)
	s.until(20, func() bool { return s.allHave(late, "k", "v") }, "its value everywhere")
}
