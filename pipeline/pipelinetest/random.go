// Package pipelinetest builds pipelines for tests and benchmarks, in the
// spirit of go-containerregistry's random package: Random returns a random
// but valid pipeline for a seed, Synthetic a large deterministic one.
//
// Random pipelines use every feature of the model: stages, needs (some
// optional), every kind of rule with valid ref patterns (globs, regular
// expressions, exclusions), conditions, named schedules, changed paths,
// environments (production gated, or not through the loudly named opt-out;
// review environments per ref with links and stop jobs), secrets, the CI's credentials and
// OIDC ID tokens, GITHUB_TOKEN permissions, Dagger engines, pipeline and CI
// variables, job outputs read by the jobs that need their producer,
// reports, artifacts, timeouts, run policies, retries with reasons and exit
// codes, allowed exit codes, matrices and runner settings, with argument values that
// are awkward for shells and YAML. GitLabOnly and GitHubOnly add what only
// one CI has.
// A generator that handles every seed handles what users can write.
package pipelinetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/slipway-ci/slipway/pipeline"
)

// Option configures Random.
type Option func(*options)

type changesMode int

const (
	changesRandom changesMode = iota
	changesNone
	changesSame
)

type options struct {
	jobs    int // 0: random
	changes changesMode
	only    string // "gitlab" or "github": also features only that CI has
}

// Jobs makes Random build n jobs (at least 1) instead of a random number.
func Jobs(n int) Option { return func(o *options) { o.jobs = max(n, 1) } }

// WithoutChanges leaves changed-path filters out of every rule. (GitHub
// filters changed paths per workflow; pipelines whose jobs filter
// differently get its generator's change-detection job.)
func WithoutChanges() Option { return func(o *options) { o.changes = changesNone } }

// SameChanges gives every job at least one rule and every rule the same
// changed-path filter: the one shape GitHub can express, as `paths:` of the
// whole workflow.
func SameChanges() Option { return func(o *options) { o.changes = changesSame } }

// GitLabOnly also uses features only GitLab has (delayed jobs, manual
// rules), which GitHub's generator refuses.
func GitLabOnly() Option { return func(o *options) { o.only = "gitlab" } }

// GitHubOnly also uses features only GitHub has (pull request activity
// types, releases, repository_dispatch types, fail-fast and max-parallel
// matrices, ignored changed paths unless WithoutChanges), which GitLab's
// generator refuses.
func GitHubOnly() Option { return func(o *options) { o.only = "github" } }

// Word pools. Names contain no digits, so that the "-<index>" suffix that
// Random gives every job name keeps GitHub job ids unique.
var (
	stagePool   = []string{"build", "test", "security", "package", "deploy-staging", "deploy production", "verify.post", "release_notes"}
	jobPrefixes = []string{"", "test:", "security:", "lint/", "deploy:", "e2e ", "pkg.", "build_"}
	jobWords    = []string{"unit", "integration", "trivy", "sast", "go", "docs", "image", "chart", "smoke", "web"}
	funcPool    = []string{"build", "test-unit", "test-integration", "security-trivy", "security-sast", "publish", "lint", "deploy", "sbom", "e2e"}
	argPool     = []string{"source", "image", "token", "platform", "verbose", "replicas", "config", "tag", "ref", "region", "url", "message"}
	secretPool  = []string{"DEPLOY_TOKEN", "REGISTRY_PASSWORD", "SLACK_WEBHOOK", "_PRIVATE_KEY", "token2", "Npm_Token"}
	varPool     = []string{"GO_VERSION", "REGION", "_INTERNAL", "LOG_LEVEL", "image_name"}
	outputPool  = []string{"IMAGE_REF", "DIGEST", "VERSION", "chart_url", "_SBOM"}
	refPool     = []string{"main", "develop", "release/*", "v*", "*", "hotfix/JIRA-1_x", "renovate/*", "feature/*", "1.x", "users/a.b"}
	globPool    = []string{"src/**", "go.mod", "go.sum", "docs/*.md", "charts/**/*.yaml", "Makefile", "services/api/**"}
	reportPaths = []string{"reports/junit.xml", "coverage.xml", "out/scan.sarif", "gl-sast-report.json", "gl-container-scanning-report.json", "test results/junit.xml",
		"gl-code-quality-report.json", "sbom.cdx.json"}
	tagPool    = []string{"dagger", "linux", "docker", "large"}
	matrixPool = []pipeline.MatrixAxis{pipeline.Axis("GOARCH", "amd64", "arm64"), pipeline.Axis("DB", "postgres", "mysql 8", "sqlite"),
		pipeline.Axis("SHARD", "1", "2", "3"), pipeline.Axis("PLATFORM", "linux/amd64", "linux/arm64")}
	runsOnPool = [][]string{{"ubuntu-latest"}, {"ubuntu-24.04"}, {"self-hosted", "linux"}}
	// Values that break naive quoting: shell metacharacters, YAML
	// indicators, GitHub expression syntax, GitLab variable syntax, unicode.
	valuePool = []string{
		"plain", "", "two words", "it's", `say "hi"`, "$HOME", "${CI_JOB_TOKEN}", "${{ github.token }}",
		"`id`", "$(id)", "a;b|c&d", "#not-a-comment", "key: value", "- item", "*star", "!tag", "%percent",
		"@at", "tab\there", "line\nbreak", "back\\slash", "ünïcødé ✓", "true", "null", "0x1F", "1e3", "~",
	}
)

