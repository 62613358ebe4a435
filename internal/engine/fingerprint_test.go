package engine

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
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
