package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/slipway-ci/slipway/internal/mirror"
)

//go:embed ns.sh
var nsScript string

// Up makes sure the engine of this instance runs: it reuses a running one,
// and otherwise checks the host, builds what is not cached and starts it.
// It writes the env file(s) and returns the env.
func (e *Engine) Up(ctx context.Context) (Env, error) {
	env := e.Env()
	if err := e.checkInstanceDir(); err != nil {
		return env, err
	}
	unlock, err := e.lock()
	if err != nil {
		return env, err
	}
	defer unlock()
	st := e.Status()
	if !st.Running {
		if err := e.CheckHost(ctx); err != nil {
			return env, err
		}
	}
	if err := e.Prepare(ctx); err != nil {
		return env, err
	}
	fp, err := e.fingerprint()
	if err != nil {
		return env, err
	}
	if st.Running {
		if old, _ := os.ReadFile(e.path("run", "fingerprint")); string(old) == fp {
			e.logf("reusing the running engine (pid %d)", st.PID)
			return env, e.writeEnv(env)
		}
		// Images or config changed (a new slipway version): a stale
		// engine would serve old images, so restart it.
		e.logf("the engine's images or config changed: restarting it")
		if err := e.down(ctx); err != nil {
			return env, err
		}
	}
	if err := e.start(ctx); err != nil {
		return env, err
	}
	if err := os.WriteFile(e.path("run", "fingerprint"), []byte(fp), 0o644); err != nil {
		return env, err
	}
	return env, e.writeEnv(env)
}

