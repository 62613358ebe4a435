// Package procfs reads what the engine and the control plane need to know
// about host processes from /proc: whether one still runs, its first child,
// and which processes live in a PID namespace (what Down must see gone).
package procfs

import (
	"fmt"
	"os"
	"path/filepath"
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
	// A child is listed under the thread that forked it, which in a
	// multi-threaded parent (any Go program) need not be the main one:
	// every thread's list is read, the main thread's first.
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	tasks = append([]string{fmt.Sprintf("/proc/%d/task/%d/children", pid, pid)}, tasks...)
	for _, path := range tasks {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			if child, err := strconv.Atoi(f[0]); err == nil {
				return child
			}
		}
	}
	return 0
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
