package conformance_test

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/slipway-ci/slipway/pipeline/github"
	"github.com/slipway-ci/slipway/pipeline/gitlab"
	"github.com/slipway-ci/slipway/pipeline/lint"
	"github.com/slipway-ci/slipway/pipeline/pipelinetest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// TestGolden generates both CI files of every feature pipeline
// (pipelinetest.Features), compares them with the golden files, and lints
// them: the embedded schemas, the cross-reference checks and, on GitHub,
// actionlint with shellcheck when it is installed. A CI that lacks a
// feature must refuse it with the exact message the feature names.
// Regenerate the files with -update and review the diff.
func TestGolden(t *testing.T) {
	for _, f := range pipelinetest.Features() {
		t.Run(f.Name, func(t *testing.T) {
			fns := lint.WithFunctions(pipelinetest.Functions(f.Pipeline)...)
			var glOpts []gitlab.Option
			var ghOpts []github.Option
			if f.Reusable {
				glOpts, ghOpts = []gitlab.Option{gitlab.AsComponent()}, []github.Option{github.Callable()}
			}
			gl, err := gitlab.Generate(f.Pipeline, glOpts...)
			golden(t, f.Name+".gitlab-ci.yml", f.GitLabRefusal, gl, err, func(b []byte) error {
				return lint.GitLab(b, fns)
			})
			gh, err := github.Generate(f.Pipeline, ghOpts...)
			golden(t, f.Name+".github.yml", f.GitHubRefusal, gh, err, func(b []byte) error {
				opts := []lint.Option{fns, lint.WithRunnerLabels(f.Pipeline.DefaultRunsOn()...)}
				if shellcheck() {
					opts = append(opts, lint.WithShellcheck())
				}
				return lint.GitHub(b, opts...)
			})
		})
	}
}

func golden(t *testing.T, name, refusal string, got []byte, err error, check func([]byte) error) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if refusal != "" {
		if err == nil || err.Error() != refusal {
			t.Errorf("%s: error %v, want the refusal %q", name, err, refusal)
		}
		if _, statErr := os.Stat(path); statErr == nil {
			t.Errorf("%s exists, but the generator refuses the feature; delete it", path)
		}
		return
	}
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := check(got); err != nil {
		t.Errorf("%s: %v\n%s", name, err, got)
	}
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pipeline/conformance -run TestGolden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what the generator writes; rerun with -update and review the diff\n--- generated ---\n%s", path, got)
	}
}

// shellcheck reports whether shellcheck is installed (`make tools` installs
// it); the golden files are then also checked with it.
func shellcheck() bool {
	_, err := exec.LookPath("shellcheck")
	return err == nil
}