// Random returns a random valid pipeline; the same seed always returns the
// same pipeline. It panics if the pipeline does not validate, since that is
// a bug in Random and no test can go on without one.
func Random(seed int64, opts ...Option) *pipeline.Pipeline {
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	r := &gen{rnd: rand.New(rand.NewPCG(uint64(seed), 0x5119_3a7e)), o: o}
	popts := r.pipeline()
	p, err := pipeline.New(fmt.Sprintf("random %d", seed), popts...)
	if err != nil {
		panic(fmt.Sprintf("pipelinetest.Random(%d) built an invalid pipeline: %v", seed, err))
	}
	return p
}

type gen struct {
	rnd *rand.Rand
	o   options

	stages    []string
	vars      []string
	schedules []string
	sameGlob  []string
	jobs      []genJob
	// onFailure says the job being drawn runs only on failure.
	onFailure bool
}

type genJob struct {
	name   string
	stage  int
	output string
}

func (g *gen) chance(percent int) bool { return g.rnd.IntN(100) < percent }

func pick[T any](g *gen, from []T) T { return from[g.rnd.IntN(len(from))] }

// some returns between lo and hi distinct elements of from, in from's order.
func some[T any](g *gen, from []T, lo, hi int) []T {
	n := lo + g.rnd.IntN(hi-lo+1)
	idx := g.rnd.Perm(len(from))[:min(n, len(from))]
	slices.Sort(idx)
	out := make([]T, len(idx))
	for i, j := range idx {
		out[i] = from[j]
	}
	return out
}

func (g *gen) pipeline() []pipeline.Option {
	var opts []pipeline.Option
	g.stages = some(g, stagePool, 1, 5)
	opts = append(opts, pipeline.Stages(g.stages...))
	for _, v := range some(g, varPool, 0, 3) {
		g.vars = append(g.vars, v)
		opts = append(opts, pipeline.Var(v, pick(g, valuePool)))
	}
	if g.chance(40) {
		opts = append(opts, pipeline.Module(pick(g, []string{"ci", "./ci", "tools/dagger", "my module"})))
	}
	if g.chance(30) {
		opts = append(opts, pipeline.DaggerVersion(pick(g, []string{"v0.19.9", "v0.19.10", "v0.20.0-rc.1"})))
	}
	if g.chance(50) {
		opts = append(opts, pipeline.DefaultRunnerTags(some(g, tagPool, 1, 2)...))
	}
	if g.chance(30) {
		opts = append(opts, pipeline.DefaultRunsOn(pick(g, runsOnPool)...))
	}
	if g.chance(50) {
		opts = append(opts, pipeline.GeneratedFrom("ci/pipeline.go", "go run ./ci generate"))
	}
	if g.chance(40) {
		opts = append(opts, pipeline.DefaultEngine(g.engine()))
	}
	if g.chance(30) {
		g.schedules = some(g, []string{"nightly", "weekly", "hourly"}, 1, 3)
		crons := map[string]string{"nightly": "0 2 * * *", "weekly": "0 4 * * 1", "hourly": "15 * * * *"}
		for _, n := range g.schedules {
			opts = append(opts, pipeline.Cron(n, crons[n]))
		}
	}
	// One set of changed paths per pipeline: GitLab cannot require two
	// different sets in one rule, which a job and a job it needs would.
	g.sameGlob = some(g, globPool, 1, 3)
	n := g.o.jobs
	if n == 0 {
		n = 1 + g.rnd.IntN(12)
	}
	for i := range n {
		opts = append(opts, g.runnableJob(opts, i))
	}
	return append(opts, g.composition()...)
}

