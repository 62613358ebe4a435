package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/e2e"
	"github.com/slipway-ci/slipway/internal/engine"
	"github.com/slipway-ci/slipway/internal/enginetest"
)

// hostState is what the engine must not change on the host: interfaces,
// routes, iptables rules, mounts, and processes naming its directory.
type hostState struct {
	links, routes, iptables, mounts []string
	procs                           []string
}

var counters = regexp.MustCompile(`\[\d+:\d+\]`)

func snapshot(t *testing.T, dir string) hostState {
	t.Helper()
	var s hostState
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		s.links = append(s.links, i.Name)
	}
	s.routes = lines(t, "ip", "route", "show", "table", "all")
	s.routes = append(s.routes, lines(t, "ip", "-6", "route", "show", "table", "all")...)
	for _, cmd := range []string{"iptables-save", "ip6tables-save"} {
		for _, l := range lines(t, cmd) {
			if !strings.HasPrefix(l, "#") {
				s.iptables = append(s.iptables, counters.ReplaceAllString(l, "[]"))
			}
		}
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(mi)), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 {
			// mount point and what is mounted; ids change with remounts.
			s.mounts = append(s.mounts, f[4]+" "+strings.Join(f[slices.Index(f, "-")+1:], " "))
		}
	}
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		if _, err := strconv.Atoi(ent.Name()); err != nil {
			continue
		}
		cl, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline"))
		if err == nil && bytes.Contains(cl, []byte(dir)) {
			s.procs = append(s.procs, ent.Name()+": "+strings.ReplaceAll(string(cl), "\x00", " "))
		}
	}
	for _, l := range [][]string{s.links, s.routes, s.iptables, s.mounts} {
		slices.Sort(l)
	}
	return s
}

func lines(t *testing.T, name string, args ...string) []string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

func diff(what string, before, after []string) string {
	var added, gone []string
	for _, l := range after {
		if !slices.Contains(before, l) {
			added = append(added, l)
		}
	}
	for _, l := range before {
		if !slices.Contains(after, l) {
			gone = append(gone, l)
		}
	}
	if len(added)+len(gone) == 0 {
		return ""
	}
	return fmt.Sprintf("%s changed: added %q, removed %q\n", what, added, gone)
}

func compare(before, after hostState) string {
	return diff("interfaces", before.links, after.links) +
		diff("routes", before.routes, after.routes) +
		diff("iptables rules", before.iptables, after.iptables) +
		diff("mounts", before.mounts, after.mounts)
}

