package gitlab_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/gitlab"
	"github.com/slipway-ci/slipway/pipeline/lint"
	"github.com/slipway-ci/slipway/pipeline/pipelinetest"
)

// namedPipeline is a pipeline and how to tell it in failure messages.
type namedPipeline struct {
	name string
	p    *pipeline.Pipeline
}

// lintCases are the pipelines every whole-file check runs on: the
// hand-written ones of this package, the shared synthetic monorepo and
// random pipelines of every shape pipelinetest makes.
func lintCases(t *testing.T) []namedPipeline {
	t.Helper()
	ref, err := reference()
	if err != nil {
		t.Fatal(err)
	}
	mono, err := synthetic(10, 30)
	if err != nil {
		t.Fatal(err)
	}
	cases := []namedPipeline{
		{"reference", ref},
		{"synthetic(10, 30)", mono},
		{"pipelinetest.Synthetic(300)", pipelinetest.Synthetic(300)},
	}
	for seed := int64(0); seed < 60; seed++ {
		cases = append(cases,
			namedPipeline{fmt.Sprintf("pipelinetest.Random(%d)", seed), pipelinetest.Random(seed)},
			namedPipeline{fmt.Sprintf("pipelinetest.Random(%d, SameChanges)", seed), pipelinetest.Random(seed, pipelinetest.SameChanges())},
		)
	}
	return cases
}

// TestGenerateLints checks every generated file with pipeline/lint: GitLab's
// CI schema, declared stages, needs on earlier jobs, and one `dagger call`
// of an existing function per job. It also checks that generating is
// deterministic and that the printer writes what yaml.v3 would.
func TestGenerateLints(t *testing.T) {
	for _, tc := range lintCases(t) {
		out, err := gitlab.Generate(tc.p)
		if err != nil {
			t.Errorf("%s: Generate: %v", tc.name, err)
			continue
		}
		if err := lint.GitLab(out, lint.WithFunctions(pipelinetest.Functions(tc.p)...)); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		again, err := gitlab.Generate(tc.p)
		if err != nil || !bytes.Equal(out, again) {
			t.Errorf("%s: a second Generate gave other bytes (err %v)", tc.name, err)
		}
		plain, err := gitlab.Generate(tc.p, gitlab.YAMLOnly())
		if err != nil {
			t.Errorf("%s: Generate with yaml.v3 alone: %v", tc.name, err)
		} else if !bytes.Equal(out, plain) {
			t.Errorf("%s: the printer and yaml.v3 differ:\n%s", tc.name, lineDiff(string(plain), string(out)))
		}
	}
}

// TestLintCatchesBrokenFiles makes sure the lint test above can fail: a
// file with a need on a missing job and a bad coverage value is rejected.
func TestLintCatchesBrokenFiles(t *testing.T) {
	ref, err := reference()
	if err != nil {
		t.Fatal(err)
	}
	out, err := gitlab.Generate(ref)
	if err != nil {
		t.Fatal(err)
	}
	broken := bytes.Replace(out, []byte("    - deploy:staging\n"), []byte("    - deploy:stage\n"), 1)
	broken = bytes.Replace(broken, []byte("coverage: '/"), []byte("coverage: '"), 1)
	if bytes.Equal(broken, out) {
		t.Fatal("the replacements did not apply; update the test")
	}
	if err := lint.GitLab(broken); err == nil {
		t.Fatalf("lint.GitLab accepted a broken file:\n%s", broken)
	}
}
