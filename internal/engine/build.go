package engine

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/slipway-ci/slipway/stage/govulncheck"
	"github.com/slipway-ci/slipway/stage/govulncheck/vulndb"
)

// runtimePackages are the Debian equivalents of what the upstream engine
// image installs (runc, CNI plugins, dnsmasq for dnsname, iptables for the
// CNI firewall, git for git sources, pigz/xz for layers), plus debootstrap
// for the base images.
var runtimePackages = []string{
	"runc", "dnsmasq-base", "iptables", "containernetworking-plugins", "git",
	"ca-certificates", "pigz", "xz-utils", "e2fsprogs", "ripgrep", "sqlite3",
	"debootstrap", "util-linux", "iproute2",
}

// command runs one build step, logging its output to CACHE/logs/STEP.log;
// a failure returns the log's tail, which is what one needs to see.
func (e *Engine) command(ctx context.Context, step, dir string, env []string, name string, args ...string) error {
	logDir := filepath.Join(e.cache, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	logPath := filepath.Join(logDir, step+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %s %s: %w\n%s", step, name, strings.Join(args, " "), err, tail(logPath, 25))
	}
	e.logf("%s: %.1fs", step, time.Since(start).Seconds())
	return nil
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "--- last lines of " + path + " ---\n" + strings.Join(lines, "\n")
}

// goEnv is the environment of every go command we run: the host's own Go,
// no VCS stamping (module zips have no .git), and no checksum-DB lookups
// for the dagger engine module, which sum.golang.org does not know.
func goEnv(extra ...string) []string {
	return append([]string{
		"GOTOOLCHAIN=local",
		"GOFLAGS=-buildvcs=false -mod=mod",
		"GONOSUMDB=github.com/dagger/dagger",
		"CGO_ENABLED=0",
	}, extra...)
}

// installPackages installs the Debian packages that are missing.
func (e *Engine) installPackages(ctx context.Context) error {
	var missing []string
	for _, p := range runtimePackages {
		out, err := exec.CommandContext(ctx, "dpkg-query", "-W", "-f=${Status}", p).Output()
		if err != nil || !strings.Contains(string(out), "install ok installed") {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if e.skipApt {
		return &PrereqError{
			Problem: "missing Debian packages: " + strings.Join(missing, " "),
			Fix:     "apt-get install --no-install-recommends " + strings.Join(missing, " "),
		}
	}
	e.logf("installing Debian packages: %s", strings.Join(missing, " "))
	if err := e.command(ctx, "apt-update", "/", nil, "apt-get", "update", "-qq"); err != nil {
		return err
	}
	args := append([]string{"install", "-y", "-qq", "--no-install-recommends"}, missing...)
	return e.command(ctx, "apt-install", "/", []string{"DEBIAN_FRONTEND=noninteractive"}, "apt-get", args...)
}

// distconsts is engine/distconsts/consts.go at tag v0.19.10: the engine's
// go.mod replaces that nested module with a directory the module zip does
// not contain, and the proxy serves no version of it.
const distconsts = `package distconsts

const (
	EngineContainerName = "dagger-engine.dev"

	DefaultEngineSockAddr = "unix:///run/dagger/engine.sock"
)

const (
	RuncPath       = "/usr/local/bin/runc"
	DaggerInitPath = "/usr/local/bin/dagger-init"

	EngineDefaultStateDir = "/var/lib/dagger"

	EngineContainerBuiltinContentDir   = "/usr/local/share/dagger/content"
	GoSDKManifestDigestEnvName         = "DAGGER_GO_SDK_MANIFEST_DIGEST"
	PythonSDKManifestDigestEnvName     = "DAGGER_PYTHON_SDK_MANIFEST_DIGEST"
	TypescriptSDKManifestDigestEnvName = "DAGGER_TYPESCRIPT_SDK_MANIFEST_DIGEST"
)

const (
	AlpineVersion = "3.22.1"
	AlpineImage   = "alpine:" + AlpineVersion

	GolangVersion = "1.25.5"
	GolangImage   = "golang:" + GolangVersion + "-alpine"

	BusyboxVersion = "1.37.0"
	BusyboxImage   = "busybox:" + BusyboxVersion
)

const (
	OCIVersionAnnotation = "org.opencontainers.image.version"
)

const (
	EngineCustomCACertsDir = "/usr/local/share/ca-certificates"
)
`

// daggerBinaries are the outputs of the Dagger build; the engine start
// needs all of them.
var daggerBinaries = []string{"dagger", "dagger-engine", "dagger-init", "dnsname", "codegen"}

// buildDagger builds the Dagger CLI, engine and helpers of DaggerVersion in
// a throwaway copy of the engine module under the cache (never in our own
// go.mod), in one static go build like upstream's: dagger-init is mounted
// into every container, so it must not need a libc.
func (e *Engine) buildDagger(ctx context.Context) error {
	bin := e.BinDir()
	if haveAll(bin, daggerBinaries) {
		return nil
	}
	e.logf("building Dagger %s%s from the Go module proxy (cold: ~9 min on 2 cores)", DaggerVersion, patchNote())
	mod, err := modDownload(ctx, "github.com/dagger/dagger@"+DaggerVersion)
	if err != nil {
		return err
	}
	// A source copy per binary directory: builds of different patch sets
	// never share one.
	src := bin + ".src"
	if err := os.MkdirAll(e.daggerDir(), 0o755); err != nil {
		return err
	}
	if err := os.RemoveAll(src); err != nil {
		return err
	}
	defer os.RemoveAll(src)
	if err := e.command(ctx, "dagger-copy", "/", nil, "cp", "-r", mod.Dir, src); err != nil {
		return err
	}
	if err := e.command(ctx, "dagger-chmod", "/", nil, "chmod", "-R", "u+w", src); err != nil {
		return err
	}
	// sdk/go is not in the module zip either; it is the published SDK.
	if err := e.command(ctx, "dagger-replace", src, goEnv(), "go", "mod", "edit", "-replace", "dagger.io/dagger=dagger.io/dagger@"+DaggerVersion); err != nil {
		return err
	}
	dc := filepath.Join(src, "engine", "distconsts")
	if err := os.MkdirAll(dc, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dc, "go.mod"), []byte("module github.com/dagger/dagger/engine/distconsts\n\ngo 1.22\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dc, "consts.go"), []byte(distconsts), 0o644); err != nil {
		return err
	}
	if err := e.applyDaggerPatches(ctx, src); err != nil {
		return err
	}
	tmp := bin + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	ldflags := "-s -w -X github.com/dagger/dagger/engine.Version=" + DaggerVersion + " -X github.com/dagger/dagger/engine.Tag=" + DaggerVersion
	if err := e.command(ctx, "dagger-build", src, goEnv(), "go", "build", "-trimpath", "-ldflags", ldflags, "-o", tmp+"/",
		"./cmd/dagger", "./cmd/engine", "./cmd/init", "./cmd/dnsname", "./cmd/codegen"); err != nil {
		return err
	}
	for from, to := range map[string]string{"engine": "dagger-engine", "init": "dagger-init"} {
		if err := os.Rename(filepath.Join(tmp, from), filepath.Join(tmp, to)); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(bin); err != nil {
		return err
	}
	return os.Rename(tmp, bin)
}

// module is what `go mod download -json` says about one module.
type module struct {
	Dir   string
	GoMod string
	Error string
}

// modDownload fetches one module version into the module cache.
func modDownload(ctx context.Context, pathVersion string) (module, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", pathVersion)
	cmd.Env = append(os.Environ(), goEnv()...)
	cmd.Dir = os.TempDir() // outside any module: no go.mod of ours gets involved
	out, err := cmd.Output()
	var m module
	if jerr := json.Unmarshal(out, &m); jerr != nil && err == nil {
		err = jerr
	}
	if m.Error != "" {
		return m, fmt.Errorf("downloading %s from the Go module proxy: %s", pathVersion, m.Error)
	}
	if err != nil || m.Dir == "" || m.GoMod == "" {
		return m, fmt.Errorf("downloading %s from the Go module proxy: %v (output %q)", pathVersion, exitDetail(err), out)
	}
	return m, nil
}

func haveAll(dir string, names []string) bool {
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			return false
		}
	}
	return true
}

func exitDetail(err error) error {
	if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
	}
	return err
}

// buildTool go-installs pkg@version into the cache and returns the binary.
func (e *Engine) buildTool(ctx context.Context, name, version, pkg, ldflags string, env ...string) (string, error) {
	bin := e.toolBin(name, version)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	e.logf("building %s %s from the Go module proxy", name, version)
	dir := filepath.Dir(bin)
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	args := []string{"install", "-trimpath", "-ldflags", ldflags, pkg + "@" + version}
	if err := e.command(ctx, name+"-build", "/", goEnv(append(env, "GOBIN="+tmp)...), "go", args...); err != nil {
		return "", err
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return bin, nil
}

// prefetchTools downloads the modules of the tools that are not built yet,
// while the Dagger build keeps the CPU busy: `go install -n` loads every
// package (fetching its module) and prints the build plan without running
// it. Failures are ignored here: the real build reports them.
func (e *Engine) prefetchTools(ctx context.Context) {
	for _, t := range []struct{ name, version, pkg, env string }{
		{"trivy", TrivyVersion, "github.com/aquasecurity/trivy/cmd/trivy", "GOEXPERIMENT=jsonv2"},
		{"gosec", GosecVersion, "github.com/securego/gosec/v2/cmd/gosec", ""},
	} {
		if _, err := os.Stat(e.toolBin(t.name, t.version)); err == nil {
			continue
		}
		cmd := exec.CommandContext(ctx, "go", "install", "-n", t.pkg+"@"+t.version)
		cmd.Dir = os.TempDir()
		env := []string{"GOBIN=" + os.TempDir()}
		if t.env != "" {
			env = append(env, t.env)
		}
		cmd.Env = append(os.Environ(), goEnv(env...)...)
		if err := cmd.Run(); err == nil {
			e.logf("prefetched the modules of %s %s", t.name, t.version)
		}
	}
}

// buildTrivy builds the Trivy CLI. Trivy v0.74 needs the jsonv2 experiment
// for every build.
func (e *Engine) buildTrivy(ctx context.Context) (string, error) {
	return e.buildTool(ctx, "trivy", TrivyVersion, "github.com/aquasecurity/trivy/cmd/trivy",
		"-s -w -X github.com/aquasecurity/trivy/pkg/version/app.ver="+strings.TrimPrefix(TrivyVersion, "v"),
		"GOEXPERIMENT=jsonv2")
}

// buildGosec builds the gosec CLI.
func (e *Engine) buildGosec(ctx context.Context) (string, error) {
	return e.buildTool(ctx, "gosec", GosecVersion, "github.com/securego/gosec/v2/cmd/gosec",
		"-s -w -X main.Version="+strings.TrimPrefix(GosecVersion, "v"))
}

// fetchPrometheus returns Debian's prometheus binary of PrometheusVersion,
// cached by version: the package is downloaded (not installed: no service
// starts, nothing on the host changes) and only /usr/bin/prometheus is
// kept. Building Prometheus from the module proxy would take longer than
// the engine itself on two cores; Debian builds the same release.
func (e *Engine) fetchPrometheus(ctx context.Context) (string, error) {
	bin := e.toolBin("prometheus", PrometheusVersion)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	e.logf("downloading Debian's prometheus %s", PrometheusVersion)
	tmp, err := os.MkdirTemp(e.cache, "prometheus-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	download := func() error {
		return e.command(ctx, "prometheus-download", tmp, nil, "apt-get", "download", "-qq", "prometheus")
	}
	if err := download(); err != nil {
		// A fresh host may have no package lists yet.
		if err := e.command(ctx, "apt-update", "/", nil, "apt-get", "update", "-qq"); err != nil {
			return "", err
		}
		if err := download(); err != nil {
			return "", err
		}
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "prometheus_*.deb"))
	if len(debs) != 1 {
		return "", fmt.Errorf("apt-get download prometheus left %d packages in %s, want 1", len(debs), tmp)
	}
	out, err := exec.CommandContext(ctx, "dpkg-deb", "-f", debs[0], "Version").Output()
	if err != nil {
		return "", fmt.Errorf("dpkg-deb -f %s Version: %w", debs[0], exitDetail(err))
	}
	version := strings.TrimSpace(string(out))
	if upstream, _, _ := strings.Cut(version, "+"); upstream != PrometheusVersion {
		return "", &PrereqError{
			Problem: fmt.Sprintf("Debian's prometheus package is %s; the engine's prom/prometheus image pins %s", version, PrometheusVersion),
			Fix:     "set engine.PrometheusVersion (internal/engine/engine.go) to " + upstream + " and the stage/kube default image to match",
		}
	}
	x := filepath.Join(tmp, "x")
	if err := e.command(ctx, "prometheus-extract", tmp, nil, "dpkg-deb", "-x", debs[0], x); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(filepath.Join(x, "usr/bin/prometheus"), bin); err != nil {
		return "", fmt.Errorf("the prometheus package has no usr/bin/prometheus: %w", err)
	}
	return bin, nil
}

// debianMirror is the first Debian archive in the host's apt sources: the
// one place this host is known to reach for Debian packages.
func debianMirror() (string, error) {
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*")
	files = append(files, "/etc/apt/sources.list")
	re := regexp.MustCompile(`https?://[^\s\]]+/debian/?(\s|$)`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if strings.HasPrefix(line, "#") || strings.Contains(line, "debian-security") {
				continue
			}
			if m := re.FindString(line); m != "" {
				return strings.TrimSpace(m), nil
			}
		}
	}
	return "", &PrereqError{
		Problem: "no Debian archive found in /etc/apt/sources.list{,.d}: the base images are debootstrapped from it",
		Fix:     "configure apt with a reachable Debian mirror (the one `apt-get update` uses)",
	}
}

