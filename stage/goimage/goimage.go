// Package goimage builds a Go command into a minimal OCI image with Dagger:
// a static binary (CGO_ENABLED=0, -trimpath, fixed ldflags) on a distroless
// base, running as a non-root user, with the OCI source, revision and
// created labels and annotations.
//
// The image is reproducible: the binary's timestamps and the created time
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
)

// Defaults, named the way a laptop with Docker Hub names them.
const (
	// DefaultBuilder is the Go toolchain image the binary is built in.
	DefaultBuilder = "golang:1.25"
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
	// binPath is where the binary lands in the image.
	binDir = "/usr/local/bin"
)

// OCI annotation and label keys (opencontainers image-spec).
const (
	KeySource   = "org.opencontainers.image.source"
	KeyRevision = "org.opencontainers.image.revision"
	KeyCreated  = "org.opencontainers.image.created"
)

// Option configures Build.
type Option func(*config)

type config struct {
	builder, base, user, ldflags string
	pkg, name                    string
	platforms                    []dagger.Platform
	source, revision             string
	created                      time.Time
	env                          map[string]string
	labels                       map[string]string
	ports                        []int
}

// WithPackage names the main package to build, relative to the module
// root, such as "./cmd/server". The default is ".".
func WithPackage(pkg string) Option { return func(c *config) { c.pkg = pkg } }

// WithBinaryName names the binary in the image; the default is the last
// element of the package path.
func WithBinaryName(name string) Option { return func(c *config) { c.name = name } }

// WithPlatforms sets the platforms to build, one image per platform, for a
// multi-platform publish. The default is linux/amd64.
func WithPlatforms(p ...dagger.Platform) Option {
	return func(c *config) { c.platforms = append([]dagger.Platform(nil), p...) }
}

// WithBuilder sets the Go toolchain image.
func WithBuilder(ref string) Option { return func(c *config) { c.builder = ref } }

// WithBase sets the runtime base image; "" builds on an empty image
// (scratch), which a static binary needs nothing beyond.
func WithBase(ref string) Option { return func(c *config) { c.base = ref } }

// WithUser sets the user the image runs as; it must not be root.
func WithUser(user string) Option { return func(c *config) { c.user = user } }

// WithLdflags replaces DefaultLdflags, e.g. to add -X version stamps.
func WithLdflags(flags string) Option { return func(c *config) { c.ldflags = flags } }

// WithSource records the source repository URL (org.opencontainers.image.source).
func WithSource(url string) Option { return func(c *config) { c.source = url } }

// WithRevision records the commit (org.opencontainers.image.revision).
func WithRevision(rev string) Option { return func(c *config) { c.revision = rev } }

// WithCreated sets the image's creation time and every file timestamp of
// its layer. Pass the commit time: the same commit then gives the same
// digest. The default is the Unix epoch, as with SOURCE_DATE_EPOCH=0.
func WithCreated(t time.Time) Option { return func(c *config) { c.created = t.UTC() } }

// WithLabel adds an OCI label (and annotation) to the image.
func WithLabel(key, value string) Option { return func(c *config) { c.labels[key] = value } }

// WithExposedPort declares a TCP port the service listens on.
func WithExposedPort(port int) Option { return func(c *config) { c.ports = append(c.ports, port) } }

// WithGoEnv sets a Go environment variable of the build, such as GOPROXY
// for a private or air-gapped module proxy.
func WithGoEnv(name, value string) Option { return func(c *config) { c.env[name] = value } }

// Build compiles the main package of the Go module in source and returns
// one image per platform, in the order of WithPlatforms. Publish the first
// with the rest as platform variants for a multi-platform image.
func Build(ctx context.Context, client *dagger.Client, source *dagger.Directory, opts ...Option) ([]*dagger.Container, error) {
	c := config{
		builder: DefaultBuilder, base: DefaultBase, user: DefaultUser, ldflags: DefaultLdflags,
		pkg: ".", platforms: []dagger.Platform{DefaultPlatform}, created: time.Unix(0, 0).UTC(),
		env: map[string]string{}, labels: map[string]string{},
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
	name := c.name
	if name == "" {
		name = path.Base(path.Clean(c.pkg))
		if name == "." || name == "/" {
			return nil, fmt.Errorf("goimage: package %q: name the binary with WithBinaryName", c.pkg)
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
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	images := make([]*dagger.Container, 0, len(c.platforms))
	for _, p := range c.platforms {
		bin := binary(client, source, c, p, name)
		img, err := assemble(ctx, client, c, p, name, bin, labels)
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

// binary cross-compiles the package for platform p in the builder image,
// with the module and build caches in cache volumes.
func binary(client *dagger.Client, source *dagger.Directory, c config, p dagger.Platform, name string) *dagger.File {
	goos, goarch, _ := strings.Cut(string(p), "/")
	goarch, variant, _ := strings.Cut(goarch, "/")
	out := "/out/" + name
	b := client.Container().From(c.builder)
	b = GoCaches(client, b)
	envKeys := make([]string, 0, len(c.env))
	for k := range c.env {
		envKeys = append(envKeys, k)
	}
	sort.Strings(envKeys)
	for _, k := range envKeys {
		b = b.WithEnvVariable(k, c.env[k])
	}
	b = b.WithEnvVariable("CGO_ENABLED", "0").
		WithEnvVariable("GOOS", goos).
		WithEnvVariable("GOARCH", goarch).
		WithEnvVariable("GOFLAGS", "-buildvcs=false")
	if variant != "" && goarch == "arm" {
		b = b.WithEnvVariable("GOARM", strings.TrimPrefix(variant, "v"))
	}
	return b.WithMountedDirectory("/src", source).
		WithWorkdir("/src").
		WithExec([]string{"go", "build", "-trimpath", "-ldflags", c.ldflags, "-o", out, c.pkg}).
		File(out)
}

// GoCaches mounts the Go module and build caches as cache volumes shared by
// every slipway stage, so a warm run downloads and compiles nothing twice.
func GoCaches(client *dagger.Client, c *dagger.Container) *dagger.Container {
	return c.WithMountedCache("/go/pkg/mod", client.CacheVolume("slipway-go-mod")).
		WithMountedCache("/root/.cache/go-build", client.CacheVolume("slipway-go-build")).
		WithEnvVariable("GOMODCACHE", "/go/pkg/mod").
		WithEnvVariable("GOCACHE", "/root/.cache/go-build")
}
