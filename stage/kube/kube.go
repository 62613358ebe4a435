// Package kube deploys to Kubernetes from Dagger: it runs slipway's deploy
// tool (cmd/slipway-deploy, built from slipway's embedded source) in a
// container, with the kubeconfig as a mounted secret file and the registry
// password as a secret variable, to roll a team's objects out by digest
// from one of three sources (a directory of YAML or a kustomize overlay, a
// Helm chart, or a promote commit into a GitOps repository that Argo CD
// syncs), wait for the rollout, roll back on failure, and record and check
// the evidence that promotes a digest from staging to production (OCI
// referrers of the image). Git credentials reach the tool as a secret
// variable (a password or token) or a mounted secret file (an SSH key),
// never as arguments.
//
// The tool, not this package, links client-go, kustomize and
// go-containerregistry: a Dagger module that imports kube compiles none of
// them, and loads in seconds instead of minutes. Dagger builds the tool
// once and caches it until slipway's source changes.
package kube

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"dagger.io/dagger"

	"github.com/slipway-ci/slipway"
	"github.com/slipway-ci/slipway/stage"
)

// Defaults.
const (
	// DefaultBase is the image the tool runs on: CA certificates for
	// registries and API servers, a nonroot user, nothing else.
	DefaultBase = "gcr.io/distroless/static-debian12:nonroot"
	// DefaultUser is the base's nonroot user, which the tool runs as.
	DefaultUser = "65532:65532"
	// DefaultTimeout is how long a rollout may take before it is rolled
	// back.
	DefaultTimeout = 10 * time.Minute
	// ToolPath is where the tool is in its container.
	ToolPath = "/usr/local/bin/slipway-deploy"
	// EvidenceToolPath is where the evidence tool (attest, record-scan)
	// is in its container.
	EvidenceToolPath = "/usr/local/bin/slipway-evidence"
	// DefaultPrometheusImage is the image whose /bin/prometheus evaluates
	// a deploy's alert rules when the Target names no Prometheus binary:
	// the tool then runs in that image, beside the binary and whatever C
	// library it links.
	DefaultPrometheusImage = "prom/prometheus:v2.42.0"

	kubeconfigPath = "/run/secrets/kubeconfig"
	sourcePath     = "/source"
	tunnelHost     = "cluster"
)

// Target is where and what a deploy rolls out.
type Target struct {
	// Environment names the environment, under which the evidence is
	// recorded: production's gate asks for the one named staging.
	Environment string
	// Production puts the deploy behind the promotion gate: evidence of a
	// verified staging deploy and a clean scan, and an approval.
	Production bool
	// Namespace is the namespace to deploy into; it must exist.
	Namespace string
	// Kubeconfig is the cluster's kubeconfig.
	Kubeconfig *dagger.Secret
	// Source is the repository the manifests, or the Helm chart and its
	// values files, are in.
	Source *dagger.Directory
	// Manifests is the path in Source of the objects: a directory of plain
	// YAML or JSON files, or a kustomization, whose bases and components
	// may be anywhere in Source. Set one of Manifests, Helm and GitOps.
	Manifests string
	// Helm deploys a Helm chart instead (sources.go).
	Helm *Helm
	// GitOps promotes through a GitOps repository and Argo CD instead
	// (sources.go).
	GitOps *GitOps
	// Deployment names the Deployment whose rollout is the release; empty
	// means the only one.
	Deployment string
	// Container names the container that gets the image; empty means the
	// Deployment's only container.
	Container string
	// NodeSelector, as KEY=VALUE pairs, is added to the nodeSelector of
	// every pod the deploy applies (Manifests and Helm; a GitOps
	// repository places its own pods): where the environment's pods run,
	// such as slipway.dev/node=real on slipway's local cluster.
	NodeSelector []string
	// VerifyPaths are what the deploy's smoke test GETs after the rollout,
	// through the Service, as [PORT:]/PATH (the tool's --verify-path); a
	// failure rolls the deploy back (the Helm release rolled back, the
	// GitOps commit reverted) and records no evidence. Empty means the
	// tool's default: the paths of the Deployment's HTTP probes and its
	// prometheus.io/scrape path. Every source.
	VerifyPaths []string
	// VerifyWindow is how long the smoke test must keep passing; 0 means
	// the tool's default (5s).
	VerifyWindow time.Duration
	// NoVerify turns the smoke test off: the rollout alone verifies.
	NoVerify bool
	// AlertRules are Prometheus rule files, paths in Source: after the
	// smoke test, a throwaway Prometheus (Prometheus below) scrapes the
	// new pods and none of the alerts may fire for AlertWindow (0: the
	// tool's default, 30s). Every source; AlertWindow is that window.
	AlertRules  []string
	AlertWindow time.Duration
	// Prometheus is the prometheus binary that evaluates AlertRules, such
	// as Debian's /usr/bin/prometheus from the host: the tool then runs in
	// the Go image (Debian, with the C library that binary links), not on
	// the static base. Nil means /bin/prometheus of the Prometheus image
	// (WithPrometheusImage, default DefaultPrometheusImage).
	Prometheus *dagger.File
}

