package main

// The deploy sources of the staging and production subcommands: apply
// (the team's manifests, deploy.Client), helm (a chart, deploy/helm) and
// gitops (a promote commit followed through Argo CD, deploy/gitops). Every
// source goes through the same wrappers, deploy.Recording for the evidence
// and the promotion gate for production, so what differs is only where the
// objects come from.

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/registry"
	"helm.sh/helm/v3/pkg/strvals"

	"github.com/slipway-ci/slipway/deploy"
	"github.com/slipway-ci/slipway/deploy/gitops"
	"github.com/slipway-ci/slipway/deploy/helm"
)

// The deploy sources.
const (
	sourceApply  = "apply"
	sourceHelm   = "helm"
	sourceGitOps = "gitops"
)

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// sourceFlags are the settings of the Helm and GitOps sources.
type sourceFlags struct {
	source string
	// helm
	chart, release                                  string
	values, set                                     multi
	historyMax                                      int
	chartPlainHTTP                                  bool
	imageRepoValue, imageDigestValue, imageRefValue string
	// gitops
	repo, branch, overlay, imageName, valuesFile, app, appNamespace string
	gitUser, sshKeyFile, sshHostKey, sshUser, caFile                string
	pipelineName, pipelineID, pipelineURL, sourceCommit             string
}

// flagSources names the source each source-specific flag belongs to: a
// flag of another source is refused, as it would otherwise be ignored
// silently (a chart passed to an apply deploy deploys the manifests).
var flagSources = map[string][]string{
	"manifests": {sourceApply},
	"chart":     {sourceHelm}, "values": {sourceHelm}, "set": {sourceHelm}, "release": {sourceHelm},
	"history-max": {sourceHelm}, "chart-plain-http": {sourceHelm},
	"image-repository-value": {sourceHelm, sourceGitOps}, "image-digest-value": {sourceHelm, sourceGitOps},
	"image-value": {sourceHelm, sourceGitOps},
	"repo":        {sourceGitOps}, "branch": {sourceGitOps}, "overlay": {sourceGitOps}, "image-name": {sourceGitOps},
	"values-file": {sourceGitOps}, "app": {sourceGitOps}, "app-namespace": {sourceGitOps}, "git-user": {sourceGitOps},
	"ssh-key-file": {sourceGitOps}, "ssh-host-key": {sourceGitOps}, "ssh-user": {sourceGitOps}, "ca-file": {sourceGitOps},
	"pipeline-name": {sourceGitOps}, "pipeline-id": {sourceGitOps}, "pipeline-url": {sourceGitOps}, "source-commit": {sourceGitOps},
}