// composition draws the features that are not Dagger calls: an input of
// pipelines started by hand, and, for one CI only, what only it has: a
// GitLab include and a trigger job, a GitHub reusable workflow job. They
// come last, so the jobs above are the same with or without them.
func (g *gen) composition() []pipeline.Option {
	var opts []pipeline.Option
	last := g.stages[len(g.stages)-1]
	if g.chance(25) {
		opts = append(opts, pipeline.Input(pick(g, []pipeline.InputSpec{
			{Name: "DEPLOY_TARGET", Description: "Where to deploy", Type: pipeline.ChoiceInput, Options: []string{"staging", "production"}, Default: "staging"},
			{Name: "DRY_RUN", Description: "Only print the plan", Type: pipeline.BooleanInput, Default: "true"},
			{Name: "REPLICAS", Description: "Replicas", Type: pipeline.NumberInput, Default: "2", Required: true},
			{Name: "NOTE", Description: "A note"},
		})))
	}
	switch g.o.only {
	case "gitlab":
		if g.chance(30) {
			opts = append(opts, pipeline.Includes(pick(g, []pipeline.Include{
				{Local: "ci/lint.gitlab-ci.yml"},
				{Template: "Jobs/SAST.gitlab-ci.yml"},
				{Component: "gitlab.com/acme/components/lint@1.2.3", Inputs: map[string]string{"stage": last}},
			})))
		}
		if g.chance(30) {
			t := pick(g, []pipeline.Trigger{pipeline.TriggersProject("acme/infra", "main"), pipeline.TriggersChild("ci/child.gitlab-ci.yml")})
			if g.chance(50) {
				t = t.AndWait()
			}
			opts = append(opts, pipeline.Job("downstream", pipeline.Stage(last), pipeline.Triggers(t)))
		}
	case "github":
		if g.chance(30) {
			opts = append(opts, pipeline.Job("reusable", pipeline.Stage(last), pipeline.CallsWorkflow(pipeline.Workflow{
				Uses: "acme/workflows/.github/workflows/deploy.yml@0123456789abcdef0123456789abcdef01234567",
				With: map[string]string{"environment": "staging"}, Secrets: map[string]string{"token": "DEPLOY_TOKEN"},
			})))
		}
	}
	return opts
}

// samples are the pipelines a runnable job must appear in at least one of:
// a ref matching each pattern of the pools, for every event.
var samples = func() []sample {
	branches := []string{"main", "develop", "release/1.0", "v2", "feature/x", "hotfix/JIRA-1_x", "renovate/go", "1.x", "users/a.b"}
	var out []sample
	for _, b := range branches {
		out = append(out, sample{pipeline.Push, b}, sample{pipeline.MergeRequest, b})
	}
	for _, t := range []string{"v1.2.3", "release-1", "1.0.0", "nightly"} {
		out = append(out, sample{pipeline.TagPush, t})
	}
	return append(out, sample{pipeline.Schedule, "main"}, sample{pipeline.Dispatch, "main"})
}()

type sample struct {
	event pipeline.Event
	ref   string
}

