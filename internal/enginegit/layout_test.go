package enginegit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

const seedURL = "https://gitlab.mts.ru/telecom/mts-deploy-ai-gitops.git"

// TestLocalLayout: the example's layout, made local, names the local
// repository everywhere the seed's was named, and each overlay still
// builds with kustomize, with the Deployment and without the unserved
// PrometheusRule; without unserved kinds the overlays are unchanged.
func TestLocalLayout(t *testing.T) {
	const layout = "../../examples/deployai/deploy/gitops"
	const local = "http://10.87.0.1:18090/mts-deploy-ai-gitops.git"
	files, err := LocalLayout(layout, seedURL, local, "monitoring.coreos.com/v1/PrometheusRule")
	if err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"argocd/staging.yaml", "argocd/production.yaml", "argocd/project.yaml"} {
		if !strings.Contains(files[app], local) || strings.Contains(files[app], seedURL) {
			t.Errorf("%s does not name the local repository:\n%s", app, files[app])
		}
	}
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, env := range []string{"staging", "production"} {
		res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(dir, "overlays", env))
		if err != nil {
			t.Fatalf("kustomize build overlays/%s: %v", env, err)
		}
		kinds := map[string]int{}
		for _, r := range res.Resources() {
			kinds[r.GetKind()]++
		}
		if kinds["PrometheusRule"] != 0 || kinds["Deployment"] != 1 || kinds["Service"] == 0 {
			t.Errorf("overlays/%s builds %v: want the Deployment and Service, no PrometheusRule", env, kinds)
		}
		// The overlay's own patches (the local CPU request) still apply
		// beside the deletions LocalLayout adds to the same list.
		for _, r := range res.Resources() {
			if r.GetKind() != "Deployment" {
				continue
			}
			y, err := r.AsYAML()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(y), "cpu: 100m") {
				t.Errorf("overlays/%s: the overlay's own CPU patch is lost:\n%s", env, y)
			}
		}
	}
	plain, err := LocalLayout(layout, seedURL, local)
	if err != nil {
		t.Fatal(err)
	}
	orig, _ := os.ReadFile(filepath.Join(layout, "overlays/staging/kustomization.yaml"))
	if plain["overlays/staging/kustomization.yaml"] != string(orig) {
		t.Error("without unserved kinds the overlay changed")
	}
	if _, err := LocalLayout(t.TempDir(), seedURL, local); err == nil || !strings.Contains(err.Error(), "not a GitOps layout") {
		t.Errorf("an empty directory: %v, want a refusal", err)
	}
}

// TestKeepImages: a newer layout replaces what the repository holds except
// each overlay's images: block, where the promoted digest is.
func TestKeepImages(t *testing.T) {
	const overlay = "overlays/staging/kustomization.yaml"
	layout := map[string]string{
		overlay:                         "resources:\n- ../../base\npatches:\n- path: cpu.yaml\nimages:\n- name: app\n  digest: sha256:0000\n",
		"overlays/x/k.yaml":             "images:\n- name: app\n",
		"base/bundle.yaml":              "kind: Deployment\n",
		"overlays/p/kustomization.yaml": "images:\n- name: app\n  digest: sha256:0000\nnamespace: p\n",
	}
	current := map[string]string{
		overlay:                         "resources:\n- ../../base\nimages:\n- name: app\n  newName: r/app\n  digest: sha256:beef\n",
		"base/bundle.yaml":              "kind: Old\n",
		"overlays/p/kustomization.yaml": "namespace: old\nimages:\n- name: app\n  digest: sha256:cafe\n",
	}
	got := KeepImages(layout, current)
	for name, want := range map[string]string{
		overlay:                         "resources:\n- ../../base\npatches:\n- path: cpu.yaml\nimages:\n- name: app\n  newName: r/app\n  digest: sha256:beef\n",
		"base/bundle.yaml":              "kind: Deployment\n",
		"overlays/x/k.yaml":             "images:\n- name: app\n",
		"overlays/p/kustomization.yaml": "images:\n- name: app\n  digest: sha256:cafe\nnamespace: p\n",
	} {
		if got[name] != want {
			t.Errorf("%s:\n%s\nwant\n%s", name, got[name], want)
		}
	}
}
