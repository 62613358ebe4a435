package main

// The deploy sources of deploy-staging and deploy-production: apply (the
// staging and production manifests), helm (a chart with values files per
// environment) and gitops (a promote commit into the GitOps repository,
// followed through Argo CD). The settings are the constructor's (main.go);
// a run picks its source with --source, else the deploySource setting, so
// one CI variable switches a pipeline between them.

import (
	"context"
	"fmt"
	"slices"
	"strings"

	sdk "dagger.io/dagger"

	"github.com/slipway-ci/slipway/dagger/internal/dagger"
	"github.com/slipway-ci/slipway/stage/handover"
	"github.com/slipway-ci/slipway/stage/kube"
)

// The deploy sources.
const (
	sourceApply  = "apply"
	sourceHelm   = "helm"
	sourceGitOps = "gitops"
)

// deployVia is what a deploy function's arguments say about the source:
// which one, and the GitOps credentials and commit message details.
type deployVia struct {
	source      string
	gitPassword *dagger.Secret
	gitSSHKey   *dagger.Secret
	revision    string
	pipelineID  string
	// prometheus evaluates the alertRules setting (deploy-staging).
	prometheus *dagger.File
}

// sourceName is the run's source: --source, else the setting, else apply.
func (m *Slipway) sourceName(via deployVia) string {
	switch {
	case via.source != "":
		return via.source
	case m.DeploySource != "":
		return m.DeploySource
	}
	return sourceApply
}

// checkSource refuses settings a deploy from the run's source cannot work
// with, before anything is built or read: each message names the setting
// to set.
func (m *Slipway) checkSource(production bool, via deployVia) error {
	env := "staging"
	if production {
		env = "production"
	}
	switch src := m.sourceName(via); src {
	case sourceApply:
		if m.manifests(production) == "" {
			return fmt.Errorf("no %s manifests: set %sManifests to the path of the directory of YAML or the kustomize overlay in the source", env, env)
		}
	case sourceHelm:
		if m.HelmChart == "" {
			return fmt.Errorf("the helm source has no chart: set helmChart to the chart's path in the source (a directory or a .tgz) or to oci://HOST/REPO/NAME:VERSION")
		}
		if m.HelmHistory < 0 {
			return fmt.Errorf("helmHistory %d: want the number of release revisions to keep, or 0 for all", m.HelmHistory)
		}
		return m.checkImageValues()
	case sourceGitOps:
		if m.GitopsRepository == "" {
			return fmt.Errorf("the gitops source has no repository: set gitopsRepository to the clone URL of the GitOps repository the Argo CD Applications watch")
		}
		overlay, values := m.gitopsTarget(production)
		switch {
		case overlay != "" && values != "":
			return fmt.Errorf("both gitops%sOverlay and gitops%sValues are set: the digest goes into one of them", title(env), title(env))
		case overlay == "" && values == "":
			return fmt.Errorf("the gitops source has nowhere to write the digest for %s: set gitops%sOverlay (a kustomize overlay in the GitOps repository) or gitops%sValues (a Helm values file there)", env, title(env), title(env))
		case values != "":
			return m.checkImageValues()
		}
	default:
		return fmt.Errorf("source %q: want apply, helm or gitops (--source, or the deploySource setting)", src)
	}
	return nil
}

func (m *Slipway) checkImageValues() error {
	if n := len(m.ImageValues); n != 1 && n != 2 || slices.Contains(m.ImageValues, "") {
		return fmt.Errorf("imageValues %q: want two values paths, the image repository's and its digest's (image.repository, image.digest), or one that gets the whole repository@sha256:digest", m.ImageValues)
	}
	return nil
}

