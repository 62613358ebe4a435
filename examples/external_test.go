package examples_test

// These tests drive examples/external, a separate Go module and Dagger
// module that imports slipway as a library, from the outside: its generated
// CI files run on both local runners, and its functions run on the engine.
// They live in the root module because they use slipway's own test
// harnesses (internal/...), which the example, like any importer, cannot;
// the example's own tests check its pipeline and that its committed CI
// files are what the pipeline generates.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/e2e"
	"github.com/slipway-ci/slipway/internal/enginetest"
	"github.com/slipway-ci/slipway/internal/shimrun"
)

func execOut(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).Output()
	return string(out), err
}

// TestShimsRunOnBothRunners runs the generated files on gitlab-ci-local
// and act with the recording dagger stand-in: each job makes exactly its
// one call, lint before test before build.
func TestShimsRunOnBothRunners(t *testing.T) {
	// The example's committed CI files; its own TestGeneratedFiles keeps
	// them equal to what its pipeline generates.
	content := map[string][]byte{}
	for _, path := range []string{".gitlab-ci.yml", ".github/workflows/ci.yml"} {
		data, err := os.ReadFile(filepath.Join("external", filepath.FromSlash(path)))
		if err != nil {
			t.Fatal(err)
		}
		content[path] = data
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	standIn := t.TempDir()
	if err := shimrun.BuildStandIn(ctx, standIn); err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"lint", "--source=."},
		{"test", "--source=."},
		{"build", "--source=.", "export", "--path=dist/hello"},
	}
	for _, runner := range []struct {
		name string
		find func() (shimrun.Tool, error)
		make func(shimrun.Tool) shimrun.Runner
	}{
		{"gitlab-ci-local", shimrun.FindGitLabCILocal, func(t shimrun.Tool) shimrun.Runner { return shimrun.GitLab{Tool: t} }},
		{"act", shimrun.FindAct, func(t shimrun.Tool) shimrun.Runner {
			return shimrun.GitHub{Tool: t, Workflow: ".github/workflows/ci.yml"}
		}},
	} {
		t.Run(runner.name, func(t *testing.T) {
			tool, err := runner.find()
			if err != nil {
				e2e.Unavailable(t, fmt.Errorf("%s: %w", runner.name, err))
			}
			r := runner.make(tool)
			tmp := t.TempDir()
			repo, err := shimrun.NewRepo(ctx, filepath.Join(tmp, "repo"), "https://github.com/acme/hello.git", content, shimrun.Branch("main"))
			if err != nil {
				t.Fatal(err)
			}
			res, err := r.Run(ctx, shimrun.Run{Repo: repo, DaggerDir: standIn, TempDir: tmp})
			if err != nil {
				t.Fatal(err)
			}
			if res.ExitCode != 0 {
				t.Fatalf("%s exited %d:\n%s", runner.name, res.ExitCode, res.Output)
			}
			var got [][]string
			for _, inv := range res.Invocations {
				got = append(got, append([]string{inv.Function}, inv.CallArgs()...))
			}
			if !slices.EqualFunc(got, want, slices.Equal[[]string]) {
				t.Errorf("%s ran %q, want %q in that order", runner.name, got, want)
			}
		})
	}
}

// TestFunctionsOnTheEngine runs the module's stages for real on the local
// Dagger engine, through slipway's module (a dependency in its dagger.json):
// the tests pass, and the built binary greets.
func TestFunctionsOnTheEngine(t *testing.T) {
	e := enginetest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	dir, err := filepath.Abs("external")
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Dagger(ctx, dir, "call", "test")
	if err != nil {
		t.Fatal(err)
	}
	// Test is slipway's test-unit stage, installed as a dependency.
	if !regexp.MustCompile(`\d+ tests, \d+\.\d% of statements`).MatchString(out) || !strings.Contains(out, "total:") {
		t.Errorf("dagger call test printed %q, want slipway's test summary and coverage line", out)
	}
	bin := filepath.Join(t.TempDir(), "hello")
	if _, err := e.Dagger(ctx, dir, "call", "build", "export", "--path="+bin); err != nil {
		t.Fatal(err)
	}
	ran, err := execOut(ctx, bin, "slipway")
	if err != nil || strings.TrimSpace(ran) != "Hello, slipway!" {
		t.Errorf("the built binary printed %q (err %v)", ran, err)
	}
}
