// Package gitops promotes an image the GitOps way: the tested digest is
// written into the team's GitOps repository (a kustomize `images:` entry,
// or a Helm values file), committed with a message naming the pipeline,
// its commit and the digest, and pushed over HTTP(S) or SSH; then the Argo
// CD Application that watches the repository is followed until it reports
// Synced and Healthy at that revision. When it degrades instead, the commit
// is reverted (a new commit putting the previous image back) and the
// Application is followed until it is healthy again.
//
// A Promoter is a deploy.Deployer, so deploy.Gated and deploy.Recording
// give it the same production gate and evidence as a bundle deploy: the
// production commit is only ever made for a digest with staging and scan
// evidence and an approval.
//
//	p, err := gitops.New(ctx, env,
//		gitops.Repository{URL: "https://git.example.com/team/deploy.git", Auth: gitops.BasicAuth("ci", token)},
//		gitops.Kustomize{Dir: "overlays/staging", Image: "mts-deploy-ai"},
//		gitops.Application{Namespace: "argocd", Name: "mts-deploy-ai-staging"},
//		gitops.WithPipeline(gitops.Pipeline{Name: "mts-deploy-ai", ID: "1234", Commit: sha}))
//	res, err := p.Deploy(ctx, deploy.Release{Image: "registry/app@sha256:..."})
//
// Concurrent promotions to the same branch do not lose a write: a push
// that the server refuses because the branch moved is redone on the new
// head (fetch, re-apply the edit, commit, push), a bounded number of times.
package gitops

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"

	"github.com/slipway-ci/slipway/deploy"
)

// Repository is the GitOps repository and how to reach it.
type Repository struct {
	// URL is the clone URL: https://host/org/repo.git, http://...,
	// ssh://git@host/org/repo.git or git@host:org/repo.git.
	URL string
	// Branch is the branch the Application tracks (default "main").
	Branch string
	// Auth is the credential; nil for an anonymous repository.
	Auth Auth
	// CABundle holds extra PEM certificates an https server is verified
	// against (a company CA).
	CABundle []byte
}

func (r Repository) branch() string {
	if r.Branch == "" {
		return "main"
	}
	return r.Branch
}

// Auth is a git credential, made by BasicAuth or SSHKey. Credentials come
// from Dagger secrets or CI variables; they are never written anywhere.
type Auth interface {
	method() (transport.AuthMethod, error)
	// Who names the identity in errors (never the secret).
	Who() string
}

type basicAuth struct{ user, password string }

// BasicAuth authenticates over HTTP(S) with a user and a password or
// token (GitLab: any user and a project access token; GitHub:
// x-access-token and a token).
func BasicAuth(user, password string) Auth { return basicAuth{user, password} }

func (b basicAuth) method() (transport.AuthMethod, error) {
	return &githttp.BasicAuth{Username: b.user, Password: b.password}, nil
}
func (b basicAuth) Who() string { return fmt.Sprintf("user %q", b.user) }

type sshKey struct {
	user       string
	key        []byte
	passphrase string
	hostKey    ssh.PublicKey
}

// SSHKey authenticates over SSH with a private key (PEM or OpenSSH
// format), for user (usually "git"). The server's host key must be given
// (hostKey, in authorized_keys format): an SSH deploy key pushing to an
// unverified host would hand production to whoever answers.
func SSHKey(user string, privateKey []byte, passphrase string, hostKey []byte) Auth {
	k := sshKey{user: user, key: privateKey, passphrase: passphrase}
	if pk, _, _, _, err := ssh.ParseAuthorizedKey(hostKey); err == nil {
		k.hostKey = pk
	}
	return k
}

func (k sshKey) method() (transport.AuthMethod, error) {
	if k.hostKey == nil {
		return nil, errors.New("SSHKey: no valid host key given: pass the server's public host key (a line of known_hosts without the host name, e.g. `ssh-ed25519 AAAA...`)")
	}
	pk, err := gitssh.NewPublicKeys(k.user, k.key, k.passphrase)
	if err != nil {
		return nil, fmt.Errorf("SSHKey: the private key is not usable: %w", err)
	}
	pk.HostKeyCallback = ssh.FixedHostKey(k.hostKey)
	return pk, nil
}
func (k sshKey) Who() string { return fmt.Sprintf("SSH user %q", k.user) }

