package helm_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/registry"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/slipway-ci/slipway/deploy"
	"github.com/slipway-ci/slipway/deploy/helm"
	"github.com/slipway-ci/slipway/internal/clustertest"
	"github.com/slipway-ci/slipway/internal/e2e"
	"github.com/slipway-ci/slipway/internal/gotool"
	"github.com/slipway-ci/slipway/pipeline"
)

// The releases below run on the control plane's real node: their image is
// the test app (internal/clustertest) pushed by digest to the engine's
// registry, with a real HTTP readiness probe, so a failed release fails
// for a real reason (a digest the registry lacks cannot be pulled).

// appImage pushes the serving test app as version: a real image under its
// own digest.
func appImage(t testing.TB, version string) string {
	t.Helper()
	return clustertest.PushAppVersion(t, clustertest.AppServe, version)
}

// env is a staging environment in ns whose pods the deploy places on the
// real node (through the Helm post-renderer), as the reference pipeline's.
func env(c *clustertest.Cluster, ns string) deploy.Environment {
	return deploy.Environment{Name: "staging", Tier: pipeline.Staging, Namespace: ns, Kubeconfig: deploy.KubeconfigBytes(c.Kubeconfig),
		NodeSelector: clustertest.NodeSelector()}
}

// fast makes a stuck rollout fail in seconds: Kubernetes' own progress
// deadline, as a team would set it in its values. It leaves the kubelet
// time to report why the pod is stuck.
var fast = helm.WithValue("progressDeadlineSeconds", 10)

func newDeployer(t testing.TB, e deploy.Environment, chart string, opts ...helm.Option) *helm.Deployer {
	t.Helper()
	d, err := helm.New(context.Background(), e, chart, append([]helm.Option{helm.WithValuesFiles("testdata/web/values-staging.yaml"), helm.WithRolloutTimeout(time.Minute)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// serving checks what the namespace serves: the Deployment's image, and
// every replica ready on it, on the real node.
func serving(t *testing.T, c *clustertest.Cluster, ns, want string, replicas int) {
	t.Helper()
	ctx := context.Background()
	d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Spec.Containers[0].Image; got != want {
		t.Fatalf("Deployment image %s, want %s", got, want)
	}
	if int(d.Status.AvailableReplicas) != replicas || int(d.Status.UpdatedReplicas) != replicas || int(d.Status.Replicas) != replicas {
		t.Fatalf("replicas %d available %d updated %d, want %d", d.Status.Replicas, d.Status.AvailableReplicas, d.Status.UpdatedReplicas, replicas)
	}
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: labels.Set{"app": "web"}.String()})
	if err != nil {
		t.Fatal(err)
	}
	ready := 0
	for _, p := range pods.Items {
		if p.Spec.NodeName != "" && p.Spec.NodeName != c.Node {
			t.Errorf("pod %s runs on %s, not on the real node %s (the environment's node selector)", p.Name, p.Spec.NodeName, c.Node)
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue && p.Spec.Containers[0].Image == want && p.DeletionTimestamp == nil {
				ready++
			}
		}
	}
	if ready != replicas {
		t.Fatalf("%d ready pods run %s, want %d", ready, want, replicas)
	}
}

// history reads the release's revisions as Helm stores them (Secrets
// labelled owner=helm), oldest first: "1:superseded 2:deployed".
func history(t *testing.T, c *clustertest.Cluster, ns, release string) string {
	t.Helper()
	secrets, err := c.Client.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: labels.Set{"owner": "helm", "name": release}.String()})
	if err != nil {
		t.Fatal(err)
	}
	type rev struct {
		n      int
		status string
	}
	var revs []rev
	for _, s := range secrets.Items {
		n, _ := strconv.Atoi(s.Labels["version"])
		revs = append(revs, rev{n, s.Labels["status"]})
	}
	sort.Slice(revs, func(i, j int) bool { return revs[i].n < revs[j].n })
	var out []string
	for _, r := range revs {
		out = append(out, fmt.Sprintf("%d:%s", r.n, r.status))
	}
	return strings.Join(out, " ")
}

