// Slipway builds, tests, scans, publishes and deploys a Go service, the
// same way on a laptop (`dagger call`), in GitLab CI and in GitHub Actions.
//
// Install it in a service's repository as a toolchain and set its
// constructor's arguments in dagger.json (`slipway init` writes both), or
// call it from anywhere with -m:
//
//	dagger toolchain install github.com/slipway-ci/slipway
//	dagger call slipway test-unit check
//	dagger -m github.com/slipway-ci/slipway call --source=. --main=./cmd/server build
//
// Every function works from the settings alone: the main packages are
// found when none are named, the Go toolchain image is the one go.mod asks
// for, and the registry, namespaces and manifests have defaults named
// after the service. The work runs in slipway's stage packages, which any
// Go program or Dagger module can also import.
package main

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	sdk "dagger.io/dagger"

	"github.com/slipway-ci/slipway/dagger/internal/dagger"
	"github.com/slipway-ci/slipway/stage"
	"github.com/slipway-ci/slipway/stage/goimage"
	"github.com/slipway-ci/slipway/stage/gosec"
	"github.com/slipway-ci/slipway/stage/gotest"
	"github.com/slipway-ci/slipway/stage/handover"
	"github.com/slipway-ci/slipway/stage/kube"
	"github.com/slipway-ci/slipway/stage/ociregistry"
	publishstage "github.com/slipway-ci/slipway/stage/publish"
	"github.com/slipway-ci/slipway/stage/sbom"
	"github.com/slipway-ci/slipway/stage/smoke"
	"github.com/slipway-ci/slipway/stage/trivy"
)

// Slipway holds a Go service's settings; its functions are the stages of
// the service's pipeline.
type Slipway struct {
	// +private
	Source *dagger.Directory
	// +private
	Name string
	// +private
	Main []string
	// +private
	Binary string
	// +private
	Ports []int
	// +private
	Tags []string
	// +private
	Ldflags string
	// +private
	GoVersion string
	// +private
	Files []string
	// +private
	Entrypoint []string
	// +private
	Args []string
	// +private
	TestPackages []string
	// +private
	Race bool
	// +private
	TestArgs []string
	// +private
	IntegrationPackage string
	// +private
	IntegrationTag string
	// +private
	IntegrationHost string
	// +private
	IntegrationEnv []string
	// +private
	Smoke []string
	// +private
	GosecPackages []string
	// +private
	GosecExclude []string
	// +private
	TrivyIgnore *dagger.File
	// +private
	Repository string
	// +private
	SourceURL string
	// +private
	Container string
	// +private
	StagingNamespace string
	// +private
	StagingManifests string
	// +private
	ProductionNamespace string
	// +private
	ProductionManifests string
	// +private
	NodeSelector []string
	// +private
	VerifyPaths []string
	// +private
	VerifyWindow string
	// +private
	NoVerify bool
	// +private
	AlertRules []string
	// +private
	AlertWindow string

	// Notifications (notify.go).

	// +private
	NotifySlack *dagger.Secret
	// +private
	NotifyTelegramToken *dagger.Secret
	// +private
	NotifyTelegramChat string
	// +private
	NotifyTelegramAPI string
	// +private
	NotifyWebhook *dagger.Secret
	// +private
	NotifyWebhookKey *dagger.Secret
	// +private
	NotifyLink string
	// +private
	NotifyPipeline string
	// +private
	NotifyRequired bool

	// The deploy sources' settings (sources.go).

	// +private
	DeploySource string
	// +private
	HelmChart string
	// +private
	HelmStagingValues []string
	// +private
	HelmProductionValues []string
	// +private
	HelmRelease string
	// +private
	HelmSet []string
	// +private
	HelmHistory int
	// +private
	ImageValues []string
	// +private
	GitopsRepository string
	// +private
	GitopsBranch string
	// +private
	GitopsUser string
	// +private
	GitopsSSHHostKey string
	// +private
	GitopsImage string
	// +private
	GitopsStagingOverlay string
	// +private
	GitopsProductionOverlay string
	// +private
	GitopsStagingValues string
	// +private
	GitopsProductionValues string
	// +private
	GitopsStagingApp string
	// +private
	GitopsProductionApp string
	// +private
	GitopsAppNamespace string

	// The evidence's settings (evidence.go).

	// +private
	TrustedKeys string
	// +private
	GovulncheckIgnore string
}

