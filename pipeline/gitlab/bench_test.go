package gitlab_test

import (
	"testing"

	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/gitlab"
)

// BenchmarkGenerate times generating a 300-job monorepo pipeline (10
// stages of 30 jobs, with needs and rules). The target for both generators
// together is under 50 ms.
func BenchmarkGenerate(b *testing.B) {
	p, err := synthetic(10, 30)
	if err != nil {
		b.Fatal(err)
	}
	benchmarkGenerate(b, p)
}

// BenchmarkGenerateReference times generating the reference-like pipeline.
func BenchmarkGenerateReference(b *testing.B) {
	p, err := reference()
	if err != nil {
		b.Fatal(err)
	}
	benchmarkGenerate(b, p)
}

func benchmarkGenerate(b *testing.B, p *pipeline.Pipeline) {
	b.ReportAllocs()
	var size int
	for b.Loop() {
		out, err := gitlab.Generate(p)
		if err != nil {
			b.Fatal(err)
		}
		size = len(out)
	}
	b.ReportMetric(float64(size), "bytes/file")
}

// TestSyntheticSize keeps the benchmark honest: the synthetic pipeline has
// the 300 jobs and the features it claims.
func TestSyntheticSize(t *testing.T) {
	p, err := synthetic(10, 30)
	if err != nil {
		t.Fatal(err)
	}
	jobs := p.Jobs()
	var needs, rules, manual int
	for _, j := range jobs {
		if len(j.Needs) > 0 {
			needs++
		}
		if len(j.Rules) > 0 {
			rules++
		}
		if j.Approval {
			manual++
		}
	}
	if len(jobs) != 300 || len(p.Stages()) != 10 || needs != 270 || rules != 240 || manual != 6 {
		t.Errorf("synthetic pipeline: %d jobs, %d stages, %d with needs, %d with rules, %d manual; want 300, 10, 270, 240, 6",
			len(jobs), len(p.Stages()), needs, rules, manual)
	}
}
