package pipeline_test

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/pipeline"
)

// reference builds a pipeline shaped like slipway's reference pipeline, so
// Plan is checked on the refs the runner tests use.
func reference(t *testing.T) *pipeline.Pipeline {
	t.Helper()
	everyPush := []pipeline.Rule{pipeline.OnBranches(), pipeline.OnTags("v*"), pipeline.OnMergeRequests()}
	src := pipeline.Dir("source", ".")
	p, err := pipeline.New("reference",
		pipeline.Stages("build", "test", "security", "deploy-staging", "deploy-production"),
		pipeline.DefaultRunnerTags("dagger"),
		pipeline.GeneratedFrom("ci/main.go", "make generate"),
		pipeline.Job("build", pipeline.Stage("build"), pipeline.When(everyPush...),
			pipeline.Calls(pipeline.Fn("publish", src, pipeline.FromVar("sha", pipeline.CommitSHA))),
			pipeline.Outputs("IMAGE_REF")),
		pipeline.Job("test:unit", pipeline.Stage("test"), pipeline.When(everyPush...),
			pipeline.Calls(pipeline.Fn("test-unit", src)),
			pipeline.Reports(pipeline.Report{Kind: pipeline.JUnit, Path: "junit.xml"})),
		pipeline.Job("test:integration", pipeline.Stage("test"), pipeline.When(everyPush...),
			pipeline.Needs("build"),
			pipeline.Calls(pipeline.Fn("test-integration", pipeline.FromJob("image", "build", "IMAGE_REF")))),
		pipeline.Job("security:trivy", pipeline.Stage("security"), pipeline.When(everyPush...),
			pipeline.Needs("build"),
			pipeline.Calls(pipeline.Fn("security-trivy", pipeline.FromJob("image", "build", "IMAGE_REF")))),
		pipeline.Job("security:sast", pipeline.Stage("security"), pipeline.When(everyPush...),
			pipeline.AllowFailure(),
			pipeline.Calls(pipeline.Fn("security-sast", src))),
		pipeline.Job("deploy:staging", pipeline.Stage("deploy-staging"),
			pipeline.When(pipeline.OnBranches("develop", "main"), pipeline.OnTags("v*")),
			pipeline.Needs("build", "test:unit", "test:integration", "security:trivy"),
			pipeline.Deploys(pipeline.Environment{Name: "staging", Tier: pipeline.Staging}),
			pipeline.Calls(pipeline.Fn("deploy-staging",
				pipeline.FromJob("image", "build", "IMAGE_REF"),
				pipeline.Secret("token", "STAGING_TOKEN")))),
		pipeline.Job("deploy:production", pipeline.Stage("deploy-production"),
			pipeline.When(pipeline.OnBranches("main"), pipeline.OnTags("v*")),
			pipeline.Needs("build", "deploy:staging"),
			pipeline.Approval(),
			pipeline.Deploys(pipeline.Environment{Name: "production", URL: "https://example.com", Tier: pipeline.Production}),
			pipeline.Calls(pipeline.Fn("deploy-production",
				pipeline.FromJob("image", "build", "IMAGE_REF"),
				pipeline.Secret("token", "PRODUCTION_TOKEN")))),
	)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func names(jobs []pipeline.JobSpec) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.Name
	}
	return out
}

func TestPlan(t *testing.T) {
	p := reference(t)
	ci := []string{"build", "test:unit", "test:integration", "security:trivy", "security:sast"}
	for _, tc := range []struct {
		event pipeline.Event
		ref   string
		want  []string
	}{
		{pipeline.Push, "develop", append(slices.Clone(ci), "deploy:staging")},
		{pipeline.Push, "main", append(slices.Clone(ci), "deploy:staging", "deploy:production")},
		{pipeline.TagPush, "v1.2.3", append(slices.Clone(ci), "deploy:staging", "deploy:production")},
		{pipeline.Push, "feature/login", ci},
		{pipeline.MergeRequest, "main", ci},
		{pipeline.TagPush, "nightly", nil},
		{pipeline.Schedule, "main", nil},
	} {
		if got := names(p.Plan(tc.event, tc.ref)); !slices.Equal(got, tc.want) {
			t.Errorf("Plan(%s, %q):\n got: %q\nwant: %q", tc.event, tc.ref, got, tc.want)
		}
	}
	for _, j := range p.Plan(pipeline.Push, "main") {
		if want := j.Name == "deploy:production"; j.Approval != want {
			t.Errorf("Plan(push, main): %s.Approval = %v, want %v", j.Name, j.Approval, want)
		}
	}
}