// New configures the service. Every argument has a default; set them in
// dagger.json's toolchain customizations, as flags before the function
// name, or with the With* functions.
func New(
	// The service's repository: its Go module (go.mod at the root) and
	// manifests.
	// +defaultPath="/"
	// +ignore=[".git", ".slipway", ".dagger", "**/node_modules", "reports", "bin", "dist"]
	source *dagger.Directory,
	// The service's name: the image's and the binary's default name.
	// Default: the first main package's directory name.
	// +optional
	name string,
	// The main packages to build, such as ./cmd/server; the first is the
	// entrypoint, each becomes a binary in /usr/local/bin named after its
	// directory. Default: the module's only main package.
	// +optional
	main []string,
	// The entrypoint binary's name. Default: the first main package's
	// directory name.
	// +optional
	binary string,
	// The ports the service listens on, exposed by the image and probed by
	// the smoke test.
	// +optional
	ports []int,
	// Build tags.
	// +optional
	tags []string,
	// Extra linker flags, such as -X main.version=1.2.3 (always with -s -w).
	// +optional
	ldflags string,
	// The Go version to build and test with, such as 1.26. Default: the
	// one go.mod's toolchain or go line asks for.
	// +optional
	goVersion string,
	// Data files and directories to copy into the image, as
	// SOURCE_PATH:IMAGE_PATH, such as web/templates:/app/templates.
	// +optional
	files []string,
	// The image's entrypoint. Default: the first binary.
	// +optional
	entrypoint []string,
	// The arguments the entrypoint gets.
	// +optional
	args []string,
	// The packages the unit tests cover.
	// +default=["./..."]
	testPackages []string,
	// Run the unit tests with the race detector.
	// +default=true
	race bool,
	// More go test flags for the unit tests, such as -short or
	// -skip=TestNeedsTheInternet.
	// +optional
	testArgs []string,
	// The package of the integration tests, which run against the image as
	// a service. Without one, test-integration runs the smoke probes.
	// +optional
	integrationPackage string,
	// The build tag of the integration tests.
	// +default="integration"
	integrationTag string,
	// The host name the integration tests reach the service at. Default:
	// the service's name.
	// +optional
	integrationHost string,
	// Variables that tell the integration tests where the service is, as
	// NAME=PORT: the test sees NAME=http://HOST:PORT.
	// +optional
	integrationEnv []string,
	// Smoke probes of the image run as a service, as PORT/PATH=STATUS, such
	// as 8080/health=200.
	// +optional
	smoke []string,
	// The packages gosec analyses. Default: the unit tests' packages.
	// +optional
	gosecPackages []string,
	// gosec rules to skip, such as G104.
	// +optional
	gosecExclude []string,
	// A Trivy ignore file (.trivyignore.yaml, whose entries expire).
	// +optional
	trivyIgnore *dagger.File,
	// The registry repository images are pushed to, such as
	// registry.example.com/team/service.
	// +optional
	repository string,
	// The source repository's URL, recorded in the image's labels.
	// +optional
	sourceUrl string,
	// The container of the Deployment that gets the image. Default: the
	// Deployment's only container.
	// +optional
	container string,
	// The staging namespace. Default: NAME-staging.
	// +optional
	stagingNamespace string,
	// The staging manifests, a path in the source: a directory of YAML or
	// a kustomize overlay (its bases may be anywhere in the source).
	// +optional
	stagingManifests string,
	// The production namespace. Default: NAME.
	// +optional
	productionNamespace string,
	// The production manifests, a path in the source: a directory of YAML
	// or a kustomize overlay.
	// +optional
	productionManifests string,
	// Where both environments' pods run, as KEY=VALUE node labels added to
	// every pod template the apply and helm sources deploy (a GitOps
	// repository places its own pods), such as slipway.dev/node=real: the
	// local cluster's one node whose containers really run.
	// +optional
	nodeSelector []string,
	// What the deploy's smoke test GETs after the rollout, through the
	// Service, as [PORT:]/PATH, such as metrics:/metrics: each must answer
	// 2xx (/metrics in Prometheus text), or the deploy is rolled back and
	// records no evidence (a Helm release is rolled back, a GitOps commit
	// reverted). Every source. Default: the paths of the Deployment's HTTP
	// probes and its prometheus.io/scrape path.
	// +optional
	verifyPaths []string,
	// How long the smoke test must keep passing, a Go duration. Default:
	// 5s.
	// +optional
	verifyWindow string,
	// No smoke test: the rollout alone verifies a deploy.
	// +optional
	noVerify bool,
	// Prometheus rule files, paths in the source, such as
	// deploy/alerts.rules.yaml: after staging's smoke test, a throwaway
	// Prometheus (prom/prometheus:v2.42.0, or deploy-staging --prometheus)
	// scrapes the new pods, and
	// staging is verified only when every pod is up and none of the alerts
	// fires for alertWindow. Every source.
	// +optional
	alertRules []string,
	// How long none of alertRules may fire, a Go duration. Default: 30s.
	// +optional
	alertWindow string,
	// How deploy-staging and deploy-production deploy, unless their
	// --source says otherwise: apply (the manifests, server-side applied),
	// helm (the Helm chart) or gitops (a promote commit into the GitOps
	// repository, synced by Argo CD).
	// +default="apply"
	deploySource string,
	// helm: the chart, a path in the source (a chart directory or a
	// packaged .tgz) or oci://HOST/REPO/NAME:VERSION.
	// +optional
	helmChart string,
	// helm: staging's values files, paths in the source, merged in order,
	// such as chart/values-staging.yaml.
	// +optional
	helmStagingValues []string,
	// helm: production's values files, such as chart/values-production.yaml.
	// +optional
	helmProductionValues []string,
	// helm: the release's name. Default: the chart's name.
	// +optional
	helmRelease string,
	// helm: values over the values files, as PATH=VALUE in helm --set's
	// syntax, in both environments.
	// +optional
	helmSet []string,
	// helm: the release revisions kept (helm --history-max); 0 keeps all.
	// +default=10
	helmHistory int,
	// helm, and gitops with a values file: the values paths that get the
	// image, the repository's and the digest's (a template writing
	// REPOSITORY@DIGEST), or one path that gets the whole
	// repository@sha256:digest.
	// +default=["image.repository", "image.digest"]
	imageValues []string,
	// gitops: the GitOps repository's clone URL (https://, http:// or
	// ssh://), the one the Argo CD Applications watch.
	// +optional
	gitopsRepository string,
	// gitops: the branch the Applications track.
	// +default="main"
	gitopsBranch string,
	// gitops: the user for an http(s):// repository (GitLab: any name with a
	// project access token; GitHub: x-access-token). The password or token
	// is deploy-staging's and deploy-production's --git-password. Default:
	// git.
	// +optional
	gitopsUser string,
	// gitops: the SSH server's public host key (a known_hosts line without
	// the host name, ssh-ed25519 AAAA...), for an ssh:// repository; the key
	// is deploy-staging's and deploy-production's --git-ssh-key.
	// +optional
	gitopsSshHostKey string,
	// gitops: the images: entry's name in the overlays, the image the base's
	// containers name. Default: the service's name.
	// +optional
	gitopsImage string,
	// gitops: staging's kustomize overlay, a directory in the GitOps
	// repository (overlays/staging) whose images: entry gets the digest.
	// +optional
	gitopsStagingOverlay string,
	// gitops: production's kustomize overlay (overlays/production).
	// +optional
	gitopsProductionOverlay string,
	// gitops: staging's Helm values file in the GitOps repository, which
	// gets the digest at imageValues, instead of an overlay.
	// +optional
	gitopsStagingValues string,
	// gitops: production's Helm values file, instead of an overlay.
	// +optional
	gitopsProductionValues string,
	// gitops: the Argo CD Application that deploys staging. Default:
	// staging's namespace.
	// +optional
	gitopsStagingApp string,
	// gitops: the Argo CD Application that deploys production. Default:
	// production's namespace.
	// +optional
	gitopsProductionApp string,
	// gitops: Argo CD's namespace, where the Applications are.
	// +default="argocd"
	gitopsAppNamespace string,
	// The public keys production's gate trusts, a path in the source: a
	// PEM file of cosign.pub keys (several concatenated, to rotate; a
	// "Name: ..." header names each). deploy-production's --trusted-keys
	// adds more. Without any, production refuses every digest.
	// +optional
	trustedKeys string,
	// govulncheck's ignore file, a path in the source (YAML, as Trivy's:
	// vulnerabilities with id, statement and expired_at): a called
	// vulnerability it names does not fail security-govulncheck until then.
	// +optional
	govulncheckIgnore string,
) *Slipway {
	return &Slipway{
		Source: source, Name: name, Main: main, Binary: binary, Ports: ports, Tags: tags, Ldflags: ldflags,
		GoVersion: goVersion, Files: files, Entrypoint: entrypoint, Args: args,
		TestPackages: testPackages, Race: race, TestArgs: testArgs,
		IntegrationPackage: integrationPackage, IntegrationTag: integrationTag, IntegrationHost: integrationHost,
		IntegrationEnv: integrationEnv, Smoke: smoke, GosecPackages: gosecPackages, GosecExclude: gosecExclude,
		TrivyIgnore: trivyIgnore, Repository: repository, SourceURL: sourceUrl, Container: container,
		StagingNamespace: stagingNamespace, StagingManifests: stagingManifests,
		ProductionNamespace: productionNamespace, ProductionManifests: productionManifests, NodeSelector: nodeSelector,
		VerifyPaths: verifyPaths, VerifyWindow: verifyWindow, NoVerify: noVerify, AlertRules: alertRules, AlertWindow: alertWindow,
		DeploySource: deploySource, HelmChart: helmChart, HelmStagingValues: helmStagingValues, HelmProductionValues: helmProductionValues,
		HelmRelease: helmRelease, HelmSet: helmSet, HelmHistory: helmHistory, ImageValues: imageValues,
		GitopsRepository: gitopsRepository, GitopsBranch: gitopsBranch, GitopsUser: gitopsUser, GitopsSSHHostKey: gitopsSshHostKey,
		GitopsImage: gitopsImage, GitopsStagingOverlay: gitopsStagingOverlay, GitopsProductionOverlay: gitopsProductionOverlay,
		GitopsStagingValues: gitopsStagingValues, GitopsProductionValues: gitopsProductionValues,
		GitopsStagingApp: gitopsStagingApp, GitopsProductionApp: gitopsProductionApp, GitopsAppNamespace: gitopsAppNamespace,
		TrustedKeys: trustedKeys, GovulncheckIgnore: govulncheckIgnore,
	}
}