// debootstrap makes the Debian minbase root file systems the base images are
// made of: the plain one, and the one of golang:1.25, which, like the real
// golang image, carries gcc and libc6-dev so that cgo and `go test -race`
// work. It runs in a private mount namespace, so the /proc and /sys it
// mounts into the target can never stay mounted on the host.
func (e *Engine) debootstrap(ctx context.Context) error {
	if err := e.debootstrapInto(ctx, e.rootfsDir(), "ca-certificates,git"); err != nil {
		return err
	}
	return e.debootstrapInto(ctx, e.golangRootfsDir(), "ca-certificates,git,gcc,libc6-dev")
}

// debootstrapInto debootstraps minbase plus the include list into dir.
func (e *Engine) debootstrapInto(ctx context.Context, dir, include string) error {
	if _, err := os.Stat(filepath.Join(dir, "bin", "sh")); err == nil {
		return nil
	}
	mirror, err := debianMirror()
	if err != nil {
		return err
	}
	e.logf("debootstrapping Debian %s minbase from %s", DebianSuite, mirror)
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	if err := e.command(ctx, "debootstrap", "/", nil, "unshare", "--mount", "--propagation", "private", "--",
		"debootstrap", "--variant=minbase", "--arch="+e.arch, "--include="+include, DebianSuite, tmp, mirror); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	// apt lists and caches are not part of any real base image.
	for _, p := range []string{"var/cache/apt/archives", "var/lib/apt/lists"} {
		matches, _ := filepath.Glob(filepath.Join(tmp, p, "*"))
		for _, m := range matches {
			if fi, err := os.Stat(m); err == nil && !fi.IsDir() {
				os.Remove(m)
			}
		}
	}
	return os.Rename(tmp, dir)
}

