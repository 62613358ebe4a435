package shimrun_test

import (
	"context"
	"fmt"
	"github.com/slipway-ci/slipway/internal/e2e"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/shimrun"
	"github.com/slipway-ci/slipway/pipeline"
)

// runTimeout bounds every runner invocation. A run of the reference
// pipeline takes a few seconds; the bound only stops a hung runner.
const runTimeout = 3 * time.Minute

var (
	standInOnce sync.Once
	standInDir  string
	standInErr  error
)

// standIn builds the Dagger CLI stand-in once per test binary and returns
// the directory that holds it as "dagger".
func standIn(t *testing.T) string {
	t.Helper()
	standInOnce.Do(func() {
		dir, err := os.MkdirTemp("", "slipway-dagger-standin-")
		if err != nil {
			standInErr = err
			return
		}
		standInDir = dir
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		standInErr = shimrun.BuildStandIn(ctx, dir)
	})
	if standInErr != nil {
		t.Fatal(standInErr)
	}
	return standInDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if standInDir != "" {
		os.RemoveAll(standInDir)
	}
	os.Exit(code)
}

// requireTool returns the runner find locates. When it is missing the test
// is skipped with the reason, or fails when SLIPWAY_REQUIRE_E2E=1, which
// .ci/run sets so that CI cannot pass by skipping.
func requireTool(t *testing.T, find func() (shimrun.Tool, error)) shimrun.Tool {
	t.Helper()
	tool, err := find()
	if err != nil {
		e2e.Unavailable(t, err)
	}
	return tool
}

// call is one expected `dagger call`: the job that makes it and the
// arguments after "call" (the function, then its flags).
type call struct {
	job  string
	args []string
}

func (c call) String() string { return c.job + ": dagger call " + strings.Join(c.args, " ") }

// observed turns invocations into calls, in the order they happened. Jobs
// on GitHub are named by their ids; githubNames maps them back to the GitLab
// names the expectations use.
func observed(t *testing.T, invs []shimrun.Invocation, githubNames map[string]string) []call {
	t.Helper()
	var out []call
	for _, inv := range invs {
		args := inv.CallArgs()
		if args == nil && inv.Function == "" {
			t.Errorf("job %q ran `dagger %s`, not a `dagger call`", inv.Job, strings.Join(inv.Args, " "))
			continue
		}
		job := inv.Job
		if n, ok := githubNames[job]; ok {
			job = n
		}
		args = slices.Clone(args)
		for i, a := range args {
			if id, ok := strings.CutPrefix(a, "--pipeline-id="); ok && id != "" && !strings.Contains(id, "$") {
				args[i] = "--pipeline-id=" + anyPipelineID
			}
			if u, ok := strings.CutPrefix(a, "--source-url="); ok && u != "" && !strings.Contains(u, "$") {
				args[i] = "--source-url=" + anySourceURL
			}
		}
		out = append(out, call{job: job, args: append([]string{inv.Function}, args...)})
	}
	return out
}

// assertCalls compares the calls a run made with the expected ones as sets:
// the runners run independent jobs in parallel, so their relative order is
// not fixed; the order the CI file imposes is checked by Waits.CheckOrder.
func assertCalls(t *testing.T, got, want []call) {
	t.Helper()
	render := func(cs []call) []string {
		out := make([]string, len(cs))
		for i, c := range cs {
			out[i] = c.String()
		}
		slices.Sort(out)
		return out
	}
	g, w := render(got), render(want)
	if !slices.Equal(g, w) {
		t.Errorf("dagger calls differ\n got:\n  %s\nwant:\n  %s", strings.Join(g, "\n  "), strings.Join(w, "\n  "))
	}
}

