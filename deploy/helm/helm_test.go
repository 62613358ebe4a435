package helm

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/slipway-ci/slipway/deploy"
	"github.com/slipway-ci/slipway/pipeline"
)

const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: u
  user: {token: t}
contexts:
- name: c
  context: {cluster: c, user: u}
current-context: c
`

func testEnv() deploy.Environment {
	return deploy.Environment{Name: "staging", Tier: pipeline.Staging, Namespace: "web-staging", Kubeconfig: deploy.KubeconfigBytes(kubeconfig)}
}

// TestNewRefusesBadInput: every mistake New can see without a cluster,
// with the exact message a user reads.
func TestNewRefusesBadInput(t *testing.T) {
	const p = `helm: environment "staging": `
	for _, tc := range []struct {
		name  string
		chart string
		opts  []Option
		want  string
	}{
		{"no chart", "", nil, p + "no chart: name a chart directory, a packaged chart (.tgz) or oci://HOST/REPO/NAME:VERSION"},
		{"missing chart", "testdata/nope", nil, p + "chart testdata/nope does not exist: name a chart directory, a packaged chart (.tgz) or oci://HOST/REPO/NAME:VERSION"},
		{"oci without version", "oci://registry.local/charts/web", nil, p + "chart oci://registry.local/charts/web names no version: append :VERSION (the chart's version) or @sha256:<digest>, so that every deploy installs the same chart"},
		{"oci without repository", "oci://registry.local", nil, p + "chart oci://registry.local: want oci://HOST/REPO/NAME:VERSION"},
		{"missing values file", "testdata/web", []Option{WithValuesFiles("testdata/web/values-staging.yaml", "testdata/web/values-qa.yaml")},
			p + "values file testdata/web/values-qa.yaml does not exist (no such file or directory): fix the path, or drop it from the environment's values files"},
		{"image values: both", "testdata/web", []Option{WithImageValues(ImageValues{Reference: "image.ref", Digest: "image.digest"})},
			p + "image values: set Reference alone, or Repository and Digest, not both"},
		{"image values: half", "testdata/web", []Option{WithImageValues(ImageValues{Repository: "image.repository"})},
			p + `image values: Repository ("image.repository") and Digest ("") must both be set, or Reference alone`},
		{"image values: bad path", "testdata/web", []Option{WithImageValues(ImageValues{Reference: "image..ref"})},
			p + `image values: "image..ref" is not a values path (dot-separated keys, e.g. image.digest)`},
		{"release name", "testdata/web", []Option{WithRelease("Web_1")},
			p + `release name "Web_1": invalid release name, must match regex ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$ and the length must not be longer than 53`},
		{"value path", "testdata/web", []Option{WithValue("resources..cpu", "1")},
			p + `WithValue: "resources..cpu" is not a values path (dot-separated keys, e.g. resources.limits.cpu)`},
		{"history", "testdata/web", []Option{WithMaxHistory(-1)}, p + "max history -1: want 0 (keep all) or more"},
		{"two at once", "", []Option{WithMaxHistory(-1)}, p + "no chart: name a chart directory, a packaged chart (.tgz) or oci://HOST/REPO/NAME:VERSION\nmax history -1: want 0 (keep all) or more"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(context.Background(), testEnv(), tc.chart, tc.opts...)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error\n got: %v\nwant: %s", err, tc.want)
			}
		})
	}
	if _, err := New(context.Background(), testEnv(), "testdata/web", WithValuesFiles("testdata/web/values-staging.yaml")); err != nil {
		t.Fatalf("valid input refused: %v", err)
	}
}

func digestRef(t *testing.T, ref string) name.Digest {
	t.Helper()
	d, err := name.NewDigest(ref)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

const goodRef = "registry.local/web@sha256:1111111111111111111111111111111111111111111111111111111111111111"

// TestValuesOrder: values files in order, then typed overrides, then the
// image, which nothing overrides.
func TestValuesOrder(t *testing.T) {
	d := &Deployer{opts: options{
		image:       DefaultImageValues,
		valuesFiles: []string{"testdata/web/values.yaml", "testdata/web/values-staging.yaml"},
		values: []override{
			{value: map[string]any{"logLevel": "WARN", "image": map[string]any{"digest": "sha256:overridden"}}},
			{path: "resources.limits.cpu", value: "2"},
		},
	}}
	v, err := d.values(digestRef(t, goodRef))
	if err != nil {
		t.Fatal(err)
	}
	img := v["image"].(map[string]any)
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"replicaCount (values-staging over values)", v["replicaCount"], float64(2)},
		{"logLevel (WithValues over the files)", v["logLevel"], "WARN"},
		{"resources.limits.cpu (WithValue)", v["resources"].(map[string]any)["limits"].(map[string]any)["cpu"], "2"},
		{"image.repository", img["repository"], "registry.local/web"},
		{"image.digest (the image over WithValues)", img["digest"], "sha256:1111111111111111111111111111111111111111111111111111111111111111"},
		{"progressDeadlineSeconds (values.yaml kept)", v["progressDeadlineSeconds"], float64(600)},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v (%T), want %v", c.what, c.got, c.got, c.want)
		}
	}
	if err := setPath(map[string]any{"image": "flat"}, "image.digest", "x"); err == nil || err.Error() != "values path image.digest: image is a string in the values, not a map" {
		t.Errorf("setPath through a string: %v", err)
	}
}

// TestRenderAndCheckImage renders the test chart as `helm template` does
// and checks where the image lands; no cluster needed.
func TestRenderAndCheckImage(t *testing.T) {
	ch, err := loader.Load("testdata/web")
	if err != nil {
		t.Fatal(err)
	}
	caps := chartutil.DefaultCapabilities
	digest := digestRef(t, goodRef)
	renderWith := func(paths ImageValues) []*unstructured.Unstructured {
		t.Helper()
		vals, err := (&Deployer{opts: options{image: paths}}).values(digest)
		if err != nil {
			t.Fatal(err)
		}
		m, err := render(ch, vals, "web", "ns", caps, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := parseManifest(m)
		if err != nil {
			t.Fatal(err)
		}
		return objs
	}
	objs := renderWith(DefaultImageValues)
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind()+"/"+o.GetName())
	}
	if got := strings.Join(kinds, " "); got != "ConfigMap/web-config Service/web Deployment/web" {
		t.Errorf("install order %s", got)
	}
	if target, err := checkImage(objs, "", digest, DefaultImageValues); err != nil || target != "web" {
		t.Fatalf("checkImage: %q, %v", target, err)
	}
	// An environment's node selector reaches the rendered Deployment
	// through the post-renderer, beside what the chart sets.
	vals, err := (&Deployer{opts: options{image: DefaultImageValues}}).values(digest)
	if err != nil {
		t.Fatal(err)
	}
	m, err := render(ch, vals, "web", "ns", caps, false, postRenderer(map[string]string{"slipway.dev/node": "real"}))
	if err != nil {
		t.Fatal(err)
	}
	placed, err := parseManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range placed {
		sel, _, _ := unstructured.NestedStringMap(o.Object, "spec", "template", "spec", "nodeSelector")
		if o.GetKind() == "Deployment" && sel["slipway.dev/node"] != "real" {
			t.Errorf("Deployment %s nodeSelector %v, want slipway.dev/node=real", o.GetName(), sel)
		}
	}
	if len(placed) != len(objs) {
		t.Errorf("post-rendered %d objects, want %d", len(placed), len(objs))
	}
	for _, tc := range []struct {
		name       string
		paths      ImageValues
		deployment string
		want       string
	}{
		{"a path the chart does not read", ImageValues{Repository: "image.repo", Digest: "image.sha"}, "",
			"the values image.repo and image.sha do not reach the rendered Deployment web: its containers run [app: registry.local/web@], none of them " + goodRef +
				"; name the values paths the chart's image template reads (helm.WithImageValues), or make the template read these"},
		{"a Deployment the chart does not have", DefaultImageValues, "api", `the rendered chart has no Deployment "api" (it has [web])`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := checkImage(renderWith(tc.paths), tc.deployment, digest, tc.paths)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error\n got: %v\nwant: %s", err, tc.want)
			}
		})
	}
	broken, err := loader.Load("testdata/broken")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := render(broken, map[string]any{}, "web", "ns", caps, false, nil); err == nil || !strings.Contains(err.Error(), `no template "no-such-template"`) {
		t.Fatalf("broken chart rendered: %v", err)
	}
}
