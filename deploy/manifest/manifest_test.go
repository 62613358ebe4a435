package manifest_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/deploy/manifest"
)

// write creates files (path -> content) under a new directory.
func write(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: web
`

const service = `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports: [{port: 80}]
`

func kinds(t *testing.T, dir string) string {
	t.Helper()
	objs, err := manifest.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range objs {
		out = append(out, o.GetKind()+"/"+o.GetName()+"@"+o.GetNamespace())
	}
	return strings.Join(out, " ")
}

func TestPlain(t *testing.T) {
	dir := write(t, map[string]string{
		"b-service.yaml":    service,
		"a-deployment.yml":  deployment,
		"nested/cm.json":    `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"}}`,
		"multi.yaml":        "---\n" + strings.Replace(service, "name: web", "name: a", 1) + "---\n\n---\n" + strings.Replace(service, "name: web", "name: b", 1),
		"list.yaml":         "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: l1}\n",
		"README.md":         "not read",
		".hidden/skip.yaml": "not: read",
	})
	if got, want := kinds(t, dir), "Deployment/web@ Service/web@ ConfigMap/l1@ Service/a@ Service/b@ ConfigMap/cfg@"; got != want {
		t.Errorf("objects = %s, want %s", got, want)
	}
}

func TestKustomize(t *testing.T) {
	dir := write(t, map[string]string{
		"base/kustomization.yaml":    "resources: [deployment.yaml, service.yaml]\n",
		"base/deployment.yaml":       deployment,
		"base/service.yaml":          service,
		"staging/kustomization.yaml": "namespace: web-staging\nresources: [../base]\nnamePrefix: s-\n",
	})
	if got, want := kinds(t, filepath.Join(dir, "staging")), "Deployment/s-web@web-staging Service/s-web@web-staging"; got != want {
		t.Errorf("objects = %s, want %s", got, want)
	}
	if !manifest.IsKustomization(filepath.Join(dir, "staging")) || manifest.IsKustomization(dir) {
		t.Error("IsKustomization is wrong")
	}
}

func TestErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	for _, tc := range []struct {
		name  string
		files map[string]string
		dir   string // when set, used instead of the written directory
		want  string
		is    error
	}{
		{name: "missing directory", dir: missing, want: "manifests " + missing + ": stat " + missing + ": no such file or directory"},
		{name: "empty", files: map[string]string{"README.md": "x"}, want: ": no Kubernetes objects in its .yaml, .yml or .json files", is: manifest.ErrNoObjects},
		{name: "not an object", files: map[string]string{"values.yaml": "replicas: 3\n"}, want: "values.yaml: document 1 is not a Kubernetes object: it has no apiVersion or kind"},
		{name: "broken YAML", files: map[string]string{"a.yaml": deployment + "---\nkind: [\n"}, want: "a.yaml: document 2: "},
		{name: "no name", files: map[string]string{"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n"}, want: "a.yaml: a ConfigMap has no metadata.name"},
		{name: "twice", files: map[string]string{"a.yaml": service, "b.yaml": service}, want: `manifests: Service "web" is defined twice (`},
		{name: "kustomize error", files: map[string]string{"kustomization.yaml": "resources: [missing.yaml]\n"}, want: ": kustomize could not render kustomization.yaml: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir
			if dir == "" {
				dir = write(t, tc.files)
			}
			_, err := manifest.Load(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want errors.Is %v", err, tc.is)
			}
		})
	}
}
