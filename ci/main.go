// Slipway's own Dagger module: the reference pipeline's stages as Dagger
// functions, and the generator of its CI files.
//
// Every stage runs the same way on a laptop (`dagger call <stage>`), in
// GitLab CI and in GitHub Actions, whose files only call these functions.
// The work lives in slipway's pipeline packages and in tool containers; this
// module stays thin so that it loads fast.
package main

import (
	"context"
	"embed"
	"fmt"
	"strconv"
	"strings"
	"time"

	sdk "dagger.io/dagger"

	"github.com/slipway-ci/slipway/ci/internal/dagger"
	"github.com/slipway-ci/slipway/ci/reference"
	"github.com/slipway-ci/slipway/stage/goimage"
	"github.com/slipway-ci/slipway/stage/gosec"
	"github.com/slipway-ci/slipway/stage/gotest"
	"github.com/slipway-ci/slipway/stage/ociregistry"
	"github.com/slipway-ci/slipway/stage/trivy"
)

// source is this module's own Go source. The reference pipeline checks every
// job against the functions declared here, also when it is generated inside
// an engine.
//
//go:embed *.go
var source embed.FS

// Slipway is the main object: one function per pipeline stage.
type Slipway struct{}

// The example service the reference pipeline builds and ships.
const (
	servicePackage     = "./examples/deployai/cmd/deployai"
	servicePackages    = "./examples/deployai/..."
	integrationPackage = "./examples/deployai/integration"
	sourceURL          = "https://github.com/slipway-ci/slipway"
)

// Build builds the example service's container image from source: a static
// binary of examples/deployai/cmd/deployai on a distroless base, running as
// non-root, with OCI labels and annotations. The same source, revision and
// created time give the same digest.
func (m *Slipway) Build(
	ctx context.Context,
	// The repository root.
	// +defaultPath="/"
	// +ignore=[".git", ".slipway", "reports", "bin"]
	source *dagger.Directory,
	// The commit the image is built from, recorded in its labels.
	// +optional
	revision string,
	// The image's creation time: the commit time, as RFC 3339 or Unix
	// seconds (SOURCE_DATE_EPOCH). Default: the Unix epoch, never the clock.
	// +optional
	created string,
	// The platforms to build, such as linux/amd64 and linux/arm64; the first
	// is returned. Default: linux/amd64.
	// +optional
	platforms []string,
) (*dagger.Container, error) {
	imgs, err := m.images(ctx, source, revision, created, platforms)
	if err != nil {
		return nil, err
	}
	return fromContainer(ctx, imgs[0])
}

// images builds the service's image for each platform.
func (m *Slipway) images(ctx context.Context, source *dagger.Directory, revision, created string, platforms []string) ([]*sdk.Container, error) {
	c, err := client(ctx)
	if err != nil {
		return nil, err
	}
	src, err := toDir(ctx, c, source)
	if err != nil {
		return nil, err
	}
	opts := []goimage.Option{
		goimage.WithPackage(servicePackage),
		goimage.WithRevision(revision),
		goimage.WithSource(sourceURL),
		goimage.WithExposedPort(8080),
		goimage.WithExposedPort(9090),
	}
	if created != "" {
		t, err := parseTime(created)
		if err != nil {
			return nil, fmt.Errorf("build: created: %w", err)
		}
		opts = append(opts, goimage.WithCreated(t))
	}
	if len(platforms) > 0 {
		ps := make([]sdk.Platform, len(platforms))
		for i, p := range platforms {
			ps[i] = sdk.Platform(p)
		}
		opts = append(opts, goimage.WithPlatforms(ps...))
	}
	for k, v := range goEnv() {
		opts = append(opts, goimage.WithGoEnv(k, v))
	}
	imgs, err := goimage.Build(ctx, c, src, opts...)
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	return imgs, nil
}

// parseTime reads RFC 3339 or Unix seconds.
func parseTime(s string) (time.Time, error) {
	if secs, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(secs, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor Unix seconds", s)
	}
	return t.UTC(), nil
}

