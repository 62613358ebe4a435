package pipeline_test

// Regression tests for model bugs found by review: Dagger's exact naming
// rule, Plan's order within a stage, git's ".lock" rule and CI-reserved
// variable names.

import (
	"errors"
	"slices"
	"testing"

	"github.com/slipway-ci/slipway/pipeline"
)

// Plan walks Jobs() once, so a job that needs a job of the same stage
// defined after it is dropped although both run.
func TestPlanSameStageNeedsDefinedLater(t *testing.T) {
	p, err := pipeline.New("svc",
		pipeline.Stages("test"),
		job("a", "test", pipeline.Needs("b")),
		job("b", "test"),
	)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	got := names(p.Plan(pipeline.Push, "main"))
	if !slices.Contains(got, "a") || !slices.Contains(got, "b") {
		t.Fatalf("Plan(push, main) = %q, want both a and b", got)
	}
	if slices.Index(got, "a") < slices.Index(got, "b") {
		t.Errorf("Plan(push, main) = %q: a runs before b, which it needs", got)
	}
}

// Dagger names a Go method strcase.ToKebab(strcase.ToLowerCamel(name))
// (dagger v0.19.10 core/typedef.go NewFunction, cmd/dagger cliName).
func TestKebabMatchesDagger(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"HTTPServer", "httpserver"},
		{"URLFor", "urlfor"},
		{"JSONToYAML", "jsonto-yaml"},
		{"SBOMs", "sboms"},
		{"Sha256Sum", "sha-256-sum"},
		{"TestE2E", "test-e-2-e"},
		{"K8sDeploy", "k-8-s-deploy"},
		{"Go118", "go-118"},
		{"IPv6Check", "ipv-6-check"},
	} {
		if got := pipeline.Kebab(tc.in); got != tc.want {
			t.Errorf("Kebab(%q) = %q, dagger calls it %q", tc.in, got, tc.want)
		}
	}
}

// git check-ref-format: no component may end in ".lock".
func TestRefComponentEndingInLock(t *testing.T) {
	if _, err := pipeline.ParseRefPattern("release.lock/1"); err == nil {
		t.Error(`ParseRefPattern("release.lock/1") accepted a ref git rejects`)
	}
}

// A pipeline variable named GITHUB_* is silently ignored by GitHub (default
// variables cannot be overridden, and configuration variables may not start
// with GITHUB_); CI_* overrides GitLab's predefined variables.
func TestVariableNamesReservedByCI(t *testing.T) {
	for _, name := range []string{"GITHUB_SHA", "CI_COMMIT_SHA", "RUNNER_OS"} {
		_, err := pipeline.New("svc", pipeline.Stages("build"), job("build", "build"), pipeline.Var(name, "x"))
		var verr *pipeline.ValidationError
		if !errors.As(err, &verr) {
			t.Errorf("Var(%q): New accepted a name the CI reserves", name)
		}
	}
}