// sdkDepsImports are the third-party imports of the code `dagger init` and
// codegen generate for a Go module; with the SDK's own requirements they
// make the module closure that containers fetch from the file GOPROXY.
var sdkDepsImports = []string{
	"dagger.io/dagger", "github.com/99designs/gqlgen/graphql", "github.com/Khan/genqlient/graphql",
	"github.com/vektah/gqlparser/v2/gqlerror", "go.opentelemetry.io/otel", "go.opentelemetry.io/otel/baggage",
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc", "go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp",
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc", "go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp",
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc", "go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp",
	"go.opentelemetry.io/otel/log", "go.opentelemetry.io/otel/sdk/log", "go.opentelemetry.io/otel/sdk/metric",
	"go.opentelemetry.io/otel/sdk/resource", "go.opentelemetry.io/otel/sdk/trace", "go.opentelemetry.io/otel/semconv/v1.37.0",
	"go.opentelemetry.io/otel/trace/noop", "go.opentelemetry.io/proto/otlp/collector/logs/v1",
	"go.opentelemetry.io/proto/otlp/metrics/v1", "go.opentelemetry.io/proto/otlp/trace/v1",
	"golang.org/x/sync/errgroup", "google.golang.org/grpc",
}

// sdkDeps fills the host module cache with what a Dagger Go module needs
// when the SDK container runs `go mod tidy` against the file GOPROXY. It
// reproduces what codegen does: the SDK's go.mod plus the generated code's
// imports, tidied.
func (e *Engine) sdkDeps(ctx context.Context) error {
	dir := filepath.Join(e.daggerDir(), "sdkdeps")
	if _, err := os.Stat(filepath.Join(dir, "go.sum")); err == nil {
		return nil
	}
	mod, err := modDownload(ctx, "dagger.io/dagger@"+DaggerVersion)
	if err != nil {
		return err
	}
	gomod, err := os.ReadFile(mod.GoMod)
	if err != nil {
		return err
	}
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	gomod = regexp.MustCompile(`(?m)^module .*$`).ReplaceAll(gomod, []byte("module sdkdeps"))
	if err := os.WriteFile(filepath.Join(tmp, "go.mod"), gomod, 0o644); err != nil {
		return err
	}
	var src strings.Builder
	src.WriteString("package sdkdeps\n\nimport (\n")
	for _, imp := range sdkDepsImports {
		fmt.Fprintf(&src, "\t_ %q\n", imp)
	}
	src.WriteString(")\n")
	if err := os.WriteFile(filepath.Join(tmp, "deps.go"), []byte(src.String()), 0o644); err != nil {
		return err
	}
	if err := e.command(ctx, "sdkdeps-require", tmp, goEnv(), "go", "mod", "edit", "-require=dagger.io/dagger@"+DaggerVersion); err != nil {
		return err
	}
	if err := e.command(ctx, "sdkdeps-tidy", tmp, goEnv(), "go", "mod", "tidy"); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// trivyDBTool is the nested module that writes the vulnerability DB with
// trivy-db's own code; it is a separate module so that trivy-db's
// dependencies stay out of slipway's go.mod.
const trivyDBTool = "internal/tools/trivydb"

// buildTrivyDB builds and runs the DB tool and returns the db.tar.gz. The
// cache key is the tool's source, which holds the advisory records.
func (e *Engine) buildTrivyDB(ctx context.Context) (string, error) {
	repo, err := e.repoDir()
	if err != nil {
		return "", err
	}
	toolDir := filepath.Join(repo, trivyDBTool)
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum", "main.go"} {
		b, err := os.ReadFile(filepath.Join(toolDir, f))
		if err != nil {
			return "", fmt.Errorf("reading the Trivy DB tool: %w", err)
		}
		io.WriteString(h, f)
		h.Write(b)
	}
	key := hex.EncodeToString(h.Sum(nil))[:12]
	out := filepath.Join(e.cache, "trivy-db", key, "db.tar.gz")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	e.logf("building the offline Trivy vulnerability DB")
	bin := filepath.Join(e.cache, "trivy-db", key, "trivydb")
	if err := e.command(ctx, "trivydb-build", toolDir, goEnv("GOFLAGS=-buildvcs=false"), "go", "build", "-trimpath", "-o", bin, "."); err != nil {
		return "", err
	}
	if err := e.command(ctx, "trivydb-run", filepath.Dir(out), nil, bin, "-o", out); err != nil {
		return "", err
	}
	return out, nil
}

// buildVulnDB builds (cached by version under the cache) the Go
// vulnerability database govulncheck reads, from golang.org/x/vulndb at
// vulndb.DefaultVersion on the module proxy, and prefetches govulncheck's
// modules: the engine's containers build govulncheck from this machine's
// module cache.
func (e *Engine) buildVulnDB(ctx context.Context) (string, error) {
	e.logf("building the Go vulnerability database %s", vulndb.DefaultVersion)
	dir, st, err := vulndb.Build(ctx, filepath.Join(e.cache, "vulndb"), vulndb.DefaultVersion, goEnv()...)
	if err != nil {
		return "", err
	}
	e.logf("Go vulnerability database: %d entries, %d modules", st.Entries, st.Modules)
	cmd := exec.CommandContext(ctx, "go", "install", "-n", "golang.org/x/vuln/cmd/govulncheck@"+govulncheck.Version)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), goEnv("GOBIN="+os.TempDir())...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("fetching govulncheck %s's modules: %v\n%s", govulncheck.Version, err, out)
	}
	return dir, nil
}
