package shimrun_test

import (
	"testing"

	"github.com/slipway-ci/slipway/internal/shimrun"
	"github.com/slipway-ci/slipway/pipeline/github"
)

// TestGeneratedGitHub runs what pipeline/github generates for smallPipeline
// on act.
func TestGeneratedGitHub(t *testing.T) {
	tool := requireTool(t, shimrun.FindAct)
	yml, err := github.Generate(smallPipeline(t))
	if err != nil {
		t.Fatal(err)
	}
	const path = ".github/workflows/ci.yml"
	ci := ciFiles{
		files:       map[string][]byte{path: yml},
		path:        path,
		waits:       shimrun.GitHubWaits,
		githubNames: smallNames,
		secrets:     smallSecrets,
	}
	for _, tc := range smallCases(actTraits) {
		t.Run(tc.name, func(t *testing.T) {
			runCase(t, shimrun.GitHub{Tool: tool, Workflow: path}, githubRemote, ci, tc)
		})
	}
}
