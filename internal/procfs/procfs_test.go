package procfs

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"testing"
)

func TestProcesses(t *testing.T) {
	if !Running(os.Getpid()) {
		t.Fatal("this process does not run")
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if got := ChildOf(os.Getpid()); got == 0 {
		t.Errorf("ChildOf(self) = 0 with a child %d running", cmd.Process.Pid)
	}
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", os.Getpid()))
	if err != nil {
		t.Skip("no /proc pid namespaces here:", err)
	}
	if got := ProcessesIn(ns); !slices.Contains(got, cmd.Process.Pid) {
		t.Errorf("ProcessesIn(%s) lacks the child %d", ns, cmd.Process.Pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if Running(cmd.Process.Pid) {
		t.Errorf("a reaped child still counts as running")
	}
	if ProcessesIn("") != nil {
		t.Error("ProcessesIn(\"\") lists processes")
	}
}
