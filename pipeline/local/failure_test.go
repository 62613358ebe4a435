package local

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// The fixtures are real output of the dagger CLI v0.19.10 (plain progress,
// as it prints when its output is not a terminal) for failed calls.
func TestParseFailureOfRealCLIOutput(t *testing.T) {
	const mount = `failed to serve module: failed to initialize module: failed to get type defs json during module sdk codegen: failed to mount /tmp/buildkit-mount4195007959: [{Type:overlay Source:overlay Target: Options:[workdir=/tmp/fr-inst-u1/state/worker/snapshots/snapshots/18/work upperdir=/tmp/fr-inst-u1/state/worker/snapshots/snapshots/18/fs lowerdir=/tmp/fr-inst-u1/state/worker/snapshots/snapshots/12/fs:/tmp/fr-inst-u1/state/worker/snapshots/snapshots/11/fs:/tmp/fr-inst-u1/state/worker/snapshots/snapshots/10/fs volatile index=off redirect_dir=off]}]: mount source: "overlay", target: "/tmp/buildkit-mount4195007959", fstype: overlay, flags: 0, data: "workdir=/tmp/fr-inst-u1/state/worker/snapshots/snapshots/18/work,upperdir=/tmp/fr-inst-u1/state/worker/snapshots/snapshots/18/fs,lowerdir=/tmp/fr-inst-u1/state/worker/snapshots/snapshots/12/fs:/tmp/fr-inst-u1/state/worker/snapshots/snapshots/11/fs:/tmp/fr-inst-u1/state/worker/snapshots/snapshots/10/fs,volatile,index=off,redirect_dir=off", err: invalid argument`
	for _, tc := range []struct {
		file   string
		want   Failure
		str    string
		stderr int
	}{
		{
			// A function returned a wrapped error: the chain is the message.
			file: "function-error.txt",
			want: Failure{Error: "test-unit: verdict: 3 of 315 tests failed: TestA, TestB, TestC"},
			str:  "test-unit: verdict: 3 of 315 tests failed: TestA, TestB, TestC",
		},
		{
			// A check whose error has the failed test's output under the
			// one-line problem (stage/gotest/testdata/fail): all of it is
			// the message.
			file: "multiline-error.txt",
			want: Failure{Error: "test-unit: 1 failed: example.com/fail.TestPlantedFailure\n--- FAIL: example.com/fail.TestPlantedFailure\n        calc_test.go:15: planted failure: 2+2 is not 5"},
			str:  "test-unit: 1 failed: example.com/fail.TestPlantedFailure\n--- FAIL: example.com/fail.TestPlantedFailure\n        calc_test.go:15: planted failure: 2+2 is not 5",
		},
		{
			// A container's command failed: the chain is only its exit
			// code, so the command and its stderr say what happened.
			file:   "exec-error.txt",
			want:   Failure{Error: "exit code: 3", Exec: "sh -c 'echo some output; echo bad thing >&2; exit 3'", Detail: "bad thing"},
			str:    "exit code: 3 (withExec sh -c 'echo some output; echo bad thing >&2; exit 3'): bad thing",
			stderr: 1,
		},
		{
			// The same failure reported on the span of the call that read
			// the output (Container.stdout ERROR, withExec DONE), as the
			// engine does when the command fails while that call waits.
			file:   "exec-error-on-stdout.txt",
			want:   Failure{Error: "exit code: 3", Exec: "sh -c 'echo scanning; echo '\\''scanner: database is corrupt'\\'' >&2; exit 3'", Detail: "scanner: database is corrupt"},
			str:    "exit code: 3 (withExec sh -c 'echo scanning; echo '\\''scanner: database is corrupt'\\'' >&2; exit 3'): scanner: database is corrupt",
			stderr: 1,
		},
		{
			// The module's code generation failed when its runtime was
			// built: codegen's own last line ("Error: exit status 1") is
			// not Dagger's error, go's complaint is the detail.
			file: "module-compile-error.txt",
			want: Failure{Error: `call function "Check": exit code: 1`, ModuleLoad: true,
				Detail: "go: finding module for package example.com/missing/pkg go: dagger/broken imports example.com/missing/pkg: cannot find module providing package example.com/missing/pkg: module example.com/missing/pkg: reading http://10.87.0.1:8081/example.com/missing/pkg/@v/list: 404 Not Found server response: 404 page not found"},
			str:    `call function "Check": exit code: 1: go: finding module for package example.com/missing/pkg go: dagger/broken imports example.com/missing/pkg: cannot find module providing package example.com/missing/pkg: module example.com/missing/pkg: reading http://10.87.0.1:8081/example.com/missing/pkg/@v/list: 404 Not Found server response: 404 page not found`,
			stderr: 10,
		},
		{
			// Dagger v0.19.10's overlay bug (patches/ in internal/engine)
			// while loading a module: nothing ran.
			file: "module-load-mount-error.txt",
			want: Failure{Error: mount, ModuleLoad: true},
			str:  mount,
		},
		{
			file: "module-main-object-error.txt",
			want: Failure{Error: "main object not found, check that your module's name and main object match", ModuleLoad: true},
			str:  "main object not found, check that your module's name and main object match",
		},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "dagger-v0.19.10", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got, ok := ParseFailure(string(b))
			if !ok {
				t.Fatal("no failure found")
			}
			if len(got.Stderr) != tc.stderr {
				t.Errorf("Stderr has %d lines, want %d: %q", len(got.Stderr), tc.stderr, got.Stderr)
			}
			got.Stderr = nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseFailure:\n got %+v\nwant %+v", got, tc.want)
			}
			if s := got.String(); s != tc.str {
				t.Errorf("String:\n got %q\nwant %q", s, tc.str)
			}
		})
	}
}

func TestParseFailureEdges(t *testing.T) {
	if f, ok := ParseFailure("sh: 1: make: not found\n"); ok {
		t.Errorf("output without a dagger error parsed as %+v", f)
	}
	// A multi-line message ends at the trace id.
	f, ok := ParseFailure("Error: first line\nsecond line [traceparent:0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331]\n")
	if !ok || f.Error != "first line\nsecond line" {
		t.Errorf("multi-line message: %q, %v", f.Error, ok)
	}
	// Without a trace id (an older CLI, or the message of a non-dagger
	// tool) the last "Error:" line counts.
	f, ok = ParseFailure("Error: old\nmore\nError: new\n")
	if !ok || f.Error != "new" {
		t.Errorf("without trace id: %q, %v", f.Error, ok)
	}
	// Bare exit statuses and log lines are not a detail.
	if d := detail([]string{"2026/12/04 19:35:18 INFO running", "real problem", "  second line", "exit status 1", "Error: exit status 1"}); d != "real problem second line" {
		t.Errorf("detail = %q", d)
	}
	if d := detail([]string{"exit status 2"}); d != "" {
		t.Errorf("detail of a bare exit status = %q", d)
	}
	if f, _ := ParseFailure("\x1b[33mError: colored [traceparent:ab-cd]\x1b[0m"); f.Error != "colored" {
		t.Errorf("ANSI colors not stripped: %q", f.Error)
	}
}
