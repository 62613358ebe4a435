package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Binaries are the programs Build puts into BinDir. kubectl and the real
// node's kubelet come from the same wrapper module as the control plane, so
// the benchmark compares slipway with the kubectl of the server's version and
// the node runs the server's version. pause is the real node's sandbox
// ("infra") container program.
var Binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubectl", "kubelet", "pause"}

// kubeCommands are the k8s.io/kubernetes commands Build links, all from
// one wrapper module.
var kubeCommands = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kubelet"}

// Built reports whether every binary and the kwok stages are in the cache.
func (c *Cluster) Built() bool {
	for _, b := range Binaries {
		if _, err := os.Stat(c.Bin(b)); err != nil {
			return false
		}
	}
	for _, f := range []string{c.stagesFile(), c.pauseImageFile()} {
		if _, err := os.Stat(f); err != nil {
			return false
		}
	}
	return true
}

// Build compiles whatever of Binaries is missing from the cache, from the
// Go module proxy, and writes the kwok stages and the pause image. A cold
// build takes ~700 CPU-seconds for the control plane (6-8 minutes on two
// idle cores) plus the kubelet; with a warm Go build cache it relinks in
// seconds. A cache built before the kubelet existed only builds the
// kubelet, which shares most packages with the control plane.
func (c *Cluster) Build(ctx context.Context) error {
	if c.Built() {
		return nil
	}
	if err := checkGo(); err != nil {
		return err
	}
	if err := checkDisk(c.cache, 4<<30); err != nil {
		return err
	}
	start := time.Now()
	tmp := c.BinDir() + ".partial"
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return fmt.Errorf("cluster: build: %w", err)
	}
	missing := func(names ...string) bool {
		for _, n := range names {
			if _, err := os.Stat(c.Bin(n)); err != nil {
				return true
			}
		}
		return false
	}
	if missing("etcd") {
		if err := c.buildEtcd(ctx, tmp); err != nil {
			return err
		}
	}
	if missing("kwok") {
		if err := c.buildKwok(ctx, tmp); err != nil {
			return err
		}
	}
	var kube []string
	for _, cmd := range kubeCommands {
		if missing(cmd) {
			kube = append(kube, cmd)
		}
	}
	if len(kube) > 0 {
		if err := c.buildKubernetes(ctx, tmp, kube); err != nil {
			return err
		}
	}
	if missing("pause") {
		if err := c.buildPause(ctx, tmp); err != nil {
			return err
		}
	}
	// Move finished binaries in one by one: an interrupted build never
	// leaves a half-written binary under BinDir.
	if err := os.MkdirAll(c.BinDir(), 0o755); err != nil {
		return fmt.Errorf("cluster: build: %w", err)
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return fmt.Errorf("cluster: build: %w", err)
	}
	for _, e := range entries {
		if err := os.Rename(filepath.Join(tmp, e.Name()), c.Bin(e.Name())); err != nil {
			return fmt.Errorf("cluster: build: %w", err)
		}
	}
	os.Remove(tmp)
	if _, err := os.Stat(c.stagesFile()); err != nil {
		if err := c.writeStages(ctx); err != nil {
			return err
		}
	}
	if _, err := os.Stat(c.pauseImageFile()); err != nil {
		if err := c.writePauseImage(); err != nil {
			return err
		}
	}
	if !c.Built() {
		return fmt.Errorf("cluster: build finished but %s is incomplete", c.BinDir())
	}
	c.logf("build cache complete (%s) in %s", c.BinDir(), time.Since(start).Round(time.Second))
	return nil
}