// WithMain sets the main packages; the first is the entrypoint.
func (m *Slipway) WithMain(packages []string) *Slipway {
	c := *m
	c.Main = packages
	return &c
}

// WithPorts sets the ports the service listens on.
func (m *Slipway) WithPorts(ports []int) *Slipway {
	c := *m
	c.Ports = ports
	return &c
}

// WithFile copies a file or directory of the source into the image.
func (m *Slipway) WithFile(
	// The path in the source, such as web/templates.
	from string,
	// The absolute path in the image, such as /app/templates.
	to string,
) *Slipway {
	c := *m
	c.Files = append(slices.Clone(m.Files), from+":"+to)
	return &c
}

// WithSmokeProbe adds a smoke probe, as PORT/PATH=STATUS.
func (m *Slipway) WithSmokeProbe(probe string) *Slipway {
	c := *m
	c.Smoke = append(slices.Clone(m.Smoke), probe)
	return &c
}

// WithRepository sets the registry repository images are pushed to.
func (m *Slipway) WithRepository(repository string) *Slipway {
	c := *m
	c.Repository = repository
	return &c
}

// WithStaging sets the staging namespace and manifests (a path in the
// source).
func (m *Slipway) WithStaging(namespace, manifests string) *Slipway {
	c := *m
	c.StagingNamespace, c.StagingManifests = namespace, manifests
	return &c
}

