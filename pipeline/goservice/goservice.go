// Package goservice is the pipeline of a Go service built with slipway's
// Dagger module: the seed's seven jobs (build, test:unit, test:integration,
// security:trivy, security:sast, deploy:staging and a gated
// deploy:production) and the supply chain's two (sbom, security:govulncheck),
// each calling one of the module's functions, with the digest built once
// and promoted through the tests, the scans and both deploys. The build,
// the scans and the deploys sign what they record with the SIGNING_KEY
// secret; production's gate verifies it with SLIPWAY_TRUSTED_KEYS. A team's pipeline definition is a few lines:
//
//	p, err := goservice.Pipeline("billing",
//		goservice.Registry("registry.example.com/team/billing"),
//		goservice.StagingURL("https://billing.staging.example.com"),
//		goservice.ProductionURL("https://billing.example.com"))
//	files, err := generate.Files(p)
//
// The service's own settings (main packages, ports, manifests) live in the
// module's constructor, set in the repository's dagger.json; this package
// decides only which jobs run, when, and what they pass.
package goservice

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/slipway-ci/slipway/pipeline"
)

// The stages, in order.
const (
	StageBuild            = "build"
	StageTest             = "test"
	StageSecurity         = "security"
	StageDeployStaging    = "deploy-staging"
	StageDeployProduction = "deploy-production"
)

// ImageRef is the build job's output: the pushed image as
// repository@sha256:digest, which every later job reads.
const ImageRef = "IMAGE_REF"

// Job timeouts: a cold build or test run on a small runner takes minutes;
// a scan or a deploy that takes longer than these is stuck.
const (
	scanTimeout   = 20 * time.Minute
	deployTimeout = 15 * time.Minute
)

// DefaultToolchain is the name slipway's module is installed under.
const DefaultToolchain = "slipway"

// Setting is one of the module's settings: an argument of its
// constructor.
type Setting struct {
	// Name is the name dagger.json's customizations use, such as
	// stagingManifests.
	Name string
	// Type is its Go type in the module, such as []string.
	Type string
	// Default is its +default value, if any.
	Default string
}

// SettingNamed returns the setting called name.
func SettingNamed(name string) (Setting, bool) {
	for _, s := range Settings() {
		if s.Name == name {
			return s, true
		}
	}
	return Setting{}, false
}

// Option configures Pipeline.
type Option func(*config)

type config struct {
	toolchain, module                   string
	registry, username                  string
	trivyDB                             string
	stagingURL, productionURL           string
	stagingBranches, productionBranches []string
	releaseTags                         []string
	runnerTags                          []string
	engine                              *pipeline.Engine
	gitPassword                         string
	signingPassword, trustedKeys        string
	requireVerification                 bool
	notify                              Notification
	generatedFrom, regenerate           string
	extra                               []pipeline.Option
	timeout                             time.Duration
	oneJob                              bool
}

// OneJob makes the build, sbom, test and scan jobs one job, "ci": one
// `dagger call ci` (the module's Ci runs those stages in one call, in
// parallel where they allow, signing and attesting the image as publish
// does) exports every stage's reports under reports/ (sbom/, unit/,
// integration/, trivy/, govulncheck/, sast/), then a second call of it,
// answered from Dagger's cache, decides the verdict (check) and prints
// IMAGE_REF=..., which the deploy jobs read as they read build's. On
// runners whose engine starts empty every job loads the module and builds
// again, so one job is faster there (docs/pipelines.md, "Speed on
// ephemeral runners").
func OneJob() Option { return func(c *config) { c.oneJob = true } }

// Toolchain names the toolchain slipway's module is installed under in the
// repository's dagger.json (DefaultToolchain); "" calls the module's
// functions directly, as a repository whose own module is slipway's does.
func Toolchain(name string) Option { return func(c *config) { c.toolchain = name } }

// Module makes the jobs call the module at path (`dagger -m path call`)
// instead of the one at the repository root.
func Module(path string) Option { return func(c *config) { c.module = path } }

// Registry sets the default of IMAGE_REPOSITORY, the repository the build
// job pushes to. CI settings override it (a GitLab project variable, a
// GitHub repository variable).
func Registry(repository string) Option { return func(c *config) { c.registry = repository } }

