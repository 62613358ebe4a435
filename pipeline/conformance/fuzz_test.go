package conformance_test

import (
	"fmt"
	"testing"

	"github.com/slipway-ci/slipway/pipeline/pipelinetest"
)

// FuzzGenerate generates the CI files of random pipelines and lints them.
// The fuzzer picks the seed and the number of jobs; a failure names the
// pipeline, so `pipelinetest.Random(seed, pipelinetest.Jobs(n))` reproduces
// it. Run it with:
//
//	go test ./pipeline/conformance -run '^$' -fuzz FuzzGenerate -fuzztime 30s
func FuzzGenerate(f *testing.F) {
	for _, s := range []struct {
		seed int64
		jobs uint8
	}{{0, 1}, {1, 5}, {42, 12}, {-7, 30}, {1 << 40, 3}} {
		f.Add(s.seed, s.jobs)
	}
	f.Fuzz(func(t *testing.T, seed int64, jobs uint8) {
		n := 1 + int(jobs)%40
		name := fmt.Sprintf("pipelinetest.Random(%d, pipelinetest.Jobs(%d)", seed, n)
		checkGitHub(t, name+", pipelinetest.WithoutChanges())", pipelinetest.Random(seed, pipelinetest.Jobs(n), pipelinetest.WithoutChanges()))
		checkGitHub(t, name+", pipelinetest.SameChanges())", pipelinetest.Random(seed, pipelinetest.Jobs(n), pipelinetest.SameChanges()))
		checkGitLabAll(t, name+")", pipelinetest.Random(seed, pipelinetest.Jobs(n)))
		checkGitHub(t, name+")", pipelinetest.Random(seed, pipelinetest.Jobs(n)))
		checkGitHub(t, name+", pipelinetest.GitHubOnly())", pipelinetest.Random(seed, pipelinetest.Jobs(n), pipelinetest.GitHubOnly()))
		checkGitLabAll(t, name+", pipelinetest.GitLabOnly())", pipelinetest.Random(seed, pipelinetest.Jobs(n), pipelinetest.GitLabOnly()))
		checkGitHub(t, name+", pipelinetest.WithoutChanges(), pipelinetest.GitHubOnly())", pipelinetest.Random(seed, pipelinetest.Jobs(n), pipelinetest.WithoutChanges(), pipelinetest.GitHubOnly()))
	})
}