func title(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

func (m *Slipway) manifests(production bool) string {
	if production {
		return m.ProductionManifests
	}
	return m.StagingManifests
}

// gitopsTarget is the environment's overlay or values file.
func (m *Slipway) gitopsTarget(production bool) (overlay, values string) {
	if production {
		return m.GitopsProductionOverlay, m.GitopsProductionValues
	}
	return m.GitopsStagingOverlay, m.GitopsStagingValues
}

func (m *Slipway) imageValues() kube.ImageValues {
	switch len(m.ImageValues) {
	case 1:
		return kube.ImageValues{Reference: m.ImageValues[0]}
	case 2:
		return kube.ImageValues{Repository: m.ImageValues[0], Digest: m.ImageValues[1]}
	}
	return kube.ImageValues{}
}

// sourceTarget is the deploy's target without its environment: the
// manifests, the chart or the GitOps promotion, with the credentials the
// source reads. namespace is the environment's, the default name of its
// Argo CD Application.
func (m *Slipway) sourceTarget(ctx context.Context, c *sdk.Client, production bool, namespace string, via deployVia) (kube.Target, error) {
	switch m.sourceName(via) {
	case sourceHelm:
		values := m.HelmStagingValues
		if production {
			values = m.HelmProductionValues
		}
		history := m.HelmHistory
		if history == 0 {
			history = -1 // the setting's 0 keeps all, as helm --history-max 0 does
		}
		return kube.Target{Helm: &kube.Helm{
			Chart: m.HelmChart, Values: values, Set: m.HelmSet, Release: m.HelmRelease,
			Image: m.imageValues(), History: history,
		}}, nil
	case sourceGitOps:
		return m.gitopsPromotion(ctx, c, production, namespace, via)
	}
	return kube.Target{Manifests: m.manifests(production)}, nil
}

func (m *Slipway) gitopsPromotion(ctx context.Context, c *sdk.Client, production bool, namespace string, via deployVia) (kube.Target, error) {
	name := m.Name
	if name == "" {
		s, _, err := m.resolveGo(ctx)
		if err != nil {
			return kube.Target{}, err
		}
		name = s.name
	}
	app := m.GitopsStagingApp
	if production {
		app = m.GitopsProductionApp
	}
	if app == "" {
		app = namespace
	}
	image := m.GitopsImage
	if image == "" {
		image = name
	}
	g := &kube.GitOps{
		Repository: m.GitopsRepository, Branch: m.GitopsBranch,
		Application: app, ApplicationNamespace: m.GitopsAppNamespace,
		User: m.GitopsUser, SSHHostKey: m.GitopsSSHHostKey,
		Pipeline: kube.Pipeline{Name: name, ID: via.pipelineID, Commit: via.revision},
	}
	overlay, values := m.gitopsTarget(production)
	if overlay != "" {
		g.Overlay, g.ImageName = overlay, image
	} else {
		g.ValuesFile, g.Image = values, m.imageValues()
	}
	var err error
	if g.Password, err = handover.To(ctx, via.gitPassword, c.LoadSecretFromID); err != nil {
		return kube.Target{}, err
	}
	if g.SSHKey, err = handover.To(ctx, via.gitSSHKey, c.LoadSecretFromID); err != nil {
		return kube.Target{}, err
	}
	return kube.Target{GitOps: g}, nil
}

// WithHelm deploys from a Helm chart: the chart's path in the source (or
// oci://...) and each environment's values files, with deploySource helm.
func (m *Slipway) WithHelm(
	// The chart directory or .tgz in the source, or oci://HOST/REPO/NAME:VERSION.
	chart string,
	// Staging's values files, paths in the source.
	// +optional
	stagingValues []string,
	// Production's values files, paths in the source.
	// +optional
	productionValues []string,
) *Slipway {
	c := *m
	c.DeploySource, c.HelmChart = sourceHelm, chart
	c.HelmStagingValues, c.HelmProductionValues = slices.Clone(stagingValues), slices.Clone(productionValues)
	return &c
}

// WithGitops deploys by promote commits into a GitOps repository that Argo
// CD syncs, each environment's kustomize overlay getting the digest, with
// deploySource gitops.
func (m *Slipway) WithGitops(
	// The GitOps repository's clone URL.
	repository string,
	// Staging's kustomize overlay in the repository.
	stagingOverlay string,
	// Production's kustomize overlay in the repository.
	productionOverlay string,
	// The images: entry's name. Default: the service's name.
	// +optional
	image string,
) *Slipway {
	c := *m
	c.DeploySource, c.GitopsRepository = sourceGitOps, repository
	c.GitopsStagingOverlay, c.GitopsProductionOverlay, c.GitopsImage = stagingOverlay, productionOverlay, image
	c.GitopsStagingValues, c.GitopsProductionValues = "", ""
	return &c
}
