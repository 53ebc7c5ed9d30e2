package bench

import (
	"fmt"
	"os/exec"
	"runtime"
)

// Busy is a CPU load for the whole of a scenario: one busy-looping process
// per core, so the cluster under test competes for every core with work it
// cannot see (the "CPU-loaded machine" of issue 12). Processes rather than
// goroutines: the Go scheduler would share its threads fairly between the
// loops and the peers, which is not what another program on the machine
// does. The loop is the shell's own (no external command per iteration),
// so the load is one full core per process.
type Busy struct {
	cmds []*exec.Cmd
}

// StartBusy starts n busy processes (n <= 0: one per core).
func StartBusy(n int) (*Busy, error) {
	if n <= 0 {
		n = runtime.NumCPU()
	}
	b := &Busy{}
	for range n {
		cmd := exec.Command("sh", "-c", "while :; do :; done")
		if err := cmd.Start(); err != nil {
			b.Stop()
			return nil, fmt.Errorf("start a busy loop: %w", err)
		}
		b.cmds = append(b.cmds, cmd)
	}
	return b, nil
}

// Running is how many busy processes are still running.
func (b *Busy) Running() int {
	n := 0
	for _, c := range b.cmds {
		if c.ProcessState == nil {
			n++
		}
	}
	return n
}

// Stop kills the busy processes (each by its own pid) and reaps them.
// Calling it twice is harmless.
func (b *Busy) Stop() {
	for _, c := range b.cmds {
		if c.ProcessState != nil {
			continue
		}
		_ = c.Process.Kill()
		_ = c.Wait() // "signal: killed" is the expected end
	}
}
