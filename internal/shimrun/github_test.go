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
		if tc.name == "allowed failure" {
			// The report of a failed job is what people need most: the
			// upload step runs with if: always().
			tc.check = func(t *testing.T, res *shimrun.Result) {
				if !ranAction(res.Output, "test-lint", "github/codeql-action/upload-sarif") {
					t.Error("test-lint failed and did not upload its SARIF report")
				}
			}
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runCase(t, shimrun.GitHub{Tool: tool, Workflow: path}, githubRemote, ci, tc)
		})
	}
}

// TestReferenceGitHub runs the committed .github/workflows/ci.yml on act.
func TestReferenceGitHub(t *testing.T) {
	tool := requireTool(t, shimrun.FindAct)
	ci := ciFiles{
		files:       map[string][]byte{referenceGitHub: referenceFile(t, referenceGitHub)},
		path:        referenceGitHub,
		waits:       shimrun.GitHubWaits,
		githubNames: referenceNames,
		secrets:     referenceSecrets,
	}
	for _, tc := range referenceCases(actTraits) {
		if tc.name == "sast may fail" {
			tc.check = func(t *testing.T, res *shimrun.Result) {
				if !ranAction(res.Output, "security-sast", "github/codeql-action/upload-sarif") {
					t.Error("security-sast failed and did not upload its SARIF report")
				}
			}
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runCase(t, shimrun.GitHub{Tool: tool, Workflow: referenceGitHub}, githubRemote, ci, tc)
		})
	}
}