// Publish builds the image and pushes it, returning repository@sha256:digest.
// Every later stage uses that digest, never a tag. The password is a Dagger
// secret (env://REGISTRY_PASSWORD in CI); a wrong one fails before any blob
// is uploaded. Without a repository the image goes to a go-containerregistry
// registry served inside this Dagger session (slipway/deployai on host
// "registry"), which proves it pushes and fixes its digest.
func (m *Slipway) Publish(
	ctx context.Context,
	// The repository root.
	// +defaultPath="/"
	// +ignore=[".git", ".slipway", "reports", "bin"]
	source *dagger.Directory,
	// Where to push, such as registry.example.com/team/app.
	// +optional
	repository string,
	// The registry user.
	// +optional
	username string,
	// The registry password or token.
	// +optional
	password *dagger.Secret,
	// The commit the image is built from, recorded in its labels and used
	// as its tag.
	// +optional
	revision string,
	// The image's creation time (RFC 3339 or Unix seconds); see build.
	// +optional
	created string,
	// The platforms to build; see build.
	// +optional
	platforms []string,
	// Talk plain HTTP to the registry.
	// +optional
	insecure bool,
) (string, error) {
	imgs, err := m.images(ctx, source, revision, created, platforms)
	if err != nil {
		return "", err
	}
	c, err := client(ctx)
	if err != nil {
		return "", err
	}
	var pw *sdk.Secret
	if password != nil {
		if pw, err = toSecret(ctx, c, password); err != nil {
			return "", err
		}
	}
	return publish(ctx, c, imgs, repository, username, pw, revision, insecure)
}

// publish pushes the images (one per platform) and returns
// repository@sha256:digest.
func publish(ctx context.Context, c *sdk.Client, imgs []*sdk.Container, repository, username string, password *sdk.Secret, revision string, insecure bool) (string, error) {
	tag := "latest"
	if revision != "" {
		tag = revision
	}
	opts := []ociregistry.Option{}
	for k, v := range goEnv() {
		opts = append(opts, ociregistry.WithGoEnv(k, v))
	}
	if repository == "" {
		opts = append(opts, ociregistry.WithService(localRegistryHost, ociregistry.Service(c, opts...)),
			ociregistry.WithInsecure(fmt.Sprintf("%s:%d", localRegistryHost, ociregistry.Port)))
		repository = fmt.Sprintf("%s:%d/slipway/deployai", localRegistryHost, ociregistry.Port)
	}
	host, _, _ := strings.Cut(repository, "/")
	if insecure {
		opts = append(opts, ociregistry.WithInsecure(host))
	}
	if username != "" || password != nil {
		opts = append(opts, ociregistry.WithAuth(username, password))
	}
	if len(imgs) > 1 {
		// A multi-platform index: the engine pushes it.
		pub := imgs[0]
		if password != nil {
			pub = pub.WithRegistryAuth(host, username, password)
		}
		ref, err := pub.Publish(ctx, repository+":"+tag, sdk.ContainerPublishOpts{PlatformVariants: imgs[1:]})
		if err != nil {
			return "", fmt.Errorf("publish: %w", err)
		}
		return pinned(ref), nil
	}
	ref, err := ociregistry.Push(ctx, c, imgs[0], repository+":"+tag, opts...)
	if err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}
	return pinned(ref), nil
}

// localRegistryHost is the local default registry's host name in the
// session.
const localRegistryHost = "registry"

// pinned turns repository:tag@sha256:d into repository@sha256:d.
func pinned(ref string) string {
	repo, digest, ok := strings.Cut(ref, "@")
	if !ok {
		return ref
	}
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	return repo + "@" + digest
}

// Verdict is the outcome of a test or scan stage: its reports, which are kept
// even when the stage fails, and a check that fails when it did. CI jobs
// export the reports first and call check second, so a failing stage still
// shows its JUnit, coverage and scan reports.
type Verdict struct {
	// The stage's reports: JUnit, Cobertura, SARIF or GitLab reports.
	Reports *dagger.Directory
	// What the stage found, one line; empty when all is well.
	Problem string
	// What the stage did, one line, such as "12 tests, 83.4% of statements".
	Summary string
	// Lines a CI log must show on every run, such as the coverage total
	// GitLab's coverage regex reads.
	Log string
}

