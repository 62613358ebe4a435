// Package helm deploys a team's Helm chart with slipway's guarantees: the
// image by digest, the rollout judged as `kubectl rollout status` judges it
// (deploy.RolloutStatus), an atomic release (a failed upgrade rolls back to
// the previous revision, a failed first install is uninstalled) and, through
// deploy.Gated and deploy.Recording, the same evidence and production gate
// as a bundle written in Go.
//
// It is `helm upgrade --install --atomic --wait` done with Helm's Go SDK
// (helm.sh/helm/v3), no helm binary:
//
//	d, err := helm.New(ctx, env, "./chart",
//		helm.WithValuesFiles("chart/values-staging.yaml"),
//		helm.WithImageValues(helm.ImageValues{Repository: "image.repository", Digest: "image.digest"}))
//	res, err := d.Deploy(ctx, deploy.Release{Image: "registry/app@sha256:..."})
//
// Everything that can be checked before a change is checked first: the
// chart must load and render with the values, the image values must reach
// the rendered Deployment, every values file must exist, and a release
// stuck in pending-install, pending-upgrade or pending-rollback is refused.
package helm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/kube"
	"helm.sh/helm/v3/pkg/registry"

	"github.com/slipway-ci/slipway/deploy"
)

// ImageValues names the values through which the chart reads its image.
// Either Repository and Digest (a chart whose template writes
// `{{ .Values.image.repository }}@{{ .Values.image.digest }}`) or
// Reference alone (a chart that takes the whole reference in one value).
// Paths are dot-separated keys into the values: "image.repository".
type ImageValues struct {
	// Repository gets registry/repo (no tag, no digest).
	Repository string
	// Digest gets sha256:<hex>.
	Digest string
	// Reference gets registry/repo@sha256:<hex>.
	Reference string
}

// DefaultImageValues is the most common layout: image.repository and
// image.digest.
var DefaultImageValues = ImageValues{Repository: "image.repository", Digest: "image.digest"}

func (v ImageValues) String() string {
	if v.Reference != "" {
		return "the value " + v.Reference
	}
	return "the values " + v.Repository + " and " + v.Digest
}

func (v ImageValues) validate() error {
	switch {
	case v.Reference != "" && (v.Repository != "" || v.Digest != ""):
		return errors.New("image values: set Reference alone, or Repository and Digest, not both")
	case v.Reference == "" && (v.Repository == "" || v.Digest == ""):
		return fmt.Errorf("image values: Repository (%q) and Digest (%q) must both be set, or Reference alone", v.Repository, v.Digest)
	}
	for _, p := range []string{v.Repository, v.Digest, v.Reference} {
		if p == "" {
			continue
		}
		for _, k := range strings.Split(p, ".") {
			if k == "" {
				return fmt.Errorf("image values: %q is not a values path (dot-separated keys, e.g. image.digest)", p)
			}
		}
	}
	return nil
}

// Option configures a Deployer.
type Option func(*options)

type options struct {
	release         string
	valuesFiles     []string
	values          []override
	image           ImageValues
	maxHistory      int
	rolloutTimeout  time.Duration
	rollbackTimeout time.Duration
	registryOpts    []registry.ClientOption
	deployOpts      []deploy.Option
	log             func(format string, v ...any)
	rollback        bool
	description     string
}

// override is one typed value: a whole map (path "") or one path.
type override struct {
	path  string
	value any
}

// WithRelease names the Helm release (default: the chart's name).
func WithRelease(name string) Option { return func(o *options) { o.release = name } }

// WithValuesFiles adds values files, merged in order after the chart's
// values.yaml, as `-f` does: values-staging.yaml, values-production.yaml.
func WithValuesFiles(paths ...string) Option {
	return func(o *options) { o.valuesFiles = append(o.valuesFiles, paths...) }
}

// WithValues merges typed values over the values files, as a map
// (`--set` without the string parsing). Later options win.
func WithValues(v map[string]any) Option {
	return func(o *options) { o.values = append(o.values, override{value: v}) }
}

// WithValue sets one value at a dot-separated path ("replicaCount",
// "resources.limits.cpu") over the values files. Later options win.
func WithValue(path string, v any) Option {
	return func(o *options) { o.values = append(o.values, override{path: path, value: v}) }
}

// WithImageValues names the values that carry the image (default
// DefaultImageValues). They are set last: nothing overrides the digest.
func WithImageValues(v ImageValues) Option { return func(o *options) { o.image = v } }

// WithMaxHistory bounds the release revisions Helm keeps (default 10, as
// `helm upgrade --history-max`; 0 keeps all).
func WithMaxHistory(n int) Option { return func(o *options) { o.maxHistory = n } }

// WithRolloutTimeout bounds the wait for the release's workloads
// (default 10 minutes); expiry is a failed rollout and rolls back.
func WithRolloutTimeout(d time.Duration) Option { return func(o *options) { o.rolloutTimeout = d } }

// WithRollbackTimeout bounds the rollback, or the removal of a failed
// first install (default 5 minutes).
func WithRollbackTimeout(d time.Duration) Option { return func(o *options) { o.rollbackTimeout = d } }

