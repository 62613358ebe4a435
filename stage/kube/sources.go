package kube

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"dagger.io/dagger"
)

// Where the tool finds the GitOps credentials in its container: files
// mounted from secrets, readable by DefaultUser only.
const (
	gitSSHKeyPath = "/run/secrets/git-ssh-key"
	gitCAPath     = "/run/secrets/git-ca.pem"
)

// ImageValues names the Helm values that carry the image: Repository and
// Digest (`{{ .Values.image.repository }}@{{ .Values.image.digest }}`), or
// Reference alone (a value holding repository@sha256:digest). Empty means
// image.repository and image.digest.
type ImageValues struct {
	Repository, Digest, Reference string
}

func (v ImageValues) args() []string {
	var args []string
	if v.Reference != "" {
		args = append(args, "--image-value="+v.Reference)
	}
	if v.Repository != "" {
		args = append(args, "--image-repository-value="+v.Repository)
	}
	if v.Digest != "" {
		args = append(args, "--image-digest-value="+v.Digest)
	}
	return args
}

// Helm deploys a Helm chart instead of manifests: `helm upgrade --install
// --atomic --wait` with Helm's Go SDK, the image set by digest through the
// values ImageValues names, the rollout judged as for manifests, a failed
// upgrade rolled back to the previous revision and a failed first install
// removed.
type Helm struct {
	// Chart is a chart directory or packaged chart (.tgz), as a path in
	// Target.Source, or oci://HOST/REPO/NAME:VERSION.
	Chart string
	// Values are values files, paths in Target.Source, merged in order
	// (values-staging.yaml for staging, values-production.yaml for
	// production).
	Values []string
	// Set are PATH=VALUE overrides over the values files, in helm
	// --set's syntax.
	Set []string
	// Release names the release; empty means the chart's name.
	Release string
	// Image names the values that get the image.
	Image ImageValues
	// History bounds the release revisions Helm keeps: 0 means the tool's
	// default (10), a negative number keeps them all.
	History int
	// PlainHTTP talks plain HTTP to an oci:// chart's registry.
	PlainHTTP bool
	// Username and Password authenticate to an oci:// chart's registry.
	Username string
	Password *dagger.Secret
}

// GitOps promotes instead of deploying: the digest is written into the
// GitOps repository (a kustomize overlay's images: entry, or a Helm values
// file), committed naming Pipeline, pushed, and the Argo CD Application is
// followed until it is Synced and Healthy at that commit; a degraded one
// is reverted. The kubeconfig is the cluster where Argo CD runs, and the
// namespace the Application's destination.
type GitOps struct {
	// Repository is the clone URL: https://, http:// or ssh://.
	Repository string
	// Branch is the branch the Application tracks; empty means main.
	Branch string
	// Overlay is the kustomize overlay (a directory in the repository)
	// whose images: entry named ImageName gets the digest.
	Overlay, ImageName string
	// ValuesFile is the Helm values file (a path in the repository) that
	// gets the digest at the paths Image names, instead of an overlay.
	ValuesFile string
	Image      ImageValues
	// Application and ApplicationNamespace name the Argo CD Application
	// (its namespace defaults to argocd).
	Application, ApplicationNamespace string
	// User and Password authenticate over HTTP(S); the password or token
	// reaches the tool as a secret variable.
	User     string
	Password *dagger.Secret
	// SSHKey is the private key for an ssh:// repository, mounted as a
	// secret file; SSHHostKey is the server's public host key and
	// SSHPassphrase the key's passphrase, if any. SSHUser defaults to
	// the URL's user, else git.
	SSHKey        *dagger.Secret
	SSHPassphrase *dagger.Secret
	SSHHostKey    string
	SSHUser       string
	// CABundle holds extra PEM certificates for an https:// server.
	CABundle *dagger.File
	// Pipeline names the run in the commit message.
	Pipeline Pipeline
}

// Pipeline identifies the run that promotes, for the commit message.
type Pipeline struct {
	// Name of the pipeline or project, ID of the run (CI_PIPELINE_ID,
	// GITHUB_RUN_ID), URL of the run, Commit the image was built from.
	Name, ID, URL, Commit string
}

// source returns the tool's source flags and what its container needs
// (the source directory, mounted secrets), or says what is missing.
func (t Target) source(ctx context.Context, stageName string, ctr *dagger.Container) (*dagger.Container, []string, error) {
	n := 0
	for _, set := range []bool{t.Manifests != "", t.Helm != nil, t.GitOps != nil} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		return nil, nil, fmt.Errorf("%s: nothing to deploy: name the manifests (a directory of YAML or a kustomize overlay in the source), a Helm chart or a GitOps repository", stageName)
	case n > 1:
		return nil, nil, fmt.Errorf("%s: the target names more than one of manifests, a Helm chart and a GitOps repository: deploy from one source", stageName)
	}
	inSource := func(p string) string { return path.Join(sourcePath, path.Clean("/"+p)) }
	withSource := func(what string) (*dagger.Container, error) {
		if t.Source == nil {
			return nil, fmt.Errorf("%s: no source directory: the %s is a path in it", stageName, what)
		}
		return ctr.WithMountedDirectory(sourcePath, t.Source, dagger.ContainerWithMountedDirectoryOpts{Owner: DefaultUser}), nil
	}
	switch {
	case t.Manifests != "":
		ctr, err := withSource("manifests")
		if err != nil {
			return nil, nil, err
		}
		return ctr, []string{"--source=apply", "--manifests=" + inSource(t.Manifests)}, nil
	case t.Helm != nil:
		return t.Helm.apply(ctx, stageName, ctr, inSource, withSource)
	default:
		return t.GitOps.apply(ctx, stageName, ctr)
	}
}

