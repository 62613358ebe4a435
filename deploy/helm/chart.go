package helm

import (
	"bytes"
	"fmt"
	"maps"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/registry"
)

// checkOCIRef refuses an oci:// chart reference without a version: Helm
// would pick the newest tag, so the same pipeline could deploy another
// chart tomorrow.
func checkOCIRef(ref string) error {
	rest := strings.TrimPrefix(ref, "oci://")
	last := rest[strings.LastIndex(rest, "/")+1:]
	if !strings.Contains(rest, "/") || last == "" {
		return fmt.Errorf("chart %s: want oci://HOST/REPO/NAME:VERSION", ref)
	}
	if !strings.Contains(last, ":") && !strings.Contains(last, "@") {
		return fmt.Errorf("chart %s names no version: append :VERSION (the chart's version) or @sha256:<digest>, so that every deploy installs the same chart", ref)
	}
	return nil
}

// loadChart reads the chart: a directory or .tgz from disk, or a chart
// pulled from an OCI registry with Helm's registry client.
func (d *Deployer) loadChart() (*chart.Chart, error) {
	var ch *chart.Chart
	if isOCI(d.chart) {
		client, err := registry.NewClient(append([]registry.ClientOption{registry.ClientOptWriter(logWriter{d.opts.log})}, d.opts.registryOpts...)...)
		if err != nil {
			return nil, fmt.Errorf("chart %s: registry client: %w", d.chart, err)
		}
		res, err := client.Pull(strings.TrimPrefix(d.chart, "oci://"), registry.PullOptWithChart(true))
		if err != nil {
			return nil, fmt.Errorf("chart %s: pulling it: %w", d.chart, err)
		}
		if ch, err = loader.LoadArchive(bytes.NewReader(res.Chart.Data)); err != nil {
			return nil, fmt.Errorf("chart %s: %w", d.chart, err)
		}
	} else {
		var err error
		if ch, err = loader.Load(d.chart); err != nil {
			return nil, fmt.Errorf("chart %s is not a chart Helm can load: %w", d.chart, err)
		}
	}
	if req := ch.Metadata.Dependencies; len(req) > 0 {
		if err := action.CheckDependencies(ch, req); err != nil {
			return nil, fmt.Errorf("chart %s: %w (run `helm dependency build` and commit charts/)", d.chart, err)
		}
	}
	return ch, nil
}

type logWriter struct{ log func(string, ...any) }

func (w logWriter) Write(p []byte) (int, error) {
	w.log("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// values merges, in order: the values files (as -f), the typed overrides,
// then the image values, which nothing overrides.
func (d *Deployer) values(digest name.Digest) (map[string]any, error) {
	out := map[string]any{}
	for _, f := range d.opts.valuesFiles {
		v, err := chartutil.ReadValuesFile(f)
		if err != nil {
			return nil, fmt.Errorf("values file %s: %w", f, err)
		}
		out = mergeMaps(out, v)
	}
	for _, o := range d.opts.values {
		if o.path == "" {
			out = mergeMaps(out, o.value.(map[string]any))
			continue
		}
		if err := setPath(out, o.path, o.value); err != nil {
			return nil, err
		}
	}
	img := d.opts.image
	if img.Reference != "" {
		if err := setPath(out, img.Reference, digest.String()); err != nil {
			return nil, err
		}
		return out, nil
	}
	if err := setPath(out, img.Repository, digest.Context().Name()); err != nil {
		return nil, err
	}
	if err := setPath(out, img.Digest, digest.DigestStr()); err != nil {
		return nil, err
	}
	return out, nil
}

// mergeMaps is Helm's -f merge: b over a, maps merged key by key.
func mergeMaps(a, b map[string]any) map[string]any {
	out := maps.Clone(a)
	for k, v := range b {
		if vm, ok := v.(map[string]any); ok {
			if am, ok := out[k].(map[string]any); ok {
				out[k] = mergeMaps(am, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// setPath sets v at a dot-separated path, creating maps on the way; a
// value on the way that is not a map is an error, not overwritten.
func setPath(m map[string]any, path string, v any) error {
	keys := strings.Split(path, ".")
	cur := m
	for i, k := range keys[:len(keys)-1] {
		next, ok := cur[k]
		if !ok || next == nil {
			nm := map[string]any{}
			cur[k] = nm
			cur = nm
			continue
		}
		nm, ok := next.(map[string]any)
		if !ok {
			return fmt.Errorf("values path %s: %s is a %T in the values, not a map", path, strings.Join(keys[:i+1], "."), next)
		}
		// Copy on write: the maps may come from the caller's options.
		nm = maps.Clone(nm)
		cur[k] = nm
		cur = nm
	}
	cur[keys[len(keys)-1]] = v
	return nil
}
