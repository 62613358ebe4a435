package gitops_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/slipway-ci/slipway/deploy"
	"github.com/slipway-ci/slipway/deploy/gitops"
	"github.com/slipway-ci/slipway/internal/argocdtest"
	"github.com/slipway-ci/slipway/internal/clustertest"
	"github.com/slipway-ci/slipway/internal/githost"
	"github.com/slipway-ci/slipway/pipeline"
)

// appImage pushes the serving test app (internal/clustertest) as version
// to the engine's registry: a real image, under its own digest, that Argo
// CD's pods run on the control plane's real node, so that a promotion is
// healthy only when its containers really run and pass their readiness
// probe, and a bad one fails for a real reason.
func appImage(t testing.TB, version string) string {
	t.Helper()
	return clustertest.PushAppVersion(t, clustertest.AppServe, version)
}

// layout is a team's GitOps repository: a kustomize base whose container
// runs the image "web", and a staging overlay whose images: entry pins it.
func layout(initial string) map[string]string {
	repo, digest, _ := strings.Cut(initial, "@")
	return map[string]string{
		"base/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- deployment.yaml\n- service.yaml\n",
		"base/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  # Kubernetes gives up on a stuck rollout after 10 s (time for the
  # kubelet to report why): Argo CD then reports the Application Degraded.
  progressDeadlineSeconds: 10
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      # The real node, where the containers run: a GitOps repository
      # places its own pods (Argo CD renders it, not slipway).
      nodeSelector: {slipway.dev/node: real}
      containers:
      - name: app
        image: web
        ports:
        - {name: http, containerPort: 8080}
        readinessProbe:
          httpGet: {path: /ready, port: http}
          periodSeconds: 1
`,
		"base/service.yaml":        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports:\n  - {port: 80, targetPort: http}\n",
		"helm/values-staging.yaml": "# Staging values: slipway writes the digest.\nreplicaCount: 2\nimage:\n  repository: " + repo + "\n  digest: " + digest + " # pinned by the pipeline\n",
		"overlays/staging/kustomization.yaml": `# The staging overlay: slipway's promote step writes the tested digest
# into the images entry below.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- ../../base
images:
- name: web
  newName: ` + repo + `
  digest: ` + digest + `
`,
	}
}

// fixture is one test's GitOps setup: a git host with the repository, the
// Argo CD repository secret and an Application under automated sync, prune
// and selfHeal, deploying overlays/staging into a fresh namespace.
type fixture struct {
	deployment string // the Deployment the source makes (default "web")
	argo       *argocdtest.ArgoCD
	host       *githost.Host
	repo       string
	ns         string
	app        string
	password   string
	env        deploy.Environment
}

func setup(t *testing.T, initial string) *fixture {
	t.Helper()
	return setupWith(t, layout(initial), "overlays/staging")
}

// setupWith pushes files and deploys the source at path (a Helm chart
// when valueFiles are given).
func setupWith(t *testing.T, files map[string]string, path string, valueFiles ...string) *fixture {
	t.Helper()
	clustertest.RequireNode(t) // the pods Argo CD makes must really run
	a := argocdtest.Require(t)
	f := &fixture{argo: a, password: fmt.Sprintf("pw-%d", time.Now().UnixNano())}
	f.ns = a.Cluster.Namespace(t, "gitops")
	f.app, f.repo = f.ns, "deploy-"+f.ns
	host, err := githost.Start(t.TempDir(), "ci", f.password)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(host.Close)
	f.host = host
	if _, err := host.Create(f.repo, "main", files); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "repo-" + f.ns, Namespace: a.Namespace, Labels: map[string]string{"argocd.argoproj.io/secret-type": "repository"}},
		StringData: map[string]string{"type": "git", "url": host.HTTPURL(f.repo), "username": "ci", "password": f.password},
	}
	if _, err := a.Cluster.Client.CoreV1().Secrets(a.Namespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.Cluster.Client.CoreV1().Secrets(a.Namespace).Delete(context.Background(), secret.Name, metav1.DeleteOptions{})
	})
	// The seed's form: its own AppProject (as "telecom"), automated sync
	// with prune and selfHeal, CreateNamespace.
	dyn := dynamic.NewForConfigOrDie(a.Cluster.Config)
	projects := dyn.Resource(schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "appprojects"}).Namespace(a.Namespace)
	proj := gitops.ProjectSpec{Name: f.ns, Namespace: a.Namespace, RepoURLs: []string{host.HTTPURL(f.repo)}, Namespaces: []string{f.ns}}.Object()
	if _, err := projects.Create(ctx, proj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { projects.Delete(context.Background(), f.ns, metav1.DeleteOptions{}) })
	app := gitops.ApplicationSpec{Name: f.app, Namespace: a.Namespace, Project: f.ns, RepoURL: host.HTTPURL(f.repo), TargetRevision: "main", Path: path, ValueFiles: valueFiles, DestinationNamespace: f.ns}.Object()
	apps := f.apps()
	if _, err := apps.Create(ctx, app, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { apps.Delete(context.Background(), f.app, metav1.DeleteOptions{}) })
	head, _ := host.Head(f.repo, "main")
	f.waitHealthy(t, head, 3*time.Minute)
	f.env = deploy.Environment{Name: "staging", Tier: pipeline.Staging, Namespace: f.ns, Kubeconfig: deploy.KubeconfigBytes(a.Cluster.Kubeconfig)}
	return f
}

func (f *fixture) apps() dynamic.ResourceInterface {
	return dynamic.NewForConfigOrDie(f.argo.Cluster.Config).Resource(gitops.ApplicationGVR).Namespace(f.argo.Namespace)
}

// status reads the Application as Argo CD reports it.
func (f *fixture) status(t *testing.T) gitops.AppStatus {
	t.Helper()
	u, err := f.apps().Get(context.Background(), f.app, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return gitops.ReadStatus(u)
}

// waitHealthy waits for the Application's first sync, which the fixture
// needs before a test starts (the promotions under test watch by
// themselves).
func (f *fixture) waitHealthy(t *testing.T, rev string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var st gitops.AppStatus
	for time.Now().Before(deadline) {
		st = f.status(t)
		if st.Sync == "Synced" && st.Health == "Healthy" && st.Revision == rev {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("the Application did not become Synced and Healthy at %s: %s", rev, st)
}

func (f *fixture) promoter(t *testing.T, env deploy.Environment, auth gitops.Auth, opts ...gitops.Option) *gitops.Promoter {
	t.Helper()
	p, err := gitops.New(context.Background(), env,
		gitops.Repository{URL: f.host.HTTPURL(f.repo), Auth: auth},
		gitops.Kustomize{Dir: "overlays/staging", Image: "web"},
		gitops.Application{Name: f.app},
		append([]gitops.Option{gitops.WithPipeline(gitops.Pipeline{Name: "mts-deploy-ai", ID: "4711", URL: "https://ci.example.com/p/4711", Commit: "0123456789abcdef"}),
			gitops.WithSyncTimeout(2 * time.Minute), gitops.WithRevertTimeout(2 * time.Minute)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// running checks the Deployment's image and that every replica is ready.
func (f *fixture) running(t *testing.T, want string) {
	t.Helper()
	name := f.deployment
	if name == "" {
		name = "web"
	}
	d, err := f.argo.Cluster.Client.AppsV1().Deployments(f.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Spec.Containers[0].Image; got != want {
		t.Fatalf("the Deployment runs %s, want %s", got, want)
	}
	if d.Status.AvailableReplicas != 2 || d.Status.UpdatedReplicas != 2 || d.Status.Replicas != 2 {
		t.Fatalf("replicas %d available %d updated %d, want 2", d.Status.Replicas, d.Status.AvailableReplicas, d.Status.UpdatedReplicas)
	}
}

// overlay reads the staging overlay at the branch head.
func (f *fixture) overlay(t *testing.T) string {
	t.Helper()
	out, err := f.host.Git(f.repo, "show", "main:overlays/staging/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestE2EPromoteSynced: the promotion commit names the pipeline, its
// commit and the digest, and Argo CD syncs it: Synced and Healthy at the
// pushed revision, running the digest.
func TestE2EPromoteSynced(t *testing.T) {
	v0, v1 := appImage(t, "v0"), appImage(t, "v1")
	f := setup(t, v0)
	p := f.promoter(t, f.env, gitops.BasicAuth("ci", f.password))
	res, err := p.Deploy(context.Background(), deploy.Release{Image: v1})
	if err != nil {
		t.Fatal(err)
	}
	head, _ := f.host.Head(f.repo, "main")
	if res.Revision != head || res.Image != v1 || res.Environment != "staging" {
		t.Fatalf("result %+v, head %s", res, head)
	}
	if st := f.status(t); st.Sync != "Synced" || st.Health != "Healthy" || st.Revision != head {
		t.Fatalf("after the promotion: %s, want Synced and Healthy at %s", st, head)
	}
	f.running(t, v1)
	msg, _ := f.host.Git(f.repo, "log", "-1", "--format=%an <%ae>%n%B", "main")
	for _, want := range []string{"slipway <slipway@localhost>", "promote staging: sha256:", "Image: " + v1, "Pipeline: mts-deploy-ai 4711", "Pipeline-URL: https://ci.example.com/p/4711", "Source-Commit: 0123456789abcdef"} {
		if !strings.Contains(msg, want) {
			t.Errorf("commit message does not hold %q:\n%s", want, msg)
		}
	}
	overlay := f.overlay(t)
	if !strings.Contains(overlay, "# The staging overlay") || !strings.Contains(overlay, "digest: "+strings.Split(v1, "@")[1]) {
		t.Errorf("overlay after the promotion (comments kept, digest set):\n%s", overlay)
	}
	// The same digest again: nothing to commit, still healthy.
	res, err = p.Deploy(context.Background(), deploy.Release{Image: v1})
	if err != nil || res.Revision != head || len(res.Applied) != 0 {
		t.Fatalf("promoting the running digest again: %+v, %v", res, err)
	}
	if n, _ := f.host.Git(f.repo, "rev-list", "--count", "main"); strings.TrimSpace(n) != "2" {
		t.Errorf("%s commits, want 2 (initial, promotion)", n)
	}
}

// TestE2EBadDigestReverted: a digest whose pods never become ready
// degrades the Application; the promotion is reverted by a new commit, and
// Argo CD is healthy again on the previous image.
func TestE2EBadDigestReverted(t *testing.T) {
	v0, bad := appImage(t, "v0"), clustertest.MissingImage()
	f := setup(t, v0)
	_, err := f.promoter(t, f.env, gitops.BasicAuth("ci", f.password)).Deploy(context.Background(), deploy.Release{Image: bad})
	var rerr *deploy.RolloutError
	if !errors.As(err, &rerr) {
		t.Fatalf("promoting a bad digest: %v, want a *deploy.RolloutError", err)
	}
	t.Logf("error: %v", err)
	if !rerr.RolledBack || rerr.RollbackErr != nil || rerr.PreviousImage != v0 {
		t.Errorf("reverted %v to %s (err %v), want a healthy revert to %s", rerr.RolledBack, rerr.PreviousImage, rerr.RollbackErr, v0)
	}
	if len(rerr.Pods) == 0 || !(strings.Contains(err.Error(), "ErrImagePull") || strings.Contains(err.Error(), "ImagePullBackOff")) || !strings.Contains(err.Error(), "Degraded") {
		t.Errorf("the error names no failing pods or degraded resource: %v", err)
	}
	log, _ := f.host.Git(f.repo, "log", "--format=%s", "main")
	if got := strings.Fields(strings.ReplaceAll(log, "\n", " | ")); !strings.HasPrefix(log, "revert promote staging: ") || !strings.Contains(log, "\npromote staging: ") {
		t.Errorf("history %v, want a promote and its revert", got)
	}
	head, _ := f.host.Head(f.repo, "main")
	if st := f.status(t); st.Sync != "Synced" || st.Health != "Healthy" || st.Revision != head {
		t.Fatalf("after the revert: %s, want Synced and Healthy at %s", st, head)
	}
	if !strings.Contains(f.overlay(t), "digest: "+strings.Split(v0, "@")[1]) {
		t.Errorf("the overlay does not hold the previous digest again:\n%s", f.overlay(t))
	}
	f.running(t, v0)
}

// TestE2ESmokeTestedAfterSync: the post-deploy checks of package deploy
// (deploy.WithVerifyPaths through WithDeployOptions) run once Argo CD
// reports the promotion Synced and Healthy, on the Application's only
// Deployment. A good image is smoke-tested through the layout's Service
// and says so; an image that is ready but whose /metrics answers 500 is
// Healthy to Argo CD, fails the smoke test, and its commit is reverted:
// the previous image runs again.
func TestE2ESmokeTestedAfterSync(t *testing.T) {
	run := fmt.Sprint(time.Now().UnixNano())
	v0 := appImage(t, "smoke-v0-"+run)
	good := appImage(t, "smoke-"+run)
	broken := clustertest.PushAppVersion(t, clustertest.AppBrokenMetrics, "smoke-"+run)
	f := setup(t, v0)
	p := f.promoter(t, f.env, gitops.BasicAuth("ci", f.password), gitops.WithDeployOptions(deploy.WithVerifyPaths(deploy.DefaultVerifyPaths...)))
	res, err := p.Deploy(context.Background(), deploy.Release{Image: good})
	if err != nil {
		t.Fatal(err)
	}
	if want := "smoke test passed: GET /health, /ready, /metrics answered 2xx through Service web"; res.Verification != want || !res.Verified || res.Deployment != "web" {
		t.Errorf("verification %q (verified %v, Deployment %q), want %q on web", res.Verification, res.Verified, res.Deployment, want)
	}
	f.running(t, good)
	_, err = p.Deploy(context.Background(), deploy.Release{Image: broken})
	t.Logf("error: %v", err)
	var rerr *deploy.RolloutError
	if !errors.As(err, &rerr) || !errors.Is(err, deploy.ErrVerification) {
		t.Fatalf("promoting an image with broken /metrics: %v, want a *deploy.RolloutError caused by deploy.ErrVerification", err)
	}
	if want := "GET /metrics through Service web: 500 Internal Server Error"; !strings.Contains(err.Error(), want) {
		t.Errorf("error does not say %q", want)
	}
	if !rerr.RolledBack || rerr.RollbackErr != nil || rerr.PreviousImage != good {
		t.Errorf("reverted %v to %s (err %v), want a healthy revert to %s", rerr.RolledBack, rerr.PreviousImage, rerr.RollbackErr, good)
	}
	if log, _ := f.host.Git(f.repo, "log", "-1", "--format=%B", "main"); !strings.HasPrefix(log, "revert promote staging: ") || !strings.Contains(log, "verification failed") {
		t.Errorf("head commit %q, want the revert naming the failed verification", log)
	}
	f.running(t, good)
}

// TestE2EConcurrentPromotions: two promotions to the same environment at
// once both land, one after the other, on a linear history; the branch
// and the cluster end on the later one.
func TestE2EConcurrentPromotions(t *testing.T) {
	v0, a, b := appImage(t, "v0"), appImage(t, "a"), appImage(t, "b")
	f := setup(t, v0)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, img := range []string{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = f.promoter(t, f.env, gitops.BasicAuth("ci", f.password)).Deploy(context.Background(), deploy.Release{Image: img})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	log, _ := f.host.Git(f.repo, "log", "--first-parent", "--format=%H %P|%b", "main")
	var images []string
	for _, entry := range strings.Split(strings.TrimSpace(log), "\n") {
		if _, body, ok := strings.Cut(entry, "|"); ok && strings.HasPrefix(body, "Image: ") {
			images = append(images, strings.TrimPrefix(body, "Image: "))
		}
	}
	merges, _ := f.host.Git(f.repo, "rev-list", "--merges", "--count", "main")
	if strings.TrimSpace(merges) != "0" {
		t.Errorf("%s merge commits: want a linear history", merges)
	}
	if len(images) != 2 || images[0] == images[1] {
		t.Fatalf("promoted images on the branch, newest first: %v, want both %s and %s", images, a, b)
	}
	last := images[0]
	if !strings.Contains(f.overlay(t), "digest: "+strings.Split(last, "@")[1]) {
		t.Errorf("the overlay does not hold the last promotion %s", last)
	}
	head, _ := f.host.Head(f.repo, "main")
	if st := f.status(t); st.Sync != "Synced" || st.Health != "Healthy" || st.Revision != head {
		t.Fatalf("after both: %s, want Synced and Healthy at %s", st, head)
	}
	f.running(t, last)
}

// TestE2EWrongPassword: the git server refuses the credentials; the
// error says so and what to check, and nothing is pushed.
func TestE2EWrongPassword(t *testing.T) {
	v0 := appImage(t, "v0")
	f := setup(t, v0)
	before, _ := f.host.Head(f.repo, "main")
	_, err := f.promoter(t, f.env, gitops.BasicAuth("ci", "wrong")).Deploy(context.Background(), deploy.Release{Image: appImage(t, "v1")})
	want := `gitops: environment "staging": the kustomize images entry "web" in overlays/staging/kustomization.yaml: git credentials refused: ` +
		f.host.HTTPURL(f.repo) + ` refused the credentials of user "ci" while cloning (authentication required); nothing was pushed. Check the password, token or key secret and the user`
	if err == nil || err.Error() != want || !errors.Is(err, gitops.ErrCredentials) {
		t.Fatalf("wrong password:\n got: %v\nwant: %s", err, want)
	}
	after, _ := f.host.Head(f.repo, "main")
	if after != before || f.host.Pushes() != 0 {
		t.Fatalf("head moved from %s to %s, %d pushes", before, after, f.host.Pushes())
	}
}

// TestE2EProductionGate: production's gate applies unchanged: without
// staging and scan evidence no commit is made; with them it promotes.
func TestE2EProductionGate(t *testing.T) {
	v0 := appImage(t, "v0")
	f := setup(t, v0)
	// The image lives in the engine's registry, where the node pulls it
	// from, and the evidence lives beside it. A version of its own per run:
	// a digest with evidence from an earlier run would pass the gate.
	img, err := name.NewDigest(appImage(t, fmt.Sprint("promotion-", time.Now().UnixNano())))
	if err != nil {
		t.Fatal(err)
	}
	store := deploy.NewReferrers(remote.WithTransport(clustertest.RegistryTransport(t)))
	gate := &deploy.PromotionGate{Store: store, Staging: "staging"}
	prod := f.env
	prod.Name, prod.Tier = "production", pipeline.Production
	toProd := deploy.Gated(deploy.Recording(f.promoter(t, prod, gitops.BasicAuth("ci", f.password)), prod, store), prod, gate)
	before, _ := f.host.Head(f.repo, "main")
	rel := deploy.Release{Image: img.String(), Approval: &deploy.Approval{By: "release-manager"}}
	_, err = toProd.Deploy(context.Background(), rel)
	if !errors.Is(err, deploy.ErrNotVerifiedInStaging) || !errors.Is(err, deploy.ErrNotScannedClean) {
		t.Fatalf("production without evidence: %v, want a refusal naming both checks", err)
	}
	if after, _ := f.host.Head(f.repo, "main"); after != before || f.host.Pushes() != 0 {
		t.Fatal("a refused production promotion pushed a commit")
	}
	ctx := context.Background()
	if err := store.Record(ctx, img, deploy.Evidence{Kind: deploy.Deployed, Environment: "staging", Tier: pipeline.Staging, Verified: true}); err != nil {
		t.Fatal(err)
	}
	if err := deploy.RecordScan(ctx, store, img.String(), "trivy", "HIGH,CRITICAL", 0); err != nil {
		t.Fatal(err)
	}
	res, err := toProd.Deploy(ctx, rel)
	if err != nil {
		t.Fatal(err)
	}
	head, _ := f.host.Head(f.repo, "main")
	if res.Revision != head {
		t.Fatalf("result %+v, head %s", res, head)
	}
	f.running(t, img.String())
	evs, _ := store.Evidence(ctx, img)
	if last := evs[len(evs)-1]; last.Kind != deploy.Deployed || last.Environment != "production" || last.Revision != head {
		t.Fatalf("production evidence %+v, want deployed at %s", last, head)
	}
}

// TestE2EHelmValuesPromotion: the team's choice of a Helm values file. The
// Application deploys a chart with values-staging.yaml (Argo CD renders it
// with the helm CLI); the promotion writes image.repository and
// image.digest there, and Argo CD syncs it.
func TestE2EHelmValuesPromotion(t *testing.T) {
	v0, v1 := appImage(t, "v0"), appImage(t, "v1")
	files := map[string]string{}
	for _, name := range []string{"Chart.yaml", "values.yaml", "templates/deployment.yaml", "templates/service.yaml", "templates/configmap.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "helm", "testdata", "web", name))
		if err != nil {
			t.Fatal(err)
		}
		files["chart/"+name] = string(b)
	}
	repo, digest, _ := strings.Cut(v0, "@")
	files["chart/values-staging.yaml"] = "replicaCount: 2\nprogressDeadlineSeconds: 10\nnodeSelector: {slipway.dev/node: real}\nimage:\n  repository: " + repo + "\n  digest: " + digest + "\n"
	f := setupWith(t, files, "chart", "values-staging.yaml")
	f.deployment = f.app // the chart names it after the release
	f.running(t, v0)
	p, err := gitops.New(context.Background(), f.env,
		gitops.Repository{URL: f.host.HTTPURL(f.repo), Auth: gitops.BasicAuth("ci", f.password)},
		gitops.HelmValues{Path: "chart/values-staging.yaml", Repository: "image.repository", Digest: "image.digest"},
		gitops.Application{Name: f.app}, gitops.WithSyncTimeout(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Deploy(context.Background(), deploy.Release{Image: v1})
	if err != nil {
		t.Fatal(err)
	}
	head, _ := f.host.Head(f.repo, "main")
	if st := f.status(t); res.Revision != head || st.Sync != "Synced" || st.Health != "Healthy" || st.Revision != head {
		t.Fatalf("result %+v; Application %s; head %s", res, st, head)
	}
	f.running(t, v1)
}