// RegistryUsername sets the default of REGISTRY_USERNAME; the password is
// always the secret REGISTRY_PASSWORD.
func RegistryUsername(user string) Option { return func(c *config) { c.username = user } }

// TrivyDB sets the default of TRIVY_DB_REPOSITORY, the Trivy DB's
// repository (an internal mirror where the registry of the DB is not
// reachable).
func TrivyDB(repository string) Option { return func(c *config) { c.trivyDB = repository } }

// GitOpsPassword makes the deploy jobs pass the CI secret named secret
// (such as GIT_PASSWORD) as the GitOps repository's password or token
// (--git-password): what the gitops deploy source pushes its promote
// commits with. The module reads it only for that source, so a pipeline
// that switches sources with DEPLOY_SOURCE can carry it always.
func GitOpsPassword(secret string) Option { return func(c *config) { c.gitPassword = secret } }

// SigningKeyPassword makes the signing jobs pass the CI secret named
// secret (such as SIGNING_KEY_PASSWORD) as SIGNING_KEY's password: for a
// key cosign generate-key-pair encrypted. Without it SIGNING_KEY is an
// unencrypted PEM key.
func SigningKeyPassword(secret string) Option { return func(c *config) { c.signingPassword = secret } }

// TrustedKeys names the CI variable (default SLIPWAY_TRUSTED_KEYS) holding
// the public keys production's gate trusts, passed to deploy-production as
// --trusted-keys; "" passes none, for a repository whose module setting
// trustedKeys names a file of them.
func TrustedKeys(variable string) Option { return func(c *config) { c.trustedKeys = variable } }

// RequireVerification makes production's gate count staging's evidence
// only when a post-deploy check ran there and passed (a smoke test, the
// alerts), not the rollout alone: deploy-production --require-verification.
// Turn it on once staging's Deployment declares HTTP probes (or the
// module's verifyPaths names what to GET); a staging deploy with nothing
// to check then blocks production, with a message saying so.
func RequireVerification() Option { return func(c *config) { c.requireVerification = true } }

// Notification names the CI secrets (masked GitLab variables, GitHub
// secrets) the deploy jobs pass, as env://, to the module's notification
// arguments; an empty name leaves that service out.
type Notification struct {
	// SlackWebhook names the secret holding a Slack incoming webhook URL,
	// such as SLACK_WEBHOOK_URL.
	SlackWebhook string
	// TelegramToken names the secret holding a Telegram bot's token, such
	// as TELEGRAM_BOT_TOKEN; TelegramChat is the chat's ID (not a secret:
	// -1001234567890 or @channel).
	TelegramToken, TelegramChat string
	// Webhook names the secret holding a generic webhook's URL, such as
	// NOTIFY_WEBHOOK_URL.
	Webhook string
}

// Notify makes the deploy jobs tell the team of every deploy's outcome
// (deployed, rolled back, refused), with the digest and a link to the
// repository. The secrets must exist in the CI settings: a job whose
// env:// secret is unset fails before it deploys.
func Notify(n Notification) Option { return func(c *config) { c.notify = n } }

// args are the deploy functions' notification arguments.
func (n Notification) args() []pipeline.Arg {
	var args []pipeline.Arg
	if n.SlackWebhook != "" {
		args = append(args, pipeline.Secret("slack-webhook", n.SlackWebhook))
	}
	if n.TelegramToken != "" {
		args = append(args, pipeline.Secret("telegram-token", n.TelegramToken), pipeline.String("telegram-chat-id", n.TelegramChat))
	}
	if n.Webhook != "" {
		args = append(args, pipeline.Secret("notify-webhook", n.Webhook))
	}
	if len(args) > 0 {
		args = append(args, pipeline.FromVar("notify-link", pipeline.RepositoryURL))
	}
	return args
}

// check refuses a Telegram half-configured.
func (n Notification) check() error {
	switch {
	case n.TelegramToken != "" && n.TelegramChat == "":
		return fmt.Errorf("Notify: the Telegram token secret %s has no chat: set TelegramChat", n.TelegramToken)
	case n.TelegramToken == "" && n.TelegramChat != "":
		return fmt.Errorf("Notify: the Telegram chat %s has no token: set TelegramToken to the name of the bot token's secret", n.TelegramChat)
	}
	return nil
}