// WithProduction sets the production namespace and manifests (a path in
// the source).
func (m *Slipway) WithProduction(namespace, manifests string) *Slipway {
	c := *m
	c.ProductionNamespace, c.ProductionManifests = namespace, manifests
	return &c
}

// WithNodeSelector sets where both environments' pods run, as KEY=VALUE
// node labels, such as slipway.dev/node=real.
func (m *Slipway) WithNodeSelector(labels []string) *Slipway {
	c := *m
	c.NodeSelector = labels
	return &c
}

// WithVerifyPaths sets what the deploy's smoke test GETs after the
// rollout, as [PORT:]/PATH, and for how long (a Go duration; empty keeps
// the current one).
func (m *Slipway) WithVerifyPaths(paths []string,
	// +optional
	window string,
) *Slipway {
	c := *m
	c.VerifyPaths, c.NoVerify = paths, false
	if window != "" {
		c.VerifyWindow = window
	}
	return &c
}

// WithoutVerify turns the deploy's smoke test off.
func (m *Slipway) WithoutVerify() *Slipway {
	c := *m
	c.NoVerify = true
	return &c
}

// Verdict is a test or scan stage's outcome: its reports, kept even when
// the stage fails, and a check that fails when it did. CI jobs export the
// reports first and call check second, so a failing stage still shows its
// JUnit, coverage and scan reports.
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
	// Why the stage failed, at length, such as the failed tests' last
	// output lines; empty when all is well.
	Detail string
}

// Check fails when the stage failed, naming what it found; otherwise it
// returns the summary and the log lines. Returning them, rather than
// printing them while the stage runs, puts them in the job's log even when
// Dagger answers from its cache.
func (v *Verdict) Check() (string, error) {
	return stage.Verdict{Problem: v.Problem, Summary: v.Summary, Log: v.Log, Detail: v.Detail}.Check()
}

// verdict turns a stage's outcome into the module's Verdict, prefixing its
// problem with the stage's name.
func verdict(ctx context.Context, name string, o stage.Outcome) (*Verdict, error) {
	v := o.Verdict()
	reports, err := handover.To(ctx, v.Reports, dag.LoadDirectoryFromID)
	if err != nil {
		return nil, err
	}
	if reports == nil {
		reports = dag.Directory()
	}
	out := &Verdict{Reports: reports, Summary: v.Summary, Log: v.Log}
	if v.Problem != "" {
		out.Problem, out.Detail = name+": "+v.Problem, v.Detail
	}
	return out, nil
}

// settings resolves the defaults that need the source: the main packages,
// the Go image and the service's name.
type settings struct {
	main    []string
	name    string
	goImage string
}

func (m *Slipway) resolve(ctx context.Context) (settings, error) {
	s, goMod, err := m.resolveGo(ctx)
	if err != nil {
		return s, err
	}
	s.main = m.Main
	if len(s.main) == 0 {
		if s.main, err = m.findMain(ctx, s.goImage); err != nil {
			return s, err
		}
	}
	s.name = m.Name
	if s.name == "" {
		s.name = binaryName(s.main[0], goMod)
	}
	return s, nil
}

// resolveGo resolves only what the stages that need no main package
// (tests, scans) need: the Go image, and a name for messages.
func (m *Slipway) resolveGo(ctx context.Context) (settings, string, error) {
	var s settings
	goMod, err := m.Source.File("go.mod").Contents(ctx)
	if err != nil {
		return s, "", fmt.Errorf("the source has no go.mod at its root: point --source at the Go module (%v)", err)
	}
	if m.GoVersion != "" {
		s.goImage = "golang:" + m.GoVersion
	} else if s.goImage, err = stage.GoImageFor([]byte(goMod)); err != nil {
		return s, "", err
	}
	s.name = m.Name
	if s.name == "" {
		s.name = binaryName(".", goMod)
	}
	return s, goMod, nil
}

// binaryName names a main package's binary as go build does: its
// directory, or the module path's last element for the root package.
func binaryName(pkg, goMod string) string {
	if b := path.Base(path.Clean(pkg)); b != "." && b != "/" {
		return b
	}
	for _, line := range strings.Split(goMod, "\n") {
		if mod, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			mod = strings.Trim(strings.TrimSpace(mod), `"`)
			b := path.Base(mod)
			if len(b) > 1 && b[0] == 'v' && strings.Trim(b[1:], "0123456789") == "" {
				b = path.Base(path.Dir(mod))
			}
			return b
		}
	}
	return "service"
}

