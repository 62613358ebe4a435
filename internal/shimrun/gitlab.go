package shimrun

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"

	"github.com/slipway-ci/slipway/pipeline"
)

// GitLab runs .gitlab-ci.yml with gitlab-ci-local on the host, every job in
// the shell executor with its own copy of the repository
// (--force-shell-executor --shell-isolation), as a GitLab runner with the
// shell executor would.
type GitLab struct {
	// Tool is gitlab-ci-local, from FindGitLabCILocal.
	Tool Tool
}

// Name implements Runner.
func (GitLab) Name() string { return "gitlab-ci-local" }

// Args returns gitlab-ci-local's arguments for run. gitlab-ci-local derives
// CI_COMMIT_BRANCH and CI_COMMIT_REF_NAME from the checked-out branch and
// always sets CI_PIPELINE_SOURCE=push, so tags and merge requests are
// simulated with the variables GitLab sets for them. It does not evaluate
// workflow:rules, so only the jobs' own rules decide.
func (GitLab) Args(run Run) []string {
	args := []string{"--force-shell-executor", "--shell-isolation", "--no-color", "--timestamps"}
	var overrides string
	switch ref := run.Repo.Ref; ref.Event {
	case pipeline.TagPush:
		args = append(args,
			"--variable", "CI_COMMIT_TAG="+ref.Name,
			"--variable", "CI_COMMIT_REF_NAME="+ref.Name,
			"--unset-variable", "CI_COMMIT_BRANCH")
		overrides = "CI_COMMIT_REF_NAME"
	case pipeline.MergeRequest:
		args = append(args,
			"--variable", "CI_PIPELINE_SOURCE=merge_request_event",
			"--variable", "CI_MERGE_REQUEST_IID=1",
			"--variable", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME="+ref.Name,
			"--variable", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME="+ref.Target,
			"--unset-variable", "CI_COMMIT_BRANCH")
		overrides = "CI_PIPELINE_SOURCE"
	}
	if overrides != "" {
		// We override predefined variables on purpose; keep the log clean.
		args = append(args, "--ignore-predefined-vars", overrides)
	}
	// Secrets are masked CI/CD variables on GitLab: project variables that
	// every job receives in its environment.
	for _, k := range sortedKeys(run.Secrets) {
		args = append(args, "--variable", k+"="+run.Secrets[k])
	}
	// Project variables override the file's variables: defaults, as on
	// GitLab.
	for _, k := range sortedKeys(run.Variables) {
		args = append(args, "--variable", k+"="+run.Variables[k])
	}
	for _, j := range run.Manual {
		args = append(args, "--manual", j)
	}
	return append(args, run.Jobs...)
}

// Run implements Runner.
func (g GitLab) Run(ctx context.Context, run Run) (*Result, error) {
	logPath := filepath.Join(run.TempDir, "dagger-gitlab.log")
	env, err := hermeticEnv(run, g.Tool, logPath)
	if err != nil {
		return nil, fmt.Errorf("gitlab-ci-local: %w", err)
	}
	return execute(ctx, run.Repo.Dir, env, logPath, g.Tool.Path, g.Args(run)...)
}

// PlannedJob is one job of gitlab-ci-local's --list-json: a job of the
// pipeline and what its rules decided.
type PlannedJob struct {
	// Name is the job's name; a parallel:matrix job lists one per cell.
	Name string `json:"name"`
	// Stage is its stage.
	Stage string `json:"stage"`
	// When is "never" for a job the rules left out, else on_success,
	// manual, always, on_failure or delayed.
	When string `json:"when"`
}

// Plan lists the jobs gitlab-ci-local would create for run, without running
// any (--list-json). It works for files that it cannot run, such as jobs
// with services.
func (g GitLab) Plan(ctx context.Context, run Run) ([]PlannedJob, error) {
	env, err := hermeticEnv(run, g.Tool, filepath.Join(run.TempDir, "dagger-gitlab-plan.log"))
	if err != nil {
		return nil, fmt.Errorf("gitlab-ci-local: %w", err)
	}
	cmd := exec.CommandContext(ctx, g.Tool.Path, append(g.Args(run), "--list-json")...)
	cmd.Dir = run.Repo.Dir
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("gitlab-ci-local --list-json: %w\n%s%s", err, stdout.Bytes(), stderr.Bytes())
	}
	// gitlab-ci-local prints its warnings (such as "Multi-project
	// pipeline is not supported" for a trigger job) on stdout, before
	// the JSON array.
	out := stdout.Bytes()
	if i := bytes.Index(out, []byte("\n[")); i >= 0 && !bytes.HasPrefix(out, []byte("[")) {
		out = out[i+1:]
	}
	var jobs []PlannedJob
	if err := json.Unmarshal(out, &jobs); err != nil {
		return nil, fmt.Errorf("gitlab-ci-local --list-json: %w\n%s", err, stdout.Bytes())
	}
	return jobs, nil
}
