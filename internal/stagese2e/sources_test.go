package stagese2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/slipway-ci/slipway/deploy/attest"
	"github.com/slipway-ci/slipway/deploy/gitops"
	bundle "github.com/slipway-ci/slipway/examples/deployai/deploy"
	"github.com/slipway-ci/slipway/internal/argocdtest"
	"github.com/slipway-ci/slipway/internal/cluster"
	"github.com/slipway-ci/slipway/internal/clustertest"
	"github.com/slipway-ci/slipway/internal/daggertest"
	"github.com/slipway-ci/slipway/internal/engine"
	"github.com/slipway-ci/slipway/internal/enginegit"
	"github.com/slipway-ci/slipway/internal/enginetest"
)

const (
	notStaged   = "not deployed and verified in staging"
	notScanned  = "not scanned clean"
	notApproved = "not approved"
)

// signing makes a key pair for the test: SIGNING_KEY, which the calls
// sign with (--signing-key=env://SIGNING_KEY), and its public half as
// SLIPWAY_TRUSTED_KEYS, which production's gate trusts (prodTrust).
func signing(t *testing.T) {
	t.Helper()
	key, trusted, err := attest.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SIGNING_KEY", string(key))
	t.Setenv("SLIPWAY_TRUSTED_KEYS", string(trusted))
}

// The arguments that sign, and that give production's gate its trusted
// keys.
const (
	signArg   = "--signing-key=env://SIGNING_KEY"
	prodTrust = "--trusted-keys=env://SLIPWAY_TRUSTED_KEYS"
)

// freshImage publishes the example service with a new revision label, so
// that its digest has no evidence from an earlier run, signed with the
// key signing set.
func freshImage(t *testing.T, label string) (ref, digest string) {
	t.Helper()
	b := make([]byte, 20)
	rand.Read(b)
	ref = strings.TrimSpace(mustCall(t, "publish", "--repository="+daggertest.Registry+"/slipway-e2e/"+label, "--insecure", "--revision="+hex.EncodeToString(b), signArg))
	if !strings.Contains(ref, "@sha256:") {
		t.Fatalf("publish returned %q, want repository@sha256:digest", ref)
	}
	return ref, ref[strings.Index(ref, "@")+1:]
}

// refusedWith runs a call that must fail, and checks what it says.
func refusedWith(t *testing.T, args []string, want, notWant []string) {
	t.Helper()
	_, err := call(t, args...)
	if err == nil {
		t.Fatalf("dagger call %s succeeded, want a refusal", strings.Join(args, " "))
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("refusal does not say %q:\n%v", w, err)
		}
	}
	for _, w := range notWant {
		if strings.Contains(err.Error(), w) {
			t.Errorf("refusal says %q, which holds:\n%v", w, err)
		}
	}
}

// scanClean records a clean scan of ref, the evidence production's gate
// asks for besides staging's.
func scanClean(t *testing.T, ref string) {
	t.Helper()
	out := mustCall(t, append([]string{"security-trivy", "--image=" + ref, signArg}, append(trivyDB, "summary")...)...)
	if !strings.Contains(out, "0 HIGH/CRITICAL") || !strings.Contains(out, "scan signed evidence recorded") {
		t.Fatalf("security-trivy summary = %q, want a clean scan with its evidence recorded", out)
	}
}

// helmReleases lists the Helm release records (revisions) in namespace.
func helmReleases(t *testing.T, c *clustertest.Cluster, namespace string) []string {
	t.Helper()
	list, err := c.Client.CoreV1().Secrets(namespace).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range list.Items {
		names = append(names, s.Name)
	}
	return names
}

