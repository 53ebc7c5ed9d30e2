//go:build interop

package interop

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine"
	"github.com/telepathine/telepathine/ffi_tests/drive"
)

func jsonValue(t *testing.T, doc string) engine.Value {
	t.Helper()
	v, err := engine.RawJSON([]byte(doc))
	require.NoError(t, err)
	return v
}

// Every peer reads every other's keys with the same value and type.
func TestKeysCrossEveryLanguage(t *testing.T) {
	ps := cluster(t, "interop-keys", perLang())
	values := func(p *proc) map[string]engine.Value {
		return map[string]engine.Value{
			"text":  engine.String("hello from " + p.Lang + " ✓"),
			"json":  jsonValue(t, fmt.Sprintf(`{"lang":%q,"n":[1,2.5,true,null],"nested":{"k":"v"}}`, p.Lang)),
			"bytes": engine.Bytes([]byte{0, 1, 2, 0xfe, 0xff, byte(len(p.Lang))}),
		}
	}
	for _, p := range ps {
		for k, v := range values(p) {
			p.set(k, v)
		}
	}
	for _, reader := range ps {
		for _, owner := range ps {
			for k, want := range values(owner) {
				eventually(t, 20*time.Second, func() bool {
					got, ok := reader.get(owner.Name, k)
					return ok && drive.Same(got, want)
				}, "%s reading %s's %q", reader.Lang, owner.Lang, k)
			}
		}
	}
}

// say/hear and ask/reply cross every pair of languages.
func TestEventsCrossEveryPair(t *testing.T) {
	ps := cluster(t, "interop-events", perLang())
	for _, p := range ps {
		reply := engine.String("reply from " + p.Lang)
		require.NoError(t, p.Hear("greet:*", &reply))
	}
	for _, s := range ps {
		require.NoError(t, s.Say("greet:"+s.Lang, jsonValue(t, fmt.Sprintf(`{"from":%q}`, s.Lang))))
	}
	for _, r := range ps {
		for _, s := range ps {
			if r == s {
				continue
			}
			eventually(t, 20*time.Second, func() bool {
				return len(r.heard(func(e drive.Event) bool { return e.Name == "say:greet:"+s.Lang && e.Peer == s.Name })) == 1
			}, "%s hearing %s", r.Lang, s.Lang)
			got := r.heard(func(e drive.Event) bool { return e.Name == "say:greet:"+s.Lang && e.Peer == s.Name })[0]
			require.NotNil(t, got.Value, "%s hearing %s: no data", r.Lang, s.Lang)
			assert.True(t, drive.Same(*got.Value, jsonValue(t, fmt.Sprintf(`{"from":%q}`, s.Lang))),
				"%s hearing %s: %s", r.Lang, s.Lang, drive.Show(*got.Value))
		}
		assert.Empty(t, r.heard(func(e drive.Event) bool { return e.Peer == r.Name }), "%s heard itself", r.Lang)
	}
	for _, asker := range ps {
		rs, err := asker.Ask("greet:ask", engine.String("who is there?"), 5*time.Second)
		require.NoError(t, err)
		replies := map[string]string{}
		for _, r := range rs {
			assert.Equal(t, engine.Text, r.Value.Encoding, "%s's reply to %s", r.Peer, asker.Lang)
			replies[r.Peer] = string(r.Value.Data)
		}
		for _, other := range ps {
			if other != asker {
				assert.Equal(t, "reply from "+other.Lang, replies[other.Name], "%s asking %s", asker.Lang, other.Lang)
			}
		}
		assert.NotContains(t, replies, asker.Name, "%s answered its own ask", asker.Lang)
	}
}

