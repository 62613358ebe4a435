package deploy

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	slipdeploy "github.com/slipway-ci/slipway/deploy"
	"github.com/slipway-ci/slipway/deploy/helm"
	"github.com/slipway-ci/slipway/internal/clustertest"
	"github.com/slipway-ci/slipway/pipeline"
)

// The Helm chart in chart/ is the seed's 3.2: the same objects as the Go
// bundle, with the image by digest and the replica count and the CPU request as values. Its
// templates are rendered from the bundle; the prometheus-operator's
// PrometheusRule is only rendered where the cluster serves it, as charts
// do for optional CRDs.
const chartDir = "chart"

const (
	replicasMark = "__SLIPWAY_REPLICAS__"
	cpuMark      = "__SLIPWAY_CPU_REQUEST__"
	imageMark    = "__SLIPWAY_IMAGE__"
	ruleAPI      = "monitoring.coreos.com/v1/PrometheusRule"
)

// chartTemplates renders each bundle object as a template: Helm's own
// delimiters in the data (the alerts' {{ $labels.pod }}) are escaped, the
// replicas and the image read the values.
func chartTemplates(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, o := range toUnstructured(t, "base", imageMark) {
		if o.GetKind() == "Deployment" {
			if err := unstructured.SetNestedField(o.Object, replicasMark, "spec", "replicas"); err != nil {
				t.Fatal(err)
			}
			cts, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			if err := unstructured.SetNestedField(cts[0].(map[string]any), cpuMark, "resources", "requests", "cpu"); err != nil {
				t.Fatal(err)
			}
			if err := unstructured.SetNestedSlice(o.Object, cts, "spec", "template", "spec", "containers"); err != nil {
				t.Fatal(err)
			}
		}
		doc, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		s := strings.NewReplacer("{{", "\x00L", "}}", "\x00R").Replace(string(doc))
		s = strings.NewReplacer("\x00L", `{{ "{{" }}`, "\x00R", `{{ "}}" }}`).Replace(s)
		s = strings.ReplaceAll(s, "replicas: "+replicasMark, "replicas: {{ .Values.replicaCount }}")
		s = strings.ReplaceAll(s, "cpu: "+cpuMark, "cpu: {{ .Values.cpuRequest }}")
		s = strings.ReplaceAll(s, "image: "+imageMark, `image: "{{ .Values.image.repository }}@{{ required "image.digest: set the image by digest (sha256:...)" .Values.image.digest }}"`)
		head := "# Rendered from the Go bundle (examples/deployai/deploy/deploy.go) by TestChart -update.\n"
		if o.GetKind() == "PrometheusRule" {
			s = head + `{{- if .Capabilities.APIVersions.Has "` + ruleAPI + `" }}` + "\n" + s + "{{- end }}\n"
		} else {
			s = head + s
		}
		out[strings.ToLower(o.GetKind())+".yaml"] = s
	}
	return out
}

