//go:build netns

package netns

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Every namespace this package creates is named "tpn<pid>-<n>-<role>": the
// PID keeps parallel runs apart, and lets a later run recognise the leftovers
// of an aborted one (its PID no longer runs) and remove them.
const nsPrefix = "tpn"

var staleName = regexp.MustCompile(`^` + nsPrefix + `(\d+)-`)

// cmdTimeout bounds every ip/tc/iptables command: they return in
// milliseconds, so a hang means a wedged kernel call, not a slow machine.
const cmdTimeout = 20 * time.Second

// sh runs one command with a timeout and returns its combined output.
func sh(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func mustSh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := sh(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// lossMode is how packet loss is made: netem on the bridge side of each
// veth when the kernel has sch_netem, otherwise an iptables "statistic"
// rule in each peer's INPUT chain. Both drop a packet on its way into the
// receiving peer, so a packet between two peers crosses exactly one lossy
// hop and the loss rate is the end-to-end rate. (OUTPUT rules would not do:
// a locally dropped datagram fails sendmsg with EPERM, which real loss never
// does.)
type lossMode int

const (
	lossNetem lossMode = iota + 1
	lossIptables
)

func (m lossMode) String() string {
	if m == lossNetem {
		return "tc netem"
	}
	return "iptables statistic"
}

var runSeq atomic.Int32

// topo is one test's network: a namespace holding two bridges (br0, the
// network; br1, where a partition moves the ports of one side) and one
// namespace per peer, each joined to br0 by a veth ("h<i>" on the bridge
// side, "eth0" in the peer) with the address 10.213.0.<i>/24. The subnet
// exists only inside these namespaces: no packet leaves the machine, and
// parallel runs each have their own.
type topo struct {
	t        *testing.T
	prefix   string
	bridgeNS string
	peerNS   []string
	loss     lossMode
	iptables string
}

func newTopo(t *testing.T, n int) *topo {
	t.Helper()
	removeStale(t)
	tp := &topo{t: t, prefix: fmt.Sprintf("%s%d-%d", nsPrefix, os.Getpid(), runSeq.Add(1))}
	tp.bridgeNS = tp.prefix + "-br"
	// Registered before anything exists, so a failure half-way through
	// set-up still removes what was made.
	t.Cleanup(tp.destroy)
	mustSh(t, "ip", "netns", "add", tp.bridgeNS)
	for _, br := range []string{"br0", "br1"} {
		mustSh(t, "ip", "-n", tp.bridgeNS, "link", "add", br, "type", "bridge")
		mustSh(t, "ip", "-n", tp.bridgeNS, "link", "set", br, "up")
	}
	for i := 1; i <= n; i++ {
		ns := fmt.Sprintf("%s-p%d", tp.prefix, i)
		tp.peerNS = append(tp.peerNS, ns)
		mustSh(t, "ip", "netns", "add", ns)
		host := fmt.Sprintf("h%d", i)
		mustSh(t, "ip", "-n", tp.bridgeNS, "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns)
		mustSh(t, "ip", "-n", tp.bridgeNS, "link", "set", host, "master", "br0", "up")
		mustSh(t, "ip", "-n", ns, "addr", "add", tp.ip(i)+"/24", "dev", "eth0")
		mustSh(t, "ip", "-n", ns, "link", "set", "eth0", "up")
		mustSh(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	tp.loss = tp.probeLoss()
	return tp
}

// ip is peer i's address (1-based).
func (tp *topo) ip(i int) string { return fmt.Sprintf("10.213.0.%d", i) }

// probeLoss picks how loss is made here: netem when a qdisc can be
// installed, else iptables; neither is a failure, not a skip.
func (tp *topo) probeLoss() lossMode {
	_, err := sh("tc", "-n", tp.bridgeNS, "qdisc", "add", "dev", "h1", "root", "netem", "loss", "1%")
	if err == nil {
		mustSh(tp.t, "tc", "-n", tp.bridgeNS, "qdisc", "del", "dev", "h1", "root")
		return lossNetem
	}
	for _, bin := range []string{"iptables-legacy", "iptables"} {
		if _, lerr := exec.LookPath(bin); lerr == nil {
			tp.t.Logf("tc netem unavailable (kernel without sch_netem?), loss made with %s: %v", bin, err)
			tp.iptables = bin
			return lossIptables
		}
	}
	tp.t.Fatalf("no way to make packet loss: tc netem fails (%v) and iptables is not installed "+
		"(make test-netns installs it as root)", err)
	return 0
}

// setLoss drops pct % of the packets entering every peer (0 removes it).
func (tp *topo) setLoss(pct int) {
	tp.t.Helper()
	for i, ns := range tp.peerNS {
		host := fmt.Sprintf("h%d", i+1)
		switch tp.loss {
		case lossNetem:
			if pct == 0 {
				mustSh(tp.t, "tc", "-n", tp.bridgeNS, "qdisc", "del", "dev", host, "root")
			} else {
				mustSh(tp.t, "tc", "-n", tp.bridgeNS, "qdisc", "replace", "dev", host, "root", "netem", "loss", fmt.Sprintf("%d%%", pct))
			}
		case lossIptables:
			mustSh(tp.t, "ip", "netns", "exec", ns, tp.iptables, "-F", "INPUT")
			if pct > 0 {
				// The first rule only counts (every packet in), the second
				// drops: their counters give the loss actually made.
				mustSh(tp.t, "ip", "netns", "exec", ns, tp.iptables, "-A", "INPUT", "-i", "eth0")
				mustSh(tp.t, "ip", "netns", "exec", ns, tp.iptables, "-A", "INPUT", "-i", "eth0",
					"-m", "statistic", "--mode", "random", "--probability", fmt.Sprintf("%.2f", float64(pct)/100), "-j", "DROP")
			}
		}
	}
}

// lossStats sums, over every peer, the packets that arrived and the ones
// the loss rule dropped since setLoss, so a scenario can show the loss it
// claims was really made.
func (tp *topo) lossStats() (in, dropped int) {
	tp.t.Helper()
	for i, ns := range tp.peerNS {
		switch tp.loss {
		case lossNetem:
			// "Sent B bytes P pkt (dropped D, ...)": P left, D were dropped.
			out := mustSh(tp.t, "tc", "-s", "-n", tp.bridgeNS, "qdisc", "show", "dev", fmt.Sprintf("h%d", i+1))
			var b, p, d int
			if j := strings.Index(out, "Sent "); j >= 0 {
				_, _ = fmt.Sscanf(out[j:], "Sent %d bytes %d pkt (dropped %d", &b, &p, &d)
			}
			in, dropped = in+p+d, dropped+d
		case lossIptables:
			out := mustSh(tp.t, "ip", "netns", "exec", ns, tp.iptables, "-L", "INPUT", "-v", "-x", "-n")
			var counts []int
			for _, line := range strings.Split(out, "\n") {
				if f := strings.Fields(line); len(f) > 1 {
					if n, err := strconv.Atoi(f[0]); err == nil {
						counts = append(counts, n)
					}
				}
			}
			if len(counts) == 2 {
				in, dropped = in+counts[0], dropped+counts[1]
			}
		}
	}
	return in, dropped
}

// partition moves the bridge ports of the given peers (1-based) to br1: the
// two groups keep their links but no frame crosses between them.
func (tp *topo) partition(side []int) {
	tp.t.Helper()
	for _, i := range side {
		mustSh(tp.t, "ip", "-n", tp.bridgeNS, "link", "set", fmt.Sprintf("h%d", i), "master", "br1")
	}
}

// heal puts every port back on br0.
func (tp *topo) heal() {
	tp.t.Helper()
	for i := range tp.peerNS {
		mustSh(tp.t, "ip", "-n", tp.bridgeNS, "link", "set", fmt.Sprintf("h%d", i+1), "master", "br0")
	}
}

// link takes peer i's cable out (down) or puts it back (up).
func (tp *topo) link(i int, up bool) {
	tp.t.Helper()
	state := "down"
	if up {
		state = "up"
	}
	mustSh(tp.t, "ip", "-n", tp.bridgeNS, "link", "set", fmt.Sprintf("h%d", i), state)
}

// destroy kills what still runs in the namespaces and deletes them; the
// veths and bridges go with their namespaces.
func (tp *topo) destroy() {
	for _, ns := range append(append([]string{}, tp.peerNS...), tp.bridgeNS) {
		if err := deleteNS(ns); err != nil {
			tp.t.Errorf("cleanup: %v", err)
		}
	}
}

// deleteNS SIGKILLs every process inside ns (in this package only agents of
// ours run there) and deletes it. A namespace that is already gone is fine.
func deleteNS(ns string) error {
	if _, err := os.Stat("/run/netns/" + ns); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if out, err := sh("ip", "netns", "pids", ns); err == nil {
		for _, f := range strings.Fields(out) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	_, err := sh("ip", "netns", "del", ns)
	return err
}

// removeStale deletes the namespaces of earlier runs that were aborted (a
// kill -9 or a timeout skips cleanup): names with our prefix whose PID no
// longer runs. A run still in progress keeps its own.
func removeStale(t *testing.T) {
	out, err := sh("ip", "netns", "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		m := staleName.FindStringSubmatch(f[0])
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if err := syscall.Kill(pid, 0); pid == os.Getpid() || err == nil || errors.Is(err, syscall.EPERM) {
			continue
		}
		t.Logf("removing %s, left by an aborted run (pid %d)", f[0], pid)
		if err := deleteNS(f[0]); err != nil {
			t.Errorf("removing stale namespace: %v", err)
		}
	}
}
