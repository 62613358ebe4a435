// Package enginetest finds or starts the air-gapped Dagger engine for
// end-to-end tests.
//
// A test calls Require. Where no engine can be had (a laptop without root,
// a machine where `make engine` never ran) the test is skipped with the
// reason; with SLIPWAY_REQUIRE_E2E=1 (as in CI) it fails with the reason
// instead, so a broken engine can never pass as "skipped".
package enginetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/e2e"
	"github.com/slipway-ci/slipway/internal/engine"
	"github.com/slipway-ci/slipway/pipeline/local"
)

// Engine is a running engine, as a client sees it.
type Engine struct {
	Env engine.Env
	// Source says where the env came from (environment, env file, or
	// started by this test binary).
	Source string
}

var (
	once   sync.Once
	shared *Engine
	errShd error
)

// Require returns a running engine or stops the test: Skip with the reason,
// or Fatal with the reason when e2e.RequireEnv=1. The lookup (and any start)
// happens once per test binary.
func Require(t testing.TB) *Engine {
	t.Helper()
	once.Do(func() { shared, errShd = FindOrStart(context.Background()) })
	if errShd != nil {
		e2e.Unavailable(t, errShd)
	}
	return shared
}

// FindOrStart returns a running engine: the one named by the environment
// (_EXPERIMENTAL_DAGGER_RUNNER_HOST and _EXPERIMENTAL_DAGGER_CLI_BIN), else
// the one in this checkout's .slipway/engine.env, else the default instance
// (started if its build cache is warm; a cold build is `make engine`'s job,
// not a test's).
func FindOrStart(ctx context.Context) (*Engine, error) {
	if found, err := Find(); err == nil {
		return found, nil
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("no running engine found, and starting one needs root (run `sudo make engine`)")
	}
	e, err := engine.New(repoOption()...)
	if err != nil {
		return nil, err
	}
	if err := e.Cached(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	env, err := e.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("starting the engine: %w", err)
	}
	return &Engine{Env: env, Source: "started by the test (" + e.InstanceDir() + ")"}, nil
}

// Find returns a running engine without starting one.
func Find() (*Engine, error) {
	var reasons []string
	try := func(env engine.Env, source string) (*Engine, bool) {
		if err := Ping(env); err != nil {
			reasons = append(reasons, source+": "+err.Error())
			return nil, false
		}
		return &Engine{Env: env, Source: source}, true
	}
	if host, cli := os.Getenv("_EXPERIMENTAL_DAGGER_RUNNER_HOST"), os.Getenv("_EXPERIMENTAL_DAGGER_CLI_BIN"); host != "" && cli != "" {
		if e, ok := try(engine.Env{RunnerHost: host, CLIBin: cli, BinDir: filepath.Dir(cli)}, "environment"); ok {
			return e, nil
		}
	}
	var files []string
	if wd, err := os.Getwd(); err == nil {
		if repo, ok := engine.FindRepo(wd); ok {
			files = append(files, filepath.Join(repo, ".slipway", "engine.env"))
		}
	}
	if e, err := engine.New(); err == nil {
		files = append(files, e.EnvFile())
	}
	for _, f := range files {
		env, err := engine.ReadEnvFile(f)
		if err != nil {
			reasons = append(reasons, err.Error())
			continue
		}
		if e, ok := try(env, f); ok {
			return e, nil
		}
	}
	return nil, fmt.Errorf("no running engine (%s); start one with `make engine`", strings.Join(reasons, "; "))
}

func repoOption() []engine.Option {
	if wd, err := os.Getwd(); err == nil {
		if repo, ok := engine.FindRepo(wd); ok {
			return []engine.Option{engine.WithRepoDir(repo)}
		}
	}
	return nil
}

// Ping checks that the CLI exists and the engine answers on its socket.
func Ping(env engine.Env) error {
	if _, err := os.Stat(env.CLIBin); err != nil {
		return fmt.Errorf("dagger CLI: %w", err)
	}
	sock, ok := strings.CutPrefix(env.RunnerHost, "unix://")
	if !ok {
		return fmt.Errorf("runner host %q is not a unix socket", env.RunnerHost)
	}
	c, err := net.DialTimeout("unix", sock, 2*time.Second)
	if err != nil {
		return fmt.Errorf("engine not answering: %w", err)
	}
	return c.Close()
}

// Command is the dagger CLI with args, run in dir against the engine.
func (e *Engine) Command(ctx context.Context, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, e.Env.CLIBin, args...)
	cmd.Dir = dir
	cmd.Env = e.Env.Environ(os.Environ())
	return cmd
}

// Dagger runs the dagger CLI and returns its stdout; on failure the error
// says what Dagger reported (pipeline/local.ParseFailure), then stderr's
// tail, which says what the engine did.
func (e *Engine) Dagger(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := e.Command(ctx, dir, append([]string{"--progress=plain"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		// What Dagger reported first (the function's error chain), then
		// the end of the progress for context.
		reported := ""
		if f, ok := local.ParseFailure(stderr.String()); ok {
			reported = "\nDagger reported: " + f.String()
		}
		msg := stderr.String()
		if len(msg) > 4000 {
			msg = "..." + msg[len(msg)-4000:]
		}
		return stdout.String(), fmt.Errorf("dagger %s: %w%s\n%s", strings.Join(args, " "), err, reported, msg)
	}
	return stdout.String(), nil
}
