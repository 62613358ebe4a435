package hostport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/e2e"
)

// childEnv makes the test binary act as a server inside a new network
// namespace (see TestMain).
const childEnv = "HOSTPORT_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(child())
	}
	os.Exit(m.Run())
}

// child runs in a fresh network namespace: it brings loopback up, listens
// on 127.0.0.1, prints the port and greets every connection with a line that
// only it can send.
func child() int {
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "ip link set lo up: %v %s\n", err, out)
		return 1
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(l.Addr().(*net.TCPAddr).Port)
	for {
		c, err := l.Accept()
		if err != nil {
			return 0
		}
		fmt.Fprintln(c, "hello from the namespace")
		c.Close()
	}
}

// startChild starts a server in a new network namespace and returns its
// namespace file and port.
func startChild(t *testing.T) (*os.File, int) {
	t.Helper()
	if _, err := exec.LookPath("unshare"); err != nil {
		e2e.Unavailable(t, errors.New("unshare is not installed (util-linux)"))
	}
	cmd := exec.Command("unshare", "--net", os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		e2e.Unavailable(t, fmt.Errorf("unshare --net: %w", err))
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		e2e.Unavailable(t, fmt.Errorf("cannot create a network namespace here (needs root): %w", err))
	}
	var port int
	if _, err := fmt.Sscan(strings.TrimSpace(line), &port); err != nil {
		t.Fatalf("child printed %q", line)
	}
	// unshare execs the test binary: its pid is the namespace's holder.
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns, port
}

// The dialler reaches a port that exists only in the other namespace, and
// afterwards this process's own dials are back in its own namespace.
func TestDialerInReachesAnotherNamespace(t *testing.T) {
	ns, port := startChild(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	dial := DialerIn(ns)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := 0; i < 20; i++ {
		c, err := dial(ctx, "tcp", addr)
		if err != nil {
			t.Fatalf("dial %d in the namespace: %v", i, err)
		}
		got, _ := io.ReadAll(c)
		c.Close()
		if string(got) != "hello from the namespace\n" {
			t.Fatalf("dial %d: got %q", i, got)
		}
	}
	// Our own namespace has no such server (the child's port is free here
	// unless something else took it, in which case it does not greet).
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		got, _ := io.ReadAll(c)
		c.Close()
		if strings.Contains(string(got), "namespace") {
			t.Fatalf("a plain dial reached the other namespace: threads were left in it")
		}
	}
}

// Forward joins both directions and passes a half-close through, so a
// request-then-EOF protocol works.
func TestForwardCopiesBothWays(t *testing.T) {
	backend, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	go func() {
		for {
			c, err := backend.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c) // until the client's half-close
				fmt.Fprintf(c, "echo:%s", strings.ToUpper(string(b)))
			}()
		}
	}()
	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Forward(ctx, front, backend.Addr().String(), nil, t.Logf) }()

	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", front.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "ping %d", i)
		c.(*net.TCPConn).CloseWrite()
		got, _ := io.ReadAll(c)
		c.Close()
		if want := fmt.Sprintf("echo:PING %d", i); string(got) != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Forward after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Forward did not return after its context ended")
	}
}

// A target that refuses closes the client's connection instead of
// hanging it, and Forward keeps serving.
func TestForwardUnreachableTarget(t *testing.T) {
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	target := dead.Addr().String()
	dead.Close()
	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logged = make(chan string, 4)
	go Forward(ctx, front, target, nil, func(f string, a ...any) { logged <- fmt.Sprintf(f, a...) })
	c, err := net.Dial("tcp", front.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read from a forward to a closed port: n=%d err=%v, want EOF/reset", n, err)
	}
	select {
	case msg := <-logged:
		if !strings.Contains(msg, target) {
			t.Errorf("log %q does not name the target", msg)
		}
	case <-time.After(5 * time.Second):
		t.Error("the failed dial was not logged")
	}
}
