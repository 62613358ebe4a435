package shimrun_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/slipway-ci/slipway/internal/shimrun"
)

func TestGitLabWaits(t *testing.T) {
	file := []byte(`
stages: [build, test, deploy]
variables: {A: b}
workflow: {rules: [{if: $CI_COMMIT_BRANCH}]}
.hidden: {script: [x]}
build: {stage: build, script: [x]}
lint: {stage: build, script: [x]}
"test:unit": {stage: test, script: [x]}
"test:integration": {stage: test, needs: [build], script: [x]}
"test:fast": {stage: test, needs: [], script: [x]}
deploy: {stage: deploy, needs: [{job: "test:integration", artifacts: true}, build], script: [x]}
`)
	w, err := shimrun.GitLabWaits(file)
	if err != nil {
		t.Fatal(err)
	}
	want := shimrun.Waits{
		"build":            {},
		"lint":             {},
		"test:unit":        {"build", "lint"},
		"test:integration": {"build"},
		"test:fast":        {},
		"deploy":           {"test:integration", "build"},
	}
	if len(w) != len(want) {
		t.Errorf("jobs = %v, want %v", w, want)
	}
	for j, ws := range want {
		if !slices.Equal(w[j], ws) {
			t.Errorf("%s waits for %q, want %q", j, w[j], ws)
		}
	}
	if _, err := shimrun.GitLabWaits([]byte("stages: [a]\nj: {stage: b, script: [x]}\n")); err == nil || !strings.Contains(err.Error(), `stage "b" is not declared`) {
		t.Errorf("undeclared stage: err = %v", err)
	}
}

