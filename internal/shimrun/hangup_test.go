package shimrun

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/pipeline"
)

// The line act 0.2.89 printed when a step's shell died of SIGHUP in a CI
// run, and lines that must not count as one.
func TestPtyHangup(t *testing.T) {
	for _, tc := range []struct {
		output string
		want   bool
	}{
		{"[slipway/build] ⭐ Run Main dagger call publish\n[slipway/build]   ❌  Failure - Main dagger call publish [55.391276ms]\n[slipway/build] signal: hangup\n", true},
		{"\x1b[32m[slipway/build] \x1b[0msignal: hangup\r\n", true},
		{"[slipway/build] exit status 1\n", false},
		// A step's own output saying it: act prefixes it with "|".
		{"[slipway/build]   | signal: hangup\n", false},
		{"signal: hangup\n", false},
	} {
		if got := ptyHangup([]byte(tc.output)); got != tc.want {
			t.Errorf("ptyHangup(%q) = %v, want %v", tc.output, got, tc.want)
		}
	}
}

// fakeAct writes an act stand-in that fails its first run with firstOutput
// and exit status 1, and passes every later run printing "second run".
func fakeAct(t *testing.T, firstOutput string) Tool {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "first"), []byte(firstOutput), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `#!/bin/sh
set -e
d="` + dir + `"
echo run >> "$d/runs"
if [ -e "$d/first" ]; then cat "$d/first"; rm "$d/first"; exit 1; fi
echo "second run"
`
	path := filepath.Join(dir, "act")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return Tool{Path: path}
}

func runs(t *testing.T, tool Tool) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(filepath.Dir(tool.Path), "runs"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "run\n")
}

// GitHub.Run runs act once more when a step's shell died of SIGHUP, and
// only then: any other failure is the workflow's and stands.
func TestGitHubRetriesAPtyHangupOnce(t *testing.T) {
	repoDir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(repoDir, ".github", "workflows"), 0o755); err != nil {
		t.Fatal(err)
	}
	workflow := "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: dagger call build\n"
	if err := os.WriteFile(filepath.Join(repoDir, ".github", "workflows", "ci.yml"), []byte(workflow), 0o644); err != nil {
		t.Fatal(err)
	}
	repo := &Repo{Dir: repoDir, SHA: strings.Repeat("a", 40), Ref: Ref{Event: pipeline.Push, Name: "main"}, Remote: "https://github.com/acme/app.git"}

	t.Run("hangup", func(t *testing.T) {
		tool := fakeAct(t, "[ci/build] signal: hangup\n")
		res, err := GitHub{Tool: tool, Workflow: ".github/workflows/ci.yml"}.Run(context.Background(), Run{Repo: repo, TempDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitCode != 0 || runs(t, tool) != 2 {
			t.Errorf("exit %d after %d runs, want 0 after 2", res.ExitCode, runs(t, tool))
		}
		out := string(res.Output)
		if !strings.Contains(out, "SIGHUP") || !strings.Contains(out, "[ci/build] signal: hangup") || !strings.HasSuffix(out, "second run\n") {
			t.Errorf("the output does not show both attempts:\n%s", out)
		}
	})
	t.Run("other failure", func(t *testing.T) {
		tool := fakeAct(t, "[ci/build] exit status 1\n")
		res, err := GitHub{Tool: tool, Workflow: ".github/workflows/ci.yml"}.Run(context.Background(), Run{Repo: repo, TempDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitCode != 1 || runs(t, tool) != 1 {
			t.Errorf("exit %d after %d runs, want 1 after 1", res.ExitCode, runs(t, tool))
		}
	})
}
