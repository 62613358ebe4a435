package local_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/local"
)

// scripted is a Runner that answers each command containing a key with the
// next of its scripted outputs: a fixture of real dagger CLI output
// (testdata) and whether the command fails.
type scripted struct {
	mu      sync.Mutex
	answers map[string][]answer
	runs    map[string]int
}

type answer struct {
	fixture string // file under testdata/dagger-v0.19.10, or "" for "ok"
	fail    bool
}

func (s *scripted) Run(_ context.Context, command string, _ []string, stdout, stderr io.Writer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runs == nil {
		s.runs = map[string]int{}
	}
	for key, as := range s.answers {
		if !strings.Contains(command, key) {
			continue
		}
		n := s.runs[key]
		s.runs[key]++
		a := as[min(n, len(as)-1)]
		if a.fixture != "" {
			b, err := os.ReadFile(filepath.Join("testdata", "dagger-v0.19.10", a.fixture))
			if err != nil {
				return err
			}
			stderr.Write(b)
		}
		if a.fail {
			return errors.New("exit status 1")
		}
		fmt.Fprintln(stdout, "ok")
		return nil
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}

func twoJobs(t *testing.T) *pipeline.Pipeline {
	t.Helper()
	src := pipeline.Dir("source", ".")
	p, err := pipeline.New("svc",
		pipeline.Stages("build", "test"),
		pipeline.Job("build", pipeline.Stage("build"), pipeline.Calls(pipeline.Fn("build", src))),
		pipeline.Job("test:unit", pipeline.Stage("test"), pipeline.Calls(pipeline.Fn("test-unit", src).ThenVerify("check"))),
	)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFailureReasonIsDaggersErrorChain: a job whose function failed shows
// the error chain the function returned, not the CLI's last line, and its
// full log is in its own file.
func TestFailureReasonIsDaggersErrorChain(t *testing.T) {
	logs := t.TempDir()
	run := &scripted{answers: map[string][]answer{
		"test-unit --source=. check": {{fixture: "function-error.txt", fail: true}},
		"call build":                 {{fixture: "exec-error.txt", fail: true}},
	}}
	p := twoJobs(t)
	// build fails too: run test:unit alone to see both reasons.
	res, err := local.Run(context.Background(), p, pipeline.Push, "main", local.WithRunner(run), local.WithLogDir(logs))
	if err != nil {
		t.Fatal(err)
	}
	build, _ := res.Job("build")
	if want := "exit code: 3 (withExec sh -c 'echo some output; echo bad thing >&2; exit 3'): bad thing"; build.Status != local.Failed || build.Reason != want {
		t.Errorf("build: %s, reason %q, want failed, %q", build.Status, build.Reason, want)
	}
	res, err = local.Run(context.Background(), p, pipeline.Push, "main", local.WithRunner(run), local.WithLogDir(logs), local.OnlyJobs("test:unit"))
	if err != nil {
		t.Fatal(err)
	}
	tu, _ := res.Job("test:unit")
	if want := "test-unit: verdict: 3 of 315 tests failed: TestA, TestB, TestC"; tu.Status != local.Failed || tu.Reason != want {
		t.Errorf("test:unit: %s, reason %q, want failed, %q", tu.Status, tu.Reason, want)
	}
	if tu.Failure == nil || tu.Failure.ModuleLoad {
		t.Errorf("test:unit Failure = %+v, want a function's failure", tu.Failure)
	}
	// The CLI's last line is the trace id's line, not the chain's words.
	if strings.Contains(tu.Reason, "traceparent") {
		t.Errorf("reason keeps the trace id: %q", tu.Reason)
	}
	if tu.LogFile != filepath.Join(logs, "test-unit.log") {
		t.Errorf("log file %q", tu.LogFile)
	}
	b, err := os.ReadFile(tu.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	for _, want := range []string{"# job test:unit (stage test), started ", "$ dagger call test-unit --source=. check",
		"tests failed: TestA, TestB, TestC [traceparent:", "# failed in ", "# reason: " + tu.Reason} {
		if !strings.Contains(log, want) {
			t.Errorf("the log file lacks %q:\n%s", want, log)
		}
	}
	if _, err := os.Stat(filepath.Join(logs, "build.log")); err != nil {
		t.Errorf("no log for build: %v", err)
	}
}

// TestRetryModuleLoad: a module-load failure (nothing ran) is retried and
// said so; a function's failure is not.
func TestRetryModuleLoad(t *testing.T) {
	for _, tc := range []struct {
		name     string
		answers  []answer
		retries  int
		status   local.Status
		attempts int
		reason   string
	}{
		{"load failure, then ok", []answer{{fixture: "module-load-mount-error.txt", fail: true}, {}}, 1, local.Passed, 2, ""},
		{"load failure twice", []answer{{fixture: "module-main-object-error.txt", fail: true}}, 1, local.Failed, 2,
			"main object not found, check that your module's name and main object match"},
		{"no retry without the option", []answer{{fixture: "module-main-object-error.txt", fail: true}, {}}, 0, local.Failed, 1,
			"main object not found, check that your module's name and main object match"},
		{"a function's failure is not retried", []answer{{fixture: "function-error.txt", fail: true}, {}}, 3, local.Failed, 1,
			"test-unit: verdict: 3 of 315 tests failed: TestA, TestB, TestC"},
		{"runtime codegen failure is a load failure", []answer{{fixture: "module-compile-error.txt", fail: true}, {}}, 1, local.Passed, 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := &scripted{answers: map[string][]answer{"call build": tc.answers}}
			var progress strings.Builder
			res, err := local.Run(context.Background(), twoJobs(t), pipeline.Push, "main", local.WithRunner(run),
				local.OnlyJobs("build"), local.RetryModuleLoad(tc.retries), local.WithProgress(&progress))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := res.Job("build")
			if b.Status != tc.status || b.Attempts != tc.attempts || b.Reason != tc.reason {
				t.Errorf("build: %s after %d attempts, reason %q; want %s after %d, %q", b.Status, b.Attempts, b.Reason, tc.status, tc.attempts, tc.reason)
			}
			retried := strings.Contains(progress.String(), "nothing changed and a retry is safe (attempt 1 of")
			if retried != (tc.attempts > 1) {
				t.Errorf("progress says retried=%v, attempts %d:\n%s", retried, tc.attempts, progress.String())
			}
		})
	}
}