// StagingURL sets the staging environment's URL, shown by the CIs.
func StagingURL(url string) Option { return func(c *config) { c.stagingURL = url } }

// ProductionURL sets the production environment's URL.
func ProductionURL(url string) Option { return func(c *config) { c.productionURL = url } }

// StagingBranches sets the branches that deploy to staging (develop and
// main by default; release tags always do).
func StagingBranches(names ...string) Option {
	return func(c *config) { c.stagingBranches = names }
}

// ProductionBranches sets the branches whose pipelines offer the gated
// production deploy (main by default; release tags always do).
func ProductionBranches(names ...string) Option {
	return func(c *config) { c.productionBranches = names }
}

// ReleaseTags sets the tag patterns of releases (v* by default).
func ReleaseTags(patterns ...string) Option { return func(c *config) { c.releaseTags = patterns } }

// RunnerTags sets the GitLab runner tags of every job.
func RunnerTags(tags ...string) Option { return func(c *config) { c.runnerTags = tags } }

// Engine sets where every job finds its Dagger engine. The default is
// pipeline.DockerEngine(): Dagger's documented docker:dind recipe on GitLab,
// which GitLab.com's shared runners run, and the Docker of GitHub's hosted
// runners. RunnerTags without Engine means runners that bring their own.
func Engine(e pipeline.Engine) Option { return func(c *config) { c.engine = &e } }

// GeneratedFrom names the definition's file and the command that
// regenerates the CI files, for their headers.
func GeneratedFrom(file, command string) Option {
	return func(c *config) { c.generatedFrom, c.regenerate = file, command }
}

// With adds pipeline options, such as variables or an engine choice.
func With(opts ...pipeline.Option) Option {
	return func(c *config) { c.extra = append(c.extra, opts...) }
}

