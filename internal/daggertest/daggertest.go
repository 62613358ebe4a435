// Package daggertest connects the Dagger Go SDK to the project's engine for
// the pipeline packages' end-to-end tests, and says how containers reach
// the engine's Go module proxy and registry mirror.
//
// Tests skip when no engine runs, and fail under SLIPWAY_REQUIRE_E2E=1, as
// enginetest decides.
package daggertest

import (
	"context"
	"fmt"
	"github.com/slipway-ci/slipway/internal/e2e"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"dagger.io/dagger"

	"github.com/slipway-ci/slipway/internal/enginetest"
)

// GoProxy is the engine's file module proxy as containers see it. The
// engine's containers reach no public proxy: stages that run the go
// command get it with their WithGoEnv / WithEnv options, as a user with an
// internal proxy would set theirs.
const GoProxy = "http://10.87.0.1:8081"

// Registry is the engine's registry mirror as containers see it (plain
// HTTP); the engine itself reaches it as EngineRegistry.
const (
	Registry       = "10.87.0.1:5000"
	EngineRegistry = "127.0.0.1:5000"
)

var (
	mu      sync.Mutex
	client  *dagger.Client
	connErr error
)

// Connect returns an SDK client on the project's engine, shared by the
// tests of one binary, or stops the test the way enginetest.Require does.
func Connect(t testing.TB) *dagger.Client {
	t.Helper()
	e := enginetest.Require(t)
	mu.Lock()
	defer mu.Unlock()
	if client == nil && connErr == nil {
		for _, kv := range e.Env.Environ(nil) {
			if k, v, ok := strings.Cut(kv, "="); ok && (strings.HasPrefix(k, "_EXPERIMENTAL_DAGGER") || strings.HasPrefix(k, "DAGGER_") || k == "DO_NOT_TRACK") {
				os.Setenv(k, v)
			}
		}
		// The session lives as long as Connect's context: Background, so
		// it serves every test of the binary.
		client, connErr = dagger.Connect(context.Background(), dagger.WithLogOutput(logWriter{}))
	}
	if connErr != nil {
		e2e.Unavailable(t, connErr)
	}
	return client
}

// logWriter keeps Dagger's progress out of test output unless asked for.
type logWriter struct{}

func (logWriter) Write(p []byte) (int, error) {
	if os.Getenv("SLIPWAY_DAGGER_LOG") == "1" {
		return os.Stderr.Write(p)
	}
	return len(p), nil
}

var (
	downloadMu sync.Mutex
	downloaded = map[string]error{}
)

// ModDownload runs `go mod download` in each Go module directory, once per
// test binary. The engine's containers get modules from the host's module
// cache (GoProxy), so a fixture's dependencies, such as golang.org/x/text
// v0.3.5, must be there first, also on a fresh machine.
func ModDownload(t testing.TB, dirs ...string) {
	t.Helper()
	downloadMu.Lock()
	defer downloadMu.Unlock()
	for _, dir := range dirs {
		err, done := downloaded[dir]
		if !done {
			cmd := exec.Command("go", "mod", "download")
			cmd.Dir = dir
			out, runErr := cmd.CombinedOutput()
			if runErr != nil {
				err = fmt.Errorf("go mod download in %s: %v\n%s", dir, runErr, out)
			}
			downloaded[dir] = err
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}
