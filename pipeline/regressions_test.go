package pipeline_test

// Regression tests for model bugs found by review: Dagger's exact naming
// rule, Plan's order within a stage, git's ".lock" rule and CI-reserved
// variable names.

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
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

// The check that every output line is there read the function's output
// with `grep -q`, which exits at its first match: under pipefail the
// printf still writing the lines after it died of SIGPIPE and the check
// failed for a line that was there (seen as a flaky CI job). A long
// output after the first name makes the race certain.
func TestOutputLinesSurviveLongOutput(t *testing.T) {
	sh, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash to run the lines in")
	}
	var j pipeline.JobSpec
	pipeline.Outputs("IMAGE_REF", "VERSION")(&j)
	env := filepath.Join(t.TempDir(), "slipway.env")
	for _, tc := range []struct {
		name, out string
		ok        bool
	}{
		{"both, then a long log", "IMAGE_REF=r@sha256:1\nVERSION=1.2.3\n" + strings.Repeat("a log line of the function\n", 20000), true},
		{"version missing", "IMAGE_REF=r@sha256:1\n" + strings.Repeat("log\n", 20000), false},
		{"a name inside a line does not count", "xIMAGE_REF=1\nVERSION=1\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script := "set -eo pipefail\nout=\"$(cat)\"\n" + strings.Join(j.OutputLines("out", "> "+env), "\n") + "\n"
			cmd := exec.Command(sh, "-c", script)
			cmd.Stdin = strings.NewReader(tc.out)
			outb, err := cmd.CombinedOutput()
			if (err == nil) != tc.ok {
				t.Fatalf("the output lines exited %v, want success %v: %s", err, tc.ok, outb)
			}
			if tc.ok {
				got, _ := os.ReadFile(env)
				if string(got) != "IMAGE_REF=r@sha256:1\nVERSION=1.2.3\n" {
					t.Errorf("kept %q", got)
				}
			}
		})
	}
}
