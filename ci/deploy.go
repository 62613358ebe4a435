package main

// The deploy stages: the example service's bundle, by digest, into a
// namespace of a cluster named by a kubeconfig secret, with the evidence
// that promotes a digest from staging to production stored next to the
// image (OCI referrers, see pipeline/deploy).
//
// Reaching a cluster from inside the engine: in CI the kubeconfig's server
// is reachable from the module's container as it is. On a laptop the local
// control plane listens on the host's loopback, which the engine's
// containers cannot see; the CLI then passes a host service,
// --cluster=tcp://localhost:16443, and the function sends its requests
// through that tunnel while still checking TLS against the kubeconfig's
// server name (deploy.WithTunnel).

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/slipway-ci/slipway/ci/internal/dagger"
	bundle "github.com/slipway-ci/slipway/examples/deployai/deploy"
	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/deploy"
)

// The environments' defaults: the seed's namespaces.
const (
	stagingNamespace    = "mts-deploy-ai-staging"
	productionNamespace = "mts-deploy-ai"
	stagingName         = "staging"
	productionName      = "production"
)

// DeployStaging deploys the image by digest to the staging namespace, waits
// for the rollout and rolls back on failure. After a verified rollout it
// records "deployed and verified in staging" for the digest as an OCI
// referrer of the image, which production's gate asks for. Returns one
// line: namespace, digest, revision and duration. Never cached: the same
// arguments deploy again (Dagger would otherwise replay the first result for
// seven days, deploying nothing).
//
// +cache="never"
func (m *Slipway) DeployStaging(
	ctx context.Context,
	// The image to deploy, as repository@sha256:digest.
	image string,
	// The staging cluster's kubeconfig.
	kubeconfig *dagger.Secret,
	// The namespace to deploy into; it must exist.
	// +default="mts-deploy-ai-staging"
	namespace string,
	// A tunnel to the API server, when the kubeconfig's server is not
	// reachable from the engine: the local control plane is
	// --cluster=tcp://localhost:16443. TLS is still checked against the
	// kubeconfig's server name.
	// +optional
	cluster *dagger.Service,
	// The user for the image registry, where the evidence is stored.
	// +optional
	registryUsername string,
	// The password or token for the image registry.
	// +optional
	registryPassword *dagger.Secret,
	// How long to wait for the rollout before rolling back, as a Go
	// duration.
	// +default="10m"
	timeout string,
) (string, error) {
	env := deploy.Environment{Name: stagingName, Tier: pipeline.Staging, Namespace: namespace}
	return m.deploy(ctx, "deploy-staging", env, image, kubeconfig, cluster, registryUsername, registryPassword, timeout, nil)
}

// DeployProduction deploys to production an image that staging has verified
// and the scan found clean, after an explicit approval; a refusal names
// every check that failed. Returns one line: namespace, digest, revision
// and duration. Never cached, like deploy-staging.
//
// +cache="never"
func (m *Slipway) DeployProduction(
	ctx context.Context,
	// The image to deploy, as repository@sha256:digest.
	image string,
	// The production cluster's kubeconfig.
	kubeconfig *dagger.Secret,
	// Confirms that a person approved this deploy.
	// +optional
	approve bool,
	// Who approved it, recorded with the deploy (GitLab's GITLAB_USER_LOGIN,
	// GitHub's github.actor).
	// +default="ci"
	approver string,
	// The namespace to deploy into; it must exist.
	// +default="mts-deploy-ai"
	namespace string,
	// A tunnel to the API server; see deploy-staging.
	// +optional
	cluster *dagger.Service,
	// The user for the image registry, where the evidence is read.
	// +optional
	registryUsername string,
	// The password or token for the image registry.
	// +optional
	registryPassword *dagger.Secret,
	// How long to wait for the rollout before rolling back, as a Go
	// duration.
	// +default="10m"
	timeout string,
) (string, error) {
	env := deploy.Environment{Name: productionName, Tier: pipeline.Production, Namespace: namespace}
	var approval *deploy.Approval
	if approve {
		approval = &deploy.Approval{By: approver, Reason: "deploy-production --approve"}
	}
	return m.deploy(ctx, "deploy-production", env, image, kubeconfig, cluster, registryUsername, registryPassword, timeout, approval)
}