// fingerprint identifies what a started engine serves: its config, the
// Go SDK image, and every seeded image's manifest.
func (e *Engine) fingerprint() (string, error) {
	h := sha256.New()
	for _, f := range []string{"engine.toml", "seeds.txt", "go-sdk-manifest-digest"} {
		b, err := os.ReadFile(e.path("etc", f))
		if err != nil {
			return "", err
		}
		h.Write(b)
	}
	seeds, err := mirror.ReadSeeds(e.path("etc", "seeds.txt"))
	if err != nil {
		return "", err
	}
	for _, s := range seeds {
		b, err := os.ReadFile(filepath.Join(s.Layout, "index.json"))
		if err != nil {
			return "", err
		}
		h.Write(b)
	}
	// What runs inside the namespace: a new serve program or forwarded
	// port list needs a restart as much as a new image does.
	bin, err := os.ReadFile(e.mirrorBin())
	if err != nil {
		return "", err
	}
	h.Write(bin)
	fmt.Fprintf(h, "%s\n%s", nsScript, e.hostPortList())
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Prepare builds (or finds in the cache) everything the engine needs, and
// lays out the instance directory.
func (e *Engine) Prepare(ctx context.Context) error {
	if err := e.installPackages(ctx); err != nil {
		return err
	}
	// debootstrap and module downloads wait on the network, the builds on
	// the CPU: overlap them.
	rootfs := make(chan error, 1)
	go func() { rootfs <- e.debootstrap(ctx) }()
	go e.prefetchTools(ctx)
	var trivy, gosec, db, vulnDB string
	err := func() (err error) {
		if err = e.buildDagger(ctx); err != nil {
			return err
		}
		if trivy, err = e.buildTrivy(ctx); err != nil {
			return err
		}
		if gosec, err = e.buildGosec(ctx); err != nil {
			return err
		}
		if err = e.sdkDeps(ctx); err != nil {
			return err
		}
		if db, err = e.buildTrivyDB(ctx); err != nil {
			return err
		}
		vulnDB, err = e.buildVulnDB(ctx)
		return err
	}()
	if rerr := <-rootfs; err == nil {
		err = rerr
	}
	if err != nil {
		return err
	}
	images, err := e.buildImages(ctx, trivy, gosec, db, vulnDB)
	if err != nil {
		return err
	}
	return e.layout(ctx, images)
}

// checkInstanceDir refuses instance directories that the namespace's own
// overlays would hide from the engine.
func (e *Engine) checkInstanceDir() error {
	for _, p := range []string{"/etc", "/run", "/usr/local", "/var/lib", "/sys", "/proc"} {
		if e.instance == p || strings.HasPrefix(e.instance, p+"/") {
			return &PrereqError{
				Problem: fmt.Sprintf("instance directory %s is under %s, which the engine's namespace mounts over", e.instance, p),
				Fix:     "use a directory elsewhere (the default is under ${XDG_CACHE_HOME:-$HOME/.cache}/slipway)",
			}
		}
	}
	return nil
}

// layout writes the instance's config, seeds, CNI plugin directory and
// builtin content, and builds the mirror server.
func (e *Engine) layout(ctx context.Context, images *builtImages) error {
	for _, d := range []string{"etc", "run", "logs", "state", "bin", "cni-bin", "registry", "ns/cg",
		"ns/usrlocal-upper/bin", "ns/usrlocal-work", "ns/etc-upper", "ns/etc-work", "ns/varlib-upper", "ns/varlib-work"} {
		if err := os.MkdirAll(e.path(d), 0o755); err != nil {
			return fmt.Errorf("creating instance directory: %w", err)
		}
	}
	for _, p := range []string{"bridge", "loopback", "firewall", "host-local"} {
		if err := symlink(filepath.Join("/usr/lib/cni", p), e.path("cni-bin", p)); err != nil {
			return err
		}
	}
	// dnsname is Dagger's own CNI plugin; dagger-init and runc are where
	// the engine hard-codes them, in the /usr/local overlay.
	if err := copyFile(filepath.Join(e.BinDir(), "dnsname"), e.path("cni-bin", "dnsname")); err != nil {
		return err
	}
	if err := copyFile(filepath.Join(e.BinDir(), "dagger-init"), e.path("ns", "usrlocal-upper", "bin", "dagger-init")); err != nil {
		return err
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		return &PrereqError{Problem: "runc is not installed", Fix: "apt-get install runc"}
	}
	if err := symlink(runc, e.path("ns", "usrlocal-upper", "bin", "runc")); err != nil {
		return err
	}
	if err := e.installGoSDK(images); err != nil {
		return err
	}
	if err := os.WriteFile(e.path("etc", "go-sdk-manifest-digest"), []byte(images.goSDKHash.String()+"\n"), 0o644); err != nil {
		return err
	}
	if err := mirror.WriteSeeds(e.path("etc", "seeds.txt"), images.seeds); err != nil {
		return err
	}
	if err := os.WriteFile(e.path("etc", "engine.toml"), []byte(e.engineConfig()), 0o644); err != nil {
		return err
	}
	return e.buildMirrorServer(ctx)
}

// engineConfig is the engine's buildkitd-style configuration.
func (e *Engine) engineConfig() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# written by slipway's `make engine`; see internal/engine\nroot = %q\n", e.path("state"))
	fmt.Fprintf(&b, "[grpc]\n  address = [%q]\n", "unix://"+e.SocketPath())
	fmt.Fprintf(&b, "[worker.oci]\n  cniBinaryPath = %q\n", e.path("cni-bin"))
	b.WriteString("# Pulls from these registries go to the local mirror; pipeline code keeps its references.\n")
	for _, h := range mirroredHosts {
		fmt.Fprintf(&b, "[registry.%q]\n  mirrors = [%q]\n", h, MirrorAddr)
	}
	for _, h := range []string{MirrorAddr, MirrorBridgeAddr} {
		fmt.Fprintf(&b, "[registry.%q]\n  http = true\n  insecure = true\n", h)
	}
	return b.String()
}

// buildMirrorServer builds the command that serves the mirror inside the
// namespace (this repository's internal/cmd/engine).
func (e *Engine) buildMirrorServer(ctx context.Context) error {
	repo, err := e.repoDir()
	if err != nil {
		return err
	}
	return e.command(ctx, "mirror-build", repo, goEnv("GOFLAGS=-buildvcs=false"), "go", "build", "-o", e.mirrorBin(), "./internal/cmd/engine")
}

func (e *Engine) mirrorBin() string { return e.path("bin", "slipway-engine") }

// hostPortList is the forwarded host ports as serve's -host-ports flag
// takes them: "16443,8080".
func (e *Engine) hostPortList() string {
	s := make([]string, len(e.hostPorts))
	for i, p := range e.hostPorts {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ",")
}

