package gitops

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// ErrCredentials is the cause when the git server refuses the credentials.
var ErrCredentials = errors.New("git credentials refused")

// workdir is one clone of the branch, in a temporary directory.
type workdir struct {
	dir  string
	repo *git.Repository
	head plumbing.Hash
}

func (w *workdir) close() { os.RemoveAll(w.dir) }

// clone fetches the branch into a fresh temporary directory.
func (p *Promoter) clone(ctx context.Context) (*workdir, error) {
	dir, err := os.MkdirTemp("", "slipway-gitops-")
	if err != nil {
		return nil, err
	}
	r, err := git.PlainCloneContext(ctx, dir, false, &git.CloneOptions{
		URL: p.repo.URL, Auth: p.auth, CABundle: p.repo.CABundle,
		ReferenceName: plumbing.NewBranchReferenceName(p.repo.branch()), SingleBranch: true,
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, p.explainGit("cloning", err)
	}
	head, err := r.Head()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("reading the head of %s: %w", p.repo.branch(), err)
	}
	return &workdir{dir: dir, repo: r, head: head.Hash()}, nil
}

// explainGit names what the user must fix for the usual git failures.
func (p *Promoter) explainGit(what string, err error) error {
	who := "anonymous"
	if p.repo.Auth != nil {
		who = p.repo.Auth.Who()
	}
	msg := err.Error()
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed),
		strings.Contains(msg, "unable to authenticate"):
		why := firstLine(msg)
		for _, e := range []error{transport.ErrAuthenticationRequired, transport.ErrAuthorizationFailed} {
			if errors.Is(err, e) {
				why = e.Error()
			}
		}
		return fmt.Errorf("%w: %s refused the credentials of %s while %s (%s); nothing was pushed. Check the password, token or key secret and the user", ErrCredentials, p.repo.URL, who, what, why)
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return fmt.Errorf("%s %s: the repository does not exist (or %s may not see it): %w", what, p.repo.URL, who, err)
	case strings.Contains(msg, "couldn't find remote ref"), errors.Is(err, plumbing.ErrReferenceNotFound):
		return fmt.Errorf("%s %s: the branch %q does not exist: create it, or set Repository.Branch to the branch the Application tracks: %w", what, p.repo.URL, p.repo.branch(), err)
	}
	return fmt.Errorf("%s %s: %w", what, p.repo.URL, err)
}

// commit writes an edit on top of the branch and pushes it. When the push
// is refused because the branch moved meanwhile (another promotion), the
// edit is redone on the new head, up to the attempts bound: no write is
// lost, and none is forced over another. edit reports whether it changed
// anything; nothing changed means no commit, and the head is returned.
func (p *Promoter) commit(ctx context.Context, file, message string, edit func(root string) (bool, error)) (rev string, changed bool, err error) {
	var last error
	for attempt := 1; attempt <= p.opts.attempts; attempt++ {
		w, err := p.clone(ctx)
		if err != nil {
			return "", false, err
		}
		rev, changed, err := p.commitOnce(ctx, w, file, message, edit)
		w.close()
		if err == nil {
			return rev, changed, nil
		}
		if errors.Is(err, ErrCredentials) || errors.Is(err, errEdit) || ctx.Err() != nil {
			return "", false, err
		}
		last = err
		// Two promotions that collided retry at different moments.
		select {
		case <-ctx.Done():
			return "", false, ctx.Err()
		case <-time.After(time.Duration(50+rand.IntN(200*attempt)) * time.Millisecond):
		}
	}
	return "", false, fmt.Errorf("pushing to %s of %s failed %d times, the branch kept moving or the push was refused: %w", p.repo.branch(), p.repo.URL, p.opts.attempts, last)
}

// errEdit marks a failure of the edit itself (bad input), never retried.
var errEdit = errors.New("edit")

type editError struct{ err error }

func (e editError) Error() string        { return e.err.Error() }
func (e editError) Unwrap() []error      { return []error{e.err, errEdit} }
func (e editError) Is(target error) bool { return target == errEdit }

func (p *Promoter) commitOnce(ctx context.Context, w *workdir, file, message string, edit func(root string) (bool, error)) (string, bool, error) {
	changed, err := edit(w.dir)
	if err != nil {
		return "", false, editError{err}
	}
	if !changed {
		return w.head.String(), false, nil
	}
	wt, err := w.repo.Worktree()
	if err != nil {
		return "", false, err
	}
	if _, err := wt.Add(file); err != nil {
		return "", false, editError{fmt.Errorf("staging %s: %w", file, err)}
	}
	sig := &object.Signature{Name: p.opts.authorName, Email: p.opts.authorEmail, When: p.opts.now()}
	h, err := wt.Commit(message, &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		return "", false, editError{fmt.Errorf("committing: %w", err)}
	}
	ref := config.RefSpec("refs/heads/" + p.repo.branch() + ":refs/heads/" + p.repo.branch())
	err = w.repo.PushContext(ctx, &git.PushOptions{RemoteName: "origin", Auth: p.auth, CABundle: p.repo.CABundle, RefSpecs: []config.RefSpec{ref}})
	if err != nil {
		return "", false, p.explainGit("pushing to", err)
	}
	return h.String(), true, nil
}

// contains reports whether the branch's history at rev includes commit:
// the Application may have moved on to a later promotion that carries
// this one.
func (p *Promoter) contains(ctx context.Context, rev, commit string) (bool, error) {
	if rev == commit {
		return true, nil
	}
	w, err := p.clone(ctx)
	if err != nil {
		return false, err
	}
	defer w.close()
	at, err := w.repo.CommitObject(plumbing.NewHash(rev))
	if err != nil {
		return false, nil // not on the branch (yet): not a descendant we know
	}
	c, err := w.repo.CommitObject(plumbing.NewHash(commit))
	if err != nil {
		return false, nil
	}
	return c.IsAncestor(at)
}