// TestHelmPromotion drives deploy-staging and deploy-production with
// --source=helm through `dagger call`, as the deploy jobs do with
// DEPLOY_SOURCE=helm: the example's chart (ci/dagger.json: helmChart and
// each environment's values file) is installed with the digest, from
// inside the engine against the local control plane. Production is
// refused, with no release made, until staging verified the digest, the
// scan cleared it and a person approved.
func TestHelmPromotion(t *testing.T) {
	enginetest.Require(t)
	c := clustertest.RequireNode(t)
	staging := c.Namespace(t, "mts-deploy-ai-staging")
	production := c.Namespace(t, "mts-deploy-ai")
	t.Setenv("KUBECONFIG_STAGING", string(c.EngineKubeconfig))
	t.Setenv("KUBECONFIG_PRODUCTION", string(c.EngineKubeconfig))
	signing(t)
	ref, digest := freshImage(t, "helm-e2e")
	stagingCall := []string{"deploy-staging", "--source=helm", "--image=" + ref, "--kubeconfig=env://KUBECONFIG_STAGING", "--namespace=" + staging, signArg}
	prodCall := []string{"deploy-production", "--source=helm", "--image=" + ref, "--kubeconfig=env://KUBECONFIG_PRODUCTION", "--namespace=" + production, prodTrust}

	t.Run("production first is refused on every check", func(t *testing.T) {
		refusedWith(t, append(prodCall, "--approve=false"), []string{notStaged, notScanned, notApproved, "--approve"}, nil)
		assertNoDeployment(t, c, production)
		if r := helmReleases(t, c, production); len(r) > 0 {
			t.Errorf("a refused deploy made Helm releases %v", r)
		}
	})

	t.Run("staging", func(t *testing.T) {
		start := time.Now()
		out := mustCall(t, stagingCall...)
		t.Logf("deploy-staging --source=helm: %s (dagger call %v)", strings.TrimSpace(out), time.Since(start).Round(time.Millisecond))
		// The chart's Deployment is smoke-tested and watched by
		// Prometheus after Helm's wait, as an apply deploy is.
		for _, want := range []string{"staging: namespace " + staging, digest, "helm release revision 1, verified by smoke test and alerts", "smoke test passed: GET /health, /ready, metrics:/metrics", "no alert of 1 rule files fired", "evidence recorded"} {
			if !strings.Contains(out, want) {
				t.Errorf("summary lacks %q: %s", want, out)
			}
		}
		assertRunning(t, c, staging, ref)
		assertPlaced(t, c, staging)
		if r := helmReleases(t, c, staging); len(r) != 1 || r[0] != "sh.helm.release.v1."+bundle.Name+".v1" {
			t.Errorf("staging's Helm releases: %v, want revision 1 of %s", r, bundle.Name)
		}
	})

	t.Run("staging again is a new revision", func(t *testing.T) {
		out := mustCall(t, stagingCall...)
		if !strings.Contains(out, "helm release revision 2") {
			t.Errorf("second deploy: %s, want revision 2 (the call must reach the cluster, not Dagger's cache)", out)
		}
	})

	t.Run("production without a scan or approval is refused", func(t *testing.T) {
		refusedWith(t, prodCall, []string{notScanned, notApproved}, []string{notStaged})
	})

	t.Run("scan records clean evidence", func(t *testing.T) { scanClean(t, ref) })

	t.Run("production without --approve is refused", func(t *testing.T) {
		refusedWith(t, prodCall, []string{notApproved, "--approve"}, []string{notStaged, notScanned})
		assertNoDeployment(t, c, production)
	})

	t.Run("production with --approve", func(t *testing.T) {
		out := mustCall(t, append(prodCall, "--approve", "--approver=e2e")...)
		for _, want := range []string{"production: namespace " + production, digest, "helm release revision 1"} {
			if !strings.Contains(out, want) {
				t.Errorf("summary lacks %q: %s", want, out)
			}
		}
		assertRunning(t, c, production, ref)
	})
}

// gitopsFixture is the test's GitOps repository on a git server that the
// engine's containers and Argo CD reach at the same URL, and Argo CD's
// Applications for staging and production, each in its own namespace.
type gitopsFixture struct {
	srv                 *enginegit.Server
	repo, url, password string
	staging, production string
	argo                *argocdtest.ArgoCD
}

