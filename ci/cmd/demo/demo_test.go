package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/local"
)

// cliOutput is a Runner that prints real output of the dagger CLI for a
// failed call (pipeline/local's fixtures) for commands containing a key.
type cliOutput map[string]string

func (c cliOutput) Run(_ context.Context, command string, _ []string, stdout, stderr io.Writer) error {
	for key, fixture := range c {
		if strings.Contains(command, key) {
			b, err := os.ReadFile(filepath.Join("..", "..", "..", "pipeline", "local", "testdata", "dagger-v0.19.10", fixture))
			if err != nil {
				return err
			}
			stderr.Write(b)
			return errors.New("exit status 1")
		}
	}
	io.WriteString(stdout, "ok\n")
	return nil
}

// TestSummaryAndFailuresShowDaggersError: the summary's reason column and
// the failure report below it show the error Dagger reported, and where
// the job's full log is.
func TestSummaryAndFailuresShowDaggersError(t *testing.T) {
	p, err := pipeline.New("svc",
		pipeline.Stages("test"),
		pipeline.Job("test:unit", pipeline.Stage("test"), pipeline.Calls(pipeline.Fn("test-unit"))),
		pipeline.Job("security:trivy", pipeline.Stage("test"), pipeline.Calls(pipeline.Fn("security-trivy"))),
		pipeline.Job("test:planted", pipeline.Stage("test"), pipeline.Calls(pipeline.Fn("planted-tests"))),
	)
	if err != nil {
		t.Fatal(err)
	}
	logs := t.TempDir()
	res, err := local.Run(context.Background(), p, pipeline.Push, "main", local.WithLogDir(logs),
		local.WithRunner(cliOutput{"test-unit": "function-error.txt", "security-trivy": "exec-error.txt", "planted-tests": "multiline-error.txt"}))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	summary(&out, p, res, time.Minute)
	failures(&out, res)
	report := out.String()
	for _, want := range []string{
		"test   test:unit       failed  ",
		"test-unit: verdict: 3 of 315 tests failed: TestA, TestB, TestC\n",
		"exit code: 3 (withExec sh -c 'echo some output; echo bad thing >&2; exit 3'): bad thing\n",
		"\ntest:unit failed: test-unit: verdict: 3 of 315 tests failed: TestA, TestB, TestC\n  full log: " + filepath.Join(logs, "test-unit.log") + "\n",
		// A multi-line error: its first line in the table (the row ends
		// there), all of it below.
		"       test-unit: 1 failed: example.com/fail.TestPlantedFailure\n3 jobs in 1m0s\n",
		"\ntest:planted failed: test-unit: 1 failed: example.com/fail.TestPlantedFailure\n--- FAIL: example.com/fail.TestPlantedFailure\n        calc_test.go:15: planted failure: 2+2 is not 5\n  full log: ",
		"\nsecurity:trivy failed: exit code: 3\n  in: withExec sh -c 'echo some output; echo bad thing >&2; exit 3'\n  stderr (last lines):\n    bad thing\n  full log: " + filepath.Join(logs, "security-trivy.log") + "\n",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q:\n%s", want, report)
		}
	}
	if strings.Contains(report, "traceparent") {
		t.Errorf("the report shows Dagger's trace id, the CLI's last line:\n%s", report)
	}
}

// TestSignedNote: the build row names the signature's key ID, the
// provenance's builder and the SBOM's size, as publish printed them, or
// says the image is not signed.
func TestSignedNote(t *testing.T) {
	log := "12:00:01 publish: signed sha256:ab12 with key ID T2xkS2V5SWRXaXRoU29tZUJhc2U2NA==; signed SBOM attached; signed SLSA provenance attached (builder https://github.com/slipway-ci/slipway); SBOM: 42 components, 30 Go modules\n"
	if got, want := signedNote(log), "key ID T2xkS2V5…, provenance github.com/slipway-ci/slipway, SBOM 42 components"; got != want {
		t.Errorf("signedNote = %q, want %q", got, want)
	}
	if got, want := signedNote("publish: not signed (no --signing-key, ...)"), "NOT signed: no SIGNING_KEY"; got != want {
		t.Errorf("unsigned: %q, want %q", got, want)
	}
	if got := signedNote("nothing"); got != "" {
		t.Errorf("no publish line: %q", got)
	}
}

// TestDeployNote: the table gets a deploy's verdict, the lines below it
// what verified the deploy; accounts without a check stay as they are.
func TestDeployNote(t *testing.T) {
	for _, tc := range []struct{ line, note, checked string }{
		{"staging: namespace mts-deploy-ai-staging, verified by smoke test and alerts, revision 2, 21.3s, image 10.87.0.1:5000/t/m@sha256:ab, " +
			"smoke test passed: GET /health, /ready, metrics:/metrics answered 2xx through Service mts-deploy-ai for 5s; Prometheus: 2 targets up, no alert of 1 rule files fired for 10s, " +
			"signed evidence recorded (key ID AUdq=); skipped: PrometheusRule x (monitoring.coreos.com/v1 not served by the cluster)",
			"staging: verified by smoke test and alerts, revision 2, 21.3s",
			"smoke test passed: GET /health, /ready, metrics:/metrics answered 2xx through Service mts-deploy-ai for 5s; Prometheus: 2 targets up, no alert of 1 rule files fired for 10s"},
		{"production: namespace p, not verified (--no-verify), revision 1, 1s, image r@sha256:ab, no smoke test, evidence recorded",
			"production: not verified (--no-verify), revision 1, 1s", "no smoke test"},
		{"staging: namespace s, helm release revision 1, verified by smoke test, 9.26s, image r@sha256:ab, smoke test passed: GET /ready answered 2xx through Service web, signed evidence recorded (key ID A=)",
			"staging: helm release revision 1, verified by smoke test, 9.26s", "smoke test passed: GET /ready answered 2xx through Service web"},
		{"staging: namespace s, commit 0123456789ab (pushed) Synced and Healthy in Argo CD argocd/app, not verified (--no-verify), 3s, image r@sha256:ab, no smoke test, evidence recorded",
			"staging: commit 0123456789ab (pushed) Synced and Healthy in Argo CD argocd/app, not verified (--no-verify), 3s", "no smoke test"},
		{"staging: Argo CD synced", "staging: Argo CD synced", ""},
	} {
		note, checked := deployNote(tc.line)
		if note != tc.note || checked != tc.checked {
			t.Errorf("deployNote(%q) =\n  %q, %q\nwant\n  %q, %q", tc.line, note, checked, tc.note, tc.checked)
		}
	}
}
