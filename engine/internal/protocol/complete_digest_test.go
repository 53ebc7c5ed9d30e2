package protocol

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/telepathine/telepathine/engine/internal/wire"
)

// When the digest no longer fits a datagram, a full-digest round sends one
// target every line (the exchange then reconciles the pair completely) and
// the others the datagram's cut; rounds without a full digest are as
// before.
func TestFullRoundSendsOneCompleteDigest(t *testing.T) {
	cfg := simConfig()
	cfg.MTU = 400 // about 9 lines a datagram
	const n = 40
	s := newSim(t, n, cfg)
	s.until(100, s.allKnowAll, "join")
	p := s.peers[5]
	lines := p.core.DigestLines()
	require.Less(t, lines, n)
	p.core.needFull = true
	p.core.joinSeen = true
	out := p.core.Tick(s.now)
	complete, cut := 0, 0
	for _, o := range out.Packets {
		if o.Packet.Type != wire.Syn {
			continue
		}
		if o.Packet.Digest.Complete {
			complete++
			require.Len(t, o.Packet.Digest.Entries, n)
		} else {
			cut++
			require.LessOrEqual(t, len(o.Packet.Digest.Entries), lines)
		}
	}
	require.Equal(t, 1, complete, "one complete digest")
	require.Positive(t, cut, "the other targets get the datagram's cut")
	s.do(p, out)
}
