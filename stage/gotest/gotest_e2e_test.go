package gotest_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/daggertest"
	"github.com/slipway-ci/slipway/stage/gotest"
)

// coverageRE is the regex of the reference pipeline's GitLab coverage:.
var coverageRE = regexp.MustCompile(`total:\s+\(statements\)\s+(\d+\.\d+)%`)

func TestRun(t *testing.T) {
	c := daggertest.Connect(t)
	tests := []struct {
		name       string
		fixture    string
		wantPass   bool
		wantFailed []string
		wantJUnit  []string
	}{
		{"passing", "testdata/pass", true, nil, []string{`tests="1"`, `failures="0"`, `name="TestAdd"`}},
		{"planted failure", "testdata/fail", false, []string{"example.com/fail.TestPlantedFailure"},
			[]string{`tests="2"`, `failures="1"`, `name="TestPlantedFailure"`, "planted failure: 2+2 is not 5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			res, err := gotest.Run(ctx, c, c.Host().Directory(tt.fixture),
				gotest.WithGoEnv("GOPROXY", daggertest.GoProxy), gotest.WithArgs("-count=1"))
			if err != nil {
				t.Fatal(err)
			}
			if res.Passed() != tt.wantPass {
				t.Errorf("Passed() = %v, want %v (exit %d, failed %v)", res.Passed(), tt.wantPass, res.ExitCode, res.Failed)
			}
			if strings.Join(res.Failed, ",") != strings.Join(tt.wantFailed, ",") {
				t.Errorf("Failed = %v, want %v", res.Failed, tt.wantFailed)
			}
			// A failure says why in the check's error, not only which test.
			_, checkErr := res.Verdict().Check()
			switch {
			case tt.wantPass && checkErr != nil:
				t.Errorf("Check() = %v, want no error", checkErr)
			case !tt.wantPass && (checkErr == nil || !strings.Contains(checkErr.Error(), "--- FAIL: example.com/fail.TestPlantedFailure\n") ||
				!strings.Contains(checkErr.Error(), "planted failure: 2+2 is not 5")):
				t.Errorf("Check() = %v, want the failed test's output", checkErr)
			}
			junit, err := res.Reports.File(gotest.JUnitFile).Contents(ctx)
			if err != nil {
				t.Fatalf("no JUnit report: %v", err)
			}
			for _, want := range tt.wantJUnit {
				if !strings.Contains(junit, want) {
					t.Errorf("junit.xml lacks %q:\n%s", want, junit)
				}
			}
			cob, err := res.Reports.File(gotest.CoberturaFile).Contents(ctx)
			if err != nil {
				t.Fatalf("no Cobertura report: %v", err)
			}
			if !strings.Contains(cob, `filename="calc.go"`) {
				t.Errorf("coverage.xml names no calc.go:\n%s", cob)
			}
			// Add is covered, Sub is not: 1 of 2 statements.
			m := coverageRE.FindStringSubmatch(res.CoverageLine)
			if m == nil || m[1] != "50.0" {
				t.Errorf("coverage line %q: GitLab's regex reads %v, want 50.0", res.CoverageLine, m)
			}
		})
	}
}
