// Package procfs reads what the engine and the control plane need to know
// about host processes from /proc: whether one still runs, its first child,
// and which processes live in a PID namespace (what Down must see gone).
package procfs

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Running reports whether pid exists and is neither a zombie nor dead.
func Running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name, which may hold
	// spaces and parentheses itself.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || (s[i+2] != 'Z' && s[i+2] != 'X')
}

// ChildOf returns pid's first child, or 0 when it has none (or is gone).
func ChildOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	child, _ := strconv.Atoi(f[0])
	return child
}

// ProcessesIn lists the running processes in the PID namespace ns (as
// /proc/PID/ns/pid reads, "pid:[N]"); none for an empty ns.
func ProcessesIn(ns string) []int {
	if ns == "" {
		return nil
	}
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); err == nil && l == ns && Running(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}
