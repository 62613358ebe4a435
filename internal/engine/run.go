package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"github.com/slipway-ci/slipway/internal/procfs"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/slipway-ci/slipway/internal/mirror"
)

//go:embed ns.sh
var nsScript string

// Up makes sure the engine of this instance runs: it reuses a running one
// that serves what this checkout would start, and otherwise checks the
// host, builds what is not cached and starts it.
//
// A running engine that differs (other images, config, binaries or mirror
// server) is restarted only when no client is connected to it: a restart
// kills every session in flight. With clients connected Up changes nothing
// and returns a *BusyError that says what differs and how to force it
// (WithForceRestart). It writes the env file(s) and returns the env.
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
	next, err := e.prepare(ctx)
	if err != nil {
		return env, err
	}
	// Whatever is staged and not installed goes: a reused or busy engine
	// keeps the files it was started with.
	defer next.discard()
	if st.Running {
		old, _ := os.ReadFile(e.path("run", "fingerprint"))
		changed := parseFingerprint(string(old)).changed(next.fp)
		if len(changed) == 0 {
			e.logf("reusing the running engine (pid %d): it serves what this checkout would start", st.PID)
			return env, e.writeEnv(env)
		}
		clients, err := e.Clients()
		if err != nil {
			return env, err
		}
		if clients > 0 && !e.force {
			return env, &BusyError{PID: st.PID, Clients: clients, Changed: changed, Socket: e.SocketPath()}
		}
		e.logf("the running engine (pid %d) differs from this checkout's in: %s; %d clients connected: restarting it",
			st.PID, strings.Join(changed, ", "), clients)
		if err := e.down(ctx); err != nil {
			return env, err
		}
	}
	if err := e.install(next); err != nil {
		return env, err
	}
	if err := e.start(ctx); err != nil {
		return env, err
	}
	if err := os.WriteFile(e.path("run", "fingerprint"), []byte(next.fp.String()), 0o644); err != nil {
		return env, err
	}
	return env, e.writeEnv(env)
}

// BusyError is Up refusing to restart a running engine that differs from
// what this checkout would start, because clients are connected to it.
type BusyError struct {
	// PID is the running engine's namespace holder.
	PID int
	// Clients is how many connections its socket had.
	Clients int
	// Changed names the parts that differ (see fingerprint).
	Changed []string
	// Socket is the engine's socket.
	Socket string
}

// Error says what differs, why Up did not restart, and both ways out.
func (e *BusyError) Error() string {
	return fmt.Sprintf("not restarting the running engine (pid %d): it differs from what this checkout would start (%s), "+
		"but %d client connection(s) are open on %s, and a restart would kill every Dagger session in flight.\n"+
		"  fix: wait until they finish and run `make engine` again, or restart it anyway, killing those sessions: `make engine FORCE=1`",
		e.PID, strings.Join(e.Changed, ", "), e.Clients, e.Socket)
}

// Clients counts the connections open on the engine's socket. The server
// end of each accepted unix connection is listed in /proc/net/unix with
// the listener's path, in the network namespace of the client that
// connected: every namespace a process of this host is in is read once,
// so that clients in containers or other namespaces count too.
func (e *Engine) Clients() (int, error) {
	seen := map[string]bool{}
	n := 0
	read := func(dir string) error {
		ns, err := os.Readlink(filepath.Join(dir, "ns", "net"))
		if err != nil || seen[ns] {
			return err
		}
		seen[ns] = true
		b, err := os.ReadFile(filepath.Join(dir, "net", "unix"))
		if err != nil {
			return err
		}
		n += countConnections(string(b), e.SocketPath())
		return nil
	}
	// Our own namespace must be readable; others may vanish meanwhile.
	if err := read("/proc/self"); err != nil {
		return 0, fmt.Errorf("counting the engine's clients: %w", err)
	}
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		if _, err := strconv.Atoi(ent.Name()); err == nil {
			read(filepath.Join("/proc", ent.Name()))
		}
	}
	return n, nil
}

// countConnections counts the server ends of connections to path in a
// /proc/net/unix listing ("Num RefCount Protocol Flags Type St Inode Path"):
// St 03 (SS_CONNECTED) once accepted, 02 (SS_CONNECTING) while queued; the
// listener itself is 01.
func countConnections(procNetUnix, path string) int {
	n := 0
	for _, line := range strings.Split(procNetUnix, "\n") {
		f := strings.Fields(line)
		if len(f) == 8 && (f[5] == "02" || f[5] == "03") && f[7] == path {
			n++
		}
	}
	return n
}

