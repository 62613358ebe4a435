package shimrun_test

import (
	"bytes"
	"testing"

	"github.com/slipway-ci/slipway/internal/shimrun"
	"github.com/slipway-ci/slipway/pipeline/gitlab"
	"github.com/slipway-ci/slipway/pipeline/goservice"
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
// Jobs that get their engine from the docker:dind service run with the
// runner's instead (shimrun.StandInDockerEngine).
func TestReferenceGitLab(t *testing.T) {
	tool := requireTool(t, shimrun.FindGitLabCILocal)
	file, changed, err := shimrun.StandInDockerEngine(referenceFile(t, referenceGitLab))
	if err != nil {
		t.Fatal(err)
	}
	if changed != nil {
		t.Logf("dind jobs run with the runner's engine: %v", changed)
	}
	ci := ciFiles{
		files:   map[string][]byte{referenceGitLab: file},
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

// referenceOptions are ci/reference/reference.go's options (ci is a module
// of its own, which this one cannot import); TestReferenceGitLabDind checks
// that they still give the committed file.
func referenceOptions() []goservice.Option {
	return []goservice.Option{
		goservice.Module("ci"),
		goservice.Registry("registry.example.com/telecom/mts-deploy-ai"),
		goservice.RegistryUsername("slipway"),
		goservice.StagingURL("https://staging.mts-deploy-ai.example.com"),
		goservice.ProductionURL("https://mts-deploy-ai.example.com"),
		goservice.GitOpsPassword("GIT_PASSWORD"),
		goservice.RequireVerification(),
		goservice.GeneratedFrom("ci/reference/reference.go", "make generate"),
	}
}

// TestReferenceGitLabDind runs the reference pipeline as a team trying
// slipway on GitLab.com gets it: goservice's default engine, Dagger's
// docker:dind recipe, which works on shared runners. The file is generated
// from the reference's options without RunnerTags("dagger") (the committed
// file's, when it has them, must come from the same options with them), and
// runs with the stand-in for the dind service; every case of
// TestReferenceGitLab must hold for it too.
func TestReferenceGitLabDind(t *testing.T) {
	tool := requireTool(t, shimrun.FindGitLabCILocal)
	committed := referenceFile(t, referenceGitLab)
	gen := func(opts ...goservice.Option) []byte {
		p, err := goservice.Pipeline("slipway", append(referenceOptions(), opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		yml, err := gitlab.Generate(p)
		if err != nil {
			t.Fatal(err)
		}
		return yml
	}
	dind := gen()
	switch {
	case bytes.Equal(committed, dind):
		// The reference already uses the default engine.
	case !bytes.Equal(committed, gen(goservice.RunnerTags("dagger"))):
		t.Fatal("referenceOptions no longer give the committed .gitlab-ci.yml (with RunnerTags(\"dagger\") or without); bring them in step with ci/reference/reference.go")
	}
	if !bytes.Contains(dind, []byte("- docker:27.5.1-dind")) {
		t.Fatalf("the default engine's file has no docker:dind service:\n%s", dind)
	}
	file, changed, err := shimrun.StandInDockerEngine(dind)
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) != 9 {
		t.Errorf("the stand-in rewrote the jobs %q, want all 9", changed)
	}
	ci := ciFiles{
		files:   map[string][]byte{referenceGitLab: file},
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
