package protocol

import (
	"fmt"
	"testing"
)

// 32 peers, each with two keys, all joining through the first: every peer
// ends up with every other's values, in simulated time. (The engine's test
// of the same scale runs on real sockets; what the protocol decides is
// shown here, where no loaded machine can slow it down.)
func TestSimThirtyTwoPeersReadIdenticalValues(t *testing.T) {
	const n = 32
	s := newSim(t, n, simConfig())
	for i, p := range s.peers {
		s.set(p, "name", fmt.Sprintf("peer-%d", i), 0)
		s.set(p, "info", fmt.Sprintf(`{"peer":%d,"tags":["a","b"]}`, i), 0)
	}
	rounds := s.until(200, s.allKnowAll, "membership of 32 peers")
	s.until(200, func() bool {
		for i, p := range s.peers {
			if !s.allHave(p, "name", fmt.Sprintf("peer-%d", i)) || !s.allHave(p, "info", fmt.Sprintf(`{"peer":%d,"tags":["a","b"]}`, i)) {
				return false
			}
		}
		return true
	}, "values of 32 peers")
	t.Logf("32 peers: membership in %d rounds", rounds)
}
