// Package enginepod packages the Dagger engine that `make engine` builds
// (internal/engine) as an OCI image that Kubernetes runs with
// deploy/engine's DaemonSet, and pushes it to the registry the local
// cluster's real node pulls from.
//
// The image is Dagger's engine image rebuilt from what this machine has:
// a Debian minbase with the engine's runtime packages (runc, iptables,
// dnsmasq, the CNI plugins, git), debootstrapped from the host's apt
// mirror like the engine's base images, plus the engine, dagger-init and
// dnsname binaries of internal/engine's build, and `buildctl`, the
// dial-stdio proxy Dagger's kube-pod:// driver runs in the pod
// (internal/cmd/dialstdio). Paths are those of Dagger's own image:
// /usr/local/bin/{dagger-engine,dagger-init,runc,buildctl}, /opt/cni/bin,
// /etc/dagger/engine.toml, /var/lib/dagger, /run/dagger/engine.sock.
//
// It lives outside internal/engine on purpose: the running engine's
// fingerprint hashes the mirror server's binary, which links
// internal/engine, so any change there would make `make engine` want a
// restart.
package enginepod

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	deployengine "github.com/slipway-ci/slipway/deploy/engine"
	"github.com/slipway-ci/slipway/internal/engine"
	"github.com/slipway-ci/slipway/internal/hostport"
	"github.com/slipway-ci/slipway/internal/mirror"
)

// Revision is bumped when the image recipe changes, so that a layout
// built by an older recipe is not reused.
const Revision = "p1"

// Packages are the Debian packages of the image: what Dagger's engine image
// installs (runc, CNI plugins, dnsmasq for dnsname, iptables for the CNI
// firewall, git for git sources, pigz/xz for layers), as internal/engine
// installs them on the host.
var Packages = []string{
	"ca-certificates", "git", "runc", "iptables", "dnsmasq-base", "containernetworking-plugins",
	"pigz", "xz-utils", "iproute2", "openssh-client",
}

// DefaultRepository is where Push puts the image in the engine's registry.
const DefaultRepository = "slipway/dagger-engine"

// imageTOML is the configuration baked into the image, for a plain
// `docker run --privileged`: deploy/engine's ConfigMap replaces it.
const imageTOML = `# slipway's Dagger engine image; deploy/engine mounts its own engine.toml here.
root = "/var/lib/dagger"
[grpc]
  address = ["unix:///run/dagger/engine.sock"]
`

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Image is a built engine image.
type Image struct {
	// Layout is the OCI layout directory holding it, in the cache.
	Layout string
	// Image is the image itself.
	Image v1.Image
	// Digest is its manifest digest.
	Digest v1.Hash
}

// Builder builds the image from an engine's build cache.
type Builder struct {
	// Engine is the engine whose cache holds the binaries (engine.New()).
	Engine *engine.Engine
	// Repo is the slipway checkout, where internal/cmd/dialstdio is built.
	Repo string
	// Log gets progress messages (nil: discarded).
	Log io.Writer
}

func (b *Builder) logf(format string, args ...any) {
	if b.Log != nil {
		fmt.Fprintf(b.Log, "enginepod: "+format+"\n", args...)
	}
}

func (b *Builder) dir(elem ...string) string {
	return filepath.Join(append([]string{b.Engine.CacheDir(), "enginepod"}, elem...)...)
}

// rootfsDir is the debootstrapped root file system, cached by suite,
// recipe and architecture.
func (b *Builder) rootfsDir() string {
	return b.dir("rootfs-" + engine.DebianSuite + "-" + Revision + "-" + runtime.GOARCH)
}

