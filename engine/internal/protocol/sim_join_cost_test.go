package protocol

import (
	"testing"
)

// joinCost is what a concurrent join through one seed cost the simulated
// cluster (the engine's trust layer on: plain envelopes, the 3x rule)
// until all knew all.
type joinCost struct {
	rounds int
	// lines is the digest lines sent per peer, in all: what every Syn and
	// SynAck of the join encoded, and its receiver decoded and compared.
	lines float64
	// bytes is what each peer sent, in all.
	bytes float64
	// nodes is the node deltas sent per peer (each peer needs N-1).
	nodes float64
	// refused is the strangers refused by the receivers' gate, per peer:
	// lines sent, decoded and dropped.
	refused float64
}

func measureJoinCost(tb testing.TB, n int) joinCost {
	s := trustSim(tb, n, false, true)
	s.dropEvents = true
	var lines, nodes uint64
	s.onSend = func(_ *simPeer, o Outgoing, _ []byte) {
		lines += uint64(len(o.Packet.Digest.Entries))
		nodes += uint64(len(o.Packet.Delta.Nodes))
	}
	var r joinCost
	r.rounds = s.until(40, s.allKnowAll, "join")
	var bytes, refused uint64
	for _, p := range s.peers {
		bytes += p.bytes
		refused += p.core.stats.NewPeersRefused
	}
	r.lines, r.bytes = float64(lines)/float64(n), float64(bytes)/float64(n)
	r.nodes, r.refused = float64(nodes)/float64(n), float64(refused)/float64(n)
	return r
}

// A concurrent join's second round asks the seed, which by then holds
// every peer, for all it holds (seedFirst, gate.seed). Before, the lines a
// joiner's first answer could not carry came in cut digests, mismatch
// answers and follow-ups from peers that knew as little: at N = 256, 4-5
// rounds, 2,470-2,630 digest lines and 63-69 KB sent per peer; with it
// 4-5 rounds, 1,530-1,540 lines and 47-52 KB. (N = 128, run under the
// race detector: 1,245-1,275 lines and 35 KB before, 860-925 lines and
// 26-31 KB after. At N = 64 the seed's answer fits a source's burst and
// nothing changes.)
func TestSimJoinThroughSeedCost(t *testing.T) {
	n, maxRounds, maxLines, maxBytes := 256, 5, 2_000.0, 58_000.0
	if raceDetector {
		n, maxRounds, maxLines, maxBytes = 128, 4, 1_050.0, 36_000.0
	}
	r := measureJoinCost(t, n)
	t.Logf("N=%d: all know all in %d rounds; per peer %.0f digest lines, %.0f bytes, %.0f node deltas sent (%d needed), %.0f refused",
		n, r.rounds, r.lines, r.bytes, r.nodes, n-1, r.refused)
	if r.rounds > maxRounds || r.lines > maxLines || r.bytes > maxBytes {
		t.Errorf("join cost above bounds (%d rounds, %.0f lines, %.0f bytes per peer): %+v", maxRounds, maxLines, maxBytes, r)
	}
}