// findMain lists the module's main packages without loading their
// dependencies (go list -find): one is the service; several must be named.
func (m *Slipway) findMain(ctx context.Context, goImage string) ([]string, error) {
	out, err := dag.Container().From(goImage).
		WithMountedDirectory("/src", m.Source).WithWorkdir("/src").
		WithEnvVariable("GOFLAGS", "-mod=mod").
		WithExec([]string{"go", "list", "-find", "-e", "-f", "{{if eq .Name \"main\"}}{{.Dir}}{{end}}", "./..."}).
		Stdout(ctx)
	if err != nil {
		return nil, fmt.Errorf("finding the main packages: %w", err)
	}
	var pkgs []string
	for _, dir := range strings.Fields(out) {
		rel := "." + strings.TrimPrefix(dir, "/src")
		if rel == "." || !strings.Contains(rel, "/testdata/") && !strings.Contains(rel, "/examples/") && !strings.Contains(rel, "/example/") {
			if rel != "." {
				rel = "./" + strings.TrimPrefix(rel, "./")
			}
			pkgs = append(pkgs, rel)
		}
	}
	switch len(pkgs) {
	case 0:
		return nil, fmt.Errorf("the module has no main package: name the one to build with --main=./cmd/NAME")
	case 1:
		return pkgs, nil
	default:
		return nil, fmt.Errorf("the module has %d main packages (%s): name the service's with --main (the first is the entrypoint)", len(pkgs), strings.Join(pkgs, ", "))
	}
}

// images builds the service's image for each platform.
func (m *Slipway) images(ctx context.Context, c *sdk.Client, s settings, revision, created string, platforms []string) ([]*sdk.Container, error) {
	src, err := handover.To(ctx, m.Source, c.LoadDirectoryFromID)
	if err != nil {
		return nil, err
	}
	opts := []goimage.Option{goimage.WithGoImage(s.goImage), goimage.WithRevision(revision), goimage.WithTags(m.Tags...)}
	binary := m.Binary
	if binary == "" {
		binary = s.name
	}
	opts = append(opts, goimage.WithPackage(s.main[0]), goimage.WithBinaryName(binary))
	for _, pkg := range s.main[1:] {
		opts = append(opts, goimage.WithBinary(pkg, ""))
	}
	if m.SourceURL != "" {
		opts = append(opts, goimage.WithSource(m.SourceURL))
	}
	if m.Ldflags != "" {
		opts = append(opts, goimage.WithLdflags(goimage.DefaultLdflags+" "+m.Ldflags))
	}
	for _, p := range m.Ports {
		opts = append(opts, goimage.WithExposedPort(p))
	}
	for _, f := range m.Files {
		from, to, ok := strings.Cut(f, ":")
		if !ok {
			return nil, fmt.Errorf("build: files: %q is not SOURCE_PATH:IMAGE_PATH, such as web/templates:/app/templates", f)
		}
		opts = append(opts, goimage.WithFile(from, to))
	}
	if len(m.Entrypoint) > 0 {
		opts = append(opts, goimage.WithEntrypoint(m.Entrypoint...))
	}
	if len(m.Args) > 0 {
		opts = append(opts, goimage.WithArgs(m.Args...))
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
	for _, o := range stage.ProcessGoEnv() {
		opts = append(opts, goimage.WithGoEnv(goEnvOf(o)))
	}
	imgs, err := goimage.Build(ctx, c, src, opts...)
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	return imgs, nil
}

// goEnvOf reads the one Go setting o sets.
func goEnvOf(o stage.Option) (string, string) {
	s := stage.NewSettings(o)
	for k, v := range s.GoEnv {
		return k, v
	}
	return "", ""
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

// Build builds the service's container image: static binaries of the main
// packages on a distroless base, running as non-root, with the data files,
// OCI labels and annotations. The same source, revision and created time
// give the same digest.
func (m *Slipway) Build(
	ctx context.Context,
	// The commit the image is built from, recorded in its labels.
	// +optional
	revision string,
	// The image's creation time: the commit time, as RFC 3339 or Unix
	// seconds (SOURCE_DATE_EPOCH). Default: the Unix epoch, never the clock.
	// +optional
	created string,
	// The platforms to build, such as linux/amd64 and linux/arm64; the
	// first is returned. Default: linux/amd64.
	// +optional
	platforms []string,
) (*dagger.Container, error) {
	c, err := handover.Client(ctx)
	if err != nil {
		return nil, err
	}
	s, err := m.resolve(ctx)
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	imgs, err := m.images(ctx, c, s, revision, created, platforms)
	if err != nil {
		return nil, err
	}
	return handover.To(ctx, imgs[0], dag.LoadContainerFromID)
}

// Publish builds the image and pushes it, returning
// repository@sha256:digest: every later stage uses that digest, never a
// tag. Several platforms are pushed as one multi-platform index. The
// password is a Dagger secret (env://REGISTRY_PASSWORD in CI); a wrong one
// fails before anything is written. Without a repository the image goes to
// a registry served inside this Dagger session, which proves it pushes and
// fixes its digest. With a signing key (env://SIGNING_KEY in CI) it signs
// the digest and attaches, as signed referrers, the image's SBOM
// (CycloneDX and SPDX) and SLSA provenance (with sourceUrl and
// --revision), which production's gate verifies, in the exec that pushes
// (a key that cannot sign fails before the push); without one it says
// what is not signed.
func (m *Slipway) Publish(
	ctx context.Context,
	// Where to push. Default: the repository setting.
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
	// The private key that signs the digest, the SBOM and the provenance
	// (cosign.key's PEM; --signing-key=env://SIGNING_KEY).
	// +optional
	signingKey *dagger.Secret,
	// The signing key's password (an encrypted cosign.key's).
	// +optional
	signingKeyPassword *dagger.Secret,
	// The source repository's URL the provenance records (CI_PROJECT_URL).
	// Default: the sourceUrl setting.
	// +optional
	sourceUrl string,
) (string, error) {
	started := time.Now().UTC()
	if err := readable(ctx, signingArgs(password, signingKey, signingKeyPassword)...); err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}
	c, err := handover.Client(ctx)
	if err != nil {
		return "", err
	}
	s, err := m.resolve(ctx)
	if err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}
	imgs, err := m.images(ctx, c, s, revision, created, platforms)
	if err != nil {
		return "", err
	}
	pw, err := handover.To(ctx, password, c.LoadSecretFromID)
	if err != nil {
		return "", err
	}
	if repository == "" {
		repository = m.Repository
	}
	call := publishCall{repository: repository, username: username, revision: revision, created: created, platforms: platforms,
		insecure: insecure, password: password, signingKey: signingKey, signingKeyPW: signingKeyPassword, started: started, sourceURL: sourceUrl}
	if signingKey != nil && len(imgs) == 1 {
		// One exec pushes, makes the SBOM and signs (stage/publish).
		ref, line, err := m.publishSigned(ctx, c, s, imgs[0], pw, call)
		if err != nil {
			return "", err
		}
		fmt.Println("publish: " + line)
		return ref, nil
	}
	// The SBOM is made while the image is pushed (see sbom.Start).
	var sbomDone func() (*sbom.Result, error)
	if signingKey != nil {
		sbomDone = sbom.Start(ctx, c, imgs[0], "the image pushed to "+repository)
	}
	ref, err := publish(ctx, c, s, imgs, repository, username, pw, revision, insecure)
	if err != nil {
		return "", err
	}
	var doc *sbom.Result
	if sbomDone != nil {
		if doc, err = sbomDone(); err != nil {
			return "", fmt.Errorf("publish: %w", err)
		}
		doc.Subject = ref
	}
	line, err := m.attestPublished(ctx, c, s, imgs[0], ref, call, doc)
	if err != nil {
		return "", err
	}
	fmt.Println("publish: " + line)
	return ref, nil
}