// WithRegistry passes options to Helm's OCI registry client, for charts
// named oci://HOST/REPO:VERSION: registry.ClientOptBasicAuth,
// registry.ClientOptPlainHTTP (a registry without TLS), ...
func WithRegistry(opts ...registry.ClientOption) Option {
	return func(o *options) { o.registryOpts = append(o.registryOpts, opts...) }
}

// WithDeployOptions configures the client-go side shared with package
// deploy: deploy.WithTunnel, deploy.WithRequestTimeout, ...
func WithDeployOptions(opts ...deploy.Option) Option {
	return func(o *options) { o.deployOpts = append(o.deployOpts, opts...) }
}

// WithLog receives Helm's debug messages (default: discarded).
func WithLog(f func(format string, v ...any)) Option { return func(o *options) { o.log = f } }

// WithoutRollback leaves a failed release as it is (for debugging).
func WithoutRollback() Option { return func(o *options) { o.rollback = false } }

// WithDescription sets the description Helm records for each revision
// (`helm history`); default "slipway: <image>".
func WithDescription(s string) Option { return func(o *options) { o.description = s } }

// Deployer installs or upgrades one Helm release in one environment. It
// is a deploy.Deployer: wrap it in deploy.Recording and deploy.Gated for
// the evidence and the production gate.
type Deployer struct {
	env    deploy.Environment
	chart  string
	opts   options
	client *deploy.Client
	getter *getter
	now    func() time.Time
}

var _ deploy.Deployer = (*Deployer)(nil)

// New returns a Deployer of chart (a chart directory, a packaged .tgz, or
// oci://HOST/REPO/NAME:VERSION) into env. It checks the options and reads
// the kubeconfig now, so that a wrong path or a missing secret is reported
// before anything else; it does not contact the cluster yet.
func New(ctx context.Context, env deploy.Environment, chart string, opts ...Option) (*Deployer, error) {
	o := options{image: DefaultImageValues, maxHistory: 10, rolloutTimeout: 10 * time.Minute, rollbackTimeout: 5 * time.Minute, rollback: true, log: func(string, ...any) {}}
	for _, opt := range opts {
		opt(&o)
	}
	prefix := fmt.Sprintf("helm: environment %q", env.Name)
	var errs []error
	if chart == "" {
		errs = append(errs, errors.New("no chart: name a chart directory, a packaged chart (.tgz) or oci://HOST/REPO/NAME:VERSION"))
	} else if !isOCI(chart) {
		if _, err := os.Stat(chart); err != nil {
			errs = append(errs, fmt.Errorf("chart %s does not exist: name a chart directory, a packaged chart (.tgz) or oci://HOST/REPO/NAME:VERSION", chart))
		}
	} else if err := checkOCIRef(chart); err != nil {
		errs = append(errs, err)
	}
	for _, f := range o.valuesFiles {
		if _, err := os.Stat(f); err != nil {
			errs = append(errs, fmt.Errorf("values file %s does not exist (%v): fix the path, or drop it from the environment's values files", f, errors.Unwrap(err)))
		}
	}
	if o.release != "" {
		if err := chartutil.ValidateReleaseName(o.release); err != nil {
			errs = append(errs, fmt.Errorf("release name %q: %v", o.release, err))
		}
	}
	if err := o.image.validate(); err != nil {
		errs = append(errs, err)
	}
	for _, v := range o.values {
		if v.path == "" {
			if _, ok := v.value.(map[string]any); !ok {
				errs = append(errs, fmt.Errorf("WithValues: %T is not a map[string]any", v.value))
			}
		} else if strings.Contains("."+v.path+".", "..") {
			errs = append(errs, fmt.Errorf("WithValue: %q is not a values path (dot-separated keys, e.g. resources.limits.cpu)", v.path))
		}
	}
	if o.maxHistory < 0 {
		errs = append(errs, fmt.Errorf("max history %d: want 0 (keep all) or more", o.maxHistory))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	client, err := deploy.New(ctx, env, append([]deploy.Option{deploy.WithRolloutTimeout(o.rolloutTimeout), deploy.WithRollbackTimeout(o.rollbackTimeout)}, o.deployOpts...)...)
	if err != nil {
		return nil, err
	}
	cfg := client.RESTConfig()
	if cfg == nil {
		return nil, fmt.Errorf("%s: a Helm deploy needs a kubeconfig (deploy.WithClients is not supported)", prefix)
	}
	g, err := newGetter(cfg, env.Namespace)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	return &Deployer{env: env, chart: chart, opts: o, client: client, getter: g, now: time.Now}, nil
}

// Environment is the environment d deploys to.
func (d *Deployer) Environment() deploy.Environment { return d.env }

// kubeClient is Helm's kube client on the environment's namespace.
func (d *Deployer) kubeClient() (*kube.Client, error) {
	kc := kube.New(d.getter)
	kc.Namespace = d.env.Namespace
	kc.Log = d.opts.log
	return kc, nil
}

func isOCI(chart string) bool { return strings.HasPrefix(chart, "oci://") }
