package pipelinetest

import (
	"fmt"
	"time"

	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/goservice"
)

// Feature is a small pipeline that shows one feature of the model, for the
// golden files of the generators and the runner tests.
type Feature struct {
	// Name names the golden files: testdata/golden/<Name>.gitlab-ci.yml
	// and <Name>.github.yml.
	Name string
	// Pipeline uses the feature.
	Pipeline *pipeline.Pipeline
	// GitLabRefusal and GitHubRefusal, when not empty, are the exact errors
	// the generator returns because its CI lacks the feature.
	GitLabRefusal, GitHubRefusal string
	// NoGitLabRun and NoGitHubRun, when not empty, say why the local runner
	// (gitlab-ci-local, act) cannot run the generated file, such as an
	// OIDC token that only the CI service has. (Files with docker:dind
	// services run, through shimrun.StandInDockerEngine.)
	NoGitLabRun, NoGitHubRun string
	// NoGitLabPlan, when not empty, says why gitlab-ci-local cannot even
	// list the jobs of the generated file for some refs.
	NoGitLabPlan string
	// Files are more files of the repository the runner tests run in, by
	// slash-separated path, such as the CI file a local include names.
	Files map[string][]byte
	// IncludedJobs are the jobs those files add: the CI plans them beside
	// the model's, and each prints "included job NAME ran".
	IncludedJobs []string
	// Reusable says the golden files are the pipeline as others reuse it:
	// a GitHub reusable workflow (github.Callable) and a GitLab CI/CD
	// component template (gitlab.AsComponent). The runner tests run the
	// plain files.
	Reusable bool
}

// everywhere is the rule set most feature pipelines run their jobs on.
var everywhere = pipeline.When(pipeline.OnBranches(), pipeline.OnTags("v*"), pipeline.OnMergeRequests())

func mustNew(name string, opts ...pipeline.Option) *pipeline.Pipeline {
	p, err := pipeline.New(name, opts...)
	if err != nil {
		panic(fmt.Sprintf("pipelinetest: feature %q: %v", name, err))
	}
	return p
}

// buildTest is the two-job pipeline most features extend: build prints an
// image reference that test reads.
func buildTest(name string, pipelineOpts []pipeline.Option, buildOpts, testOpts []pipeline.JobOption) *pipeline.Pipeline {
	opts := append([]pipeline.Option{
		pipeline.Stages("build", "test"),
		pipeline.GeneratedFrom("pipeline/pipelinetest/features.go", "go test ./pipeline/conformance -run TestGolden -update"),
	}, pipelineOpts...)
	opts = append(opts,
		pipeline.Job("build", append([]pipeline.JobOption{
			pipeline.Stage("build"), everywhere,
			pipeline.Calls(pipeline.Fn("publish", pipeline.Dir("source", "."))),
			pipeline.Outputs("IMAGE_REF"),
		}, buildOpts...)...),
		pipeline.Job("test", append([]pipeline.JobOption{
			pipeline.Stage("test"), everywhere, pipeline.Needs("build"),
			pipeline.Calls(pipeline.Fn("test", pipeline.FromJob("image", "build", "IMAGE_REF"))),
		}, testOpts...)...),
	)
	return mustNew(name, opts...)
}