// publishSigned pushes img, makes its SBOM and signs the digest, the SBOM
// and the provenance in one exec, and returns the digest and the line
// publish prints.
func (m *Slipway) publishSigned(ctx context.Context, c *sdk.Client, s settings, img *sdk.Container, password *sdk.Secret, call publishCall) (string, string, error) {
	ko, err := signingOptions(ctx, c, call.signingKey, call.signingKeyPW)
	if err != nil {
		return "", "", err
	}
	b, missing, err := m.buildEvidence(ctx, c, s, call)
	if err != nil {
		return "", "", err
	}
	if b.Provenance != nil {
		// The build finishes in the exec, when the tool signs.
		b.Provenance.Finished = time.Time{}
	}
	ref, pushOpts := pushTarget(c, s, call.repository, call.username, password, call.revision, call.insecure)
	res, err := publishstage.Signed(ctx, c, img, ref, b, publishstage.WithPushOptions(pushOpts...),
		publishstage.WithAttestOptions(append(m.kubeOptions(call.username, password), ko...)...))
	if err != nil {
		return "", "", fmt.Errorf("publish: %w", err)
	}
	line := res.Attested + fmt.Sprintf("; SBOM: %d components, %d Go modules", len(res.SBOM.Components), len(res.SBOM.GoModules()))
	if missing != "" {
		line += "; " + missing
	}
	return res.Ref, line, nil
}

// localRegistryHost is the session's own registry's host name.
const localRegistryHost = "registry"

// publish pushes the images (one per platform) and returns
// repository@sha256:digest.
func publish(ctx context.Context, c *sdk.Client, s settings, imgs []*sdk.Container, repository, username string, password *sdk.Secret, revision string, insecure bool) (string, error) {
	ref, opts := pushTarget(c, s, repository, username, password, revision, insecure)
	if len(imgs) > 1 {
		ref, err := ociregistry.PushIndex(ctx, c, imgs, ref, opts...)
		if err != nil {
			return "", fmt.Errorf("publish: %w", err)
		}
		return ref, nil
	}
	ref, err := ociregistry.Push(ctx, c, imgs[0], ref, opts...)
	if err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}
	return ref, nil
}