// repoDir is the slipway checkout: WithRepoDir, or the module root above
// the working directory.
func (e *Engine) repoDir() (string, error) {
	if e.repo != "" {
		return e.repo, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	if root, ok := FindRepo(dir); ok {
		e.repo = root
		return root, nil
	}
	return "", fmt.Errorf("not inside the slipway checkout (%s): the engine builds its mirror server and Trivy DB tool from it; run from the checkout", dir)
}

// FindRepo walks up from dir to the root of the slipway module.
func FindRepo(dir string) (string, bool) {
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/slipway-ci/slipway\n")) {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

func (e *Engine) writeEnv(env Env) error {
	if err := env.WriteFile(e.EnvFile()); err != nil {
		return err
	}
	if repo, err := e.repoDir(); err == nil && e.isDefaultInstance() {
		return env.WriteFile(filepath.Join(repo, ".slipway", "engine.env"))
	}
	return nil
}

func (e *Engine) isDefaultInstance() bool {
	return e.instance == filepath.Join(e.cache, "engine", "default")
}

// start runs ns.sh under unshare, detached from our session, and waits
// until the engine answers on its socket.
func (e *Engine) start(ctx context.Context) error {
	if err := checkSocketFree(e.SocketPath()); err != nil {
		return err
	}
	digest, err := os.ReadFile(e.path("etc", "go-sdk-manifest-digest"))
	if err != nil {
		return err
	}
	modcache, err := exec.CommandContext(ctx, "go", "env", "GOMODCACHE").Output()
	if err != nil {
		return fmt.Errorf("go env GOMODCACHE: %w", exitDetail(err))
	}
	logf, err := os.OpenFile(e.LogFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "==== %s start\n", time.Now().UTC().Format(time.RFC3339))
	cmd := exec.Command("unshare", "--mount", "--net", "--pid", "--fork", "--mount-proc", "--propagation", "private",
		"--kill-child=SIGTERM", "--", "/bin/bash", "-c", nsScript, "ns.sh", e.instance)
	cmd.Dir = e.instance
	// The host's network namespace, as descriptor 3 of ns.sh and the serve
	// process: serve dials forwarded host ports from there.
	hostNet, err := os.Open("/proc/self/ns/net")
	if err != nil {
		return fmt.Errorf("opening the host's network namespace: %w", err)
	}
	defer hostNet.Close()
	cmd.ExtraFiles = []*os.File{hostNet}
	cmd.Env = append(os.Environ(),
		"SLIPWAY_HOST_PORTS="+e.hostPortList(),
		"SLIPWAY_MIRROR_BIN="+e.mirrorBin(),
		"SLIPWAY_CACHE="+e.cache,
		"SLIPWAY_GOMODCACHE_DOWNLOAD="+filepath.Join(strings.TrimSpace(string(modcache)), "cache", "download"),
		"SLIPWAY_ENGINE_BIN="+filepath.Join(e.BinDir(), "dagger-engine"),
		"DAGGER_GO_SDK_MANIFEST_DIGEST="+strings.TrimSpace(string(digest)),
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	// A session of its own: the engine must outlive `make engine` and not
	// get the terminal's signals.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the engine namespace: %w", err)
	}
	exited := make(chan error, 1)
	// Reap it if it ends while we live (tests); otherwise init adopts it.
	go func() { exited <- cmd.Wait() }()
	if err := os.WriteFile(e.pidFile(), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		return err
	}
	deadline := time.After(3 * time.Minute)
	for {
		select {
		case err := <-exited:
			os.Remove(e.pidFile())
			return fmt.Errorf("the engine exited while starting (%v)\n%s", err, tail(e.LogFile(), 30))
		case <-deadline:
			e.down(context.Background())
			return fmt.Errorf("the engine did not answer on %s within 3 minutes\n%s", e.SocketPath(), tail(e.LogFile(), 30))
		case <-ctx.Done():
			e.down(context.Background())
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if c, err := net.DialTimeout("unix", e.SocketPath(), time.Second); err == nil {
			c.Close()
			e.logf("engine up in %.1fs (pid %d)", time.Since(t0).Seconds(), cmd.Process.Pid)
			return nil
		}
	}
}

// lock serialises Up and Down across processes (two `make engine`, or
// test packages that each find-or-start the engine): a cache-wide lock,
// since instances share the build cache.
func (e *Engine) lock() (func(), error) {
	if err := os.MkdirAll(e.cache, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(e.cache, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking the engine cache: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking the engine cache: %w", err)
	}
	return func() { f.Close() }, nil
}

// Cached reports whether the build cache holds everything Up builds, so that
// a test can tell "start the engine in seconds" from "build for minutes".
func (e *Engine) Cached() error {
	need := []string{e.toolBin("trivy", TrivyVersion), e.toolBin("gosec", GosecVersion), filepath.Join(e.rootfsDir(), "bin", "sh"),
		filepath.Join(e.golangRootfsDir(), "bin", "sh")}
	for _, b := range daggerBinaries {
		need = append(need, filepath.Join(e.BinDir(), b))
	}
	for _, p := range need {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("the engine is not built yet (%s is missing): run `make engine` first (cold: up to 25 min)", p)
		}
	}
	return nil
}

// Status describes an instance.
type Status struct {
	Running bool
	PID     int    // of the unshare process holding the namespaces
	Reason  string // why it is not running, or "" when it is
}

// Status reports whether this instance's engine runs and answers.
func (e *Engine) Status() Status {
	pid, ok := e.ownPID()
	if !ok {
		return Status{Reason: "not started (no live process in " + e.pidFile() + ")"}
	}
	c, err := net.DialTimeout("unix", e.SocketPath(), 2*time.Second)
	if err != nil {
		return Status{PID: pid, Reason: fmt.Sprintf("started (pid %d) but not answering on %s: %v; see %s", pid, e.SocketPath(), err, e.LogFile())}
	}
	c.Close()
	return Status{Running: true, PID: pid}
}

// ownPID is the pid from the pid file, if that process is alive and is
// ours (its command line names this instance: pids get reused).
func (e *Engine) ownPID() (int, bool) {
	b, err := os.ReadFile(e.pidFile())
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	if !alive(pid) {
		return 0, false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte("\x00"+e.instance+"\x00")) {
		return 0, false
	}
	return pid, true
}

// alive is true for a process that exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// Down stops this instance's engine and everything in its namespaces.
// It is a no-op when nothing runs.
func (e *Engine) Down(ctx context.Context) error {
	unlock, err := e.lock()
	if err != nil {
		return err
	}
	defer unlock()
	return e.down(ctx)
}

func (e *Engine) down(ctx context.Context) error {
	pid, ok := e.ownPID()
	if !ok {
		os.Remove(e.pidFile())
		os.Remove(e.SocketPath())
		return nil
	}
	// The namespace's PID 1 (ns.sh) is unshare's only child; its pid
	// namespace identifies every process that must be gone afterwards.
	init := childOf(pid)
	pidns := ""
	if init > 0 {
		pidns, _ = os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", init))
		syscall.Kill(init, syscall.SIGTERM)
	} else {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	if !waitGone(ctx, 30*time.Second, func() bool { return !alive(pid) }) {
		e.logf("engine did not stop within 30s: killing its namespace")
		if init > 0 {
			syscall.Kill(init, syscall.SIGKILL)
		}
		syscall.Kill(pid, syscall.SIGKILL)
	}
	if !waitGone(ctx, 15*time.Second, func() bool { return !alive(pid) && len(processesIn(pidns)) == 0 }) {
		return fmt.Errorf("engine processes still running after SIGKILL: %v (pid namespace %s)", processesIn(pidns), pidns)
	}
	os.Remove(e.pidFile())
	os.Remove(e.SocketPath())
	return nil
}

func waitGone(ctx context.Context, d time.Duration, gone func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if gone() {
			return true
		}
		select {
		case <-ctx.Done():
			return gone()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return gone()
}

// childOf is the first child of pid, or 0.
func childOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	c, _ := strconv.Atoi(f[0])
	return c
}

// processesIn lists live processes in the pid namespace ns ("pid:[N]").
func processesIn(ns string) []int {
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
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); err == nil && l == ns && alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func symlink(target, link string) error {
	if cur, err := os.Readlink(link); err == nil && cur == target {
		return nil
	}
	os.Remove(link)
	if err := os.Symlink(target, link); err != nil {
		return fmt.Errorf("linking %s: %w", link, err)
	}
	return nil
}

// copyFile copies src to dst (executable), replacing it atomically, since
// dst may be in use by a running engine of another instance.
func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if cur, err := os.ReadFile(dst); err == nil && bytes.Equal(cur, b) {
		return nil
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, b, 0o755); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}
