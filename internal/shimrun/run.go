package shimrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Run is one simulated pipeline run.
type Run struct {
	// Repo is the repository to run in, made by NewRepo.
	Repo *Repo
	// DaggerDir holds the `dagger` the jobs run, first on their PATH: the
	// stand-in (see BuildStandIn), or the real CLI's directory, with Env
	// naming its engine.
	DaggerDir string
	// Env is added to the runner's environment, which the jobs inherit:
	// for the real CLI, the engine's _EXPERIMENTAL_DAGGER_RUNNER_HOST.
	Env []string
	// Secrets are the CI secrets by name: masked CI/CD variables on
	// GitLab, repository secrets on GitHub.
	Secrets map[string]string
	// Variables are CI variables by name, which override the CI file's
	// defaults: project CI/CD variables on GitLab, repository variables
	// (the vars context) on GitHub.
	Variables map[string]string
	// Manual names manual jobs to run as if someone started them. Only
	// gitlab-ci-local has manual jobs; act ignores it.
	Manual []string
	// Jobs, when set, runs only these jobs (gitlab-ci-local's job
	// arguments), as a person starts one job of a pipeline that already
	// ran in the same Repo: the jobs' needs are not run again, and their
	// outputs come from the earlier run's artifacts. Only gitlab-ci-local.
	Jobs []string
	// Fail names Dagger functions the stand-in makes fail.
	Fail []string
	// RecordEnv names environment variables the stand-in records in each
	// Invocation with their values; never secrets.
	RecordEnv []string
	// TempDir holds the log, the HOME of the run and the runner's scratch
	// files; a test's t.TempDir().
	TempDir string
}

// Result is what a run did.
type Result struct {
	// Invocations are the stand-in's invocations, in the order they happened.
	Invocations []Invocation
	// Output is the runner's combined stdout and stderr.
	Output []byte
	// ExitCode is the runner's exit status: 0 when the pipeline succeeded.
	ExitCode int
	// Duration is the runner's wall-clock time.
	Duration time.Duration
}

// Runner runs a generated CI file on a local runner.
type Runner interface {
	// Name says which runner this is, for messages.
	Name() string
	// Run runs the pipeline for run.Repo.Ref. The error reports a failure
	// to run at all (such as the context's deadline); a failed pipeline is
	// a Result with a non-zero ExitCode.
	Run(ctx context.Context, run Run) (*Result, error)
}

// hermeticEnv returns the environment a runner runs in: the system PATH
// behind DaggerDir and the tool's own directories, a fresh HOME (so the
// generated set-up step's $HOME/.local/bin holds no real dagger and the
// runner's user configuration is empty), the stand-in's settings and
// run.Env. Nothing
// else leaks in from the test's environment, in particular no CI_* or
// GITHUB_* variables of a CI the tests themselves run in.
func hermeticEnv(run Run, tool Tool, logPath string) ([]string, error) {
	home := filepath.Join(run.TempDir, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		return nil, err
	}
	path := append([]string{run.DaggerDir}, tool.PathDirs...)
	path = append(path, os.Getenv("PATH"))
	env := []string{
		"PATH=" + strings.Join(path, string(os.PathListSeparator)),
		"HOME=" + home,
		"SLIPWAY_DAGGER_LOG=" + logPath,
		"SLIPWAY_DAGGER_FAIL=" + strings.Join(run.Fail, ","),
		"SLIPWAY_DAGGER_ENV=" + strings.Join(run.RecordEnv, ","),
		// slipway's module is installed as the toolchain "slipway" in the
		// pipelines pipeline/goservice makes.
		"SLIPWAY_DAGGER_TOOLCHAINS=slipway",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_CONFIG_NOSYSTEM=1",
	}
	for _, k := range []string{"TMPDIR", "USER", "LOGNAME", "LANG", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return append(env, run.Env...), nil
}

// execute runs the runner, bounded by ctx: on expiry the whole process group
// (the runner and the job shells it started) is killed.
func execute(ctx context.Context, dir string, env []string, logPath string, name string, args ...string) (*Result, error) {
	// A log left by an earlier run in the same directory must not count.
	if err := os.Remove(logPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	killGroupOnCancel(cmd)
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	res := &Result{Output: out.Bytes(), Duration: time.Since(start)}
	if ctx.Err() != nil {
		return res, fmt.Errorf("%s: %w after %s\n%s", filepath.Base(name), ctx.Err(), res.Duration.Round(time.Millisecond), out.Bytes())
	}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.ExitCode = exit.ExitCode()
	case err != nil:
		return res, fmt.Errorf("%s: %w", filepath.Base(name), err)
	}
	res.Invocations, err = ReadLog(logPath)
	if err != nil {
		return res, err
	}
	return res, nil
}

// sortedKeys returns m's keys in order, so command lines are deterministic.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
