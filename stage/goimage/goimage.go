// Package goimage builds Go commands into a minimal OCI image with Dagger:
// static binaries (CGO_ENABLED=0, -trimpath, fixed ldflags) on a distroless
// base, running as a non-root user, with the data files the service reads
// (templates, static assets) at the paths it expects, and the OCI source,
// revision and created labels and annotations.
//
// The image is reproducible: the binaries' timestamps and the created time
// come from the caller (a commit time, like SOURCE_DATE_EPOCH), never from
// the clock, so the same source gives the same digest wherever it is built.
package goimage

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"dagger.io/dagger"

	"github.com/slipway-ci/slipway/stage"
)

// Defaults, named the way a laptop with Docker Hub names them.
const (
	// DefaultBuilder is the Go toolchain image the binaries are built in
	// when neither WithGoImage nor the caller's go.mod names one.
	DefaultBuilder = stage.DefaultGoImage
	// DefaultBase is the runtime base: CA certificates and a nonroot user,
	// no shell, no package manager.
	DefaultBase = "gcr.io/distroless/static-debian12:nonroot"
	// DefaultUser is distroless's nonroot user and group.
	DefaultUser = "65532:65532"
	// DefaultPlatform is the platform built when none is given.
	DefaultPlatform dagger.Platform = "linux/amd64"
	// DefaultLdflags strip the symbol table and DWARF: smaller images, and
	// nothing that depends on the build machine.
	DefaultLdflags = "-s -w -buildid="
	// BinDir is where the binaries land in the image.
	BinDir = "/usr/local/bin"
)

// OCI annotation and label keys (opencontainers image-spec).
const (
	KeySource   = "org.opencontainers.image.source"
	KeyRevision = "org.opencontainers.image.revision"
	KeyCreated  = "org.opencontainers.image.created"
)

// Option configures Build.
type Option func(*config)

// binarySpec is one main package and the name of its binary.
type binarySpec struct{ pkg, name string }

// fileSpec copies from (a file or directory of the source) to an absolute
// path in the image.
type fileSpec struct{ from, to string }

type config struct {
	stage.Settings
	base, user, ldflags string
	binaries            []binarySpec
	files               []fileSpec
	entrypoint, args    []string
	tags                []string
	platforms           []dagger.Platform
	source, revision    string
	created             time.Time
	labels              map[string]string
	ports               []int
}

// WithPackage sets the main package of the image's first binary, the one
// the entrypoint runs, as a path in the module such as ./cmd/server; the
// default is the module's root package.
func WithPackage(pkg string) Option { return func(c *config) { c.binaries[0].pkg = pkg } }

// WithBinaryName names the first binary; the default is the last element
// of its package path.
func WithBinaryName(name string) Option { return func(c *config) { c.binaries[0].name = name } }

// WithBinary adds another binary built from the main package pkg, named
// name (empty: the last element of pkg), such as a CLI that an exec probe
// runs.
func WithBinary(pkg, name string) Option {
	return func(c *config) { c.binaries = append(c.binaries, binarySpec{pkg: pkg, name: name}) }
}

// WithFile copies from, a file or a directory of the source, to the
// absolute path to in the image, such as ("web/templates",
// "/app/templates"): the data files a service reads at run time. The files
// are owned by root and readable by the service's user.
func WithFile(from, to string) Option {
	return func(c *config) { c.files = append(c.files, fileSpec{from: from, to: to}) }
}

// WithEntrypoint sets the image's entrypoint; the default runs the first
// binary.
func WithEntrypoint(args ...string) Option {
	return func(c *config) { c.entrypoint = append([]string(nil), args...) }
}

// WithArgs sets the arguments the entrypoint gets (the image's Cmd).
func WithArgs(args ...string) Option {
	return func(c *config) { c.args = append([]string(nil), args...) }
}

// WithTags sets build tags.
func WithTags(tags ...string) Option {
	return func(c *config) { c.tags = append([]string(nil), tags...) }
}

// WithPlatforms sets the platforms to build, such as linux/amd64 and
// linux/arm64; the default is linux/amd64.
func WithPlatforms(p ...dagger.Platform) Option {
	return func(c *config) { c.platforms = append([]dagger.Platform(nil), p...) }
}

// WithGoImage sets the Go toolchain image the binaries are built in (see
// stage.GoImageFor).
func WithGoImage(ref string) Option { return func(c *config) { stage.WithGoImage(ref)(&c.Settings) } }

// WithGoEnv sets one of Go's settings for the build, such as GOPROXY for a
// private or air-gapped module proxy.
func WithGoEnv(name, value string) Option {
	return func(c *config) { stage.WithGoEnv(name, value)(&c.Settings) }
}

// WithBase sets the runtime base image; "" builds on scratch.
func WithBase(ref string) Option { return func(c *config) { c.base = ref } }

// WithUser sets the user the image runs as; root is refused.
func WithUser(user string) Option { return func(c *config) { c.user = user } }

// WithLdflags replaces the default linker flags, for example to add
// -X main.version=... to DefaultLdflags.
func WithLdflags(flags string) Option { return func(c *config) { c.ldflags = flags } }

// WithSource sets the source repository URL recorded in the labels.
func WithSource(url string) Option { return func(c *config) { c.source = url } }

// WithRevision sets the commit recorded in the labels.
func WithRevision(rev string) Option { return func(c *config) { c.revision = rev } }

// WithCreated sets the image's creation time. The default is the Unix
// epoch, never the clock, so that builds are reproducible: pass the commit
// time.
func WithCreated(t time.Time) Option { return func(c *config) { c.created = t.UTC() } }

// WithLabel adds a label and annotation.
func WithLabel(key, value string) Option { return func(c *config) { c.labels[key] = value } }

