package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-ci/slipway/internal/clustertest"
)

// chart is deploy/helm's test chart: a Deployment whose container "app"
// reads image.repository and image.digest, on kwok's nodes.
const chart = "../../deploy/helm/testdata/web"

// TestSourceUsage: the source flags are checked before anything is read:
// the exact message, and exit status 2.
func TestSourceUsage(t *testing.T) {
	image := "registry.example/svc@sha256:" + strings.Repeat("0", 64)
	kc := kubeconfig(t)
	common := []string{"staging", "--image=" + image, "--namespace=web", "--kubeconfig=" + kc}
	with := func(extra ...string) []string { return append(append([]string{}, common...), extra...) }
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown source", with("--source=kubectl"), `deploy-staging: --source="kubectl": want apply, helm or gitops: usage`},
		{"apply without manifests", with(), "deploy-staging: no --manifests: pass the directory of YAML or the kustomize overlay: usage"},
		{"helm without chart", with("--source=helm"), "deploy-staging: --source=helm needs --chart: the chart directory, packaged chart (.tgz) or oci://HOST/REPO/NAME:VERSION: usage"},
		{"chart for apply", with("--manifests=.", "--chart=c", "--values=v.yaml"), "deploy-staging: --chart (helm), --values (helm) not used by --source=apply: drop them, or pick the source they belong to: usage"},
		{"manifests for helm", with("--source=helm", "--chart=c", "--manifests=m"), "deploy-staging: --manifests (apply) not used by --source=helm: drop them, or pick the source they belong to: usage"},
		{"repo for helm", with("--source=helm", "--chart=c", "--repo=https://git.example/d.git"), "deploy-staging: --repo (gitops) not used by --source=helm: drop them, or pick the source they belong to: usage"},
		{"gitops without repo", with("--source=gitops", "--app=a", "--overlay=o", "--image-name=i"), "deploy-staging: --source=gitops needs --repo: the GitOps repository's URL: usage"},
		{"gitops without app", with("--source=gitops", "--repo=https://git.example/d.git", "--overlay=o", "--image-name=i"), "deploy-staging: --source=gitops needs --app: the Argo CD Application that deploys the repository: usage"},
		{"gitops without target", with("--source=gitops", "--repo=https://git.example/d.git", "--app=a"), "deploy-staging: --source=gitops needs --overlay (a kustomize overlay's images: entry) or --values-file (a Helm values file): usage"},
		{"gitops with both targets", with("--source=gitops", "--repo=https://git.example/d.git", "--app=a", "--overlay=o", "--values-file=v.yaml"), "deploy-staging: --overlay and --values-file both given: the digest goes into one of them: usage"},
		{"overlay without image name", with("--source=gitops", "--repo=https://git.example/d.git", "--app=a", "--overlay=o"), "deploy-staging: --overlay needs --image-name: the image name the base's containers use, which the images: entry replaces: usage"},
		{"overlay with values paths", with("--source=gitops", "--repo=https://git.example/d.git", "--app=a", "--overlay=o", "--image-name=i", "--image-value=image.ref"), "deploy-staging: --image-value, --image-repository-value and --image-digest-value name paths in a values file, not in --overlay: usage"},
		{"ssh without key", with("--source=gitops", "--repo=ssh://git@git.example/d.git", "--app=a", "--overlay=o", "--image-name=i"), "deploy-staging: the repository ssh://git@git.example/d.git is reached over SSH, but no --ssh-key-file was given: pass the deploy key (in slipway's module: --git-ssh-key), or use the https:// URL with GIT_PASSWORD: usage"},
		{"ssh without host key", with("--source=gitops", "--repo=git@git.example:d.git", "--app=a", "--overlay=o", "--image-name=i", "--ssh-key-file=k"), "deploy-staging: the repository git@git.example:d.git is reached over SSH, but no --ssh-host-key was given: pass the server's public host key (a known_hosts line without the host name, e.g. ssh-ed25519 AAAA...): usage"},
		{"key for https", with("--source=gitops", "--repo=https://git.example/d.git", "--app=a", "--overlay=o", "--image-name=i", "--ssh-key-file=k"), "deploy-staging: an SSH key or host key was given, but the repository https://git.example/d.git is not an ssh:// URL: use its ssh:// URL, or drop the key and pass the password or token (GIT_PASSWORD): usage"},
		{"user without password", with("--source=gitops", "--repo=https://git.example/d.git", "--app=a", "--overlay=o", "--image-name=i", "--git-user=ci"), `deploy-staging: --git-user "ci" was given without a password: set GIT_PASSWORD to the password or token (in slipway's module: --git-password): usage`},
		{"bad --set", with("--source=helm", "--chart="+chart, "--set=replicaCount"), "deploy-staging: --set replicaCount: key \"replicaCount\" has no value (want PATH=VALUE, as helm --set): usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(context.Background(), tt.args, noEnv)
			if err == nil {
				t.Fatalf("run(%q) = %q, want an error", tt.args, out)
			}
			if !errors.Is(err, errUsage) {
				t.Errorf("not a usage error (exit status 2): %v", err)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

// TestSourceRefusesBadInput: what the Helm and GitOps libraries refuse
// before any change, through the tool: the kubeconfig names a server
// nothing listens on, so a refusal that reached the cluster would say so.
func TestSourceRefusesBadInput(t *testing.T) {
	image := pushRandom(t)
	kc := kubeconfig(t)
	keys := signingKeys(t)
	helmArgs := func(extra ...string) []string {
		return append([]string{"staging", "--source=helm", "--image=" + image, "--namespace=web", "--kubeconfig=" + kc}, extra...)
	}
	gitopsArgs := func(tier string, extra ...string) []string {
		return append([]string{tier, "--source=gitops", "--image=" + image, "--namespace=web", "--kubeconfig=" + kc,
			"--app=web-staging", "--overlay=overlays/staging", "--image-name=web"}, extra...)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"missing chart", helmArgs("--chart=" + filepath.Join(t.TempDir(), "none")), nil, []string{"deploy-staging: helm: environment \"staging\"", "does not exist"}},
		{"missing values file", helmArgs("--chart="+chart, "--values="+filepath.Join(t.TempDir(), "values-staging.yaml")), nil, []string{"values file", "values-staging.yaml does not exist"}},
		{"bad image values", helmArgs("--chart="+chart, "--image-repository-value=image..repository"), nil, []string{`"image..repository" is not a values path`}},
		{"tag, not digest", []string{"staging", "--source=helm", "--image=registry.example/svc:v1", "--namespace=web", "--kubeconfig=" + kc, "--chart=" + chart}, nil, []string{"deploy-staging", "is a tag, not a digest"}},
		{"password in the URL", gitopsArgs("staging", "--repo=https://ci:hunter2@git.example/d.git"), nil, []string{"holds a password", "Repository.Auth"}},
		{"unsupported scheme", gitopsArgs("staging", "--repo=file:///srv/d.git"), nil, []string{`scheme "file" is not supported`}},
		{"helm production without trusted keys", []string{"production", "--source=helm", "--image=" + image, "--namespace=web", "--kubeconfig=" + kc, "--chart=" + chart}, nil,
			[]string{"deploy-production", "no key is trusted", "SIGNING_KEY", "SLIPWAY_TRUSTED_KEYS", "trustedKeys"}},
		{"gitops production without trusted keys", gitopsArgs("production", "--repo=https://git.example/d.git"), map[string]string{"GIT_PASSWORD": "token"},
			[]string{"deploy-production", "no key is trusted", "SIGNING_KEY", "SLIPWAY_TRUSTED_KEYS", "trustedKeys"}},
		{"helm production without evidence", []string{"production", "--source=helm", "--image=" + image, "--namespace=web", "--kubeconfig=" + kc, "--chart=" + chart, "--source-repository=" + testRepository}, keys,
			[]string{"deploy-production", "not signed by a trusted key", "not deployed and verified in staging", "not scanned clean", "no provenance", "not approved", "--approve"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(context.Background(), tt.args, func(k string) string { return tt.env[k] })
			if err == nil {
				t.Fatalf("run(%q) = %q, want an error", tt.args, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
			if strings.Contains(err.Error(), "127.0.0.1:1") || strings.Contains(err.Error(), "connection refused") {
				t.Errorf("the refusal came from the cluster, not before it: %v", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows a password: %v", err)
			}
		})
	}
}

// TestHelmSourcePromotion runs the tool's Helm source against the local
// control plane, with the evidence in an in-process registry: staging
// installs the release and records its evidence, production is refused
// until the scan is recorded and a person approved, then upgrades its own
// release. Nothing of production exists before the gate opens.
//
// The image is a random one in the in-process registry, which the real
// node cannot reach: this test is about the gate and the evidence, so its
// pods go to kwok's status-only nodes, placed by the tool's
// --node-selector (and a toleration of their taint in the values).
func TestHelmSourcePromotion(t *testing.T) {
	c := clustertest.Require(t)
	image := pushRandom(t)
	staging, production := c.Namespace(t, "helm-staging"), c.Namespace(t, "helm-production")
	env := signingEnv(t)
	attestBuild(t, image, env)
	// kwok's pods serve nothing: no smoke test (TestHelmSourceVerifies
	// runs one on the real node).
	onKwok := []string{"--node-selector=type=kwok", "--no-verify",
		"--set=tolerations[0].key=kwok.x-k8s.io/node", "--set=tolerations[0].operator=Exists", "--set=tolerations[0].effect=NoSchedule"}
	deployTo := func(tier, ns string, extra ...string) (string, error) {
		args := append([]string{tier, "--source=helm", "--image=" + image, "--namespace=" + ns, "--kubeconfig=" + c.KubeconfigPath,
			"--chart=" + chart, "--values=" + filepath.Join(chart, "values-"+tier+".yaml"), "--release=web", "--timeout=2m"}, append(onKwok, extra...)...)
		if tier == "production" {
			args = append(args, "--source-repository="+testRepository)
		}
		return run(context.Background(), args, env)
	}
	out, err := deployTo("staging", staging)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"staging: namespace " + staging, image, "helm release revision 1", "signed evidence recorded"} {
		if !strings.Contains(out, want) {
			t.Errorf("staging's line lacks %q: %s", want, out)
		}
	}
	dep, err := c.Client.AppsV1().Deployments(staging).Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := dep.Spec.Template.Spec.Containers[0].Image; got != image {
		t.Errorf("staging runs %q, want %q", got, image)
	}
	if got := dep.Spec.Template.Spec.NodeSelector["type"]; got != "kwok" {
		t.Errorf("staging's pods select type=%q, want the --node-selector's kwok", got)
	}
	if _, err := c.Client.CoreV1().Secrets(staging).Get(context.Background(), "sh.helm.release.v1.web.v1", metav1.GetOptions{}); err != nil {
		t.Errorf("no Helm release record in staging: %v", err)
	}

	_, err = deployTo("production", production, "--approve")
	if err == nil || !strings.Contains(err.Error(), "not scanned clean") || strings.Contains(err.Error(), "not deployed and verified in staging") {
		t.Fatalf("production before the scan: %v, want a refusal naming only the scan", err)
	}
	if list, _ := c.Client.CoreV1().Secrets(production).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm"}); len(list.Items) > 0 {
		t.Errorf("the refused production deploy left %d Helm release records", len(list.Items))
	}
	recordScan(t, image, env)
	if _, err := deployTo("production", production); err == nil || !strings.Contains(err.Error(), "not approved") {
		t.Fatalf("production without --approve: %v, want a refusal", err)
	}
	out, err = deployTo("production", production, "--approve", "--approver=e2e")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "production: namespace "+production) || !strings.Contains(out, "helm release revision 1") {
		t.Errorf("production's line: %s", out)
	}
	dep, err = c.Client.AppsV1().Deployments(production).Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := *dep.Spec.Replicas; got != 3 {
		t.Errorf("production runs %d replicas, want values-production.yaml's 3", got)
	}
}