// Pipeline returns the pipeline of the Go service name.
//
// Which jobs run where:
//   - any branch, release tags, merge and pull requests: build, tests and
//     scans;
//   - the staging branches and release tags: also deploy:staging;
//   - the production branches and release tags: also deploy:production,
//     behind a manual approval.
func Pipeline(name string, opts ...Option) (*pipeline.Pipeline, error) {
	c := config{
		toolchain: DefaultToolchain, username: "ci", trivyDB: "ghcr.io/aquasecurity/trivy-db:2",
		stagingBranches: []string{"develop", "main"}, productionBranches: []string{"main"},
		releaseTags: []string{"v*"}, timeout: 30 * time.Minute, trustedKeys: "SLIPWAY_TRUSTED_KEYS",
	}
	for _, o := range opts {
		o(&c)
	}
	if c.registry == "" {
		c.registry = "registry.example.com/" + name
	}
	everywhere := pipeline.When(
		pipeline.OnBranches(),
		pipeline.OnTags(c.releaseTags...),
		pipeline.OnMergeRequests(),
	)
	// The deploys and the scan record and read their evidence in the
	// image's registry.
	registryUser := pipeline.FromEnv("registry-username", "REGISTRY_USERNAME")
	registryPassword := pipeline.Secret("registry-password", "REGISTRY_PASSWORD")
	// The job that pushes the image: build, or OneJob's ci.
	pusher := "build"
	if c.oneJob {
		pusher = "ci"
	}
	image := pipeline.FromJob("image", pusher, ImageRef)
	week := 7 * 24 * time.Hour
	// What every deploy passes about its source: which one, and the run
	// and commit a GitOps promote commit names.
	deploySource := []pipeline.Arg{
		pipeline.FromEnv("source", "DEPLOY_SOURCE"),
		pipeline.FromVar("revision", pipeline.CommitSHA),
		pipeline.FromVar("pipeline-id", pipeline.PipelineID),
	}
	if c.gitPassword != "" {
		deploySource = append(deploySource, pipeline.Secret("git-password", c.gitPassword))
	}
	if err := c.notify.check(); err != nil {
		return nil, fmt.Errorf("goservice: %w", err)
	}
	deploySource = append(deploySource, c.notify.args()...)
	// What signs the evidence: the key only ever as env://SIGNING_KEY.
	signing := []pipeline.Arg{pipeline.Secret("signing-key", "SIGNING_KEY")}
	if c.signingPassword != "" {
		signing = append(signing, pipeline.Secret("signing-key-password", c.signingPassword))
	}
	// The provenance names the CI's repository, and production's gate
	// expects it.
	sourceURL := pipeline.FromVar("source-url", pipeline.RepositoryURL)
	production := append([]pipeline.Arg{
		image,
		pipeline.Secret("kubeconfig", "KUBECONFIG_PRODUCTION"),
		registryUser, registryPassword,
		pipeline.Bool("approve", true),
	}, deploySource...)
	if c.trustedKeys != "" {
		production = append(production, pipeline.Secret("trusted-keys", c.trustedKeys))
	}
	if c.requireVerification {
		production = append(production, pipeline.Bool("require-verification", true))
	}
	production = append(append(production, signing...), sourceURL)

	popts := []pipeline.Option{
		pipeline.Functions(Signatures()...),
		pipeline.Var("IMAGE_REPOSITORY", c.registry),
		pipeline.Var("REGISTRY_USERNAME", c.username),
		// Plain-HTTP registries and an internal Trivy DB mirror are set per
		// CI project, never in code.
		pipeline.Var("REGISTRY_INSECURE", "false"),
		pipeline.Var("TRIVY_DB_REPOSITORY", c.trivyDB),
		pipeline.Var("TRIVY_DB_INSECURE", "false"),
		// Empty: govulncheck's database is built from golang.org/x/vulndb
		// through the Go module proxy; an image of it (slipway's engine
		// mirror serves one) where the proxy is not reachable.
		pipeline.Var("GOVULNDB_IMAGE", ""),
		// The deploy source (apply, helm or gitops); empty keeps the
		// module's deploySource setting. A CI variable switches it.
		pipeline.Var("DEPLOY_SOURCE", ""),
	}
	if c.toolchain != "" {
		popts = append(popts, pipeline.Toolchain(c.toolchain))
	}
	if c.module != "" {
		popts = append(popts, pipeline.Module(c.module))
	}
	if len(c.runnerTags) > 0 {
		popts = append(popts, pipeline.DefaultRunnerTags(c.runnerTags...))
	}
	switch {
	case c.engine != nil:
		popts = append(popts, pipeline.DefaultEngine(*c.engine))
	case len(c.runnerTags) == 0:
		popts = append(popts, pipeline.DefaultEngine(pipeline.DockerEngine()))
	}
	if c.generatedFrom != "" {
		popts = append(popts, pipeline.GeneratedFrom(c.generatedFrom, c.regenerate))
	}
	// The deploys, the same in both layouts but for what they wait for.
	deploys := func(staging ...string) []pipeline.Option {
		return []pipeline.Option{
			pipeline.Job("deploy:staging",
				pipeline.Stage(StageDeployStaging),
				pipeline.Needs(staging...),
				pipeline.Calls(pipeline.Fn("deploy-staging", append(append([]pipeline.Arg{
					image,
					pipeline.Secret("kubeconfig", "KUBECONFIG_STAGING"),
					registryUser, registryPassword,
				}, deploySource...), signing...)...)),
				pipeline.When(pipeline.OnBranches(c.stagingBranches...), pipeline.OnTags(c.releaseTags...)),
				pipeline.Deploys(pipeline.Environment{Name: "staging", URL: c.stagingURL, Tier: pipeline.Staging}),
				pipeline.Concurrency("deploy-staging"),
				pipeline.Timeout(deployTimeout),
			),
			pipeline.Job("deploy:production",
				pipeline.Stage(StageDeployProduction),
				pipeline.Needs(pusher, "deploy:staging"),
				pipeline.Calls(pipeline.Fn("deploy-production", production...)),
				pipeline.When(pipeline.OnBranches(c.productionBranches...), pipeline.OnTags(c.releaseTags...)),
				pipeline.Deploys(pipeline.Environment{Name: "production", URL: c.productionURL, Tier: pipeline.Production}),
				pipeline.Approval(),
				pipeline.Concurrency("deploy-production"),
				pipeline.Timeout(deployTimeout),
			),
		}
	}
	if c.oneJob {
		popts = append(popts, oneJob(c, everywhere, append(signing, sourceURL))...)
		popts = append(popts, deploys("ci")...)
		popts = append(popts, c.extra...)
		p, err := pipeline.New(name, popts...)
		if err != nil {
			return nil, fmt.Errorf("goservice: %w", err)
		}
		return p, nil
	}
	popts = append(popts,
		pipeline.Stages(StageBuild, StageTest, StageSecurity, StageDeployStaging, StageDeployProduction),
		pipeline.Job("build",
			pipeline.Stage(StageBuild),
			// publish signs the digest and attaches the SBOM and the SLSA
			// provenance as signed referrers.
			pipeline.Calls(pipeline.Fn("publish", append([]pipeline.Arg{
				pipeline.FromEnv("repository", "IMAGE_REPOSITORY"),
				pipeline.FromEnv("username", "REGISTRY_USERNAME"),
				pipeline.Secret("password", "REGISTRY_PASSWORD"),
				pipeline.FromVar("revision", pipeline.CommitSHA),
				pipeline.FromEnv("insecure", "REGISTRY_INSECURE"),
			}, append(signing, sourceURL)...)...)),
			pipeline.Outputs(ImageRef),
			everywhere,
			pipeline.Interruptible(),
			pipeline.Timeout(c.timeout),
		),
		// The SBOM as the CIs show it: GitLab's dependency list, a GitHub
		// artifact.
		pipeline.Job("sbom",
			pipeline.Stage(StageBuild),
			pipeline.Needs("build"),
			pipeline.Calls(Verdict(pipeline.Fn("sbom", image), "reports/sbom")),
			everywhere,
			pipeline.Interruptible(),
			pipeline.Timeout(scanTimeout),
			pipeline.Reports(pipeline.Report{Kind: pipeline.CycloneDX, Path: "reports/sbom/gl-sbom-image.cdx.json"}),
			pipeline.KeepArtifacts(week, "reports/sbom/"),
		),
		pipeline.Job("test:unit",
			pipeline.Stage(StageTest),
			pipeline.Calls(Verdict(pipeline.Fn("test-unit"), "reports/unit")),
			everywhere,
			pipeline.Interruptible(),
			pipeline.Timeout(c.timeout),
			pipeline.Reports(
				pipeline.Report{Kind: pipeline.JUnit, Path: "reports/unit/junit.xml"},
				pipeline.Report{Kind: pipeline.Cobertura, Path: "reports/unit/coverage.xml"},
			),
			pipeline.KeepArtifacts(week, "reports/unit/"),
			pipeline.Coverage(`total:\s+\(statements\)\s+(\d+\.\d+)%`),
		),
		pipeline.Job("test:integration",
			pipeline.Stage(StageTest),
			pipeline.Needs("build"),
			pipeline.Calls(Verdict(pipeline.Fn("test-integration", image), "reports/integration")),
			everywhere,
			pipeline.Interruptible(),
			pipeline.Timeout(c.timeout),
			pipeline.Reports(pipeline.Report{Kind: pipeline.JUnit, Path: "reports/integration/junit.xml"}),
			pipeline.KeepArtifacts(week, "reports/integration/"),
		),
		pipeline.Job("security:trivy",
			pipeline.Stage(StageSecurity),
			pipeline.Needs("build"),
			pipeline.Calls(Verdict(pipeline.Fn("security-trivy", append([]pipeline.Arg{image,
				pipeline.FromEnv("db-repository", "TRIVY_DB_REPOSITORY"),
				pipeline.FromEnv("insecure", "TRIVY_DB_INSECURE"),
				registryUser, registryPassword,
			}, signing...)...), "reports/trivy")),
			everywhere,
			pipeline.Interruptible(),
			pipeline.Timeout(scanTimeout),
			pipeline.Reports(
				pipeline.Report{Kind: pipeline.SARIF, Path: "reports/trivy/trivy.sarif"},
				pipeline.Report{Kind: pipeline.GitLabContainerScanning, Path: "reports/trivy/gl-container-scanning-report.json"},
			),
			pipeline.KeepArtifacts(week, "reports/trivy/"),
		),
		// govulncheck reads the source; its evidence goes next to the
		// image built from it, and, like Trivy's, blocks the deploys.
		pipeline.Job("security:govulncheck",
			pipeline.Stage(StageSecurity),
			pipeline.Needs("build"),
			pipeline.Calls(Verdict(pipeline.Fn("security-govulncheck", append([]pipeline.Arg{image,
				pipeline.FromEnv("db-image", "GOVULNDB_IMAGE"),
				registryUser, registryPassword,
			}, signing...)...), "reports/govulncheck")),
			everywhere,
			pipeline.Interruptible(),
			pipeline.Timeout(scanTimeout),
			pipeline.Reports(
				pipeline.Report{Kind: pipeline.SARIF, Path: "reports/govulncheck/govulncheck.sarif"},
				pipeline.Report{Kind: pipeline.GitLabDependencyScanning, Path: "reports/govulncheck/gl-dependency-scanning-report.json"},
			),
			pipeline.KeepArtifacts(week, "reports/govulncheck/"),
		),
		pipeline.Job("security:sast",
			pipeline.Stage(StageSecurity),
			pipeline.Calls(Verdict(pipeline.Fn("security-sast"), "reports/sast")),
			everywhere,
			pipeline.AllowFailure(),
			pipeline.Interruptible(),
			pipeline.Timeout(scanTimeout),
			pipeline.Reports(
				pipeline.Report{Kind: pipeline.SARIF, Path: "reports/sast/gosec.sarif"},
				pipeline.Report{Kind: pipeline.GitLabSAST, Path: "reports/sast/gl-sast-report.json"},
			),
			pipeline.KeepArtifacts(week, "reports/sast/"),
		),
	)
	popts = append(popts, deploys("build", "test:unit", "test:integration", "security:trivy", "security:govulncheck")...)
	popts = append(popts, c.extra...)
	p, err := pipeline.New(name, popts...)
	if err != nil {
		return nil, fmt.Errorf("goservice: %w", err)
	}
	return p, nil
}