// runnableJob returns job i such that some pipeline runs it: a job whose
// rules match no pipeline in which the jobs it needs run is a mistake that
// GitLab refuses (its needs would be missing). It tries a few random jobs,
// then drops the needs, then (unless SameChanges wants rules everywhere) the
// rules: a job without needs runs on every sample its rules match.
func (g *gen) runnableJob(opts []pipeline.Option, i int) pipeline.Option {
	for attempt := 0; ; attempt++ {
		jobs := len(g.jobs)
		job, name := g.job(i, attempt < 5 || g.o.changes == changesSame, attempt < 4)
		p, err := pipeline.New("candidate", append(slices.Clone(opts), job)...)
		if err == nil && g.onFailure {
			// The plan assumes success, so it never holds such a job.
			return job
		}
		if err != nil && attempt < 8 && unreachable(err) {
			// New rejects a job that no pipeline runs; draw another.
			g.jobs = g.jobs[:jobs]
			continue
		}
		if err != nil {
			panic(fmt.Sprintf("pipelinetest: job %d: %v", i, err))
		}
		for _, s := range samples {
			if slices.ContainsFunc(p.Plan(s.event, s.ref), func(j pipeline.JobSpec) bool { return j.Name == name }) {
				return job
			}
		}
		g.jobs = g.jobs[:jobs]
	}
}

