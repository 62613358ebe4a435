package shimrun

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/slipway-ci/slipway/pipeline"
)

// GitHub runs a workflow with act on the host (-P <label>=-self-hosted): the
// steps run in a shell on this machine, without containers. Remote actions
// are replaced by local composite actions that only echo their name, because
// act would download them and nothing but the Go proxy, apt and npm is
// reachable; see StandInActions.
//
// act does not simulate environment protection rules: a job whose
// environment needs reviewers on GitHub runs at once under act.
type GitHub struct {
	// Tool is act, from FindAct.
	Tool Tool
	// Workflow is the workflow file, relative to the repository root.
	Workflow string
}

// Name implements Runner.
func (GitHub) Name() string { return "act" }

// Event returns the event act is started with and the event payload for
// repo's ref, carrying the fields the generated `if:` conditions and act's
// github context read.
func Event(r *Repo) (string, []byte, error) {
	ref, sha := r.Ref, r.SHA
	owner, repoName, _ := strings.Cut(r.FullName(), "/")
	repo := map[string]any{"full_name": r.FullName(), "name": repoName, "default_branch": defaultBranch,
		"owner": map[string]any{"login": owner}}
	var name string
	var payload map[string]any
	switch ref.Event {
	case pipeline.Push:
		name = "push"
		payload = map[string]any{"ref": "refs/heads/" + ref.Name, "after": sha, "repository": repo}
		if r.Base != "" {
			payload["before"] = r.Base
		}
	case pipeline.TagPush:
		name = "push"
		payload = map[string]any{"ref": "refs/tags/" + ref.Name, "after": sha, "repository": repo}
	case pipeline.MergeRequest:
		name = "pull_request"
		action := ref.Action
		if action == "" {
			action = "opened"
		}
		payload = map[string]any{
			"action": action,
			"number": 1,
			"pull_request": map[string]any{
				"number": 1,
				// A branch of the same repository, not a fork.
				"head": map[string]any{"ref": ref.Name, "sha": sha, "repo": map[string]any{"full_name": r.FullName()}},
				"base": baseOf(ref.Target, r.Base),
			},
			"repository": repo,
		}
	default:
		return "", nil, fmt.Errorf("act: event %q is not simulated", ref.Event)
	}
	data, err := json.MarshalIndent(payload, "", "  ")
	return name, data, err
}

// baseOf is a pull request's base: its target branch, and the target's
// commit when the repository knows it (Repo.Change).
func baseOf(target, sha string) map[string]any {
	b := map[string]any{"ref": target}
	if sha != "" {
		b["sha"] = sha
	}
	return b
}

// StandInActions writes, under dir, a local composite action for every
// remote action the workflow uses, and returns the --local-repository
// arguments that map each owner/repo@ref to it. Each stand-in echoes
// "slipway stand-in action: owner/repo/path@ref" so tests can see that it ran.
func StandInActions(workflow []byte, dir string) ([]string, error) {
	wf, err := parseWorkflow(workflow)
	if err != nil {
		return nil, err
	}
	var uses []string
	for _, j := range wf.Jobs {
		for _, s := range j.Steps {
			if s.Uses != "" && !strings.HasPrefix(s.Uses, "./") && !strings.HasPrefix(s.Uses, "docker://") {
				uses = append(uses, s.Uses)
			}
		}
	}
	slices.Sort(uses)
	uses = slices.Compact(uses)
	var args []string
	seen := map[string]bool{}
	for _, uses := range uses {
		spec, ref, ok := strings.Cut(uses, "@")
		parts := strings.SplitN(spec, "/", 3)
		if !ok || ref == "" || len(parts) < 2 {
			return nil, fmt.Errorf("act: cannot stand in for %q: want owner/repo[/path]@ref", uses)
		}
		repoDir := filepath.Join(dir, parts[0], parts[1]+"@"+ref)
		actionDir := repoDir
		if len(parts) == 3 {
			actionDir = filepath.Join(repoDir, filepath.FromSlash(parts[2]))
		}
		if err := os.MkdirAll(actionDir, 0o755); err != nil {
			return nil, fmt.Errorf("act: stand-in action: %w", err)
		}
		action := fmt.Sprintf(`name: slipway stand-in for %[1]s
description: Replaces %[1]s in runner tests and only says that it ran.
runs:
  using: composite
  steps:
    - shell: sh
      run: |
        echo "slipway stand-in action: %[1]s"
`, uses)
		if parts[0] == "actions" && parts[1] == "upload-artifact" && len(parts) == 2 {
			action = uploadArtifactStandIn(uses)
		}
		if err := os.WriteFile(filepath.Join(actionDir, "action.yml"), []byte(action), 0o644); err != nil {
			return nil, fmt.Errorf("act: stand-in action: %w", err)
		}
		key := parts[0] + "/" + parts[1] + "@" + ref
		if !seen[key] {
			seen[key] = true
			args = append(args, "--local-repository", key+"="+repoDir)
		}
	}
	return args, nil
}

// ArtifactsEnv names the directory where the stand-in for
// actions/upload-artifact copies each artifact's files, as
// $ArtifactsEnv/<name>/<path>: act deletes a host job's work tree when the
// job ends, and GitHub would keep the artifact.
const ArtifactsEnv = "SLIPWAY_ACT_ARTIFACTS"