// assertSecrets checks that every env://NAME argument found NAME set in the
// stand-in's environment, and that no secret value leaked into an argument
// or the runner's output.
func assertSecrets(t *testing.T, res *shimrun.Result, secrets map[string]string) {
	t.Helper()
	for _, inv := range res.Invocations {
		for name, set := range inv.Secrets {
			if !set {
				t.Errorf("job %q passed env://%s but %s was not in its environment", inv.Job, name, name)
			}
			if _, known := secrets[name]; !known {
				t.Errorf("job %q reads secret %s, which the test does not provide", inv.Job, name)
			}
		}
		for _, a := range inv.Args {
			for name, v := range secrets {
				if strings.Contains(a, v) {
					t.Errorf("job %q got the value of secret %s as a plain argument: %q", inv.Job, name, a)
				}
			}
		}
	}
	for name, v := range secrets {
		if strings.Contains(string(res.Output), v) {
			t.Errorf("the value of secret %s appears in the runner's output", name)
		}
	}
}

// secretValues gives every secret a distinctive value that the leak checks
// can look for.
func secretValues(names ...string) map[string]string {
	m := map[string]string{}
	for _, n := range names {
		m[n] = fmt.Sprintf("s3cret-%s-value", strings.ToLower(n))
	}
	return m
}

// runOnce creates a repository with files for ref and runs it on r.
func runOnce(t *testing.T, r shimrun.Runner, files map[string][]byte, remote string, ref shimrun.Ref, run shimrun.Run) (*shimrun.Result, *shimrun.Repo) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	tmp := t.TempDir()
	repo, err := shimrun.NewRepo(ctx, filepath.Join(tmp, "repo"), remote, files, ref)
	if err != nil {
		t.Fatal(err)
	}
	run.Repo = repo
	run.DaggerDir = standIn(t)
	run.TempDir = tmp
	res, err := r.Run(ctx, run)
	if err != nil {
		t.Fatalf("%s, %s: %v", r.Name(), ref, err)
	}
	t.Logf("%s, %s: exit %d in %s, %d dagger calls", r.Name(), ref, res.ExitCode, res.Duration.Round(time.Millisecond), len(res.Invocations))
	return res, repo
}

// outputTail returns the end of a runner's output, for failure messages.
func outputTail(out []byte) string {
	const max = 6000
	if len(out) > max {
		return "...\n" + string(out[len(out)-max:])
	}
	return string(out)
}

// The remotes of the test repositories. gitlab-ci-local derives
// CI_PROJECT_URL from its origin, act the repository name from its own.
const (
	gitlabRemote = "https://gitlab.example/acme/app.git"
	githubRemote = "https://github.com/acme/app.git"
)

var imageRE = regexp.MustCompile(`^registry\.example/app@sha256:[0-9a-f]{64}$`)

// vals are the values a run's calls receive from the CI: the commit, the
// ref name and the image reference `publish` printed in the build job.
type vals struct {
	SHA, Ref, Image string
	// Source is DEPLOY_SOURCE's value.
	Source string
}

// anyPipelineID stands for the run's id in the expected calls: each
// runner numbers its runs its own way, and observed checks only that the
// id is there.
const anyPipelineID = "<the run's id>"

// anySourceURL stands for the repository's URL (CI_PROJECT_URL,
// SLIPWAY_REPOSITORY_URL), which each runner makes up its own way.
const anySourceURL = "<the repository's URL>"

// refCase is one simulated run and what it must do.
type refCase struct {
	name string
	ref  shimrun.Ref
	// manual are the manual jobs started (gitlab-ci-local --manual).
	manual []string
	// fail are the functions the stand-in makes fail.
	fail []string
	// vars are CI variables set for the run (project variables on GitLab,
	// repository variables on GitHub).
	vars map[string]string
	// want are the expected calls, with GitLab job names.
	want func(v vals) []call
	// wantFail says the pipeline must fail.
	wantFail bool
	// check, when set, makes further assertions on the result.
	check func(t *testing.T, res *shimrun.Result)
}