// TestUpDownLeavesHostClean starts a throwaway engine instance next to the
// shared one, runs a container in it (which makes the engine create its CNI
// bridge, veths and iptables rules), and checks that the host saw none of it
// while it ran, and that nothing is left after Down.
func TestUpDownLeavesHostClean(t *testing.T) {
	if os.Geteuid() != 0 {
		e2e.Unavailable(t, fmt.Errorf("needs root to start an engine"))
	}
	for _, tool := range []string{"ip", "iptables-save", "ip6tables-save", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			e2e.Unavailable(t, fmt.Errorf("%s not installed (run `make engine` once)", tool))
		}
	}
	wd, _ := os.Getwd()
	repo, ok := engine.FindRepo(wd)
	if !ok {
		t.Fatal("not in the slipway checkout")
	}
	// Not t.TempDir: its cleanup would hide a leftover mount behind a
	// removal error; we check and remove ourselves.
	inst, err := os.MkdirTemp("", "slipway-engine-test-")
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(engine.WithInstanceDir(inst), engine.WithRepoDir(repo), engine.WithLog(testWriter{t}))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Cached(); err != nil {
		e2e.Unavailable(t, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	before := snapshot(t, inst)
	if len(before.procs) > 0 {
		t.Fatalf("processes name the fresh instance dir already: %v", before.procs)
	}
	env, err := e.Up(ctx)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	stopped := false
	defer func() {
		if !stopped {
			e.Down(context.Background())
		}
	}()
	if st := e.Status(); !st.Running {
		t.Fatalf("Status after Up: %s", st.Reason)
	}
	// A second Up reuses the running engine instead of starting another.
	pid := e.Status().PID
	if _, err := e.Up(ctx); err != nil {
		t.Fatalf("second Up: %v", err)
	}
	if again := e.Status().PID; again != pid {
		t.Fatalf("second Up started a new engine: pid %d, was %d", again, pid)
	}

	eng := &enginetest.Engine{Env: env}
	out, err := eng.Dagger(ctx, inst, "core", "container", "from", "--address", engine.GolangRef,
		"with-exec", "--args", "go,version", "stdout")
	if err != nil {
		t.Fatalf("running a container: %v", err)
	}
	if !strings.HasPrefix(strings.TrimSpace(out), "go version go1.") {
		t.Fatalf("go version in %s printed %q", engine.GolangRef, out)
	}
	during := snapshot(t, inst)
	if d := compare(before, during); d != "" {
		t.Errorf("the running engine changed the host:\n%s", d)
	}
	if len(during.procs) == 0 {
		t.Errorf("no process names the instance dir while the engine runs: the check below would prove nothing")
	}
	// The host's CAs do not reach containers: Dagger would run
	// update-ca-certificates around every exec (see ns.sh).
	if log, err := os.ReadFile(e.LogFile()); err != nil {
		t.Errorf("reading the engine log: %v", err)
	} else if strings.Contains(string(log), `args="[update-ca-certificates]"`) {
		t.Errorf("the engine ran update-ca-certificates around a container: the host's CAs reached it (%s)", e.LogFile())
	}
	if host, _ := os.ReadDir("/usr/local/share/ca-certificates"); len(host) == 0 {
		t.Logf("this host has no CA in /usr/local/share/ca-certificates: the check above proves nothing here")
	}

	// Prune restarts the engine with GC on, prunes, and leaves it serving
	// with automatic GC off again.
	res, err := e.Prune(ctx)
	if err != nil {
		t.Fatalf("Prune: %v", err)
	}
	t.Logf("Prune: %s before, %s after, %s", res.Before, res.After, res.Took)
	if res.Before.Entries == 0 || res.After.Bytes > res.Before.Bytes {
		t.Errorf("Prune: %s before, %s after: want a cache that was read and did not grow", res.Before, res.After)
	}
	if st := e.Status(); !st.Running {
		t.Fatalf("Status after Prune: %s", st.Reason)
	}
	if cfg, err := os.ReadFile(filepath.Join(inst, "etc", "engine.toml")); err != nil || !strings.Contains(string(cfg), "gc = false") {
		t.Errorf("engine.toml after Prune (err %v) is not the serving one (gc = false):\n%s", err, cfg)
	}
	if _, err := eng.Dagger(ctx, inst, "core", "container", "from", "--address", engine.GolangRef,
		"with-exec", "--args", "true", "stdout"); err != nil {
		t.Fatalf("running a container after Prune: %v", err)
	}

	if err := e.Down(ctx); err != nil {
		t.Fatalf("Down: %v", err)
	}
	stopped = true
	after := snapshot(t, inst)
	if d := compare(before, after); d != "" {
		t.Errorf("Down left the host changed:\n%s", d)
	}
	if len(after.procs) > 0 {
		t.Errorf("processes left after Down: %v", after.procs)
	}
	if st := e.Status(); st.Running {
		t.Errorf("Status after Down says running")
	}
	if _, err := os.Stat(e.SocketPath()); !os.IsNotExist(err) {
		t.Errorf("socket %s left after Down (%v)", e.SocketPath(), err)
	}
	// Down twice is fine: nothing to stop.
	if err := e.Down(ctx); err != nil {
		t.Errorf("second Down: %v", err)
	}
	if err := os.RemoveAll(inst); err != nil {
		t.Errorf("removing the instance dir (a leftover mount?): %v", err)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestSecondCheckoutNeitherRestartsNorBreaksSessions starts a throwaway
// engine from this checkout, keeps a Dagger session running on it, and
// runs Up from a second copy of the same checkout: the engine must be
// reused and the session must finish. Up with a real difference (another
// forwarded port list) must refuse while the session runs, change
// nothing, and restart once no client is connected.
func TestSecondCheckoutNeitherRestartsNorBreaksSessions(t *testing.T) {
	if os.Geteuid() != 0 {
		e2e.Unavailable(t, fmt.Errorf("needs root to start an engine"))
	}
	wd, _ := os.Getwd()
	repo, ok := engine.FindRepo(wd)
	if !ok {
		t.Fatal("not in the slipway checkout")
	}
	second := filepath.Join(t.TempDir(), "second-checkout")
	cp := exec.Command("sh", "-c", `mkdir -p "$2" && tar -C "$1" --exclude=./.git --exclude=./.slipway --exclude=./reports -cf - . | tar -C "$2" -xf -`, "sh", repo, second)
	if out, err := cp.CombinedOutput(); err != nil {
		t.Fatalf("copying the checkout: %v\n%s", err, out)
	}
	inst, err := os.MkdirTemp("", "slipway-engine-checkouts-")
	if err != nil {
		t.Fatal(err)
	}
	first, err := engine.New(engine.WithInstanceDir(inst), engine.WithRepoDir(repo), engine.WithLog(testWriter{t}))
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Cached(); err != nil {
		e2e.Unavailable(t, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	env, err := first.Up(ctx)
	if err != nil {
		t.Fatalf("Up from the first checkout: %v", err)
	}
	defer func() {
		first.Down(context.Background())
		os.RemoveAll(inst)
	}()
	pid := first.Status().PID

	// A session that outlasts everything below.
	eng := &enginetest.Engine{Env: env}
	done := make(chan error, 1)
	var out string
	go func() {
		var err error
		out, err = eng.Dagger(ctx, inst, "core", "container", "from", "--address", "alpine:latest",
			"with-exec", "--args", "sh,-c,sleep 150; echo survived", "stdout")
		done <- err
	}()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if n, _ := first.Clients(); n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the session never connected")
		}
		time.Sleep(200 * time.Millisecond)
	}
	cfg, err := os.ReadFile(filepath.Join(inst, "etc", "engine.toml"))
	if err != nil {
		t.Fatal(err)
	}

	secondEng, err := engine.New(engine.WithInstanceDir(inst), engine.WithRepoDir(second), engine.WithLog(testWriter{t}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := secondEng.Up(ctx); err != nil {
		t.Fatalf("Up from a second checkout of the same commit: %v", err)
	}
	if now := first.Status().PID; now != pid {
		t.Fatalf("Up from a second checkout of the same commit restarted the engine (pid %d, was %d)", now, pid)
	}

	differs, err := engine.New(engine.WithInstanceDir(inst), engine.WithRepoDir(second), engine.WithHostPorts(16443, 16444), engine.WithLog(testWriter{t}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = differs.Up(ctx)
	var busy *engine.BusyError
	if !errors.As(err, &busy) {
		t.Fatalf("Up of a different engine under a connected client: %v, want a *engine.BusyError", err)
	}
	if want := []string{"forwarded host ports"}; !slices.Equal(busy.Changed, want) || busy.Clients < 1 ||
		!strings.Contains(err.Error(), "make engine FORCE=1") {
		t.Errorf("BusyError names %q with %d clients (want %q and at least 1): %v", busy.Changed, busy.Clients, want, err)
	}
	if now := first.Status().PID; now != pid {
		t.Fatalf("a refused Up restarted the engine anyway (pid %d, was %d)", now, pid)
	}
	if now, _ := os.ReadFile(filepath.Join(inst, "etc", "engine.toml")); !bytes.Equal(now, cfg) {
		t.Errorf("a refused Up changed the running engine's config")
	}
	if staged, _ := filepath.Glob(filepath.Join(inst, "*", "*.next")); len(staged) > 0 {
		t.Errorf("a refused Up left staged files: %v", staged)
	}

	if err := <-done; err != nil {
		t.Fatalf("the session broke: %v", err)
	}
	if strings.TrimSpace(out) != "survived" {
		t.Fatalf("the session printed %q", out)
	}
	// No client any more: the different engine may start now.
	deadline = time.Now().Add(time.Minute)
	for n, _ := first.Clients(); n > 0 && time.Now().Before(deadline); n, _ = first.Clients() {
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := differs.Up(ctx); err != nil {
		t.Fatalf("Up of a different engine with no client connected: %v", err)
	}
	if now := first.Status().PID; now == pid {
		t.Errorf("Up of a different engine with no client connected kept the old engine (pid %d)", pid)
	}
}

// TestConcurrentModuleLoadsAfterRestart is the regression test of the
// backport in patches/ (dagger/dagger#11795): after an engine restart with
// existing state, Dagger v0.19.10 mounted the Go SDK's shared cache
// volumes once per exec, and of several module loads at once all but one
// failed with "failed to mount ... volatile ... invalid argument" (8 of 10
// on this 2-core machine without the patch).
func TestConcurrentModuleLoadsAfterRestart(t *testing.T) {
	if os.Geteuid() != 0 {
		e2e.Unavailable(t, fmt.Errorf("needs root to start an engine"))
	}
	wd, _ := os.Getwd()
	repo, ok := engine.FindRepo(wd)
	if !ok {
		t.Fatal("not in the slipway checkout")
	}
	inst, err := os.MkdirTemp("", "slipway-engine-restart-")
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(engine.WithInstanceDir(inst), engine.WithRepoDir(repo), engine.WithLog(testWriter{t}))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Cached(); err != nil {
		e2e.Unavailable(t, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	env, err := e.Up(ctx)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	defer func() {
		e.Down(context.Background())
		os.RemoveAll(inst)
	}()
	eng := &enginetest.Engine{Env: env}
	// Each load is of a module no run has seen: its codegen and build run
	// for real, with the SDK's cache volumes mounted.
	module := func(name string) string {
		dir := filepath.Join(t.TempDir(), name)
		os.MkdirAll(dir, 0o755)
		for file, body := range map[string]string{
			"dagger.json": `{"name": "` + name + `", "engineVersion": "` + engine.DaggerVersion + `", "sdk": {"source": "go"}}`,
			"go.mod":      "module dagger/" + name + "\n\ngo 1.25.0\n",
			"main.go": "package main\n\n// M is the module.\ntype " + strings.ToUpper(name[:1]) + name[1:] +
				" struct{}\n\n// Hello says hello.\nfunc (m *" + strings.ToUpper(name[:1]) + name[1:] + ") Hello() string { return \"hello\" }\n",
		} {
			if err := os.WriteFile(filepath.Join(dir, file), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	if _, err := eng.Dagger(ctx, module("warm"), "functions"); err != nil {
		t.Fatalf("the first load: %v", err)
	}
	if err := e.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Up(ctx); err != nil {
		t.Fatalf("Up after Down, with the state kept: %v", err)
	}
	const n = 4
	errs := make(chan error, n)
	for i := range n {
		dir := module(fmt.Sprintf("load%d", i))
		go func() {
			_, err := eng.Dagger(ctx, dir, "functions")
			errs <- err
		}()
	}
	failed := 0
	for range n {
		if err := <-errs; err != nil {
			failed++
			t.Errorf("a concurrent load after the restart: %v", err)
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d concurrent module loads failed after a restart", failed, n)
	}
}
