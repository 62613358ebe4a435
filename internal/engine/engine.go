// Package engine builds, starts and stops a real Dagger engine on a Linux
// host that cannot reach any container registry.
//
// Everything is built from the Go module proxy and Debian packages: the
// Dagger CLI, engine and helpers, the Trivy and gosec tool images, a Trivy
// vulnerability DB, and the base images the pipelines ask for (golang:1.25,
// a distroless-like static base). The engine runs as root in private mount,
// network and PID namespaces, with overlays on the host paths it insists on
// writing (/etc, /usr/local, /var/lib, /run), so that the host is left as it
// was. A local registry (package mirror) inside the same network namespace is
// configured as the engine's mirror for docker.io, gcr.io, ghcr.io, quay.io
// and mirror.gcr.io: pipeline code keeps its usual image references.
//
// Built artefacts are cached by version under the user's cache directory
// (Cache); one running engine with its state is an Instance directory, so a
// test can start a second, throwaway engine next to the shared one.
package engine

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/slipway-ci/slipway/internal/hostcache"
)

// Pinned versions. Changing one rebuilds only what depends on it, because
// the cache paths carry the versions.
const (
	// DaggerVersion is the Dagger CLI/engine pair; dagger.io/dagger (the Go
	// SDK) must be the same version.
	DaggerVersion = "v0.19.10"
	// TrivyVersion is the Trivy CLI put into the aquasec/trivy image.
	TrivyVersion = "v0.74.0"
	// GosecVersion is the gosec CLI put into the securego/gosec image.
	GosecVersion = "v2.29.0"
	// DebianSuite is the release debootstrapped for the base images.
	DebianSuite = "bookworm"
	// PrometheusVersion is the upstream version of Debian's prometheus
	// package put into the prom/prometheus image: the deploy stage's alert
	// check runs it when no --prometheus binary is given.
	PrometheusVersion = "2.42.0"

	// imagesRevision is bumped when an image recipe changes, so that cached
	// layouts built by an older recipe are not reused.
	imagesRevision = "r3"
)

// Engine is one engine instance and the cache it is built from.
type Engine struct {
	cache    string // versioned build artefacts, shared by instances
	instance string // this engine's config, state, sockets and logs
	repo     string // where to drop .slipway/engine.env; may be empty
	log      io.Writer
	arch     string
	skipApt  bool
	force    bool
	minFree  uint64
	cacheMax int64 // bytes the engine's build cache keeps when pruned
	// hostPorts are ports of the host's loopback that the engine and its
	// containers reach on the bridge address (see internal/hostport).
	hostPorts []int
}

// Option configures an Engine.
type Option func(*Engine)

// WithCacheDir puts the build cache at dir instead of
// ${XDG_CACHE_HOME:-$HOME/.cache}/slipway.
func WithCacheDir(dir string) Option { return func(e *Engine) { e.cache = dir } }

// WithInstanceDir runs the engine from dir instead of CACHE/engine/default.
// Two instances can run at once: each has its own namespaces and socket.
func WithInstanceDir(dir string) Option { return func(e *Engine) { e.instance = dir } }

// WithRepoDir also writes the env file to DIR/.slipway/engine.env, where the
// Makefile and tests of that checkout look first.
func WithRepoDir(dir string) Option { return func(e *Engine) { e.repo = dir } }

// WithLog sends progress messages to w (default: discarded).
func WithLog(w io.Writer) Option { return func(e *Engine) { e.log = w } }

// DefaultHostPorts are the host ports forwarded into the engine's network
// namespace by default: the local control plane's API server
// (internal/cluster's default port), so that deploy jobs reach it at
// https://10.87.0.1:16443 from inside the engine, as a CI runner's engine
// reaches a real cluster.
var DefaultHostPorts = []int{16443}

// WithHostPorts replaces DefaultHostPorts: the engine and its containers
// reach 127.0.0.1:PORT of the host at BridgeIP:PORT (and the engine itself
// at 127.0.0.1:PORT of its namespace).
func WithHostPorts(ports ...int) Option {
	return func(e *Engine) { e.hostPorts = append([]int{}, ports...) }
}

// WithForceRestart lets Up restart a running engine that differs from
// what this checkout would start even while clients are connected to it,
// which kills their sessions (`make engine FORCE=1`). Without it Up refuses
// with a *BusyError.
func WithForceRestart() Option { return func(e *Engine) { e.force = true } }

// DefaultCacheMax is how much disk the engine's build cache (layers, cache
// volumes) may keep when it is pruned (Prune): the least recently used
// entries above it go. BuildKit's own defaults are percentages of the filesystem that
// count root's reserved blocks as free: on a host whose reserve is large
// (the CI machine reports 168 GB free and 7.5 GB available) they never
// prune, and the cache grew to 53 GB. A warm run of the whole test suite
// fits well within this.
const DefaultCacheMax int64 = 25 << 30

// WithCacheMax sets how much the engine's build cache keeps when Prune
// runs (`make engine-prune CACHE_MAX=40GB`).
func WithCacheMax(n int64) Option { return func(e *Engine) { e.cacheMax = n } }

// WithoutApt skips installing Debian packages (they must be there already).
func WithoutApt() Option { return func(e *Engine) { e.skipApt = true } }

