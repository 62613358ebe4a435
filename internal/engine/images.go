package engine

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slipway-ci/slipway/internal/mirror"
	"github.com/slipway-ci/slipway/stage/govulncheck/vulndb"
)

// Image references the mirror serves, as a laptop with Docker Hub would
// name them. A pull of docker.io/library/golang:1.25 reaches the mirror as
// library/golang:1.25; one of gcr.io/distroless/static-debian12:nonroot as
// distroless/static-debian12:nonroot; the mirror serves every registry host
// from one namespace.
const (
	// GolangRef is the Go build image the pipelines use.
	GolangRef = "golang:1.25"
	// StaticBaseRef is the minimal static runtime base for service images:
	// CA certificates, /etc/passwd with user nonroot (65532), /tmp, no
	// shell. The same name as Google's distroless image, so pipeline code
	// works unchanged with a real registry.
	StaticBaseRef = "gcr.io/distroless/static-debian12:nonroot"
	// TrivyRef is the Trivy scanner image.
	TrivyRef = "aquasec/trivy:0.74.0"
	// PrometheusRef is the Prometheus image the deploy stage's alert check
	// takes /bin/prometheus from (stage/kube.DefaultPrometheusImage).
	PrometheusRef = "prom/prometheus:v" + PrometheusVersion
	// GosecRef is the gosec scanner image.
	GosecRef = "securego/gosec:2.29.0"
	// TrivyDBRef is the vulnerability DB artifact, where Trivy looks for it.
	TrivyDBRef = "ghcr.io/aquasecurity/trivy-db:2"
	// VulnDBRef is the Go vulnerability database image (stage/govulncheck
	// WithDBImage), pulled by the engine as 127.0.0.1:5000/VulnDBRef.
	VulnDBRef = vulndb.ImageRepository + ":" + vulndb.DefaultVersion
	// MirrorAddr is the mirror as the engine sees it.
	MirrorAddr = "127.0.0.1:5000"
	// BridgeIP is the engine's address on its containers' bridge: the
	// mirror, the module proxy and the forwarded host ports are there.
	BridgeIP = "10.87.0.1"
	// MirrorBridgeAddr is the mirror as containers see it (the CNI bridge
	// of the engine's network namespace), e.g. for
	// `trivy --db-repository 10.87.0.1:5000/aquasecurity/trivy-db:2 --insecure`.
	MirrorBridgeAddr = "10.87.0.1:5000"
	// GoProxyAddr is the file GOPROXY for module builds, as the engine
	// namespace sees it; containers use http://10.87.0.1:8081.
	GoProxyAddr = "0.0.0.0:8081"
)

// mirroredHosts are the registries whose pulls the engine sends to the
// mirror.
var mirroredHosts = []string{"docker.io", "gcr.io", "ghcr.io", "quay.io", "mirror.gcr.io"}

// builtImages is the result of buildImages: the seed list and the Go SDK
// image the engine loads from its builtin content store.
type builtImages struct {
	seeds     []mirror.Seed
	goSDK     string // OCI layout of the Go SDK builtin image
	goSDKHash v1.Hash
}

// GolangRefs are the tags the Go image is served under: the minor
// versions go.mod files name (stage.GoImageFor picks golang:1.MINOR from a
// module's go or toolchain line), as Docker Hub serves them. Here each
// carries the host's Go (1.25 or newer), which builds modules that ask for
// any of them.
var GolangRefs = []string{"golang:1.22", "golang:1.23", "golang:1.24", GolangRef, "golang:1.26"}

// hostGo is the Go toolchain put into golang:1.25. No Go 1.25 toolchain is
// fetched: the host's Go (1.25 or newer) builds go 1.25 modules the same way.
func hostGo(ctx context.Context) (goroot, version string, err error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOROOT", "GOVERSION").Output()
	if err != nil {
		return "", "", fmt.Errorf("go env: %w", exitDetail(err))
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		return "", "", fmt.Errorf("go env GOROOT GOVERSION: unexpected %q", out)
	}
	return f[0], f[1], nil
}

// layoutImage returns the cached layout named key, building it first.
func (e *Engine) layoutImage(key string, build func() (v1.Image, error)) (string, v1.Image, error) {
	dir := filepath.Join(e.imagesDir(), key)
	if _, err := os.Stat(filepath.Join(dir, "index.json")); err != nil {
		e.logf("building image %s", key)
		img, err := build()
		if err != nil {
			return "", nil, fmt.Errorf("building image %s: %w", key, err)
		}
		if err := mirror.WriteLayout(dir, img); err != nil {
			return "", nil, err
		}
	}
	img, err := mirror.LayoutImage(dir)
	return dir, img, err
}

