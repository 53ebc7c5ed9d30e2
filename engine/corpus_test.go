package engine

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine/internal/guard"
	"github.com/telepathine/telepathine/engine/internal/protocol"
	"github.com/telepathine/telepathine/engine/transport"
)

// The corpus in testdata/captured holds packets a real cluster sent on
// loopback sockets (plain and encrypted with keyA). Regenerate it with
//
//	go test ./engine -run TestCapturedCorpus -capture
var capture = flag.Bool("capture", false, "recapture engine/testdata/captured from a loopback cluster")

const corpusDir = "testdata/captured"

// recording wraps a transport and keeps a copy of what it sends.
type recording struct {
	transport.Transport
	mu   *sync.Mutex
	sent *[][]byte
}

func (r recording) Send(addr string, data []byte) error {
	r.mu.Lock()
	*r.sent = append(*r.sent, append([]byte(nil), data...))
	r.mu.Unlock()
	return r.Transport.Send(addr, data)
}

func captureCorpus(t *testing.T, mode string, keys [][]byte) {
	var mu sync.Mutex
	var sent [][]byte
	cl := newNetCluster(t, 3, func(i int, c *Config) {
		c.Security.Keys = keys
		c.Transport = func() (transport.Transport, error) {
			tr, err := transport.NewNet(transport.Config{BindAddr: "127.0.0.1:0", MTU: c.MTU, MaxFrame: c.Limits.PacketSize})
			if err != nil {
				return nil, err
			}
			return recording{Transport: tr, mu: &mu, sent: &sent}, nil
		}
	})
	eventually(t, waitFor, cl.converged, "converge")
	for i, p := range cl.peers {
		require.NoError(t, p.Set(fmt.Sprintf("key-%d", i), String("value")))
		require.NoError(t, p.Say("event", String("payload")))
	}
	_, err := cl.peers[0].Delete("key-0")
	require.NoError(t, err)
	eventually(t, waitFor, func() bool { _, ok := remote(cl.peers[2], cl.peers[1].Name(), "key-1"); return ok }, "spread")
	mu.Lock()
	defer mu.Unlock()
	require.NoError(t, os.MkdirAll(corpusDir, 0o755))
	// A packet sent to several peers is sent as the same bytes (one seal):
	// keep one copy, or the replay window would rightly refuse the second.
	seen := map[string]bool{}
	sent = slices.DeleteFunc(sent, func(b []byte) bool {
		dup := seen[string(b)]
		seen[string(b)] = true
		return dup
	})
	for i, b := range sent[:min(len(sent), 60)] {
		require.NoError(t, os.WriteFile(filepath.Join(corpusDir, fmt.Sprintf("%s-%03d.bin", mode, i)), b, 0o644))
	}
	// An encrypted envelope carries only the low bits of its send time,
	// which the receiver completes from its own clock: the replaying test
	// must receive the packets at about the time they were sent.
	at := strconv.FormatInt(time.Now().UnixMilli(), 10) + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(corpusDir, mode+"-captured-at.txt"), []byte(at), 0o644))
}

// capturedAt is when the corpus of mode was captured.
func capturedAt(t *testing.T, mode string) time.Time {
	b, err := os.ReadFile(filepath.Join(corpusDir, mode+"-captured-at.txt"))
	require.NoError(t, err, "run with -capture")
	ms, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	require.NoError(t, err)
	return time.UnixMilli(ms)
}

func loadCorpus(t *testing.T, mode string) [][]byte {
	names, err := filepath.Glob(filepath.Join(corpusDir, mode+"-*.bin"))
	require.NoError(t, err)
	sort.Strings(names)
	require.NotEmpty(t, names, "no captured %s packets: run with -capture", mode)
	out := make([][]byte, len(names))
	for i, n := range names {
		out[i], err = os.ReadFile(n)
		require.NoError(t, err)
	}
	return out
}