// oneJob returns the stages and the job of OneJob: the build stage holds
// one job, ci, that reports what the build, sbom, test and scan jobs
// report and prints the pushed image's reference for the deploys.
func oneJob(c config, everywhere pipeline.JobOption, signing []pipeline.Arg) []pipeline.Option {
	return []pipeline.Option{
		pipeline.Stages(StageBuild, StageDeployStaging, StageDeployProduction),
		pipeline.Job("ci",
			pipeline.Stage(StageBuild),
			pipeline.Calls(Verdict(pipeline.Fn("ci", append([]pipeline.Arg{
				pipeline.FromVar("revision", pipeline.CommitSHA),
				pipeline.FromEnv("repository", "IMAGE_REPOSITORY"),
				pipeline.FromEnv("username", "REGISTRY_USERNAME"),
				pipeline.Secret("password", "REGISTRY_PASSWORD"),
				pipeline.FromEnv("insecure", "REGISTRY_INSECURE"),
				pipeline.FromEnv("db-repository", "TRIVY_DB_REPOSITORY"),
				pipeline.FromEnv("db-insecure", "TRIVY_DB_INSECURE"),
				pipeline.FromEnv("govuln-db-image", "GOVULNDB_IMAGE"),
			}, signing...)...), "reports")),
			// ci's verdict ends with IMAGE_REF=repository@sha256:digest.
			pipeline.LineOutputs(ImageRef),
			everywhere,
			pipeline.Interruptible(),
			pipeline.Timeout(c.timeout+scanTimeout),
			pipeline.Reports(
				pipeline.Report{Kind: pipeline.CycloneDX, Path: "reports/sbom/gl-sbom-image.cdx.json"},
				pipeline.Report{Kind: pipeline.JUnit, Path: "reports/unit/junit.xml"},
				pipeline.Report{Kind: pipeline.JUnit, Path: "reports/integration/junit.xml"},
				pipeline.Report{Kind: pipeline.Cobertura, Path: "reports/unit/coverage.xml"},
				pipeline.Report{Kind: pipeline.SARIF, Path: "reports/trivy/trivy.sarif"},
				pipeline.Report{Kind: pipeline.GitLabContainerScanning, Path: "reports/trivy/gl-container-scanning-report.json"},
				pipeline.Report{Kind: pipeline.SARIF, Path: "reports/govulncheck/govulncheck.sarif"},
				pipeline.Report{Kind: pipeline.GitLabDependencyScanning, Path: "reports/govulncheck/gl-dependency-scanning-report.json"},
				pipeline.Report{Kind: pipeline.SARIF, Path: "reports/sast/gosec.sarif"},
				pipeline.Report{Kind: pipeline.GitLabSAST, Path: "reports/sast/gl-sast-report.json"},
			),
			pipeline.KeepArtifacts(7*24*time.Hour, "reports/"),
			pipeline.Coverage(`total:\s+\(statements\)\s+(\d+\.\d+)%`),
		),
	}
}