// promPath is where a given Prometheus binary is put in the tool's
// container; imagePrometheusPath is where the Prometheus image has its own.
const (
	promPath            = "/usr/local/bin/prometheus"
	imagePrometheusPath = "/bin/prometheus"
)

// Option configures Deploy and RecordScan.
type Option func(*config)

type config struct {
	stage.Settings
	approver   string
	approved   bool
	user       string
	password   *dagger.Secret
	tunnel     *dagger.Service
	tunnelPort int
	timeout    time.Duration
	stagingEnv string
	promImage  string
	now        func() time.Time
	evidence   evidenceConfig // evidence.go
	notify     *Notify        // notify.go
}

// WithPrometheusImage sets the image whose /bin/prometheus evaluates the
// alert rules of a Target without a Prometheus binary
// (DefaultPrometheusImage).
func WithPrometheusImage(ref string) Option { return func(c *config) { c.promImage = ref } }

// WithApproval records that a person (by) approved a production deploy.
func WithApproval(by string) Option { return func(c *config) { c.approved, c.approver = true, by } }

// WithRegistryAuth gives the tool the image registry's credentials, where
// the evidence is read and written.
func WithRegistryAuth(username string, password *dagger.Secret) Option {
	return func(c *config) { c.user, c.password = username, password }
}

// WithTunnel sends the API requests to svc on port instead of the
// kubeconfig's server, for a cluster the engine's containers cannot reach
// by that name (a laptop's local control plane, as a host service). TLS is
// still checked against the kubeconfig's server name.
func WithTunnel(svc *dagger.Service, port int) Option {
	return func(c *config) { c.tunnel, c.tunnelPort = svc, port }
}

// WithTimeout bounds the rollout before it is rolled back (DefaultTimeout).
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithStagingEnvironment names the environment whose verified deploy
// production's gate asks for (default "staging").
func WithStagingEnvironment(name string) Option { return func(c *config) { c.stagingEnv = name } }

// WithGoEnv sets one of Go's settings for building the tool, such as
// GOPROXY.
func WithGoEnv(name, value string) Option {
	return func(c *config) { stage.WithGoEnv(name, value)(&c.Settings) }
}

// WithGoImage sets the Go image the tool is built in.
func WithGoImage(ref string) Option { return func(c *config) { stage.WithGoImage(ref)(&c.Settings) } }

// WithClock sets the clock that keys the tool's exec: the deploys are new
// facts each time, so Dagger must not replay an earlier one.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