// New returns an Engine with the default cache and instance directories,
// changed by opts.
func New(opts ...Option) (*Engine, error) {
	e := &Engine{log: io.Discard, arch: runtime.GOARCH, minFree: 12 << 30, cacheMax: DefaultCacheMax, hostPorts: DefaultHostPorts}
	for _, o := range opts {
		o(e)
	}
	if e.cache == "" {
		dir, err := hostcache.Dir()
		if err != nil {
			return nil, err
		}
		e.cache = dir
	}
	if e.instance == "" {
		e.instance = filepath.Join(e.cache, "engine", "default")
	}
	for _, p := range []*string{&e.cache, &e.instance} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return nil, fmt.Errorf("resolving %s: %w", *p, err)
		}
		*p = abs
	}
	return e, nil
}

// CacheDir is where versioned build artefacts live.
func (e *Engine) CacheDir() string { return e.cache }

// InstanceDir is where this engine's config, state and socket live.
func (e *Engine) InstanceDir() string { return e.instance }

func (e *Engine) logf(format string, args ...any) {
	fmt.Fprintf(e.log, "engine: "+format+"\n", args...)
}

// Paths inside the cache.

func (e *Engine) daggerDir() string { return filepath.Join(e.cache, "dagger", DaggerVersion) }

// BinDir holds the dagger CLI and the engine binaries of DaggerVersion,
// built with the embedded patches (patches/): their hash is part of the
// name, so that a changed patch set never reuses older binaries.
func (e *Engine) BinDir() string {
	if id := daggerPatchID(); id != "" {
		return filepath.Join(e.daggerDir(), "bin-"+id)
	}
	return filepath.Join(e.daggerDir(), "bin")
}

func (e *Engine) toolBin(name, version string) string {
	return filepath.Join(e.cache, "tools", name+"-"+version, name)
}

func (e *Engine) rootfsDir() string {
	return filepath.Join(e.cache, "rootfs", "debian-"+DebianSuite+"-minbase-"+e.arch)
}

// golangRootfsDir is the root file system of golang:1.25: minbase plus gcc
// and libc6-dev.
func (e *Engine) golangRootfsDir() string {
	return filepath.Join(e.cache, "rootfs", "debian-"+DebianSuite+"-minbase-gcc-"+e.arch)
}

func (e *Engine) imagesDir() string { return filepath.Join(e.cache, "images") }

// BlobDir is shared by the registries of all instances.
func (e *Engine) blobDir() string { return filepath.Join(e.cache, "registry", "blobs") }

// Paths inside the instance.

func (e *Engine) path(elem ...string) string {
	return filepath.Join(append([]string{e.instance}, elem...)...)
}

// SocketPath is the engine's gRPC unix socket.
func (e *Engine) SocketPath() string { return e.path("run", "engine.sock") }

// pidFileName is the namespace holder's pid file, beside the socket.
const pidFileName = "unshare.pid"

func (e *Engine) pidFile() string { return e.path("run", pidFileName) }

// Namespace opens the network namespace of the engine that env names,
// where its registry mirror listens on 127.0.0.1:5000. With
// hostport.DialerIn, a root process on the host reaches what the engine
// sees, e.g. to read back what a pipeline pushed.
func Namespace(env Env) (*os.File, error) {
	sock, ok := strings.CutPrefix(env.RunnerHost, "unix://")
	if !ok {
		return nil, fmt.Errorf("engine: runner host %q is not a local socket", env.RunnerHost)
	}
	// The socket and the pid file live side by side in the instance's run
	// directory (SocketPath, pidFile).
	b, err := os.ReadFile(filepath.Join(filepath.Dir(sock), pidFileName))
	if err != nil {
		return nil, fmt.Errorf("engine: no running engine at %s: %w", sock, err)
	}
	f, err := os.Open(fmt.Sprintf("/proc/%s/ns/net", strings.TrimSpace(string(b))))
	if err != nil {
		return nil, fmt.Errorf("engine: its network namespace: %w", err)
	}
	return f, nil
}

// EnvFile is the instance's copy of the environment to export.
func (e *Engine) EnvFile() string { return e.path("engine.env") }

// LogFile is where the engine, registry and namespace set-up log.
func (e *Engine) LogFile() string { return e.path("logs", "engine.log") }

// ParseSize reads a size as people write it: bytes ("1073741824"), or a
// number with a decimal (KB, MB, GB, TB) or binary (KiB, MiB, GiB, TiB)
// unit. A size under 1 GiB is refused: the engine's cache could not hold
// the Go SDK and one build.
func ParseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
	}
	num, mult := strings.TrimSpace(s), 1.0
	for _, u := range units {
		if strings.HasSuffix(strings.ToUpper(num), strings.ToUpper(u.suffix)) {
			num, mult = strings.TrimSpace(num[:len(num)-len(u.suffix)]), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("%q is not a size: write bytes or a number with a unit, as 25GiB or 40GB", s)
	}
	n := int64(f * mult)
	if n < 1<<30 {
		return 0, fmt.Errorf("%q is under 1GiB: the engine's cache could not hold the Go SDK and one build", s)
	}
	return n, nil
}