func TestGitHubWaits(t *testing.T) {
	w, err := shimrun.GitHubWaits([]byte(`
on: push
jobs:
  build: {runs-on: ubuntu-latest, steps: [{run: x}]}
  test: {runs-on: ubuntu-latest, needs: build, steps: [{run: x}]}
  deploy: {runs-on: ubuntu-latest, needs: [build, test], steps: [{run: x}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := shimrun.Waits{"build": {}, "test": {"build"}, "deploy": {"build", "test"}}
	for j, ws := range want {
		if !slices.Equal(w[j], ws) {
			t.Errorf("%s waits for %q, want %q", j, w[j], ws)
		}
	}
}

func TestCheckOrder(t *testing.T) {
	w := shimrun.Waits{"build": {}, "unit": {}, "integration": {"build"}, "deploy": {"integration", "unit"}}
	inv := func(jobs ...string) []shimrun.Invocation {
		var out []shimrun.Invocation
		for _, j := range jobs {
			out = append(out, shimrun.Invocation{Job: j, Function: j})
		}
		return out
	}
	tests := []struct {
		jobs    []string
		wantErr string
	}{
		{[]string{"build", "unit", "integration", "deploy"}, ""},
		{[]string{"unit", "build", "integration", "deploy"}, ""},
		{[]string{"build", "integration"}, ""}, // jobs that did not run impose nothing
		{[]string{"integration", "build"}, `job "integration" called dagger (call 1) before "build"`},
		{[]string{"build", "integration", "deploy", "unit"}, `job "deploy" called dagger (call 3) before "unit"`},
		{[]string{"build", "stray"}, `job "stray" is not in the CI file`},
	}
	for _, tt := range tests {
		err := w.CheckOrder(inv(tt.jobs...))
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%v: %v", tt.jobs, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%v: err = %v, want %q", tt.jobs, err, tt.wantErr)
		}
	}
}

func TestStandInActions(t *testing.T) {
	dir := t.TempDir()
	args, err := shimrun.StandInActions([]byte(`
jobs:
  a:
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
      - uses: ./local
      - uses: github/codeql-action/upload-sarif@5d4e8d1aca955e8d8589aabd499c5cae939e33c7
  b:
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683
`), dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"--local-repository", "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683=" + dir + "/actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683",
		"--local-repository", "github/codeql-action@5d4e8d1aca955e8d8589aabd499c5cae939e33c7=" + dir + "/github/codeql-action@5d4e8d1aca955e8d8589aabd499c5cae939e33c7",
	}
	if !slices.Equal(args, want) {
		t.Errorf("args =\n%q\nwant\n%q", args, want)
	}
	// The action of a subdirectory lives there, and is valid YAML whose
	// step echoes the full reference.
	data, err := os.ReadFile(filepath.Join(dir, "github/codeql-action@5d4e8d1aca955e8d8589aabd499c5cae939e33c7/upload-sarif/action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var action struct {
		Runs struct {
			Using string
			Steps []struct{ Run string }
		}
	}
	if err := yaml.Unmarshal(data, &action); err != nil {
		t.Fatalf("stand-in action.yml: %v\n%s", err, data)
	}
	if want := "echo \"slipway stand-in action: github/codeql-action/upload-sarif@5d4e8d1aca955e8d8589aabd499c5cae939e33c7\"\n"; action.Runs.Using != "composite" || len(action.Runs.Steps) != 1 || action.Runs.Steps[0].Run != want {
		t.Errorf("stand-in action.yml:\n%s", data)
	}
}

func TestRepoFullName(t *testing.T) {
	for remote, want := range map[string]string{
		"https://github.com/acme/app.git":        "acme/app",
		"https://github.com/acme/app":            "acme/app",
		"git@github.com:acme/app.git":            "acme/app",
		"https://gitlab.example/group/sub/app/":  "sub/app",
		"ssh://git@gitlab.example:2222/acme/app": "acme/app",
	} {
		if got := (&shimrun.Repo{Remote: remote}).FullName(); got != want {
			t.Errorf("FullName(%q) = %q, want %q", remote, got, want)
		}
	}
}

// The stand-in for actions/upload-artifact keeps the files, with their
// relative paths, under $SLIPWAY_ACT_ARTIFACTS/<name>, as GitHub keeps an
// artifact after act has deleted the job's work tree.
func TestUploadArtifactStandIn(t *testing.T) {
	dir := t.TempDir()
	const uses = "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02"
	if _, err := shimrun.StandInActions([]byte("jobs:\n  a:\n    steps:\n      - uses: "+uses+"\n"), dir); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "actions", "upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02", "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var action struct {
		Inputs map[string]any
		Runs   struct {
			Using string
			Steps []struct {
				Shell string
				Env   map[string]string
				Run   string
			}
		}
	}
	if err := yaml.Unmarshal(data, &action); err != nil {
		t.Fatalf("action.yml: %v\n%s", err, data)
	}
	if action.Runs.Using != "composite" || len(action.Runs.Steps) != 1 || action.Inputs["path"] == nil || action.Inputs["name"] == nil {
		t.Fatalf("action.yml:\n%s", data)
	}
	step := action.Runs.Steps[0]
	if step.Env["SLIPWAY_PATHS"] != "${{ inputs.path }}" || step.Env["SLIPWAY_NAME"] != "${{ inputs.name }}" {
		t.Errorf("step env %v does not pass the inputs", step.Env)
	}

	// Run its script as act would, in a job's work tree.
	work := t.TempDir()
	for _, f := range []string{"reports/unit/junit.xml", "reports/unit/coverage.xml", "other/x"} {
		os.MkdirAll(filepath.Join(work, filepath.Dir(f)), 0o755)
		os.WriteFile(filepath.Join(work, f), []byte(f), 0o644)
	}
	store := filepath.Join(t.TempDir(), "artifacts")
	cmd := exec.Command(step.Shell, "-c", step.Run)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "SLIPWAY_NAME=unit", "SLIPWAY_PATHS=reports/unit/junit.xml\nreports/unit/\nreports/missing.xml\n",
		shimrun.ArtifactsEnv+"="+store)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the stand-in's script: %v\n%s", err, out)
	}
	for _, f := range []string{"reports/unit/junit.xml", "reports/unit/coverage.xml"} {
		if b, err := os.ReadFile(filepath.Join(store, "unit", f)); err != nil || string(b) != f {
			t.Errorf("artifact file %s: %q, %v", f, b, err)
		}
	}
	if _, err := os.Stat(filepath.Join(store, "unit", "other")); err == nil {
		t.Error("a file outside the artifact's paths was kept")
	}
	if !strings.Contains(string(out), "warning: no files at reports/missing.xml") {
		t.Errorf("a missing path is not warned about:\n%s", out)
	}
}
