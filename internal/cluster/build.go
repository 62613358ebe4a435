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

// Binaries are the programs Build puts into BinDir. kubectl comes from the
// same wrapper module as the control plane, so the benchmark compares
// slipway with the kubectl of the server's version.
var Binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubectl"}

// Built reports whether every binary and the kwok stages are in the cache.
func (c *Cluster) Built() bool {
	for _, b := range Binaries {
		if _, err := os.Stat(c.Bin(b)); err != nil {
			return false
		}
	}
	_, err := os.Stat(c.stagesFile())
	return err == nil
}

// Build compiles whatever of Binaries is missing from the cache, from the
// Go module proxy, and writes the kwok stages. A cold build takes ~700
// CPU-seconds (6-8 minutes on two idle cores); with a warm Go build cache
// it relinks in seconds.
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
	if missing("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl") {
		if err := c.buildKubernetes(ctx, tmp); err != nil {
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
	if err := c.writeStages(ctx); err != nil {
		return err
	}
	if !c.Built() {
		return fmt.Errorf("cluster: build finished but %s is incomplete", c.BinDir())
	}
	c.logf("built %s in %s", strings.Join(Binaries, ", "), time.Since(start).Round(time.Second))
	return nil
}

// buildKubernetes builds the control plane and kubectl. k8s.io/kubernetes
// requires its staging modules (k8s.io/api, ...) at v0.0.0 with replace
// directives into ./staging, and replace directives only work in the main
// module: the wrapper module maps each one to its published v0.x.y, reading
// the list from k8s.io/kubernetes' own go.mod.
func (c *Cluster) buildKubernetes(ctx context.Context, out string) error {
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
	var pkgs []string
	for _, cmd := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"} {
		pkgs = append(pkgs, "k8s.io/kubernetes/cmd/"+cmd)
	}
	get := []string{"get", "-tool"}
	for _, p := range pkgs {
		get = append(get, p+"@"+KubernetesVersion)
	}
	if err := c.goCmd(ctx, dir, get...); err != nil {
		return err
	}
	c.logf("building kube-apiserver, kube-controller-manager, kube-scheduler and kubectl %s (cold: several minutes)", KubernetesVersion)
	build := append([]string{"build", "-trimpath", "-ldflags", kubeLDFlags(KubernetesVersion), "-o", out + "/"}, pkgs...)
	return c.goCmd(ctx, dir, build...)
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
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=-buildvcs=false", "GOWORK=off")
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

// BadImageExpr is the kwok selector that marks an image as broken: a tag
// ":bad", or a repository ending in "bad" named by digest
// (registry.local/app-bad@sha256:...). Pods with such an image never become
// ready and wait in ImagePullBackOff, as a real pull failure would.
const BadImageExpr = `.spec.containers.[].image | (endswith(":bad") or contains("bad@sha256:"))`

// writeStages writes kwok's own "fast" node and pod stages, taken from the
// kwok module source (v0.8.0 ships no default stages), with pod-ready
// skipping bad images and one more stage that parks them in ImagePullBackOff.
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
		if rel == "pod/fast/pod-ready.yaml" {
			const anchor = "    matchExpressions:\n"
			if !strings.Contains(s, anchor) {
				return fmt.Errorf("cluster: kwok %s: %s has no %q to extend", KwokVersion, rel, strings.TrimSpace(anchor))
			}
			s = strings.Replace(s, anchor, anchor+"    - key: '"+BadImageExpr+"'\n      operator: 'NotIn'\n      values:\n      - 'true'\n", 1)
		}
		docs = append(docs, strings.TrimRight(s, "\n"))
	}
	docs = append(docs, strings.TrimRight(strings.ReplaceAll(imagePullFailStage, "BAD_IMAGE_EXPR", BadImageExpr), "\n"))
	tmp := c.stagesFile() + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(docs, "\n---\n")+"\n"), 0o644); err != nil {
		return fmt.Errorf("cluster: kwok stages: %w", err)
	}
	return os.Rename(tmp, c.stagesFile())
}

const imagePullFailStage = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-image-pull-fail
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: '.metadata.deletionTimestamp', operator: DoesNotExist}
    - {key: '.status.phase', operator: In, values: [Pending]}
    - {key: 'BAD_IMAGE_EXPR', operator: In, values: ["true"]}
    - {key: '.status.containerStatuses.[].state.waiting.reason', operator: NotIn, values: [ImagePullBackOff]}
  weight: 10000
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Initialized}
      - {lastTransitionTime: {{ $now | Quote }}, status: "False", reason: ContainersNotReady, type: Ready}
      - {lastTransitionTime: {{ $now | Quote }}, status: "False", reason: ContainersNotReady, type: ContainersReady}
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: PodScheduled}
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        started: false
        restartCount: 0
        state: {waiting: {reason: ImagePullBackOff, message: "Back-off pulling image {{ .image }}"}}
      {{ end }}
      hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
      podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
      phase: Pending
`