// TestE2EInstallThenUpgrade: a first install, an upgrade to a new digest,
// and the history bounded by max history.
func TestE2EInstallThenUpgrade(t *testing.T) {
	c := clustertest.RequireNode(t)
	ns := c.Namespace(t, "helm-up")
	ctx := context.Background()
	d := newDeployer(t, env(c, ns), "testdata/web", helm.WithMaxHistory(2))
	v1, v2, v3 := appImage(t, "v1"), appImage(t, "v2"), appImage(t, "v3")
	res, err := d.Deploy(ctx, deploy.Release{Image: v1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != "1" || res.Image != v1 || res.Deployment != "web" || res.Namespace != ns || res.Environment != "staging" {
		t.Fatalf("install result %+v", res)
	}
	if got := strings.Join(res.Applied, " "); got != "ConfigMap/web-config Service/web Deployment/web" {
		t.Errorf("applied %s", got)
	}
	serving(t, c, ns, v1, 2) // values-staging.yaml's replicaCount
	cm, err := c.Client.CoreV1().ConfigMaps(ns).Get(ctx, "web-config", metav1.GetOptions{})
	if err != nil || cm.Data["LOG_LEVEL"] != "DEBUG" {
		t.Fatalf("values-staging.yaml not applied: %v %v", cm.Data, err)
	}
	res, err = d.Deploy(ctx, deploy.Release{Image: v2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != "2" || res.Image != v2 {
		t.Fatalf("upgrade result %+v", res)
	}
	serving(t, c, ns, v2, 2)
	if h := history(t, c, ns, "web"); h != "1:superseded 2:deployed" {
		t.Errorf("history %s", h)
	}
	if _, err := d.Deploy(ctx, deploy.Release{Image: v3}); err != nil {
		t.Fatal(err)
	}
	serving(t, c, ns, v3, 2)
	if h := history(t, c, ns, "web"); h != "2:superseded 3:deployed" {
		t.Errorf("history with max history 2: %s", h)
	}
}

// TestE2EBadImageRollsBack: an upgrade whose pods never become ready is
// rolled back to the previous revision, which serves again; the error
// names the failing pods and why.
func TestE2EBadImageRollsBack(t *testing.T) {
	c := clustertest.RequireNode(t)
	ns := c.Namespace(t, "helm-bad")
	ctx := context.Background()
	d := newDeployer(t, env(c, ns), "testdata/web", fast)
	good, bad := appImage(t, "v1"), clustertest.MissingImage()
	if _, err := d.Deploy(ctx, deploy.Release{Image: good}); err != nil {
		t.Fatal(err)
	}
	_, err := d.Deploy(ctx, deploy.Release{Image: bad})
	var rerr *deploy.RolloutError
	if !errors.As(err, &rerr) {
		t.Fatalf("deploy of a bad image: %v, want a *deploy.RolloutError", err)
	}
	t.Logf("error: %v", err)
	if !errors.Is(err, deploy.ErrProgressDeadline) {
		t.Errorf("cause %v, want deploy.ErrProgressDeadline", rerr.Cause)
	}
	if !rerr.RolledBack || rerr.PreviousImage != good || rerr.RollbackErr != nil {
		t.Errorf("rolled back %v to %q (err %v), want a healthy rollback to %s", rerr.RolledBack, rerr.PreviousImage, rerr.RollbackErr, good)
	}
	if len(rerr.Pods) == 0 {
		t.Fatal("no failing pods named")
	}
	for _, p := range rerr.Pods {
		if !(strings.Contains(p.Reason, "ErrImagePull") || strings.Contains(p.Reason, "ImagePullBackOff")) || !strings.HasPrefix(p.Pod, "web-") {
			t.Errorf("failing pod %+v, want web-* in ErrImagePull or ImagePullBackOff", p)
		}
	}
	for _, want := range []string{`helm: environment "staging": release ` + ns + "/web", bad, "rolled back to the previous revision (" + good + ")"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q", want)
		}
	}
	serving(t, c, ns, good, 2)
	if h := history(t, c, ns, "web"); h != "1:superseded 2:failed 3:deployed" {
		t.Errorf("history %s, want the failed upgrade recorded and a rollback revision deployed", h)
	}
	// The next good deploy upgrades from the rolled-back revision.
	if res, err := d.Deploy(ctx, deploy.Release{Image: appImage(t, "v3")}); err != nil || res.Revision != "4" {
		t.Fatalf("deploy after the rollback: %+v, %v", res, err)
	}
}

// TestE2EVerifiesAfterTheWait: the post-deploy checks of package deploy
// (deploy.WithVerifyPaths through WithDeployOptions) run on the release's
// Deployment once Helm's wait is over, as they do after an apply. A good
// image is smoke-tested through the chart's Service and says so; an image
// whose probes pass but whose /metrics answers 500 becomes ready, fails
// the smoke test, and its release is rolled back: the good pods serve
// again and Helm's history shows the failed revision.
func TestE2EVerifiesAfterTheWait(t *testing.T) {
	c := clustertest.RequireNode(t)
	ns := c.Namespace(t, "helm-verify")
	ctx := context.Background()
	run := fmt.Sprint(time.Now().UnixNano())
	good := clustertest.PushAppVersion(t, clustertest.AppServe, "helm-verify-"+run)
	broken := clustertest.PushAppVersion(t, clustertest.AppBrokenMetrics, "helm-verify-"+run)
	d := newDeployer(t, env(c, ns), "testdata/web", fast, helm.WithDeployOptions(deploy.WithVerifyPaths(deploy.DefaultVerifyPaths...)))
	res, err := d.Deploy(ctx, deploy.Release{Image: good})
	if err != nil {
		t.Fatal(err)
	}
	if want := "smoke test passed: GET /health, /ready, /metrics answered 2xx through Service web"; res.Verification != want || !res.Verified {
		t.Errorf("verification %q (verified %v), want %q", res.Verification, res.Verified, want)
	}
	serving(t, c, ns, good, 2)
	_, err = d.Deploy(ctx, deploy.Release{Image: broken})
	t.Logf("error: %v", err)
	var rerr *deploy.RolloutError
	if !errors.As(err, &rerr) || !errors.Is(err, deploy.ErrVerification) {
		t.Fatalf("deploy of an image with broken /metrics: %v, want a *deploy.RolloutError caused by deploy.ErrVerification", err)
	}
	if want := `GET /metrics through Service web: 500 Internal Server Error`; !strings.Contains(err.Error(), want) {
		t.Errorf("error does not say %q", want)
	}
	if !rerr.RolledBack || rerr.PreviousImage != good || rerr.RollbackErr != nil {
		t.Errorf("rolled back %v to %q (err %v), want a healthy rollback to %s", rerr.RolledBack, rerr.PreviousImage, rerr.RollbackErr, good)
	}
	serving(t, c, ns, good, 2)
	if h := history(t, c, ns, "web"); h != "1:superseded 2:failed 3:deployed" {
		t.Errorf("history %s, want the unverified upgrade failed and a rollback revision deployed", h)
	}
}

// TestE2EFailedFirstInstall: a first install that never becomes ready is
// uninstalled; what was in the namespace before is not touched.
func TestE2EFailedFirstInstall(t *testing.T) {
	c := clustertest.RequireNode(t)
	ns := c.Namespace(t, "helm-first")
	ctx := context.Background()
	before, err := c.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "team-settings"}, Data: map[string]string{"owner": "team"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d := newDeployer(t, env(c, ns), "testdata/web", fast)
	_, err = d.Deploy(ctx, deploy.Release{Image: clustertest.MissingImage()})
	var rerr *deploy.RolloutError
	if !errors.As(err, &rerr) {
		t.Fatalf("failed first install: %v, want a *deploy.RolloutError", err)
	}
	t.Logf("error: %v", err)
	if rerr.RolledBack || rerr.RollbackErr != nil || strings.Join(rerr.Removed, ", ") != "ConfigMap web-config, Deployment web, Service web" {
		t.Errorf("rolled back %v, removed %v, rollback error %v: want the three chart objects removed", rerr.RolledBack, rerr.Removed, rerr.RollbackErr)
	}
	if len(rerr.Pods) == 0 || !strings.Contains(err.Error(), "nothing to roll back to (no previous revision): removed what this first deploy created") {
		t.Errorf("error does not name the pods and the removal: %v", err)
	}
	if h := history(t, c, ns, "web"); h != "" {
		t.Errorf("history %q left after the uninstall", h)
	}
	for _, get := range []func() error{
		func() error {
			_, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
			return err
		},
		func() error {
			_, err := c.Client.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
			return err
		},
		func() error {
			_, err := c.Client.CoreV1().ConfigMaps(ns).Get(ctx, "web-config", metav1.GetOptions{})
			return err
		},
	} {
		if err := get(); !apierrors.IsNotFound(err) {
			t.Errorf("a chart object is still there: %v", err)
		}
	}
	pods, _ := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if len(pods.Items) != 0 {
		t.Errorf("%d pods left", len(pods.Items))
	}
	after, err := c.Client.CoreV1().ConfigMaps(ns).Get(ctx, "team-settings", metav1.GetOptions{})
	if err != nil || after.ResourceVersion != before.ResourceVersion || after.Data["owner"] != "team" {
		t.Errorf("the pre-existing ConfigMap was touched: %v, %v", after, err)
	}
	// A good install afterwards starts again at revision 1.
	if res, err := d.Deploy(ctx, deploy.Release{Image: appImage(t, "v1")}); err != nil || res.Revision != "1" {
		t.Fatalf("install after the failed one: %+v, %v", res, err)
	}
}

// TestE2EExistingObjectRefused: an object of the chart's name that belongs
// to no release stops the install before anything is created (Helm's own
// ownership check), and is left as it was.
func TestE2EExistingObjectRefused(t *testing.T) {
	c := clustertest.RequireNode(t)
	ns := c.Namespace(t, "helm-own")
	ctx := context.Background()
	before, err := c.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "web-config"}, Data: map[string]string{"LOG_LEVEL": "TRACE"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = newDeployer(t, env(c, ns), "testdata/web").Deploy(ctx, deploy.Release{Image: appImage(t, "v1")})
	if err == nil || !strings.Contains(err.Error(), "invalid ownership metadata") || !strings.HasSuffix(err.Error(), "; nothing was installed") {
		t.Fatalf("install over a foreign object: %v", err)
	}
	after, err := c.Client.CoreV1().ConfigMaps(ns).Get(ctx, "web-config", metav1.GetOptions{})
	if err != nil || after.ResourceVersion != before.ResourceVersion {
		t.Errorf("the foreign ConfigMap was touched: %v", err)
	}
	if _, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the Deployment was created: %v", err)
	}
}

// TestE2EBadInputChangesNothing: a values path the chart does not read, a
// chart that does not render, and a release stuck in pending-upgrade are
// refused before any change.
func TestE2EBadInputChangesNothing(t *testing.T) {
	c := clustertest.RequireNode(t)
	ns := c.Namespace(t, "helm-input")
	ctx := context.Background()
	e := env(c, ns)
	good := appImage(t, "v1")
	p := `helm: environment "staging": release ` + ns + "/web: "

	_, err := newDeployer(t, e, "testdata/web", helm.WithImageValues(helm.ImageValues{Repository: "image.repo", Digest: "image.sha"})).Deploy(ctx, deploy.Release{Image: good})
	want := p + "chart testdata/web: the values image.repo and image.sha do not reach the rendered Deployment web: its containers run [app: registry.local/web@], none of them " + good +
		"; name the values paths the chart's image template reads (helm.WithImageValues), or make the template read these"
	if err == nil || err.Error() != want {
		t.Errorf("values path error\n got: %v\nwant: %s", err, want)
	}

	_, err = newDeployer(t, e, "testdata/broken", helm.WithRelease("web")).Deploy(ctx, deploy.Release{Image: good})
	if err == nil || !strings.HasPrefix(err.Error(), p+"chart testdata/broken does not render with these values: ") || !strings.Contains(err.Error(), `no template "no-such-template"`) {
		t.Errorf("broken chart: %v", err)
	}
	if h := history(t, c, ns, "web"); h != "" {
		t.Fatalf("bad input left a release: %s", h)
	}
	if deps, _ := c.Client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{}); len(deps.Items) != 0 {
		t.Fatal("bad input created a Deployment")
	}

	// An interrupted upgrade leaves its revision pending-upgrade.
	d := newDeployer(t, e, "testdata/web")
	if _, err := d.Deploy(ctx, deploy.Release{Image: good}); err != nil {
		t.Fatal(err)
	}
	markPending(t, c, ns, "web")
	_, err = d.Deploy(ctx, deploy.Release{Image: appImage(t, "v2")})
	if err == nil || !strings.HasPrefix(err.Error(), p+"the release is stuck in pending-upgrade (revision 2, since ") ||
		!strings.HasSuffix(err.Error(), "an earlier helm operation was interrupted or is still running, so nothing was changed; if no other deploy is running, roll it back (helm rollback web 1 -n "+ns+") and deploy again") {
		t.Errorf("pending release: %v", err)
	}
	if h := history(t, c, ns, "web"); h != "1:deployed 2:pending-upgrade" {
		t.Errorf("history %s", h)
	}
	serving(t, c, ns, good, 2)
}

// markPending records a revision 2 in pending-upgrade, as a helm upgrade
// killed midway leaves it.
func markPending(t *testing.T, c *clustertest.Cluster, ns, rel string) {
	t.Helper()
	cfg := actionConfig(t, c, ns)
	last, err := cfg.Releases.Last(rel)
	if err != nil {
		t.Fatal(err)
	}
	next := *last
	info := *last.Info
	next.Info, next.Version = &info, last.Version+1
	next.Info.Status = "pending-upgrade"
	if err := cfg.Releases.Create(&next); err != nil {
		t.Fatal(err)
	}
}

// actionConfig is a Helm action configuration from the admin kubeconfig,
// as the helm CLI would build it.
func actionConfig(t *testing.T, c *clustertest.Cluster, ns string) *action.Configuration {
	t.Helper()
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, c.Kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	flags := genericFlags(kc, ns)
	cfg := &action.Configuration{}
	if err := cfg.Init(flags, ns, "secret", func(string, ...any) {}); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestE2EOCIChart: the chart is pushed to an OCI registry as Helm pushes
// it, and deployed from oci://.
func TestE2EOCIChart(t *testing.T) {
	c := clustertest.RequireNode(t)
	ns := c.Namespace(t, "helm-oci")
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	ch, err := loader.Load("testdata/web")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pkg, err := chartSave(ch, dir)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(pkg)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := registry.NewClient(registry.ClientOptPlainHTTP(), registry.ClientOptWriter(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Push(data, host+"/charts/web:0.1.0"); err != nil {
		t.Fatal(err)
	}
	d := newDeployer(t, env(c, ns), "oci://"+host+"/charts/web:0.1.0", helm.WithRegistry(registry.ClientOptPlainHTTP()))
	res, err := d.Deploy(context.Background(), deploy.Release{Image: appImage(t, "oci")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != "1" {
		t.Fatalf("result %+v", res)
	}
	serving(t, c, ns, appImage(t, "oci"), 2)
	_, err = newDeployer(t, env(c, ns), "oci://"+host+"/charts/nope:0.1.0", helm.WithRegistry(registry.ClientOptPlainHTTP())).Deploy(context.Background(), deploy.Release{Image: appImage(t, "oci")})
	if err == nil || !strings.Contains(err.Error(), "chart oci://"+host+"/charts/nope:0.1.0: pulling it: ") {
		t.Fatalf("a missing chart: %v", err)
	}
}

// TestE2EPromotionGate: production refuses a digest without staging and
// scan evidence and installs nothing; with the evidence Recording wrote
// from the staging Helm deploy, and a clean scan, it goes through.
func TestE2EPromotionGate(t *testing.T) {
	c := clustertest.RequireNode(t)
	ctx := context.Background()
	// The image lives in the engine's registry, where the node pulls it
	// from, and the evidence lives beside it. A version of its own per run:
	// a digest with evidence from an earlier run would pass the gate.
	img, err := name.NewDigest(appImage(t, fmt.Sprint("promotion-", time.Now().UnixNano())))
	if err != nil {
		t.Fatal(err)
	}
	store := deploy.NewReferrers(remote.WithTransport(clustertest.RegistryTransport(t)))
	gate := &deploy.PromotionGate{Store: store, Staging: "staging"}
	staging := env(c, c.Namespace(t, "helm-stg"))
	prod := deploy.Environment{Name: "production", Tier: pipeline.Production, Namespace: c.Namespace(t, "helm-prod"), Kubeconfig: deploy.KubeconfigBytes(c.Kubeconfig),
		NodeSelector: clustertest.NodeSelector()}
	toStaging := deploy.Gated(deploy.Recording(newDeployer(t, staging, "testdata/web"), staging, store), staging, gate)
	toProd := deploy.Gated(deploy.Recording(newDeployer(t, prod, "testdata/web", helm.WithValuesFiles("testdata/web/values-production.yaml")), prod, store), prod, gate)
	rel := deploy.Release{Image: img.String(), Approval: &deploy.Approval{By: "release-manager"}}

	_, err = toProd.Deploy(ctx, rel)
	if !errors.Is(err, deploy.ErrNotVerifiedInStaging) || !errors.Is(err, deploy.ErrNotScannedClean) {
		t.Fatalf("production without evidence: %v, want a refusal naming both checks", err)
	}
	if h := history(t, c, prod.Namespace, "web"); h != "" {
		t.Fatalf("a refused production deploy installed %s", h)
	}
	if _, err := toStaging.Deploy(ctx, rel); err != nil {
		t.Fatal(err)
	}
	if err := deploy.RecordScan(ctx, store, img.String(), "trivy", "HIGH,CRITICAL", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := toProd.Deploy(ctx, deploy.Release{Image: img.String()}); !errors.Is(err, deploy.ErrNotApproved) {
		t.Fatalf("production without approval: %v", err)
	}
	res, err := toProd.Deploy(ctx, rel)
	if err != nil {
		t.Fatal(err)
	}
	if res.Environment != "production" || res.Revision != "1" {
		t.Fatalf("result %+v", res)
	}
	serving(t, c, prod.Namespace, img.String(), 3) // values-production.yaml
	evs, err := store.Evidence(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	var envs []string
	for _, ev := range evs {
		if ev.Kind == deploy.Deployed {
			envs = append(envs, ev.Environment+"@"+ev.Revision)
		}
	}
	if fmt.Sprint(envs) != "[staging@1 production@1]" {
		t.Fatalf("deployed evidence %v, want [staging@1 production@1]", envs)
	}
}

func genericFlags(kubeconfig, ns string) *genericclioptions.ConfigFlags {
	f := genericclioptions.NewConfigFlags(false)
	f.KubeConfig, f.Namespace = &kubeconfig, &ns
	return f
}

func chartSave(ch *chart.Chart, dir string) (string, error) { return chartutil.Save(ch, dir) }

// Benchmarks: the time from the call to a ready release of a new digest,
// slipway's Helm deploy against `helm upgrade --install --wait` of the same
// chart, values and cluster, in the same run. The helm CLI is built once
// from the Helm module slipway links (internal/gotool), for the baseline
// only. `make bench` prints BenchmarkHelmDeploy/BenchmarkHelmCLIUpgradeWait.
func BenchmarkHelmDeploy(b *testing.B) {
	c := clustertest.RequireNode(b)
	ns := c.Namespace(b, "bench-helm-sdk")
	ctx := context.Background()
	d := newDeployer(b, env(c, ns), "testdata/web")
	if _, err := d.Deploy(ctx, deploy.Release{Image: appImage(b, "bench-0")}); err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		img := appImage(b, fmt.Sprint("bench-", i+1))
		b.StartTimer()
		if _, err := d.Deploy(ctx, deploy.Release{Image: img}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHelmCLIUpgradeWait(b *testing.B) {
	c := clustertest.RequireNode(b)
	helmBin, err := gotool.Helm.Build(context.Background())
	if err != nil {
		e2e.Unavailable(b, fmt.Errorf("building the helm CLI for the baseline: %w", err))
	}
	ns := c.Namespace(b, "bench-helm-cli")
	kc := filepath.Join(b.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, c.Kubeconfig, 0o600); err != nil {
		b.Fatal(err)
	}
	home := b.TempDir()
	upgrade := func(label string) {
		b.StopTimer()
		repo, digest, _ := strings.Cut(appImage(b, label), "@")
		b.StartTimer()
		cmd := exec.Command(helmBin, "upgrade", "--install", "web", "testdata/web", "-f", "testdata/web/values-staging.yaml",
			"--set", "image.repository="+repo, "--set", "image.digest="+digest, "--wait", "--timeout", "2m", "--kubeconfig", kc, "-n", ns)
		// A private helm home: no repositories or registry logins of the
		// machine's user leak into the baseline.
		cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("helm upgrade: %v\n%s", err, out)
		}
	}
	upgrade("bench-0")
	for i := 0; b.Loop(); i++ {
		upgrade(fmt.Sprint("bench-", i+1))
	}
}