func (g *gen) job(i int, withRules, withNeeds bool) (pipeline.Option, string) {
	stage := g.rnd.IntN(len(g.stages))
	name := fmt.Sprintf("%s%s-%d", pick(g, jobPrefixes), pick(g, jobWords), i)
	var jo []pipeline.JobOption
	jo = append(jo, pipeline.Stage(g.stages[stage]))

	// Needs: only jobs defined earlier, in the same or an earlier stage, so
	// the needs can never form a cycle.
	var candidates []genJob
	for _, j := range g.jobs {
		if j.stage <= stage {
			candidates = append(candidates, j)
		}
	}
	var needs, required []genJob
	if withNeeds && len(candidates) > 0 && g.chance(60) {
		needs = some(g, candidates, 1, min(3, len(candidates)))
		for _, n := range needs {
			if g.chance(15) {
				jo = append(jo, pipeline.NeedsOptional(n.name))
				continue
			}
			required = append(required, n)
			jo = append(jo, pipeline.Needs(n.name))
		}
	}

	call := g.call(required)
	matrix := g.chance(12)
	if matrix {
		axes := some(g, matrixPool, 1, 2)
		jo = append(jo, pipeline.RunsMatrix(axes...))
		for _, a := range axes {
			call.Args = append(call.Args, pipeline.FromMatrix("cell-"+strings.ToLower(a.Name), a.Name))
		}
		if len(axes) == 2 && g.chance(40) {
			jo = append(jo, pipeline.MatrixExclude(pipeline.Cell{axes[0].Name: axes[0].Values[0], axes[1].Name: axes[1].Values[1]}))
		}
		if g.chance(30) {
			in := pipeline.Cell{}
			for _, a := range axes {
				in[a.Name] = "extra-" + strings.ToLower(a.Name)
			}
			jo = append(jo, pipeline.MatrixInclude(in))
		}
		if g.o.only == "github" && g.chance(50) {
			jo = append(jo, pipeline.FailFast(), pipeline.MaxParallel(1+g.rnd.IntN(3)))
		}
	}
	jo = append(jo, pipeline.Calls(call))
	if g.chance(10) {
		jo = append(jo, pipeline.UseEngine(g.engine()))
	}
	if g.chance(15) {
		jo = append(jo, pipeline.Permissions(some(g, []pipeline.Permission{pipeline.Packages.Write(), pipeline.PullRequests.Write(),
			pipeline.Attestations.Write(), pipeline.Checks.Write(), pipeline.Contents.Write(), pipeline.Statuses.Read()}, 1, 3)...))
	}

	gated := false
	// Deploy jobs, in later stages more often than not.
	if g.chance(25) {
		tier := pick(g, []pipeline.Tier{pipeline.Production, pipeline.Staging, pipeline.Testing, pipeline.Development, pipeline.Other})
		env := pipeline.Environment{Name: pick(g, []string{"production", "staging", "review/app", "qa 1", "dev"}), Tier: tier}
		if g.chance(50) {
			env.URL = pick(g, []string{"https://example.com", "http://staging.example.com:8080/app?x=1"})
		}
		if tier != pipeline.Production && g.chance(30) {
			// A review app per ref, with links; GitHub stops one only
			// when its pull request closes, and has no auto-stop.
			env.PerRef = true
			env.URL = pick(g, []string{"https://{ref-slug}.review.example.com", "http://review.example.com/{ref-slug}/"})
			if g.o.only == "gitlab" && g.chance(50) {
				env.AutoStopIn = pick(g, []time.Duration{time.Hour, 7 * 24 * time.Hour})
				jo = append(jo, pipeline.StopsWith(pipeline.Fn("stop-review", pipeline.FromVar("slug", pipeline.RefSlug))))
			}
		}
		if g.chance(20) {
			env.Links = []pipeline.Link{{Name: "API", URL: "https://api.example.com/{ref-slug}"}, {Name: "Grafana dashboard", URL: "https://grafana.example.com/d/x?var=1"}}
		}
		jo = append(jo, pipeline.Deploys(env))
		switch {
		case tier == pipeline.Production && g.chance(20):
			jo = append(jo, pipeline.DangerouslyDeployToProductionWithoutApproval("every merge ships; canaries roll back"))
		case tier == pipeline.Production || g.chance(30):
			jo = append(jo, pipeline.Approval())
			gated = true
		}
		if g.chance(50) {
			jo = append(jo, pipeline.Concurrency(env.Name))
		}
	}
	if withRules {
		jo = append(jo, g.rules(gated)...)
	}
	g.onFailure = false
	switch {
	case gated:
	case g.chance(8):
		jo = append(jo, pipeline.RunsAlways())
	case g.chance(5):
		jo = append(jo, pipeline.RunsOnFailure())
		g.onFailure = true
	case g.o.only == "gitlab" && g.chance(10):
		jo = append(jo, pipeline.Delay(time.Duration(1+g.rnd.IntN(120))*time.Minute))
	}
	switch {
	case g.chance(15):
		jo = append(jo, pipeline.AllowFailure())
	case g.chance(8):
		jo = append(jo, pipeline.AllowFailureOn(some(g, []int{1, 2, 3, 42}, 1, 2)...))
	}
	if g.chance(40) {
		jo = append(jo, pipeline.Timeout(time.Duration(1+g.rnd.IntN(180))*time.Minute))
	}
	if g.chance(30) {
		n := g.rnd.IntN(3)
		jo = append(jo, pipeline.Retry(n))
		if n > 0 && g.chance(40) {
			jo = append(jo, pipeline.RetryWhen(pipeline.ScriptFailure, pick(g, []pipeline.RetryReason{pipeline.RunnerSystemFailure, pipeline.APIFailure})))
		}
		if n > 0 && g.chance(30) {
			jo = append(jo, pipeline.RetryExitCodes(some(g, []int{1, 137, 143}, 1, 2)...))
		}
	}
	if g.chance(30) {
		jo = append(jo, pipeline.Interruptible())
	}
	if g.chance(10) {
		jo = append(jo, pipeline.Concurrency(pick(g, []string{"deploy", "db migrations", "lock_1"})))
	}
	if g.chance(20) {
		jo = append(jo, pipeline.RunnerTags(some(g, tagPool, 1, 3)...))
	}
	if g.chance(20) {
		jo = append(jo, pipeline.RunsOn(pick(g, runsOnPool)...))
	}
	if g.chance(40) {
		var reports []pipeline.Report
		kinds := []pipeline.ReportKind{pipeline.JUnit, pipeline.Cobertura, pipeline.SARIF, pipeline.GitLabSAST, pipeline.GitLabContainerScanning,
			pipeline.GitLabCodeQuality, pipeline.GitLabDependencyScanning, pipeline.GitLabSecretDetection, pipeline.CycloneDX}
		if g.o.only == "gitlab" {
			// GitHub has no dotenv report.
			kinds = append(kinds, pipeline.Dotenv)
		}
		for _, k := range some(g, kinds, 1, 3) {
			path := pick(g, reportPaths)
			if k == pipeline.Dotenv {
				path = "out/job.env"
			}
			reports = append(reports, pipeline.Report{Kind: k, Path: path})
		}
		jo = append(jo, pipeline.Reports(reports...))
	}
	if g.chance(25) {
		expire := pick(g, []time.Duration{0, time.Hour, 36 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour})
		jo = append(jo, pipeline.KeepArtifacts(expire, some(g, []string{"dist", "out/bin", "site/", "build output"}, 1, 2)...))
	}
	if g.chance(15) {
		jo = append(jo, pipeline.Summarize("summary"))
	}
	if g.chance(15) {
		jo = append(jo, pipeline.Coverage(pick(g, []string{`total:\s+\(statements\)\s+(\d+\.\d+)%`, `Coverage: \d+%`, `^TOTAL.*\s(\d+)%$`})))
	}
	out := ""
	if !matrix && g.chance(30) {
		out = fmt.Sprintf("%s_%d", pick(g, outputPool), i)
		switch {
		case g.chance(30):
			// Several outputs: NAME=value lines.
			jo = append(jo, pipeline.Outputs(out, fmt.Sprintf("META_%d", i)))
		case g.chance(20):
			// One NAME=value line among other output.
			jo = append(jo, pipeline.LineOutputs(out))
		default:
			jo = append(jo, pipeline.Outputs(out))
		}
	}
	g.jobs = append(g.jobs, genJob{name: name, stage: stage, output: out})
	return pipeline.Job(name, jo...), name
}

