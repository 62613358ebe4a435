package helm

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/postrender"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/slipway-ci/slipway/deploy"
)

// Deploy renders the chart with the image by digest, checks it, installs
// or upgrades the release, waits for its workloads, and on failure rolls
// back to the previous revision (or uninstalls a failed first install).
// r.Image is the digest; r.Deployment names the Deployment the image must
// reach when the chart has several (default: the only one); r.Bundle must
// be empty: the chart holds the objects, and r.Container is the chart's
// business (its image template says which container runs the image).
// The post-deploy checks given by WithDeployOptions (deploy.WithVerifyPaths,
// deploy.WithAlerts) run after the wait, and a failed one is rolled back too.
func (d *Deployer) Deploy(ctx context.Context, r deploy.Release) (*deploy.Result, error) {
	start := d.now()
	prefix := fmt.Sprintf("helm: environment %q", d.env.Name)
	if len(r.Bundle) > 0 {
		return nil, fmt.Errorf("%s: the release has a bundle of %d objects, but a Helm deploy takes its objects from the chart %s: leave Release.Bundle empty", prefix, len(r.Bundle), d.chart)
	}
	digest, err := deploy.ParseDigest(r.Image)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	ch, err := d.loadChart()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	relName := d.opts.release
	if relName == "" {
		relName = ch.Name()
	}
	prefix = fmt.Sprintf("%s: release %s/%s", prefix, d.env.Namespace, relName)
	vals, err := d.values(digest)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	cfg, err := d.actionConfig()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	last, err := cfg.Releases.Last(relName)
	if err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, fmt.Errorf("%s: reading the release history: %w", prefix, d.client.Explain(err))
	}
	if last != nil && last.Info.Status.IsPending() {
		return nil, fmt.Errorf("%s: %w", prefix, pendingError(last))
	}
	if err := d.client.CheckNamespace(ctx); err != nil {
		return nil, err
	}
	caps, err := d.capabilities()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, d.client.Explain(err))
	}
	// Render before any change: a chart that does not render, or whose
	// Deployment does not get the image, is refused with nothing touched.
	manifest, err := render(ch, vals, relName, d.env.Namespace, caps, last != nil, postRenderer(d.env.NodeSelector))
	if err != nil {
		return nil, fmt.Errorf("%s: chart %s does not render with these values: %w", prefix, d.chart, err)
	}
	objs, err := parseManifest(manifest)
	if err != nil {
		return nil, fmt.Errorf("%s: chart %s: %w", prefix, d.chart, err)
	}
	target, err := checkImage(objs, r.Deployment, digest, d.opts.image)
	if err != nil {
		return nil, fmt.Errorf("%s: chart %s: %w", prefix, d.chart, err)
	}
	prev, err := cfg.Releases.Deployed(relName)
	if err != nil && !errors.Is(err, driver.ErrNoDeployedReleases) && !errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, fmt.Errorf("%s: reading the deployed revision: %w", prefix, d.client.Explain(err))
	}
	desc := d.opts.description
	if desc == "" {
		desc = "slipway: " + digest.String()
	}
	cfg.Capabilities = caps
	var rel *release.Release
	if last == nil {
		inst := action.NewInstall(cfg)
		inst.ReleaseName, inst.Namespace, inst.Timeout, inst.Description = relName, d.env.Namespace, d.opts.rolloutTimeout, desc
		inst.PostRenderer = postRenderer(d.env.NodeSelector)
		rel, err = inst.RunWithContext(ctx, ch, vals)
	} else {
		up := action.NewUpgrade(cfg)
		up.Namespace, up.Timeout, up.Description, up.MaxHistory = d.env.Namespace, d.opts.rolloutTimeout, desc, d.opts.maxHistory
		up.PostRenderer = postRenderer(d.env.NodeSelector)
		rel, err = up.RunWithContext(ctx, relName, ch, vals)
	}
	if err != nil {
		err = fmt.Errorf("applying the release: %w", d.client.Explain(err))
		if _, lerr := cfg.Releases.Last(relName); errors.Is(lerr, driver.ErrReleaseNotFound) {
			// Helm refused before recording anything (an object of
			// the chart exists and belongs to no release, say):
			// nothing was created, nothing is to undo.
			return nil, fmt.Errorf("%s: %w; nothing was installed", prefix, err)
		}
		return nil, fmt.Errorf("%s: %w", prefix, d.fail(ctx, cfg, relName, digest, target, err, prev, last != nil))
	}
	if err := d.wait(ctx, objs, d.opts.rolloutTimeout); err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, d.fail(ctx, cfg, relName, digest, target, err, prev, last != nil))
	}
	res := &deploy.Result{
		Environment: d.env.Name,
		Namespace:   d.env.Namespace,
		Deployment:  target,
		Image:       digest.String(),
		Revision:    strconv.Itoa(rel.Version),
		Duration:    d.now().Sub(start),
	}
	for _, o := range objs {
		res.Applied = append(res.Applied, o.GetKind()+"/"+o.GetName())
	}
	// The post-deploy checks of WithDeployOptions (deploy.WithVerifyPaths,
	// deploy.WithAlerts) run on the release's Deployment as they run after
	// an apply; a failed one rolls the release back like a failed rollout,
	// so no evidence is recorded for it.
	if d.client.Verifying() {
		if err := d.client.Verify(ctx, res, objs); err != nil {
			return nil, fmt.Errorf("%s: %w", prefix, d.fail(ctx, cfg, relName, digest, target, err, prev, last != nil))
		}
		res.Duration = d.now().Sub(start)
	}
	return res, nil
}