func (h *Helm) apply(ctx context.Context, stageName string, ctr *dagger.Container, inSource func(string) string, withSource func(string) (*dagger.Container, error)) (*dagger.Container, []string, error) {
	if h.Chart == "" {
		return nil, nil, fmt.Errorf("%s: no Helm chart: name a chart directory or .tgz in the source, or oci://HOST/REPO/NAME:VERSION", stageName)
	}
	args := []string{"--source=helm"}
	if strings.HasPrefix(h.Chart, "oci://") {
		args = append(args, "--chart="+h.Chart)
		if len(h.Values) > 0 {
			var err error
			if ctr, err = withSource("values files"); err != nil {
				return nil, nil, err
			}
		}
	} else {
		var err error
		if ctr, err = withSource("chart"); err != nil {
			return nil, nil, err
		}
		args = append(args, "--chart="+inSource(h.Chart))
	}
	for _, v := range h.Values {
		args = append(args, "--values="+inSource(v))
	}
	for _, s := range h.Set {
		args = append(args, "--set="+s)
	}
	if h.Release != "" {
		args = append(args, "--release="+h.Release)
	}
	args = append(args, h.Image.args()...)
	switch {
	case h.History < 0:
		args = append(args, "--history-max=0")
	case h.History > 0:
		args = append(args, "--history-max="+strconv.Itoa(h.History))
	}
	if h.PlainHTTP {
		args = append(args, "--chart-plain-http")
	}
	if h.Username != "" {
		ctr = ctr.WithEnvVariable("HELM_REGISTRY_USERNAME", h.Username)
	}
	if h.Password != nil {
		if err := readable(ctx, h.Password); err != nil {
			return nil, nil, fmt.Errorf("%s: the chart registry's password secret cannot be read: %v", stageName, err)
		}
		ctr = ctr.WithSecretVariable("HELM_REGISTRY_PASSWORD", h.Password)
	}
	return ctr, args, nil
}

func (g *GitOps) apply(ctx context.Context, stageName string, ctr *dagger.Container) (*dagger.Container, []string, error) {
	if g.Repository == "" {
		return nil, nil, fmt.Errorf("%s: no GitOps repository: name its clone URL (https://, http:// or ssh://)", stageName)
	}
	args := []string{"--source=gitops", "--repo=" + g.Repository, "--app=" + g.Application}
	if g.Branch != "" {
		args = append(args, "--branch="+g.Branch)
	}
	if g.ApplicationNamespace != "" {
		args = append(args, "--app-namespace="+g.ApplicationNamespace)
	}
	if g.Overlay != "" {
		args = append(args, "--overlay="+g.Overlay, "--image-name="+g.ImageName)
	}
	if g.ValuesFile != "" {
		args = append(args, "--values-file="+g.ValuesFile)
		args = append(args, g.Image.args()...)
	}
	// Each secret is read once first, so that one the CLI cannot resolve
	// (an unset variable) is named here instead of failing the tool's
	// container with the engine's bare message.
	if g.SSHKey != nil {
		if err := readable(ctx, g.SSHKey); err != nil {
			return nil, nil, fmt.Errorf("%s: the git SSH key secret cannot be read (pass the deploy key, e.g. --git-ssh-key=file://PATH or env://GIT_SSH_KEY with that variable set): %v", stageName, err)
		}
		ctr = ctr.WithMountedSecret(gitSSHKeyPath, g.SSHKey, dagger.ContainerWithMountedSecretOpts{Owner: DefaultUser, Mode: 0o400})
		args = append(args, "--ssh-key-file="+gitSSHKeyPath)
		if g.SSHHostKey != "" {
			args = append(args, "--ssh-host-key="+g.SSHHostKey)
		}
		if g.SSHUser != "" {
			args = append(args, "--ssh-user="+g.SSHUser)
		}
		if g.SSHPassphrase != nil {
			ctr = ctr.WithSecretVariable("GIT_SSH_PASSPHRASE", g.SSHPassphrase)
		}
	} else if g.Password != nil {
		if err := readable(ctx, g.Password); err != nil {
			return nil, nil, fmt.Errorf("%s: the git password secret cannot be read (pass the GitOps repository's password or token, e.g. --git-password=env://GIT_PASSWORD with that variable set): %v", stageName, err)
		}
		ctr = ctr.WithSecretVariable("GIT_PASSWORD", g.Password)
		if g.User != "" {
			args = append(args, "--git-user="+g.User)
		}
	}
	if g.CABundle != nil {
		ctr = ctr.WithMountedFile(gitCAPath, g.CABundle, dagger.ContainerWithMountedFileOpts{Owner: DefaultUser})
		args = append(args, "--ca-file="+gitCAPath)
	}
	p := g.Pipeline
	for _, f := range []struct{ flag, value string }{{"pipeline-name", p.Name}, {"pipeline-id", p.ID}, {"pipeline-url", p.URL}, {"source-commit", p.Commit}} {
		if f.value != "" {
			args = append(args, "--"+f.flag+"="+f.value)
		}
	}
	return ctr, args, nil
}

// readable reads a secret once and throws the value away: an error names
// a secret the caller cannot resolve.
func readable(ctx context.Context, s *dagger.Secret) error {
	if _, err := s.Plaintext(ctx); err != nil {
		return errors.New(strings.TrimSpace(err.Error()))
	}
	return nil
}
