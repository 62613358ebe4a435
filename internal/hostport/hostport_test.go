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

// dialEnv makes the test binary a client instead: it dials the address in
// this variable and copies what it reads to stdout. Run under nsenter, it
// is a client inside another namespace that owes nothing to this package.
const dialEnv = "HOSTPORT_TEST_DIAL"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(child())
	}
	if addr := os.Getenv(dialEnv); addr != "" {
		os.Exit(dialChild(addr))
	}
	os.Exit(m.Run())
}

func dialChild(addr string) int {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	// A server that accepts but never answers fails the test in seconds
	// instead of holding it until go test's timeout.
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(os.Stdout, c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
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
		if got := readBriefly(c); got != "hello from the namespace\n" {
			t.Fatalf("dial %d: got %q", i, got)
		}
	}
	assertThreadsHome(t)
	// Our own namespace has no such server (the child's port is free here
	// unless something else took it, in which case it does not greet).
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		if got := readBriefly(c); strings.Contains(got, "namespace") {
			t.Fatalf("a plain dial reached the other namespace: threads were left in it")
		}
	}
}

// dialFrom dials addr from inside the network namespace ns with a child
// process that nsenter put there, and returns what the server sent.
func dialFrom(t *testing.T, ns *os.File, addr string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("nsenter"); err != nil {
		e2e.Unavailable(t, errors.New("nsenter is not installed (util-linux)"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", "--net="+ns.Name(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), dialEnv+"="+addr)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// listening returns the listening sockets of the namespace ns with their
// accept queues (Recv-Q), for a failure message: a connection the kernel
// queued but Accept never took shows there, a missing listener by its
// absence.
func listening(ns *os.File) string {
	out, err := exec.Command("nsenter", "--net="+ns.Name(), "ss", "-ltn").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("(ss -ltn in the namespace: %v)", err)
	}
	return string(out)
}

// readBriefly reads what the server of c sends until it closes, for at
// most a few seconds: a port of this host that some other service holds
// open must not hang the test.
func readBriefly(c net.Conn) string {
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	got, _ := io.ReadAll(c)
	return string(got)
}

// ListenIn's listener is reachable from inside the other namespace, by a
// process that shares nothing with this one but the namespace, and not
// from this process's own namespace; afterwards this process's sockets
// are back in its own namespace.
func TestListenInServesInAnotherNamespace(t *testing.T) {
	ns, childPort := startChild(t)
	var listeners []net.Listener
	for i := 0; i < 20; i++ {
		l, err := ListenIn(ns, "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen %d in the namespace: %v", i, err)
		}
		t.Cleanup(func() { l.Close() })
		listeners = append(listeners, l)
	}
	// Served from an ordinary goroutine: Accept needs no namespace switch.
	l := listeners[len(listeners)-1]
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintln(c, "hello from the listener")
			c.Close()
		}
	}()
	addr := l.Addr().String()
	assertThreadsHome(t)

	got, err := dialFrom(t, ns, addr)
	if err != nil || got != "hello from the listener\n" {
		t.Fatalf("a client in the namespace dialling %s: got %q, %v\nlistening in the namespace:\n%s", addr, got, err, listening(ns))
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		if got := readBriefly(c); strings.Contains(got, "listener") {
			t.Fatalf("a plain dial of %s reached the listener: it was created in this process's namespace", addr)
		}
	}

	// Our threads are back home: a plain listener is ours, and the
	// child's server stays out of reach.
	own, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	if got, err := dialFrom(t, ns, own.Addr().String()); err == nil && got != "" {
		t.Fatalf("a client in the namespace reached a plain listener: %q", got)
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", childPort), time.Second); err == nil {
		if got := readBriefly(c); strings.Contains(got, "namespace") {
			t.Fatalf("a plain dial reached the other namespace: threads were left in it")
		}
	}
}

// ListenIn fails on an address that only this process's namespace has
// (a global address of the host: the new namespace has only loopback), and
// the failure leaves no thread behind in the other namespace.
func TestListenInErrors(t *testing.T) {
	ns, childPort := startChild(t)
	host := hostAddress(t)
	own, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("listening on the host's %s here: %v", host, err)
	}
	own.Close()
	for i := 0; i < 20; i++ {
		l, err := ListenIn(ns, "tcp", net.JoinHostPort(host, "0"))
		if err == nil {
			l.Close()
			t.Fatalf("ListenIn(%s) in a namespace without that address succeeded", host)
		}
	}
	assertThreadsHome(t)
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", childPort), time.Second); err == nil {
		if got := readBriefly(c); strings.Contains(got, "namespace") {
			t.Fatalf("a plain dial reached the other namespace after failed listens")
		}
	}
}

// assertThreadsHome fails unless every thread of this process is in the
// process's own network namespace: a thread left in another one would
// put some later, unrelated socket there.
func assertThreadsHome(t *testing.T) {
	t.Helper()
	home, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		ns, err := os.Readlink("/proc/self/task/" + task.Name() + "/ns/net")
		if err != nil {
			continue // the thread exited meanwhile
		}
		if ns != home {
			t.Fatalf("thread %s is in %s, not in the process's %s", task.Name(), ns, home)
		}
	}
}

// hostAddress returns a global unicast address of this namespace.
func hostAddress(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.IsGlobalUnicast() {
			return n.IP.String()
		}
	}
	t.Skip("this namespace has no global address to tell it from a new one")
	return ""
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