// Define returns a definition of the Go service name's pipeline, for
// command.Main: a team's whole pipeline definition is
//
//	func main() { command.Main(goservice.Define("billing", goservice.Registry("..."))) }
func Define(name string, opts ...Option) func() (*pipeline.Pipeline, error) {
	return func() (*pipeline.Pipeline, error) { return Pipeline(name, opts...) }
}

// Verdict makes a job of a stage that returns a Verdict: it exports the
// reports to dir first, so the CI keeps them whatever the outcome, and then
// calls check, which fails the job when the stage failed.
func Verdict(c pipeline.Call, dir string) pipeline.Call {
	return c.Then("reports").Export(dir).ThenVerify("check")
}

// Customization is one entry of a toolchain's customizations in
// dagger.json: the default of one of the module's settings.
type Customization struct {
	Argument    string `json:"argument"`
	Default     string `json:"default,omitempty"`
	DefaultPath string `json:"defaultPath,omitempty"`
}

// Customize returns the customization that sets the setting name to value:
// a string as it is, a list or a number as JSON. It refuses a name that is
// not one of the module's settings, naming those it has.
func Customize(name string, value any) (Customization, error) {
	s, ok := SettingNamed(name)
	if !ok {
		var names []string
		for _, s := range Settings() {
			names = append(names, s.Name)
		}
		return Customization{}, fmt.Errorf("slipway's module has no setting %q (it has: %s)", name, strings.Join(names, ", "))
	}
	switch v := value.(type) {
	case string:
		if s.Type != "string" {
			return Customization{}, fmt.Errorf("setting %s is a %s, not a string", name, s.Type)
		}
		return Customization{Argument: name, Default: v}, nil
	default:
		raw, err := json.Marshal(v)
		if err != nil {
			return Customization{}, fmt.Errorf("setting %s: %w", name, err)
		}
		return Customization{Argument: name, Default: string(raw)}, nil
	}
}

