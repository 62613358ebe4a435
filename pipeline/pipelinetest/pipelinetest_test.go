package pipelinetest_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/pipelinetest"
)

// describe renders everything about a pipeline that a generator reads.
func describe(p *pipeline.Pipeline) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %q %v %q %q %q %q %q %q %q\n", p.Name(), p.Stages(), p.Variables(), p.Module(), p.DaggerVersion(),
		p.DefaultRunnerTags(), p.DefaultRunsOn(), p.Source(), p.Regenerate(), p.Secrets())
	// JSON follows the pointers (environment, artifacts, output references)
	// that %v would print as addresses.
	jobs, err := json.Marshal(p.Jobs())
	if err != nil {
		panic(err)
	}
	b.Write(jobs)
	return b.String()
}

// TestRandomIsValid builds 500 random pipelines. pipeline.New already
// validated each (Random panics otherwise); this checks the properties the
// generators rely on, that Random is deterministic, and that over all seeds
// it exercises every feature of the model, so it cannot quietly become
// trivial.
func TestRandomIsValid(t *testing.T) {
	seen := map[string]bool{}
	saw := func(format string, args ...any) { seen[fmt.Sprintf(format, args...)] = true }
	for seed := int64(0); seed < 500; seed++ {
		p := pipelinetest.Random(seed)
		if again := pipelinetest.Random(seed); describe(again) != describe(p) {
			t.Fatalf("Random(%d) is not deterministic:\n%s\n%s", seed, describe(p), describe(again))
		}
		stageIndex := map[string]int{}
		for i, s := range p.Stages() {
			stageIndex[s] = i
		}
		jobs := map[string]pipeline.JobSpec{}
		for _, j := range p.Jobs() {
			jobs[j.Name] = j
		}
		for _, j := range p.Jobs() {
			for _, n := range j.Needs {
				dep, ok := jobs[n]
				if !ok || stageIndex[dep.Stage] > stageIndex[j.Stage] {
					t.Errorf("Random(%d): job %q needs %q, which is missing or later", seed, j.Name, n)
				}
				saw("needs")
			}
			for _, o := range j.Call.Outputs() {
				if !slices.Contains(j.Needs, o.Job) || !slices.Contains(jobs[o.Job].OutputNames(), o.Name) {
					t.Errorf("Random(%d): job %q reads %+v without needing its producer", seed, j.Name, o)
				}
				saw("output read")
			}
			if e := j.Environment; e != nil {
				if e.Tier == pipeline.Production && !j.Approval && j.UngatedProduction == "" {
					t.Errorf("Random(%d): job %q deploys to production without approval or the opt-out", seed, j.Name)
				}
				saw("tier %s approval %v", e.Tier, j.Approval)
				if j.UngatedProduction != "" {
					saw("ungated production")
				}
				if e.PerRef {
					saw("per-ref environment")
				}
				if j.Stop != nil {
					saw("stop job")
				}
				if len(e.Links) > 0 {
					saw("environment links")
				}
			}
			if j.Timeout%time.Minute != 0 || j.Timeout < 0 {
				t.Errorf("Random(%d): job %q timeout %v is not whole minutes", seed, j.Name, j.Timeout)
			}
			if j.Retries < 0 || j.Retries > 2 {
				t.Errorf("Random(%d): job %q retries %d", seed, j.Name, j.Retries)
			}
			saw("retries %d", j.Retries)
			for _, r := range j.Rules {
				saw("event %s", r.Event)
				if len(r.Refs) > 0 {
					saw("refs %s", r.Event)
				}
				if len(r.Changes) > 0 {
					saw("changes")
				}
			}
			for _, rep := range j.Reports {
				saw("report %s", rep.Kind)
			}
			for _, a := range append(slices.Clone(j.Call.Args), chainArgs(j.Call)...) {
				switch {
				case a.Var != "":
					saw("arg var")
				case a.Env != "":
					saw("arg env")
				case a.Output != nil:
					saw("arg output")
				default:
					saw("arg %s", a.Kind)
				}
			}
			if len(j.Call.Chain) > 0 {
				saw("chain")
			}
			if m := j.Matrix; m != nil {
				saw("matrix")
				if len(m.Exclude) > 0 {
					saw("matrix exclude")
				}
				if len(m.Include) > 0 {
					saw("matrix include")
				}
			}
			if j.Output != "" {
				saw("output")
			}
			if len(j.Outputs) > 1 {
				saw("outputs")
			}
			if len(p.Inputs()) > 0 {
				saw("input")
			}
			for _, f := range []struct {
				name string
				on   bool
			}{{"allow failure", j.AllowFailure}, {"interruptible", j.Interruptible}, {"concurrency", j.ConcurrencyGroup != ""},
				{"runner tags", len(j.RunnerTags) > 0}, {"runs-on", len(j.RunsOn) > 0}, {"artifacts", j.Artifacts != nil},
				{"coverage", j.Coverage != ""}, {"summary", j.Summary != ""}, {"timeout", j.Timeout > 0}, {"no rules", len(j.Rules) == 0}} {
				if f.on {
					saw("%s", f.name)
				}
			}
		}
		if len(p.Variables()) > 0 {
			saw("variables")
		}
		if p.Module() != "" {
			saw("module")
		}
	}
	var want []string
	for _, e := range []pipeline.Event{pipeline.Push, pipeline.TagPush, pipeline.MergeRequest, pipeline.Schedule, pipeline.Dispatch} {
		want = append(want, "event "+string(e))
	}
	for _, e := range []pipeline.Event{pipeline.Push, pipeline.TagPush, pipeline.MergeRequest} {
		want = append(want, "refs "+string(e))
	}
	for _, k := range []pipeline.ReportKind{pipeline.JUnit, pipeline.Cobertura, pipeline.SARIF, pipeline.GitLabSAST, pipeline.GitLabContainerScanning,
		pipeline.GitLabCodeQuality, pipeline.GitLabDependencyScanning, pipeline.GitLabSecretDetection, pipeline.CycloneDX} {
		want = append(want, "report "+string(k))
	}
	for _, k := range []pipeline.ArgKind{pipeline.ArgString, pipeline.ArgBool, pipeline.ArgInt, pipeline.ArgDirectory, pipeline.ArgFile, pipeline.ArgSecret} {
		want = append(want, "arg "+string(k))
	}
	want = append(want, "arg var", "arg env", "arg output", "output", "output read", "needs", "chain", "changes",
		"retries 0", "retries 1", "retries 2", "tier production approval true", "tier staging approval false", "tier staging approval true",
		"allow failure", "interruptible", "concurrency", "runner tags", "runs-on", "artifacts", "coverage", "timeout", "no rules",
		"variables", "module", "matrix", "matrix exclude", "matrix include", "ungated production", "per-ref environment", "environment links", "summary", "outputs", "input")
	for _, w := range want {
		if !seen[w] {
			t.Errorf("no random pipeline in 500 seeds has %q", w)
		}
	}
}

