package shimrun

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/slipway-ci/slipway/pipeline"
)

// Ref is what a simulated pipeline run is for: a push to a branch, a pushed
// tag, or a merge (pull) request.
type Ref struct {
	// Event is pipeline.Push, pipeline.TagPush or pipeline.MergeRequest.
	Event pipeline.Event
	// Name is the branch or tag; for a merge request, the source branch.
	Name string
	// Target is a merge request's target branch.
	Target string
	// Action is a pull request's activity on GitHub; "" is opened.
	Action string
}

// Branch is a push to branch name.
func Branch(name string) Ref { return Ref{Event: pipeline.Push, Name: name} }

// Tag is a pushed tag.
func Tag(name string) Ref { return Ref{Event: pipeline.TagPush, Name: name} }

// MergeRequest is a merge request (GitHub: pull request) from source into target.
func MergeRequest(source, target string) Ref {
	return Ref{Event: pipeline.MergeRequest, Name: source, Target: target}
}

// Closed returns the merge request r, closed: GitHub's pull_request event
// with the action closed.
func (r Ref) Closed() Ref { r.Action = "closed"; return r }

func (r Ref) String() string {
	switch r.Event {
	case pipeline.TagPush:
		return "tag " + r.Name
	case pipeline.MergeRequest:
		if r.Action != "" {
			return "merge request " + r.Name + " -> " + r.Target + " " + r.Action
		}
		return "merge request " + r.Name + " -> " + r.Target
	}
	return "branch " + r.Name
}

// Repo is a throw-away git repository holding the files a runner reads.
type Repo struct {
	// Dir is the work tree.
	Dir string
	// SHA is the commit the ref points at.
	SHA string
	// Ref is the ref checked out.
	Ref Ref
	// Remote is the URL of the "origin" remote.
	Remote string
	// Base, after Change, is the commit before the change: a push's
	// "before", a merge request's target. "" means none is known, as for
	// a branch's first push.
	Base string
}

// FullName returns the owner/name of the repository that Remote names, as
// GitHub's github.repository spells it: "acme/app" for
// https://github.com/acme/app.git or git@github.com:acme/app.git.
func (r *Repo) FullName() string {
	u := strings.TrimSuffix(strings.TrimSuffix(r.Remote, "/"), ".git")
	parts := strings.FieldsFunc(u, func(c rune) bool { return c == '/' || c == ':' })
	if len(parts) < 2 {
		return u
	}
	return parts[len(parts)-2] + "/" + parts[len(parts)-1]
}

// commitDate is the author and committer date of every Repo's commit.
const commitDate = "2026-01-01T00:00:00Z"

// defaultBranch is the branch origin/HEAD points at in every Repo.
const defaultBranch = "main"

// NewRepo creates a git repository in dir (which should be empty) with files
// (path relative to the root -> content) in one commit, and sets up the git
// state the runners read for ref:
//
//   - a push checks out the branch;
//   - a tag is created and checked out detached, as CI runners do;
//   - a merge request checks out its source branch.
//
// remote becomes the "origin" URL; gitlab-ci-local derives the project path
// from it and needs refs/remotes/origin/HEAD, act derives the repository
// name from it.
func NewRepo(ctx context.Context, dir, remote string, files map[string][]byte, ref Ref) (*Repo, error) {
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, fmt.Errorf("repo: %w", err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return nil, fmt.Errorf("repo: %w", err)
		}
	}
	git := func(args ...string) (string, error) { return gitIn(ctx, dir, args...) }
	steps := [][]string{
		{"init", "-q", "-b", defaultBranch},
		{"config", "user.name", "slipway test"},
		{"config", "user.email", "test@slipway.invalid"},
		{"config", "commit.gpgsign", "false"},
		{"config", "tag.gpgsign", "false"},
		{"add", "-A"},
		{"commit", "-q", "-m", "slipway runner test"},
		{"remote", "add", "origin", remote},
		{"update-ref", "refs/remotes/origin/" + defaultBranch, "HEAD"},
		{"symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/" + defaultBranch},
	}
	switch ref.Event {
	case pipeline.Push, pipeline.MergeRequest:
		if ref.Name != defaultBranch {
			steps = append(steps, []string{"checkout", "-q", "-b", ref.Name})
		}
		steps = append(steps, []string{"update-ref", "refs/remotes/origin/" + ref.Name, "HEAD"})
	case pipeline.TagPush:
		steps = append(steps, []string{"tag", ref.Name}, []string{"checkout", "-q", "--detach", ref.Name})
	default:
		return nil, fmt.Errorf("repo: event %q is not simulated", ref.Event)
	}
	for _, s := range steps {
		if _, err := git(s...); err != nil {
			return nil, err
		}
	}
	sha, err := git("rev-parse", "HEAD")
	if err != nil {
		return nil, err
	}
	return &Repo{Dir: dir, SHA: sha, Ref: ref, Remote: remote}, nil
}

// Change commits files (path relative to the root -> content; nil content
// deletes the file) on top of the repository's commit, as the push or
// merge request of its ref brings them: origin's default branch stays at
// the first commit, so `git diff origin/main`, which gitlab-ci-local reads
// for rules:changes, lists exactly these paths, as GitLab's own diff of the
// push or the merge request would; Base becomes the commit before, which
// Event gives act as the push's "before" and the pull request's base, where
// a generated change-detection job diffs from. A tag has no change set (GitLab runs
// every rules:changes job for one): Change refuses it.
func (r *Repo) Change(ctx context.Context, files map[string][]byte) error {
	if r.Ref.Event == pipeline.TagPush {
		return fmt.Errorf("repo: a tag push has no changed paths; change a branch or a merge request")
	}
	for name, data := range files {
		p := filepath.Join(r.Dir, filepath.FromSlash(name))
		if data == nil {
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("repo: %w", err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("repo: %w", err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return fmt.Errorf("repo: %w", err)
		}
	}
	r.Base = r.SHA
	steps := [][]string{{"add", "-A"}, {"commit", "-q", "-m", "slipway runner test: change"}}
	if r.Ref.Name != defaultBranch {
		steps = append(steps, []string{"update-ref", "refs/remotes/origin/" + r.Ref.Name, "HEAD"})
	}
	for _, s := range steps {
		if _, err := gitIn(ctx, r.Dir, s...); err != nil {
			return err
		}
	}
	sha, err := gitIn(ctx, r.Dir, "rev-parse", "HEAD")
	if err != nil {
		return err
	}
	r.SHA = sha
	return nil
}

// gitIn runs git in dir with no user or system configuration (hooks,
// signing or templates of the machine must not change what the test sees)
// and fixed dates (the same files give the same commit, so runs of two
// runners in two repositories build the same revision and digest).
func gitIn(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_DATE="+commitDate, "GIT_COMMITTER_DATE="+commitDate)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("repo: git %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}