// buildKubernetes builds cmds (some of kubeCommands). k8s.io/kubernetes
// requires its staging modules (k8s.io/api, ...) at v0.0.0 with replace
// directives into ./staging, and replace directives only work in the main
// module: the wrapper module maps each one to its published v0.x.y, reading
// the list from k8s.io/kubernetes' own go.mod. The module always names all
// of kubeCommands as tools, so the versions it selects (and so the Go build
// cache's compiled packages) are the same whichever subset is built.
func (c *Cluster) buildKubernetes(ctx context.Context, out string, cmds []string) error {
	dir := filepath.Join(c.BuildDir(), "src", "kube")
	info, err := goModDownload(ctx, "k8s.io/kubernetes@"+KubernetesVersion)
	if err != nil {
		return err
	}
	upstream, err := os.ReadFile(info.GoMod)
	if err != nil {
		return fmt.Errorf("cluster: reading k8s.io/kubernetes go.mod: %w", err)
	}
	gomod, err := kubeWrapperGoMod(string(upstream))
	if err != nil {
		return err
	}
	if err := writeModule(dir, gomod); err != nil {
		return err
	}
	get := []string{"get", "-tool"}
	for _, cmd := range kubeCommands {
		get = append(get, "k8s.io/kubernetes/cmd/"+cmd+"@"+KubernetesVersion)
	}
	if err := c.goCmd(ctx, dir, get...); err != nil {
		return err
	}
	var pkgs []string
	for _, cmd := range cmds {
		pkgs = append(pkgs, "k8s.io/kubernetes/cmd/"+cmd)
	}
	start := time.Now()
	c.logf("building %s %s (cold: several minutes)", strings.Join(cmds, ", "), KubernetesVersion)
	build := append([]string{"build", "-trimpath", "-ldflags", kubeLDFlags(KubernetesVersion), "-o", out + "/"}, pkgs...)
	if err := c.goCmd(ctx, dir, build...); err != nil {
		return err
	}
	c.logf("built %s in %s", strings.Join(cmds, ", "), time.Since(start).Round(time.Second))
	return nil
}

// kubeLDFlags stamps the version the binaries report (and the API server
// serves at /version); a build from the module zip has no git data.
func kubeLDFlags(version string) string {
	minor := strings.Split(strings.TrimPrefix(version, "v"), ".")[1]
	vp, cp := "k8s.io/component-base/version", "k8s.io/client-go/pkg/version"
	return strings.Join([]string{
		"-s -w",
		"-X " + vp + ".gitVersion=" + version, "-X " + vp + ".gitMajor=1", "-X " + vp + ".gitMinor=" + minor,
		"-X " + vp + ".gitTreeState=clean", "-X " + vp + ".buildDate=1970-01-01T00:00:00Z",
		"-X " + cp + ".gitVersion=" + version, "-X " + cp + ".gitMajor=1", "-X " + cp + ".gitMinor=" + minor,
	}, " ")
}

var stagingReplace = regexp.MustCompile(`(?m)^\s*(k8s\.io/[^\s]+)\s+=>\s+\./staging/`)

// kubeWrapperGoMod writes the wrapper module's go.mod from k8s.io/kubernetes'
// go.mod: its godebug defaults, and each staging module at v0.MINOR.PATCH.
func kubeWrapperGoMod(upstream string) (string, error) {
	staging := "v0." + strings.TrimPrefix(KubernetesVersion, "v1.")
	var b strings.Builder
	b.WriteString("// Generated by slipway's internal/cluster: builds the control plane from the Go module proxy.\nmodule slipway.local/cluster/kube\n\ngo 1.24.0\n\n")
	for _, line := range strings.Split(upstream, "\n") {
		if strings.HasPrefix(line, "godebug ") {
			b.WriteString(line + "\n")
		}
	}
	fmt.Fprintf(&b, "\nrequire k8s.io/kubernetes %s\n\nreplace (\n", KubernetesVersion)
	matches := stagingReplace.FindAllStringSubmatch(upstream, -1)
	if len(matches) == 0 {
		return "", errors.New("cluster: k8s.io/kubernetes go.mod has no ./staging replace directives: cannot map the staging modules")
	}
	for _, m := range matches {
		fmt.Fprintf(&b, "\t%s => %s %s\n", m[1], m[1], staging)
	}
	b.WriteString(")\n")
	return b.String(), nil
}