// WithExposedPort declares a port the service listens on.
func WithExposedPort(port int) Option { return func(c *config) { c.ports = append(c.ports, port) } }

// Build compiles the main packages of the Go module in source and returns
// one image per platform, in the order of WithPlatforms. Publish the first
// with the rest as platform variants for a multi-platform image.
func Build(ctx context.Context, client *dagger.Client, source *dagger.Directory, opts ...Option) ([]*dagger.Container, error) {
	c := config{
		base: DefaultBase, user: DefaultUser, ldflags: DefaultLdflags,
		binaries: []binarySpec{{pkg: "."}}, platforms: []dagger.Platform{DefaultPlatform},
		created: time.Unix(0, 0).UTC(), labels: map[string]string{},
	}
	for _, o := range opts {
		o(&c)
	}
	if c.user == "" || c.user == "0" || c.user == "root" || strings.HasPrefix(c.user, "0:") || strings.HasPrefix(c.user, "root:") {
		return nil, fmt.Errorf("goimage: user %q: the image must not run as root", c.user)
	}
	if len(c.platforms) == 0 {
		return nil, fmt.Errorf("goimage: no platform to build")
	}
	names := map[string]bool{}
	for i, b := range c.binaries {
		if b.name == "" {
			b.name = path.Base(path.Clean(b.pkg))
			if b.name == "." || b.name == "/" {
				return nil, fmt.Errorf("goimage: package %q: name the binary with WithBinaryName (or WithBinary's name)", b.pkg)
			}
			c.binaries[i].name = b.name
		}
		if names[b.name] {
			return nil, fmt.Errorf("goimage: two binaries are named %q: name one of them", b.name)
		}
		names[b.name] = true
	}
	for _, f := range c.files {
		if f.from == "" || !path.IsAbs(f.to) || path.Clean(f.to) == "/" {
			return nil, fmt.Errorf("goimage: file %q -> %q: copy a file or directory of the source to an absolute path in the image, such as web/templates -> /app/templates", f.from, f.to)
		}
	}

	labels := map[string]string{KeyCreated: c.created.Format(time.RFC3339)}
	if c.source != "" {
		labels[KeySource] = c.source
	}
	if c.revision != "" {
		labels[KeyRevision] = c.revision
	}
	for k, v := range c.labels {
		labels[k] = v
	}

	files, err := dataFiles(ctx, source, c.files)
	if err != nil {
		return nil, err
	}
	images := make([]*dagger.Container, 0, len(c.platforms))
	for _, p := range c.platforms {
		bins := make(map[string]*dagger.File, len(c.binaries))
		for _, b := range c.binaries {
			bins[b.name] = binary(client, source, c, p, b)
		}
		img, err := assemble(ctx, client, c, p, bins, files, labels)
		if err != nil {
			return nil, fmt.Errorf("goimage: %s: %w", p, err)
		}
		for _, port := range c.ports {
			img = img.WithExposedPort(port)
		}
		images = append(images, img)
	}
	return images, nil
}

// dataFile is one file or directory copied into the image.
type dataFile struct {
	to   string
	file *dagger.File
	dir  *dagger.Directory
}

// dataFiles finds each WithFile source in the source directory, saying
// which one is missing before anything is built.
func dataFiles(ctx context.Context, source *dagger.Directory, specs []fileSpec) ([]dataFile, error) {
	var out []dataFile
	for _, f := range specs {
		isDir, err := source.Exists(ctx, f.from, dagger.DirectoryExistsOpts{ExpectedType: dagger.ExistsTypeDirectoryType})
		if err != nil {
			return nil, fmt.Errorf("goimage: file %q: %w", f.from, err)
		}
		if isDir {
			out = append(out, dataFile{to: path.Clean(f.to), dir: source.Directory(f.from)})
			continue
		}
		isFile, err := source.Exists(ctx, f.from, dagger.DirectoryExistsOpts{ExpectedType: dagger.ExistsTypeRegularType})
		if err != nil {
			return nil, fmt.Errorf("goimage: file %q: %w", f.from, err)
		}
		if !isFile {
			return nil, fmt.Errorf("goimage: file %q: the source has no such file or directory (paths are relative to the source root)", f.from)
		}
		out = append(out, dataFile{to: path.Clean(f.to), file: source.File(f.from)})
	}
	return out, nil
}

// binary cross-compiles one main package for platform p in the Go image,
// with the module and build caches in cache volumes.
func binary(client *dagger.Client, source *dagger.Directory, c config, p dagger.Platform, b binarySpec) *dagger.File {
	goos, goarch, _ := strings.Cut(string(p), "/")
	goarch, variant, _ := strings.Cut(goarch, "/")
	out := "/out/" + b.name
	bld := stage.GoCaches(client, client.Container().From(c.GoImageOr(DefaultBuilder)))
	bld = c.WithGoEnvOn(bld)
	bld = bld.WithEnvVariable("CGO_ENABLED", "0").
		WithEnvVariable("GOOS", goos).
		WithEnvVariable("GOARCH", goarch).
		WithEnvVariable("GOFLAGS", "-buildvcs=false")
	if variant != "" && goarch == "arm" {
		bld = bld.WithEnvVariable("GOARM", strings.TrimPrefix(variant, "v"))
	}
	args := []string{"go", "build", "-trimpath", "-ldflags", c.ldflags}
	if len(c.tags) > 0 {
		args = append(args, "-tags", strings.Join(c.tags, ","))
	}
	args = append(args, "-o", out, b.pkg)
	return bld.WithMountedDirectory("/src", source).
		WithWorkdir("/src").
		WithExec(args).
		File(out)
}

// GoCaches mounts the Go module and build caches (stage.GoCaches).
func GoCaches(client *dagger.Client, c *dagger.Container) *dagger.Container {
	return stage.GoCaches(client, c)
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
