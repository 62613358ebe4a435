package engine

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestFingerprintRoundTripAndChanges(t *testing.T) {
	running := fingerprint{fpConfig: "a", fpSeeds: "b", fpMirror: "c"}
	back := parseFingerprint(running.String())
	if got := running.changed(back); len(got) != 0 {
		t.Fatalf("a fingerprint read back differs from itself in %v:\n%s", got, running.String())
	}
	for _, tc := range []struct {
		name string
		old  string
		next fingerprint
		want []string
	}{
		{"equal", running.String(), fingerprint{fpConfig: "a", fpSeeds: "b", fpMirror: "c"}, nil},
		{"one part", running.String(), fingerprint{fpConfig: "a", fpSeeds: "B", fpMirror: "c"}, []string{fpSeeds}},
		{"a new part", running.String(), fingerprint{fpConfig: "a", fpSeeds: "b", fpMirror: "c", fpBinaries: "d"}, []string{fpBinaries}},
		{"a part gone", running.String(), fingerprint{fpConfig: "a", fpSeeds: "b"}, []string{fpMirror}},
		{"older slipway's single hash", "0123abcd\n", fingerprint{fpConfig: "a"}, []string{fpConfig, "fingerprint of an older slipway"}},
		{"no file (engine started by hand)", "", fingerprint{fpConfig: "a"}, []string{fpConfig}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseFingerprint(tc.old).changed(tc.next)
			if !slices.Equal(got, tc.want) {
				t.Errorf("changed = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCountConnections(t *testing.T) {
	const listing = `Num       RefCount Protocol Flags    Type St Inode Path
000000005dbbefb0: 00000002 00000000 00010000 0001 01 1366156 /i/run/engine.sock
000000001f17ca56: 00000003 00000000 00000000 0001 03 2365912 /i/run/engine.sock
000000008d479a46: 00000003 00000000 00000000 0001 03 2365197 /i/run/engine.sock
0000000007c8ef92: 00000003 00000000 00000000 0001 03 2361591 /other/run/engine.sock
00000000be2e8c92: 00000003 00000000 00000000 0001 03 2365200
00000000cb66b28b: 00000003 00000000 00000000 0001 02       0 /i/run/engine.sock
`
	if n := countConnections(listing, "/i/run/engine.sock"); n != 3 {
		t.Errorf("countConnections = %d, want 3 (two accepted, one queued; the listener and other sockets are not clients)", n)
	}
}

// TestClientsCountsRealConnections listens on a real unix socket and
// counts what the kernel lists for it.
func TestClientsCountsRealConnections(t *testing.T) {
	e, err := New(WithCacheDir(t.TempDir()), WithInstanceDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(e.SocketPath()), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", e.SocketPath())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// As the engine does: accept, and close when the client goes.
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	if n, err := e.Clients(); err != nil || n != 0 {
		t.Fatalf("Clients with none connected = %d, %v", n, err)
	}
	var conns []net.Conn
	for range 3 {
		c, err := net.Dial("unix", e.SocketPath())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	if n, err := e.Clients(); err != nil || n != 3 {
		t.Errorf("Clients with three connected = %d, %v", n, err)
	}
	for _, c := range conns {
		c.Close()
	}
	if n := waitClients(t, e, 0); n != 0 {
		t.Errorf("Clients after they closed = %d", n)
	}
	// A client in another network namespace (a container, a runner's job)
	// counts too.
	if os.Geteuid() != 0 {
		t.Skip("a second network namespace needs root")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare")
	}
	helper := exec.Command("unshare", "--net", os.Args[0], "-test.run=^TestHelperConnect$")
	helper.Env = append(os.Environ(), "SLIPWAY_TEST_CONNECT="+e.SocketPath())
	stdin, _ := helper.StdinPipe()
	stdout, _ := helper.StdoutPipe()
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); helper.Wait() }()
	buf := make([]byte, 9)
	if _, err := io.ReadFull(stdout, buf); err != nil || string(buf) != "connected" {
		t.Fatalf("the helper in another namespace did not connect: %q, %v", buf, err)
	}
	if n := waitClients(t, e, 1); n != 1 {
		t.Errorf("Clients with one connected from another network namespace = %d", n)
	}
}

// waitClients polls Clients for up to five seconds until it says want
// (the server closes its end shortly after the client), and returns the
// last count.
func waitClients(t *testing.T, e *Engine, want int) int {
	t.Helper()
	n := -1
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var err error
		if n, err = e.Clients(); err != nil {
			t.Fatal(err)
		}
		if n == want {
			break
		}
	}
	return n
}

// TestHelperConnect is not a test: TestClientsCountsRealConnections runs
// it in another network namespace to connect to a socket until stdin
// closes.
func TestHelperConnect(t *testing.T) {
	path := os.Getenv("SLIPWAY_TEST_CONNECT")
	if path == "" {
		t.Skip("a helper process")
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	os.Stdout.WriteString("connected")
	io.Copy(io.Discard, os.Stdin)
}

func TestBusyErrorSaysWhatDiffersAndHowToForce(t *testing.T) {
	err := (&BusyError{PID: 42, Clients: 3, Changed: []string{fpMirror, fpSeeds}, Socket: "/i/run/engine.sock"}).Error()
	want := "not restarting the running engine (pid 42): it differs from what this checkout would start " +
		"(mirror server (internal/cmd/engine), seeded images), but 3 client connection(s) are open on /i/run/engine.sock, " +
		"and a restart would kill every Dagger session in flight.\n" +
		"  fix: wait until they finish and run `make engine` again, or restart it anyway, killing those sessions: `make engine FORCE=1`"
	if err != want {
		t.Errorf("BusyError:\n got %q\nwant %q", err, want)
	}
}

// TestMirrorServerBuildIsCheckoutIndependent builds the mirror server from
// two copies of this checkout at different paths: the bytes (and so the
// fingerprint) must be equal, or `make engine` in a second checkout of the
// same commit would restart the engine under everyone's sessions.
func TestMirrorServerBuildIsCheckoutIndependent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds internal/cmd/engine twice")
	}
	wd, _ := os.Getwd()
	repo, ok := FindRepo(wd)
	if !ok {
		t.Fatal("not in the slipway checkout")
	}
	var bins [][]byte
	for _, name := range []string{"a", "checkout-b"} {
		dir := filepath.Join(t.TempDir(), name)
		cp := exec.Command("sh", "-c", `mkdir -p "$2" && tar -C "$1" --exclude=./.git --exclude=./.slipway -cf - go.mod go.sum internal pipeline stage deploy cmd | tar -C "$2" -xf -`, "sh", repo, dir)
		if out, err := cp.CombinedOutput(); err != nil {
			t.Fatalf("copying the checkout: %v\n%s", err, out)
		}
		e, err := New(WithCacheDir(t.TempDir()), WithInstanceDir(t.TempDir()), WithRepoDir(dir))
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "slipway-engine")
		if err := e.buildMirrorServer(context.Background(), out); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(dir)) {
			t.Errorf("the mirror server built in %s contains that path", dir)
		}
		bins = append(bins, b)
	}
	if !bytes.Equal(bins[0], bins[1]) {
		t.Errorf("the mirror server built from two copies of one checkout differs (%d and %d bytes): the fingerprint would tell checkouts apart", len(bins[0]), len(bins[1]))
	}
	if strings.Contains(string(bins[0]), "/work/") {
		t.Logf("note: the binary names /work/ somewhere (not the checkout path)")
	}
}