// Check fails when the stage failed, naming what it found; otherwise it
// returns the summary and the log lines. Returning them, rather than
// printing them while the stage runs, puts them in the job's log even when
// Dagger answers from its cache: a cached test-unit still shows GitLab its
// coverage.
func (v *Verdict) Check() (string, error) {
	if v.Problem != "" {
		return "", fmt.Errorf("%s", v.Problem)
	}
	return strings.TrimSpace(v.Summary + "\n" + v.Log), nil
}

// TestUnit runs the example service's unit tests with the race detector and
// coverage, in golang:1.25 with the Go module and build caches as cache
// volumes. Its reports hold junit.xml, coverage.xml (Cobertura),
// coverage.out and test.json; check prints the coverage total line GitLab's
// coverage regex reads. Failing tests fail check, not the call, so their
// reports can still be exported.
func (m *Slipway) TestUnit(
	ctx context.Context,
	// The repository root.
	// +defaultPath="/"
	// +ignore=[".git", ".slipway", "reports", "bin"]
	source *dagger.Directory,
	// The packages to test. Default: the example service's.
	// +optional
	packages []string,
) (*Verdict, error) {
	if len(packages) == 0 {
		packages = []string{servicePackages}
	}
	return m.goTest(ctx, "test-unit", source, packages)
}

// goTest runs go test and turns the result into a Verdict.
func (m *Slipway) goTest(ctx context.Context, stage string, source *dagger.Directory, packages []string, opts ...gotest.Option) (*Verdict, error) {
	c, err := client(ctx)
	if err != nil {
		return nil, err
	}
	src, err := toDir(ctx, c, source)
	if err != nil {
		return nil, err
	}
	opts = append(opts, gotest.WithPackages(packages...))
	for k, v := range goEnv() {
		opts = append(opts, gotest.WithEnv(k, v))
	}
	res, err := gotest.Run(ctx, c, src, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", stage, err)
	}
	reports, err := fromDir(ctx, res.Reports)
	if err != nil {
		return nil, err
	}
	// GitLab reads the job log with `total:\s+\(statements\)\s+(\d+\.\d+)%`;
	// check prints this line on every run, cached or not.
	v := &Verdict{Reports: reports, Summary: fmt.Sprintf("%d tests", res.Tests), Log: res.CoverageLine}
	if res.Coverage >= 0 {
		v.Summary += fmt.Sprintf(", %.1f%% of statements", res.Coverage)
	}
	if p := res.Problem(); p != "" {
		v.Problem = stage + ": " + p
	}
	return v, nil
}

// TestIntegration runs the example service's integration tests (build tag
// integration) against the image, pulled by digest and run as a Dagger
// service: the tests reach /health, /ready and /metrics through the service
// binding. Its reports hold junit.xml.
func (m *Slipway) TestIntegration(
	ctx context.Context,
	// The repository root.
	// +defaultPath="/"
	// +ignore=[".git", ".slipway", "reports", "bin"]
	source *dagger.Directory,
	// The image to test, as repository@sha256:digest.
	image string,
) (*Verdict, error) {
	c, err := client(ctx)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(image, "@sha256:") {
		return nil, fmt.Errorf("test-integration: image %q is not pinned by digest (repository@sha256:...)", image)
	}
	return m.integration(ctx, source, c.Container().From(image))
}

// integration tests img, served under the host name deployai.
func (m *Slipway) integration(ctx context.Context, source *dagger.Directory, img *sdk.Container) (*Verdict, error) {
	svc := img.WithExposedPort(8080).WithExposedPort(9090).
		AsService(sdk.ContainerAsServiceOpts{UseEntrypoint: true})
	return m.goTest(ctx, "test-integration", source, []string{integrationPackage},
		gotest.WithTags("integration"), gotest.WithCoverage(false),
		gotest.WithService("deployai", svc),
		gotest.WithEnv("DEPLOYAI_URL", "http://deployai:8080"),
		gotest.WithEnv("DEPLOYAI_METRICS_URL", "http://deployai:9090"))
}