// pushTarget is where publish pushes (repository:tag; the session's own
// registry when repository is empty) and how.
func pushTarget(c *sdk.Client, s settings, repository, username string, password *sdk.Secret, revision string, insecure bool) (string, []ociregistry.Option) {
	tag := "latest"
	if revision != "" {
		tag = revision
	}
	var opts []ociregistry.Option
	for _, o := range stage.ProcessGoEnv() {
		opts = append(opts, ociregistry.WithGoEnv(goEnvOf(o)))
	}
	if repository == "" {
		host := fmt.Sprintf("%s:%d", localRegistryHost, ociregistry.Port)
		opts = append(opts, ociregistry.WithService(localRegistryHost, ociregistry.Service(c, opts...)), ociregistry.WithInsecureRegistry(host))
		repository = host + "/" + s.name
	}
	host, _, _ := strings.Cut(repository, "/")
	if insecure {
		opts = append(opts, ociregistry.WithInsecureRegistry(host))
	}
	if username != "" || password != nil {
		opts = append(opts, ociregistry.WithAuth(username, password))
	}
	return repository + ":" + tag, opts
}

// TestUnit runs the unit tests with the race detector and coverage, in the
// Go image go.mod asks for, with the module and build caches as cache
// volumes. Its reports hold junit.xml, coverage.xml (Cobertura),
// coverage.out and test.json; check prints the coverage total line
// GitLab's coverage regex reads. Failing tests fail check, not the call, so
// their reports can still be exported.
func (m *Slipway) TestUnit(ctx context.Context) (*Verdict, error) {
	s, _, err := m.resolveGo(ctx)
	if err != nil {
		return nil, fmt.Errorf("test-unit: %w", err)
	}
	return m.goTest(ctx, "test-unit", s, m.TestPackages, gotest.WithRace(m.Race), gotest.WithArgs(m.TestArgs...))
}

// goTest runs go test over packages and turns the result into a Verdict.
func (m *Slipway) goTest(ctx context.Context, name string, s settings, packages []string, opts ...gotest.Option) (*Verdict, error) {
	c, err := handover.Client(ctx)
	if err != nil {
		return nil, err
	}
	src, err := handover.To(ctx, m.Source, c.LoadDirectoryFromID)
	if err != nil {
		return nil, err
	}
	opts = append(opts, gotest.WithPackages(packages...), gotest.WithGoImage(s.goImage))
	if len(m.Tags) > 0 {
		opts = append(opts, gotest.WithTags(m.Tags...))
	}
	for _, o := range stage.ProcessGoEnv() {
		opts = append(opts, gotest.WithGoEnv(goEnvOf(o)))
	}
	res, err := gotest.Run(ctx, c, src, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return verdict(ctx, name, res)
}

// TestIntegration tests the image, pulled by digest and run as a Dagger
// service: with an integration-test package, its Go tests (build tag
// integration) reach the service through the variables integrationEnv
// names; without one, the smoke probes check each PORT/PATH answers its
// status. Its reports hold junit.xml.
func (m *Slipway) TestIntegration(
	ctx context.Context,
	// The image to test, as repository@sha256:digest.
	image string,
) (*Verdict, error) {
	c, err := handover.Client(ctx)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(image, "@sha256:") {
		return nil, fmt.Errorf("test-integration: image %q is not pinned by digest (repository@sha256:...): pass the digest publish printed", image)
	}
	s, err := m.resolve(ctx)
	if err != nil {
		return nil, fmt.Errorf("test-integration: %w", err)
	}
	return m.integration(ctx, c, s, c.Container().From(image), image)
}

// integration tests img, named name.
func (m *Slipway) integration(ctx context.Context, c *sdk.Client, s settings, img *sdk.Container, name string) (*Verdict, error) {
	if m.IntegrationPackage == "" {
		if len(m.Smoke) == 0 {
			return nil, fmt.Errorf("test-integration: nothing to run: name the integration-test package (integrationPackage) or smoke probes (smoke, such as 8080/health=200)")
		}
		probes := make([]smoke.Probe, len(m.Smoke))
		for i, p := range m.Smoke {
			var err error
			if probes[i], err = smoke.ParseProbe(p); err != nil {
				return nil, fmt.Errorf("test-integration: %w", err)
			}
		}
		res, err := smoke.Run(ctx, c, img, name, probes, smoke.WithGoImage(s.goImage), smoke.WithArgs(m.Args...))
		if err != nil {
			return nil, fmt.Errorf("test-integration: %w", err)
		}
		return verdict(ctx, "test-integration", res)
	}
	host := m.IntegrationHost
	if host == "" {
		host = s.name
	}
	for _, p := range m.Ports {
		img = img.WithExposedPort(p)
	}
	svc := img.AsService(sdk.ContainerAsServiceOpts{UseEntrypoint: true, Args: m.Args})
	opts := []gotest.Option{gotest.WithTags(append(slices.Clone(m.Tags), m.IntegrationTag)...), gotest.WithCoverage(false), gotest.WithService(host, svc)}
	for _, e := range m.IntegrationEnv {
		k, port, ok := strings.Cut(e, "=")
		if !ok || k == "" || port == "" {
			return nil, fmt.Errorf("test-integration: integrationEnv %q is not NAME=PORT, such as SERVICE_URL=8080", e)
		}
		opts = append(opts, gotest.WithEnv(k, "http://"+host+":"+port))
	}
	return m.goTest(ctx, "test-integration", s, []string{m.IntegrationPackage}, opts...)
}

// SecurityTrivy scans the image, pulled by digest, for HIGH and CRITICAL
// vulnerabilities in Trivy's container; check fails naming the CVE IDs. Its
// reports hold trivy.json, trivy.sarif and gl-container-scanning-report.json.
// The scan is recorded next to the image as evidence for production's gate,
// signed with --signing-key.
// Cached for an hour, not Dagger's default seven days: a digest's scan goes
// stale when the DB learns a new CVE or an ignore entry expires.
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
	// The user for the image's registry, where the scan is recorded.
	// +optional
	registryUsername string,
	// The password or token for the image's registry.
	// +optional
	registryPassword *dagger.Secret,
	// The private key that signs the scan evidence (cosign.key's PEM;
	// --signing-key=env://SIGNING_KEY).
	// +optional
	signingKey *dagger.Secret,
	// The signing key's password.
	// +optional
	signingKeyPassword *dagger.Secret,
) (*Verdict, error) {
	c, err := handover.Client(ctx)
	if err != nil {
		return nil, err
	}
	ko, err := signingOptions(ctx, c, signingKey, signingKeyPassword)
	if err != nil {
		return nil, err
	}
	res, err := m.scan(ctx, c, image, nil, dbRepository, insecure)
	if err != nil {
		return nil, err
	}
	v, err := verdict(ctx, "security-trivy", res)
	if err != nil {
		return nil, err
	}
	v.Summary += "; " + m.recordScan(ctx, c, image, len(res.Findings), registryUsername, registryPassword, ko...)
	return v, nil
}