// deploy rolls the service's bundle out to env. Production goes through the
// promotion gate; every verified deploy records its evidence.
func (m *Slipway) deploy(ctx context.Context, stage string, env deploy.Environment, image string, kubeconfig *dagger.Secret,
	cluster *dagger.Service, username string, password *dagger.Secret, timeout string, approval *deploy.Approval) (string, error) {
	wait, err := time.ParseDuration(timeout)
	if err != nil || wait <= 0 {
		return "", fmt.Errorf("%s: timeout %q is not a positive Go duration such as 10m", stage, timeout)
	}
	if kubeconfig == nil {
		return "", fmt.Errorf("%s: no kubeconfig: pass --kubeconfig=env://KUBECONFIG_%s", stage, strings.ToUpper(env.Name))
	}
	// The plaintext lives only in this process; it is never printed.
	raw, err := kubeconfig.Plaintext(ctx)
	if err != nil {
		// %v, not %w: the module runtime reports a wrapped engine error
		// as the engine's bare message, which would lose what to fix.
		return "", fmt.Errorf("%s: the kubeconfig secret cannot be read (pass the %s cluster's kubeconfig, e.g. --kubeconfig=env://KUBECONFIG_%s with that variable set, or --kubeconfig=file://PATH): %v",
			stage, env.Name, strings.ToUpper(env.Name), err)
	}
	env.Kubeconfig = deploy.KubeconfigBytes(raw)
	opts := []deploy.Option{deploy.WithRolloutTimeout(wait)}
	if cluster != nil {
		ep, err := tunnelEndpoint(ctx, cluster)
		if err != nil {
			return "", fmt.Errorf("%s: --cluster: %v", stage, err)
		}
		opts = append(opts, deploy.WithTunnel(ep))
	}
	ropts, err := registryOptions(ctx, username, password)
	if err != nil {
		return "", fmt.Errorf("%s: %w", stage, err)
	}
	store := deploy.NewReferrers(ropts...)

	b, err := bundle.New(env.Namespace, image)
	if err != nil {
		return "", fmt.Errorf("%s: %w", stage, err)
	}
	objs := make([]runtime.Object, 0, len(b.Objects()))
	for _, o := range b.Objects() {
		objs = append(objs, o)
	}
	all, err := deploy.Objects(objs...)
	if err != nil {
		return "", fmt.Errorf("%s: %w", stage, err)
	}
	c, err := deploy.New(ctx, env, opts...)
	if err != nil {
		return "", fmt.Errorf("%s: %w", stage, err)
	}
	gate := &deploy.PromotionGate{Store: store, Staging: stagingName}
	// The gate comes before discovery: a refused release touches nothing.
	if env.Tier == pipeline.Production {
		if err := gate.Allow(ctx, env, deploy.Release{Bundle: all, Image: image, Approval: approval}); err != nil {
			if errors.Is(err, deploy.ErrNotApproved) {
				err = fmt.Errorf("%w (approve with --approve)", err)
			}
			return "", fmt.Errorf("%s: %w", stage, err)
		}
	}
	served, skipped, err := c.Served(ctx, all)
	if err != nil {
		return "", fmt.Errorf("%s: %w", stage, err)
	}
	d := deploy.Recording(c, env, store)
	res, err := d.Deploy(ctx, deploy.Release{Bundle: served, Image: image, Deployment: bundle.Name, Approval: approval})
	if err != nil {
		return "", fmt.Errorf("%s: %w", stage, err)
	}
	line := fmt.Sprintf("%s: namespace %s, image %s, revision %s, %s, evidence recorded",
		env.Name, res.Namespace, res.Image, res.Revision, res.Duration.Round(10*time.Millisecond))
	if len(skipped) > 0 {
		line += "; skipped: " + strings.Join(skipped, ", ")
	}
	return line, nil
}

// tunnelEndpoint starts the host service and returns HOST:PORT of its end
// in this session.
func tunnelEndpoint(ctx context.Context, svc *dagger.Service) (string, error) {
	started, err := svc.Start(ctx)
	if err != nil {
		return "", fmt.Errorf("starting the tunnel: %w", err)
	}
	ep, err := started.Endpoint(ctx)
	if err != nil {
		return "", fmt.Errorf("the tunnel's endpoint: %w", err)
	}
	return ep, nil
}

// registryOptions authenticates to the image's registry, where evidence is
// read and written; without a user, anonymous access (or none needed).
func registryOptions(ctx context.Context, username string, password *dagger.Secret) ([]remote.Option, error) {
	if username == "" && password == nil {
		return nil, nil
	}
	pw := ""
	if password != nil {
		var err error
		if pw, err = password.Plaintext(ctx); err != nil {
			return nil, fmt.Errorf("reading the registry password secret: %w", err)
		}
	}
	return []remote.Option{remote.WithAuth(&authn.Basic{Username: username, Password: pw})}, nil
}

// recordScan records the scan's outcome as evidence next to the image, for
// production's gate (the latest scan decides there, clean or not). The scan
// itself stands without it: an image in a registry this session cannot
// write to is still scanned, and the gate then says the evidence is
// missing. Returns what happened, for the summary.
func recordScan(ctx context.Context, image string, findings int, username string, password *dagger.Secret) string {
	ropts, err := registryOptions(ctx, username, password)
	if err == nil {
		err = deploy.RecordScan(ctx, deploy.NewReferrers(ropts...), image, "trivy", "HIGH,CRITICAL", findings)
	}
	if err != nil {
		fmt.Println("security-trivy: the scan evidence was not recorded:", err)
		return "scan evidence not recorded: " + err.Error()
	}
	return "scan evidence recorded"
}
