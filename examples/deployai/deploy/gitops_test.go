package deploy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	slipdeploy "github.com/slipway-ci/slipway/deploy"
	"github.com/slipway-ci/slipway/deploy/gitops"
	"github.com/slipway-ci/slipway/internal/e2e"
	"github.com/slipway-ci/slipway/internal/githost"
	"github.com/slipway-ci/slipway/pipeline"
)

// The GitOps layout in gitops/ is the seed's 3.3, the content of the
// team's GitOps repository: a kustomize base rendered from the Go bundle,
// one overlay per environment whose images: entry slipway's promote step
// sets to the tested digest, and the Argo CD AppProject and Applications
// (automated sync, prune, selfHeal) that deploy the overlays.
const gitopsDir = "gitops"

// GitOpsRepoURL is where the layout lives: its own repository, so that a
// promotion commit never triggers the service's own pipeline.
const GitOpsRepoURL = "https://gitlab.mts.ru/telecom/mts-deploy-ai-gitops.git"

// gitopsFiles renders the layout's files from the bundle.
func gitopsFiles(t *testing.T) map[string]string {
	t.Helper()
	repo, digest, _ := strings.Cut(digestRef, "@")
	files := map[string]string{
		"base/bundle.yaml": string(baseYAML(t)),
		"base/kustomization.yaml": `# The example service's objects, rendered from the Go bundle (deploy.go) by
# ` + "`go test ./examples/deployai/deploy -run TestGitOps -update`" + `. The image is the
# placeholder every overlay's images: entry replaces.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- bundle.yaml
`,
	}
	var namespaces []string
	for _, env := range []string{"staging", "production"} {
		ns := environments[env]
		namespaces = append(namespaces, ns)
		files["overlays/"+env+"/kustomization.yaml"] = `# ` + env + `: slipway's promote step writes the tested digest into the
# images entry (gitops.Kustomize{Dir: "overlays/` + env + `", Image: "` + Placeholder + `"}),
# commits and pushes; Argo CD (argocd/` + env + `.yaml) syncs it.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: ` + ns + `
resources:
- ../../base
# slipway's local cluster runs both environments on one real node with 2
# CPUs: the seed's 500m CPU request would not fit (deploy.LocalCPURequest).
patches:
- target:
    kind: Deployment
    name: ` + Name + `
  patch: |-
    - op: replace
      path: /spec/template/spec/containers/0/resources/requests/cpu
      value: ` + LocalCPURequest + `
images:
- name: ` + Placeholder + `
  newName: ` + repo + `
  digest: ` + digest + `
`
		app := gitops.ApplicationSpec{Name: Name + "-" + env, Project: "telecom", RepoURL: GitOpsRepoURL, Path: "overlays/" + env, DestinationNamespace: ns}.Object()
		files["argocd/"+env+".yaml"] = marshal(t, app.Object)
	}
	files["argocd/project.yaml"] = marshal(t, gitops.ProjectSpec{Name: "telecom", RepoURLs: []string{GitOpsRepoURL}, Namespaces: namespaces}.Object().Object)
	return files
}

func marshal(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return "# Rendered by TestGitOps -update (deploy/gitops.ApplicationSpec, ProjectSpec).\n" + string(b)
}

// TestGitOps holds gitops/ equal to the Go bundle: the files are what the
// bundle renders to, and each overlay, built with kustomize's API as Argo
// CD's repo-server builds it, gives the bundle's objects for its
// namespace with the overlay's digest.
func TestGitOps(t *testing.T) {
	want := gitopsFiles(t)
	if *update {
		for p, s := range want {
			full := filepath.Join(gitopsDir, p)
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	var have []string
	filepath.WalkDir(gitopsDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(p) == ".yaml" {
			rel, _ := filepath.Rel(gitopsDir, p)
			have = append(have, filepath.ToSlash(rel))
		}
		return nil
	})
	if len(have) != len(want) {
		t.Errorf("%s holds %v, the bundle renders %d files", gitopsDir, have, len(want))
	}
	for p, s := range want {
		got, err := os.ReadFile(filepath.Join(gitopsDir, p))
		if err != nil || string(got) != s {
			t.Errorf("%s differs; run `go test ./examples/deployai/deploy -run TestGitOps -update` (-want +got):\n%s", p, cmp.Diff(s, string(got)))
		}
	}
	for env, ns := range environments {
		t.Run(env, func(t *testing.T) {
			res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(gitopsDir, "overlays", env))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]map[string]any{}
			for _, r := range res.Resources() {
				m, err := r.Map()
				if err != nil {
					t.Fatal(err)
				}
				got[r.GetKind()+"/"+r.GetName()] = roundTrip(t, m)
			}
			if diff := cmp.Diff(index(t, toUnstructured(t, ns, digestRef, localOptions...)), got); diff != "" {
				t.Errorf("kustomize build overlays/%s differs from the bundle (-want +got):\n%s", env, diff)
			}
		})
	}
}

// roundTrip canonicalises kustomize's output as canonical does the
// bundle's objects, so that numbers compare equal.
func roundTrip(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	return canonical(t, &unstructured.Unstructured{Object: m})
}

// TestGitOpsPromotion pushes the layout to a real git server and promotes
// a new digest into the staging overlay with slipway's GitOps deployer,
// as the pipeline's promote step does: the overlay then builds with it,
// production's overlay is untouched.
func TestGitOpsPromotion(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		e2e.Unavailable(t, err)
	}
	h, err := githost.Start(t.TempDir(), "ci", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	files := map[string]string{}
	for p, s := range gitopsFiles(t) {
		files[p] = s
	}
	if _, err := h.Create("mts-deploy-ai-gitops", "main", files); err != nil {
		t.Fatal(err)
	}
	env := slipdeploy.Environment{Name: "staging", Tier: pipeline.Staging, Namespace: environments["staging"]}
	p, err := gitops.New(context.Background(), env,
		gitops.Repository{URL: h.HTTPURL("mts-deploy-ai-gitops"), Auth: gitops.BasicAuth("ci", "s3cret")},
		gitops.Kustomize{Dir: "overlays/staging", Image: Placeholder}, gitops.Application{}, gitops.WithoutWait())
	if err != nil {
		t.Fatal(err)
	}
	next := "registry.mts.ru/telecom/mts-deploy-ai@sha256:" + strings.Repeat("fedcba9876543210", 4)
	if _, err := p.Deploy(context.Background(), slipdeploy.Release{Image: next}); err != nil {
		t.Fatal(err)
	}
	staging, _ := h.Git("mts-deploy-ai-gitops", "show", "main:overlays/staging/kustomization.yaml")
	production, _ := h.Git("mts-deploy-ai-gitops", "show", "main:overlays/production/kustomization.yaml")
	if !strings.Contains(staging, "digest: sha256:"+strings.Repeat("fedcba9876543210", 4)) || !strings.HasPrefix(staging, "# staging: slipway's promote step") {
		t.Errorf("staging overlay after the promotion:\n%s", staging)
	}
	if production != files["overlays/production/kustomization.yaml"] {
		t.Errorf("the production overlay changed:\n%s", production)
	}
}