// DaggerJSON is a repository's dagger.json that installs slipway's module
// as the toolchain DefaultToolchain, from source (such as
// github.com/slipway-ci/slipway@v0.5.0), with the service's settings.
type DaggerJSON struct {
	Name          string               `json:"name"`
	EngineVersion string               `json:"engineVersion"`
	Toolchains    []InstalledToolchain `json:"toolchains"`
}

// InstalledToolchain is one toolchain entry of a dagger.json.
type InstalledToolchain struct {
	Name           string          `json:"name"`
	Source         string          `json:"source"`
	Customizations []Customization `json:"customizations,omitempty"`
}

// Marshal renders the file: one customization a line, so that a team reads
// its settings at a glance and a diff shows each change on its own.
func (d DaggerJSON) Marshal() []byte {
	var b strings.Builder
	q := func(s string) string {
		var buf strings.Builder
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(s)
		return strings.TrimSpace(buf.String())
	}
	fmt.Fprintf(&b, "{\n  \"name\": %s,\n  \"engineVersion\": %s,\n  \"toolchains\": [\n", q(d.Name), q(d.EngineVersion))
	for i, t := range d.Toolchains {
		fmt.Fprintf(&b, "    {\n      \"name\": %s,\n      \"source\": %s", q(t.Name), q(t.Source))
		if len(t.Customizations) > 0 {
			b.WriteString(",\n      \"customizations\": [\n")
			for j, c := range t.Customizations {
				b.WriteString(`        {"argument": ` + q(c.Argument))
				if c.Default != "" {
					b.WriteString(`, "default": ` + q(c.Default))
				}
				if c.DefaultPath != "" {
					b.WriteString(`, "defaultPath": ` + q(c.DefaultPath))
				}
				b.WriteString("}")
				if j < len(t.Customizations)-1 {
					b.WriteString(",")
				}
				b.WriteString("\n")
			}
			b.WriteString("      ]")
		}
		b.WriteString("\n    }")
		if i < len(d.Toolchains)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("  ]\n}\n")
	return []byte(b.String())
}
