package enginetest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/internal/engine"
)

// recorder captures what Unavailable does instead of stopping the test.
func TestPingReportsWhatIsMissing(t *testing.T) {
	dir := t.TempDir()
	err := Ping(engine.Env{RunnerHost: "unix://" + filepath.Join(dir, "sock"), CLIBin: filepath.Join(dir, "dagger")})
	if err == nil || !strings.Contains(err.Error(), "dagger CLI") {
		t.Errorf("missing CLI: %v", err)
	}
	cli := filepath.Join(dir, "dagger")
	if err := writeFile(cli); err != nil {
		t.Fatal(err)
	}
	err = Ping(engine.Env{RunnerHost: "unix://" + filepath.Join(dir, "sock"), CLIBin: cli})
	if err == nil || !strings.Contains(err.Error(), "not answering") {
		t.Errorf("no engine: %v", err)
	}
	err = Ping(engine.Env{RunnerHost: "tcp://127.0.0.1:1234", CLIBin: cli})
	if err == nil || !strings.Contains(err.Error(), "not a unix socket") {
		t.Errorf("tcp runner host: %v", err)
	}
}

func writeFile(p string) error { return os.WriteFile(p, nil, 0o755) }

// TestDaggerErrorLeadsWithDaggersError: a failed call's error starts with
// what Dagger reported, not with the end of the progress output.
func TestDaggerErrorLeadsWithDaggersError(t *testing.T) {
	dir := t.TempDir()
	cli := filepath.Join(dir, "dagger")
	script := "#!/bin/sh\necho '12  : Slipway.testUnit ERROR [1.0s]' >&2\n" +
		"echo 'Error: test-unit: 2 of 10 tests failed [traceparent:ab-cd]' >&2\necho 'Stderr:' >&2\necho 'more words' >&2\nexit 1\n"
	if err := os.WriteFile(cli, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	e := &Engine{Env: engine.Env{RunnerHost: "unix:///nonexistent", CLIBin: cli, BinDir: dir}}
	_, err := e.Dagger(t.Context(), dir, "call", "test-unit")
	if err == nil || !strings.Contains(err.Error(), "dagger call test-unit: exit status 1\nDagger reported: test-unit: 2 of 10 tests failed\n") {
		t.Errorf("error: %v", err)
	}
}