// pruneImages removes cached layouts that no seed uses any more (older
// recipes or versions): each is hundreds of megabytes. Running engines do
// not read the layouts after seeding, and Up holds the cache lock.
func (e *Engine) pruneImages(seeds []mirror.Seed) {
	keep := map[string]bool{}
	for _, s := range seeds {
		keep[filepath.Base(s.Layout)] = true
	}
	ents, err := os.ReadDir(e.imagesDir())
	if err != nil {
		return
	}
	for _, ent := range ents {
		if !keep[ent.Name()] {
			e.logf("removing unused image layout %s", ent.Name())
			os.RemoveAll(filepath.Join(e.imagesDir(), ent.Name()))
		}
	}
}

// layerTar builds an uncompressed layer tar in the scratch directory with
// write, and returns it as a layer.
func (e *Engine) layerTar(name string, write func(dst string) error) (v1.Layer, error) {
	dir := filepath.Join(e.cache, "scratch")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	dst := filepath.Join(dir, name+".tar")
	if err := write(dst); err != nil {
		return nil, err
	}
	return mirror.LayerFromTarFile(dst)
}

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// buildImages builds (or finds cached) every image the mirror serves.
func (e *Engine) buildImages(ctx context.Context, trivy, gosec, trivyDB, vulnDB, prometheus string) (*builtImages, error) {
	defer os.RemoveAll(filepath.Join(e.cache, "scratch"))
	goroot, goversion, err := hostGo(ctx)
	if err != nil {
		return nil, err
	}
	rev := imagesRevision + "-" + e.arch
	var out builtImages
	add := func(dir string, refs ...string) {
		for _, r := range refs {
			out.seeds = append(out.seeds, mirror.Seed{Layout: dir, Ref: mirrorPath(r)})
		}
	}

	// Debian minbase: the base of the others, and alpine:latest, which the
	// `dagger init` Go template's example functions use.
	baseDir, base, err := e.layoutImage("debian-"+DebianSuite+"-"+rev, func() (v1.Image, error) {
		l, err := e.layerTar("debian", func(dst string) error { return mirror.TarDir(dst, e.rootfsDir(), "") })
		if err != nil {
			return nil, err
		}
		return mirror.Build(nil, e.arch, []v1.Layer{l}, mirror.WithEnv("PATH="+defaultPath), mirror.WithCmd("/bin/sh"))
	})
	if err != nil {
		return nil, err
	}
	add(baseDir, "alpine:latest", "debian:"+DebianSuite, "debian:12")

	// golang:1.25 has gcc and libc6-dev, as the real image does: cgo and
	// `go test -race` need them.
	golangDir, golang, err := e.layoutImage("golang-1.25-"+goversion+"-"+rev, func() (v1.Image, error) {
		rootfs, err := e.layerTar("debian-gcc", func(dst string) error { return mirror.TarDir(dst, e.golangRootfsDir(), "") })
		if err != nil {
			return nil, err
		}
		l, err := e.layerTar("go", func(dst string) error { return mirror.TarDir(dst, goroot, "usr/local/go") })
		if err != nil {
			return nil, err
		}
		return mirror.Build(nil, e.arch, []v1.Layer{rootfs, l},
			mirror.WithEnv("PATH=/go/bin:/usr/local/go/bin:"+defaultPath, "GOLANG_VERSION="+strings.TrimPrefix(goversion, "go"),
				"GOPATH=/go", "GOTOOLCHAIN=local"),
			mirror.WithWorkdir("/go"), mirror.WithCmd("bash"))
	})
	if err != nil {
		return nil, err
	}
	add(golangDir, GolangRefs...)

	staticDir, _, err := e.layoutImage("static-debian12-nonroot-"+rev, func() (v1.Image, error) {
		return e.staticBase()
	})
	if err != nil {
		return nil, err
	}
	add(staticDir, StaticBaseRef, "gcr.io/distroless/static-debian12:latest")

	trivyDir, err := e.binaryImage("trivy-"+TrivyVersion+"-"+rev, base, "usr/local/bin", trivy, mirror.WithEntrypoint("trivy"))
	if err != nil {
		return nil, err
	}
	add(trivyDir, TrivyRef, "ghcr.io/aquasecurity/trivy:0.74.0")

	// gosec loads packages with the go command, so its image is golang plus
	// the binary, like upstream's (golang-alpine plus gosec).
	gosecDir, err := e.binaryImage("gosec-"+GosecVersion+"-"+goversion+"-"+rev, golang, "usr/bin", gosec,
		mirror.WithEntrypoint("/bin/gosec"), mirror.WithWorkdir("/src"))
	if err != nil {
		return nil, err
	}
	add(gosecDir, GosecRef)

	// Debian's prometheus links the C library, so it sits on the Debian
	// base; /bin/prometheus, as in the upstream image (/bin is usr/bin).
	promDir, err := e.binaryImage("prometheus-"+PrometheusVersion+"-"+rev, base, "usr/bin", prometheus, mirror.WithEntrypoint("/bin/prometheus"))
	if err != nil {
		return nil, err
	}
	add(promDir, PrometheusRef, "quay.io/prometheus/prometheus:v"+PrometheusVersion)

	dbDir, _, err := e.layoutImage("trivy-db-"+filepath.Base(filepath.Dir(trivyDB)), func() (v1.Image, error) {
		blob, err := os.ReadFile(trivyDB)
		if err != nil {
			return nil, err
		}
		return mirror.Artifact("application/vnd.aquasec.trivy.config.v1+json",
			"application/vnd.aquasec.trivy.db.layer.v1.tar+gzip", "db.tar.gz", blob)
	})
	if err != nil {
		return nil, err
	}
	add(dbDir, TrivyDBRef, "mirror.gcr.io/aquasec/trivy-db:2")

	vulnDir, _, err := e.layoutImage("govulndb-"+vulndb.DefaultVersion+"-"+rev, func() (v1.Image, error) {
		return vulndb.PlatformImage(vulnDB, vulndb.DefaultVersion, e.arch)
	})
	if err != nil {
		return nil, err
	}
	add(vulnDir, VulnDBRef)

	// The Go SDK builtin image replaces the golang-alpine + codegen image
	// the upstream engine image bakes in. No sum DB is reachable, and
	// modules come from the host's module cache over the file GOPROXY.
	sdkDir, sdk, err := e.layoutImage("go-sdk-"+DaggerVersion+"-"+goversion+"-"+rev, func() (v1.Image, error) {
		l, err := e.layerTar("go-sdk", func(dst string) error {
			return mirror.TarEntriesFile(dst, []mirror.Entry{
				{Name: "usr", Dir: true, Mode: 0o755}, {Name: "usr/local", Dir: true, Mode: 0o755},
				{Name: "usr/local/bin", Dir: true, Mode: 0o755},
				{Name: "usr/local/bin/codegen", Mode: 0o755, Source: filepath.Join(e.BinDir(), "codegen")},
				{Name: "go", Dir: true, Mode: 0o755}, {Name: "go/bin", Dir: true, Mode: 0o755},
				{Name: "go/pkg", Dir: true, Mode: 0o755}, {Name: "go/pkg/mod", Dir: true, Mode: 0o755},
				{Name: "root", Dir: true, Mode: 0o700}, {Name: "root/.cache", Dir: true, Mode: 0o755},
				{Name: "root/.cache/go-build", Dir: true, Mode: 0o755},
			})
		})
		if err != nil {
			return nil, err
		}
		return mirror.Build(golang, e.arch, []v1.Layer{l},
			mirror.WithEnv("GOPATH=/go", "PATH=/go/bin:/usr/local/go/bin:"+defaultPath, "GOTOOLCHAIN=local",
				"GOPROXY=http://10.87.0.1:8081", "GOSUMDB=off"))
	})
	if err != nil {
		return nil, err
	}
	add(sdkDir, "registry.dagger.io/go-sdk:"+DaggerVersion)
	out.goSDK = sdkDir
	if out.goSDKHash, err = sdk.Digest(); err != nil {
		return nil, err
	}
	e.pruneImages(out.seeds)
	return &out, nil
}