// Features returns one pipeline per feature, in a stable order.
func Features() []Feature {
	return []Feature{
		{
			Name:     "engine-docker",
			Pipeline: buildTest("engine-docker", []pipeline.Option{pipeline.DefaultEngine(pipeline.DockerEngine())}, nil, nil),
		},
		{
			Name: "engine-runner",
			Pipeline: buildTest("engine-runner", []pipeline.Option{
				pipeline.DefaultEngine(pipeline.RunnerEngine("kube-pod://dagger-engine-0?namespace=dagger")),
				pipeline.DefaultRunnerTags("dagger"),
				pipeline.DefaultRunsOn("self-hosted", "dagger"),
			}, nil, nil),
		},
		{
			Name: "engine-cloud",
			Pipeline: buildTest("engine-cloud", []pipeline.Option{pipeline.DefaultEngine(pipeline.CloudEngine())},
				nil, []pipeline.JobOption{pipeline.UseEngine(pipeline.DockerEngine().WithTraces())}),
		},
		{
			Name: "credentials",
			Pipeline: buildTest("credentials", nil, []pipeline.JobOption{
				pipeline.Calls(pipeline.Fn("publish", pipeline.Dir("source", "."),
					pipeline.FromVar("registry", pipeline.Registry),
					pipeline.FromVar("username", pipeline.RegistryUser),
					pipeline.CISecret("password", pipeline.RegistryPassword))),
				pipeline.Permissions(pipeline.Packages.Write(), pipeline.Attestations.Write()),
			}, []pipeline.JobOption{
				pipeline.Calls(pipeline.Fn("test", pipeline.FromJob("image", "build", "IMAGE_REF"),
					pipeline.FromVar("project", pipeline.ProjectPath),
					pipeline.CISecret("token", pipeline.JobToken))),
				pipeline.Permissions(pipeline.PullRequests.Write(), pipeline.Checks.Write()),
			}),
		},
		{
			Name: "oidc",
			Pipeline: buildTest("oidc", nil, nil, []pipeline.JobOption{
				pipeline.Calls(pipeline.Fn("test", pipeline.FromJob("image", "build", "IMAGE_REF"),
					pipeline.IDToken("aws-token", "AWS_ID_TOKEN", "sts.amazonaws.com"),
					pipeline.IDToken("vault-token", "VAULT_ID_TOKEN", "https://vault.example.com"))),
			}),
			NoGitLabRun: "gitlab-ci-local issues no OIDC ID tokens",
			NoGitHubRun: "act has no OIDC token service",
		},
		{
			Name: "conditions",
			Pipeline: mustNew("conditions",
				pipeline.Stages("build", "deploy"),
				pipeline.Var("DEPLOY", "on"),
				pipeline.Job("build", pipeline.Stage("build"),
					pipeline.When(
						pipeline.OnBranches().Except("gh-pages"),
						pipeline.OnTags("v*", `/^release-/`),
						pipeline.OnMergeRequests().If(pipeline.SameProject()),
					),
					pipeline.Calls(pipeline.Fn("publish", pipeline.Dir("source", "."))),
					pipeline.Outputs("IMAGE_REF")),
				pipeline.Job("deploy", pipeline.Stage("deploy"), pipeline.Needs("build"),
					pipeline.When(
						pipeline.OnBranches("main", "release/*-stable").If(pipeline.And(
							pipeline.ProjectIs("acme/app"),
							pipeline.Env("DEPLOY").IsNot("off"),
							pipeline.Or(pipeline.CIVar(pipeline.RefName).Matches("^main$"), pipeline.Env("FORCE_DEPLOY").IsSet()),
						)),
						pipeline.OnTags("v*.0").If(pipeline.Not(pipeline.Env("SKIP_TAG_DEPLOY").IsSet())),
					),
					pipeline.Calls(pipeline.Fn("deploy", pipeline.FromJob("image", "build", "IMAGE_REF")))),
			),
		},
		{
			Name: "checkout",
			Pipeline: mustNew("checkout",
				pipeline.Stages("build", "release"),
				pipeline.Job("build", pipeline.Stage("build"), everywhere,
					pipeline.WithCheckout(pipeline.Checkout{Depth: 50, Submodules: pipeline.RecursiveSubmodules}),
					pipeline.Calls(pipeline.Fn("publish", pipeline.Dir("source", "."))),
					pipeline.Outputs("IMAGE_REF")),
				pipeline.Job("release", pipeline.Stage("release"), pipeline.Needs("build"), pipeline.When(pipeline.OnTags("v*")),
					pipeline.WithCheckout(pipeline.Checkout{Depth: pipeline.FullHistory, Tags: true}),
					pipeline.Calls(pipeline.Fn("release", pipeline.Dir("source", "."), pipeline.FromJob("image", "build", "IMAGE_REF")))),
				pipeline.Job("notify", pipeline.Stage("release"), pipeline.Needs("build"), pipeline.When(pipeline.OnTags("v*")),
					pipeline.WithCheckout(pipeline.Checkout{Skip: true}),
					pipeline.Calls(pipeline.Fn("notify", pipeline.FromJob("image", "build", "IMAGE_REF")))),
			),
		},
		{
			Name: "ref-exclusions",
			Pipeline: buildTest("ref-exclusions", nil, []pipeline.JobOption{
				pipeline.When(pipeline.OnBranches().Except("gh-pages", `/^dependabot\//`), pipeline.OnTags("v*").Except("v*-rc")),
			}, []pipeline.JobOption{
				pipeline.When(pipeline.OnBranches("main", "release/*").Except("release/old*"), pipeline.OnTags("v*")),
			}),
			NoGitLabPlan: "gitlab-ci-local 4.65.1 evaluates `null !~ /re/` as false (GitLab: true) and cannot translate rules holding two regular expressions",
		},
		{
			Name: "run-policies",
			Pipeline: mustNew("run-policies",
				pipeline.Stages("build", "test", "report"),
				pipeline.Job("build", pipeline.Stage("build"), everywhere,
					pipeline.Calls(pipeline.Fn("publish", pipeline.Dir("source", "."))),
					pipeline.Retry(2), pipeline.RetryWhen(pipeline.ScriptFailure, pipeline.RunnerSystemFailure), pipeline.RetryExitCodes(137)),
				pipeline.Job("docs", pipeline.Stage("build"), pipeline.When(pipeline.OnBranches("main")),
					pipeline.Calls(pipeline.Fn("docs", pipeline.Dir("source", ".")))),
				pipeline.Job("lint", pipeline.Stage("test"), everywhere, pipeline.NeedsOptional("docs"), pipeline.Needs("build"),
					pipeline.Calls(pipeline.Fn("lint", pipeline.Dir("source", "."))),
					pipeline.AllowFailureOn(3, 4)),
				pipeline.Job("notify", pipeline.Stage("report"), everywhere, pipeline.RunsOnFailure(),
					pipeline.Calls(pipeline.Fn("notify", pipeline.Secret("webhook", "CHAT_WEBHOOK")))),
				pipeline.Job("cleanup", pipeline.Stage("report"), everywhere, pipeline.RunsAlways(),
					pipeline.Calls(pipeline.Fn("cleanup"))),
			),
		},
		{
			Name:          "delayed",
			Pipeline:      buildTest("delayed", nil, nil, []pipeline.JobOption{pipeline.Delay(30 * time.Minute)}),
			GitHubRefusal: `github: job "test": GitHub Actions cannot delay a job (GitLab's when: delayed, start_in); use an environment wait timer in the repository settings, or drop pipeline.Delay`,
		},
		{
			Name: "manual-rule",
			Pipeline: mustNew("manual-rule",
				pipeline.Stages("deploy"),
				pipeline.Job("deploy", pipeline.Stage("deploy"),
					pipeline.When(pipeline.OnBranches("main"), pipeline.OnTags("v*").Manually()),
					pipeline.Calls(pipeline.Fn("deploy")))),
			GitHubRefusal: `github: job "deploy": a manual rule (Manually) waits for a person on some events only, which GitHub cannot do: it gates a job through its environment's reviewers on every run; use pipeline.Approval()`,
		},
		{
			Name: "triggers",
			Pipeline: mustNew("triggers",
				pipeline.Stages("build", "test"),
				pipeline.Cron("nightly", "0 2 * * *"),
				pipeline.Cron("weekly", "0 4 * * 1"),
				pipeline.Job("build", pipeline.Stage("build"),
					pipeline.When(pipeline.OnBranches("main"), pipeline.OnMergeQueue("main"), pipeline.OnTriggered(), pipeline.OnSchedule()),
					pipeline.Calls(pipeline.Fn("build", pipeline.Dir("source", ".")))),
				pipeline.Job("test:nightly", pipeline.Stage("test"),
					pipeline.When(pipeline.OnSchedule("nightly")),
					pipeline.Calls(pipeline.Fn("test", pipeline.Dir("source", ".")))),
				pipeline.Job("test:weekly", pipeline.Stage("test"),
					pipeline.When(pipeline.OnSchedule("weekly"), pipeline.OnDispatch()),
					pipeline.Calls(pipeline.Fn("test-all", pipeline.Dir("source", ".")))),
			),
		},
		{
			Name: "matrix",
			Pipeline: mustNew("matrix",
				pipeline.Stages("build", "test", "release"),
				pipeline.Job("build", pipeline.Stage("build"), everywhere,
					pipeline.Calls(pipeline.Fn("publish", pipeline.Dir("source", "."))),
					pipeline.Outputs("IMAGE_REF")),
				pipeline.Job("test", pipeline.Stage("test"), everywhere, pipeline.Needs("build"),
					pipeline.RunsMatrix(pipeline.Axis("GO_VERSION", "1.24", "1.25"), pipeline.Axis("GOOS", "linux", "darwin")),
					pipeline.MatrixExclude(pipeline.Cell{"GO_VERSION": "1.24", "GOOS": "darwin"}),
					pipeline.MatrixInclude(pipeline.Cell{"GO_VERSION": "1.26", "GOOS": "linux"}),
					pipeline.Calls(pipeline.Fn("test", pipeline.FromJob("image", "build", "IMAGE_REF"),
						pipeline.FromMatrix("go-version", "GO_VERSION"), pipeline.FromMatrix("goos", "GOOS")))),
				pipeline.Job("lint", pipeline.Stage("test"), everywhere,
					pipeline.RunsMatrix(pipeline.Axis("LINTER", "vet", "staticcheck")),
					pipeline.Calls(pipeline.Fn("lint", pipeline.Dir("source", "."), pipeline.FromMatrix("linter", "LINTER")))),
				// Needs a matrix job: waits for all of its cells.
				pipeline.Job("release", pipeline.Stage("release"), pipeline.When(pipeline.OnTags("v*")), pipeline.Needs("build", "test", "lint"),
					pipeline.Calls(pipeline.Fn("release", pipeline.FromJob("image", "build", "IMAGE_REF")))),
			),
		},
		{
			Name: "matrix-fail-fast",
			Pipeline: buildTest("matrix-fail-fast", nil, nil, []pipeline.JobOption{
				pipeline.RunsMatrix(pipeline.Axis("PLATFORM", "linux/amd64", "linux/arm64")),
				pipeline.FailFast(), pipeline.MaxParallel(1),
				pipeline.Calls(pipeline.Fn("test", pipeline.FromJob("image", "build", "IMAGE_REF"), pipeline.FromMatrix("platform", "PLATFORM"))),
			}),
			GitLabRefusal: `gitlab: job "test": a fail-fast matrix (FailFast: cancel the other cells when one fails) is GitHub's; GitLab runs every cell of a parallel:matrix job, so drop pipeline.FailFast`,
		},
		{
			Name:     "review-apps",
			Pipeline: reviewApps("review-apps", 0),
		},
		{
			Name:          "review-auto-stop",
			Pipeline:      reviewApps("review-auto-stop", 7*24*time.Hour),
			GitHubRefusal: `github: job "review": GitHub cannot stop an environment some time after its deploy (GitLab's auto_stop_in); drop AutoStopIn, or stop it with pipeline.StopsWith when the pull request closes`,
		},
		{
			Name: "reports",
			Pipeline: mustNew("reports",
				pipeline.Stages("test"),
				pipeline.Job("scan", pipeline.Stage("test"), everywhere,
					pipeline.Calls(pipeline.Fn("scan", pipeline.Dir("source", ".")).Then("reports").Export("reports").ThenVerify("check")),
					pipeline.Reports(
						pipeline.Report{Kind: pipeline.GitLabCodeQuality, Path: "reports/gl-code-quality-report.json"},
						pipeline.Report{Kind: pipeline.GitLabDependencyScanning, Path: "reports/gl-dependency-scanning-report.json"},
						pipeline.Report{Kind: pipeline.GitLabSecretDetection, Path: "reports/gl-secret-detection-report.json"},
						pipeline.Report{Kind: pipeline.CycloneDX, Path: "reports/sbom.cdx.json"},
					),
					pipeline.Summarize("summary")),
			),
		},
		{
			Name: "dotenv-report",
			Pipeline: mustNew("dotenv-report",
				pipeline.Stages("build", "test"),
				pipeline.Job("build", pipeline.Stage("build"), everywhere,
					pipeline.Calls(pipeline.Fn("build", pipeline.Dir("source", ".")).Export("out")),
					pipeline.Reports(pipeline.Report{Kind: pipeline.Dotenv, Path: "out/build.env"})),
				pipeline.Job("test", pipeline.Stage("test"), everywhere, pipeline.Needs("build"),
					pipeline.Calls(pipeline.Fn("test", pipeline.Dir("source", "."))))),
			GitHubRefusal: `github: job "build": a dotenv report (out/build.env) passes variables to later jobs on GitLab only; GitHub has no such report, so pass values with pipeline.Outputs, which both CIs do`,
			NoGitLabRun:   "the dagger stand-in exports no files, so the dotenv report the job declares is missing",
		},
		{
			Name: "github-events",
			Pipeline: mustNew("github-events",
				pipeline.Stages("build", "release"),
				pipeline.Job("build", pipeline.Stage("build"),
					pipeline.When(pipeline.OnMergeRequests().OfTypes("opened", "synchronize", "labeled"), pipeline.OnBranches("main")),
					pipeline.Calls(pipeline.Fn("build", pipeline.Dir("source", ".")))),
				pipeline.Job("release", pipeline.Stage("release"),
					pipeline.When(pipeline.OnRelease("published"), pipeline.OnTriggered("release-requested")),
					pipeline.Calls(pipeline.Fn("release", pipeline.Dir("source", ".")))),
			),
			GitLabRefusal: `gitlab: job "build": pull request activity types (opened, synchronize, labeled) are GitHub's; GitLab runs merge request pipelines on every push to the source branch`,
		},
		{
			Name: "downstream",
			Pipeline: mustNew("downstream",
				pipeline.Stages("build", "deploy"),
				pipeline.Job("build", pipeline.Stage("build"), everywhere,
					pipeline.Calls(pipeline.Fn("build", pipeline.Dir("source", ".")))),
				pipeline.Job("docs", pipeline.Stage("build"), pipeline.When(pipeline.OnMergeRequests(), pipeline.OnBranches("main")),
					pipeline.Triggers(pipeline.TriggersChild(".gitlab/docs.gitlab-ci.yml").AndWait())),
				pipeline.Job("infra", pipeline.Stage("deploy"), pipeline.Needs("build"), pipeline.When(pipeline.OnBranches("main")),
					pipeline.Triggers(pipeline.TriggersProject("acme/infra", "main").AndWait())),
				pipeline.Job("notify-downstream", pipeline.Stage("deploy"), pipeline.When(pipeline.OnTags("v*")), pipeline.Approval(),
					pipeline.Triggers(pipeline.TriggersProject("acme/releases", ""))),
			),
			GitHubRefusal: `github: job "docs": a downstream pipeline (trigger of the child pipeline .gitlab/docs.gitlab-ci.yml) is GitLab's; GitHub Actions cannot start another pipeline from a job, so call a reusable workflow with pipeline.CallsWorkflow instead`,
			NoGitLabRun:   "gitlab-ci-local cannot start downstream pipelines of other projects",
		},
		{
			Name: "dispatch-inputs",
			Pipeline: mustNew("dispatch-inputs",
				pipeline.Stages("deploy"),
				pipeline.Input(pipeline.InputSpec{Name: "TARGET", Description: "Where to deploy", Type: pipeline.ChoiceInput,
					Options: []string{"staging", "production"}, Default: "staging", Required: true}),
				pipeline.Input(pipeline.InputSpec{Name: "DRY_RUN", Description: "Only print the plan", Type: pipeline.BooleanInput, Default: "true"}),
				pipeline.Input(pipeline.InputSpec{Name: "REPLICAS", Description: "Replicas to run", Type: pipeline.NumberInput, Default: "2"}),
				pipeline.Input(pipeline.InputSpec{Name: "NOTE", Description: "A note for the deploy log"}),
				pipeline.Job("deploy", pipeline.Stage("deploy"),
					pipeline.When(pipeline.OnDispatch().If(pipeline.Env("TARGET").IsNot("production")), pipeline.OnBranches("main")),
					pipeline.Calls(pipeline.Fn("deploy", pipeline.FromEnv("target", "TARGET"), pipeline.FromEnv("dry-run", "DRY_RUN"),
						pipeline.FromEnv("replicas", "REPLICAS"), pipeline.FromEnv("note", "NOTE")))),
			),
		},
		{
			Name: "reusable-workflow",
			Pipeline: mustNew("reusable-workflow",
				pipeline.Stages("build", "deploy"),
				pipeline.Job("build", pipeline.Stage("build"), everywhere,
					pipeline.Calls(pipeline.Fn("publish", pipeline.Dir("source", "."))),
					pipeline.Outputs("IMAGE_REF")),
				pipeline.Job("deploy", pipeline.Stage("deploy"), pipeline.Needs("build"), pipeline.When(pipeline.OnBranches("main")),
					pipeline.Permissions(pipeline.IDTokens.Write()),
					pipeline.CallsWorkflow(pipeline.Workflow{
						Uses:    "acme/deploy/.github/workflows/deploy.yml@0123456789abcdef0123456789abcdef01234567",
						With:    map[string]string{"environment": "staging", "dry-run": "false"},
						Secrets: map[string]string{"kubeconfig": "STAGING_KUBECONFIG"},
						Interface: &pipeline.Interface{
							Inputs: []pipeline.InputSpec{
								{Name: "environment", Type: pipeline.ChoiceInput, Options: []string{"staging", "production"}, Required: true},
								{Name: "dry-run", Type: pipeline.BooleanInput, Default: "false"},
							},
							Secrets: []string{"kubeconfig"},
						},
					})),
			),
			NoGitHubRun:   "act would fetch acme/deploy from github.com, which the tests do not reach (internal/shimrun TestGitHubReusableWorkflowFetched runs a called workflow act fetches from a local git server)",
			GitLabRefusal: `gitlab: job "deploy": a reusable workflow (uses: acme/deploy/.github/workflows/deploy.yml@0123456789abcdef0123456789abcdef01234567) is GitHub's; GitLab composes pipelines with includes and child pipelines, so use pipeline.Includes or pipeline.TriggersChild`,
		},
		{
			Name: "includes",
			Pipeline: mustNew("includes",
				pipeline.Stages("build", "test"),
				pipeline.Includes(
					pipeline.Include{Local: "ci/lint.gitlab-ci.yml"},
					pipeline.Include{Remote: "https://example.com/ci/scan.yml", Integrity: "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="},
					pipeline.Include{Template: "Jobs/SAST.gitlab-ci.yml"},
					pipeline.Include{Project: "acme/ci-templates", File: "/go.gitlab-ci.yml", Ref: "0123456789abcdef0123456789abcdef01234567",
						Inputs: map[string]string{"go-version": "1.26"}},
					pipeline.Include{Component: "gitlab.com/components/opentofu/validate-plan@2.6.1",
						Inputs: map[string]string{"root_dir": "infra", "version": "1.10.5"},
						Interface: &pipeline.Interface{Inputs: []pipeline.InputSpec{
							{Name: "root_dir", Default: "."}, {Name: "version", Required: true}, {Name: "opentofu_version", Default: "1.10.5"}}}},
				),
				pipeline.Job("build", pipeline.Stage("build"), everywhere,
					pipeline.Calls(pipeline.Fn("build", pipeline.Dir("source", "."))))),
			GitHubRefusal: `github: the pipeline includes local ci/lint.gitlab-ci.yml: includes are GitLab's; GitHub composes workflows with reusable workflows, so call one from a job with pipeline.CallsWorkflow`,
			NoGitLabPlan:  "the included files live on example.com, gitlab.com and a GitLab the tests do not reach (internal/shimrun TestGitLabIncludesFetched runs remote, project and component includes gitlab-ci-local fetches from local servers; only GitLab's templates stay unrun)",
		},
		{
			// A local include, which gitlab-ci-local reads from the test
			// repository: its job joins the pipeline beside the model's
			// (the includes feature above has the kinds only GitLab
			// itself can fetch).
			Name: "include-local",
			Pipeline: mustNew("include-local",
				pipeline.Stages("build", "test"),
				pipeline.Includes(pipeline.Include{Local: "ci/lint.gitlab-ci.yml"}),
				pipeline.Job("build", pipeline.Stage("build"), everywhere,
					pipeline.Calls(pipeline.Fn("build", pipeline.Dir("source", "."))))),
			Files: map[string][]byte{"ci/lint.gitlab-ci.yml": []byte(`# A team's own lint job, kept beside the generated file.
lint:
  stage: test
  rules:
    - when: on_success
  script:
    - echo "included job $CI_JOB_NAME ran"
`)},
			IncludedJobs:  []string{"lint"},
			GitHubRefusal: `github: the pipeline includes local ci/lint.gitlab-ci.yml: includes are GitLab's; GitHub composes workflows with reusable workflows, so call one from a job with pipeline.CallsWorkflow`,
		},
		{
			Name: "reusable",
			Pipeline: mustNew("reusable",
				pipeline.Stages("build", "deploy"),
				pipeline.Input(pipeline.InputSpec{Name: "TARGET", Description: "Where to deploy", Type: pipeline.ChoiceInput,
					Options: []string{"staging", "production"}, Default: "staging"}),
				pipeline.Input(pipeline.InputSpec{Name: "DRY_RUN", Description: "Only print the plan", Type: pipeline.BooleanInput, Default: "false"}),
				pipeline.Job("build", pipeline.Stage("build"), everywhere,
					pipeline.Calls(pipeline.Fn("publish", pipeline.Dir("source", "."))),
					pipeline.Outputs("IMAGE_REF")),
				pipeline.Job("deploy", pipeline.Stage("deploy"), pipeline.Needs("build"), pipeline.When(pipeline.OnBranches("main")),
					pipeline.Calls(pipeline.Fn("deploy", pipeline.FromJob("image", "build", "IMAGE_REF"), pipeline.FromEnv("target", "TARGET"),
						pipeline.FromEnv("dry-run", "DRY_RUN"), pipeline.Secret("kubeconfig", "KUBECONFIG_DATA")))),
			),
			Reusable: true,
		},
		{
			Name: "outputs",
			Pipeline: mustNew("outputs",
				pipeline.Stages("build", "test"),
				pipeline.Job("build", pipeline.Stage("build"), everywhere,
					pipeline.Calls(pipeline.Fn("publish-many", pipeline.Dir("source", "."))),
					pipeline.Outputs("IMAGE_REF", "VERSION")),
				pipeline.Job("test", pipeline.Stage("test"), everywhere, pipeline.Needs("build"),
					pipeline.Calls(pipeline.Fn("test", pipeline.FromJob("image", "build", "IMAGE_REF"), pipeline.FromJob("version", "build", "VERSION")))),
				pipeline.Job("release", pipeline.Stage("test"), pipeline.When(pipeline.OnTags("v*")), pipeline.Needs("build"),
					pipeline.Calls(pipeline.Fn("release", pipeline.FromJob("version", "build", "VERSION")))),
			),
		},
		{
			Name: "monorepo",
			Pipeline: mustNew("monorepo",
				pipeline.Stages("test", "deploy"),
				pipeline.PerPackage("test", []string{"services/api", "services/web"}, []string{"go.mod", "go.sum"},
					[]pipeline.Rule{pipeline.OnBranches("main"), pipeline.OnMergeRequests()},
					func(dir string) []pipeline.JobOption {
						return []pipeline.JobOption{pipeline.Stage("test"), pipeline.Calls(pipeline.Fn("test", pipeline.Dir("source", dir)))}
					}),
				// A path filter on merge requests only: pushes to main always lint.
				pipeline.Job("lint-docs", pipeline.Stage("test"),
					pipeline.When(pipeline.OnBranches("main"), pipeline.OnMergeRequests().WithChanges("docs/**", "*.md")),
					pipeline.Calls(pipeline.Fn("lint-docs", pipeline.Dir("source", "docs")))),
				pipeline.Job("deploy", pipeline.Stage("deploy"), pipeline.When(pipeline.OnBranches("main")),
					pipeline.Calls(pipeline.Fn("deploy", pipeline.Dir("source", "."))))),
			NoGitLabPlan: "its jobs depend on the changed paths, which the per-ref runs do not make; internal/shimrun TestGitLabChangesPlanned runs it on gitlab-ci-local for pushes and merge requests that change given paths, against the model's plan for them (pipeline.Start.Changed), and TestChangeDetection covers the GitHub side's diff",
		},
		{
			Name: "paths-ignore",
			Pipeline: mustNew("paths-ignore",
				pipeline.Stages("build"),
				pipeline.Job("build", pipeline.Stage("build"),
					pipeline.When(pipeline.OnBranches("main").IgnoringChanges("docs/**", "*.md"), pipeline.OnMergeRequests().IgnoringChanges("docs/**", "*.md")),
					pipeline.Calls(pipeline.Fn("build", pipeline.Dir("source", ".")))),
				pipeline.Job("docs", pipeline.Stage("build"),
					pipeline.When(pipeline.OnBranches("main").WithChanges("docs/**"), pipeline.OnMergeRequests().WithChanges("docs/**")),
					pipeline.Calls(pipeline.Fn("docs", pipeline.Dir("source", "docs"))))),
			GitLabRefusal: `gitlab: job "build": ignoring changed paths (IgnoringChanges: docs/**, *.md) is GitHub's paths-ignore; GitLab's rules:changes cannot exclude paths, so list the paths that matter with WithChanges`,
		},
		{
			Name:     "one-job",
			Pipeline: oneJob(),
		},
	}
}