// call builds the job's Dagger call. Outputs are read only from needed jobs.
func (g *gen) call(needs []genJob) pipeline.Call {
	var args []pipeline.Arg
	for _, name := range some(g, argPool, 0, 5) {
		switch g.rnd.IntN(11) {
		case 0:
			args = append(args, pipeline.String(name, pick(g, valuePool)))
		case 1:
			args = append(args, pipeline.Bool(name, g.chance(50)))
		case 2:
			args = append(args, pipeline.Int(name, g.rnd.IntN(2000)-1000))
		case 3:
			args = append(args, pipeline.Dir(name, pick(g, []string{".", "src", "./web app", "services/api"})))
		case 4:
			args = append(args, pipeline.File(name, pick(g, []string{"go.mod", "deploy/values.yaml", "my file.txt"})))
		case 5:
			args = append(args, pipeline.Secret(name, pick(g, secretPool)))
		case 6:
			args = append(args, pipeline.FromVar(name, pick(g, pipeline.Variables())))
		case 7:
			if len(g.vars) > 0 {
				args = append(args, pipeline.FromEnv(name, pick(g, g.vars)))
			} else {
				args = append(args, pipeline.String(name, pick(g, valuePool)))
			}
		case 8:
			var producers []genJob
			for _, n := range needs {
				if n.output != "" {
					producers = append(producers, n)
				}
			}
			if len(producers) > 0 {
				p := pick(g, producers)
				args = append(args, pipeline.FromJob(name, p.name, p.output))
			} else {
				args = append(args, pipeline.String(name, pick(g, valuePool)))
			}
		case 9:
			args = append(args, pipeline.CISecret(name, pick(g, pipeline.Credentials())))
		case 10:
			tok := pick(g, []struct{ name, aud string }{{"AWS_ID_TOKEN", "sts.amazonaws.com"}, {"VAULT_ID_TOKEN", "https://vault.example.com"}, {"SIGSTORE_ID_TOKEN", "sigstore"}})
			args = append(args, pipeline.IDToken(name, tok.name, tok.aud))
		}
	}
	c := pipeline.Fn(pick(g, funcPool), args...)
	switch g.rnd.IntN(6) {
	case 0:
		c = c.Export(pick(g, []string{"dist", "out dir", "./build"}))
	case 1:
		c = c.Then("stdout")
	case 2:
		c = c.Then("publish", pipeline.String("address", "registry.example.com/app:latest"), pipeline.Secret("password", pick(g, secretPool)))
	}
	return c
}

