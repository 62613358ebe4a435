package shimrun_test

import (
	"testing"

	"github.com/slipway-ci/slipway/internal/shimrun"
	"github.com/slipway-ci/slipway/pipeline/gitlab"
)

// TestGeneratedGitLab runs what pipeline/gitlab generates for smallPipeline
// on gitlab-ci-local.
func TestGeneratedGitLab(t *testing.T) {
	tool := requireTool(t, shimrun.FindGitLabCILocal)
	yml, err := gitlab.Generate(smallPipeline(t))
	if err != nil {
		t.Fatal(err)
	}
	ci := ciFiles{
		files:   map[string][]byte{".gitlab-ci.yml": yml},
		path:    ".gitlab-ci.yml",
		waits:   shimrun.GitLabWaits,
		secrets: smallSecrets,
	}
	for _, tc := range smallCases(gitlabTraits) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runCase(t, shimrun.GitLab{Tool: tool}, gitlabRemote, ci, tc)
		})
	}
}

// TestReferenceGitLab runs the committed .gitlab-ci.yml on gitlab-ci-local.
func TestReferenceGitLab(t *testing.T) {
	tool := requireTool(t, shimrun.FindGitLabCILocal)
	ci := ciFiles{
		files:   map[string][]byte{referenceGitLab: referenceFile(t, referenceGitLab)},
		path:    referenceGitLab,
		waits:   shimrun.GitLabWaits,
		secrets: referenceSecrets,
	}
	for _, tc := range referenceCases(gitlabTraits) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runCase(t, shimrun.GitLab{Tool: tool}, gitlabRemote, ci, tc)
		})
	}
}