// SecurityTrivy scans the image, pulled by digest, for HIGH and CRITICAL
// vulnerabilities in Trivy's container; check fails naming the CVE IDs. Its
// reports hold trivy.json, trivy.sarif and gl-container-scanning-report.json.
// Cached for an hour, not Dagger's default seven days: a digest's scan
// goes stale when the DB learns a new CVE or an ignore entry expires, and
// a week-old result would let production take an image that a scan today
// fails (stage/trivy likewise rescans after an hour inside the call).
//
// +cache="1h"
func (m *Slipway) SecurityTrivy(
	ctx context.Context,
	// The image to scan, as repository@sha256:digest.
	image string,
	// Where Trivy downloads its vulnerability DB: point it at a mirror when
	// air-gapped. Default: ghcr.io/aquasecurity/trivy-db:2.
	// +optional
	dbRepository string,
	// Fetch the DB over plain HTTP or without TLS verification.
	// +optional
	insecure bool,
	// A Trivy ignore file; in its YAML form (.trivyignore.yaml) each entry
	// carries an expired_at date after which it no longer applies.
	// +optional
	ignoreFile *dagger.File,
	// The user for the image's registry, where the scan is recorded as
	// evidence for production's gate.
	// +optional
	registryUsername string,
	// The password or token for the image's registry.
	// +optional
	registryPassword *dagger.Secret,
) (*Verdict, error) {
	c, err := client(ctx)
	if err != nil {
		return nil, err
	}
	opts := []trivy.Option{}
	if dbRepository != "" {
		opts = append(opts, trivy.WithDBRepository(dbRepository))
	}
	if insecure {
		opts = append(opts, trivy.WithInsecureRegistry())
	}
	if ignoreFile != nil {
		f, err := toFile(ctx, c, ignoreFile)
		if err != nil {
			return nil, err
		}
		opts = append(opts, trivy.WithIgnoreFile(f))
	}
	res, err := trivy.Scan(ctx, c, image, opts...)
	if err != nil {
		return nil, fmt.Errorf("security-trivy: %w", err)
	}
	reports, err := fromDir(ctx, res.Reports)
	if err != nil {
		return nil, err
	}
	v := &Verdict{Reports: reports, Summary: fmt.Sprintf("%d HIGH/CRITICAL vulnerabilities in %s", len(res.Findings), image)}
	if p := res.Problem(); p != "" {
		v.Problem = "security-trivy: " + p
	}
	v.Summary += "; " + recordScan(ctx, image, len(res.Findings), registryUsername, registryPassword)
	return v, nil
}

// SecuritySast runs gosec over the example service's source. Its reports
// hold gosec.json, gosec.sarif and gl-sast-report.json. check fails on
// findings (the reference pipeline's job is allowed to fail, so the
// pipeline goes on) unless fail is false.
func (m *Slipway) SecuritySast(
	ctx context.Context,
	// The repository root.
	// +defaultPath="/"
	// +ignore=[".git", ".slipway", "reports", "bin"]
	source *dagger.Directory,
	// The packages to analyse. Default: the example service's.
	// +optional
	packages []string,
	// Whether check fails on findings.
	// +default=true
	fail bool,
) (*Verdict, error) {
	c, err := client(ctx)
	if err != nil {
		return nil, err
	}
	src, err := toDir(ctx, c, source)
	if err != nil {
		return nil, err
	}
	if len(packages) == 0 {
		packages = []string{servicePackages}
	}
	opts := []gosec.Option{gosec.WithPackages(packages...)}
	for k, v := range goEnv() {
		opts = append(opts, gosec.WithEnv(k, v))
	}
	res, err := gosec.Scan(ctx, c, src, opts...)
	if err != nil {
		return nil, fmt.Errorf("security-sast: %w", err)
	}
	reports, err := fromDir(ctx, res.Reports)
	if err != nil {
		return nil, err
	}
	v := &Verdict{Reports: reports, Summary: fmt.Sprintf("%d gosec findings", len(res.Findings))}
	if p := res.Problem(); p != "" {
		fmt.Println("security-sast:", p)
		if fail {
			v.Problem = "security-sast: " + p
		}
	}
	return v, nil
}

// Generate returns the CI files generated from the reference pipeline:
// .gitlab-ci.yml and .github/workflows/ci.yml. Write them into the
// repository with `dagger call generate export --path=.`.
func (m *Slipway) Generate(ctx context.Context) (*dagger.Directory, error) {
	files, err := reference.Files(source)
	if err != nil {
		return nil, err
	}
	dir := dag.Directory()
	for _, f := range files {
		dir = dir.WithNewFile(f.Path, string(f.Data))
	}
	return dir, nil
}