func newConfig(opts []Option) config {
	c := config{timeout: DefaultTimeout, stagingEnv: "staging", promImage: DefaultPrometheusImage, now: time.Now}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// Deploy rolls image (repository@sha256:digest) out to t and returns the
// tool's one line: environment, namespace, digest, revision and duration.
// A refusal (the gate's failed checks, bad manifests, a tag instead of a
// digest, an unreachable API server) is the tool's own message, which
// names the problem and its fix.
func Deploy(ctx context.Context, client *dagger.Client, image string, t Target, opts ...Option) (string, error) {
	c := newConfig(opts)
	tier := "staging"
	if t.Production {
		tier = "production"
	}
	env := t.Environment
	if env == "" {
		env = tier
	}
	stageName := "deploy-" + env
	switch {
	case t.Kubeconfig == nil:
		return "", fmt.Errorf("%s: no kubeconfig: pass the %s cluster's kubeconfig as a secret (in CI, --kubeconfig=env://KUBECONFIG_%s)", stageName, env, strings.ToUpper(env))
	case t.Namespace == "":
		return "", fmt.Errorf("%s: no namespace: name the namespace to deploy into", stageName)
	}
	// Read once here, and thrown away, so that a secret the CLI cannot
	// resolve (an unset variable) is named with its fix instead of
	// failing the tool's container with the engine's bare message.
	if _, err := t.Kubeconfig.Plaintext(ctx); err != nil {
		return "", fmt.Errorf("%s: the kubeconfig secret cannot be read (pass the %s cluster's kubeconfig, e.g. --kubeconfig=env://KUBECONFIG_%s with that variable set, or --kubeconfig=file://PATH): %v",
			stageName, env, strings.ToUpper(env), err)
	}
	tool := Tool(client, opts...)
	alerts := !t.NoVerify && len(t.AlertRules) > 0
	if alerts && t.Source == nil {
		return "", fmt.Errorf("%s: alert rules %q are paths in the source, but the target has no source directory: set Target.Source, or drop the alert rules", stageName, t.AlertRules)
	}
	prom := promPath
	if alerts {
		if t.Prometheus != nil {
			tool = client.Container().From(c.GoImageOr(stage.DefaultGoImage)).
				WithFile(ToolPath, tool.File(ToolPath), dagger.ContainerWithFileOpts{Permissions: 0o755}).
				WithFile(promPath, t.Prometheus, dagger.ContainerWithFileOpts{Permissions: 0o755}).
				WithUser(DefaultUser)
		} else {
			// The static tool runs anywhere; Prometheus, perhaps
			// dynamically linked, runs in its own image.
			prom = imagePrometheusPath
			tool = client.Container().From(c.promImage).
				WithFile(ToolPath, tool.File(ToolPath), dagger.ContainerWithFileOpts{Permissions: 0o755}).
				WithUser(DefaultUser)
		}
	}
	ctr := tool.
		WithMountedSecret(kubeconfigPath, t.Kubeconfig, dagger.ContainerWithMountedSecretOpts{Owner: DefaultUser, Mode: 0o400})
	ctr, sourceArgs, err := t.source(ctx, stageName, ctr)
	if err != nil {
		return "", err
	}
	args := append([]string{"slipway-deploy", tier,
		"--environment=" + env, "--image=" + image, "--namespace=" + t.Namespace,
		"--kubeconfig=" + kubeconfigPath,
		"--timeout=" + c.timeout.String(), "--staging-environment=" + c.stagingEnv}, sourceArgs...)
	if t.Deployment != "" {
		args = append(args, "--deployment="+t.Deployment)
	}
	if t.Container != "" && t.Manifests != "" {
		args = append(args, "--container="+t.Container)
	}
	// A GitOps repository's overlays place its pods (the tool refuses a
	// selector it could not apply), so one setting serves every source.
	for _, sel := range t.NodeSelector {
		if t.GitOps == nil {
			args = append(args, "--node-selector="+sel)
		}
	}
	// Every source is verified alike after its rollout: the smoke test
	// (paths default to the Deployment's probes) and the alerts.
	switch {
	case t.NoVerify:
		args = append(args, "--no-verify")
	default:
		for _, p := range t.VerifyPaths {
			args = append(args, "--verify-path="+p)
		}
		if t.VerifyWindow > 0 {
			args = append(args, "--verify-window="+t.VerifyWindow.String())
		}
		if alerts {
			// The rule files are in the source, which a Helm chart
			// from oci:// or a GitOps deploy does not mount otherwise.
			ctr = ctr.WithMountedDirectory(sourcePath, t.Source, dagger.ContainerWithMountedDirectoryOpts{Owner: DefaultUser})
			for _, r := range t.AlertRules {
				args = append(args, "--alert-rules="+path.Join(sourcePath, path.Clean("/"+r)))
			}
			args = append(args, "--prometheus="+prom)
			if t.AlertWindow > 0 {
				args = append(args, "--alert-window="+t.AlertWindow.String())
			}
		}
	}
	if t.Production && c.approved {
		args = append(args, "--approve", "--approver="+c.approver)
	}
	if t.Production {
		args = append(args, c.evidence.productionArgs()...)
	}
	if c.tunnel != nil {
		ctr = ctr.WithServiceBinding(tunnelHost, c.tunnel)
		args = append(args, fmt.Sprintf("--tunnel=%s:%d", tunnelHost, c.tunnelPort))
	}
	ctr = c.withRegistryAuth(ctr)
	ctr, args = c.notify.apply(ctr, args)
	// The clock makes every call a new exec, so every call reaches the
	// cluster: the same tool, arguments and secrets would otherwise be
	// replayed from Dagger's cache.
	ctr = ctr.WithEnvVariable("SLIPWAY_DEPLOY_AT", c.now().UTC().Format(time.RFC3339Nano))
	return run(ctx, stageName, ctr, args)
}

// RecordScan records a scan's outcome (findings at or above the threshold
// severities, by scanner) as evidence next to image, for production's
// gate: the latest scan decides there.
func RecordScan(ctx context.Context, client *dagger.Client, image, scanner, threshold string, findings int, opts ...Option) (string, error) {
	c := newConfig(opts)
	ctr := c.withRegistryAuth(EvidenceTool(client, opts...)).
		WithEnvVariable("SLIPWAY_SCANNED_AT", c.now().UTC().Format(time.RFC3339Nano))
	return run(ctx, "record-scan", ctr, []string{EvidenceToolPath, "record-scan", "--image=" + image,
		"--scanner=" + scanner, "--threshold=" + threshold, fmt.Sprintf("--findings=%d", findings)})
}

// withRegistryAuth gives the tool the registry user as a variable and the
// password as a secret variable; without either, it goes anonymous.
func (c config) withRegistryAuth(ctr *dagger.Container) *dagger.Container {
	if c.user != "" {
		ctr = ctr.WithEnvVariable("REGISTRY_USERNAME", c.user)
	}
	if c.password != nil {
		ctr = ctr.WithSecretVariable("REGISTRY_PASSWORD", c.password)
	}
	return c.evidence.keys(ctr)
}

// run runs the tool with args and returns its one line of output; when it
// fails, its message, not the exec's exit status.
func run(ctx context.Context, stageName string, ctr *dagger.Container, args []string) (string, error) {
	ctr = ctr.WithExec(args, dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		// The exec never ran: a secret or a service could not be
		// provided. %v, not %w: a module runtime reports a wrapped engine
		// error as the engine's bare message, which would lose the stage.
		return "", fmt.Errorf("%s: running the %s: %v", stageName, toolName(args), err)
	}
	if code != 0 {
		stderr, err := ctr.Stderr(ctx)
		if msg := strings.TrimSpace(stderr); err == nil && msg != "" {
			return "", fmt.Errorf("%s", msg)
		}
		return "", fmt.Errorf("%s: the %s failed with exit status %d and no message", stageName, toolName(args), code)
	}
	out, err := ctr.Stdout(ctx)
	if err != nil {
		return "", fmt.Errorf("%s: reading the %s's output: %v", stageName, toolName(args), err)
	}
	return strings.TrimSpace(out), nil
}

// toolName names the tool args run, for messages.
func toolName(args []string) string {
	if len(args) > 0 && args[0] == EvidenceToolPath {
		return "evidence tool"
	}
	return "deploy tool"
}

// Tool returns the runtime base with the deploy tool at ToolPath, running
// as DefaultUser, built from slipway's embedded source in the Go image with
// the Go caches every stage shares. Dagger caches the build: the first
// call compiles it, later calls reuse the binary until the source changes.
func Tool(client *dagger.Client, opts ...Option) *dagger.Container {
	c := newConfig(opts)
	return client.Container().From(DefaultBase).
		WithFile(ToolPath, toolBinary(client, c), dagger.ContainerWithFileOpts{Permissions: 0o755}).
		WithUser(DefaultUser)
}

// toolBinary is the deploy tool, built from slipway's embedded source.
func toolBinary(client *dagger.Client, c config) *dagger.File {
	return buildTool(client, c, slipway.ToolPackage, "slipway-deploy")
}

// EvidenceTool returns the runtime base with the evidence tool at
// EvidenceToolPath, running as DefaultUser: what the build and scan stages
// run to sign and record evidence. It builds from the same embedded source
// as Tool, without Kubernetes, Helm or Argo CD, in a fraction of the deploy
// tool's time on an engine whose cache is empty.
func EvidenceTool(client *dagger.Client, opts ...Option) *dagger.Container {
	c := newConfig(opts)
	return client.Container().From(DefaultBase).
		WithFile(EvidenceToolPath, evidenceBinary(client, c), dagger.ContainerWithFileOpts{Permissions: 0o755}).
		WithUser(DefaultUser)
}

// evidenceBinary is the evidence tool, built from slipway's embedded
// source.
func evidenceBinary(client *dagger.Client, c config) *dagger.File {
	return buildTool(client, c, slipway.EvidenceToolPackage, "slipway-evidence")
}

// buildTool builds the main package pkg of slipway's embedded source as
// name, in the Go image with the Go caches every stage shares.
func buildTool(client *dagger.Client, c config, pkg, name string) *dagger.File {
	src := client.Container().From(c.GoImageOr(stage.DefaultGoImage)).
		WithNewFile("/source.tgz.b64", toolSourceArchive()).
		WithExec([]string{"sh", "-euc", "mkdir -p /src && base64 -d /source.tgz.b64 | tar -xz -C /src"}).
		Directory("/src")
	b := c.WithGoEnvOn(stage.GoCaches(client, client.Container().From(c.GoImageOr(stage.DefaultGoImage))))
	bin := b.WithEnvVariable("CGO_ENABLED", "0").
		WithEnvVariable("GOFLAGS", "-buildvcs=false").
		WithMountedDirectory("/src", src).WithWorkdir("/src").
		WithExec([]string{"go", "build", "-trimpath", "-ldflags=-s -w", "-o", "/out/" + name, pkg}).
		File("/out/" + name)
	return bin
}

var (
	archiveOnce sync.Once
	archive     string
)

// toolSourceArchive returns slipway.ToolSource as a base64 gzip tarball:
// one file in one API call, where a file per call would make the tool's
// source a query of hundreds of nested calls. The tarball is the same
// bytes for the same source (sorted, no times, no owners), so Dagger's
// cache keys on the source alone.
func toolSourceArchive() string {
	archiveOnce.Do(func() {
		var paths []string
		err := fs.WalkDir(slipway.ToolSource, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() {
				paths = append(paths, p)
			}
			return nil
		})
		if err != nil {
			panic(fmt.Sprintf("kube: reading the embedded source: %v", err))
		}
		sort.Strings(paths)
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		tw := tar.NewWriter(zw)
		for _, p := range paths {
			data, err := fs.ReadFile(slipway.ToolSource, p)
			if err != nil {
				panic(fmt.Sprintf("kube: reading the embedded %s: %v", p, err))
			}
			hdr := &tar.Header{Name: p, Mode: 0o644, Size: int64(len(data)), Format: tar.FormatPAX}
			if err := tw.WriteHeader(hdr); err != nil {
				panic(err)
			}
			if _, err := io.Copy(tw, bytes.NewReader(data)); err != nil {
				panic(err)
			}
		}
		if err := tw.Close(); err != nil {
			panic(err)
		}
		if err := zw.Close(); err != nil {
			panic(err)
		}
		archive = base64.StdEncoding.EncodeToString(buf.Bytes())
	})
	return archive
}
