package shimrun

import (
	"os"
	"strings"
	"testing"
)

// The job lines are as gitlab-ci-local 4.65.1 and act 0.2.89 print them
// (captured from both), with a dagger CLI's failure inside.
func TestJobFailuresOfBothRunners(t *testing.T) {
	const gitlab = "build starting shell (build)\n" +
		"other $ echo fine\n" +
		"other > fine\n" +
		"build $ dagger call build\n" +
		"build > 12  : Failing.check ERROR [15.9s]\n" +
		"build > \n" +
		"build > Error: exit code: 3 [traceparent:0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331]\n" +
		"build > Stderr:\n" +
		"build > cannot build: missing go.sum entry\n" +
		"build finished in 20 ms  FAIL 1 \n" +
		" FAIL  build\n"
	const act = "[CI/test:unit] ⭐ Run Main test\n" +
		"[CI/test:unit]   | 12  : Slipway.testUnit ERROR [3.0s]\n" +
		"[CI/test:unit]   | Error: test-unit: 2 of 10 tests failed: TestA, TestB [traceparent:ab-cd]\n" +
		"[CI/other]   | fine\n" +
		"[CI/test:unit]   ❌  Failure - Main test\n" +
		"Error: Job 'test:unit' failed\n"
	got := JobFailures([]byte(gitlab + act))
	if len(got) != 2 {
		t.Fatalf("JobFailures = %+v, want build and test:unit", got)
	}
	if f := got["build"]; f.Error != "exit code: 3" || f.Detail != "cannot build: missing go.sum entry" {
		t.Errorf("build: %+v", f)
	}
	if f := got["test:unit"]; f.Error != "test-unit: 2 of 10 tests failed: TestA, TestB" {
		t.Errorf("test:unit: %+v", f)
	}
	if _, ok := got["other"]; ok {
		t.Errorf("a passing job has a failure")
	}
	// act's own "Error: Job ... failed" is not any job's Dagger error.
	if outs := JobOutputs([]byte(act)); strings.Contains(outs["test:unit"], "Job 'test:unit' failed") {
		t.Errorf("the runner's own line went into the job's output: %q", outs["test:unit"])
	}
}

func TestFailureReport(t *testing.T) {
	res := &Result{Output: []byte("build > Error: test-unit: 2 of 10 tests failed [traceparent:ab-cd]\n")}
	r := FailureReport("gitlab-ci-local", res)
	if !strings.HasPrefix(r, "job build: test-unit: 2 of 10 tests failed\nfull output: ") {
		t.Errorf("report:\n%s", r)
	}
	path := strings.TrimSpace(r[strings.Index(r, "full output: ")+len("full output: "):])
	defer os.Remove(path)
	if b, err := os.ReadFile(path); err != nil || string(b) != string(res.Output) {
		t.Errorf("saved output %q, %v", b, err)
	}
	r = FailureReport("act", &Result{Output: []byte("act: no Docker\n")})
	if !strings.Contains(r, "no job printed a Dagger error; the output's last lines:\nact: no Docker\n") {
		t.Errorf("report without a Dagger error:\n%s", r)
	}
	os.Remove(strings.TrimSpace(r[strings.Index(r, "full output: ")+len("full output: "):]))
}