// binaryImage returns the cached layout key: base plus one layer holding
// the binary src as dir/NAME (NAME is src's base name), with dir's parents
// as directories. In Debian's images /bin is a symlink to usr/bin: a
// binary meant for /bin goes to usr/bin, since a "bin/" directory in a
// layer would replace the symlink and hide /bin/sh.
func (e *Engine) binaryImage(key string, base v1.Image, dir, src string, opts ...mirror.ImageOption) (string, error) {
	layoutDir, _, err := e.layoutImage(key, func() (v1.Image, error) {
		name := filepath.Base(src)
		l, err := e.layerTar(name, func(dst string) error {
			var entries []mirror.Entry
			parts := strings.Split(dir, "/")
			for i := range parts {
				entries = append(entries, mirror.Entry{Name: strings.Join(parts[:i+1], "/"), Dir: true, Mode: 0o755})
			}
			entries = append(entries, mirror.Entry{Name: dir + "/" + name, Mode: 0o755, Source: src})
			return mirror.TarEntriesFile(dst, entries)
		})
		if err != nil {
			return nil, err
		}
		return mirror.Build(base, e.arch, []v1.Layer{l}, opts...)
	})
	return layoutDir, err
}

// staticBase is a distroless-like static base: what a static Go binary
// needs at run time and nothing else.
func (e *Engine) staticBase() (v1.Image, error) {
	certs, err := os.ReadFile(filepath.Join(e.rootfsDir(), "etc/ssl/certs/ca-certificates.crt"))
	if err != nil {
		return nil, fmt.Errorf("CA certificates from the Debian rootfs: %w", err)
	}
	osRelease, err := os.ReadFile(filepath.Join(e.rootfsDir(), "etc/os-release"))
	if err != nil {
		return nil, err
	}
	dir := func(name string, mode int64, uid int) mirror.Entry {
		return mirror.Entry{Name: name, Dir: true, Mode: mode, UID: uid, GID: uid}
	}
	file := func(name, body string) mirror.Entry {
		return mirror.Entry{Name: name, Mode: 0o644, Body: []byte(body)}
	}
	tarball, err := mirror.TarEntries([]mirror.Entry{
		dir("etc", 0o755, 0),
		file("etc/group", "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"),
		file("etc/nsswitch.conf", "hosts: files dns\n"),
		{Name: "etc/os-release", Mode: 0o644, Body: osRelease},
		file("etc/passwd", "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"),
		dir("etc/ssl", 0o755, 0), dir("etc/ssl/certs", 0o755, 0),
		{Name: "etc/ssl/certs/ca-certificates.crt", Mode: 0o644, Body: certs},
		dir("home", 0o755, 0), dir("home/nonroot", 0o700, 65532),
		dir("root", 0o700, 0),
		dir("tmp", 0o1777, 0),
	})
	if err != nil {
		return nil, err
	}
	l, err := mirror.LayerFromTarBytes(tarball)
	if err != nil {
		return nil, err
	}
	return mirror.Build(nil, e.arch, []v1.Layer{l},
		mirror.WithEnv("PATH="+defaultPath, "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"),
		mirror.WithUser("65532"), mirror.WithWorkdir("/home/nonroot"))
}