// TestPlanDropsJobsWhoseNeedsDoNotRun checks that a job whose rules match is
// still left out when a job it needs is not in the pipeline, transitively.
func TestPlanDropsJobsWhoseNeedsDoNotRun(t *testing.T) {
	p, err := pipeline.New("svc",
		pipeline.Stages("build", "test", "deploy"),
		job("build", "build", pipeline.When(pipeline.OnBranches("main"))),
		job("test", "test", pipeline.Needs("build")),
		job("deploy", "deploy", pipeline.Needs("test")),
		job("lint", "test"),
	)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if got, want := names(p.Plan(pipeline.Push, "main")), []string{"build", "test", "lint", "deploy"}; !slices.Equal(got, want) {
		t.Errorf("Plan(push, main) = %q, want %q", got, want)
	}
	if got, want := names(p.Plan(pipeline.Push, "develop")), []string{"lint"}; !slices.Equal(got, want) {
		t.Errorf("Plan(push, develop) = %q, want %q", got, want)
	}
}

func TestJobsInStageOrder(t *testing.T) {
	p, err := pipeline.New("svc",
		pipeline.Stages("build", "test", "deploy"),
		job("deploy", "deploy"),
		job("test:b", "test"),
		job("build", "build"),
		job("test:a", "test"),
	)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if got, want := names(p.Jobs()), []string{"build", "test:b", "test:a", "deploy"}; !slices.Equal(got, want) {
		t.Errorf("Jobs() = %q, want %q", got, want)
	}
	if _, ok := p.Job("test:a"); !ok {
		t.Error(`Job("test:a") not found`)
	}
	if j, ok := p.Job("nope"); ok {
		t.Errorf(`Job("nope") = %+v, want none`, j)
	}
}

func TestAccessors(t *testing.T) {
	p, err := pipeline.New("svc",
		pipeline.Stages("build"),
		pipeline.Var("GO_VERSION", "1.25"),
		pipeline.Module("ci"),
		pipeline.DaggerVersion("v0.19.9"),
		pipeline.DefaultRunnerTags("dagger", "linux"),
		pipeline.DefaultRunsOn("self-hosted", "dagger"),
		pipeline.GeneratedFrom("ci/pipeline.go", "go run ./ci generate"),
		pipeline.Job("build", pipeline.Stage("build"), pipeline.Calls(pipeline.Fn("build",
			pipeline.Secret("b", "B_TOKEN"), pipeline.Secret("a", "A_TOKEN")))),
		pipeline.Job("push", pipeline.Stage("build"), pipeline.Calls(pipeline.Fn("push",
			pipeline.Secret("a", "A_TOKEN")))),
	)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, c := range []struct{ name, got, want string }{
		{"Module", p.Module(), "ci"},
		{"DaggerVersion", p.DaggerVersion(), "v0.19.9"},
		{"Source", p.Source(), "ci/pipeline.go"},
		{"Regenerate", p.Regenerate(), "go run ./ci generate"},
	} {
		if c.got != c.want {
			t.Errorf("%s() = %q, want %q", c.name, c.got, c.want)
		}
	}
	for _, c := range []struct {
		name      string
		got, want []string
	}{
		{"Stages", p.Stages(), []string{"build"}},
		{"DefaultRunnerTags", p.DefaultRunnerTags(), []string{"dagger", "linux"}},
		{"DefaultRunsOn", p.DefaultRunsOn(), []string{"self-hosted", "dagger"}},
		{"Secrets", p.Secrets(), []string{"A_TOKEN", "B_TOKEN"}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s() = %q, want %q", c.name, c.got, c.want)
		}
	}
	if got, want := p.Variables(), map[string]string{"GO_VERSION": "1.25"}; !maps.Equal(got, want) {
		t.Errorf("Variables() = %v, want %v", got, want)
	}
}