// pendingError explains a release stuck in pending-*: an interrupted or
// still running helm operation. Upgrading over it could race the other
// operation, so nothing is changed.
func pendingError(last *release.Release) error {
	fix := fmt.Sprintf("if no other deploy is running, roll it back (helm rollback %s %d -n %s) and deploy again", last.Name, last.Version-1, last.Namespace)
	if last.Version <= 1 {
		fix = fmt.Sprintf("if no other deploy is running, remove it (helm uninstall %s -n %s) and deploy again", last.Name, last.Namespace)
	}
	return fmt.Errorf("the release is stuck in %s (revision %d, since %s): an earlier helm operation was interrupted or is still running, so nothing was changed; %s",
		last.Info.Status, last.Version, last.Info.LastDeployed.UTC().Format("2006-01-02T15:04:05Z"), fix)
}

// actionConfig is a Helm action configuration on the environment's
// cluster and namespace, with releases stored as Secrets (Helm's default).
func (d *Deployer) actionConfig() (*action.Configuration, error) {
	cfg := &action.Configuration{}
	if err := cfg.Init(d.getter, d.env.Namespace, "secret", d.opts.log); err != nil {
		return nil, err
	}
	return cfg, nil
}

// capabilities asks the cluster once for its version and APIs: the render
// check and the install then see the same .Capabilities.
func (d *Deployer) capabilities() (*chartutil.Capabilities, error) {
	dc, err := d.getter.ToDiscoveryClient()
	if err != nil {
		return nil, err
	}
	dc.Invalidate()
	kv, err := dc.ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("reading the server version: %w", err)
	}
	vs, err := action.GetVersionSet(dc)
	if err != nil {
		return nil, err
	}
	return &chartutil.Capabilities{
		APIVersions: vs,
		KubeVersion: chartutil.KubeVersion{Version: kv.GitVersion, Major: kv.Major, Minor: kv.Minor},
		HelmVersion: chartutil.DefaultCapabilities.HelmVersion,
	}, nil
}

