package github_test

import (
	"fmt"
	"testing"

	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/github"
	"github.com/slipway-ci/slipway/pipeline/pipelinetest"
)

// monorepo builds a synthetic pipeline of stages×perStage jobs, shaped like
// a large monorepo: every job after the first stage needs two jobs of the
// stage before, except every fifth, which relies on stage order; rules,
// outputs, secrets and reports vary from job to job.
func monorepo(tb testing.TB, stages, perStage int) *pipeline.Pipeline {
	tb.Helper()
	var names []string
	for s := range stages {
		names = append(names, fmt.Sprintf("stage-%d", s))
	}
	opts := []pipeline.Option{pipeline.Stages(names...), pipeline.Var("GOFLAGS", "-mod=readonly")}
	name := func(s, i int) string { return fmt.Sprintf("svc%02d:step-%d", i, s) }
	for s := range stages {
		for i := range perStage {
			args := []pipeline.Arg{pipeline.Dir("source", fmt.Sprintf("services/svc%02d", i)), pipeline.FromVar("sha", pipeline.CommitSHA)}
			jo := []pipeline.JobOption{pipeline.Stage(names[s])}
			if s > 0 && i%5 != 0 {
				// Needed jobs share the job's rule class (i%3), so that
				// every job can run together with the jobs it needs.
				a, b := name(s-1, i), name(s-1, (i+3)%perStage)
				jo = append(jo, pipeline.Needs(a, b))
				// Jobs of odd stages publish an output; read it from the
				// first needed job.
				if (s-1)%2 == 1 {
					args = append(args, pipeline.FromJob("image", a, "IMAGE_REF"))
				}
			}
			if s%2 == 1 {
				jo = append(jo, pipeline.Outputs("IMAGE_REF"))
			}
			switch i % 3 {
			case 0:
				jo = append(jo, pipeline.When(pipeline.OnBranches(), pipeline.OnTags("v*"), pipeline.OnMergeRequests()))
			case 1:
				jo = append(jo, pipeline.When(pipeline.OnBranches("main", "release/*"), pipeline.OnTags("v*")))
			case 2:
				jo = append(jo, pipeline.When(pipeline.OnMergeRequests("main"), pipeline.OnSchedule()))
			}
			if i%3 == 0 {
				args = append(args, pipeline.Secret("token", fmt.Sprintf("TOKEN_%d", i%7)))
			}
			if i%6 == 0 {
				jo = append(jo, pipeline.Reports(pipeline.Report{Kind: pipeline.SARIF, Path: "out/scan.sarif"}, pipeline.Report{Kind: pipeline.JUnit, Path: "out/junit.xml"}))
			}
			if i%10 == 9 {
				jo = append(jo, pipeline.Retry(1), pipeline.AllowFailure())
			}
			jo = append(jo, pipeline.Calls(pipeline.Fn(fmt.Sprintf("step-%d", s), args...)), pipeline.Interruptible())
			opts = append(opts, pipeline.Job(name(s, i), jo...))
		}
	}
	p, err := pipeline.New("monorepo", opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestMonorepo(t *testing.T) {
	p := monorepo(t, 10, 30)
	if n := len(p.Jobs()); n != 300 {
		t.Fatalf("the synthetic pipeline has %d jobs, want 300", n)
	}
	generate(t, p)
}

func BenchmarkGenerate(b *testing.B) {
	for _, bc := range []struct {
		name string
		p    *pipeline.Pipeline
	}{
		{"reference", reference(b)},
		{"monorepo-300", monorepo(b, 10, 30)},
		// The pipeline pipeline/gitlab's benchmark also uses.
		{"synthetic-300", pipelinetest.Synthetic(300)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var size int
			for b.Loop() {
				out, err := github.Generate(bc.p)
				if err != nil {
					b.Fatal(err)
				}
				size = len(out)
			}
			b.ReportMetric(float64(size), "bytes")
		})
	}
}
