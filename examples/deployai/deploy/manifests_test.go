package deploy

import (
	"bytes"
	"encoding/json"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/slipway-ci/slipway/deploy/manifest"
)

var update = flag.Bool("update", false, "rewrite k8s/base from the Go bundle")

// The kustomize layout in k8s/ is what a team's repository holds and what
// slipway's deploy stage takes: a base rendered from the Go bundle and one
// overlay per environment. The image is a placeholder, the name of the
// container: the deploy sets the digest it was given, and a GitOps overlay's
// `images:` entry matches the same name.
const manifestsDir = "k8s"

// Placeholder is the image of the base's container, replaced at deploy time.
const Placeholder = Name

// environments are the overlays and the namespaces they deploy into.
var environments = map[string]string{"staging": "mts-deploy-ai-staging", "production": "mts-deploy-ai"}

// localOptions are what the reference's environments change from the
// seed's bundle, in every layout (kustomize's k8s/local, the chart's
// values files, the GitOps overlays): both run on the local cluster's one
// real node (LocalCPURequest says why).
var localOptions = []Option{WithCPURequest(LocalCPURequest)}

// localDir is the kustomize overlay of the local cluster: the base with
// localOptions, in no namespace. The staging and production overlays build
// on it; a test that deploys into a namespace of its own deploys it.
const localDir = "local"

// baseYAML renders the bundle without a namespace and with the placeholder
// image.
func baseYAML(t *testing.T) []byte {
	t.Helper()
	var out bytes.Buffer
	for i, o := range toUnstructured(t, "base", Placeholder) {
		if i > 0 {
			out.WriteString("---\n")
		}
		doc, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(doc)
	}
	return out.Bytes()
}

// toUnstructured returns the bundle's objects for namespace ("base": none)
// with image in the service's container.
func toUnstructured(t *testing.T, namespace, image string, opts ...Option) []*unstructured.Unstructured {
	t.Helper()
	ns := namespace
	b, err := New(ns, digestRef, opts...)
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	for _, o := range b.Objects() {
		raw, err := encode(o)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{Object: m}
		if namespace == "base" {
			u.SetNamespace("")
		}
		if u.GetKind() == "Deployment" {
			cts, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
			cts[0].(map[string]any)["image"] = image
			if err := unstructured.SetNestedSlice(u.Object, cts, "spec", "template", "spec", "containers"); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, u)
	}
	return out
}

// TestManifests holds the kustomize layout equal to the Go bundle: each
// overlay, rendered by kustomize as the deploy stage renders it, gives the
// bundle's objects for its namespace.
func TestManifests(t *testing.T) {
	base := filepath.Join(manifestsDir, "base", "bundle.yaml")
	if *update {
		if err := os.WriteFile(base, baseYAML(t), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(baseYAML(t)), string(got)); diff != "" {
		t.Fatalf("%s differs from the Go bundle; run `go test ./examples/deployai/deploy -run TestManifests -update` (-want +got):\n%s", base, diff)
	}
	dirs := map[string]string{localDir: "base"}
	maps.Copy(dirs, environments)
	for env, ns := range dirs {
		t.Run(env, func(t *testing.T) {
			objs, err := manifest.Load(filepath.Join(manifestsDir, env))
			if err != nil {
				t.Fatal(err)
			}
			want := toUnstructured(t, ns, Placeholder, localOptions...)
			if len(objs) != len(want) {
				t.Fatalf("%d objects, want %d", len(objs), len(want))
			}
			index := map[string]*unstructured.Unstructured{}
			for _, o := range objs {
				index[o.GetKind()+"/"+o.GetName()] = o
			}
			for _, w := range want {
				g, ok := index[w.GetKind()+"/"+w.GetName()]
				if !ok {
					t.Errorf("%s %s is missing", w.GetKind(), w.GetName())
					continue
				}
				if diff := cmp.Diff(canonical(t, w), canonical(t, g)); diff != "" {
					t.Errorf("%s %s differs from the bundle (-want +got):\n%s", w.GetKind(), w.GetName(), diff)
				}
			}
		})
	}
}

// canonical round-trips an object through JSON so that numbers compare
// equal whatever decoder read them.
func canonical(t *testing.T, o runtime.Object) map[string]any {
	t.Helper()
	raw, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
