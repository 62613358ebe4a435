package shimrun_test

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/internal/shimrun"
	"github.com/slipway-ci/slipway/pipeline/github"
	"github.com/slipway-ci/slipway/pipeline/gitlab"
	"github.com/slipway-ci/slipway/pipeline/pipelinetest"
)

// TestChangesPlanned runs the monorepo feature (a job per package with a
// path filter, a docs job path-filtered on merge requests only) on
// gitlab-ci-local and on act for pushes and merge requests that change
// given paths, and checks that exactly the jobs the model plans for those
// changed paths (pipeline.Start.Changed) made their `dagger call`.
// gitlab-ci-local evaluates rules:changes with `git diff origin/main`;
// on GitHub the generated change-detection job diffs from the event's
// "before" or the pull request's base; Repo.Change makes both the change
// set.
func TestChangesPlanned(t *testing.T) {
	i := slices.IndexFunc(pipelinetest.Features(), func(f pipelinetest.Feature) bool { return f.Name == "monorepo" })
	if i < 0 {
		t.Fatal("pipelinetest has no monorepo feature")
	}
	p := pipelinetest.Features()[i].Pipeline
	gl, err := gitlab.Generate(p)
	if err != nil {
		t.Fatal(err)
	}
	gh, err := github.Generate(p)
	if err != nil {
		t.Fatal(err)
	}
	const workflow = ".github/workflows/ci.yml"
	runners := []struct {
		name   string
		find   func() (shimrun.Tool, error)
		runner func(shimrun.Tool) shimrun.Runner
		remote string
		file   string
		data   []byte
		names  map[string]string
		// secrets are what the CI gives every run: GitHub's job token,
		// which act takes as a secret.
		secrets map[string]string
	}{
		{"gitlab-ci-local", shimrun.FindGitLabCILocal, func(tool shimrun.Tool) shimrun.Runner { return shimrun.GitLab{Tool: tool} }, gitlabRemote, ".gitlab-ci.yml", gl, nil, nil},
		{"act", shimrun.FindAct, func(tool shimrun.Tool) shimrun.Runner { return shimrun.GitHub{Tool: tool, Workflow: workflow} }, githubRemote, workflow, gh,
			githubNames("test:services/api", "test:services/web", "lint-docs", "deploy"), map[string]string{"GITHUB_TOKEN": "job-token"}},
	}
	base := map[string][]byte{
		"go.mod":                  []byte("module example.com/mono\n"),
		"services/api/main.go":    []byte("package main\n"),
		"services/web/main.go":    []byte("package main\n"),
		"docs/guide.md":           []byte("# Guide\n"),
		"services/api/README.txt": []byte("api\n"),
		"tools/release/notes.txt": []byte("notes\n"),
	}
	cases := []struct {
		name    string
		ref     shimrun.Ref
		changed map[string][]byte
	}{
		{"mr, one package", shimrun.MergeRequest("feature/x", "main"), map[string][]byte{"services/api/main.go": []byte("package main // changed\n")}},
		{"mr, the shared go.mod", shimrun.MergeRequest("feature/x", "main"), map[string][]byte{"go.mod": []byte("module example.com/mono\n\ngo 1.26\n")}},
		{"mr, docs only", shimrun.MergeRequest("feature/x", "main"), map[string][]byte{"docs/guide.md": []byte("# Guide, changed\n")}},
		{"mr, neither", shimrun.MergeRequest("feature/x", "main"), map[string][]byte{"tools/release/notes.txt": []byte("changed\n")}},
		{"mr, a deleted file of web", shimrun.MergeRequest("feature/x", "main"), map[string][]byte{"services/web/main.go": nil}},
		{"push to main, web", shimrun.Branch("main"), map[string][]byte{"services/web/main.go": []byte("package main // changed\n")}},
	}
	for _, rn := range runners {
		t.Run(rn.name, func(t *testing.T) {
			tool := requireTool(t, rn.find)
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
					defer cancel()
					tmp := t.TempDir()
					files := maps.Clone(base)
					files[rn.file] = rn.data
					repo, err := shimrun.NewRepo(ctx, filepath.Join(tmp, "repo"), rn.remote, files, tc.ref)
					if err != nil {
						t.Fatal(err)
					}
					if err := repo.Change(ctx, tc.changed); err != nil {
						t.Fatal(err)
					}
					res, err := rn.runner(tool).Run(ctx, shimrun.Run{Repo: repo, DaggerDir: standIn(t), TempDir: tmp, Secrets: rn.secrets})
					if err != nil {
						t.Fatal(err)
					}
					if res.ExitCode != 0 {
						t.Fatalf("%s exited %d\n%s", rn.name, res.ExitCode, outputTail(res.Output))
					}
					start := featureStart(tc.ref)
					start.Changed = slices.Sorted(maps.Keys(tc.changed))
					var want []string
					for _, j := range p.PlanFor(start) {
						want = append(want, j.Name)
					}
					var got []string
					for _, c := range observed(t, res.Invocations, rn.names) {
						if !slices.Contains(got, c.job) {
							got = append(got, c.job)
						}
					}
					slices.Sort(got)
					slices.Sort(want)
					if !slices.Equal(got, want) {
						t.Errorf("changed %s: jobs that called Dagger = %q, the model plans %q\n%s",
							strings.Join(start.Changed, ", "), got, want, outputTail(res.Output))
					}
				})
			}
		})
	}
}