// render is `helm template` with the cluster's capabilities: the manifest
// the release would apply, hooks excluded, through post (nil: none).
func render(ch *chart.Chart, vals map[string]any, relName, namespace string, caps *chartutil.Capabilities, upgrade bool, post postrender.PostRenderer) (string, error) {
	cfg := &action.Configuration{Log: func(string, ...any) {}}
	inst := action.NewInstall(cfg)
	inst.DryRun, inst.ClientOnly, inst.Replace = true, true, true
	inst.ReleaseName, inst.Namespace, inst.IsUpgrade = relName, namespace, upgrade
	inst.KubeVersion, inst.APIVersions = &caps.KubeVersion, caps.APIVersions
	inst.PostRenderer = post
	rel, err := inst.Run(ch, vals)
	if err != nil {
		return "", err
	}
	return rel.Manifest, nil
}

// parseManifest splits a rendered manifest into objects, in Helm's
// install order.
func parseManifest(manifest string) ([]*unstructured.Unstructured, error) {
	_, sorted, err := releaseutil.SortManifests(releaseutil.SplitManifests(manifest), nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	for _, m := range sorted {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(m.Content), &obj); err != nil {
			return nil, fmt.Errorf("%s: %w", m.Name, err)
		}
		if len(obj) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: obj})
	}
	return out, nil
}

// checkImage finds the Deployment the image must reach (want, or the only
// one), checks that one of its containers runs exactly digest, and that
// every container image of every rendered pod template is pinned by
// digest, as a bundle deploy requires.
func checkImage(objs []*unstructured.Unstructured, want string, digest name.Digest, paths ImageValues) (string, error) {
	var deps []string
	var target *unstructured.Unstructured
	for _, o := range objs {
		if o.GetAPIVersion() == "apps/v1" && o.GetKind() == "Deployment" {
			deps = append(deps, o.GetName())
			if o.GetName() == want || (want == "" && target == nil) {
				target = o
			}
		}
	}
	switch {
	case len(deps) == 0:
		return "", errors.New("the rendered chart has no Deployment to roll out")
	case want == "" && len(deps) > 1:
		return "", fmt.Errorf("the rendered chart has %d Deployments %v: name the one that runs the image in Release.Deployment", len(deps), deps)
	case target == nil:
		return "", fmt.Errorf("the rendered chart has no Deployment %q (it has %v)", want, deps)
	}
	cts, _, _ := unstructured.NestedSlice(target.Object, "spec", "template", "spec", "containers")
	var seen []string
	found := false
	for _, c := range cts {
		m, _ := c.(map[string]any)
		img, _ := m["image"].(string)
		seen = append(seen, fmt.Sprintf("%v: %s", m["name"], img))
		if got, err := name.NewDigest(img); err == nil && got.DigestStr() == digest.DigestStr() && got.Context().Name() == digest.Context().Name() {
			found = true
		}
	}
	if !found {
		return "", fmt.Errorf("%s do not reach the rendered Deployment %s: its containers run [%s], none of them %s; name the values paths the chart's image template reads (helm.WithImageValues), or make the template read these",
			paths, target.GetName(), strings.Join(seen, ", "), digest)
	}
	for _, o := range objs {
		for _, field := range []string{"containers", "initContainers"} {
			cts, _, _ := unstructured.NestedSlice(o.Object, podSpecPath(o, field)...)
			for _, c := range cts {
				m, _ := c.(map[string]any)
				img, _ := m["image"].(string)
				if _, err := deploy.ParseDigest(img); err != nil {
					return "", fmt.Errorf("%s %s, container %v: %w", o.GetKind(), o.GetName(), m["name"], err)
				}
			}
		}
	}
	return target.GetName(), nil
}

func podSpecPath(o *unstructured.Unstructured, field string) []string {
	switch o.GetKind() {
	case "Pod":
		return []string{"spec", field}
	case "CronJob":
		return []string{"spec", "jobTemplate", "spec", "template", "spec", field}
	}
	return []string{"spec", "template", "spec", field}
}

// objectNames lists "Kind name" of a manifest's objects, sorted.
func objectNames(manifest string) []string {
	objs, err := parseManifest(manifest)
	if err != nil {
		return nil
	}
	var out []string
	for _, o := range objs {
		out = append(out, o.GetKind()+" "+o.GetName())
	}
	sort.Strings(out)
	return out
}
