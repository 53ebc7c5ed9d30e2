//go:build netns

package netns

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Scenario durations are deliberate (how long the network stays broken),
// not synchronisation: every assertion polls until a deadline.
const (
	lossDuration      = 15 * time.Second
	partitionDuration = 20 * time.Second
)

// Loss on every link while every peer writes: at 10 % and 30 % no agent
// may declare a live peer dead; at 50 % deaths are reported, and every peer
// must be alive again once the loss is removed. At every level each
// acknowledged write must reach every peer once the loss is gone.
func TestLossNoFalseDeathNoLostWrite(t *testing.T) {
	c := newCluster(t, peerCount(t))
	for _, pct := range []int{10, 30, 50} {
		w := newWrites()
		start := time.Now()
		c.tp.setLoss(pct)
		c.writeFor(lossDuration, fmt.Sprintf("l%d", pct), w)
		in, dropped := c.tp.lossStats()
		if in == 0 || dropped == 0 {
			t.Fatalf("loss %d%%: the loss rule saw %d packets and dropped %d: no loss was made", pct, in, dropped)
		}
		c.tp.setLoss(0)
		took := c.waitWrites(w, 60*time.Second)
		alive := c.waitAllAlive(30 * time.Second)
		deaths := c.deaths(start)
		t.Logf("loss %d%% for %v (measured %.1f%% of %d packets): %d writes acknowledged, %d failed, all on every peer %.2fs after the loss ended, all alive after %.2fs, %d deaths",
			pct, lossDuration, 100*float64(dropped)/float64(in), in, w.total(), len(w.failed), took.Seconds(), alive.Seconds(), len(deaths))
		if w.total() == 0 {
			t.Fatalf("loss %d%%: no write was acknowledged (%v)", pct, w.failed)
		}
		if pct <= 30 && len(deaths) > 0 {
			t.Fatalf("loss %d%%: %d false deaths:\n%s", pct, len(deaths), strings.Join(deaths, "\n"))
		}
		for _, d := range deaths {
			t.Logf("loss %d%%: %s", pct, d)
		}
	}
}

// A partition into two halves for partitionDuration, with writes, updates
// and deletes on both sides, then healed: everything converges everywhere,
// deleted keys stay deleted.
func TestPartitionHeals(t *testing.T) {
	c := newCluster(t, peerCount(t))
	n := len(c.agents)
	for _, a := range c.agents {
		c.mustCLI(a, "set", "color", "before")
		c.mustCLI(a, "set", "doomed", "before")
	}
	c.waitValues("before the partition", map[string]string{"color": "before", "doomed": "before"}, nil, 30*time.Second)

	var sideB []int
	for i := n/2 + 1; i <= n; i++ {
		sideB = append(sideB, i)
	}
	start := time.Now()
	c.tp.partition(sideB)
	t.Logf("partition: n1..n%d | n%d..n%d", n/2, n/2+1, n)
	deletedAt := map[string]time.Time{}
	for _, a := range c.agents {
		c.mustCLI(a, "set", "color", "during-"+a.name)
		c.mustCLI(a, "del", "doomed")
		deletedAt[a.name] = time.Now()
	}
	w := newWrites()
	c.writeFor(partitionDuration, "part", w)
	healAt := time.Now()
	c.tp.heal()

	took := c.waitWrites(w, 60*time.Second)
	colors := map[string]string{}
	for _, a := range c.agents {
		colors[a.name] = "during-" + a.name
	}
	c.waitOwnValues("after healing", "color", colors, 30*time.Second)
	c.waitValues("after healing", nil, []string{"doomed"}, 30*time.Second)
	alive := c.waitAllAlive(30 * time.Second)
	// The cut was real and only the cut: every agent declared every peer
	// of the other side dead during the partition, and none of its own.
	inB := func(a *agent) bool { return a.idx > n/2 }
	for _, r := range c.agents {
		for _, o := range c.agents {
			if r == o {
				continue
			}
			died := r.w.has(func(e event) bool {
				return e.Name == "peer:stop" && e.Peer == o.name && e.at.After(start) && e.at.Before(healAt)
			})
			if same := inB(r) == inB(o); same && died {
				t.Errorf("%s declared %s, on its own side, dead", r.name, o.name)
			} else if !same && !died {
				t.Errorf("%s never declared %s, across the partition, dead: was there a partition?", r.name, o.name)
			}
		}
	}
	t.Logf("partition of %v, %d writes acknowledged during it: all on every peer %.2fs after healing, all alive after %.2fs; %d deaths during the partition (expected: each side loses the other)",
		healAt.Sub(start).Round(100*time.Millisecond), w.total(), took.Seconds(), alive.Seconds(), len(c.deaths(start)))

	// No resurrection: no stream saw "doomed" set again after its owner
	// deleted it, every stream saw the delete, and it is still gone.
	for _, r := range c.agents {
		for _, o := range c.agents {
			if r == o {
				continue
			}
			if back := r.w.filter(func(e event) bool {
				return e.Name == "set:doomed" && e.Peer == o.name && e.at.After(deletedAt[o.name])
			}); len(back) > 0 {
				t.Errorf("%s saw %s's deleted key set again %d times", r.name, o.name, len(back))
			}
			c.eventually(10*time.Second, fmt.Sprintf("%s's stream shows %s's delete", r.name, o.name), func() error {
				if !r.w.has(func(e event) bool { return e.Name == "delete:doomed" && e.Peer == o.name }) {
					return fmt.Errorf("no delete:doomed event")
				}
				return nil
			})
		}
	}
	c.waitValues("still", nil, []string{"doomed"}, time.Second)
}

