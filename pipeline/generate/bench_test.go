package generate_test

import (
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/slipway-ci/slipway/pipeline/generate"
	"github.com/slipway-ci/slipway/pipeline/pipelinetest"
)

// BenchmarkGenerate300 generates both CI files of a 300-job monorepo
// pipeline. Target: under 50 ms.
func BenchmarkGenerate300(b *testing.B) {
	p := pipelinetest.Synthetic(300)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := generate.Files(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeYAML300 is the baseline for BenchmarkGenerate300: encoding
// the very same two documents with yaml.v3, from already-built node trees.
// The ratio between the two is what slipway's modelling costs on top of
// writing YAML at all.
func BenchmarkEncodeYAML300(b *testing.B) {
	files, err := generate.Files(pipelinetest.Synthetic(300))
	if err != nil {
		b.Fatal(err)
	}
	nodes := make([]*yaml.Node, len(files))
	for i, f := range files {
		nodes[i] = new(yaml.Node)
		if err := yaml.Unmarshal(f.Data, nodes[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, n := range nodes {
			if _, err := yaml.Marshal(n); err != nil {
				b.Fatal(err)
			}
		}
	}
}