func newGitOpsFixture(t *testing.T) *gitopsFixture {
	t.Helper()
	e := enginetest.Require(t)
	a := argocdtest.Require(t)
	c := a.Cluster
	ns, err := engine.Namespace(e.Env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	b := make([]byte, 12)
	rand.Read(b)
	f := &gitopsFixture{password: hex.EncodeToString(b), argo: a}
	// The user is ci/dagger.json's gitopsUser.
	if f.srv, err = enginegit.Start(ns, t.TempDir(), 0, 0, "slipway", f.password); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.srv.Close() })
	f.staging, f.production = c.Namespace(t, "gitops-staging"), c.Namespace(t, "gitops-production")
	f.repo = "deploy-" + f.staging
	f.url = f.srv.URL(f.repo)

	// The example's layout, with the test's namespaces and without what
	// this cluster does not serve.
	unserved, err := enginegit.UnservedKinds(c.Client.Discovery(), []string{"monitoring.coreos.com/v1/PrometheusRule"})
	if err != nil {
		t.Fatal(err)
	}
	files, err := enginegit.LocalLayout("../../examples/deployai/deploy/gitops", "https://gitlab.mts.ru/telecom/mts-deploy-ai-gitops.git", f.url, unserved...)
	if err != nil {
		t.Fatal(err)
	}
	nsLine := regexp.MustCompile(`(?m)^namespace: .*$`)
	files["overlays/staging/kustomization.yaml"] = nsLine.ReplaceAllString(files["overlays/staging/kustomization.yaml"], "namespace: "+f.staging)
	files["overlays/production/kustomization.yaml"] = nsLine.ReplaceAllString(files["overlays/production/kustomization.yaml"], "namespace: "+f.production)
	// The layout's first sync deploys its placeholder digest, which no
	// registry holds: on the real node that is ImagePullBackOff and the
	// Application never turns Healthy before the promotion this test is
	// about (the gate, the commit, Argo CD following it). The pods go to
	// kwok here; deploy/gitops's e2e runs GitOps pods on the real node.
	const kwokPlacement = "patches:\n- target:\n    kind: Deployment\n  patch: |-\n    - op: add\n      path: /spec/template/spec/nodeSelector\n      value: {type: kwok}\n    - op: add\n      path: /spec/template/spec/tolerations\n      value: [{key: " + cluster.KwokTaintKey + ", operator: Exists, effect: NoSchedule}]\n"
	for _, o := range []string{"overlays/staging/kustomization.yaml", "overlays/production/kustomization.yaml"} {
		if !strings.Contains(files[o], "\npatches:\n") {
			t.Fatalf("%s has no patches: list to add the kwok placement to", o)
		}
		files[o] = strings.Replace(files[o], "\npatches:\n", "\n"+kwokPlacement, 1)
	}
	head, err := f.srv.Create(f.repo, "main", files)
	if err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "repo-" + f.staging, Namespace: a.Namespace, Labels: map[string]string{"argocd.argoproj.io/secret-type": "repository"}},
		StringData: map[string]string{"type": "git", "url": f.url, "username": "slipway", "password": f.password, "proxy": f.srv.Proxy()},
	}
	if _, err := c.Client.CoreV1().Secrets(a.Namespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Client.CoreV1().Secrets(a.Namespace).Delete(context.Background(), secret.Name, metav1.DeleteOptions{})
	})
	dyn := dynamic.NewForConfigOrDie(c.Config)
	projects := dyn.Resource(schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "appprojects"}).Namespace(a.Namespace)
	proj := gitops.ProjectSpec{Name: f.staging, Namespace: a.Namespace, RepoURLs: []string{f.url}, Namespaces: []string{f.staging, f.production}}.Object()
	if _, err := projects.Create(ctx, proj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { projects.Delete(context.Background(), f.staging, metav1.DeleteOptions{}) })
	apps := f.apps()
	for _, env := range []struct{ app, overlay string }{{f.staging, "overlays/staging"}, {f.production, "overlays/production"}} {
		app := gitops.ApplicationSpec{Name: env.app, Namespace: a.Namespace, Project: f.staging, RepoURL: f.url, TargetRevision: "main", Path: env.overlay, DestinationNamespace: env.app}.Object()
		if _, err := apps.Create(ctx, app, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { apps.Delete(context.Background(), env.app, metav1.DeleteOptions{}) })
	}
	for _, app := range []string{f.staging, f.production} {
		f.waitHealthy(t, app, head, 4*time.Minute)
	}
	return f
}

func (f *gitopsFixture) apps() dynamic.ResourceInterface {
	return dynamic.NewForConfigOrDie(f.argo.Cluster.Config).Resource(gitops.ApplicationGVR).Namespace(f.argo.Namespace)
}