// Application names the Argo CD Application that deploys the repository.
type Application struct {
	// Namespace is Argo CD's namespace (default "argocd").
	Namespace string
	Name      string
}

func (a Application) namespace() string {
	if a.Namespace == "" {
		return "argocd"
	}
	return a.Namespace
}

func (a Application) String() string { return a.namespace() + "/" + a.Name }

// Pipeline identifies the run that promotes, for the commit message: a
// reviewer reading `git log` sees which pipeline moved the environment.
type Pipeline struct {
	// Name of the pipeline or project.
	Name string
	// ID of the run (CI_PIPELINE_ID, GITHUB_RUN_ID).
	ID string
	// URL of the run (CI_PIPELINE_URL).
	URL string
	// Commit is the source commit the image was built from.
	Commit string
}

// Option configures a Promoter.
type Option func(*options)

type options struct {
	pipeline       Pipeline
	authorName     string
	authorEmail    string
	attempts       int
	syncTimeout    time.Duration
	revertTimeout  time.Duration
	revert         bool
	wait           bool
	deployOpts     []deploy.Option
	now            func() time.Time
	requestTimeout time.Duration
}

// WithPipeline names the pipeline run in the commit messages.
func WithPipeline(p Pipeline) Option { return func(o *options) { o.pipeline = p } }

// WithAuthor sets the commits' author (default "slipway <slipway@localhost>").
func WithAuthor(name, email string) Option {
	return func(o *options) { o.authorName, o.authorEmail = name, email }
}

// WithAttempts bounds the pushes of one promotion when others push to
// the branch meanwhile (default 5).
func WithAttempts(n int) Option { return func(o *options) { o.attempts = n } }

// WithSyncTimeout bounds the wait for Synced and Healthy at the pushed
// revision (default 10 minutes); expiry counts as a failed rollout and
// is reverted.
func WithSyncTimeout(d time.Duration) Option { return func(o *options) { o.syncTimeout = d } }

// WithRevertTimeout bounds the wait for health after a revert (default 5
// minutes).
func WithRevertTimeout(d time.Duration) Option { return func(o *options) { o.revertTimeout = d } }

// WithoutRevert leaves a degraded promotion in the repository (for
// debugging).
func WithoutRevert() Option { return func(o *options) { o.revert = false } }

// WithoutWait only commits and pushes: no Application is followed (a
// repository that no Argo CD watches yet). The result's revision is the
// pushed commit.
func WithoutWait() Option { return func(o *options) { o.wait = false } }

// WithDeployOptions configures the client-go side (deploy.WithTunnel,
// deploy.WithRequestTimeout, ...), which reads the Application and names
// failing pods.
func WithDeployOptions(opts ...deploy.Option) Option {
	return func(o *options) { o.deployOpts = append(o.deployOpts, opts...) }
}

// checkURL refuses URLs go-git cannot push to, before anything else.
func checkURL(raw string) error {
	if raw == "" {
		return errors.New("no repository URL: set Repository.URL (https://host/org/repo.git or ssh://git@host/org/repo.git)")
	}
	if strings.HasPrefix(raw, "git@") && strings.Contains(raw, ":") {
		return nil // scp-like SSH
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("repository URL %q: %w", raw, err)
	}
	switch u.Scheme {
	case "http", "https", "ssh":
	default:
		return fmt.Errorf("repository URL %q: scheme %q is not supported: use https://, http:// or ssh://", raw, u.Scheme)
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			return fmt.Errorf("repository URL %s holds a password: pass it as Repository.Auth (from a secret), never in the URL", u.Redacted())
		}
	}
	return nil
}

// ctxTimeout is a context bounded by d (none when d is 0).
func ctxTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}
