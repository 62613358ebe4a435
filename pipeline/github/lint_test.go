package github_test

import (
	"fmt"
	"github.com/slipway-ci/slipway/internal/e2e"
	"os/exec"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/github"
	"github.com/slipway-ci/slipway/pipeline/lint"
)

// TestLint runs the schema, cross-reference and actionlint checks on
// workflows that together use every feature of the generator.
func TestLint(t *testing.T) {
	functions := func(p *pipeline.Pipeline) []string {
		var out []string
		for _, j := range p.Jobs() {
			out = append(out, j.Call.Function)
		}
		return out
	}
	tests := []struct {
		name string
		p    *pipeline.Pipeline
		opts []lint.Option
	}{
		{"reference", reference(t), nil},
		{"monorepo", monorepo(t, 10, 30), nil},
		{"every setting", build(t,
			pipeline.Var("DEBUG", "true"), pipeline.Var("RAW", "${{ github.token }}"),
			pipeline.DefaultRunsOn("self-hosted", "dagger"),
			job("a", "build", pipeline.When(pipeline.OnSchedule(), pipeline.OnDispatch(), pipeline.OnMergeRequests("release/*")),
				pipeline.Outputs("OUT"), pipeline.Retry(2), pipeline.Timeout(5*time.Minute),
				pipeline.Calls(pipeline.Fn("run", pipeline.String("msg", "it's ${{ x }}"), pipeline.FromEnv("raw", "RAW"),
					pipeline.FromVar("repo", pipeline.RepositoryURL), pipeline.Secret("token", "TOKEN")))),
			job("b", "test", pipeline.Needs("a"), pipeline.RunsOn("ubuntu-24.04"),
				pipeline.Calls(pipeline.Fn("check", pipeline.FromJob("in", "a", "OUT"))),
				pipeline.Reports(pipeline.Report{Kind: pipeline.SARIF, Path: "x.sarif"}, pipeline.Report{Kind: pipeline.SARIF, Path: "y.sarif"},
					pipeline.Report{Kind: pipeline.JUnit, Path: "junit.xml"}),
				pipeline.KeepArtifacts(30*time.Hour, "dist/"), pipeline.AllowFailure(), pipeline.Interruptible()),
			job("c", "test", pipeline.When(pipeline.OnTags("v*"), pipeline.OnBranches("feat+x", "!x"))),
			job("gate", "deploy", pipeline.Approval(), pipeline.Concurrency("prod-${{ x }}"), pipeline.When(pipeline.OnBranches("main"))),
			job("d", "deploy", pipeline.Deploys(pipeline.Environment{Name: "production", URL: "https://example.com", Tier: pipeline.Production}),
				pipeline.Approval(), pipeline.Needs("gate"), pipeline.When(pipeline.OnBranches("main"), pipeline.OnTags())),
		), []lint.Option{lint.WithRunnerLabels("self-hosted", "dagger")}},
		{"changed paths", build(t,
			job("a", "build", pipeline.When(pipeline.OnBranches("main").WithChanges("src/**", "go.mod"), pipeline.OnMergeRequests("main").WithChanges("src/**", "go.mod"))),
			job("b", "test", pipeline.When(pipeline.OnTags("v*").WithChanges("go.mod", "src/**"))),
		), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := github.Generate(tt.p)
			if err != nil {
				t.Fatal(err)
			}
			opts := append([]lint.Option{lint.WithFilename(".github/workflows/ci.yml"), lint.WithFunctions(functions(tt.p)...)}, tt.opts...)
			if err := lint.GitHub(out, opts...); err != nil {
				t.Errorf("%v\n%s", err, out)
			}
		})
	}
	// Teams often run actionlint with shellcheck on their workflows: the
	// shims' scripts must pass it too.
	t.Run("shellcheck", func(t *testing.T) {
		if _, err := exec.LookPath("shellcheck"); err != nil {
			e2e.Unavailable(t, fmt.Errorf("shellcheck is not installed (make tools installs it): %w", err))
		}
		for _, tt := range tests {
			if tt.name == "monorepo" {
				continue // hundreds of the same scripts; slow under shellcheck
			}
			out, err := github.Generate(tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if err := lint.GitHub(out, append([]lint.Option{lint.WithShellcheck()}, tt.opts...)...); err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
		}
	})
}