func (f *sourceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.source, "source", sourceApply, "where the objects come from: apply (--manifests), helm (--chart) or gitops (--repo)")
	fs.StringVar(&f.chart, "chart", "", "helm: the chart directory, .tgz, or oci://HOST/REPO/NAME:VERSION")
	fs.Var(&f.values, "values", "helm: a values file (repeatable, merged in order)")
	fs.Var(&f.set, "set", "helm: PATH=VALUE over the values files (repeatable; helm --set syntax and types)")
	fs.StringVar(&f.release, "release", "", "helm: the release name (default: the chart's name)")
	fs.IntVar(&f.historyMax, "history-max", 10, "helm: revisions to keep (0: all)")
	fs.BoolVar(&f.chartPlainHTTP, "chart-plain-http", false, "helm: the oci:// chart registry speaks plain HTTP")
	fs.StringVar(&f.imageRepoValue, "image-repository-value", "image.repository", "helm, gitops --values-file: the values path that gets the image repository")
	fs.StringVar(&f.imageDigestValue, "image-digest-value", "image.digest", "helm, gitops --values-file: the values path that gets sha256:<digest>")
	fs.StringVar(&f.imageRefValue, "image-value", "", "helm, gitops --values-file: one values path that gets the whole REPO@sha256:DIGEST (instead of the two above)")
	fs.StringVar(&f.repo, "repo", "", "gitops: the GitOps repository URL (https://, http:// or ssh://)")
	fs.StringVar(&f.branch, "branch", "main", "gitops: the branch the Argo CD Application tracks")
	fs.StringVar(&f.overlay, "overlay", "", "gitops: the kustomize overlay whose images: entry gets the digest")
	fs.StringVar(&f.imageName, "image-name", "", "gitops --overlay: the images: entry's name (the image the base's containers use)")
	fs.StringVar(&f.valuesFile, "values-file", "", "gitops: the Helm values file that gets the digest (instead of --overlay)")
	fs.StringVar(&f.app, "app", "", "gitops: the Argo CD Application that deploys the repository")
	fs.StringVar(&f.appNamespace, "app-namespace", "argocd", "gitops: Argo CD's namespace")
	fs.StringVar(&f.gitUser, "git-user", "", "gitops: the HTTP(S) user; the password or token comes from GIT_PASSWORD")
	fs.StringVar(&f.sshKeyFile, "ssh-key-file", "", "gitops: the SSH private key file (a mounted secret) for an ssh:// repository; its passphrase from GIT_SSH_PASSPHRASE")
	fs.StringVar(&f.sshHostKey, "ssh-host-key", "", "gitops: the SSH server's public host key (ssh-ed25519 AAAA...)")
	fs.StringVar(&f.sshUser, "ssh-user", "", "gitops: the SSH user (default: the URL's, else git)")
	fs.StringVar(&f.caFile, "ca-file", "", "gitops: extra CA certificates (PEM) for an https:// repository")
	fs.StringVar(&f.pipelineName, "pipeline-name", "", "gitops: the pipeline, for the commit message (CI_PROJECT_PATH, GITHUB_REPOSITORY)")
	fs.StringVar(&f.pipelineID, "pipeline-id", "", "gitops: the run (CI_PIPELINE_ID, GITHUB_RUN_ID)")
	fs.StringVar(&f.pipelineURL, "pipeline-url", "", "gitops: the run's URL (CI_PIPELINE_URL)")
	fs.StringVar(&f.sourceCommit, "source-commit", "", "gitops: the commit the image was built from (CI_COMMIT_SHA, GITHUB_SHA)")
}