// ciFiles is what a runner test runs: the CI file for the runner and how to
// read the order it imposes.
type ciFiles struct {
	files map[string][]byte
	// waits reads the job order of the runner's CI file.
	waits func([]byte) (shimrun.Waits, error)
	path  string
	// githubNames maps GitHub job ids to GitLab job names.
	githubNames map[string]string
	secrets     map[string]string
}

// runCase runs one case on r and checks every call, the order the CI file
// imposes, the secret plumbing and the pipeline's status.
func runCase(t *testing.T, r shimrun.Runner, remote string, ci ciFiles, tc refCase) {
	t.Helper()
	res, repo := runOnce(t, r, ci.files, remote, tc.ref, shimrun.Run{Secrets: ci.secrets, Variables: tc.vars, Manual: tc.manual, Fail: tc.fail})
	defer func() {
		if t.Failed() {
			t.Logf("%s output:\n%s", r.Name(), outputTail(res.Output))
		}
	}()
	if failed := res.ExitCode != 0; failed != tc.wantFail {
		t.Errorf("%s exited %d; want the pipeline to fail: %v", r.Name(), res.ExitCode, tc.wantFail)
	}
	v := vals{SHA: repo.SHA, Ref: tc.ref.Name}
	for _, inv := range res.Invocations {
		if inv.Function == "publish" && inv.Stdout != "" {
			v.Image = inv.Stdout
			if !imageRE.MatchString(v.Image) {
				t.Errorf("publish printed %q, not an image reference", v.Image)
			}
		}
	}
	assertCalls(t, observed(t, res.Invocations, ci.githubNames), tc.want(v))
	waits, err := ci.waits(ci.files[ci.path])
	if err != nil {
		t.Fatal(err)
	}
	// The stand-in records GitHub job ids; Waits is keyed the same way.
	if err := waits.CheckOrder(res.Invocations); err != nil {
		t.Error(err)
	}
	assertSecrets(t, res, ci.secrets)
	if tc.check != nil {
		tc.check(t, res)
	}
}

// ranAction reports whether act's output shows the stand-in for action
// (owner/repo[/path], without the ref) running in job.
func ranAction(out []byte, job, action string) bool {
	re := regexp.MustCompile(`(?m)^\[[^\]/]*/` + regexp.QuoteMeta(job) + ` *\] +\| slipway stand-in action: ` + regexp.QuoteMeta(action) + `@`)
	return re.Match(out)
}

// githubNames maps the GitHub ids of GitLab job names (":" becomes "-").
func githubNames(names ...string) map[string]string {
	m := map[string]string{}
	for _, n := range names {
		m[pipeline.JobSpec{Name: n}.ID()] = n
	}
	return m
}

// only keeps the calls of the named jobs, in order.
func only(calls []call, jobs ...string) []call {
	var out []call
	for _, c := range calls {
		for _, j := range jobs {
			if c.job == j {
				out = append(out, c)
			}
		}
	}
	return out
}

// without drops the calls of the named jobs.
func without(calls []call, jobs ...string) []call {
	var out []call
outer:
	for _, c := range calls {
		for _, j := range jobs {
			if c.job == j {
				continue outer
			}
		}
		out = append(out, c)
	}
	return out
}

// traits are where the runners differ from each other and from the CI
// services they simulate.
type traits struct {
	// manualJobs says the runner has manual jobs that run only when
	// started (gitlab-ci-local --manual).
	manualJobs bool
	// allowedFailureFails says the runner exits non-zero although the only
	// failed job may fail.
	allowedFailureFails bool
}

// gitlabTraits: production is a manual job that runs only when started,
// and allow_failure jobs do not fail the pipeline.
var gitlabTraits = traits{manualJobs: true}

// actTraits: act does not simulate environment protection rules, so the
// production job, which waits for a reviewer on GitHub, runs at once. And
// act v0.2.89 ignores job-level continue-on-error (it honours only the
// step-level one): the failed job's siblings and dependants still run as on
// GitHub, but act exits 1 where GitHub marks the run successful.
var actTraits = traits{allowedFailureFails: true}
