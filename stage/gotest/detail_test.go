package gotest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jstemmer/go-junit-report/v2/gtr"
)

// The Detail shows the failed subtest's output, not its parent's (which
// only repeats the subtest's verdict), and at most detailTests tests.
func TestFailureOutput(t *testing.T) {
	r := gtr.Report{Packages: []gtr.Package{{Name: "example.com/p", Tests: []gtr.Test{
		{Name: "TestSSE", Result: gtr.Fail, Output: []string{"--- FAIL: TestSSE/cancel"}},
		{Name: "TestSSE/cancel", Result: gtr.Fail, Output: []string{"    handlers_test.go:3312: context deadline exceeded"}},
		{Name: "TestOK", Result: gtr.Pass, Output: []string{"fine"}},
	}}}}
	got := failureOutput(r)
	want := "--- FAIL: example.com/p.TestSSE/cancel\n        handlers_test.go:3312: context deadline exceeded\n"
	if got != want {
		t.Errorf("failureOutput:\n%s\nwant:\n%s", got, want)
	}

	var many []gtr.Test
	for i := range detailTests + 2 {
		many = append(many, gtr.Test{Name: fmt.Sprintf("Test%d", i), Result: gtr.Fail, Output: []string{"boom"}})
	}
	got = failureOutput(gtr.Report{Packages: []gtr.Package{{Name: "p", Tests: many}}})
	if n := strings.Count(got, "--- FAIL: "); n != detailTests {
		t.Errorf("%d tests shown, want %d:\n%s", n, detailTests, got)
	}
}

func TestTailLines(t *testing.T) {
	var lines []string
	for i := range detailLines + 5 {
		lines = append(lines, fmt.Sprintf("line %d", i))
	}
	got := tailLines(strings.Join(lines, "\n")+"\n", detailLines)
	if !strings.HasPrefix(got, "    (5 earlier lines not shown)\n    line 5\n") || !strings.HasSuffix(got, fmt.Sprintf("    line %d", detailLines+4)) {
		t.Errorf("tailLines:\n%s", got)
	}
	if got := tailLines("\n", 3); got != "" {
		t.Errorf("tailLines of nothing = %q", got)
	}
}

// Check puts the Detail under the one-line problem; a passed run has none.
func TestVerdictDetail(t *testing.T) {
	r := Result{ExitCode: 1, Failed: []string{"p.TestA"}, Detail: "--- FAIL: p.TestA\n    boom\n", Coverage: -1}
	_, err := r.Verdict().Check()
	if err == nil || err.Error() != "1 failed: p.TestA\n--- FAIL: p.TestA\n    boom" {
		t.Errorf("Check() = %v", err)
	}
	r = Result{Detail: "stale", Coverage: -1}
	if v := r.Verdict(); v.Detail != "" {
		t.Errorf("a passed run's Verdict has Detail %q", v.Detail)
	}
}

// A package that fails outside any test shows its output too.
func TestFailureOutputOutsideATest(t *testing.T) {
	r := gtr.Report{Packages: []gtr.Package{{Name: "example.com/p",
		RunError: gtr.Error{Name: "example.com/p", Output: []string{"panic: boom in init"}}}}}
	want := "--- FAIL: example.com/p (failed outside a test)\n    panic: boom in init\n"
	if got := failureOutput(r); got != want {
		t.Errorf("failureOutput:\n%s\nwant:\n%s", got, want)
	}
}
