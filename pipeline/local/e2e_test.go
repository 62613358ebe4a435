package local_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/enginetest"
	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/local"
)

// failingModule is a Dagger module whose functions fail as stages do: one
// returns a wrapped error chain, one runs a container that exits non-zero.
var failingModule = map[string]string{
	"dagger.json": `{"name": "failing", "engineVersion": "v0.19.10", "sdk": {"source": "go"}}`,
	"go.mod":      "module dagger/failing\n\ngo 1.25.0\n",
	"main.go": `package main

import (
	"context"
	"errors"
	"fmt"
)

// Failing fails on purpose.
type Failing struct{}

var errTests = errors.New("3 of 315 tests failed: TestA, TestB, TestC")

// Build passes.
func (m *Failing) Build() string { return "built" }

// TestUnit fails with a wrapped error chain, as a stage's verdict does.
func (m *Failing) TestUnit(ctx context.Context) error {
	return fmt.Errorf("test-unit: verdict: %w", errTests)
}

// Scan runs a container that fails.
func (m *Failing) Scan(ctx context.Context) (string, error) {
	return dag.Container().From("alpine:latest").
		WithExec([]string{"sh", "-c", "echo scanning; echo 'scanner: database is corrupt' >&2; exit 3"}).Stdout(ctx)
}
`,
}

// TestRealFailuresShowDaggersErrorChain runs a pipeline of failing
// functions on the real engine, as the demo does, and checks that each
// job's reason (the demo's summary column) is the error Dagger reported:
// the function's chain, or the failing command and its stderr; and that
// every job has its full log in a file.
func TestRealFailuresShowDaggersErrorChain(t *testing.T) {
	e := enginetest.Require(t)
	dir := t.TempDir()
	for name, body := range failingModule {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := pipeline.New("failing",
		pipeline.Stages("build", "test"),
		pipeline.Job("build", pipeline.Stage("build"), pipeline.Calls(pipeline.Fn("build"))),
		pipeline.Job("test:unit", pipeline.Stage("test"), pipeline.Calls(pipeline.Fn("test-unit"))),
		pipeline.Job("security:scan", pipeline.Stage("test"), pipeline.Calls(pipeline.Fn("scan"))),
	)
	if err != nil {
		t.Fatal(err)
	}
	opts := []local.Option{local.WithRunner(local.Shell{Dir: dir}), local.WithLogDir(filepath.Join(dir, "logs")), local.RetryModuleLoad(1)}
	for _, kv := range e.Env.Environ(os.Environ()) {
		k, v, _ := strings.Cut(kv, "=")
		opts = append(opts, local.WithEnv(k, v))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	res, err := local.Run(ctx, p, pipeline.Push, "main", opts...)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range res.Jobs {
		t.Logf("%s: %s after %d attempt(s), reason %q", j.Name, j.Status, j.Attempts, j.Reason)
	}
	want := map[string]struct {
		status local.Status
		reason string
	}{
		"build":     {local.Passed, ""},
		"test:unit": {local.Failed, "test-unit: verdict: 3 of 315 tests failed: TestA, TestB, TestC"},
		"security:scan": {local.Failed, `exit code: 3 (withExec sh -c 'echo scanning; echo '\''scanner: database is corrupt'\'' >&2; exit 3'): ` +
			"scanner: database is corrupt"},
	}
	for name, w := range want {
		j, _ := res.Job(name)
		if j.Status != w.status || j.Reason != w.reason {
			// The log is what the reason was read from: keep it for the
			// diagnosis (the temporary directory goes with the test).
			b, _ := os.ReadFile(j.LogFile)
			t.Errorf("%s: %s, reason %q; want %s, %q; its log:\n%s", name, j.Status, j.Reason, w.status, w.reason, b)
		}
		if j.Attempts != 1 {
			t.Errorf("%s ran %d times: a function's failure must not be retried", name, j.Attempts)
		}
	}
	if scan, _ := res.Job("security:scan"); scan.Failure == nil || len(scan.Failure.Stderr) != 1 || scan.Failure.Stderr[0] != "scanner: database is corrupt" {
		t.Errorf("security:scan's failure does not keep the container's stderr: %+v", scan.Failure)
	}
	for _, j := range res.Jobs {
		b, err := os.ReadFile(j.LogFile)
		if err != nil {
			t.Errorf("%s: %v", j.Name, err)
			continue
		}
		if !strings.Contains(string(b), "$ dagger call ") {
			t.Errorf("the log of %s lacks its command:\n%s", j.Name, b)
		}
	}
}