// buildEtcd builds etcd's server. Its module has replace directives, so
// `go install pkg@version` refuses it: a wrapper module requires it instead.
func (c *Cluster) buildEtcd(ctx context.Context, out string) error {
	dir := filepath.Join(c.BuildDir(), "src", "etcd")
	if err := writeModule(dir, "module slipway.local/cluster/etcd\n\ngo 1.24.0\n"); err != nil {
		return err
	}
	if err := c.goCmd(ctx, dir, "get", "-tool", "go.etcd.io/etcd/server/v3@"+EtcdVersion); err != nil {
		return err
	}
	c.logf("building etcd %s", EtcdVersion)
	return c.goCmd(ctx, dir, "build", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(out, "etcd"), "go.etcd.io/etcd/server/v3")
}

func (c *Cluster) buildKwok(ctx context.Context, out string) error {
	dir := filepath.Join(c.BuildDir(), "src", "kwok")
	if err := writeModule(dir, "module slipway.local/cluster/kwok\n\ngo 1.24.0\n"); err != nil {
		return err
	}
	if err := c.goCmd(ctx, dir, "get", "-tool", "sigs.k8s.io/kwok/cmd/kwok@"+KwokVersion); err != nil {
		return err
	}
	c.logf("building kwok %s", KwokVersion)
	return c.goCmd(ctx, dir, "build", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(out, "kwok"), "sigs.k8s.io/kwok/cmd/kwok")
}

func writeModule(dir, gomod string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	// A go.sum from an older recipe could pin other versions: start clean.
	os.Remove(filepath.Join(dir, "go.sum"))
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	return nil
}

func (c *Cluster) goCmd(ctx context.Context, dir string, args ...string) error {
	return c.goCmdEnv(ctx, dir, nil, args...)
}

func (c *Cluster) goCmdEnv(ctx context.Context, dir string, env []string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=-buildvcs=false", "GOWORK=off"), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("cluster: go %s (in %s): %w\n%s", strings.Join(args, " "), dir, err, tail(out.String(), 40))
	}
	return nil
}

type modInfo struct {
	Dir, GoMod, Error string
}

func goModDownload(ctx context.Context, mod string) (*modInfo, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", mod)
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOWORK=off")
	cmd.Dir = os.TempDir() // outside any module: no go.mod may interfere
	out, err := cmd.Output()
	var info modInfo
	if jerr := json.Unmarshal(out, &info); jerr != nil || info.Error != "" || err != nil {
		return nil, fmt.Errorf("cluster: go mod download %s: %v %s (is the Go module proxy reachable? GOPROXY=%s)", mod, err, info.Error, os.Getenv("GOPROXY"))
	}
	return &info, nil
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// writeStages writes kwok's own "fast" node and pod stages, taken from the
// kwok module source (v0.8.0 ships no default stages). Every pod on a kwok
// node becomes Ready whatever its image: failures (a bad digest, a crash, a
// failing probe) are the real node's to show, for real reasons.
func (c *Cluster) writeStages(ctx context.Context) error {
	info, err := goModDownload(ctx, "sigs.k8s.io/kwok@"+KwokVersion)
	if err != nil {
		return err
	}
	src := filepath.Join(info.Dir, "kustomize", "stage")
	read := func(rel string) (string, error) {
		b, err := os.ReadFile(filepath.Join(src, rel))
		if err != nil {
			return "", fmt.Errorf("cluster: kwok stages: %w", err)
		}
		return string(b), nil
	}
	var docs []string
	for _, rel := range []string{"node/fast/node-initialize.yaml", "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml", "pod/fast/pod-ready.yaml", "pod/fast/pod-complete.yaml", "pod/fast/pod-delete.yaml"} {
		s, err := read(rel)
		if err != nil {
			return err
		}
		docs = append(docs, strings.TrimRight(s, "\n"))
	}
	tmp := c.stagesFile() + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(docs, "\n---\n")+"\n"), 0o644); err != nil {
		return fmt.Errorf("cluster: kwok stages: %w", err)
	}
	return os.Rename(tmp, c.stagesFile())
}
