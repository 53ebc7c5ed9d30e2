package bench

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cpuTicks is the user CPU time (clock ticks) process pid has used, from
// /proc/<pid>/stat (field 14); -1 when it cannot be read.
func cpuTicks(pid int) int {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// count the fields after its closing parenthesis.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	if len(f) < 12 {
		return -1
	}
	v, err := strconv.Atoi(f[11]) // field 14 is the 12th after the name
	if err != nil {
		return -1
	}
	return v
}

// TestBusyBurnsAndStops: the busy loop of BenchmarkCompareCrashBusy uses
// CPU while it runs and is gone after Stop.
func TestBusyBurnsAndStops(t *testing.T) {
	b, err := StartBusy(1)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	if got := b.Running(); got != 1 {
		t.Fatalf("%d busy processes running, want 1", got)
	}
	pid := b.cmds[0].Process.Pid
	if !waitUntil(time.Now().Add(10*time.Second), 10*time.Millisecond, func() bool { return cpuTicks(pid) > 0 }) {
		t.Fatalf("the busy process never used the CPU (ticks %d)", cpuTicks(pid))
	}
	b.Stop()
	if got := b.Running(); got != 0 {
		t.Fatalf("%d busy processes running after Stop", got)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); !os.IsNotExist(err) {
		t.Fatalf("the busy process %d is still there (%v)", pid, err)
	}
	b.Stop() // twice: harmless
}