// engine draws an engine setting.
func (g *gen) engine() pipeline.Engine {
	switch g.rnd.IntN(4) {
	case 0:
		return pipeline.DockerEngine()
	case 1:
		return pipeline.RunnerEngine(pick(g, []string{"", "unix:///run/dagger/engine.sock", "kube-pod://dagger-0?namespace=dagger"}))
	case 2:
		return pipeline.CloudEngine()
	}
	return pipeline.DockerEngine().WithTraces().WithDockerVersion("28.0.4")
}

func (g *gen) rules(gated bool) []pipeline.JobOption {
	n := g.rnd.IntN(4)
	if g.o.changes == changesSame {
		n = max(n, 1)
	}
	var rules []pipeline.Rule
	for range n {
		var r pipeline.Rule
		switch g.rnd.IntN(8) {
		case 0:
			r = pipeline.OnBranches(some(g, refPool, 0, 2)...)
		case 1:
			tags := []string{"v*", "release-*", "*", "1.0.0", "v*-rc", `/^nightly-/`}
			if g.o.only == "gitlab" {
				// GitHub's expressions have no regular expressions.
				tags = append(tags, `/^v[0-9]+\.[0-9]+$/`)
			}
			r = pipeline.OnTags(some(g, tags, 0, 2)...)
		case 2:
			r = pipeline.OnMergeRequests(some(g, refPool, 0, 2)...)
		case 3:
			r = pipeline.OnSchedule(some(g, g.schedules, 0, 2)...)
		case 4:
			r = pipeline.OnDispatch()
		case 5:
			r = pipeline.OnTriggered()
		case 6:
			r = pipeline.OnMergeQueue(some(g, []string{"main", "release/*"}, 0, 1)...)
		case 7:
			r = pipeline.OnBranches().Except(some(g, []string{"gh-pages", "dependabot/*", "wip-*"}, 1, 2)...)
		}
		if g.chance(25) {
			r = r.If(pick(g, []pipeline.Cond{
				pipeline.SameProject(),
				pipeline.Env("DEPLOY").IsNot("off"),
				pipeline.Not(pipeline.Env("SKIP_CI").IsSet()),
				pipeline.Or(pipeline.Env("RUN_ALL").Is("1"), pipeline.CIVar(pipeline.RefName).Matches("^release/")),
				pipeline.Env("LEVEL").IsUnset(),
			}))
		}
		switch g.o.only {
		case "gitlab":
			if g.chance(15) && !gated {
				r = r.Manually()
			}
		case "github":
			if g.chance(20) {
				switch r.Event {
				case pipeline.MergeRequest:
					r = r.OfTypes(some(g, []string{"opened", "labeled", "ready_for_review", "closed"}, 1, 2)...)
				case pipeline.Triggered:
					r = r.OfTypes("deploy-requested")
				default:
					r = pipeline.OnRelease()
				}
			}
		}
		switch g.o.changes {
		case changesRandom:
			if g.chance(20) {
				r = r.WithChanges(g.sameGlob...)
			}
		case changesSame:
			r = r.WithChanges(g.sameGlob...)
		}
		if g.o.only == "github" && g.o.changes == changesRandom && len(r.Changes) == 0 && g.chance(15) {
			r = r.IgnoringChanges("docs/**", "*.md")
		}
		rules = append(rules, r)
	}
	if len(rules) == 0 {
		return nil
	}
	return []pipeline.JobOption{pipeline.When(rules...)}
}

// Functions returns the names of the Dagger functions p's jobs call, sorted,
// for lint.WithFunctions.
func Functions(p *pipeline.Pipeline) []string {
	set := map[string]bool{}
	for _, j := range p.Jobs() {
		if !j.External() {
			set[j.Call.Function] = true
		}
		if j.Stop != nil {
			set[j.Stop.Function] = true
		}
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

// unreachable reports whether New refused the pipeline only because a job
// can never run with the jobs it needs.
func unreachable(err error) bool {
	var verr *pipeline.ValidationError
	if !errors.As(err, &verr) {
		return false
	}
	for _, p := range verr.Problems {
		if !strings.Contains(p, " never runs: ") && !strings.Contains(p, "filters on changed paths") {
			return false
		}
	}
	return true
}
