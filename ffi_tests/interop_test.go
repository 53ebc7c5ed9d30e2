//go:build interop

package interop

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/ffi_tests/drive"
)

// Every peer reads every other's keys with the same value and type.
func TestKeysCrossEveryLanguage(t *testing.T) {
	ps := cluster(t, "interop-keys", perLang())
	values := func(p *proc) map[string]*value {
		return map[string]*value{
			"text":  text("hello from " + p.Lang + " ✓"),
			"json":  jsonv(fmt.Sprintf(`{"lang":%q,"n":[1,2.5,true,null],"nested":{"k":"v"}}`, p.Lang)),
			"bytes": raw([]byte{0, 1, 2, 0xfe, 0xff, byte(len(p.Lang))}),
		}
	}
	for _, p := range ps {
		for k, v := range values(p) {
			p.call("set", map[string]any{"key": k, "value": v})
		}
	}
	for _, reader := range ps {
		for _, owner := range ps {
			for k, want := range values(owner) {
				eventually(t, 20*time.Second, func() bool {
					got, ok := reader.get(owner.Name, k)
					return ok && same(got, want)
				}, "%s reading %s's %q", reader.Lang, owner.Lang, k)
			}
		}
	}
}

// say/hear and ask/reply cross every pair of languages.
func TestEventsCrossEveryPair(t *testing.T) {
	ps := cluster(t, "interop-events", perLang())
	for _, p := range ps {
		p.call("hear", map[string]any{"pattern": "greet:*", "reply": text("reply from " + p.Lang)})
	}
	for _, s := range ps {
		s.call("say", map[string]any{"event": "greet:" + s.Lang, "value": jsonv(fmt.Sprintf(`{"from":%q}`, s.Lang))})
	}
	for _, r := range ps {
		for _, s := range ps {
			if r == s {
				continue
			}
			eventually(t, 20*time.Second, func() bool {
				return len(r.heard(func(e event) bool { return e.Name == "say:greet:"+s.Lang && e.Peer == s.Name })) == 1
			}, "%s hearing %s", r.Lang, s.Lang)
		}
		assert.Empty(t, r.heard(func(e event) bool { return e.Peer == r.Name }), "%s heard itself", r.Lang)
	}
	for _, asker := range ps {
		m := asker.call("ask", map[string]any{"event": "greet:ask", "value": text("who is there?"), "timeout_ms": 5000})
		replies := map[string]string{}
		for _, r := range m["replies"].([]any) {
			rm := r.(map[string]any)
			replies[rm["peer"].(string)] = *drive.ToValue(rm["value"]).Text
		}
		for _, other := range ps {
			if other != asker {
				assert.Equal(t, "reply from "+other.Lang, replies[other.Name], "%s asking %s", asker.Lang, other.Lang)
			}
		}
	}
}

// An expiring key expires on every replica, in every language.
func TestExpiryEverywhere(t *testing.T) {
	ps := cluster(t, "interop-expiry", perLang())
	for _, p := range ps {
		p.call("on", map[string]any{"pattern": "key:expired"})
	}
	owner := ps[len(ps)-1]
	at := time.Now().Add(1500 * time.Millisecond).UnixMilli()
	owner.call("set", map[string]any{"key": "lease", "value": text("mine"), "expires_at": at})
	for _, p := range ps {
		eventually(t, 20*time.Second, func() bool {
			return len(p.heard(func(e event) bool { return e.Name == "key:expired" && e.Key == "lease" && e.Peer == owner.Name })) == 1
		}, "%s seeing the expiry", p.Lang)
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
			victim.call("set", map[string]any{"key": "state", "value": text("before")})
			for _, p := range others {
				eventually(t, 20*time.Second, func() bool {
					v, ok := p.get(victim.Name, "state")
					return ok && *v.Text == "before"
				}, "value before the crash")
			}
			seed := others[0].Addr
			victim.kill()
			for _, p := range others {
				eventually(t, 20*time.Second, func() bool {
					for _, d := range p.peers("dead") {
						if d == victim.Name {
							return true
						}
					}
					return false
				}, "%s declaring the killed %s peer dead", p.Lang, victimLang)
			}
			// A new process with the same name.
			again := spawn(t, victimLang)
			again.Name = victim.Name
			again.start("interop-crash-"+victimLang, seed)
			require.Equal(t, victim.Name, again.Name)
			again.call("set", map[string]any{"key": "state", "value": text("after")})
			for _, p := range others {
				eventually(t, 20*time.Second, func() bool {
					v, ok := p.get(victim.Name, "state")
					live := false
					for _, l := range p.peers("live") {
						live = live || l == victim.Name
					}
					return live && ok && *v.Text == "after"
				}, "%s seeing the restarted %s peer alive with its new value", p.Lang, victimLang)
			}
		})
	}
}

// Peers of different clusters never merge, whatever their languages.
func TestClusterIsolationAcrossLanguages(t *testing.T) {
	a := cluster(t, "interop-blue", perLang())
	var b []*proc
	for _, l := range langs() {
		p := spawn(t, l)
		p.start("interop-green", a[0].Addr) // seeded with a peer of the other cluster
		b = append(b, p)
	}
	for _, p := range b {
		p.call("set", map[string]any{"key": "secret", "value": text("green")})
	}
	// Give gossip time to (wrongly) merge: many rounds.
	time.Sleep(1500 * time.Millisecond) // what is tested is that nothing happens
	for _, p := range a {
		for _, n := range p.peers("all") {
			for _, q := range b {
				assert.NotEqual(t, q.Name, n, "%s (blue) knows %s (green)", p.Lang, q.Lang)
			}
		}
	}
	for _, q := range b {
		assert.Empty(t, q.peers("all"), "%s (green) merged with blue", q.Lang)
	}
}
