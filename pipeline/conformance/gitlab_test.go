package conformance_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"

	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/gitlab"
	"github.com/slipway-ci/slipway/pipeline/lint"
	"github.com/slipway-ci/slipway/pipeline/pipelinetest"
)

// checkGitLabAll generates p's .gitlab-ci.yml twice, lints it and checks
// that it holds p's stages and jobs, with their stages, needs and functions.
func checkGitLabAll(t *testing.T, what string, p *pipeline.Pipeline) {
	t.Helper()
	out, err := gitlab.Generate(p)
	if err != nil {
		t.Fatalf("%s: gitlab.Generate: %v", what, err)
	}
	again, err := gitlab.Generate(p)
	if err != nil || !bytes.Equal(out, again) {
		t.Fatalf("%s: gitlab.Generate is not deterministic (second error: %v)", what, err)
	}
	if err := lint.GitLab(out, lint.WithFunctions(pipelinetest.Functions(p)...)); err != nil {
		t.Fatalf("%s: lint.GitLab: %v\n--- .gitlab-ci.yml ---\n%s", what, err, out)
	}
	var file map[string]any
	if err := yaml.Unmarshal(out, &file); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if got := toStrings(file["stages"]); !slices.Equal(got, p.Stages()) {
		t.Errorf("%s: stages %q, want %q", what, got, p.Stages())
	}
	for _, j := range p.Jobs() {
		job, ok := file[j.Name].(map[string]any)
		if !ok {
			t.Errorf("%s: no job %q", what, j.Name)
			continue
		}
		if got := job["stage"]; got != j.Stage {
			t.Errorf("%s: job %q: stage %v, want %q", what, j.Name, got, j.Stage)
		}
		if got := toStrings(job["needs"]); len(j.Needs) > 0 && !slices.Equal(sorted(got), sorted(j.Needs)) {
			t.Errorf("%s: job %q: needs %q, want %q", what, j.Name, got, j.Needs)
		}
		script := strings.Join(toStrings(job["script"]), "\n")
		if j.Trigger != nil {
			if _, ok := job["trigger"]; !ok {
				t.Errorf("%s: job %q: no trigger", what, j.Name)
			}
			continue
		}
		if call := "call " + j.Call.Function; !strings.Contains(script, call) {
			t.Errorf("%s: job %q runs no %q:\n%s", what, j.Name, call, script)
		}
	}
}

func TestGitLabRandom(t *testing.T) {
	for seed := int64(0); seed < seeds; seed++ {
		checkGitLabAll(t, seedName(seed, ""), pipelinetest.Random(seed))
		if seed%2 == 0 {
			checkGitLabAll(t, seedName(seed, "GitLabOnly"), pipelinetest.Random(seed, pipelinetest.GitLabOnly()))
		}
	}
}

func TestGitLabSynthetic(t *testing.T) {
	checkGitLabAll(t, "Synthetic(300)", pipelinetest.Synthetic(300))
}
