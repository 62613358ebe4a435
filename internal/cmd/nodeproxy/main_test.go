package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/e2e"
	"github.com/slipway-ci/slipway/internal/hostport"
)

// registryNamespace starts a process in a fresh network namespace (as the
// engine's is) and serves greeting on its 127.0.0.1:port.
func registryNamespace(t *testing.T, port int, greeting string) int {
	t.Helper()
	cmd := exec.Command("unshare", "--net", "--", "sleep", "120")
	if err := cmd.Start(); err != nil {
		e2e.Unavailable(t, fmt.Errorf("unshare: %w", err))
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var ns *os.File
	for i := 0; i < 100; i++ {
		self, _ := os.Readlink("/proc/self/ns/net")
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid)); err == nil && l != self {
			ns, _ = os.Open(fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid))
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ns == nil {
		e2e.Unavailable(t, fmt.Errorf("cannot create a network namespace here (needs root)"))
	}
	defer ns.Close()
	// The namespace's loopback starts down.
	if out, err := exec.Command("nsenter", "--net=/proc/"+strconv.Itoa(cmd.Process.Pid)+"/ns/net", "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		e2e.Unavailable(t, fmt.Errorf("ip link set lo up in the namespace: %v: %s", err, out))
	}
	l, err := hostport.ListenIn(ns, "tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, greeting)
			c.Close()
		}
	}()
	return cmd.Process.Pid
}

// The registry's namespace is looked up for every connection: after the
// engine restarts (a new namespace, a new pid in the pid file) the node
// reaches the new registry without restarting its proxy; without an engine
// the error says how to start one.
func TestRegistryDialFollowsTheEngine(t *testing.T) {
	if os.Geteuid() != 0 {
		e2e.Unavailable(t, fmt.Errorf("entering network namespaces needs root"))
	}
	pidFile := filepath.Join(t.TempDir(), "unshare.pid")
	dial := dialerInPIDNamespace(pidFile, "/proc")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const addr = "127.0.0.1:5000"
	if _, err := dial(ctx, "tcp", addr); err == nil || !strings.Contains(err.Error(), "is the engine running? `make engine`") {
		t.Fatalf("dial without an engine: %v", err)
	}
	read := func() string {
		t.Helper()
		c, err := dial(ctx, "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		return string(b)
	}
	for _, greeting := range []string{"first engine", "restarted engine"} {
		pid := registryNamespace(t, 5000, greeting)
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := read(); got != greeting {
			t.Errorf("dial reached %q, want %q", got, greeting)
		}
	}
	// This process's own 127.0.0.1:5000 was never involved.
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		b, _ := io.ReadAll(c)
		c.Close()
		if string(b) == "restarted engine" {
			t.Error("the registry's port leaked into this namespace")
		}
	}
}