// A peer whose cable is pulled and whose agent is SIGKILLed is declared
// dead by every other; restarted on its address, it is declared alive
// again, its new values win everywhere and its old incarnation's keys are
// gone. Nobody else is declared dead meanwhile.
func TestCutOffKilledRestarted(t *testing.T) {
	c := newCluster(t, peerCount(t))
	n := len(c.agents)
	v := c.agents[n-1]
	others := c.agents[:n-1]
	c.mustCLI(v, "set", "gen", "old")
	c.mustCLI(v, "set", "old-only", "x")
	c.waitOwnValues("before the cut", "gen", map[string]string{v.name: "old"}, 30*time.Second)

	cut := time.Now()
	c.tp.link(v.idx, false)
	v.kill()
	detect := c.eventually(60*time.Second, "every other agent declares "+v.name+" dead", func() error {
		for _, a := range others {
			if !a.w.has(func(e event) bool { return e.Name == "peer:stop" && e.Peer == v.name && e.at.After(cut) }) {
				return fmt.Errorf("%s has not declared %s dead", a.name, v.name)
			}
		}
		return nil
	})

	restart := time.Now()
	c.tp.link(v.idx, true)
	c.start(v, v.addr, c.agents[0].addr) // same address, a new incarnation
	c.mustCLI(v, "set", "gen", "new")
	c.eventually(30*time.Second, "every other agent declares "+v.name+" alive again", func() error {
		for _, a := range others {
			if !a.w.has(func(e event) bool { return e.Name == "peer:start" && e.Peer == v.name && e.at.After(restart) }) {
				return fmt.Errorf("%s has not declared %s alive", a.name, v.name)
			}
		}
		return nil
	})
	back := time.Since(restart)
	wins := c.waitOwnValues("after the restart", "gen", map[string]string{v.name: "new"}, 30*time.Second)
	c.eventually(30*time.Second, "the old incarnation's keys are gone", func() error {
		for _, r := range others {
			if _, ok, err := c.get(r, v, "old-only"); err != nil || ok {
				return fmt.Errorf("%s still holds %s's old-only (err %v)", r.name, v.name, err)
			}
		}
		return nil
	})
	c.waitAllAlive(30 * time.Second)
	c.waitReady()
	t.Logf("%s cut off and killed: declared dead by all after %.2fs; restarted: alive for all %.2fs after its start (binary start and port read-back included), its new value everywhere %.2fs after that",
		v.name, detect.Seconds(), back.Seconds(), wins.Seconds())
	for _, a := range c.agents {
		for _, e := range a.w.filter(func(e event) bool { return e.Name == "peer:stop" && e.Peer != v.name && e.at.After(cut) }) {
			t.Errorf("false death: %s declared %s dead at +%.1fs", a.name, e.Peer, e.at.Sub(cut).Seconds())
		}
	}
}

// waitValues waits until every agent holds, for every other agent, key =
// value for each of want and no key of absent.
func (c *cluster) waitValues(what string, want map[string]string, absent []string, d time.Duration) time.Duration {
	c.t.Helper()
	return c.eventually(d, what+": values everywhere", func() error {
		for _, r := range c.agents {
			for _, o := range c.agents {
				if r == o {
					continue
				}
				for k, v := range want {
					got, ok, err := c.get(r, o, k)
					if err != nil {
						return err
					}
					if !ok || got != v {
						return fmt.Errorf("%s reads %s's %s = %q (found %v), want %q", r.name, o.name, k, got, ok, v)
					}
				}
				if len(absent) == 0 {
					continue
				}
				ks, err := c.keys(r, o)
				if err != nil {
					return err
				}
				for _, k := range absent {
					if ks[k] {
						return fmt.Errorf("%s still holds %s's %s", r.name, o.name, k)
					}
				}
			}
		}
		return nil
	})
}

// waitOwnValues waits until every other agent reads owner's key as
// want[owner], for each owner in want.
func (c *cluster) waitOwnValues(what, key string, want map[string]string, d time.Duration) time.Duration {
	c.t.Helper()
	return c.eventually(d, what+": "+key+" everywhere", func() error {
		for _, o := range c.agents {
			v, ok := want[o.name]
			if !ok {
				continue
			}
			for _, r := range c.agents {
				if r == o {
					continue
				}
				got, found, err := c.get(r, o, key)
				if err != nil {
					return err
				}
				if !found || got != v {
					return fmt.Errorf("%s reads %s's %s = %q (found %v), want %q", r.name, o.name, key, got, found, v)
				}
			}
		}
		return nil
	})
}
