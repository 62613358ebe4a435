package pipeline_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/pipeline"
)

// featureCase is one invalid definition of a feature and the exact
// problems New must report for it.
type featureCase struct {
	name string
	opts []pipeline.Option
	want []string
}

// checkProblems runs the cases: New must fail with exactly the messages.
func checkProblems(t *testing.T, cases []featureCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := pipeline.New("service", tc.opts...)
			if err == nil {
				t.Fatalf("New returned a pipeline (%d jobs), want the problems %q", len(p.Jobs()), tc.want)
			}
			var verr *pipeline.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("New error is %T (%v), want *pipeline.ValidationError", err, err)
			}
			if !slices.Equal(verr.Problems, tc.want) {
				t.Errorf("problems:\n got: %q\nwant: %q", verr.Problems, tc.want)
			}
		})
	}
}

func TestEngineValidation(t *testing.T) {
	checkProblems(t, []featureCase{{
		name: "runner host without a scheme",
		opts: valid(pipeline.DefaultEngine(pipeline.RunnerEngine("/run/dagger/engine.sock"))),
		want: []string{`engine: runner host "/run/dagger/engine.sock" must be a URL such as unix:///run/dagger/engine.sock or kube-pod://dagger-engine-0?namespace=dagger`},
	}, {
		name: "runner host with an unknown scheme",
		opts: valid(job("test", "test", pipeline.UseEngine(pipeline.RunnerEngine("http://engine:8080")))),
		want: []string{`job "test": engine: runner host "http://engine:8080" has the scheme "http", which Dagger has no driver for (it has: unix, tcp, ssh, kube-pod, image, container, docker-image, docker-container, image+docker, container+docker, image+podman, container+podman, image+nerdctl, container+nerdctl, image+finch, container+finch, dagger-cloud)`},
	}, {
		name: "runner host with a shell character",
		opts: valid(pipeline.DefaultEngine(pipeline.RunnerEngine("unix:///run/$(id)/engine.sock"))),
		want: []string{"engine: runner host \"unix:///run/$(id)/engine.sock\" must not hold spaces, quotes, $, ` or \\"},
	}, {
		name: "Docker version that is not a release",
		opts: valid(pipeline.DefaultEngine(pipeline.DockerEngine().WithDockerVersion("latest"))),
		want: []string{`engine: Docker version "latest" must be a release such as 27.5.1`},
	}, {
		name: "Docker version on a runner engine",
		opts: valid(pipeline.DefaultEngine(pipeline.RunnerEngine("").WithDockerVersion("27.5.1"))),
		want: []string{`engine: a Docker version is set on a runner-provided engine; it applies to pipeline.DockerEngine() only`},
	}, {
		name: "runner host on a Docker engine",
		opts: valid(pipeline.DefaultEngine(pipeline.Engine{Kind: pipeline.DockerEngineKind, RunnerHost: "tcp://engine:1234"})),
		want: []string{`engine: a runner host is set on a Docker engine; use pipeline.RunnerEngine(host) for an engine the runner provides`},
	}, {
		name: "cloud engine with a host",
		opts: valid(pipeline.DefaultEngine(pipeline.Engine{Kind: pipeline.CloudEngineKind, RunnerHost: "tcp://engine:1234"})),
		want: []string{`engine: a Dagger Cloud engine takes no runner host and no Docker version`},
	}, {
		name: "unknown engine kind",
		opts: valid(pipeline.DefaultEngine(pipeline.Engine{Kind: "podman"})),
		want: []string{`engine: the engine kind "podman" is unknown; use pipeline.RunnerEngine, pipeline.DockerEngine or pipeline.CloudEngine`},
	}})
}

