package github_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"

	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/github"
	"github.com/slipway-ci/slipway/pipeline/pipelinetest"
)

// detectionScript returns the run: script of the change-detection job of
// the feature pipeline called name.
func detectionScript(t *testing.T, name string) string {
	t.Helper()
	for _, f := range pipelinetest.Features() {
		if f.Name != name {
			continue
		}
		out, err := github.Generate(f.Pipeline)
		if err != nil {
			t.Fatal(err)
		}
		var wf struct {
			Jobs map[string]struct {
				Steps []struct {
					ID  string `yaml:"id"`
					Run string `yaml:"run"`
				} `yaml:"steps"`
			} `yaml:"jobs"`
		}
		if err := yaml.Unmarshal(out, &wf); err != nil {
			t.Fatal(err)
		}
		for _, s := range wf.Jobs[github.ChangesJob].Steps {
			if s.ID == "diff" {
				return s.Run
			}
		}
		t.Fatalf("%s: no change-detection step", name)
	}
	t.Fatalf("no feature %q", name)
	return ""
}

// TestChangeDetection runs the change-detection job's script in a git
// repository, for pushes, pull requests and events without a base, and
// checks which path filters it says matched.
func TestChangeDetection(t *testing.T) {
	for _, tool := range []string{"bash", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	dir := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	commit := func(files ...string) string {
		t.Helper()
		for _, f := range files {
			p := filepath.Join(dir, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			old, _ := os.ReadFile(p)
			if err := os.WriteFile(p, append(old, 'x'), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		git("add", "-A")
		git("commit", "-q", "-m", "change")
		return git("rev-parse", "HEAD")
	}
	git("init", "-q")
	first := commit("go.mod", "services/api/main.go", "services/web/main.go", "docs/index.md", "README.md")
	web := commit("services/web/main.go")
	readme := commit("README.md", "docs/guide/intro.md")
	run := func(t *testing.T, script, head string, env ...string) map[string]string {
		t.Helper()
		git("checkout", "-q", head)
		tmp := t.TempDir()
		out := filepath.Join(tmp, "output")
		cmd := exec.Command("bash", "-e", "-o", "pipefail", "-c", script)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), append([]string{"GITHUB_OUTPUT=" + out, "RUNNER_TEMP=" + tmp}, env...)...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("script: %v\n%s", err, b)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			k, v, _ := strings.Cut(l, "=")
			got[k] = v
		}
		return got
	}
	push := func(before string) []string {
		return []string{"GITHUB_EVENT_NAME=push", "GITHUB_REF=refs/heads/main", "BEFORE=" + before}
	}
	// The monorepo feature: paths_1 is services/api, paths_2
	// services/web (both with go.mod, go.sum), paths_3 docs/** and *.md.
	mono := detectionScript(t, "monorepo")
	for _, tc := range []struct {
		name string
		head string
		env  []string
		want map[string]string
	}{
		{"push changing services/web", web, push(first), map[string]string{"paths_1": "false", "paths_2": "true", "paths_3": "false"}},
		{"push changing README.md and docs", readme, push(web), map[string]string{"paths_1": "false", "paths_2": "false", "paths_3": "true"}},
		{"pull request", readme, []string{"GITHUB_EVENT_NAME=pull_request", "GITHUB_REF=refs/pull/1/merge", "PR_BASE=" + first},
			map[string]string{"paths_1": "false", "paths_2": "true", "paths_3": "true"}},
		{"merge queue", web, []string{"GITHUB_EVENT_NAME=merge_group", "GITHUB_REF=refs/heads/gh-readonly-queue/main/pr-1", "MERGE_GROUP_BASE=" + first},
			map[string]string{"paths_1": "false", "paths_2": "true", "paths_3": "false"}},
		{"a new branch: everything", web, push("0000000000000000000000000000000000000000"), map[string]string{"paths_1": "true", "paths_2": "true", "paths_3": "true"}},
		{"an unknown base: everything", web, push("1111111111111111111111111111111111111111"), map[string]string{"paths_1": "true", "paths_2": "true", "paths_3": "true"}},
		{"a tag: everything", web, []string{"GITHUB_EVENT_NAME=push", "GITHUB_REF=refs/tags/v1", "BEFORE=" + first}, map[string]string{"paths_1": "true", "paths_2": "true", "paths_3": "true"}},
		{"a schedule: everything", web, []string{"GITHUB_EVENT_NAME=schedule", "GITHUB_REF=refs/heads/main"}, map[string]string{"paths_1": "true", "paths_2": "true", "paths_3": "true"}},
	} {
		t.Run("monorepo/"+tc.name, func(t *testing.T) {
			if got := run(t, mono, tc.head, tc.env...); !mapsEqual(got, tc.want) {
				t.Errorf("outputs %v, want %v", got, tc.want)
			}
		})
	}
	// The paths-ignore feature: paths_1 ignores docs/** and *.md, paths_2
	// requires docs/**.
	ignore := detectionScript(t, "paths-ignore")
	for _, tc := range []struct {
		name string
		head string
		env  []string
		want map[string]string
	}{
		{"code changed", web, push(first), map[string]string{"paths_1": "true", "paths_2": "false"}},
		{"only docs and README changed", readme, push(web), map[string]string{"paths_1": "false", "paths_2": "true"}},
	} {
		t.Run("paths-ignore/"+tc.name, func(t *testing.T) {
			if got := run(t, ignore, tc.head, tc.env...); !mapsEqual(got, tc.want) {
				t.Errorf("outputs %v, want %v", got, tc.want)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestWorkflowPathsIgnore: rules that all ignore the same paths filter the
// whole workflow, with no detection job.
func TestWorkflowPathsIgnore(t *testing.T) {
	p, err := pipeline.New("svc", pipeline.Stages("build"),
		pipeline.Job("build", pipeline.Stage("build"), pipeline.Calls(pipeline.Fn("build")),
			pipeline.When(pipeline.OnBranches("main").IgnoringChanges("docs/**"), pipeline.OnMergeRequests().IgnoringChanges("docs/**"))))
	if err != nil {
		t.Fatal(err)
	}
	out, err := github.Generate(p)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if !strings.Contains(s, "  push:\n    branches:\n      - main\n    paths-ignore:\n      - docs/**\n") ||
		!strings.Contains(s, "  pull_request:\n    paths-ignore:\n      - docs/**\n") || strings.Contains(s, "  changes:\n") {
		t.Errorf("want paths-ignore on push and pull_request and no detection job:\n%s", s)
	}
}
