package conformance_test

import (
	"slices"
	"testing"

	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/github"
	"github.com/slipway-ci/slipway/pipeline/gitlab"
	"github.com/slipway-ci/slipway/pipeline/lint"
	"github.com/slipway-ci/slipway/pipeline/pipelinetest"
)

// corpusProject is the CI of a real public Go project written as a slipway
// definition: the same jobs, triggers and conditions, each job calling a
// Dagger function of the same name instead of its shell steps. The
// definitions were written from reading the projects' CI files, not copied.
type corpusProject struct {
	name string
	// source says which file of which repository the definition follows.
	source string
	p      func(t *testing.T) *pipeline.Pipeline
	// ci says which CI the project uses; the other CI's generator may
	// refuse what only this one has.
	ci string
	// refusal, when set, is the exact error of the project's own CI's
	// generator for what slipway cannot generate yet; the file is then
	// generated and linted for the other CI.
	refusal string
	// plans are the jobs each start must plan.
	plans []corpusPlan
}

type corpusPlan struct {
	start pipeline.Start
	want  []string
}

func fn(name string) pipeline.JobOption {
	return pipeline.Calls(pipeline.Fn(name, pipeline.Dir("source", ".")))
}

func mustPipeline(t *testing.T, name string, opts ...pipeline.Option) *pipeline.Pipeline {
	t.Helper()
	p, err := pipeline.New(name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var corpus = []corpusProject{
	{
		name:   "prometheus",
		source: "prometheus/prometheus .github/workflows/ci.yml (commit 00315ce1)",
		ci:     "github",
		p: func(t *testing.T) *pipeline.Pipeline {
			// Runs on every push and pull request; the full
			// cross-build only for release tags, main and release
			// branches' pull requests; the publish jobs wait for
			// every check.
			releaseTag := pipeline.OnTags("v2.*", "v3.*")
			fullBuild := pipeline.When(releaseTag, pipeline.OnMergeRequests("release-*"), pipeline.OnBranches("main"))
			checks := []string{"test_ui", "test_go", "test_go_more", "test_go_oldest", "test_windows", "golangci", "codeql", "build_all"}
			every := pipeline.When(pipeline.OnBranches(), pipeline.OnTags(), pipeline.OnMergeRequests())
			job := func(name string, opts ...pipeline.JobOption) pipeline.Option {
				return pipeline.Job(name, append([]pipeline.JobOption{pipeline.Stage("ci"), fn(pipeline.Kebab(name))}, opts...)...)
			}
			return mustPipeline(t, "prometheus",
				pipeline.Stages("ci", "publish"),
				job("test_go", every), job("test_go_more", every), job("test_go_oldest", every), job("test_ui", every),
				job("test_windows", every), job("test_mixins", every), job("check_generated_parser", every), job("golangci", every),
				job("codeql", every),
				job("fuzzing", pipeline.When(pipeline.OnMergeRequests())),
				job("build", pipeline.When(
					pipeline.OnBranches().Except("main"),
					pipeline.OnTags().Except("v2.*", "v3.*"),
					pipeline.OnMergeRequests().Except("release-*"))),
				job("build_all", fullBuild),
				job("build_all_status", pipeline.When(pipeline.OnMergeRequests("release-*")), pipeline.Needs("build_all")),
				pipeline.Job("publish_main", pipeline.Stage("publish"), fn("publish-main"), pipeline.Needs(checks...),
					pipeline.When(pipeline.OnBranches("main")),
					pipeline.Calls(pipeline.Fn("publish-main", pipeline.Secret("docker-hub-password", "docker_hub_password"), pipeline.Secret("quay-io-password", "quay_io_password")))),
				pipeline.Job("publish_release", pipeline.Stage("publish"), pipeline.Needs(checks...), pipeline.When(releaseTag),
					pipeline.Calls(pipeline.Fn("publish-release", pipeline.Secret("docker-hub-password", "docker_hub_password"),
						pipeline.Secret("github-token", "PROMBOT_GITHUB_TOKEN")))),
				pipeline.Job("publish_ui_release", pipeline.Stage("publish"), pipeline.Needs("test_ui", "codeql"), every,
					pipeline.Calls(pipeline.Fn("publish-ui-release", pipeline.Secret("npm-token", "NPM_TOKEN")))),
			)
		},
		plans: []corpusPlan{
			{pipeline.Start{Event: pipeline.Push, Ref: "main"}, []string{"test_go", "test_go_more", "test_go_oldest", "test_ui", "test_windows", "test_mixins", "check_generated_parser", "golangci", "codeql", "build_all", "publish_main", "publish_ui_release"}},
			{pipeline.Start{Event: pipeline.MergeRequest, Ref: "main"}, []string{"test_go", "test_go_more", "test_go_oldest", "test_ui", "test_windows", "test_mixins", "check_generated_parser", "golangci", "codeql", "fuzzing", "build", "publish_ui_release"}},
			{pipeline.Start{Event: pipeline.MergeRequest, Ref: "release-3.1"}, []string{"test_go", "test_go_more", "test_go_oldest", "test_ui", "test_windows", "test_mixins", "check_generated_parser", "golangci", "codeql", "fuzzing", "build_all", "build_all_status", "publish_ui_release"}},
			{pipeline.Start{Event: pipeline.TagPush, Ref: "v3.1.0"}, []string{"test_go", "test_go_more", "test_go_oldest", "test_ui", "test_windows", "test_mixins", "check_generated_parser", "golangci", "codeql", "build_all", "publish_release", "publish_ui_release"}},
		},
	},
	{
		name:   "caddy",
		source: "caddyserver/caddy .github/workflows/ci.yml (commit 001523d3) and release.yml",
		ci:     "github",
		p: func(t *testing.T) *pipeline.Pipeline {
			// Tests on pushes to master and pull requests into it; the
			// s390x job only for branches of the repository itself (it
			// reads a secret) and may fail; goreleaser check everywhere,
			// the release on v* tags with the full history.
			ci := pipeline.When(pipeline.OnBranches("master"), pipeline.OnMergeRequests("master"))
			return mustPipeline(t, "caddy",
				pipeline.Stages("test", "release"),
				pipeline.Job("test", pipeline.Stage("test"), ci, fn("test"), pipeline.KeepArtifacts(0, "cmd/caddy/caddy")),
				pipeline.Job("s390x-test", pipeline.Stage("test"), pipeline.AllowFailure(),
					pipeline.When(pipeline.OnMergeRequests("master").If(pipeline.SameProject())),
					pipeline.Calls(pipeline.Fn("s390x-test", pipeline.Dir("source", "."), pipeline.Secret("ssh-key", "S390X_SSH_KEY")))),
				pipeline.Job("goreleaser-check", pipeline.Stage("test"), ci, fn("goreleaser-check")),
				pipeline.Job("release", pipeline.Stage("release"), pipeline.When(pipeline.OnTags("v*")),
					pipeline.WithCheckout(pipeline.Checkout{Depth: pipeline.FullHistory, Tags: true}),
					pipeline.Permissions(pipeline.Contents.Write(), pipeline.IDTokens.Write(), pipeline.Packages.Write()),
					pipeline.Calls(pipeline.Fn("release", pipeline.Dir("source", "."), pipeline.CISecret("github-token", pipeline.JobToken),
						pipeline.IDToken("sigstore-token", "SIGSTORE_ID_TOKEN", "sigstore")))),
			)
		},
		plans: []corpusPlan{
			{pipeline.Start{Event: pipeline.Push, Ref: "master"}, []string{"test", "goreleaser-check"}},
			{pipeline.Start{Event: pipeline.MergeRequest, Ref: "master"}, []string{"test", "s390x-test", "goreleaser-check"}},
			{pipeline.Start{Event: pipeline.MergeRequest, Ref: "master", Fork: true}, []string{"test", "goreleaser-check"}},
			{pipeline.Start{Event: pipeline.TagPush, Ref: "v2.10.0"}, []string{"release"}},
		},
	},
	{
		name:   "gitea",
		source: "go-gitea/gitea .github/workflows: pull-compliance.yml, release-nightly.yml, release-tag-version.yml",
		ci:     "github",
		// The per-job path filters get GitHub's change-detection job,
		// but the release job's exclusion v1*-rc* has two "*", which a
		// job's if: (startsWith, endsWith) cannot match exactly: GitHub
		// refuses, and the GitLab file (rules:changes, a regular
		// expression) is checked.
		refusal: `github: job "release-tag": the ref pattern "v1*-rc*" has more than one "*", which GitHub's expressions (startsWith, endsWith) cannot match exactly`,
		p: func(t *testing.T) *pipeline.Pipeline {
			// Pull requests run the compliance checks, each only when
			// its files changed; main and release branches publish
			// nightlies; v1 tags (not release candidates) publish a
			// release with the full history.
			pr := pipeline.OnMergeRequests()
			return mustPipeline(t, "gitea",
				pipeline.Stages("changes", "lint", "release"),
				pipeline.Job("lint-backend", pipeline.Stage("lint"), pipeline.When(pr.WithChanges("**/*.go", "go.mod", "go.sum")), fn("lint-backend")),
				pipeline.Job("lint-templates", pipeline.Stage("lint"), pipeline.When(pr.WithChanges("templates/**")), fn("lint-templates")),
				pipeline.Job("lint-frontend", pipeline.Stage("lint"), pipeline.When(pr.WithChanges("web_src/**", "package.json")), fn("lint-frontend")),
				pipeline.Job("nightly-binary", pipeline.Stage("release"), pipeline.When(pipeline.OnBranches("main", "release/v*").If(pipeline.ProjectIs("go-gitea/gitea"))),
					pipeline.WithCheckout(pipeline.Checkout{Depth: pipeline.FullHistory, Tags: true}),
					pipeline.Calls(pipeline.Fn("nightly-binary", pipeline.Dir("source", "."), pipeline.Secret("gpg-key", "GPGSIGN_KEY")))),
				pipeline.Job("release-tag", pipeline.Stage("release"),
					pipeline.When(pipeline.OnTags("v1.*").Except("v1*-rc*", "v1*-dev").If(pipeline.ProjectIs("go-gitea/gitea"))),
					pipeline.WithCheckout(pipeline.Checkout{Depth: pipeline.FullHistory, Tags: true}),
					pipeline.Permissions(pipeline.Contents.Write(), pipeline.Packages.Write()),
					pipeline.Calls(pipeline.Fn("release-tag", pipeline.Dir("source", "."), pipeline.CISecret("token", pipeline.JobToken)))),
			)
		},
		plans: []corpusPlan{
			{pipeline.Start{Event: pipeline.Push, Ref: "main", Project: "go-gitea/gitea"}, []string{"nightly-binary"}},
			{pipeline.Start{Event: pipeline.Push, Ref: "main", Project: "someone/gitea"}, nil},
			{pipeline.Start{Event: pipeline.MergeRequest, Ref: "main"}, []string{"lint-backend", "lint-templates", "lint-frontend"}},
			{pipeline.Start{Event: pipeline.TagPush, Ref: "v1.23.0", Project: "go-gitea/gitea"}, []string{"release-tag"}},
			{pipeline.Start{Event: pipeline.TagPush, Ref: "v1.23.0-rc1", Project: "go-gitea/gitea"}, nil},
		},
	},
	{
		name:   "traefik",
		source: "traefik/traefik .github/workflows: validate.yaml, test-unit.yaml, test-integration.yaml",
		ci:     "github",
		p: func(t *testing.T) *pipeline.Pipeline {
			// Pull requests and pushes to master and v* branches;
			// documentation-only changes skip the Go jobs.
			on := pipeline.When(pipeline.OnBranches("master", "v*"), pipeline.OnMergeRequests())
			return mustPipeline(t, "traefik",
				pipeline.Stages("validate", "test"),
				pipeline.Job("validate", pipeline.Stage("validate"), on, fn("validate")),
				pipeline.Job("validate-generate", pipeline.Stage("validate"), on, fn("validate-generate")),
				pipeline.Job("test-unit", pipeline.Stage("test"), pipeline.Needs("validate"), on, fn("test-unit")),
				pipeline.Job("test-integration", pipeline.Stage("test"), pipeline.Needs("validate"), on, fn("test-integration"),
					pipeline.Timeout(60*60e9), pipeline.Retry(1), pipeline.RetryWhen(pipeline.ScriptFailure)),
			)
		},
		plans: []corpusPlan{
			{pipeline.Start{Event: pipeline.Push, Ref: "master"}, []string{"validate", "validate-generate", "test-unit", "test-integration"}},
			{pipeline.Start{Event: pipeline.MergeRequest, Ref: "v3.3"}, []string{"validate", "validate-generate", "test-unit", "test-integration"}},
			{pipeline.Start{Event: pipeline.TagPush, Ref: "v3.3.0"}, nil},
			{pipeline.Start{Event: pipeline.Push, Ref: "feature/x"}, nil},
		},
	},
	{
		name:   "gitlab-runner",
		source: "gitlab-org/gitlab-runner .gitlab-ci.yml and .gitlab/ci/*.gitlab-ci.yml",
		ci:     "gitlab",
		p: func(t *testing.T) *pipeline.Pipeline {
			// Merge requests, the default branch, stable branches and
			// tags; releases only in the canonical project; the
			// stable release waits for a person; downstream QA on
			// the default branch runs late and may fail.
			canonical := pipeline.ProjectIs("gitlab-org/gitlab-runner")
			all := pipeline.When(pipeline.OnMergeRequests(), pipeline.OnBranches("main", "*-stable"), pipeline.OnTags("v*"))
			return mustPipeline(t, "gitlab-runner",
				pipeline.Stages("prepare", "test", "build", "release", "postrelease"),
				pipeline.DefaultEngine(pipeline.DockerEngine()),
				pipeline.Job("prepare done", pipeline.Stage("prepare"), all, fn("prepare")),
				pipeline.Job("unit test", pipeline.Stage("test"), all, pipeline.Needs("prepare done"), fn("unit-test"),
					pipeline.Reports(pipeline.Report{Kind: pipeline.JUnit, Path: ".testoutput/junit.xml"}, pipeline.Report{Kind: pipeline.Cobertura, Path: ".cover/coverage.xml"}),
					pipeline.Retry(2), pipeline.RetryWhen(pipeline.RunnerSystemFailure, pipeline.StuckOrTimeoutFailure, pipeline.ScriptFailure)),
				pipeline.Job("code_quality", pipeline.Stage("test"), all, fn("code-quality"), pipeline.AllowFailure()),
				pipeline.Job("binaries", pipeline.Stage("build"), all, pipeline.Needs("prepare done"), fn("binaries"), pipeline.KeepArtifacts(7*24*3600e9, "out/binaries/")),
				pipeline.Job("release development S3", pipeline.Stage("release"), pipeline.Needs("binaries", "unit test"),
					pipeline.When(pipeline.OnMergeRequests().If(pipeline.SameProject())),
					pipeline.Calls(pipeline.Fn("release-s3", pipeline.Dir("source", "."), pipeline.Secret("aws-key", "AWS_SECRET_ACCESS_KEY")))),
				pipeline.Job("release bleeding edge S3", pipeline.Stage("release"), pipeline.Needs("binaries", "unit test"),
					pipeline.When(pipeline.OnBranches("main").If(canonical)),
					pipeline.Calls(pipeline.Fn("release-s3", pipeline.Dir("source", "."), pipeline.Secret("aws-key", "AWS_SECRET_ACCESS_KEY")))),
				pipeline.Job("release stable S3", pipeline.Stage("release"), pipeline.Needs("binaries", "unit test"),
					pipeline.When(pipeline.OnTags("/^v[0-9]+\\.[0-9]+\\.[0-9]+$/").If(canonical).Manually()),
					pipeline.Deploys(pipeline.Environment{Name: "stable/s3", URL: "https://gitlab-runner-downloads.s3.amazonaws.com/latest/index.html", Tier: pipeline.Staging}),
					pipeline.Calls(pipeline.Fn("release-s3", pipeline.Dir("source", "."), pipeline.Secret("aws-key", "AWS_SECRET_ACCESS_KEY")))),
				pipeline.Job("static QA", pipeline.Stage("postrelease"), pipeline.When(pipeline.OnBranches("main").If(canonical)),
					pipeline.NeedsOptional("release bleeding edge S3"), pipeline.AllowFailure(), pipeline.Delay(10*60e9), fn("static-qa")),
			)
		},
		plans: []corpusPlan{
			{pipeline.Start{Event: pipeline.Push, Ref: "main", Project: "gitlab-org/gitlab-runner"}, []string{"prepare done", "unit test", "code_quality", "binaries", "release bleeding edge S3", "static QA"}},
			{pipeline.Start{Event: pipeline.Push, Ref: "main", Project: "someone/gitlab-runner"}, []string{"prepare done", "unit test", "code_quality", "binaries"}},
			{pipeline.Start{Event: pipeline.MergeRequest, Ref: "main"}, []string{"prepare done", "unit test", "code_quality", "binaries", "release development S3"}},
			{pipeline.Start{Event: pipeline.MergeRequest, Ref: "main", Fork: true}, []string{"prepare done", "unit test", "code_quality", "binaries"}},
			{pipeline.Start{Event: pipeline.TagPush, Ref: "v17.0.0", Project: "gitlab-org/gitlab-runner"}, []string{"prepare done", "unit test", "code_quality", "binaries", "release stable S3"}},
			{pipeline.Start{Event: pipeline.TagPush, Ref: "v17.0.0-rc1", Project: "gitlab-org/gitlab-runner"}, []string{"prepare done", "unit test", "code_quality", "binaries"}},
		},
	},
}

// TestCorpus writes the CI of five real Go projects as slipway
// definitions and checks that each validates, generates a file for its own
// CI that passes the schemas, the cross-reference checks and actionlint,
// and plans the jobs the project's CI runs for pushes, pull or merge
// requests and tags.
func TestCorpus(t *testing.T) {
	for _, c := range corpus {
		t.Run(c.name, func(t *testing.T) {
			p := c.p(t)
			fns := lint.WithFunctions(pipelinetest.Functions(p)...)
			ci := c.ci
			if c.refusal != "" {
				var err error
				if ci == "github" {
					_, err = github.Generate(p)
					ci = "gitlab"
				} else {
					_, err = gitlab.Generate(p)
					ci = "github"
				}
				if err == nil || err.Error() != c.refusal {
					t.Errorf("generating for %s: error %v, want %q", c.ci, err, c.refusal)
				}
			}
			switch ci {
			case "github":
				out, err := github.Generate(p)
				if err != nil {
					t.Fatalf("%s: github.Generate: %v", c.source, err)
				}
				if err := lint.GitHub(out, fns); err != nil {
					t.Fatalf("%s: %v\n%s", c.source, err, out)
				}
			case "gitlab":
				out, err := gitlab.Generate(p)
				if err != nil {
					t.Fatalf("%s: gitlab.Generate: %v", c.source, err)
				}
				if err := lint.GitLab(out, fns); err != nil {
					t.Fatalf("%s: %v\n%s", c.source, err, out)
				}
			}
			for _, pl := range c.plans {
				var got []string
				for _, j := range p.PlanFor(pl.start) {
					got = append(got, j.Name)
				}
				if !slices.Equal(got, pl.want) {
					t.Errorf("%+v: planned %q, want %q", pl.start, got, pl.want)
				}
			}
		})
	}
}