// mirrorPath turns a reference as pipeline code writes it into the path
// the mirror sees: the registry host is dropped and Docker Hub's implicit
// library/ namespace added, which is what the engine's mirror lookup does.
func mirrorPath(ref string) string {
	first, rest, found := strings.Cut(ref, "/")
	if found && (strings.ContainsAny(first, ".:") || first == "localhost") {
		ref = rest
	} else if !found {
		ref = "library/" + ref
	}
	return ref
}

// installGoSDK copies the Go SDK image's blobs into the engine's builtin
// content store (in the instance's /usr/local overlay); the engine finds
// the image there by DAGGER_GO_SDK_MANIFEST_DIGEST instead of pulling it.
func (e *Engine) installGoSDK(b *builtImages) error {
	dst := e.path("ns", "usrlocal-upper", "share", "dagger", "content", "blobs", "sha256")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	src := filepath.Join(b.goSDK, "blobs", "sha256")
	ents, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("reading Go SDK image: %w", err)
	}
	for _, ent := range ents {
		to := filepath.Join(dst, ent.Name())
		if _, err := os.Stat(to); err == nil {
			continue
		}
		if err := os.Link(filepath.Join(src, ent.Name()), to); err != nil {
			b, rerr := os.ReadFile(filepath.Join(src, ent.Name()))
			if rerr != nil {
				return rerr
			}
			if err := os.WriteFile(to, b, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}
