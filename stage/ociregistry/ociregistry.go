// Package ociregistry pushes images to OCI registries with credentials
// from Dagger secrets, and serves go-containerregistry's registry as a
// Dagger service: the local default registry of a pipeline run, with
// optional basic auth.
//
// Both run a small tool (cmd/ociregistry) built from its embedded source in
// the Go image, once, then cached by Dagger.
package ociregistry

import (
	"context"
	_ "embed"
	"fmt"
	"strings"

	"dagger.io/dagger"

	"github.com/slipway-ci/slipway/stage"
)

var (
	//go:embed cmd/ociregistry/main.go
	toolMain string
	//go:embed tool.go.mod
	toolGoMod string
	//go:embed tool.go.sum
	toolGoSum string
)

// DefaultBuilder is the Go image the tool is built in and runs in.
const DefaultBuilder = stage.DefaultGoImage

// Port is the port the registry service listens on.
const Port = 5000

// Option configures Tool, Service and Push.
type Option func(*config)

type config struct {
	stage.Settings
	user     string
	password *dagger.Secret
	services map[string]*dagger.Service
}

func newConfig(opts []Option) config {
	c := config{services: map[string]*dagger.Service{}}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithGoEnv sets one of Go's settings for building the tool, such as
// GOPROXY.
func WithGoEnv(name, value string) Option {
	return func(c *config) { stage.WithGoEnv(name, value)(&c.Settings) }
}

// WithGoImage sets the Go image the tool is built in and runs in.
func WithGoImage(ref string) Option { return func(c *config) { stage.WithGoImage(ref)(&c.Settings) } }

// WithAuth sets the username and password: the registry service requires
// them, Push sends them.
func WithAuth(username string, password *dagger.Secret) Option {
	return func(c *config) { c.user, c.password = username, password }
}

// WithInsecureRegistry lets Push talk plain HTTP to the registry hosts,
// such as a local one.
func WithInsecureRegistry(hosts ...string) Option {
	return func(c *config) { stage.WithInsecureRegistry(hosts...)(&c.Settings) }
}

// WithService binds a service (such as Service's registry) under alias for
// Push.
func WithService(alias string, svc *dagger.Service) Option {
	return func(c *config) { c.services[alias] = svc }
}

// Tool returns the Go image with the ociregistry tool at /usr/local/bin.
func Tool(client *dagger.Client, opts ...Option) *dagger.Container {
	c := newConfig(opts)
	return tool(client, c)
}

func tool(client *dagger.Client, c config) *dagger.Container {
	src := client.Directory().
		WithNewFile("main.go", toolMain).
		WithNewFile("go.mod", toolGoMod).
		WithNewFile("go.sum", toolGoSum)
	b := c.WithGoEnvOn(stage.GoCaches(client, client.Container().From(c.GoImageOr(DefaultBuilder))))
	bin := b.WithEnvVariable("CGO_ENABLED", "0").
		WithMountedDirectory("/src", src).WithWorkdir("/src").
		WithExec([]string{"go", "build", "-trimpath", "-o", "/out/ociregistry", "."}).
		File("/out/ociregistry")
	return client.Container().From(c.GoImageOr(DefaultBuilder)).WithFile("/usr/local/bin/ociregistry", bin)
}

// Service returns go-containerregistry's registry as a Dagger service on
// Port, requiring WithAuth's credentials when given. Manifests and blobs
// live in memory for the service's lifetime.
func Service(client *dagger.Client, opts ...Option) *dagger.Service {
	c := newConfig(opts)
	ctr := tool(client, c)
	if c.user != "" {
		ctr = ctr.WithEnvVariable("REGISTRY_USERNAME", c.user).WithSecretVariable("REGISTRY_PASSWORD", c.password)
	}
	return ctr.WithExposedPort(Port).
		AsService(dagger.ContainerAsServiceOpts{Args: []string{"ociregistry", "serve", fmt.Sprintf(":%d", Port)}})
}

// Push pushes img to ref (repository[:tag]) and returns
// repository@sha256:digest. A wrong password fails before any blob is
// uploaded, with an error that names the registry and the user, says
// whether anything was written, and says to check the password or token
// secret (never the password itself).
func Push(ctx context.Context, client *dagger.Client, img *dagger.Container, ref string, opts ...Option) (string, error) {
	tarball := img.AsTarball(dagger.ContainerAsTarballOpts{MediaTypes: dagger.ImageMediaTypesOcimediaTypes})
	return push(ctx, client, newConfig(opts), "push", tarball, ref)
}

// PushIndex pushes imgs, one image per platform, as one multi-platform
// OCI image index to ref (repository[:tag]) and returns
// repository@sha256:digest of the index. A refused password fails as Push
// does.
func PushIndex(ctx context.Context, client *dagger.Client, imgs []*dagger.Container, ref string, opts ...Option) (string, error) {
	if len(imgs) == 0 {
		return "", fmt.Errorf("ociregistry: pushing %s: no image", ref)
	}
	layout := imgs[0].AsTarball(dagger.ContainerAsTarballOpts{PlatformVariants: imgs[1:], MediaTypes: dagger.ImageMediaTypesOcimediaTypes})
	return push(ctx, client, newConfig(opts), "push-index", layout, ref)
}

// push runs the tool's push or push-index of tarball to ref.
func push(ctx context.Context, client *dagger.Client, c config, mode string, tarball *dagger.File, ref string) (string, error) {
	ctr, args := pushing(client, c, mode, tarball, ref)
	ctr = ctr.WithExec(args, dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		return "", fmt.Errorf("ociregistry: pushing %s: %w", ref, err)
	}
	if code != 0 {
		stderr, _ := ctr.Stderr(ctx)
		return "", pushError(ref, c.user, code, stderr)
	}
	out, err := ctr.Stdout(ctx)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(out), nil
}

// pushing returns the tool's container set up to push tarball to ref
// (credentials, insecure hosts, services) and the command that does.
func pushing(client *dagger.Client, c config, mode string, tarball *dagger.File, ref string) (*dagger.Container, []string) {
	ctr := tool(client, c).
		WithMountedFile("/image.tar", tarball).
		WithEnvVariable("REGISTRY_INSECURE", strings.Join(c.Insecure, ","))
	for alias, svc := range c.services {
		ctr = ctr.WithServiceBinding(alias, svc)
	}
	if c.user != "" {
		ctr = ctr.WithEnvVariable("REGISTRY_USERNAME", c.user)
		if c.password != nil {
			ctr = ctr.WithSecretVariable("REGISTRY_PASSWORD", c.password)
		}
	}
	return ctr, []string{"ociregistry", mode, "/image.tar", ref}
}

// Pushing is Push for a stage that pushes in an exec of its own, to do
// more in the same exec (publish makes the SBOM and signs there): the
// tool's container (the Go image, with a shell) set up to push img to
// ref, the command that pushes it and prints repository@sha256:digest,
// and the error for the command's exit code and standard error when it
// fails (Push's errors).
func Pushing(client *dagger.Client, img *dagger.Container, ref string, opts ...Option) (*dagger.Container, []string, func(code int, stderr string) error) {
	c := newConfig(opts)
	tarball := img.AsTarball(dagger.ContainerAsTarballOpts{MediaTypes: dagger.ImageMediaTypesOcimediaTypes})
	ctr, args := pushing(client, c, "push", tarball, ref)
	return ctr, args, func(code int, stderr string) error { return pushError(ref, c.user, code, stderr) }
}

// The tool's exit codes for a registry's 401 and 403, before and after it
// had accepted uploads (cmd/ociregistry).
const (
	exitUnauthorized             = 3
	exitDenied                   = 4
	exitUnauthorizedAfterUploads = 5
	exitDeniedAfterUploads       = 6
)

// pushError says why the tool's push of ref as user failed: for a refusal
// of the credentials, which registry refused whom, what reached it, and
// what to check, in one line a person reads at the end of a failed CI job.
// The tool prints only the registry's own messages then; for other
// failures, its error.
func pushError(ref, user string, code int, stderr string) error {
	host := registryHost(ref)
	says := ""
	if msg := strings.Join(strings.Fields(stderr), " "); msg != "" {
		says = " (the registry says: " + msg + ")"
	}
	written := "nothing was pushed"
	if code == exitUnauthorizedAfterUploads || code == exitDeniedAfterUploads {
		written = "it had accepted blob uploads, but no manifest or tag was written"
	}
	switch {
	case (code == exitUnauthorized || code == exitUnauthorizedAfterUploads) && user == "":
		return fmt.Errorf("ociregistry: pushing %s: registry %s requires authentication (401 Unauthorized)%s; %s. Give a username and a password or token secret", ref, host, says, written)
	case code == exitUnauthorized || code == exitUnauthorizedAfterUploads:
		return fmt.Errorf("ociregistry: pushing %s: registry %s refused the credentials of user %q (401 Unauthorized)%s; %s. Check the password or token secret and the username", ref, host, user, says, written)
	case code == exitDenied || code == exitDeniedAfterUploads:
		return fmt.Errorf("ociregistry: pushing %s: registry %s denied user %q (403 Forbidden)%s; %s. The credentials are valid: check the user's or token's push permission on the repository", ref, host, user, says, written)
	}
	// The tool says what it was pushing too; once is enough.
	msg := strings.TrimPrefix(strings.TrimSpace(stderr), "ociregistry: pushing "+ref+": ")
	return fmt.Errorf("ociregistry: pushing %s: %s", ref, msg)
}

// registryHost returns the registry part of ref, as the tool resolves it
// (go-containerregistry's rule: a first component with a dot or a port, or
// localhost, is a host; otherwise the image is on Docker Hub).
func registryHost(ref string) string {
	first, _, ok := strings.Cut(ref, "/")
	if ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return first
	}
	return "index.docker.io"
}

// Repositories lists the repositories a registry holds (its catalog).
func Repositories(ctx context.Context, client *dagger.Client, registry string, opts ...Option) ([]string, error) {
	c := newConfig(opts)
	ctr := tool(client, c).WithEnvVariable("REGISTRY_INSECURE", strings.Join(c.Insecure, ","))
	for alias, svc := range c.services {
		ctr = ctr.WithServiceBinding(alias, svc)
	}
	if c.user != "" {
		ctr = ctr.WithEnvVariable("REGISTRY_USERNAME", c.user).WithSecretVariable("REGISTRY_PASSWORD", c.password)
	}
	out, err := ctr.WithExec([]string{"ociregistry", "list", registry}).Stdout(ctx)
	if err != nil {
		return nil, fmt.Errorf("ociregistry: listing %s: %w", registry, err)
	}
	return strings.Fields(out), nil
}