// Build returns the engine image, cached by content under
// CACHE/enginepod: the key hashes the recipe and every file of the engine
// layer, so a rebuilt engine (new version or patch set) makes a new image.
func (b *Builder) Build(ctx context.Context) (*Image, error) {
	bin := b.Engine.BinDir()
	for _, f := range []string{"dagger-engine", "dagger-init", "dnsname"} {
		if _, err := os.Stat(filepath.Join(bin, f)); err != nil {
			return nil, fmt.Errorf("enginepod: the engine is not built (%w): run `make engine` once", err)
		}
	}
	if err := b.debootstrap(ctx); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(b.dir(), 0o755); err != nil {
		return nil, err
	}
	scratch, err := os.MkdirTemp(b.dir(), "scratch-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	stage := filepath.Join(scratch, "stage")
	if err := b.stageEngineLayer(ctx, stage); err != nil {
		return nil, err
	}
	key, err := hashTree(stage)
	if err != nil {
		return nil, err
	}
	layout := b.dir("image-" + engine.DaggerVersion + "-" + Revision + "-" + key[:12])
	if _, err := os.Stat(filepath.Join(layout, "index.json")); err != nil {
		b.logf("building the engine image %s", filepath.Base(layout))
		img, err := b.image(scratch, stage)
		if err != nil {
			return nil, err
		}
		if err := mirror.WriteLayout(layout, img); err != nil {
			return nil, fmt.Errorf("enginepod: writing %s: %w", layout, err)
		}
		b.prune(layout)
	}
	img, err := mirror.LayoutImage(layout)
	if err != nil {
		return nil, fmt.Errorf("enginepod: reading %s: %w", layout, err)
	}
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	return &Image{Layout: layout, Image: img, Digest: d}, nil
}

// image assembles the two layers: the Debian root file system, and the
// engine's files.
func (b *Builder) image(scratch, stage string) (v1.Image, error) {
	var layers []v1.Layer
	for i, src := range []string{b.rootfsDir(), stage} {
		tarPath := filepath.Join(scratch, fmt.Sprintf("layer%d.tar", i))
		if err := mirror.TarDir(tarPath, src, ""); err != nil {
			return nil, err
		}
		l, err := mirror.LayerFromTarFile(tarPath)
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
	}
	return mirror.Build(nil, runtime.GOARCH, layers,
		mirror.WithEnv("PATH="+defaultPath),
		mirror.WithEntrypoint("dagger-engine", "--config", "/etc/dagger/engine.toml"),
		mirror.WithLabel("org.opencontainers.image.version", engine.DaggerVersion),
		mirror.WithLabel("org.opencontainers.image.title", "Dagger engine (slipway air-gapped build)"))
}

// stageEngineLayer lays out the engine's files under dir as the image
// has them.
func (b *Builder) stageEngineLayer(ctx context.Context, dir string) error {
	bin := b.Engine.BinDir()
	for _, d := range []string{"usr/local/bin", "opt/cni/bin", "etc/dagger", "var/lib/dagger", "run/dagger"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	for from, to := range map[string]string{
		filepath.Join(bin, "dagger-engine"): "usr/local/bin/dagger-engine",
		filepath.Join(bin, "dagger-init"):   "usr/local/bin/dagger-init",
		// Dagger's own CNI plugin, beside the standard ones.
		filepath.Join(bin, "dnsname"): "opt/cni/bin/dnsname",
	} {
		if err := linkOrCopy(from, filepath.Join(dir, to)); err != nil {
			return err
		}
	}
	// The engine runs runc from /usr/local/bin (dagger's distconsts) and
	// the CNI plugins from /opt/cni/bin (buildkit's default); Debian
	// installs them elsewhere.
	links := map[string]string{"usr/local/bin/runc": "/usr/sbin/runc"}
	for _, p := range []string{"bridge", "loopback", "firewall", "host-local"} {
		links["opt/cni/bin/"+p] = "/usr/lib/cni/" + p
	}
	for link, target := range links {
		if _, err := os.Stat(filepath.Join(b.rootfsDir(), strings.TrimPrefix(target, "/"))); err != nil {
			return fmt.Errorf("enginepod: the image's Debian root file system lacks %s: %w", target, err)
		}
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/dagger/engine.toml"), []byte(imageTOML), 0o644); err != nil {
		return err
	}
	return b.buildDialStdio(ctx, filepath.Join(dir, "usr/local/bin/buildctl"))
}

// buildDialStdio builds internal/cmd/dialstdio, static, as buildctl.
func (b *Builder) buildDialStdio(ctx context.Context, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./internal/cmd/dialstdio")
	cmd.Dir = b.Repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOFLAGS=-buildvcs=false", "GOTOOLCHAIN=local")
	if o, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("enginepod: building buildctl (internal/cmd/dialstdio): %w\n%s", err, o)
	}
	return nil
}

// debootstrap makes the image's root file system, unless it is cached. It
// runs in a private mount namespace, so the /proc and /sys debootstrap
// mounts into the target can never stay mounted on the host.
func (b *Builder) debootstrap(ctx context.Context) error {
	dir := b.rootfsDir()
	if _, err := os.Stat(filepath.Join(dir, "usr/sbin/runc")); err == nil {
		return nil
	}
	mirrorURL, err := b.debianMirror()
	if err != nil {
		return err
	}
	b.logf("debootstrapping Debian %s minbase with %s from %s (a few minutes, once)", engine.DebianSuite, strings.Join(Packages, ","), mirrorURL)
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	logPath := b.dir("debootstrap.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "--",
		"debootstrap", "--variant=minbase", "--arch="+runtime.GOARCH, "--include="+strings.Join(Packages, ","),
		engine.DebianSuite, tmp, mirrorURL)
	cmd.Stdout, cmd.Stderr = logf, logf
	start := time.Now()
	if err := cmd.Run(); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("enginepod: debootstrap: %w (log: %s)", err, logPath)
	}
	// apt's lists and downloaded packages are not part of an image.
	for _, p := range []string{"var/cache/apt/archives", "var/lib/apt/lists"} {
		matches, _ := filepath.Glob(filepath.Join(tmp, p, "*"))
		for _, m := range matches {
			if fi, err := os.Stat(m); err == nil && !fi.IsDir() {
				os.Remove(m)
			}
		}
	}
	b.logf("debootstrap: %.0fs", time.Since(start).Seconds())
	return os.Rename(tmp, dir)
}