// coreFor builds a bare protocol core of cluster "test" with cfg's
// security, whose replay window accepts the corpus's old send times, so that
// an unmodified captured packet is accepted and only the mutation can make
// a copy fail.
func coreFor(t *testing.T, keys [][]byte) *protocol.Core {
	cfg := testConfig().withDefaults()
	cfg.Security.Keys = keys
	pc := cfg.protocol()
	var err error
	pc.Trust, err = cfg.trust()
	require.NoError(t, err)
	start := time.Unix(1_600_000_000, 0)
	pc.Trust.Replay = guard.NewReplay(guard.ReplayConfig{MaxAge: 100 * 365 * 24 * time.Hour}, start)
	c := protocol.New(pc, rand.New(rand.NewPCG(1, 2)))
	c.SetName("receiver")
	c.Start(time.Now(), c.ID())
	return c
}

// Bit flips, truncations and overwritten bytes of real packets: with the
// envelope, every mutated copy is dropped and counted (on main about 19 %
// decoded, and within seconds every peer held dozens of garbage peers).
func TestCapturedCorpusMutationsDropped(t *testing.T) {
	if *capture {
		captureCorpus(t, "plain", nil)
		captureCorpus(t, "aes", [][]byte{keyA})
	}
	for _, tc := range []struct {
		mode string
		keys [][]byte
	}{{"plain", nil}, {"aes", [][]byte{keyA}}} {
		t.Run(tc.mode, func(t *testing.T) {
			corpus := loadCorpus(t, tc.mode)
			rng := rand.New(rand.NewPCG(11, 12))
			c := coreFor(t, tc.keys)
			now := capturedAt(t, tc.mode)
			const mutations = 20000
			for i := range mutations {
				b := append([]byte(nil), corpus[i%len(corpus)]...)
				switch i % 3 {
				case 0: // one bit flipped
					p := rng.IntN(len(b))
					b[p] ^= 1 << rng.IntN(8)
				case 1: // truncated
					b = b[:rng.IntN(len(b))]
				case 2: // up to 8 bytes overwritten (kept only if they differ)
					p := rng.IntN(len(b))
					changed := false
					for j := p; j < min(len(b), p+1+rng.IntN(8)); j++ {
						v := byte(rng.Uint32())
						changed = changed || v != b[j]
						b[j] = v
					}
					if !changed {
						b[p] ^= 0xff
					}
				}
				out := c.HandlePacket(now, "127.0.0.1:9", b)
				require.Empty(t, out.Events, "mutation %d applied something", i)
			}
			s := c.Stats()
			dropped := s.Checksum + s.AuthFailed + s.Malformed + s.BadVersion + s.Truncated + s.BadMagic + s.UnknownKey + s.Plaintext + s.NoKey
			t.Logf("%s: %d mutated real packets, %d dropped (checksum %d, auth %d, unknown key %d, version %d, malformed %d), none applied, %d garbage peers",
				tc.mode, mutations, dropped, s.Checksum, s.AuthFailed, s.UnknownKey, s.BadVersion, s.Malformed+s.Truncated+s.BadMagic,
				c.Gauges(now.UnixMilli()).Peers)
			assert.EqualValues(t, mutations, dropped, "every mutated packet dropped: %+v", s)
			assert.Zero(t, c.Gauges(now.UnixMilli()).Peers, "no garbage peer")
			// Most are caught by the mode's own check (a flipped mode
			// nibble lands in the other one).
			if tc.mode == "aes" {
				assert.Greater(t, s.AuthFailed, uint64(mutations/2))
			} else {
				assert.Greater(t, s.Checksum, uint64(mutations/2))
			}

			// The unmodified packets are accepted (the drops above are the
			// mutations' doing).
			fresh := coreFor(t, tc.keys)
			for _, b := range corpus {
				fresh.HandlePacket(now, "127.0.0.1:9", append([]byte(nil), b...))
			}
			fs := fresh.Stats()
			assert.Zero(t, fs.Checksum+fs.AuthFailed+fs.Malformed+fs.Replayed, "%+v", fs)
			assert.Positive(t, fresh.Gauges(now.UnixMilli()).Peers, "real packets introduce the real peers")
		})
	}
}