// TestChart holds chart/ equal to the Go bundle: its templates are what
// the bundle renders to, and the chart, rendered by Helm's engine with each
// environment's values and a digest, gives the bundle's objects for that
// environment's namespace.
func TestChart(t *testing.T) {
	want := chartTemplates(t)
	dir := filepath.Join(chartDir, "templates")
	if *update {
		os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, s := range want {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(want) {
		t.Errorf("%s holds %d files, the bundle renders %d", dir, len(entries), len(want))
	}
	for name, s := range want {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != s {
			t.Errorf("%s differs from the Go bundle; run `go test ./examples/deployai/deploy -run TestChart -update` (-want +got):\n%s", name, cmp.Diff(s, string(got)))
		}
	}
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	repo, digest, _ := strings.Cut(digestRef, "@")
	for env, ns := range environments {
		for _, withRules := range []bool{true, false} {
			vals, err := chartutil.ReadValuesFile(filepath.Join(chartDir, "values-"+env+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			vals["image"] = map[string]any{"repository": repo, "digest": digest}
			objs := renderChart(t, ch, vals, ns, withRules)
			wantObjs := toUnstructured(t, ns, digestRef, localOptions...)
			if !withRules {
				wantObjs = without(wantObjs, "PrometheusRule")
			}
			if diff := cmp.Diff(index(t, wantObjs), index(t, objs)); diff != "" {
				t.Errorf("%s (PrometheusRule served: %v): the rendered chart differs from the bundle (-want +got):\n%s", env, withRules, diff)
			}
		}
	}
	// Without a digest the chart refuses to render: never a tag.
	vals := map[string]any{"image": map[string]any{"repository": repo}}
	cfg := &action.Configuration{Log: func(string, ...any) {}}
	inst := action.NewInstall(cfg)
	inst.DryRun, inst.ClientOnly, inst.ReleaseName, inst.Namespace = true, true, Name, "ns"
	if _, err := inst.Run(ch, vals); err == nil || !strings.Contains(err.Error(), "image.digest: set the image by digest") {
		t.Errorf("rendering without a digest: %v", err)
	}
}

// renderChart is `helm template` with the namespace Helm's kube client
// gives namespaced objects at install.
func renderChart(t *testing.T, ch *chart.Chart, vals map[string]any, ns string, withRules bool) []*unstructured.Unstructured {
	t.Helper()
	cfg := &action.Configuration{Log: func(string, ...any) {}}
	inst := action.NewInstall(cfg)
	inst.DryRun, inst.ClientOnly, inst.ReleaseName, inst.Namespace = true, true, Name, ns
	if withRules {
		inst.APIVersions = chartutil.VersionSet{"monitoring.coreos.com/v1", ruleAPI}
	}
	rel, err := inst.Run(ch, vals)
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	for _, m := range releaseutil.SplitManifests(rel.Manifest) {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(m), &obj); err != nil {
			t.Fatal(err)
		}
		if len(obj) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: obj}
		u.SetNamespace(ns)
		out = append(out, u)
	}
	return out
}

func without(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() != kind {
			out = append(out, o)
		}
	}
	return out
}

// index keys objects by kind and name, canonicalised for comparison.
func index(t *testing.T, objs []*unstructured.Unstructured) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, o := range objs {
		out[o.GetKind()+"/"+o.GetName()] = canonical(t, o)
	}
	return out
}

// TestChartDeploysWithSlipway deploys chart/ with slipway's Helm deployer
// on the local control plane's real node, as the pipeline's Helm source
// does: the image values reach the Deployment, the release becomes ready.
// The image is slipway's test app, which answers the chart's /ready and
// /health probes on the http port as the service does (building the
// service's own image is the pipeline's job, tested in internal/stagese2e).
func TestChartDeploysWithSlipway(t *testing.T) {
	c := clustertest.RequireNode(t)
	ns := c.Namespace(t, "deployai-helm")
	image := clustertest.PushApp(t, clustertest.AppServe)
	env := slipdeploy.Environment{Name: "staging", Tier: pipeline.Staging, Namespace: ns, Kubeconfig: slipdeploy.KubeconfigBytes(c.Kubeconfig),
		NodeSelector: clustertest.NodeSelector()}
	d, err := helm.New(context.Background(), env, chartDir, helm.WithValuesFiles(filepath.Join(chartDir, "values-staging.yaml")), helm.WithRolloutTimeout(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.Deploy(context.Background(), slipdeploy.Release{Image: image})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(res.Applied)
	// The local control plane serves no PrometheusRule: the chart leaves
	// it out there.
	want := []string{"ConfigMap/mts-deploy-ai-dashboard", "Deployment/mts-deploy-ai", "HorizontalPodAutoscaler/mts-deploy-ai-hpa", "Service/mts-deploy-ai"}
	if res.Deployment != Name || res.Image != image || strings.Join(res.Applied, " ") != strings.Join(want, " ") {
		t.Fatalf("result %+v", res)
	}
}