// debianMirror is the archive internal/engine debootstrapped its base
// images from (its minbase's sources.list), else the host's first Debian
// archive: the places this host is known to reach.
func (b *Builder) debianMirror() (string, error) {
	re := regexp.MustCompile(`https?://[^\s\]]+/debian/?(\s|$)`)
	files, _ := filepath.Glob(filepath.Join(b.Engine.CacheDir(), "rootfs", "debian-"+engine.DebianSuite+"-minbase-*", "etc/apt/sources.list"))
	hostFiles, _ := filepath.Glob("/etc/apt/sources.list.d/*")
	files = append(append(files, hostFiles...), "/etc/apt/sources.list")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
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
	return "", fmt.Errorf("enginepod: no Debian archive in the engine's root file systems or /etc/apt/sources.list{,.d}")
}

// prune removes the layouts of older builds: each is hundreds of
// megabytes.
func (b *Builder) prune(keep string) {
	old, _ := filepath.Glob(b.dir("image-*"))
	for _, d := range old {
		if d != keep {
			b.logf("removing the older engine image %s", filepath.Base(d))
			os.RemoveAll(d)
		}
	}
}

// Push writes img to repo in the registry of the engine env names (its
// mirror, which the local cluster's real node pulls from), dialing inside
// the engine's network namespace where the registry listens, and returns
// the reference the node pulls: 10.87.0.1:5000/REPO@sha256:...
func Push(ctx context.Context, env engine.Env, img v1.Image, repo string) (string, error) {
	ns, err := engine.Namespace(env)
	if err != nil {
		return "", fmt.Errorf("enginepod: pushing %s: %w", repo, err)
	}
	defer ns.Close()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = hostport.DialerIn(ns)
	ref, err := name.NewTag(engine.MirrorAddr+"/"+repo+":"+engine.DaggerVersion, name.Insecure)
	if err != nil {
		return "", fmt.Errorf("enginepod: %w", err)
	}
	if err := remote.Write(ref, img, remote.WithTransport(tr), remote.WithContext(ctx)); err != nil {
		return "", fmt.Errorf("enginepod: pushing to the engine's registry: %w", err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return engine.MirrorBridgeAddr + "/" + repo + "@" + d.String(), nil
}

// linkOrCopy hard-links src to dst, or copies it when they are on
// different file systems.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s: %w", src, err)
	}
	return out.Close()
}

// hashTree hashes the names, link targets, modes and contents of the
// files under root, in walk order (sorted): the cache key of the engine
// layer.
func hashTree(root string) (string, error) {
	h := sha256.New()
	io.WriteString(h, Revision+"\n"+strings.Join(Packages, ",")+"\n")
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(h, "%s %o\n", rel, fi.Mode())
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			io.WriteString(h, t+"\n")
		case fi.Mode().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(h, f); err != nil {
				return fmt.Errorf("hashing %s: %w", p, err)
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("enginepod: hashing the engine layer: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// LocalClusterOptions place deploy/engine's DaemonSet on the local
// cluster's real node (internal/cluster) and keep the engine air-gapped
// like the host one: on the node's network, where the node's loopback
// 127.0.0.1:5000 reaches the engine's registry mirror (the node proxy),
// with the same mirrors as the host engine's engine.toml.
func LocalClusterOptions() []deployengine.Option {
	opts := []deployengine.Option{
		deployengine.WithNodeSelector(map[string]string{"slipway.dev/node": "real"}),
		deployengine.WithHostNetwork(),
		deployengine.WithInsecureRegistry(engine.MirrorAddr, engine.MirrorBridgeAddr),
		// Pipelines name their pushed images 10.87.0.1:5000/... (the host
		// engine's bridge); on the node that address is this engine's own
		// bridge, so pulls of it go to the node's loopback instead.
		deployengine.WithRegistryMirror(engine.MirrorBridgeAddr, engine.MirrorAddr),
	}
	for _, h := range []string{"docker.io", "gcr.io", "ghcr.io", "quay.io", "mirror.gcr.io"} {
		opts = append(opts, deployengine.WithRegistryMirror(h, engine.MirrorAddr))
	}
	return opts
}
