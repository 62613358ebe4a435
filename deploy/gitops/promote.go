package gitops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/slipway-ci/slipway/deploy"
)

// Promoter promotes images to one environment through a GitOps repository
// and the Argo CD Application that deploys it.
type Promoter struct {
	env    deploy.Environment
	repo   Repository
	target Target
	app    Application
	opts   options
	auth   transport.AuthMethod
	client *deploy.Client
}

var _ deploy.Deployer = (*Promoter)(nil)

// New returns a Promoter. It checks its input and reads the kubeconfig now
// (env.Kubeconfig: the cluster where Argo CD runs, env.Namespace: the
// Application's destination namespace, where failing pods are looked up);
// it contacts neither git nor the cluster yet.
func New(ctx context.Context, env deploy.Environment, repo Repository, target Target, app Application, opts ...Option) (*Promoter, error) {
	o := options{authorName: "slipway", authorEmail: "slipway@localhost", attempts: 5, syncTimeout: 10 * time.Minute, revertTimeout: 5 * time.Minute, revert: true, wait: true, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	prefix := fmt.Sprintf("gitops: environment %q", env.Name)
	var errs []error
	if err := checkURL(repo.URL); err != nil {
		errs = append(errs, err)
	}
	switch t := target.(type) {
	case nil:
		errs = append(errs, errors.New("no target: say where the digest goes (gitops.Kustomize or gitops.HelmValues)"))
	case Kustomize:
		errs = append(errs, t.check())
	case HelmValues:
		errs = append(errs, t.check())
	}
	// Argo CD renders the repository, not slipway: a node selector set
	// here would never reach the pods, so it is refused rather than
	// ignored.
	if len(env.NodeSelector) > 0 {
		errs = append(errs, fmt.Errorf("node selector %v: a GitOps promotion cannot place pods, Argo CD renders the repository: set the nodeSelector in the environment's overlay or values there", deploy.FormatNodeSelector(env.NodeSelector)))
	}
	if app.Name == "" && o.wait {
		errs = append(errs, errors.New("no Argo CD Application: name the one that deploys the repository (gitops.Application), or use WithoutWait"))
	}
	if o.attempts < 1 {
		errs = append(errs, fmt.Errorf("attempts %d: want 1 or more", o.attempts))
	}
	var auth transport.AuthMethod
	if repo.Auth != nil {
		var err error
		if auth, err = repo.Auth.method(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	p := &Promoter{env: env, repo: repo, target: target, app: app, opts: o, auth: auth}
	if o.wait {
		c, err := deploy.New(ctx, env, o.deployOpts...)
		if err != nil {
			return nil, err
		}
		p.client = c
	}
	return p, nil
}

// message is the commit message: the environment, the digest, and the
// pipeline run and source commit that produced it.
func (p *Promoter) message(verb string, image name.Digest, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %s\n\n", verb, p.env.Name, image.DigestStr()[:19])
	fmt.Fprintf(&b, "Image: %s\n", image)
	fmt.Fprintf(&b, "Environment: %s\n", p.env.Name)
	pl := p.opts.pipeline
	if pl.Name != "" || pl.ID != "" {
		fmt.Fprintf(&b, "Pipeline: %s %s\n", pl.Name, pl.ID)
	}
	if pl.URL != "" {
		fmt.Fprintf(&b, "Pipeline-URL: %s\n", pl.URL)
	}
	if pl.Commit != "" {
		fmt.Fprintf(&b, "Source-Commit: %s\n", pl.Commit)
	}
	if extra != "" {
		b.WriteString(extra + "\n")
	}
	return b.String()
}

// Deploy writes r.Image into the repository, pushes it, and waits for the
// Application to be Synced and Healthy at that revision. When it degrades
// (or the wait times out), the change is reverted and the Application
// waited for again; the error is then a *deploy.RolloutError naming the
// unhealthy resources and failing pods. Result.Revision is the commit the
// Application runs. The post-deploy checks given by WithDeployOptions
// (deploy.WithVerifyPaths, deploy.WithAlerts) run once it is Healthy, on
// r.Deployment (default: the Application's only Deployment in the
// environment's namespace); a failed one is reverted too.
func (p *Promoter) Deploy(ctx context.Context, r deploy.Release) (*deploy.Result, error) {
	start := p.opts.now()
	prefix := fmt.Sprintf("gitops: environment %q", p.env.Name)
	if len(r.Bundle) > 0 {
		return nil, fmt.Errorf("%s: the release has a bundle of %d objects, but a GitOps promotion only writes the image into %s: leave Release.Bundle empty", prefix, len(r.Bundle), p.repo.URL)
	}
	image, err := deploy.ParseDigest(r.Image)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	if p.opts.wait {
		if _, err := p.checkApplication(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", prefix, err)
		}
	}
	var prev string
	rev, changed, err := p.commit(ctx, p.target.File(), p.message("promote", image, ""), func(root string) (bool, error) {
		old, changed, err := p.target.set(root, image)
		if err != nil {
			return false, err
		}
		prev = old
		if err := p.target.verify(root, image); err != nil {
			return false, err
		}
		return changed, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", prefix, p.target, err)
	}
	res := &deploy.Result{Environment: p.env.Name, Namespace: p.env.Namespace, Deployment: r.Deployment, Image: image.String(), Revision: rev, Applied: []string{p.target.File() + "@" + short(rev)}}
	if !changed {
		res.Applied = nil // the repository already held the image
	}
	if !p.opts.wait {
		res.Duration = p.opts.now().Sub(start)
		return res, nil
	}
	if err := p.refresh(ctx); err != nil {
		return nil, fmt.Errorf("%s: pushed %s, but %w", prefix, short(rev), err)
	}
	wctx, cancel := ctxTimeout(ctx, p.opts.syncTimeout)
	st, err := p.waitFor(wctx, rev)
	cancel()
	cause := err
	switch {
	case errors.Is(err, errDegraded):
		cause = fmt.Errorf("the Argo CD Application %s degraded at %s: %s", p.app, short(rev), st)
	case err == nil && p.client.Verifying():
		// The post-deploy checks of WithDeployOptions run on the
		// Deployment the Application synced; a failed one is reverted
		// like a degraded sync, so no evidence is recorded for it.
		if res.Deployment == "" {
			res.Deployment = onlyDeployment(st, p.env.Namespace)
		}
		cause = p.client.Verify(ctx, res, nil)
	}
	if cause == nil {
		res.Duration = p.opts.now().Sub(start)
		return res, nil
	}
	return nil, fmt.Errorf("%s: %w", prefix, p.fail(ctx, image, rev, prev, changed, cause, st, r.Deployment))
}

// fail reverts a promotion that did not become healthy and explains it.
func (p *Promoter) fail(ctx context.Context, image name.Digest, rev, prev string, changed bool, cause error, st AppStatus, deployment string) error {
	ctx = context.WithoutCancel(ctx)
	rerr := &deploy.RolloutError{Cause: cause, Image: image.String(), PreviousImage: prev}
	rerr.Pods = p.failingPods(ctx, st, deployment)
	if !p.opts.revert {
		return rerr
	}
	if !changed {
		rerr.RollbackErr = fmt.Errorf("the repository already held %s before this promotion, so there is no commit of it to revert", image)
		return rerr
	}
	if prev == "" {
		rerr.RollbackErr = fmt.Errorf("%s held no image before %s, so there is nothing to put back: fix the image and promote again", p.target, short(rev))
		return rerr
	}
	extra := fmt.Sprintf("Reverts: %s\nReason: %s", rev, firstLine(cause.Error()))
	revert, reverted, err := p.commit(ctx, p.target.File(), p.message("revert promote", image, extra), func(root string) (bool, error) {
		return p.target.restore(root, prev, image)
	})
	switch {
	case err != nil:
		rerr.RollbackErr = fmt.Errorf("reverting %s: %w", short(rev), err)
		return rerr
	case !reverted:
		rerr.RollbackErr = fmt.Errorf("not reverted: %s no longer holds %s (a later promotion replaced it)", p.target, image)
		return rerr
	}
	if err := p.refresh(ctx); err != nil {
		rerr.RollbackErr = fmt.Errorf("reverted in %s, but %w", short(revert), err)
		return rerr
	}
	wctx, cancel := ctxTimeout(ctx, p.opts.revertTimeout)
	defer cancel()
	if st, err := p.waitFor(wctx, revert); err != nil {
		rerr.RollbackErr = fmt.Errorf("reverted in %s, but the Application did not become healthy again: %w (%s)", short(revert), err, st)
		return rerr
	}
	rerr.RolledBack = true
	return rerr
}

// failingPods names the not-ready pods of the Deployments the Application
// manages in the environment's namespace (or of deployment, when given),
// read from the cluster: Argo CD keeps resource health out of the
// Application unless told to persist it.
func (p *Promoter) failingPods(ctx context.Context, st AppStatus, deployment string) []deploy.PodFailure {
	names := map[string]bool{}
	if deployment != "" {
		names[deployment] = true
	}
	for _, r := range st.Resources {
		if r.Kind == "Deployment" && (r.Namespace == "" || r.Namespace == p.env.Namespace) {
			names[r.Name] = true
		}
	}
	var out []deploy.PodFailure
	for n := range names {
		if pods, err := p.client.FailingPods(ctx, n); err == nil {
			out = append(out, pods...)
		}
	}
	return out
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// onlyDeployment is the name of the Application's one Deployment in
// namespace, or "" when it manages none or several (Verify then asks for
// Release.Deployment).
func onlyDeployment(st AppStatus, namespace string) string {
	name := ""
	for _, r := range st.Resources {
		if r.Kind == "Deployment" && (r.Namespace == "" || r.Namespace == namespace) {
			if name != "" && name != r.Name {
				return ""
			}
			name = r.Name
		}
	}
	return name
}
