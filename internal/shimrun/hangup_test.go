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

	for _, tc := range []struct {
		name, first string
		// The exit status and the number of act runs wanted.
		wantExit, wantRuns int
	}{
		{"hangup", "[ci/build] signal: hangup\n", 0, 2},
		{"other failure", "[ci/build] exit status 1\n", 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tool := fakeAct(t, tc.first)
			res, err := GitHub{Tool: tool, Workflow: ".github/workflows/ci.yml"}.Run(context.Background(), Run{Repo: repo, TempDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			if res.ExitCode != tc.wantExit || runs(t, tool) != tc.wantRuns {
				t.Errorf("exit %d after %d runs, want %d after %d", res.ExitCode, runs(t, tool), tc.wantExit, tc.wantRuns)
			}
			out := string(res.Output)
			if tc.wantRuns == 2 && (!strings.Contains(out, "SIGHUP") || !strings.Contains(out, tc.first) || !strings.HasSuffix(out, "second run\n")) {
				t.Errorf("the output does not show both attempts:\n%s", out)
			}
		})
	}
}
