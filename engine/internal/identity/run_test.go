package identity

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// signedRun is a run of n distinct entries of kp, starting at version
// first, signed entry by entry and as a whole.
func signedRun(t testing.TB, kp KeyPair, first uint64, n int) (Run, []byte) {
	r := Run{Owner: entry().Owner, Generation: entry().Generation, From: first - 1, To: first + uint64(n) - 1}
	for i := range n {
		e := entry()
		e.Version = first + uint64(i)
		msg := AppendEntryMessage(nil, e)
		r.Entries = append(r.Entries, Signed{Msg: msg, Sig: kp.Sign(msg)})
	}
	return r, kp.SignRun(&r)
}

func TestRunMessageCoversEveryField(t *testing.T) {
	kp, err := Generate()
	require.NoError(t, err)
	base, _ := signedRun(t, kp, 10, 3)
	msg := string(AppendRunMessage(nil, &base))
	clone := func() Run {
		r := base
		r.Entries = append([]Signed(nil), base.Entries...)
		return r
	}
	changes := map[string]func(*Run){
		"owner":      func(r *Run) { r.Owner += "x" },
		"generation": func(r *Run) { r.Generation++ },
		"from":       func(r *Run) { r.From++ },
		"to":         func(r *Run) { r.To++ },
		"dropped":    func(r *Run) { r.Entries = r.Entries[:2] },
		"reordered":  func(r *Run) { r.Entries[0], r.Entries[1] = r.Entries[1], r.Entries[0] },
		"signature":  func(r *Run) { r.Entries[1].Sig = r.Entries[2].Sig },
		"message":    func(r *Run) { r.Entries[1].Msg = append([]byte("x"), r.Entries[1].Msg...) },
		// Bytes moved from a message to its signature: the length
		// prefixes keep the two runs apart.
		"boundary": func(r *Run) {
			e := r.Entries[0]
			r.Entries[0] = Signed{Msg: e.Msg[:len(e.Msg)-1], Sig: append([]byte{e.Msg[len(e.Msg)-1]}, e.Sig...)}
		},
	}
	for name, change := range changes {
		r := clone()
		change(&r)
		require.NotEqual(t, msg, string(AppendRunMessage(nil, &r)), name)
	}
	// The tag keeps a run from verifying as anything else.
	require.Contains(t, msg, runTag)
}

func TestProveRun(t *testing.T) {
	kp, err := Generate()
	require.NoError(t, err)
	other, err := Generate()
	require.NoError(t, err)
	v := NewVerifier(0)

	// A good run: one check proves every entry, applying them hits the cache.
	r, sig := signedRun(t, kp, 1, 8)
	require.Equal(t, 8, v.ProveRun(kp.Public, &r, sig))
	for _, e := range r.Entries {
		require.True(t, v.Verify(kp.Public, e.Msg, e.Sig))
	}
	st := v.Stats()
	require.Equal(t, VerifierStats{Verified: 1, RunProved: 8, CacheHits: 8}, st)
	// The same run again (a second tree, a second pusher): nothing to check.
	require.Equal(t, 0, v.ProveRun(kp.Public, &r, sig))
	require.Equal(t, st, v.Stats())

	// One entry's value changed by a relay that kept the run signature:
	// the run proves nothing, nothing is cached, and only the entries' own
	// checks (here the altered one) count as failures.
	r, sig = signedRun(t, kp, 100, 8)
	bad := dup(r.Entries[3].Msg)
	bad[len(bad)-9] ^= 1
	r.Entries[3].Msg = bad
	require.Equal(t, 0, v.ProveRun(kp.Public, &r, sig))
	require.Equal(t, uint64(1), v.Stats().RunFailed)
	require.Equal(t, uint64(0), v.Stats().Failed, "a failed run is not a bad entry")
	for i, e := range r.Entries {
		require.Equal(t, i != 3, v.Verify(kp.Public, e.Msg, e.Sig), "entry %d", i)
	}
	require.Equal(t, uint64(1), v.Stats().Failed)
	require.Equal(t, uint64(1+7), v.Stats().Verified, "the good entries checked one by one")

	// One entry's signature swapped for another's: the same.
	r, sig = signedRun(t, kp, 200, 8)
	r.Entries[2].Sig = r.Entries[5].Sig
	require.Equal(t, 0, v.ProveRun(kp.Public, &r, sig))
	require.False(t, v.Verify(kp.Public, r.Entries[2].Msg, r.Entries[2].Sig))

	// A run signed by another key proves nothing for this one.
	r, _ = signedRun(t, kp, 300, 8)
	require.Equal(t, 0, v.ProveRun(kp.Public, &r, other.SignRun(&r)))
	require.Equal(t, uint64(3), v.Stats().RunFailed)
	require.False(t, v.cache.Contains(cacheKey(kp.Public, r.Entries[0].Msg, r.Entries[0].Sig)))

	// Malformed: counted, nothing proved.
	require.Equal(t, 0, v.ProveRun(kp.Public, &r, []byte("short")))
	require.Equal(t, 0, v.ProveRun(kp.Public[:5], &r, sig))
	require.Equal(t, uint64(5), v.Stats().RunFailed)
	require.Equal(t, uint64(8), v.Stats().RunProved)
}

func dup(b []byte) []byte { return append([]byte(nil), b...) }

// BenchmarkVerifyRun measures verified entries per CPU-second when pushed
// runs of n distinct entries arrive with their owner's run signature:
// what a receiver does for each, the run proved (n entry messages hashed,
// one Ed25519 check) and every entry then applied (a cache hit). Compare
// with BenchmarkVerify (one check per entry) in the same run; issue 13
// asks for >= 20k per core.
func BenchmarkVerifyRun(b *testing.B) {
	for _, n := range []int{8, 32} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			kp, _ := Generate()
			const runs = 64
			pool := make([]Run, runs)
			sigs := make([][]byte, runs)
			for i := range pool {
				pool[i], sigs[i] = signedRun(b, kp, uint64(i*n+1), n)
			}
			v := NewVerifier(runs * n / 2) // every run a miss
			b.ReportAllocs()
			var cpu time.Duration
			i := 0
			for b.Loop() {
				if i == 0 {
					cpu = cpuTime()
				}
				r := &pool[i%runs]
				if v.ProveRun(kp.Public, r, sigs[i%runs]) != n {
					b.Fatal("run not proved")
				}
				for _, e := range r.Entries {
					if !v.Verify(kp.Public, e.Msg, e.Sig) {
						b.Fatal("bad")
					}
				}
				i++
			}
			cpu = cpuTime() - cpu
			b.ReportMetric(float64(i*n)/cpu.Seconds(), "verified/cpu-s")
		})
	}
}
