package local_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/local"
)

// recorder is a Runner that records commands and answers from a script:
// a command containing a key of fail fails; "publish" prints a digest.
type recorder struct {
	mu    sync.Mutex
	cmds  []string
	envs  map[string][]string
	fail  []string
	order []string
}

func (r *recorder) Run(_ context.Context, command string, env []string, stdout, stderr io.Writer) error {
	r.mu.Lock()
	r.cmds = append(r.cmds, command)
	if r.envs == nil {
		r.envs = map[string][]string{}
	}
	r.envs[command] = env
	r.mu.Unlock()
	for _, f := range r.fail {
		if strings.Contains(command, f) {
			fmt.Fprintln(stderr, "Error: "+f+" failed on purpose")
			return errors.New("exit status 1")
		}
	}
	if strings.HasSuffix(command, " summary") {
		fmt.Fprintln(stdout, "3 tests, 80.0% of statements")
	}
	if strings.Contains(command, "call publish") {
		fmt.Fprintln(stdout, "registry.example/app@sha256:abc")
	}
	return nil
}

func reference(t *testing.T) *pipeline.Pipeline {
	t.Helper()
	src := pipeline.Dir("source", ".")
	img := pipeline.FromJob("image", "build", "IMAGE_REF")
	checks := pipeline.When(pipeline.OnBranches(), pipeline.OnTags("v*"))
	p, err := pipeline.New("svc",
		pipeline.Stages("build", "test", "deploy"),
		pipeline.Var("REPO", "registry.example/app"),
		pipeline.Job("build", pipeline.Stage("build"), pipeline.Outputs("IMAGE_REF"), checks,
			pipeline.Calls(pipeline.Fn("publish", src, pipeline.FromEnv("repository", "REPO"), pipeline.FromVar("revision", pipeline.CommitSHA)))),
		pipeline.Job("test:unit", pipeline.Stage("test"), checks,
			pipeline.Calls(pipeline.Fn("test-unit", src).Then("reports").Export("out").ThenVerify("check"))),
		pipeline.Job("sast", pipeline.Stage("test"), pipeline.AllowFailure(), checks,
			pipeline.Calls(pipeline.Fn("security-sast", src))),
		pipeline.Job("deploy:staging", pipeline.Stage("deploy"), pipeline.Needs("build", "test:unit"),
			pipeline.When(pipeline.OnBranches("main"), pipeline.OnTags("v*")),
			pipeline.Calls(pipeline.Fn("deploy", img, pipeline.Secret("kubeconfig", "KUBECONFIG_STAGING")))),
		pipeline.Job("deploy:production", pipeline.Stage("deploy"), pipeline.Needs("build", "deploy:staging"), pipeline.Approval(),
			pipeline.When(pipeline.OnBranches("main"), pipeline.OnTags("v*")),
			pipeline.Deploys(pipeline.Environment{Name: "production", Tier: pipeline.Production}),
			pipeline.Calls(pipeline.Fn("deploy", img, pipeline.Secret("kubeconfig", "KUBECONFIG_PRODUCTION")))),
	)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func env(vals map[string]string) local.Option {
	return local.WithLookupEnv(func(k string) (string, bool) { v, ok := vals[k]; return v, ok })
}

func statuses(res *local.Result) map[string]local.Status {
	out := map[string]local.Status{}
	for _, j := range res.Jobs {
		out[j.Name] = j.Status
	}
	return out
}

func TestRunPromotesTheDigestAndStopsAtTheGate(t *testing.T) {
	rec := &recorder{fail: []string{"security-sast"}}
	res, err := local.Run(context.Background(), reference(t), pipeline.Push, "main",
		local.WithRunner(rec), env(map[string]string{"KUBECONFIG_STAGING": "x"}), local.WithEnv("CI_COMMIT_SHA", "abc123"),
		local.WithSummary("summary"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]local.Status{
		"build": local.Passed, "test:unit": local.Passed, "sast": local.AllowedFailure,
		"deploy:staging": local.Passed, "deploy:production": local.WaitingApproval,
	}
	if got := statuses(res); !mapsEqual(got, want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	if res.Failed() {
		t.Error("Failed() = true with only an allowed failure")
	}
	if tu, _ := res.Job("test:unit"); tu.Summary != "3 tests, 80.0% of statements" {
		t.Errorf("test:unit summary %q", tu.Summary)
	}
	if b, _ := res.Job("build"); b.Summary != "" {
		t.Errorf("build has no verdict, but a summary %q", b.Summary)
	}
	build, _ := res.Job("build")
	if build.Output != "registry.example/app@sha256:abc" {
		t.Errorf("build output %q", build.Output)
	}
	deploy := `dagger call deploy --image="$IMAGE_REF" --kubeconfig=env://KUBECONFIG_STAGING`
	if !slices.Contains(rec.envs[deploy], "IMAGE_REF=registry.example/app@sha256:abc") {
		t.Errorf("deploy:staging env %v lacks the digest from build", rec.envs[deploy])
	}
	publish := `dagger call publish --source=. --repository="$REPO" --revision="$CI_COMMIT_SHA"`
	for _, want := range []string{"REPO=registry.example/app", "CI_COMMIT_SHA=abc123"} {
		if !slices.Contains(rec.envs[publish], want) {
			t.Errorf("publish env %v lacks %s", rec.envs[publish], want)
		}
	}
	// The verdict call runs after the export, in the same job.
	i := slices.Index(rec.cmds, "dagger call test-unit --source=. reports export --path=out")
	k := slices.Index(rec.cmds, "dagger call test-unit --source=. check")
	if i < 0 || k < i {
		t.Errorf("test:unit commands out of order: %q", rec.cmds)
	}
	// build runs before the test stage, which has no needs (stage order).
	if b, u := slices.Index(rec.cmds, publish), i; b > u {
		t.Errorf("test:unit ran before build: %q", rec.cmds)
	}
}

func TestRunFailureSkipsDependents(t *testing.T) {
	rec := &recorder{fail: []string{"test-unit --source=. check"}}
	res, err := local.Run(context.Background(), reference(t), pipeline.Push, "main",
		local.WithRunner(rec), env(map[string]string{"KUBECONFIG_STAGING": "x"}))
	if err != nil {
		t.Fatal(err)
	}
	got := statuses(res)
	if got["test:unit"] != local.Failed || got["deploy:staging"] != local.Skipped || got["deploy:production"] != local.Skipped {
		t.Fatalf("statuses %v", got)
	}
	tu, _ := res.Job("test:unit")
	if tu.Reason != "test-unit --source=. check failed on purpose" {
		t.Errorf("reason %q", tu.Reason)
	}
	if !res.Failed() {
		t.Error("Failed() = false")
	}
}

func TestRunApprovedProduction(t *testing.T) {
	rec := &recorder{}
	res, err := local.Run(context.Background(), reference(t), pipeline.TagPush, "v1.2.3",
		local.WithRunner(rec), local.Approve("deploy:production"),
		local.WithExtraArgs("deploy", pipeline.String("cluster", "tcp://localhost:16443")),
		env(map[string]string{"KUBECONFIG_STAGING": "x", "KUBECONFIG_PRODUCTION": "y"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(res)["deploy:production"]; got != local.Passed {
		t.Fatalf("deploy:production %s", got)
	}
	want := `dagger call deploy --image="$IMAGE_REF" --kubeconfig=env://KUBECONFIG_PRODUCTION --cluster=tcp://localhost:16443`
	if !slices.Contains(rec.cmds, want) {
		t.Errorf("commands %q lack the extra argument: %s", rec.cmds, want)
	}
}

func TestRunRefusesBeforeAnythingRuns(t *testing.T) {
	for _, tc := range []struct {
		name  string
		event pipeline.Event
		ref   string
		opts  []local.Option
		want  string
	}{
		{"missing secret", pipeline.Push, "main", []local.Option{env(nil)},
			"the jobs read secrets that are not set: KUBECONFIG_STAGING; export each"},
		{"approving a job that does not run", pipeline.Push, "feature/x", []local.Option{env(nil), local.Approve("deploy:production")},
			`cannot approve "deploy:production": no such job runs for a push of "feature/x"`},
		{"nothing to run", pipeline.TagPush, "nightly", nil,
			`no job of pipeline "svc" runs for a tag of "nightly"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			_, err := local.Run(context.Background(), reference(t), tc.event, tc.ref, append(tc.opts, local.WithRunner(rec))...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if len(rec.cmds) > 0 {
				t.Errorf("commands ran before the refusal: %q", rec.cmds)
			}
		})
	}
}

// TestShellRunsInDir runs a real shell: the default Runner.
func TestShellRunsInDir(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "marker"), []byte("here"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	err := local.Shell{Dir: dir}.Run(context.Background(), `cat marker; echo " $SLIPWAY_X"`, []string{"SLIPWAY_X=y"}, &out, io.Discard)
	if err != nil || out.String() != "here y\n" {
		t.Fatalf("out %q err %v", out.String(), err)
	}
}

func mapsEqual(a, b map[string]local.Status) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestOnlyJobs runs one job: what it needs is taken as done, and the
// digest the build would have printed comes from the environment.
func TestOnlyJobs(t *testing.T) {
	p := reference(t)
	rec := &recorder{}
	env := map[string]string{"KUBECONFIG_STAGING": "kc"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	_, err := local.Run(context.Background(), p, pipeline.Push, "main", local.WithRunner(rec), local.WithLookupEnv(lookup), local.OnlyJobs("deploy:staging"))
	want := `IMAGE_REF is an output of job "build", which does not run here: set IMAGE_REF (for example to the digest the build printed) or run build too`
	if err == nil || err.Error() != want {
		t.Fatalf("without IMAGE_REF: err = %v, want %q", err, want)
	}
	env["IMAGE_REF"] = "registry.example/app@sha256:def"
	res, err := local.Run(context.Background(), p, pipeline.Push, "main", local.WithRunner(rec), local.WithLookupEnv(lookup), local.OnlyJobs("deploy:staging"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Jobs) != 1 || res.Jobs[0].Status != local.Passed {
		t.Fatalf("jobs = %+v, want deploy:staging passed alone", res.Jobs)
	}
	if len(rec.cmds) != 1 || !strings.Contains(rec.cmds[0], "call deploy") || !slices.Contains(rec.envs[rec.cmds[0]], "IMAGE_REF=registry.example/app@sha256:def") {
		t.Errorf("commands %q (env %v), want one deploy call with IMAGE_REF from the environment", rec.cmds, rec.envs)
	}
	if _, err := local.Run(context.Background(), p, pipeline.Push, "feature/x", local.WithRunner(rec), local.OnlyJobs("deploy:staging")); err == nil ||
		!strings.Contains(err.Error(), `job "deploy:staging" does not run for a push of "feature/x"`) {
		t.Errorf("a job the ref does not run: err = %v", err)
	}
}

// linesRunner prints, for a command holding a key of out, its value.
type linesRunner struct {
	mu   sync.Mutex
	out  map[string]string
	envs map[string][]string
}

func (r *linesRunner) Run(_ context.Context, command string, env []string, stdout, _ io.Writer) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.envs == nil {
		r.envs = map[string][]string{}
	}
	r.envs[command] = env
	for k, v := range r.out {
		if strings.Contains(command, k) {
			fmt.Fprint(stdout, v)
		}
	}
	return nil
}

func TestRunPassesSeveralOutputs(t *testing.T) {
	p, err := pipeline.New("svc", pipeline.Stages("build", "test"),
		pipeline.Job("meta", pipeline.Stage("build"), pipeline.Calls(pipeline.Fn("meta")), pipeline.Outputs("IMAGE_REF", "VERSION")),
		pipeline.Job("test", pipeline.Stage("test"), pipeline.Needs("meta"),
			pipeline.Calls(pipeline.Fn("test", pipeline.FromJob("image", "meta", "IMAGE_REF"), pipeline.FromJob("version", "meta", "VERSION")))))
	if err != nil {
		t.Fatal(err)
	}
	run := &linesRunner{out: map[string]string{"call meta": "building\nIMAGE_REF=registry.example/app@sha256:abc\nVERSION=1.2.3\n"}}
	res, err := local.Run(context.Background(), p, pipeline.Push, "main", local.WithRunner(run))
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(res); got["meta"] != local.Passed || got["test"] != local.Passed {
		t.Fatalf("statuses %v", got)
	}
	env := run.envs[`dagger call test --image="$IMAGE_REF" --version="$VERSION"`]
	for _, want := range []string{"IMAGE_REF=registry.example/app@sha256:abc", "VERSION=1.2.3"} {
		if !slices.Contains(env, want) {
			t.Errorf("test env %v lacks %s", env, want)
		}
	}

	run = &linesRunner{out: map[string]string{"call meta": "IMAGE_REF=registry.example/app@sha256:abc\n"}}
	res, err = local.Run(context.Background(), p, pipeline.Push, "main", local.WithRunner(run))
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := res.Job("meta")
	if meta.Status != local.Failed || meta.Reason != "the function printed no VERSION=<value> line" {
		t.Errorf("meta: %s (%s), want failed for the missing VERSION line", meta.Status, meta.Reason)
	}
	if got := statuses(res); got["test"] != local.Skipped {
		t.Errorf("test: %s, want skipped after meta failed", got["test"])
	}
}

// TestRunReadsLineOutputsFromTheVerifyCall: a job with a verify call and
// LineOutputs (goservice.OneJob's ci) hands on the IMAGE_REF line its
// verify call printed, not anything its first call printed.
func TestRunReadsLineOutputsFromTheVerifyCall(t *testing.T) {
	p, err := pipeline.New("svc", pipeline.Stages("build", "deploy"),
		pipeline.Job("ci", pipeline.Stage("build"), pipeline.Calls(pipeline.Fn("ci").Then("reports").Export("reports").ThenVerify("check")),
			pipeline.LineOutputs("IMAGE_REF")),
		pipeline.Job("deploy", pipeline.Stage("deploy"), pipeline.Needs("ci"),
			pipeline.Calls(pipeline.Fn("deploy", pipeline.FromJob("image", "ci", "IMAGE_REF")))))
	if err != nil {
		t.Fatal(err)
	}
	run := &linesRunner{out: map[string]string{
		"reports export": "IMAGE_REF=from-the-export-call\n",
		"ci check":       "unit ok\nIMAGE_REF=registry.example/app@sha256:abc\n",
	}}
	res, err := local.Run(context.Background(), p, pipeline.Push, "main", local.WithRunner(run))
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(res); got["ci"] != local.Passed || got["deploy"] != local.Passed {
		t.Fatalf("statuses %v", got)
	}
	if env := run.envs[`dagger call deploy --image="$IMAGE_REF"`]; !slices.Contains(env, "IMAGE_REF=registry.example/app@sha256:abc") {
		t.Errorf("deploy env %v lacks the verify call's IMAGE_REF", env)
	}

	run = &linesRunner{out: map[string]string{"reports export": "IMAGE_REF=from-the-export-call\n", "ci check": "unit ok\n"}}
	res, err = local.Run(context.Background(), p, pipeline.Push, "main", local.WithRunner(run))
	if err != nil {
		t.Fatal(err)
	}
	if ci, _ := res.Job("ci"); ci.Status != local.Failed || ci.Reason != "the function printed no IMAGE_REF=<value> line" {
		t.Errorf("ci: %s (%s), want failed for the verify call's missing IMAGE_REF line", ci.Status, ci.Reason)
	}
}