// uploadArtifactStandIn is a local actions/upload-artifact: it copies the
// files of its path input (one path per line, files or directories) under
// $ArtifactsEnv/<name>/, keeping their relative paths, and warns about a
// path that does not exist, as if-no-files-found: warn does.
func uploadArtifactStandIn(uses string) string {
	return fmt.Sprintf(`name: slipway stand-in for %[1]s
description: Replaces %[1]s in runner tests; keeps the files under $%[2]s/<name>.
inputs:
  name:
    default: artifact
  path:
    required: true
  retention-days:
    required: false
  if-no-files-found:
    required: false
runs:
  using: composite
  steps:
    - shell: bash
      env:
        SLIPWAY_NAME: ${{ inputs.name }}
        SLIPWAY_PATHS: ${{ inputs.path }}
      run: |
        echo "slipway stand-in action: %[1]s ($SLIPWAY_NAME)"
        [ -n "${%[2]s:-}" ] || exit 0
        dest="$%[2]s/$SLIPWAY_NAME"
        mkdir -p "$dest"
        while IFS= read -r p; do
          [ -n "$p" ] || continue
          if [ -e "$p" ]; then cp -R --parents "${p%%/}" "$dest/"; else echo "warning: no files at $p"; fi
        done <<< "$SLIPWAY_PATHS"
`, uses, ArtifactsEnv)
}

// runsOnLabels returns every runs-on label of the workflow, sorted.
func runsOnLabels(workflow []byte) ([]string, error) {
	wf, err := parseWorkflow(workflow)
	if err != nil {
		return nil, err
	}
	var labels []string
	for _, j := range wf.Jobs {
		labels = append(labels, scalars(j.RunsOn)...)
	}
	slices.Sort(labels)
	return slices.Compact(labels), nil
}

// Args returns act's arguments for run, writing the event payload and the
// stand-in actions under run.TempDir.
func (g GitHub) Args(run Run) ([]string, error) {
	workflow, err := os.ReadFile(filepath.Join(run.Repo.Dir, filepath.FromSlash(g.Workflow)))
	if err != nil {
		return nil, fmt.Errorf("act: %w", err)
	}
	event, payload, err := Event(run.Repo)
	if err != nil {
		return nil, err
	}
	eventPath := filepath.Join(run.TempDir, "event.json")
	if err := os.WriteFile(eventPath, payload, 0o644); err != nil {
		return nil, fmt.Errorf("act: %w", err)
	}
	args := []string{event, "-W", g.Workflow, "-e", eventPath, "--no-cache-server"}
	labels, err := runsOnLabels(workflow)
	if err != nil {
		return nil, err
	}
	for _, l := range labels {
		args = append(args, "-P", l+"=-self-hosted")
	}
	local, err := StandInActions(workflow, filepath.Join(run.TempDir, "actions"))
	if err != nil {
		return nil, err
	}
	args = append(args, local...)
	for _, k := range sortedKeys(run.Secrets) {
		args = append(args, "-s", k+"="+run.Secrets[k])
	}
	// The vars context, which the generated env defaults defer to.
	for _, k := range sortedKeys(run.Variables) {
		args = append(args, "--var", k+"="+run.Variables[k])
	}
	return args, nil
}

// Run implements Runner.
func (g GitHub) Run(ctx context.Context, run Run) (*Result, error) {
	logPath := filepath.Join(run.TempDir, "dagger-act.log")
	env, err := hermeticEnv(run, g.Tool, logPath)
	if err != nil {
		return nil, fmt.Errorf("act: %w", err)
	}
	env = append(env, ArtifactsEnv+"="+filepath.Join(run.TempDir, "artifacts"))
	args, err := g.Args(run)
	if err != nil {
		return nil, err
	}
	res, err := execute(ctx, run.Repo.Dir, env, logPath, g.Tool.Path, args...)
	if err != nil || res.ExitCode == 0 || !ptyHangup(res.Output) {
		return res, err
	}
	// act's host mode runs every step's shell as the leader of a session on
	// a pseudo-terminal of its own. Once, in CI (2026-12-06), the kernel hung
	// that terminal up and the shell died of SIGHUP before it ran the step's
	// first command; 15 repetitions of TestReferenceGitHub did not do it
	// again. No GitHub runner gives a step a terminal, so that failure says
	// nothing about the workflow: run it once more, as a person re-runs a
	// job that failed for the runner's sake, and keep the first attempt's
	// output in front so the log shows it happened.
	if err := os.RemoveAll(filepath.Join(run.TempDir, "artifacts")); err != nil {
		return res, fmt.Errorf("act: %w", err)
	}
	first := res.Output
	res, err = execute(ctx, run.Repo.Dir, env, logPath, g.Tool.Path, args...)
	if res != nil {
		res.Output = slices.Concat([]byte("slipway: act's first attempt lost a step's shell to SIGHUP from its pseudo-terminal; ran the workflow again. The first attempt's output:\n"),
			first, []byte("slipway: the second attempt's output:\n"), res.Output)
	}
	return res, err
}

// ptyHangupLine is the line act prints when a step's shell was killed by
// SIGHUP: "[workflow/job] signal: hangup".
var ptyHangupLine = regexp.MustCompile(`(?m)^\[[^\]\n]+\] +signal: hangup\r?$`)

// ptyHangup reports whether act's output shows a step whose shell died of
// SIGHUP.
func ptyHangup(output []byte) bool {
	return ptyHangupLine.Match(ansi.ReplaceAll(output, nil))
}