// check refuses what needs no cluster, no chart and no repository to
// know is wrong: an unknown source, a flag of another source, a source
// without its required flags. set holds the flags given.
func (f *sourceFlags) check(stage string, set map[string]bool) error {
	switch f.source {
	case sourceApply, sourceHelm, sourceGitOps:
	default:
		return fmt.Errorf("%s: --source=%q: want apply, helm or gitops: %w", stage, f.source, errUsage)
	}
	var wrong []string
	for name := range set {
		if srcs, ok := flagSources[name]; ok && !contains(srcs, f.source) {
			wrong = append(wrong, fmt.Sprintf("--%s (%s)", name, strings.Join(srcs, ", ")))
		}
	}
	if len(wrong) > 0 {
		sort.Strings(wrong)
		return fmt.Errorf("%s: %s not used by --source=%s: drop them, or pick the source they belong to: %w", stage, strings.Join(wrong, ", "), f.source, errUsage)
	}
	need := func(flag, value, hint string) error {
		if value == "" {
			return fmt.Errorf("%s: --source=%s needs --%s: %s: %w", stage, f.source, flag, hint, errUsage)
		}
		return nil
	}
	switch f.source {
	case sourceHelm:
		return need("chart", f.chart, "the chart directory, packaged chart (.tgz) or oci://HOST/REPO/NAME:VERSION")
	case sourceGitOps:
		if err := need("repo", f.repo, "the GitOps repository's URL"); err != nil {
			return err
		}
		if err := need("app", f.app, "the Argo CD Application that deploys the repository"); err != nil {
			return err
		}
		switch {
		case f.overlay != "" && f.valuesFile != "":
			return fmt.Errorf("%s: --overlay and --values-file both given: the digest goes into one of them: %w", stage, errUsage)
		case f.overlay == "" && f.valuesFile == "":
			return fmt.Errorf("%s: --source=gitops needs --overlay (a kustomize overlay's images: entry) or --values-file (a Helm values file): %w", stage, errUsage)
		case f.overlay != "" && f.imageName == "":
			return fmt.Errorf("%s: --overlay needs --image-name: the image name the base's containers use, which the images: entry replaces: %w", stage, errUsage)
		case f.overlay != "" && (set["image-value"] || set["image-repository-value"] || set["image-digest-value"]):
			return fmt.Errorf("%s: --image-value, --image-repository-value and --image-digest-value name paths in a values file, not in --overlay: %w", stage, errUsage)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// imageValues are the values paths that carry the image: one reference,
// or a repository and a digest.
func (f *sourceFlags) imageValues() helm.ImageValues {
	if f.imageRefValue != "" {
		return helm.ImageValues{Reference: f.imageRefValue}
	}
	return helm.ImageValues{Repository: f.imageRepoValue, Digest: f.imageDigestValue}
}

// newSource returns the Deployer of a helm or gitops deploy. Each checks
// its input (the chart and values files exist, the image values are
// paths, the repository URL and credentials are usable) and reads the
// kubeconfig, without contacting the cluster or the git server.
func newSource(ctx context.Context, f sourceFlags, env deploy.Environment, wait time.Duration, opts []deploy.Option, getenv func(string) string) (deploy.Deployer, error) {
	switch f.source {
	case sourceHelm:
		return newHelm(ctx, f, env, wait, opts, getenv)
	case sourceGitOps:
		return newGitOps(ctx, f, env, wait, opts, getenv)
	}
	return nil, fmt.Errorf("--source=%q has no deployer here: %w", f.source, errUsage)
}

func newHelm(ctx context.Context, f sourceFlags, env deploy.Environment, wait time.Duration, opts []deploy.Option, getenv func(string) string) (deploy.Deployer, error) {
	hopts := []helm.Option{
		helm.WithValuesFiles(f.values...), helm.WithMaxHistory(f.historyMax), helm.WithRolloutTimeout(wait),
		helm.WithImageValues(f.imageValues()), helm.WithDeployOptions(opts...),
	}
	if f.release != "" {
		hopts = append(hopts, helm.WithRelease(f.release))
	}
	if len(f.set) > 0 {
		vals := map[string]any{}
		for _, s := range f.set {
			if err := strvals.ParseInto(s, vals); err != nil {
				return nil, fmt.Errorf("--set %s: %v (want PATH=VALUE, as helm --set): %w", s, err, errUsage)
			}
		}
		hopts = append(hopts, helm.WithValues(vals))
	}
	var ropts []registry.ClientOption
	if f.chartPlainHTTP {
		ropts = append(ropts, registry.ClientOptPlainHTTP())
	}
	if u, p := getenv("HELM_REGISTRY_USERNAME"), getenv("HELM_REGISTRY_PASSWORD"); u != "" || p != "" {
		ropts = append(ropts, registry.ClientOptBasicAuth(u, p))
	}
	if len(ropts) > 0 {
		hopts = append(hopts, helm.WithRegistry(ropts...))
	}
	return helm.New(ctx, env, f.chart, hopts...)
}

// sshURL reports whether a repository URL is reached over SSH.
func sshURL(raw string) bool {
	if strings.HasPrefix(raw, "git@") {
		return true
	}
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "ssh"
}

// sshUser is the user of an SSH URL (ssh://USER@host/..., USER@host:...).
func sshUser(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Scheme == "ssh" && u.User != nil {
		return u.User.Username()
	}
	if user, _, ok := strings.Cut(raw, "@"); ok && !strings.Contains(user, "/") && !strings.Contains(user, ":") {
		return user
	}
	return ""
}

func newGitOps(ctx context.Context, f sourceFlags, env deploy.Environment, wait time.Duration, opts []deploy.Option, getenv func(string) string) (deploy.Deployer, error) {
	repo := gitops.Repository{URL: f.repo, Branch: f.branch}
	// The URL decides the credential: a key for ssh://, a password or
	// token for http(s)://. The other one is an error, not ignored: an
	// SSH key given for an https:// URL means the URL is not the one
	// meant.
	if sshURL(f.repo) {
		if f.sshKeyFile == "" {
			return nil, fmt.Errorf("the repository %s is reached over SSH, but no --ssh-key-file was given: pass the deploy key (in slipway's module: --git-ssh-key), or use the https:// URL with GIT_PASSWORD: %w", f.repo, errUsage)
		}
		if f.sshHostKey == "" {
			return nil, fmt.Errorf("the repository %s is reached over SSH, but no --ssh-host-key was given: pass the server's public host key (a known_hosts line without the host name, e.g. ssh-ed25519 AAAA...): %w", f.repo, errUsage)
		}
		key, err := os.ReadFile(f.sshKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--ssh-key-file: %w", err)
		}
		user := f.sshUser
		if user == "" {
			user = sshUser(f.repo)
		}
		if user == "" {
			user = "git"
		}
		repo.Auth = gitops.SSHKey(user, key, getenv("GIT_SSH_PASSPHRASE"), []byte(f.sshHostKey))
	} else {
		if f.sshKeyFile != "" || f.sshHostKey != "" {
			return nil, fmt.Errorf("an SSH key or host key was given, but the repository %s is not an ssh:// URL: use its ssh:// URL, or drop the key and pass the password or token (GIT_PASSWORD): %w", f.repo, errUsage)
		}
		if pw := getenv("GIT_PASSWORD"); pw != "" || f.gitUser != "" {
			if pw == "" {
				return nil, fmt.Errorf("--git-user %q was given without a password: set GIT_PASSWORD to the password or token (in slipway's module: --git-password): %w", f.gitUser, errUsage)
			}
			user := f.gitUser
			if user == "" {
				user = "git"
			}
			repo.Auth = gitops.BasicAuth(user, pw)
		}
	}
	if f.caFile != "" {
		ca, err := os.ReadFile(f.caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		repo.CABundle = ca
	}
	var target gitops.Target
	if f.overlay != "" {
		target = gitops.Kustomize{Dir: f.overlay, Image: f.imageName}
	} else {
		iv := f.imageValues()
		target = gitops.HelmValues{Path: f.valuesFile, Repository: iv.Repository, Digest: iv.Digest, Reference: iv.Reference}
	}
	return gitops.New(ctx, env, repo, target, gitops.Application{Namespace: f.appNamespace, Name: f.app},
		gitops.WithPipeline(gitops.Pipeline{Name: f.pipelineName, ID: f.pipelineID, URL: f.pipelineURL, Commit: f.sourceCommit}),
		gitops.WithSyncTimeout(wait), gitops.WithDeployOptions(opts...))
}

// sourceLine is the one-line account of a helm or gitops deploy: what
// identifies the deploy (the release revision, the commit) before the long
// image reference, which a table trims.
func sourceLine(f deployFlags, env deploy.Environment, res *deploy.Result, note string) string {
	verdict, checked := verdict(f, res)
	switch f.src.source {
	case sourceHelm:
		return fmt.Sprintf("%s: namespace %s, helm release revision %s, %s, %s, image %s, %s, %s",
			env.Name, res.Namespace, res.Revision, verdict, res.Duration.Round(10*time.Millisecond), res.Image, checked, note)
	default:
		app := f.src.appNamespace + "/" + f.src.app
		commit := res.Revision
		if len(commit) > 12 {
			commit = commit[:12]
		}
		state := "pushed"
		if len(res.Applied) == 0 {
			state = "already in the repository"
		}
		return fmt.Sprintf("%s: namespace %s, commit %s (%s) Synced and Healthy in Argo CD %s, %s, %s, image %s, %s, %s",
			env.Name, res.Namespace, commit, state, app, verdict, res.Duration.Round(10*time.Millisecond), res.Image, checked, note)
	}
}