// TestRandomComposition: the one-CI modes also draw what only that CI has
// beside Dagger calls: GitLab includes and trigger jobs, GitHub reusable
// workflow jobs.
func TestRandomComposition(t *testing.T) {
	var includes, triggers, workflows int
	for seed := int64(0); seed < 100; seed++ {
		gl := pipelinetest.Random(seed, pipelinetest.GitLabOnly())
		if len(gl.Includes()) > 0 {
			includes++
		}
		for _, j := range gl.Jobs() {
			if j.Trigger != nil {
				triggers++
			}
		}
		for _, j := range pipelinetest.Random(seed, pipelinetest.GitHubOnly()).Jobs() {
			if j.Workflow != nil {
				workflows++
			}
		}
	}
	if includes == 0 || triggers == 0 || workflows == 0 {
		t.Errorf("in 100 seeds: %d GitLab pipelines with includes, %d trigger jobs, %d reusable workflow jobs; want some of each", includes, triggers, workflows)
	}
}

func chainArgs(c pipeline.Call) []pipeline.Arg {
	var out []pipeline.Arg
	for _, ch := range c.Chain {
		out = append(out, ch.Args...)
	}
	return out
}

func TestRandomOptions(t *testing.T) {
	for seed := int64(0); seed < 100; seed++ {
		if got := len(pipelinetest.Random(seed, pipelinetest.Jobs(7)).Jobs()); got != 7 {
			t.Fatalf("Random(%d, Jobs(7)) has %d jobs", seed, got)
		}
		for _, j := range pipelinetest.Random(seed, pipelinetest.WithoutChanges()).Jobs() {
			for _, r := range j.Rules {
				if len(r.Changes) > 0 {
					t.Fatalf("Random(%d, WithoutChanges()): job %q filters by %q", seed, j.Name, r.Changes)
				}
			}
		}
		var ref []string
		for _, j := range pipelinetest.Random(seed, pipelinetest.SameChanges()).Jobs() {
			if len(j.Rules) == 0 {
				t.Fatalf("Random(%d, SameChanges()): job %q has no rules", seed, j.Name)
			}
			for _, r := range j.Rules {
				if ref == nil {
					ref = r.Changes
				}
				if len(r.Changes) == 0 || !slices.Equal(r.Changes, ref) {
					t.Fatalf("Random(%d, SameChanges()): job %q filters by %q, want %q", seed, j.Name, r.Changes, ref)
				}
			}
		}
	}
}

func TestRandomSeedsDiffer(t *testing.T) {
	if describe(pipelinetest.Random(1)) == describe(pipelinetest.Random(2)) {
		t.Error("Random(1) and Random(2) are the same pipeline")
	}
}

func TestSynthetic(t *testing.T) {
	for _, n := range []int{1, 6, 7, 300} {
		p := pipelinetest.Synthetic(n)
		if got := len(p.Jobs()); got != n {
			t.Errorf("Synthetic(%d) has %d jobs", n, got)
		}
		if describe(p) != describe(pipelinetest.Synthetic(n)) {
			t.Errorf("Synthetic(%d) is not deterministic", n)
		}
	}
	p := pipelinetest.Synthetic(300)
	if got, want := pipelinetest.Functions(p), []string{"build", "deploy-production", "deploy-staging", "security-trivy", "test-integration", "test-unit"}; !slices.Equal(got, want) {
		t.Errorf("Functions(Synthetic(300)) = %q, want %q", got, want)
	}
	j, ok := p.Job("svc-049:deploy:production")
	if !ok {
		t.Fatal(`Synthetic(300) has no job "svc-049:deploy:production"`)
	}
	if !j.Approval || !slices.Equal(j.Needs, []string{"svc-049:build", "svc-049:deploy:staging"}) {
		t.Errorf("svc-049:deploy:production = %+v, want approval and needs on its build and staging deploy", j)
	}
	if got := len(p.Plan(pipeline.Push, "main")); got != 300 {
		t.Errorf("Synthetic(300).Plan(push, main) has %d jobs, want 300", got)
	}
	if got := len(p.Plan(pipeline.Push, "feature/x")); got != 200 {
		t.Errorf("Synthetic(300).Plan(push, feature/x) has %d jobs, want 200", got)
	}
}

func BenchmarkRandom(b *testing.B) {
	for i := 0; b.Loop(); i++ {
		pipelinetest.Random(int64(i))
	}
}

func BenchmarkSynthetic300(b *testing.B) {
	for b.Loop() {
		pipelinetest.Synthetic(300)
	}
}