// fingerprint identifies what a started engine serves, part by part: the
// hash of each part's content. Nothing in it depends on the checkout it
// was started from (its path, its build), so that `make engine` in a second
// checkout of the same commit finds the running engine equal and reuses it.
type fingerprint map[string]string

// The parts of a fingerprint, as Up names them when they differ.
const (
	fpBinaries = "engine binaries"
	fpConfig   = "engine.toml"
	fpGoSDK    = "Go SDK image"
	fpSeeds    = "seeded images"
	fpMirror   = "mirror server (internal/cmd/engine)"
	fpNS       = "namespace script (ns.sh)"
	fpPorts    = "forwarded host ports"
)

// String is the fingerprint file's content: "part<TAB>hash" lines, sorted.
func (f fingerprint) String() string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s\t%s\n", k, f[k])
	}
	return b.String()
}

// parseFingerprint reads String's output. A file written before parts were
// named (one hash) parses as a part no new fingerprint has, so it differs.
func parseFingerprint(s string) fingerprint {
	f := fingerprint{}
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "\t")
		if !ok {
			k, v = "fingerprint of an older slipway", line
		}
		f[k] = v
	}
	return f
}

// changed names the parts that differ between f and g, sorted.
func (f fingerprint) changed(g fingerprint) []string {
	var out []string
	for k, v := range g {
		if f[k] != v {
			out = append(out, k)
		}
	}
	for k := range f {
		if _, ok := g[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// release is what Up would start: the cache's artefacts, and the instance
// files staged next to the ones a running engine uses (NAME.next), so that
// deciding whether to restart changes nothing.
type release struct {
	images *builtImages
	staged map[string]string // final path -> staged path
	fp     fingerprint
}

// discard removes the staged files that install did not move in place.
func (r *release) discard() {
	for _, s := range r.staged {
		os.Remove(s)
	}
}

// Prepare builds (or finds in the cache) everything the engine needs, and
// lays out the instance directory. Up does the same, but lays out only
// when it (re)starts the engine.
func (e *Engine) Prepare(ctx context.Context) error {
	next, err := e.prepare(ctx)
	if err != nil {
		return err
	}
	defer next.discard()
	return e.install(next)
}

// prepare builds what is not cached, stages the instance's files and
// fingerprints the result. It changes nothing a running engine uses.
func (e *Engine) prepare(ctx context.Context) (*release, error) {
	if err := e.installPackages(ctx); err != nil {
		return nil, err
	}
	// debootstrap and module downloads wait on the network, the builds on
	// the CPU: overlap them.
	rootfs := make(chan error, 1)
	go func() { rootfs <- e.debootstrap(ctx) }()
	go e.prefetchTools(ctx)
	var trivy, gosec, db, vulnDB, prom string
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
		if vulnDB, err = e.buildVulnDB(ctx); err != nil {
			return err
		}
		prom, err = e.fetchPrometheus(ctx)
		return err
	}()
	if rerr := <-rootfs; err == nil {
		err = rerr
	}
	if err != nil {
		return nil, err
	}
	images, err := e.buildImages(ctx, trivy, gosec, db, vulnDB, prom)
	if err != nil {
		return nil, err
	}
	return e.stage(ctx, images)
}

// stage writes the instance's config, seed list and mirror server as
// NAME.next files and fingerprints them with the engine binaries.
func (e *Engine) stage(ctx context.Context, images *builtImages) (_ *release, rerr error) {
	for _, d := range []string{"etc", "run", "bin"} {
		if err := os.MkdirAll(e.path(d), 0o755); err != nil {
			return nil, fmt.Errorf("creating instance directory: %w", err)
		}
	}
	r := &release{images: images, staged: map[string]string{}, fp: fingerprint{}}
	defer func() {
		if rerr != nil {
			r.discard()
		}
	}()
	stageFile := func(final string, write func(tmp string) error) (string, error) {
		tmp := final + ".next"
		r.staged[final] = tmp
		if err := write(tmp); err != nil {
			return "", err
		}
		return tmp, nil
	}
	writeBytes := func(b []byte) func(string) error {
		return func(tmp string) error { return os.WriteFile(tmp, b, 0o644) }
	}

	cfg := e.engineConfig()
	if _, err := stageFile(e.path("etc", "engine.toml"), writeBytes([]byte(cfg))); err != nil {
		return nil, err
	}
	r.fp[fpConfig] = hashOf([]byte(cfg))
	digest := images.goSDKHash.String() + "\n"
	if _, err := stageFile(e.path("etc", "go-sdk-manifest-digest"), writeBytes([]byte(digest))); err != nil {
		return nil, err
	}
	r.fp[fpGoSDK] = hashOf([]byte(digest))
	seedsTmp, err := stageFile(e.path("etc", "seeds.txt"), func(tmp string) error { return mirror.WriteSeeds(tmp, images.seeds) })
	if err != nil {
		return nil, err
	}
	if r.fp[fpSeeds], err = seedsHash(seedsTmp, images.seeds); err != nil {
		return nil, err
	}
	mirrorTmp, err := stageFile(e.mirrorBin(), func(tmp string) error { return e.buildMirrorServer(ctx, tmp) })
	if err != nil {
		return nil, err
	}
	if r.fp[fpMirror], err = hashFiles(mirrorTmp); err != nil {
		return nil, err
	}
	if r.fp[fpBinaries], err = hashFiles(e.engineBinaries()...); err != nil {
		return nil, err
	}
	r.fp[fpNS] = hashOf([]byte(nsScript))
	r.fp[fpPorts] = hashOf([]byte(e.hostPortList()))
	return r, nil
}

// engineBinaries are the Dagger binaries the running engine uses: the
// engine, and the init and CNI plugin it puts in every container. The CLI
// is the clients' business; codegen is in the Go SDK image.
func (e *Engine) engineBinaries() []string {
	return []string{filepath.Join(e.BinDir(), "dagger-engine"), filepath.Join(e.BinDir(), "dagger-init"), filepath.Join(e.BinDir(), "dnsname")}
}

// seedsHash hashes the seed list and the index of every layout it names.
func seedsHash(seedsFile string, seeds []mirror.Seed) (string, error) {
	h := sha256.New()
	b, err := os.ReadFile(seedsFile)
	if err != nil {
		return "", err
	}
	h.Write(b)
	for _, s := range seeds {
		b, err := os.ReadFile(filepath.Join(s.Layout, "index.json"))
		if err != nil {
			return "", err
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func hashOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// hashFiles hashes the contents of files, in order.
func hashFiles(files ...string) (string, error) {
	h := sha256.New()
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return "", err
		}
		_, err = io.Copy(h, fh)
		fh.Close()
		if err != nil {
			return "", fmt.Errorf("hashing %s: %w", f, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
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

// install lays out the instance for a (re)start: it moves the staged
// files in place and writes the CNI plugin directory, the binaries the
// engine hard-codes and the Go SDK's builtin content.
func (e *Engine) install(r *release) error {
	for _, d := range []string{"etc", "run", "logs", "state", "bin", "cni-bin", "registry", "ns/cg",
		"ns/usrlocal-upper/bin", "ns/usrlocal-work", "ns/etc-upper", "ns/etc-work", "ns/varlib-upper", "ns/varlib-work"} {
		if err := os.MkdirAll(e.path(d), 0o755); err != nil {
			return fmt.Errorf("creating instance directory: %w", err)
		}
	}
	for _, p := range []string{"bridge", "loopback", "host-local"} {
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
	if err := os.WriteFile(e.cniConfigPath(), []byte(cniConfig), 0o644); err != nil {
		return fmt.Errorf("writing the CNI configuration: %w", err)
	}
	if err := e.installGoSDK(r.images); err != nil {
		return err
	}
	for final, staged := range r.staged {
		if err := os.Rename(staged, final); err != nil {
			return fmt.Errorf("installing %s: %w", final, err)
		}
		delete(r.staged, final)
	}
	return nil
}

// engineConfig is the engine's buildkitd-style configuration.
//
// Automatic garbage collection is off. Dagger v0.19.10 collects a minute
// after a session ends whenever the cache is over its policy, while other
// sessions run, and removes records those sessions still resolve: jobs that
// run side by side (act's parallel jobs) failed with "could not get used
// client id" and module runtimes exiting 2 with no message, in every CI run
// while the cache was over its cap. Prune collects the same policy with no
// session connected (`make engine-prune`; .ci/run does it before the tests).
func (e *Engine) engineConfig() string { return e.config(false) }

// config renders the configuration, with automatic GC (capped at cacheMax)
// on or off. The cap is in bytes: BuildKit's percentage defaults count
// root's reserved blocks as free (see DefaultCacheMax).
func (e *Engine) config(gc bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# written by slipway's `make engine`; see internal/engine\nroot = %q\n", e.path("state"))
	fmt.Fprintf(&b, "[grpc]\n  address = [%q]\n", "unix://"+e.SocketPath())
	fmt.Fprintf(&b, "[worker.oci]\n  cniBinaryPath = %q\n", e.path("cni-bin"))
	b.WriteString("  # Dagger's network without per-container iptables rules: see cniConfig.\n")
	fmt.Fprintf(&b, "  cniConfigPath = %q\n", e.cniConfigPath())
	if gc {
		b.WriteString("  # Pruning: the cache is capped in bytes (see DefaultCacheMax).\n")
		fmt.Fprintf(&b, "  gc = true\n  reservedSpace = %q\n  maxUsedSpace = %q\n", strconv.FormatInt(e.cacheMax/10, 10), strconv.FormatInt(e.cacheMax, 10))
	} else {
		b.WriteString("  # No automatic GC while sessions run: see engineConfig; `make engine-prune` collects.\n  gc = false\n")
	}
	b.WriteString("# Pulls from these registries go to the local mirror; pipeline code keeps its references.\n")
	for _, h := range mirroredHosts {
		fmt.Fprintf(&b, "[registry.%q]\n  mirrors = [%q]\n", h, MirrorAddr)
	}
	for _, h := range []string{MirrorAddr, MirrorBridgeAddr} {
		fmt.Fprintf(&b, "[registry.%q]\n  http = true\n  insecure = true\n", h)
	}
	return b.String()
}

func (e *Engine) cniConfigPath() string { return e.path("etc", "cni.conflist") }

// cniConfig is Dagger's own container network (network/netinst in
// v0.19.10: the bridge dagger0 on 10.87.0.0/16, host-local addresses and
// its dnsname plugin for service names) less what costs iptables calls:
// the bridge's IP masquerade and the firewall plugin. Dagger gives every
// exec a hostname, so no exec takes a namespace from BuildKit's pool: each
// one set its network up and tore it down, about 30 iptables processes
// (ten rules added and deleted, each checked first), a good part of a bare
// exec's half second on two cores. Neither rule does anything here: the
// engine's network namespace has no uplink (containers reach the host's
// services through the mirror at 10.87.0.1, which is on the bridge
// itself), so there is nothing to masquerade to, and its FORWARD policy
// is ACCEPT, so the firewall plugin's ACCEPT rules changed nothing.
const cniConfig = `{
  "cniVersion": "0.4.0",
  "name": "dagger",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "dagger0",
      "isDefaultGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.87.0.0/16"}]]}
    },
    {
      "type": "dnsname",
      "domainName": "dagger.local",
      "pidfile": "/var/run/containers/cni/dnsname/dagger/pidfile",
      "hosts": "/var/run/containers/cni/dnsname/dagger/addnhosts",
      "lockfile": "/var/run/containers/cni/dnsname/dagger/lock",
      "capabilities": {"aliases": true}
    }
  ]
}
`

// buildMirrorServer builds the command that serves the mirror inside the
// namespace (this repository's internal/cmd/engine) into out. -trimpath
// keeps the checkout's path out of the binary: two checkouts of one commit
// build the same bytes, so the fingerprint does not tell them apart.
func (e *Engine) buildMirrorServer(ctx context.Context, out string) error {
	repo, err := e.repoDir()
	if err != nil {
		return err
	}
	return e.command(ctx, "mirror-build", repo, goEnv("GOFLAGS=-buildvcs=false"), "go", "build", "-trimpath", "-o", out, "./internal/cmd/engine")
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
	if !procfs.Running(pid) {
		return 0, false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte("\x00"+e.instance+"\x00")) {
		return 0, false
	}
	return pid, true
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
	init := procfs.ChildOf(pid)
	pidns := ""
	if init > 0 {
		pidns, _ = os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", init))
		syscall.Kill(init, syscall.SIGTERM)
	} else {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	if !waitGone(ctx, 30*time.Second, func() bool { return !procfs.Running(pid) }) {
		e.logf("engine did not stop within 30s: killing its namespace")
		if init > 0 {
			syscall.Kill(init, syscall.SIGKILL)
		}
		syscall.Kill(pid, syscall.SIGKILL)
	}
	if !waitGone(ctx, 15*time.Second, func() bool { return !procfs.Running(pid) && len(procfs.ProcessesIn(pidns)) == 0 }) {
		return fmt.Errorf("engine processes still running after SIGKILL: %v (pid namespace %s)", procfs.ProcessesIn(pidns), pidns)
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