func (f *gitopsFixture) status(t *testing.T, app string) gitops.AppStatus {
	t.Helper()
	u, err := f.apps().Get(context.Background(), app, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return gitops.ReadStatus(u)
}

// waitHealthy waits for the layout's first sync, before the test's
// promotions (which follow the Application by themselves).
func (f *gitopsFixture) waitHealthy(t *testing.T, app, rev string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var st gitops.AppStatus
	for time.Now().Before(deadline) {
		if st = f.status(t, app); st.Sync == "Synced" && st.Health == "Healthy" && st.Revision == rev {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("the Application %s did not become Synced and Healthy at %s: %s", app, rev, st)
}

func (f *gitopsFixture) head(t *testing.T) string {
	t.Helper()
	h, err := f.srv.Head(f.repo, "main")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestGitOpsPromotion drives deploy-staging and deploy-production with
// --source=gitops through `dagger call`: from inside the engine the deploy
// tool commits the digest into the example layout's overlay, pushes it to
// a real git server with the password from a Dagger secret, and follows
// Argo CD (running on the host, fetching the same URL) until the
// Application is Synced and Healthy at that commit. Production's promote
// commit is made only once staging verified the digest, the scan cleared
// it and a person approved; a wrong password makes no commit.
func TestGitOpsPromotion(t *testing.T) {
	f := newGitOpsFixture(t)
	c := f.argo.Cluster
	// The fixture places the layout's pods on kwok (see newGitOpsFixture):
	// their node is not what this test checks.
	kwokView := *c
	kwokView.Node = ""
	onKwok := &kwokView
	t.Setenv("KUBECONFIG_STAGING", string(c.EngineKubeconfig))
	t.Setenv("KUBECONFIG_PRODUCTION", string(c.EngineKubeconfig))
	t.Setenv("SLIPWAY_E2E_GIT_PASSWORD", f.password)
	signing(t)
	ref, digest := freshImage(t, "gitops-e2e")
	// kwok's pods serve nothing to smoke-test: --no-verify (deploy/gitops's
	// e2e verifies a sync on the real node).
	settings := []string{"--gitops-repository=" + f.url, "--gitops-staging-app=" + f.staging, "--gitops-production-app=" + f.production, "--no-verify"}
	promote := func(fn, ns, kubeconfig string, extra ...string) []string {
		return append(append(append([]string{}, settings...), fn, "--source=gitops", "--image="+ref, "--kubeconfig=env://"+kubeconfig,
			"--namespace="+ns, "--git-password=env://SLIPWAY_E2E_GIT_PASSWORD", "--revision=0123456789abcdef", "--pipeline-id=4711"), extra...)
	}
	stagingCall := promote("deploy-staging", f.staging, "KUBECONFIG_STAGING", signArg)
	prodCall := promote("deploy-production", f.production, "KUBECONFIG_PRODUCTION", prodTrust)
	noSecret := func(t *testing.T, out string) {
		t.Helper()
		if strings.Contains(out, f.password) {
			t.Errorf("the output shows the git password:\n%s", out)
		}
	}

	t.Run("production first is refused on every check, with no commit", func(t *testing.T) {
		before := f.head(t)
		refusedWith(t, append(prodCall, "--approve=false"), []string{notStaged, notScanned, notApproved, "--approve"}, nil)
		if after := f.head(t); after != before {
			t.Errorf("a refused promotion moved main from %s to %s", before, after)
		}
	})

	t.Run("wrong git password", func(t *testing.T) {
		before := f.head(t)
		t.Setenv("SLIPWAY_E2E_GIT_PASSWORD", "not-"+f.password)
		_, err := call(t, stagingCall...)
		if err == nil {
			t.Fatal("a promotion with a wrong git password succeeded")
		}
		if !strings.Contains(err.Error(), "git credentials refused") || !strings.Contains(err.Error(), `user "slipway"`) {
			t.Errorf("the error does not say the credentials were refused, for whom:\n%v", err)
		}
		noSecret(t, err.Error())
		if after := f.head(t); after != before {
			t.Errorf("a refused push moved main from %s to %s", before, after)
		}
	})

	t.Run("staging", func(t *testing.T) {
		before := f.head(t)
		start := time.Now()
		out := mustCall(t, stagingCall...)
		t.Logf("deploy-staging --source=gitops: %s (dagger call %v)", strings.TrimSpace(out), time.Since(start).Round(time.Millisecond))
		noSecret(t, out)
		head := f.head(t)
		if head == before {
			t.Fatal("no promote commit on main")
		}
		for _, want := range []string{"staging: namespace " + f.staging, digest, "commit " + head[:12], "Synced and Healthy", "evidence recorded"} {
			if !strings.Contains(out, want) {
				t.Errorf("summary lacks %q: %s", want, out)
			}
		}
		msg, err := f.srv.Git(f.repo, "log", "-1", "--format=%B", "main")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"promote staging", ref, "Pipeline: deployai 4711", "Source-Commit: 0123456789abcdef"} {
			if !strings.Contains(msg, want) {
				t.Errorf("the promote commit's message lacks %q:\n%s", want, msg)
			}
		}
		if st := f.status(t, f.staging); st.Sync != "Synced" || st.Health != "Healthy" || st.Revision != head {
			t.Errorf("Argo CD: %s, want Synced and Healthy at %s", st, head)
		}
		assertRunning(t, onKwok, f.staging, ref)
	})

	t.Run("production without a scan or approval is refused", func(t *testing.T) {
		before := f.head(t)
		refusedWith(t, prodCall, []string{notScanned, notApproved}, []string{notStaged})
		if after := f.head(t); after != before {
			t.Errorf("a refused promotion moved main from %s to %s", before, after)
		}
	})

	t.Run("scan records clean evidence", func(t *testing.T) { scanClean(t, ref) })

	t.Run("production with --approve", func(t *testing.T) {
		out := mustCall(t, append(prodCall, "--approve", "--approver=e2e")...)
		noSecret(t, out)
		head := f.head(t)
		for _, want := range []string{"production: namespace " + f.production, digest, "commit " + head[:12], "Synced and Healthy"} {
			if !strings.Contains(out, want) {
				t.Errorf("summary lacks %q: %s", want, out)
			}
		}
		msg, _ := f.srv.Git(f.repo, "log", "-1", "--format=%B", "main")
		if !strings.Contains(msg, "promote production") {
			t.Errorf("main's head is not production's promote commit:\n%s", msg)
		}
		assertRunning(t, onKwok, f.production, ref)
	})
}