func TestEngineAccessors(t *testing.T) {
	p, err := pipeline.New("service", valid(
		pipeline.DefaultEngine(pipeline.DockerEngine()),
		job("test", "test", pipeline.UseEngine(pipeline.CloudEngine())),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	build, _ := p.Job("build")
	test, _ := p.Job("test")
	if got := p.EngineOf(build).Mode(); got != pipeline.DockerEngineKind {
		t.Errorf("build runs on %q, want the default docker", got)
	}
	if got := p.EngineOf(test); got.Mode() != pipeline.CloudEngineKind || !got.UsesCloudToken() {
		t.Errorf("test runs on %+v, want its own cloud engine with the token", got)
	}
	if got := (pipeline.Engine{}).Mode(); got != pipeline.RunnerEngineKind {
		t.Errorf("the zero Engine is %q, want runner", got)
	}
	if got := pipeline.DockerEngine().Docker(); got != pipeline.DefaultDockerVersion {
		t.Errorf("Docker() = %q", got)
	}
}

func TestIdentityValidation(t *testing.T) {
	deploy := func(args ...pipeline.Arg) pipeline.Option {
		return job("deploy", "deploy", pipeline.Calls(pipeline.Fn("deploy", args...)))
	}
	checkProblems(t, []featureCase{{
		name: "credential as a plain value",
		opts: valid(deploy(pipeline.FromVar("token", pipeline.JobToken))),
		want: []string{`job "deploy": argument --token reads the CI credential "job-token" as a plain value; pass it with pipeline.CISecret("token", pipeline.JobToken)`},
	}, {
		name: "plain variable as a secret",
		opts: valid(deploy(pipeline.CISecret("sha", pipeline.CommitSHA))),
		want: []string{`job "deploy": argument --sha: the CI variable "commit-sha" is not a secret; pass it with pipeline.FromVar`},
	}, {
		name: "ID token with a reserved name",
		opts: valid(deploy(pipeline.IDToken("token", "CI_ID_TOKEN", "sts.amazonaws.com"))),
		want: []string{`job "deploy": ID token "CI_ID_TOKEN": names starting with CI_ are the CI's own; choose another name`},
	}, {
		name: "ID token with a bad name",
		opts: valid(deploy(pipeline.IDToken("token", "id-token", "sts.amazonaws.com"))),
		want: []string{`job "deploy": ID token "id-token": the name must hold only letters, digits and _ and not start with a digit`},
	}, {
		name: "ID token with an audience a URL cannot carry",
		opts: valid(deploy(pipeline.IDToken("token", "AWS_TOKEN", "sts amazonaws&x=1"))),
		want: []string{`job "deploy": ID token AWS_TOKEN: audience "sts amazonaws&x=1" may hold only letters, digits and ._~:/-`},
	}, {
		name: "one ID token, two audiences",
		opts: valid(deploy(pipeline.IDToken("aws", "ID_TOKEN", "sts.amazonaws.com"), pipeline.IDToken("vault", "ID_TOKEN", "https://vault.example.com"))),
		want: []string{`job "deploy": reads the ID token ID_TOKEN for two audiences ("sts.amazonaws.com", "https://vault.example.com"); give each its own name`},
	}, {
		name: "unknown permission scope",
		opts: valid(job("test", "test", pipeline.Permissions(pipeline.Scope("repo").Write()))),
		want: []string{`job "test": permission "repo" is not a GITHUB_TOKEN scope (they are: actions, attestations, checks, contents, deployments, id-token, issues, packages, pull-requests, security-events, statuses)`},
	}, {
		name: "id-token read",
		opts: valid(job("test", "test", pipeline.Permissions(pipeline.IDTokens.Read()))),
		want: []string{`job "test": permission id-token: "read" is not one of "none", "write"`},
	}, {
		name: "ID token with the permission withdrawn",
		opts: valid(job("deploy", "deploy", pipeline.Permissions(pipeline.IDTokens.None()),
			pipeline.Calls(pipeline.Fn("deploy", pipeline.IDToken("token", "AWS_TOKEN", "sts.amazonaws.com"))))),
		want: []string{`job "deploy": withdraws the id-token permission but reads an ID token; drop pipeline.IDTokens.None()`},
	}})
}

func TestIdentityCommands(t *testing.T) {
	c := pipeline.Fn("publish",
		pipeline.CISecret("password", pipeline.RegistryPassword),
		pipeline.FromVar("username", pipeline.RegistryUser),
		pipeline.FromVar("registry", pipeline.Registry),
		pipeline.IDToken("id-token", "SIGSTORE_ID_TOKEN", "sigstore"),
		pipeline.Secret("api-key", "API_KEY"))
	for _, tc := range []struct {
		env  func(pipeline.Variable) string
		want string
	}{
		{pipeline.Variable.GitLabName, `dagger call publish --password=env://CI_REGISTRY_PASSWORD --username="$CI_REGISTRY_USER" --registry="$CI_REGISTRY" --id-token=env://SIGSTORE_ID_TOKEN --api-key=env://API_KEY`},
		{pipeline.Variable.GitHubName, `dagger call publish --password=env://GITHUB_TOKEN --username="$GITHUB_ACTOR" --registry="$SLIPWAY_REGISTRY" --id-token=env://SIGSTORE_ID_TOKEN --api-key=env://API_KEY`},
	} {
		if got := c.Command("", tc.env); got != tc.want {
			t.Errorf("Command:\n got %s\nwant %s", got, tc.want)
		}
	}
	if got := c.Secrets(); !slices.Equal(got, []string{"API_KEY"}) {
		t.Errorf("Secrets() = %q, want only the stored secret API_KEY", got)
	}
	if got := c.IDTokens(); len(got) != 1 || got[0].Value != "SIGSTORE_ID_TOKEN" || got[0].Audience != "sigstore" {
		t.Errorf("IDTokens() = %+v", got)
	}
}

func TestRuleValidation(t *testing.T) {
	rule := func(r pipeline.Rule) pipeline.Option { return job("test", "test", pipeline.When(r)) }
	checkProblems(t, []featureCase{{
		name: "regular expression that does not compile",
		opts: valid(rule(pipeline.OnTags(`/^v(\d+$/`))),
		want: []string{"job \"test\": invalid tag pattern: \"/^v(\\\\d+$/\" is not a regular expression RE2 compiles: error parsing regexp: missing closing ): `^v(\\d+$`"},
	}, {
		name: "excluded pattern with a space",
		opts: valid(rule(pipeline.OnBranches().Except("gh pages"))),
		want: []string{`job "test": invalid excluded branch pattern: "gh pages" is not a valid git ref pattern: it has ' ', which git does not allow in ref names`},
	}, {
		name: "condition on a credential",
		opts: valid(rule(pipeline.OnBranches().If(pipeline.CIVar(pipeline.JobToken).IsSet()))),
		want: []string{`job "test": condition reads the CI credential "job-token"; conditions may not read secrets`},
	}, {
		name: "condition on a bad variable name",
		opts: valid(rule(pipeline.OnBranches().If(pipeline.Env("DEPLOY-ENABLED").Is("true")))),
		want: []string{`job "test": condition reads the variable "DEPLOY-ENABLED", whose name must hold only letters, digits and _ and not start with a digit`},
	}, {
		name: "condition regexp that does not compile",
		opts: valid(rule(pipeline.OnBranches().If(pipeline.Env("X").Matches("(")))),
		want: []string{"job \"test\": condition X =~ /(/: the regular expression does not compile: error parsing regexp: missing closing ): `(`"},
	}, {
		name: "empty And",
		opts: valid(rule(pipeline.OnBranches().If(pipeline.And()))),
		want: []string{`job "test": pipeline.And() and pipeline.Or() need at least one condition`},
	}, {
		name: "types on a push rule",
		opts: valid(rule(pipeline.OnBranches().OfTypes("opened"))),
		want: []string{`job "test": activity types (opened) apply to merge requests, releases, merge queues and triggered pipelines, not to push rules`},
	}, {
		name: "unknown pull request type",
		opts: valid(rule(pipeline.OnMergeRequests().OfTypes("merged"))),
		want: []string{`job "test": merge-request activity type "merged" is not one of: assigned, unassigned, labeled, unlabeled, opened, edited, closed, reopened, synchronize, converted_to_draft, ready_for_review, locked, unlocked, review_requested, review_request_removed, auto_merge_enabled, auto_merge_disabled, milestoned, demilestoned, enqueued, dequeued`},
	}, {
		name: "release with refs",
		opts: valid(rule(pipeline.Rule{Event: pipeline.Release, Refs: []string{"main"}})),
		want: []string{`job "test": a release rule matches no ref; drop its patterns`},
	}, {
		name: "undeclared schedule",
		opts: valid(rule(pipeline.OnSchedule("nightly"))),
		want: []string{`job "test": runs on the schedule "nightly", which is not declared; add pipeline.Cron("nightly", "<cron>")`},
	}, {
		name: "schedules with the same cron",
		opts: valid(pipeline.Cron("nightly", "0 2 * * *"), pipeline.Cron("night", "0 2 * * *")),
		want: []string{`schedules "nightly" and "night" have the same cron "0 2 * * *", which GitHub cannot tell apart; change one`},
	}, {
		name: "schedule with a bad cron and name",
		opts: valid(pipeline.Cron("Nightly Build", "@daily")),
		want: []string{`schedule "Nightly Build": the name must be lower-case letters, digits, - and _`, `schedule "Nightly Build": cron "@daily" must have five space-separated fields, such as "0 3 * * 1"`},
	}, {
		name: "manual rule on a gated job",
		opts: valid(job("test", "test", pipeline.Approval(), pipeline.When(pipeline.OnBranches("main").Manually()))),
		want: []string{`job "test": has a manual rule and an approval gate; every rule of a gated job is manual already, so drop Manually()`},
	}})
}

func TestPolicyValidation(t *testing.T) {
	checkProblems(t, []featureCase{{
		name: "delay over a week",
		opts: valid(job("test", "test", pipeline.Delay(8*24*time.Hour))),
		want: []string{`job "test": delay 192h0m0s must be between 0 and one week (GitLab's start_in)`},
	}, {
		name: "delay with approval",
		opts: valid(job("test", "test", pipeline.Delay(time.Hour), pipeline.Approval())),
		want: []string{`job "test": a delayed job can neither wait for approval nor run always or on failure: GitLab's when: takes one of them`},
	}, {
		name: "approval that runs always",
		opts: valid(job("test", "test", pipeline.Approval(), pipeline.RunsAlways())),
		want: []string{`job "test": a job that waits for approval runs when a person starts it; drop RunsAlways/RunsOnFailure`},
	}, {
		name: "output of an optional need",
		opts: valid(job("test", "test", pipeline.NeedsOptional("build"), pipeline.Calls(pipeline.Fn("test", pipeline.FromJob("image", "build", "IMAGE_REF"))))),
		want: []string{`job "test": reads the output IMAGE_REF of "build", which it needs optionally: the value is empty when that job is absent; make the need required`},
	}, {
		name: "retry reasons without retries",
		opts: valid(job("test", "test", pipeline.RetryWhen(pipeline.ScriptFailure))),
		want: []string{`job "test": sets when to retry but not how often; add pipeline.Retry(1) or pipeline.Retry(2)`},
	}, {
		name: "unknown retry reason and bad exit code",
		opts: valid(job("test", "test", pipeline.Retry(1), pipeline.RetryWhen("flaky"), pipeline.RetryExitCodes(0))),
		want: []string{
			`job "test": retry reason "flaky" is unknown (GitLab's are: script_failure, runner_system_failure, stuck_or_timeout_failure, api_failure, unknown_failure, scheduler_failure, data_integrity_failure, job_execution_timeout, unmet_prerequisites, runner_unsupported, stale_schedule, archived_failure, always)`,
			`job "test": retry exit code 0 must be between 1 and 255`,
		},
	}, {
		name: "allowed exit codes and allow failure",
		opts: valid(job("test", "test", pipeline.AllowFailure(), pipeline.AllowFailureOn(3, 300))),
		want: []string{`job "test": allowed exit code 300 must be between 1 and 255`, `job "test": AllowFailure already allows every exit code; drop AllowFailureOn or AllowFailure`},
	}})
}

// TestPlanForChangedPaths plans a monorepo's jobs with the paths a start
// changed: a package's job for its own directory or a shared file, a
// path-filtered job on merge requests only, paths-ignore skipping a start
// that changed only ignored paths, and an unknown change set (nil) leaving
// the filters to the CI.
func TestPlanForChangedPaths(t *testing.T) {
	p, err := pipeline.New("mono",
		pipeline.Stages("test"),
		pipeline.PerPackage("test", []string{"services/api", "services/web"}, []string{"go.mod"},
			[]pipeline.Rule{pipeline.OnBranches("main"), pipeline.OnMergeRequests()},
			func(dir string) []pipeline.JobOption {
				return []pipeline.JobOption{pipeline.Stage("test"), pipeline.Calls(pipeline.Fn("test", pipeline.Dir("source", dir)))}
			}),
		pipeline.Job("lint-docs", pipeline.Stage("test"), pipeline.Calls(pipeline.Fn("lint")),
			pipeline.When(pipeline.OnBranches("main"), pipeline.OnMergeRequests().WithChanges("docs/**", "*.md"))),
		pipeline.Job("build", pipeline.Stage("test"), pipeline.Calls(pipeline.Fn("build")),
			pipeline.When(pipeline.OnMergeRequests().IgnoringChanges("docs/**", "*.md"))),
	)
	if err != nil {
		t.Fatal(err)
	}
	mr := func(changed ...string) pipeline.Start {
		return pipeline.Start{Event: pipeline.MergeRequest, Ref: "main", Changed: changed}
	}
	for _, tc := range []struct {
		name  string
		start pipeline.Start
		want  []string
	}{
		{"unknown changes", pipeline.Start{Event: pipeline.MergeRequest, Ref: "main"}, []string{"test:services/api", "test:services/web", "lint-docs", "build"}},
		{"one package", mr("services/api/main.go"), []string{"test:services/api", "build"}},
		{"a deep file of the other", mr("services/web/static/css/site.css"), []string{"test:services/web", "build"}},
		{"a shared file", mr("go.mod"), []string{"test:services/api", "test:services/web", "build"}},
		{"docs only", mr("docs/guide/intro.md", "README.md"), []string{"lint-docs"}},
		{"a file beside the packages", mr("services/README.txt"), []string{"build"}},
		{"nothing changed", pipeline.Start{Event: pipeline.MergeRequest, Ref: "main", Changed: []string{}}, nil},
		{"a push to main with docs", pipeline.Start{Event: pipeline.Push, Ref: "main", Changed: []string{"docs/a.md"}}, []string{"lint-docs"}},
	} {
		var got []string
		for _, j := range p.PlanFor(tc.start) {
			got = append(got, j.Name)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: planned %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestPlanFor(t *testing.T) {
	p, err := pipeline.New("service",
		pipeline.Stages("build", "deploy"),
		pipeline.Var("DEPLOY", "on"),
		pipeline.Job("build", pipeline.Stage("build"), pipeline.Calls(pipeline.Fn("build")),
			pipeline.When(pipeline.OnBranches().Except("gh-pages", "/^dependabot\\//"), pipeline.OnMergeRequests().If(pipeline.SameProject()))),
		pipeline.Job("docs", pipeline.Stage("build"), pipeline.Calls(pipeline.Fn("docs")), pipeline.When(pipeline.OnBranches("main"))),
		pipeline.Job("deploy", pipeline.Stage("deploy"), pipeline.Needs("build"), pipeline.NeedsOptional("docs"), pipeline.Calls(pipeline.Fn("deploy")),
			pipeline.When(pipeline.OnBranches("main", "release/*-stable").If(pipeline.And(pipeline.ProjectIs("acme/app"), pipeline.Env("DEPLOY").IsNot("off"))))),
		pipeline.Job("notify", pipeline.Stage("deploy"), pipeline.Calls(pipeline.Fn("notify")), pipeline.RunsOnFailure()),
	)
	if err != nil {
		t.Fatal(err)
	}
	names := func(s pipeline.Start) []string {
		var out []string
		for _, j := range p.PlanFor(s) {
			out = append(out, j.Name)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		start pipeline.Start
		want  []string
	}{
		{"main in the project", pipeline.Start{Event: pipeline.Push, Ref: "main", Project: "acme/app"}, []string{"build", "docs", "deploy"}},
		{"main in a copy", pipeline.Start{Event: pipeline.Push, Ref: "main", Project: "someone/app"}, []string{"build", "docs"}},
		{"deploys switched off", pipeline.Start{Event: pipeline.Push, Ref: "main", Project: "acme/app", Vars: map[string]string{"DEPLOY": "off"}}, []string{"build", "docs"}},
		{"a stable release branch, docs absent", pipeline.Start{Event: pipeline.Push, Ref: "release/2-stable", Project: "acme/app"}, []string{"build", "deploy"}},
		{"an excluded branch", pipeline.Start{Event: pipeline.Push, Ref: "dependabot/go/x"}, nil},
		{"gh-pages", pipeline.Start{Event: pipeline.Push, Ref: "gh-pages"}, nil},
		{"a merge request from a fork", pipeline.Start{Event: pipeline.MergeRequest, Ref: "main", Fork: true}, nil},
		{"a merge request", pipeline.Start{Event: pipeline.MergeRequest, Ref: "main"}, []string{"build"}},
	} {
		if got := names(tc.start); !slices.Equal(got, tc.want) {
			t.Errorf("%s: planned %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestCheckoutValidation(t *testing.T) {
	checkProblems(t, []featureCase{{
		name: "negative depth",
		opts: valid(job("test", "test", pipeline.WithCheckout(pipeline.Checkout{Depth: -5}))),
		want: []string{`job "test": checkout depth -5 must be a number of commits, 0 for the CI's default or pipeline.FullHistory`},
	}, {
		name: "unknown submodule setting",
		opts: valid(job("test", "test", pipeline.WithCheckout(pipeline.Checkout{Submodules: "all"}))),
		want: []string{`job "test": checkout submodules "all" must be pipeline.TopSubmodules or pipeline.RecursiveSubmodules`},
	}, {
		name: "skipped checkout with a directory argument and tags",
		opts: valid(job("test", "test", pipeline.WithCheckout(pipeline.Checkout{Skip: true, Tags: true}),
			pipeline.Calls(pipeline.Fn("test", pipeline.Dir("source", "."))))),
		want: []string{`job "test": skips the checkout but sets its depth, tags or submodules`, `job "test": skips the checkout but passes --source=.; the repository is not there`},
	}})
}

func TestMatrixValidation(t *testing.T) {
	goAxis := pipeline.Axis("GO_VERSION", "1.24", "1.25")
	osAxis := pipeline.Axis("GOOS", "linux", "darwin")
	matrixJob := func(opts ...pipeline.JobOption) pipeline.Option {
		return pipeline.Job("test", append([]pipeline.JobOption{pipeline.Stage("test"),
			pipeline.Calls(pipeline.Fn("test", pipeline.FromMatrix("go", "GO_VERSION")))}, opts...)...)
	}
	checkProblems(t, []featureCase{{
		name: "argument reads a matrix without one",
		opts: valid(matrixJob()),
		want: []string{`job "test": argument reads the matrix value GO_VERSION, but the job has no matrix; add pipeline.RunsMatrix(pipeline.Axis("GO_VERSION", ...))`},
	}, {
		name: "settings without axes",
		opts: valid(job("test", "test", pipeline.FailFast())),
		want: []string{`job "test": has matrix settings but no axes; add pipeline.RunsMatrix(pipeline.Axis(name, values...))`},
	}, {
		name: "bad axis names and values",
		opts: valid(matrixJob(pipeline.RunsMatrix(goAxis, pipeline.Axis("go-os", "linux"), pipeline.Axis("CI_OS", "a"), pipeline.Axis("GO_VERSION", "1.26"),
			pipeline.Axis("EMPTY"), pipeline.Axis("ARCH", "amd64", "$(id)", "amd64", " arm64")))),
		want: []string{
			`job "test": matrix axis "go-os": the name must hold only letters, digits and _ and not start with a digit`,
			`job "test": matrix axis "CI_OS": names starting with CI_ are the CI's own; choose another name`,
			`job "test": matrix axis "GO_VERSION" is declared twice`,
			`job "test": matrix axis "EMPTY" has no values`,
			`job "test": matrix axis ARCH: value "$(id)" may hold only letters, digits, spaces and _.:/@+=~- (not at its ends)`,
			`job "test": matrix axis ARCH: value "amd64" is listed twice`,
			`job "test": matrix axis ARCH: value " arm64" may hold only letters, digits, spaces and _.:/@+=~- (not at its ends)`,
		},
	}, {
		name: "axis named like a pipeline variable",
		opts: valid(pipeline.Var("GO_VERSION", "1.25"), matrixJob(pipeline.RunsMatrix(goAxis))),
		want: []string{`job "test": matrix axis "GO_VERSION" has the name of a pipeline variable; rename one`},
	}, {
		name: "exclusions and inclusions that do not fit",
		opts: valid(matrixJob(pipeline.RunsMatrix(goAxis, osAxis),
			pipeline.MatrixExclude(pipeline.Cell{}, pipeline.Cell{"ARCH": "arm64"}, pipeline.Cell{"GOOS": "windows"}, pipeline.Cell{"GO_VERSION": "1.24", "GOOS": "darwin"}),
			pipeline.MatrixInclude(pipeline.Cell{"GO_VERSION": "1.26"}, pipeline.Cell{"GO_VERSION": "1.24", "GOOS": "darwin"},
				pipeline.Cell{"GO_VERSION": "1.25", "GOOS": "linux"}, pipeline.Cell{"GO_VERSION": "1.26", "GOOS": "a,b"}))),
		want: []string{
			`job "test": an excluded matrix cell names no axis`,
			`job "test": an excluded matrix cell names "ARCH", which is not an axis (they are: GO_VERSION, GOOS)`,
			`job "test": the excluded matrix cell {ARCH: arm64} matches no combination`,
			`job "test": the excluded matrix cell {GOOS: windows} matches no combination`,
			`job "test": an included matrix cell must name a value for every axis (GO_VERSION, GOOS), not {GO_VERSION: 1.26}`,
			`job "test": the included matrix cell {GOOS: darwin, GO_VERSION: 1.24} is also excluded; drop one`,
			`job "test": the included matrix cell {GOOS: linux, GO_VERSION: 1.25} is already a combination of the axes; drop it`,
			`job "test": an included matrix cell's value "a,b" may hold only letters, digits, spaces and _.:/@+=~- (not at its ends)`,
		},
	}, {
		name: "every cell excluded",
		opts: valid(matrixJob(pipeline.RunsMatrix(goAxis), pipeline.MatrixExclude(pipeline.Cell{"GO_VERSION": "1.24"}, pipeline.Cell{"GO_VERSION": "1.25"}))),
		want: []string{`job "test": the matrix has no cells left after its exclusions`},
	}, {
		name: "too many cells, negative max-parallel, unknown axis read, an output",
		opts: valid(pipeline.Job("test", pipeline.Stage("test"), pipeline.Calls(pipeline.Fn("test", pipeline.FromMatrix("x", "X"))),
			pipeline.RunsMatrix(pipeline.Axis("A", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15"),
				pipeline.Axis("B", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15")),
			pipeline.MaxParallel(-1), pipeline.Outputs("VERSION"))),
		want: []string{
			`job "test": the matrix has 225 cells; GitLab creates at most 200 jobs from one parallel:matrix`,
			`job "test": matrix max-parallel -1 must not be negative`,
			`job "test": argument reads the matrix value X, which is not an axis (they are: A, B)`,
			`job "test": a matrix job cannot print an output: each of its cells would print one, and a later job would read one of them at random; move the output to a job without a matrix`,
		},
	}})
}

func TestMatrixCells(t *testing.T) {
	p, err := pipeline.New("service", valid(pipeline.Job("test", pipeline.Stage("test"), pipeline.Needs("build"),
		pipeline.Calls(pipeline.Fn("test", pipeline.FromMatrix("go", "GO_VERSION"), pipeline.FromMatrix("os", "GOOS"))),
		pipeline.RunsMatrix(pipeline.Axis("GO_VERSION", "1.24", "1.25"), pipeline.Axis("GOOS", "linux", "darwin")),
		pipeline.MatrixExclude(pipeline.Cell{"GO_VERSION": "1.24", "GOOS": "darwin"}),
		pipeline.MatrixInclude(pipeline.Cell{"GO_VERSION": "1.26", "GOOS": "linux"}),
		pipeline.FailFast(), pipeline.MaxParallel(2)))...)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := p.Job("test")
	var got []string
	for _, c := range j.Matrix.Cells() {
		got = append(got, j.Matrix.CellName(j.Name, c))
	}
	want := []string{"test: [1.24, linux]", "test: [1.25, linux]", "test: [1.25, darwin]", "test: [1.26, linux]"}
	if !slices.Equal(got, want) {
		t.Errorf("cells %q, want %q", got, want)
	}
	if got, want := j.Call.Command("", nil), `dagger call test --go="$GO_VERSION" --os="$GOOS"`; got != want {
		t.Errorf("command %q, want %q", got, want)
	}
	// The copy is a copy.
	j.Matrix.Axes[0].Values[0] = "changed"
	j.Matrix.Include[0]["GOOS"] = "changed"
	again, _ := p.Job("test")
	if again.Matrix.Axes[0].Values[0] != "1.24" || again.Matrix.Include[0]["GOOS"] != "linux" {
		t.Errorf("changing a returned job's matrix changed the pipeline: %+v", again.Matrix)
	}
}

func TestEnvironmentValidation(t *testing.T) {
	review := pipeline.Environment{Name: "review", PerRef: true, Tier: pipeline.Development}
	checkProblems(t, []featureCase{{
		name: "ungated production with the opt-out but no reason",
		opts: valid(job("deploy", "deploy", pipeline.Deploys(pipeline.Environment{Name: "production", Tier: pipeline.Production}),
			pipeline.DangerouslyDeployToProductionWithoutApproval(" "))),
		want: []string{`job "deploy": DangerouslyDeployToProductionWithoutApproval needs a reason, which both CI files show at the top`},
	}, {
		name: "the opt-out on staging",
		opts: valid(job("deploy", "deploy", pipeline.Deploys(pipeline.Environment{Name: "staging", Tier: pipeline.Staging}),
			pipeline.DangerouslyDeployToProductionWithoutApproval("fast"))),
		want: []string{`job "deploy": DangerouslyDeployToProductionWithoutApproval applies to production environments only, and "staging" is staging; drop it`},
	}, {
		name: "the opt-out and a gate",
		opts: valid(job("deploy", "deploy", pipeline.Deploys(pipeline.Environment{Name: "production", Tier: pipeline.Production}),
			pipeline.Approval(), pipeline.DangerouslyDeployToProductionWithoutApproval("fast"))),
		want: []string{`job "deploy": has an approval gate and DangerouslyDeployToProductionWithoutApproval; drop one`},
	}, {
		name: "a reason on two lines",
		opts: valid(job("deploy", "deploy", pipeline.Deploys(pipeline.Environment{Name: "production", Tier: pipeline.Production}),
			pipeline.DangerouslyDeployToProductionWithoutApproval("fast\nand loose"))),
		want: []string{`job "deploy": the reason for deploying to production without approval must be one line`},
	}, {
		name: "URLs and links",
		opts: valid(job("deploy", "deploy", pipeline.Deploys(pipeline.Environment{Name: "review", PerRef: true, Tier: pipeline.Development,
			URL: "https://{ref}.example.com", AutoStopIn: 90 * time.Second,
			Links: []pipeline.Link{{Name: "API", URL: "ftp://api"}, {Name: "", URL: "https://x"}, {Name: "docs"}, {Name: "a|b", URL: "https://y"}, {Name: "ok", URL: "https://$HOME"}}}))),
		want: []string{
			`job "deploy": environment "review": URL "https://{ref}.example.com" may hold no spaces, quotes, $ or braces other than the placeholder {ref-slug}`,
			`job "deploy": environment "review": link "API" "ftp://api" must start with https:// or http://`,
			`job "deploy": environment "review": link "https://x" needs a name without |, ` + "`" + `, $ or line breaks`,
			`job "deploy": environment "review": link "docs" has no URL`,
			`job "deploy": environment "review": link "https://y" needs a name without |, ` + "`" + `, $ or line breaks`,
			`job "deploy": environment "review": link "ok" "https://$HOME" may hold no spaces, quotes, $ or braces other than the placeholder {ref-slug}`,
			`job "deploy": environment "review": auto-stop 1m30s must be whole minutes`,
		},
	}, {
		name: "a stop function without a per-ref environment",
		opts: valid(job("deploy", "deploy", pipeline.Deploys(pipeline.Environment{Name: "staging", Tier: pipeline.Staging}),
			pipeline.StopsWith(pipeline.Fn("stop")))),
		want: []string{`job "deploy": has a stop function but no per-ref environment; StopsWith stops review environments (pipeline.Environment{PerRef: true})`},
	}, {
		name: "the stop call is checked like a job's, against the module's functions",
		opts: valid(pipeline.Functions(pipeline.Signature{Name: "check"}, pipeline.Signature{Name: "build", Args: []string{"source"}}),
			job("review", "deploy", pipeline.Deploys(review), pipeline.StopsWith(pipeline.Fn("stop-review", pipeline.Secret("token", "GITHUB_TOKEN"))))),
		want: []string{
			`job "review:stop": calls the Dagger function "stop-review", which the module does not have (it has: build, check)`,
			`job "review:stop": secret "GITHUB_TOKEN" is the CI's own credential; read it with pipeline.CISecret(name, pipeline.JobToken), which both CIs provide`,
		},
	}, {
		name: "a stop job named like another job",
		opts: valid(job("review", "deploy", pipeline.Deploys(review), pipeline.StopsWith(pipeline.Fn("stop"))), job("review:stop", "deploy")),
		want: []string{`job "review": its stop job would be called "review:stop", which is another job's name; rename that job`},
	}})
}

func TestEnvironmentAccessors(t *testing.T) {
	p, err := pipeline.New("service", valid(
		job("review", "deploy", pipeline.Needs("build"), pipeline.When(pipeline.OnMergeRequests()),
			pipeline.Deploys(pipeline.Environment{Name: "review", PerRef: true, Tier: pipeline.Development,
				Links: []pipeline.Link{{Name: "API", URL: "https://api-{ref-slug}.example.com"}}}),
			pipeline.StopsWith(pipeline.Fn("stop", pipeline.FromVar("slug", pipeline.RefSlug)))),
		job("production", "deploy", pipeline.Deploys(pipeline.Environment{Name: "production", Tier: pipeline.Production}),
			pipeline.DangerouslyDeployToProductionWithoutApproval("every merge ships")),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := p.Job("review")
	stop, ok := j.StopJob()
	if !ok || stop.Name != "review:stop" || j.StopJobName() != "review:stop" || stop.Stage != "deploy" || stop.Call.Function != "stop" ||
		len(stop.Rules) != 1 || stop.Environment == nil || stop.Environment.Links != nil {
		t.Errorf("StopJob() = %+v, %v", stop, ok)
	}
	j.Environment.Links[0].Name = "changed"
	j.Stop.Args[0].Name = "changed"
	again, _ := p.Job("review")
	if again.Environment.Links[0].Name != "API" || again.Stop.Args[0].Name != "slug" {
		t.Error("changing a returned job's links or stop call changed the pipeline")
	}
	if prod, _ := p.Job("production"); prod.UngatedProduction != "every merge ships" {
		t.Errorf("UngatedProduction = %q", prod.UngatedProduction)
	}
	if _, ok := (pipeline.JobSpec{Name: "x"}).StopJob(); ok {
		t.Error("a job without a stop function has a stop job")
	}
}

func TestReportsAndSummaryValidation(t *testing.T) {
	checkProblems(t, []featureCase{{
		name: "unknown report kind, dotenv named like the outputs' file, summary not kebab-case",
		opts: valid(job("scan", "test",
			pipeline.Reports(pipeline.Report{Kind: "spdx", Path: "sbom.json"}, pipeline.Report{Kind: pipeline.Dotenv, Path: "slipway.env"}),
			pipeline.Summarize("Summary"))),
		want: []string{
			`job "scan": report "sbom.json" has the unknown kind "spdx"`,
			`job "scan": dotenv report "slipway.env" has the name of the file that holds the job's outputs; choose another`,
			`job "scan": summary function "Summary" is not kebab-case as ` + "`dagger call`" + ` spells it`,
		},
	}})
	for _, k := range pipeline.ReportKinds() {
		if _, err := pipeline.New("service", valid(job("scan", "test", pipeline.Reports(pipeline.Report{Kind: k, Path: "reports/out"})))...); err != nil {
			t.Errorf("report kind %s: %v", k, err)
		}
	}
}

func TestTriggerValidation(t *testing.T) {
	trigger := func(tr pipeline.Trigger, opts ...pipeline.JobOption) pipeline.Option {
		return pipeline.Job("downstream", append([]pipeline.JobOption{pipeline.Stage("deploy"), pipeline.Triggers(tr)}, opts...)...)
	}
	checkProblems(t, []featureCase{{
		name: "no pipeline named",
		opts: valid(trigger(pipeline.Trigger{})),
		want: []string{`job "downstream": the trigger names no pipeline; use pipeline.TriggersProject or pipeline.TriggersChild`},
	}, {
		name: "both a project and a child file",
		opts: valid(trigger(pipeline.Trigger{Project: "acme/infra", Include: "ci/child.yml"})),
		want: []string{`job "downstream": a trigger starts either a project's pipeline or a child pipeline, not both (acme/infra, ci/child.yml)`},
	}, {
		name: "a project path without a namespace",
		opts: valid(trigger(pipeline.TriggersProject("infra", ""))),
		want: []string{`job "downstream": trigger project "infra" must be a GitLab project path such as acme/infra`},
	}, {
		name: "a child file outside the repository",
		opts: valid(trigger(pipeline.TriggersChild("../other/ci.yml"))),
		want: []string{`job "downstream": child pipeline file "../other/ci.yml" must be a .yml or .yaml path inside the repository, such as .gitlab/docs.gitlab-ci.yml`},
	}, {
		name: "a branch pattern and a child with a branch",
		opts: valid(trigger(pipeline.TriggersProject("acme/infra", "release/*")),
			pipeline.Job("child", pipeline.Stage("deploy"), pipeline.Triggers(pipeline.Trigger{Include: "ci/child.yml", Branch: "main"}))),
		want: []string{
			`job "downstream": trigger branch "release/*" must be a branch name`,
			`job "child": a child pipeline runs on this pipeline's ref; drop the branch "main"`,
		},
	}, {
		name: "a call and settings of a call",
		opts: valid(trigger(pipeline.TriggersProject("acme/infra", "main"),
			pipeline.Calls(pipeline.Fn("deploy")), pipeline.Outputs("URL"), pipeline.Retry(1), pipeline.RunnerTags("dagger"),
			pipeline.Permissions(pipeline.Packages.Write()))),
		want: []string{
			`job "downstream": a trigger job runs no Dagger function of its own, yet it calls "deploy"; drop pipeline.Calls or make it a job of its own`,
			`job "downstream": a trigger job runs no Dagger call, so it cannot have an output (pipeline.Outputs)`,
			`job "downstream": a trigger job runs no Dagger call, so it cannot have retries`,
			`job "downstream": a trigger job runs no Dagger call, so it cannot have runners`,
			`job "downstream": a trigger job runs on GitLab only, which has no job token permissions; drop pipeline.Permissions`,
		},
	}, {
		name: "reading an output of a trigger job",
		opts: valid(trigger(pipeline.TriggersProject("acme/infra", "")),
			pipeline.Job("after", pipeline.Stage("deploy"), pipeline.Needs("downstream"),
				pipeline.Calls(pipeline.Fn("check", pipeline.FromJob("url", "downstream", "URL"))))),
		want: []string{`job "after": argument --url reads the output "URL" of "downstream", which declares no such output; add pipeline.Outputs("URL") to it`},
	}})
}

func TestInputValidation(t *testing.T) {
	in := func(s pipeline.InputSpec) pipeline.Option {
		if s.Description == "" {
			s.Description = "what it is"
		}
		return pipeline.Input(s)
	}
	checkProblems(t, []featureCase{{
		name: "names",
		opts: valid(in(pipeline.InputSpec{Name: "2FAST"}), in(pipeline.InputSpec{Name: "CI_TARGET"}),
			in(pipeline.InputSpec{Name: "target"}), in(pipeline.InputSpec{Name: "TARGET"})),
		want: []string{
			`input "2FAST": the name must hold only letters, digits and _ and not start with a digit`,
			`input "CI_TARGET": names starting with CI_ are the CI's own; choose another name`,
			`input "TARGET": is declared twice (GitHub input names ignore case)`,
		},
	}, {
		name: "also a Var, no description, a quote",
		opts: valid(pipeline.Var("TARGET", "staging"), pipeline.Input(pipeline.InputSpec{Name: "TARGET", Default: "it's"})),
		want: []string{
			`input "TARGET": is also declared with pipeline.Var; an input is a variable already, so drop the Var`,
			`input "TARGET": needs a one-line description, which both CIs show in the form`,
			`input "TARGET": value "it's" may hold no quotes, $, ` + "`" + `, \, braces or line breaks`,
		},
	}, {
		name: "types and defaults",
		opts: valid(in(pipeline.InputSpec{Name: "DRY_RUN", Type: pipeline.BooleanInput, Default: "yes"}),
			in(pipeline.InputSpec{Name: "REPLICAS", Type: pipeline.NumberInput, Default: "two"}),
			in(pipeline.InputSpec{Name: "TARGET", Type: pipeline.ChoiceInput}),
			in(pipeline.InputSpec{Name: "REGION", Type: pipeline.ChoiceInput, Options: []string{"eu", "us"}, Default: "ap"}),
			in(pipeline.InputSpec{Name: "NOTE", Options: []string{"a"}}),
			in(pipeline.InputSpec{Name: "WHEN", Type: "date"})),
		want: []string{
			`input "DRY_RUN": a boolean input's default must be "true" or "false", not "yes"`,
			`input "REPLICAS": a number input's default "two" is not a number`,
			`input "TARGET": a choice input needs options`,
			`input "REGION": the default "ap" is not one of the options (eu, us)`,
			`input "NOTE": options apply to a ChoiceInput only`,
			`input "WHEN": the type "date" is unknown; use StringInput, BooleanInput, ChoiceInput or NumberInput`,
		},
	}})
}

func TestInputIsAVariable(t *testing.T) {
	p, err := pipeline.New("service", valid(
		pipeline.Input(pipeline.InputSpec{Name: "TARGET", Description: "where", Type: pipeline.ChoiceInput, Options: []string{"a", "b"}, Default: "a"}),
		job("deploy", "deploy", pipeline.When(pipeline.OnDispatch().If(pipeline.Env("TARGET").Is("b"))),
			pipeline.Calls(pipeline.Fn("deploy", pipeline.FromEnv("target", "TARGET")))),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Variables()["TARGET"]; got != "a" {
		t.Errorf("Variables()[TARGET] = %q, want the default a", got)
	}
	in, ok := p.Input("TARGET")
	if !ok || in.Type != pipeline.ChoiceInput || in.Description != "where" {
		t.Errorf("Input(TARGET) = %+v, %v", in, ok)
	}
	for _, tc := range []struct {
		vars map[string]string
		want bool
	}{{nil, false}, {map[string]string{"TARGET": "b"}, true}} {
		plan := p.PlanFor(pipeline.Start{Event: pipeline.Dispatch, Ref: "main", Vars: tc.vars})
		got := slices.ContainsFunc(plan, func(j pipeline.JobSpec) bool { return j.Name == "deploy" })
		if got != tc.want {
			t.Errorf("vars %v: deploy planned = %v, want %v", tc.vars, got, tc.want)
		}
	}
}

func TestWorkflowValidation(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef01234567"
	wf := func(w pipeline.Workflow, opts ...pipeline.JobOption) pipeline.Option {
		return pipeline.Job("deploy", append([]pipeline.JobOption{pipeline.Stage("deploy"), pipeline.CallsWorkflow(w)}, opts...)...)
	}
	iface := &pipeline.Interface{
		Inputs: []pipeline.InputSpec{
			{Name: "environment", Type: pipeline.ChoiceInput, Options: []string{"staging", "production"}, Required: true},
			{Name: "dry-run", Type: pipeline.BooleanInput, Default: "false"},
			{Name: "replicas", Type: pipeline.NumberInput, Default: "1"},
		},
		Secrets: []string{"kubeconfig"},
	}
	checkProblems(t, []featureCase{{
		name: "a tag instead of a SHA",
		opts: valid(wf(pipeline.Workflow{Uses: "acme/deploy/.github/workflows/deploy.yml@v1"})),
		want: []string{`job "deploy": reusable workflow "acme/deploy/.github/workflows/deploy.yml@v1" must be pinned to a full 40-hex commit SHA (tags and branches can move), as owner/repo/.github/workflows/x.yml@<sha>`},
	}, {
		name: "not a workflow path",
		opts: valid(wf(pipeline.Workflow{Uses: "acme/deploy@" + sha})),
		want: []string{`job "deploy": reusable workflow "acme/deploy@` + sha + `" must be owner/repo/.github/workflows/<file>.yml@<40-hex sha> or ./.github/workflows/<file>.yml`},
	}, {
		name: "bad names and values, the CI's token as a secret",
		opts: valid(wf(pipeline.Workflow{Uses: "./.github/workflows/deploy.yml",
			With:    map[string]string{"1st": "x", "note": "${{ github.actor }}"},
			Secrets: map[string]string{"token": "GITHUB_TOKEN"}})),
		want: []string{
			`job "deploy": reusable workflow input "1st": the name must hold only letters, digits, _ and - and start with a letter or _`,
			`job "deploy": reusable workflow input "note": value "${{ github.actor }}" may hold no quotes, $, ` + "`" + `, \, braces or line breaks`,
			`job "deploy": secret "GITHUB_TOKEN" is the CI's own credential; read it with pipeline.CISecret(name, pipeline.JobToken), which both CIs provide`,
		},
	}, {
		name: "against the declared interface",
		opts: valid(wf(pipeline.Workflow{Uses: "acme/deploy/.github/workflows/deploy.yml@" + sha,
			With:      map[string]string{"dry-run": "maybe", "replicas": "many", "region": "eu"},
			Secrets:   map[string]string{"token": "DEPLOY_TOKEN"},
			Interface: iface})),
		want: []string{
			`job "deploy": reusable workflow acme/deploy/.github/workflows/deploy.yml@` + sha + `: input "dry-run" is a boolean, not "maybe"`,
			`job "deploy": reusable workflow acme/deploy/.github/workflows/deploy.yml@` + sha + ` declares no input "region" (it has: environment, dry-run, replicas)`,
			`job "deploy": reusable workflow acme/deploy/.github/workflows/deploy.yml@` + sha + `: input "replicas" is a number, not "many"`,
			`job "deploy": reusable workflow acme/deploy/.github/workflows/deploy.yml@` + sha + ` requires the input "environment", which is not given`,
			`job "deploy": reusable workflow acme/deploy/.github/workflows/deploy.yml@` + sha + ` declares no secret "token" (it reads: kubeconfig)`,
			`job "deploy": reusable workflow acme/deploy/.github/workflows/deploy.yml@` + sha + ` reads the secret "kubeconfig", which the job does not pass; add it to Secrets`,
		},
	}, {
		name: "a choice outside its options; approval and allowed failure",
		opts: valid(wf(pipeline.Workflow{Uses: "acme/deploy/.github/workflows/deploy.yml@" + sha,
			With: map[string]string{"environment": "prod"}, Secrets: map[string]string{"kubeconfig": "KUBECONFIG"}, Interface: iface},
			pipeline.Approval(), pipeline.AllowFailure())),
		want: []string{
			`job "deploy": reusable workflow acme/deploy/.github/workflows/deploy.yml@` + sha + `: input "environment" is one of staging, production, not "prod"`,
			`job "deploy": a reusable workflow job cannot wait for approval: GitHub allows no environment on a job that calls a workflow; gate the workflow's own jobs`,
			`job "deploy": a reusable workflow job cannot be allowed to fail: GitHub allows no continue-on-error on a job that calls a workflow`,
		},
	}, {
		name: "a trigger too",
		opts: valid(wf(pipeline.Workflow{Uses: "./.github/workflows/deploy.yml"}, pipeline.Triggers(pipeline.TriggersProject("acme/infra", "")))),
		want: []string{`job "deploy": both triggers a downstream pipeline and calls a reusable workflow; a job does one`},
	}})
}

func TestIncludeValidation(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef01234567"
	checkProblems(t, []featureCase{{
		name: "none or two kinds",
		opts: valid(pipeline.Includes(pipeline.Include{}, pipeline.Include{Local: "a.yml", Template: "Jobs/SAST.gitlab-ci.yml"})),
		want: []string{
			`an include sets exactly one of Local, Remote, Template, Project and Component; this one sets 0`,
			`an include sets exactly one of Local, Remote, Template, Project and Component; this one sets 2`,
		},
	}, {
		name: "unpinned remote and project, a moving component, paths",
		opts: valid(pipeline.Includes(
			pipeline.Include{Local: "../ci.yml"},
			pipeline.Include{Remote: "http://example.com/ci.yml"},
			pipeline.Include{Template: "SAST"},
			pipeline.Include{Project: "acme", File: "ci.txt", Ref: "main"},
			pipeline.Include{Component: "gitlab.com/acme/components/lint@~latest"},
			pipeline.Include{Component: "lint@1.2.3"},
		)),
		want: []string{
			`include of local ../ci.yml: the file must be a .yml or .yaml path inside the repository`,
			`include of remote http://example.com/ci.yml: the address must start with https:// and hold no spaces, quotes or $`,
			`include of remote http://example.com/ci.yml: a remote file can change under the pipeline: pin it with Integrity, "sha256-" and its SHA-256 in base64 (openssl dgst -sha256 -binary file | base64)`,
			`include of template SAST: a GitLab template is a name such as Jobs/SAST.gitlab-ci.yml`,
			`include of project acme ci.txt@main: the project must be a GitLab project path such as acme/ci-templates`,
			`include of project acme ci.txt@main: the file "ci.txt" must be a .yml or .yaml path in that project`,
			`include of project acme ci.txt@main: the ref "main" must be a full 40-hex commit SHA (branches and tags can move)`,
			`include of component gitlab.com/acme/components/lint@~latest: the version "~latest" must be a full release such as 1.2.3 or a 40-hex commit SHA (~latest, partial versions and branches move)`,
			`include of component lint@1.2.3: a component is <host>/<project path>/<name>@<version>, such as gitlab.com/acme/components/lint@1.2.3`,
		},
	}, {
		name: "settings of other kinds, inputs against the interface",
		opts: valid(pipeline.Includes(
			pipeline.Include{Local: "ci/a.yml", Integrity: "sha256-x", Ref: sha},
			pipeline.Include{Template: "Jobs/SAST.gitlab-ci.yml", Inputs: map[string]string{"stage": "test"}},
			pipeline.Include{Component: "gitlab.com/acme/components/lint@1.2", Inputs: map[string]string{"strict": "yes", "extra": "1"},
				Interface: &pipeline.Interface{Inputs: []pipeline.InputSpec{{Name: "strict", Type: pipeline.BooleanInput}, {Name: "stage", Required: true}}}},
		)),
		want: []string{
			`include of local ci/a.yml: Integrity pins remote files only; drop it`,
			`include of local ci/a.yml: File and Ref apply to a Project include only`,
			`include of template Jobs/SAST.gitlab-ci.yml: GitLab's templates take no inputs`,
			`include of component gitlab.com/acme/components/lint@1.2: the version "1.2" must be a full release such as 1.2.3 or a 40-hex commit SHA (~latest, partial versions and branches move)`,
			`include of component gitlab.com/acme/components/lint@1.2: component gitlab.com/acme/components/lint@1.2 declares no input "extra" (it has: strict, stage)`,
			`include of component gitlab.com/acme/components/lint@1.2: component gitlab.com/acme/components/lint@1.2: input "strict" is a boolean, not "yes"`,
			`include of component gitlab.com/acme/components/lint@1.2: component gitlab.com/acme/components/lint@1.2 requires the input "stage", which is not given`,
		},
	}})
}

func TestInterfaceOfAPipeline(t *testing.T) {
	p, err := pipeline.New("service", valid(
		pipeline.Input(pipeline.InputSpec{Name: "TARGET", Description: "where", Default: "staging"}),
		job("deploy", "deploy", pipeline.Calls(pipeline.Fn("deploy", pipeline.Secret("token", "DEPLOY_TOKEN")))),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	got := p.Interface()
	if len(got.Inputs) != 1 || got.Inputs[0].Name != "TARGET" || !slices.Equal(got.Secrets, []string{"DEPLOY_TOKEN"}) {
		t.Errorf("Interface() = %+v", got)
	}
	// A caller checked against it.
	_, err = pipeline.New("caller", valid(pipeline.Job("ship", pipeline.Stage("deploy"), pipeline.CallsWorkflow(pipeline.Workflow{
		Uses: "./.github/workflows/service.yml", With: map[string]string{"TARGET": "prod"}, Interface: &got})))...)
	want := `pipeline "caller" is invalid: job "ship": reusable workflow ./.github/workflows/service.yml reads the secret "DEPLOY_TOKEN", which the job does not pass; add it to Secrets`
	if err == nil || err.Error() != want {
		t.Errorf("New(caller) = %v, want %s", err, want)
	}
}

func TestOutputsValidation(t *testing.T) {
	checkProblems(t, []featureCase{{
		name: "bad, reserved and repeated names, none at all",
		opts: valid(job("a", "test", pipeline.Outputs("IMAGE-REF", "GITHUB_SHA", "V", "V")), job("b", "test", pipeline.Outputs())),
		want: []string{
			`job "a": output name "IMAGE-REF" must hold only letters, digits and _ and not start with a digit`,
			`job "a": output GITHUB_SHA: names starting with GITHUB_ are the CI's own; choose another name`,
			`job "a": declares the output V twice`,
			`job "b": pipeline.Outputs() or pipeline.LineOutputs() names no output`,
		},
	}, {
		name: "reading an output the job does not declare",
		opts: valid(job("meta", "build", pipeline.Outputs("IMAGE_REF", "VERSION")),
			job("test", "test", pipeline.Needs("meta"), pipeline.Calls(pipeline.Fn("check",
				pipeline.FromJob("version", "meta", "VERSION"), pipeline.FromJob("tag", "meta", "TAG"))))),
		want: []string{`job "test": argument --tag reads the output "TAG" of "meta", which declares no such output; add pipeline.Outputs("TAG") to it`},
	}, {
		name: "outputs on a matrix job, a whole output beside a verify call",
		opts: valid(job("meta", "build", pipeline.Outputs("A", "B"), pipeline.RunsMatrix(pipeline.Axis("X", "1", "2")),
			pipeline.Calls(pipeline.Fn("check").ThenVerify("verdict"))),
			job("push", "build", pipeline.Outputs("IMAGE_REF"), pipeline.Calls(pipeline.Fn("publish").ThenVerify("check")))),
		want: []string{
			`job "meta": a matrix job cannot print an output: each of its cells would print one, and a later job would read one of them at random; move the output to a job without a matrix`,
			`job "push": has a verify call and takes the whole output of a call as IMAGE_REF; declare it with pipeline.LineOutputs("IMAGE_REF") and print IMAGE_REF=<value> in the verify call's output`,
		},
	}})
	p, err := pipeline.New("service", valid(job("meta", "build", pipeline.Outputs("IMAGE_REF", "VERSION")))...)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := p.Job("meta")
	if got := j.OutputNames(); !slices.Equal(got, []string{"IMAGE_REF", "VERSION"}) || j.Output != "" {
		t.Errorf("OutputNames() = %q, Output = %q", got, j.Output)
	}
	// LineOutputs: NAME=value lines even for one name, from the verify
	// call when there is one.
	p, err = pipeline.New("service", valid(job("ci", "build", pipeline.LineOutputs("IMAGE_REF"),
		pipeline.Calls(pipeline.Fn("ci").Then("reports").Export("reports").ThenVerify("check"))))...)
	if err != nil {
		t.Fatal(err)
	}
	j, _ = p.Job("ci")
	if got := j.OutputNames(); !slices.Equal(got, []string{"IMAGE_REF"}) || j.Output != "" || !slices.Equal(j.Outputs, []string{"IMAGE_REF"}) {
		t.Errorf("LineOutputs: OutputNames() = %q, Output = %q, Outputs = %q", got, j.Output, j.Outputs)
	}
	b, _ := p.Job("build")
	if got := b.OutputNames(); !slices.Equal(got, []string{"IMAGE_REF"}) || len(b.Outputs) != 0 {
		t.Errorf("build: OutputNames() = %q, Outputs = %q", got, b.Outputs)
	}
}