// oneJob is goservice's one-job pipeline, calling the module's own
// functions (no toolchain), as the feature files' lint expects.
func oneJob() *pipeline.Pipeline {
	p, err := goservice.Pipeline("one-job", goservice.Toolchain(""), goservice.OneJob(),
		goservice.GeneratedFrom("pipeline/pipelinetest/features.go", "go test ./pipeline/conformance -run TestGolden -update"))
	if err != nil {
		panic(fmt.Sprintf("pipelinetest: feature one-job: %v", err))
	}
	return p
}

// reviewApps deploys a review app per merge request, stopped by its stop
// job, and ships main to production without approval, on purpose.
func reviewApps(name string, autoStop time.Duration) *pipeline.Pipeline {
	return mustNew(name,
		pipeline.Stages("build", "review", "deploy"),
		pipeline.Job("build", pipeline.Stage("build"), everywhere,
			pipeline.Calls(pipeline.Fn("publish", pipeline.Dir("source", "."))),
			pipeline.Outputs("IMAGE_REF")),
		pipeline.Job("review", pipeline.Stage("review"), pipeline.Needs("build"), pipeline.When(pipeline.OnMergeRequests()),
			pipeline.Deploys(pipeline.Environment{Name: "review", PerRef: true, Tier: pipeline.Development,
				URL: "https://{ref-slug}.review.example.com", AutoStopIn: autoStop,
				Links: []pipeline.Link{{Name: "API", URL: "https://api-{ref-slug}.review.example.com"}, {Name: "Dashboard", URL: "https://grafana.example.com/d/app"}}}),
			pipeline.Calls(pipeline.Fn("deploy-review", pipeline.FromJob("image", "build", "IMAGE_REF"), pipeline.FromVar("slug", pipeline.RefSlug))),
			pipeline.StopsWith(pipeline.Fn("stop-review", pipeline.FromVar("slug", pipeline.RefSlug)))),
		pipeline.Job("production", pipeline.Stage("deploy"), pipeline.Needs("build"), pipeline.When(pipeline.OnBranches("main")),
			pipeline.Deploys(pipeline.Environment{Name: "production", Tier: pipeline.Production, URL: "https://app.example.com"}),
			pipeline.DangerouslyDeployToProductionWithoutApproval("every merge to main ships; the canary analysis rolls back"),
			pipeline.Calls(pipeline.Fn("deploy", pipeline.FromJob("image", "build", "IMAGE_REF")))),
	)
}