// An expiring key expires on every replica, in every language.
func TestExpiryEverywhere(t *testing.T) {
	ps := cluster(t, "interop-expiry", perLang())
	for _, p := range ps {
		require.NoError(t, p.On("key:expired"))
	}
	owner := ps[len(ps)-1]
	at := time.Now().Add(1500 * time.Millisecond).UnixMilli()
	require.NoError(t, owner.Set("lease", engine.String("mine"), at))
	for _, p := range ps {
		eventually(t, 20*time.Second, func() bool {
			return len(p.heard(func(e drive.Event) bool { return e.Name == "key:expired" && e.Key == "lease" && e.Peer == owner.Name })) == 1
		}, "%s seeing the expiry", p.Lang)
		assert.GreaterOrEqual(t, time.Now().UnixMilli(), at, "%s expired the key early", p.Lang)
		_, ok := p.get(owner.Name, "lease")
		assert.False(t, ok, "%s still reads an expired key", p.Lang)
	}
}

// SIGKILL one process: all others report it dead. Its restart (a new
// process with the same name) is alive again, with its new values winning.
func TestCrashAndRestartAcrossLanguages(t *testing.T) {
	for _, victimLang := range langs() {
		t.Run(victimLang, func(t *testing.T) {
			ps := cluster(t, "interop-crash-"+victimLang, perLang())
			var victim *proc
			var others []*proc
			for _, p := range ps {
				if p.Lang == victimLang && victim == nil {
					victim = p
				} else {
					others = append(others, p)
				}
			}
			victim.set("state", engine.String("before"))
			for _, p := range others {
				eventually(t, 20*time.Second, func() bool {
					v, ok := p.get(victim.Name, "state")
					return ok && drive.Same(v, engine.String("before"))
				}, "value before the crash")
			}
			seed := others[0].Addr
			victim.Kill()
			for _, p := range others {
				eventually(t, 20*time.Second, func() bool {
					dead, err := p.Peers("dead")
					require.NoError(t, err)
					return slices.Contains(dead, victim.Name)
				}, "%s declaring the killed %s peer dead", p.Lang, victimLang)
			}
			// A new process with the same name.
			again := spawn(t, victimLang)
			again.Name = victim.Name
			again.start("interop-crash-"+victimLang, seed)
			require.Equal(t, victim.Name, again.Name)
			again.set("state", engine.String("after"))
			for _, p := range others {
				eventually(t, 20*time.Second, func() bool {
					v, ok := p.get(victim.Name, "state")
					live, err := p.Peers("live")
					require.NoError(t, err)
					return slices.Contains(live, victim.Name) && ok && drive.Same(v, engine.String("after"))
				}, "%s seeing the restarted %s peer alive with its new value", p.Lang, victimLang)
			}
		})
	}
}

// Peers of different clusters never merge, whatever their languages: each
// green peer is seeded with a blue one, the two sides exchange packets
// (their foreign-cluster counters rise), and neither learns of the other.
func TestClusterIsolationAcrossLanguages(t *testing.T) {
	a := cluster(t, "interop-blue", perLang())
	var b []*proc
	for _, l := range langs() {
		p := spawn(t, l)
		p.start("interop-green", a[0].Addr) // seeded with a peer of the other cluster
		b = append(b, p)
	}
	for _, p := range b {
		p.set("secret", engine.String("green"))
	}
	// Wait for real exchanges rather than for a time: every green peer has
	// had at least three of its packets refused (it counts the blue seed's
	// BadCluster answers as foreign), and the seed has counted them.
	eventually(t, 20*time.Second, func() bool {
		for _, q := range b {
			if q.stats().ForeignCluster < 3 {
				return false
			}
		}
		return a[0].stats().ForeignCluster >= uint64(3*len(b))
	}, "the two clusters exchanging packets")
	for _, p := range a {
		all, err := p.Peers("all")
		require.NoError(t, err)
		for _, q := range b {
			assert.NotContains(t, all, q.Name, "%s (blue) knows %s (green)", p.Lang, q.Lang)
			_, ok := p.get(q.Name, "secret")
			assert.False(t, ok, "%s (blue) reads %s's (green) key", p.Lang, q.Lang)
		}
	}
	for _, q := range b {
		all, err := q.Peers("all")
		require.NoError(t, err)
		assert.Empty(t, all, "%s (green) merged with blue", q.Lang)
	}
}