func TestJobSpecID(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"build", "build"},
		{"test:unit", "test-unit"},
		{"deploy:production", "deploy-production"},
		{"a b/c.d", "a-b-c-d"},
		{"Job_1", "Job_1"},
	} {
		if got := (pipeline.JobSpec{Name: tc.name}).ID(); got != tc.want {
			t.Errorf("JobSpec{Name: %q}.ID() = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestImmutable changes everything a caller can reach through the values
// the accessors return, and through the arguments given to the options, and
// checks that the pipeline still reads the same.
func TestImmutable(t *testing.T) {
	stages := []string{"build", "deploy"}
	needs := []string{"build"}
	tags := []string{"dagger"}
	refs := []string{"main"}
	args := []pipeline.Arg{pipeline.FromJob("image", "build", "IMAGE_REF"), pipeline.Secret("token", "TOKEN")}
	env := pipeline.Environment{Name: "production", URL: "https://example.com", Tier: pipeline.Production}
	sigArgs := []string{"image", "token"}
	p, err := pipeline.New("svc",
		pipeline.Stages(stages...),
		pipeline.Var("REGION", "eu"),
		pipeline.DefaultRunnerTags(tags...),
		pipeline.Functions(pipeline.Signature{Name: "build"}, pipeline.Signature{Name: "deploy", Args: sigArgs}),
		pipeline.Job("build", pipeline.Stage("build"), pipeline.Calls(pipeline.Fn("build")), pipeline.Outputs("IMAGE_REF")),
		pipeline.Job("deploy",
			pipeline.Stage("deploy"),
			pipeline.Needs(needs...),
			pipeline.Calls(pipeline.Fn("deploy", args...).Then("verify", pipeline.String("url", "https://example.com"))),
			pipeline.When(pipeline.Rule{Event: pipeline.Push, Refs: refs, Changes: []string{"src/**"}}),
			pipeline.Deploys(env),
			pipeline.Approval(),
			pipeline.RunnerTags(tags...),
			pipeline.RunsOn("ubuntu-24.04"),
			pipeline.Reports(pipeline.Report{Kind: pipeline.JUnit, Path: "junit.xml"}),
			pipeline.KeepArtifacts(24*time.Hour, "dist"),
		),
	)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	before, _ := p.Job("deploy")
	snapshot := func() string { j, _ := p.Job("deploy"); return describe(j) }
	want := describe(before)

	// Change the option arguments after New.
	stages[0], needs[0], tags[0], refs[0], sigArgs[0] = "x", "x", "x", "x", "x"
	args[0].Output.Job, args[1].Value = "x", "x"
	env.Name = "x"

	// Change what the accessors hand out.
	for _, j := range [][]pipeline.JobSpec{p.Jobs(), {before}} {
		d := j[len(j)-1]
		d.Needs[0] = "x"
		d.Call.Args[0].Output.Job = "x"
		d.Call.Args[1].Value = "x"
		d.Call.Chain[0].Args[0].Value = "x"
		d.Rules[0].Refs[0] = "x"
		d.Rules[0].Changes[0] = "x"
		d.Environment.Name = "x"
		d.RunnerTags[0] = "x"
		d.RunsOn[0] = "x"
		d.Reports[0].Path = "x"
		d.Artifacts.Paths[0] = "x"
		d.Artifacts.ExpireIn = 0
	}
	p.Stages()[0] = "x"
	p.DefaultRunnerTags()[0] = "x"
	p.DefaultRunsOn()[0] = "x"
	p.Variables()["REGION"] = "x"

	if got := snapshot(); got != want {
		t.Errorf("job changed:\n got: %s\nwant: %s", got, want)
	}
	if got := p.Stages(); !slices.Equal(got, []string{"build", "deploy"}) {
		t.Errorf("Stages() = %q", got)
	}
	if got := p.DefaultRunnerTags(); !slices.Equal(got, []string{"dagger"}) {
		t.Errorf("DefaultRunnerTags() = %q", got)
	}
	if got := p.DefaultRunsOn(); !slices.Equal(got, []string{"ubuntu-latest"}) {
		t.Errorf("DefaultRunsOn() = %q", got)
	}
	if got := p.Variables()["REGION"]; got != "eu" {
		t.Errorf(`Variables()["REGION"] = %q`, got)
	}
	if got := p.Secrets(); !slices.Equal(got, []string{"TOKEN"}) {
		t.Errorf("Secrets() = %q", got)
	}
}

// describe renders every field of a job that a caller could change through
// a shared slice, map or pointer.
func describe(j pipeline.JobSpec) string {
	return fmt.Sprintf("%+v", []any{j.Name, j.Stage, j.Needs, j.Call.Command("", func(v pipeline.Variable) string { return v.GitLabName() }),
		j.Call.Outputs(), j.Rules, *j.Environment, j.RunnerTags, j.RunsOn, j.Reports, *j.Artifacts})
}