// scan runs Trivy over image (or img, when given, named image).
func (m *Slipway) scan(ctx context.Context, c *sdk.Client, image string, img *sdk.Container, dbRepository string, insecure bool) (*trivy.Result, error) {
	var opts []trivy.Option
	if dbRepository != "" {
		opts = append(opts, trivy.WithDBRepository(dbRepository))
		if insecure {
			host, _, _ := strings.Cut(dbRepository, "/")
			opts = append(opts, trivy.WithInsecureRegistry(host))
		}
	}
	if m.TrivyIgnore != nil {
		f, err := handover.To(ctx, m.TrivyIgnore, c.LoadFileFromID)
		if err != nil {
			return nil, err
		}
		opts = append(opts, trivy.WithIgnoreFile(f))
	}
	var res *trivy.Result
	var err error
	if img != nil {
		res, err = trivy.ScanContainer(ctx, c, img, image, opts...)
	} else {
		res, err = trivy.Scan(ctx, c, image, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("security-trivy: %w", err)
	}
	return res, nil
}

// recordScan records the scan as evidence next to the image; the scan
// stands without it (an image in a registry this session cannot write to
// is still scanned, and the gate then says the evidence is missing).
// Returns what happened, for the summary.
func (m *Slipway) recordScan(ctx context.Context, c *sdk.Client, image string, findings int, username string, password *dagger.Secret, extra ...kube.Option) string {
	return m.recordScanAs(ctx, c, "security-trivy", image, "trivy", "HIGH,CRITICAL", findings, username, password, extra...)
}

// kubeOptions are the deploy tool's settings: the registry credentials and
// the module runtime's Go settings.
func (m *Slipway) kubeOptions(username string, password *sdk.Secret) []kube.Option {
	opts := []kube.Option{kube.WithRegistryAuth(username, password)}
	for _, o := range stage.ProcessGoEnv() {
		opts = append(opts, kube.WithGoEnv(goEnvOf(o)))
	}
	return opts
}

// SecuritySast runs gosec over the source. Its reports hold gosec.json,
// gosec.sarif and gl-sast-report.json. check fails on findings unless fail
// is false.
func (m *Slipway) SecuritySast(
	ctx context.Context,
	// Whether check fails on findings.
	// +default=true
	fail bool,
) (*Verdict, error) {
	c, err := handover.Client(ctx)
	if err != nil {
		return nil, err
	}
	s, _, err := m.resolveGo(ctx)
	if err != nil {
		return nil, fmt.Errorf("security-sast: %w", err)
	}
	src, err := handover.To(ctx, m.Source, c.LoadDirectoryFromID)
	if err != nil {
		return nil, err
	}
	packages := m.GosecPackages
	if len(packages) == 0 {
		packages = m.TestPackages
	}
	opts := []gosec.Option{gosec.WithPackages(packages...), gosec.WithGoImage(s.goImage)}
	if len(m.GosecExclude) > 0 {
		opts = append(opts, gosec.WithExcludeRules(m.GosecExclude...))
	}
	for _, o := range stage.ProcessGoEnv() {
		opts = append(opts, gosec.WithGoEnv(goEnvOf(o)))
	}
	res, err := gosec.Scan(ctx, c, src, opts...)
	if err != nil {
		return nil, fmt.Errorf("security-sast: %w", err)
	}
	v, err := verdict(ctx, "security-sast", res)
	if err != nil {
		return nil, err
	}
	if v.Problem != "" && !fail {
		fmt.Println(stage.Verdict{Problem: v.Problem, Detail: v.Detail}.Message())
		v.Problem, v.Detail = "", ""
		v.Summary += " (allowed)"
	}
	return v, nil
}
