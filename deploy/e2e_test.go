package deploy_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/slipway-ci/slipway/deploy"
	"github.com/slipway-ci/slipway/internal/clustertest"
	"github.com/slipway-ci/slipway/pipeline"
)

// The deploys below run on the control plane's real node (a kubelet with
// containerd): their images are the test app (internal/clustertest),
// pushed by digest to the engine's registry, so a rollout completes only
// when its containers really run and answer their HTTP readiness probes,
// and a failed one fails for a real reason: a crash, a digest the registry
// lacks, a probe that answers 503.

// appImage pushes the serving test app as version: a real image under its
// own digest.
func appImage(t testing.TB, version string) string {
	t.Helper()
	return clustertest.PushAppVersion(t, clustertest.AppServe, version)
}

// fakeImage is a digest reference no node ever pulls: for deploys that are
// refused before anything runs.
func fakeImage(label string) string {
	sum := sha256.Sum256([]byte(label))
	return "registry.local/web@sha256:" + hex.EncodeToString(sum[:])
}

type bundleOpts struct {
	replicas         int64
	progressDeadline int64
	minReady         int64
}

// bundle is a service the way a team ships it: a Deployment whose image
// slipway fills in, a Service and a ConfigMap.
func bundle(o bundleOpts) []*unstructured.Unstructured {
	if o.replicas == 0 {
		o.replicas = 3
	}
	if o.progressDeadline == 0 {
		o.progressDeadline = 600
	}
	return []*unstructured.Unstructured{
		{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "web-config"},
			"data":     map[string]any{"LOG_LEVEL": "INFO"},
		}},
		{Object: map[string]any{
			"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": "web", "labels": map[string]any{"app": "web"}},
			"spec": map[string]any{
				"replicas":                o.replicas,
				"progressDeadlineSeconds": o.progressDeadline,
				"minReadySeconds":         o.minReady,
				"selector":                map[string]any{"matchLabels": map[string]any{"app": "web"}},
				"strategy":                map[string]any{"rollingUpdate": map[string]any{"maxSurge": int64(1), "maxUnavailable": int64(0)}},
				"template": map[string]any{
					"metadata": map[string]any{"labels": map[string]any{"app": "web"}},
					"spec": map[string]any{"containers": []any{map[string]any{
						"name": "app", "image": "filled-in-by-slipway",
						"ports": []any{map[string]any{"containerPort": int64(clustertest.AppPort), "name": "http"}},
						// Real probes, called by the real node's kubelet.
						"readinessProbe": map[string]any{"httpGet": map[string]any{"path": "/ready", "port": "http"}, "periodSeconds": int64(1)},
						"livenessProbe":  map[string]any{"httpGet": map[string]any{"path": "/health", "port": "http"}, "periodSeconds": int64(5)},
						// A pod being removed stays in the Service's
						// endpoints for a moment after it is told to stop:
						// it keeps serving that moment, as a zero-downtime
						// workload must (without it, one request in ~40
						// during a rollback met a closed port).
						"lifecycle": map[string]any{"preStop": map[string]any{"sleep": map[string]any{"seconds": int64(2)}}},
					}}},
				},
			},
		}},
		{Object: map[string]any{
			"apiVersion": "v1", "kind": "Service",
			"metadata": map[string]any{"name": "web"},
			"spec": map[string]any{
				"selector": map[string]any{"app": "web"},
				"ports":    []any{map[string]any{"port": int64(80), "targetPort": "http"}},
			},
		}},
	}
}

// stagingEnv is a staging environment in ns whose pods run on the real
// node: the node selector the reference pipeline sets.
func stagingEnv(c *clustertest.Cluster, ns string) deploy.Environment {
	return deploy.Environment{Name: "staging", Tier: pipeline.Staging, Namespace: ns, Kubeconfig: deploy.KubeconfigBytes(c.Kubeconfig), URL: "https://staging.example.test",
		NodeSelector: clustertest.NodeSelector()}
}

func newClient(t testing.TB, env deploy.Environment, opts ...deploy.Option) *deploy.Client {
	t.Helper()
	d, err := deploy.New(context.Background(), env, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// serving checks what the namespace serves: the Deployment's template
// image, and that every replica is ready, runs that image, and runs on the
// real node.
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
	if int(d.Status.AvailableReplicas) != replicas || int(d.Status.UpdatedReplicas) != replicas {
		t.Fatalf("available %d updated %d, want %d", d.Status.AvailableReplicas, d.Status.UpdatedReplicas, replicas)
	}
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: labels.Set{"app": "web"}.String()})
	if err != nil {
		t.Fatal(err)
	}
	ready := 0
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				if img := p.Spec.Containers[0].Image; img != want {
					t.Errorf("ready pod %s runs %s, want %s", p.Name, img, want)
				}
				if p.Spec.NodeName != c.Node {
					t.Errorf("ready pod %s runs on %q, want the real node %q", p.Name, p.Spec.NodeName, c.Node)
				}
				ready++
			}
		}
	}
	if ready != replicas {
		t.Fatalf("%d ready pods, want %d", ready, replicas)
	}
}

func TestE2EGoodRollout(t *testing.T) {
	c := clustertest.RequireNode(t)
	ns := c.Namespace(t, "good")
	ctx := context.Background()
	d := newClient(t, stagingEnv(c, ns))
	v1, v2 := appImage(t, "v1"), appImage(t, "v2")

	start := time.Now()
	res, err := d.Deploy(ctx, deploy.Release{Bundle: bundle(bundleOpts{}), Image: v1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first rollout (3 replicas): %s", time.Since(start))
	if res.Image != v1 || res.Revision != "1" || res.Namespace != ns || len(res.Applied) != 3 {
		t.Fatalf("result %+v", res)
	}
	serving(t, c, ns, v1, 3)

	start = time.Now()
	res, err = d.Deploy(ctx, deploy.Release{Bundle: bundle(bundleOpts{}), Image: v2})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image update rollout: %s", time.Since(start))
	if res.Revision != "2" {
		t.Fatalf("revision %q, want 2", res.Revision)
	}
	serving(t, c, ns, v2, 3)

	dep, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	managers := map[string]bool{}
	for _, mf := range dep.ManagedFields {
		managers[string(mf.Operation)+"/"+mf.Manager] = true
	}
	if !managers["Apply/"+deploy.FieldManager] {
		t.Errorf("managed fields %v: want a server-side apply by %q", managers, deploy.FieldManager)
	}

	// A tag never reaches the cluster.
	_, err = d.Deploy(ctx, deploy.Release{Bundle: bundle(bundleOpts{}), Image: "registry.local/web:latest"})
	if err == nil || !strings.Contains(err.Error(), "is a tag, not a digest") {
		t.Fatalf("deploy by tag: %v", err)
	}
	serving(t, c, ns, v2, 3)
}

// TestE2EBadImageRollsBack: a release whose pods never become ready on
// the real node (a binary that exits at start, a digest the registry lacks,
// a readiness probe that answers 503) stalls the rollout until the
// Deployment's progress deadline; the deploy then rolls back to the
// previous image, names the failing pod and its real reason, and the
// previous pods serve throughout (maxUnavailable 0): a client polling
// /health through the Service (the API server's service proxy, which
// picks a ready endpoint as kube-proxy would; the local cluster runs no
// kube-proxy) sees no failed request during the rollout and the rollback.
func TestE2EBadImageRollsBack(t *testing.T) {
	c := clustertest.RequireNode(t)
	good := appImage(t, "v1")
	for _, tc := range []struct {
		name    string
		image   string
		reasons []string // the failing pod's reason names one of these
	}{
		{"crash at start", clustertest.PushApp(t, clustertest.AppCrash), []string{"CrashLoopBackOff"}},
		{"digest not in the registry", clustertest.MissingImage(), []string{"ErrImagePull", "ImagePullBackOff"}},
		{"readiness probe fails", clustertest.PushApp(t, clustertest.AppUnready), []string{"container app: not ready"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := c.Namespace(t, "bad")
			ctx := context.Background()
			d := newClient(t, stagingEnv(c, ns), deploy.WithRolloutTimeout(2*time.Minute))
			// The deadline leaves the kubelet time to restart the crashing
			// binary once and back off (CrashLoopBackOff).
			b := bundle(bundleOpts{progressDeadline: 12})
			if _, err := d.Deploy(ctx, deploy.Release{Bundle: b, Image: good}); err != nil {
				t.Fatal(err)
			}
			stop := pollService(t, c, ns, "web")
			start := time.Now()
			_, err := d.Deploy(ctx, deploy.Release{Bundle: b, Image: tc.image})
			t.Logf("failed rollout + rollback: %s", time.Since(start))
			if n, failed := stop(); n == 0 || len(failed) > 0 {
				t.Errorf("%d requests to /health through the Service during the rollout and rollback, %d failed: %q", n, len(failed), failed)
			} else {
				t.Logf("%d requests to /health through the Service, none failed", n)
			}
			var rerr *deploy.RolloutError
			if !errors.As(err, &rerr) {
				t.Fatalf("deploy of a bad image: %v, want a *RolloutError", err)
			}
			t.Logf("error: %v", err)
			if !errors.Is(err, deploy.ErrProgressDeadline) {
				t.Errorf("cause %v, want ErrProgressDeadline", rerr.Cause)
			}
			if !rerr.RolledBack || rerr.PreviousImage != good || rerr.RollbackErr != nil {
				t.Errorf("rolled back %v to %q (err %v), want a healthy rollback to %s", rerr.RolledBack, rerr.PreviousImage, rerr.RollbackErr, good)
			}
			if len(rerr.Pods) == 0 {
				t.Fatal("no failing pods named")
			}
			for _, p := range rerr.Pods {
				if !strings.HasPrefix(p.Pod, "web-") || !slices.ContainsFunc(tc.reasons, func(r string) bool { return strings.Contains(p.Reason, r) }) {
					t.Errorf("failing pod %+v, want web-* failing with one of %q", p, tc.reasons)
				}
			}
			for _, want := range []string{`environment "staging"`, "Deployment " + ns + "/web", tc.image, "rolled back to the previous revision (" + good + ")"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not name %q", want)
				}
			}
			serving(t, c, ns, good, 3)
		})
	}
}

// pollService GETs /health through the Service name's port 80, by the API
// server's service proxy, every 50 ms until the returned stop is called;
// stop returns how many requests were made and the failures.
func pollService(t *testing.T, c *clustertest.Cluster, ns, name string) (stop func() (int, []string)) {
	t.Helper()
	done := make(chan struct{})
	var n int
	var failed []string
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			out, err := c.Client.CoreV1().Services(ns).ProxyGet("http", name, "80", "/health", nil).DoRaw(ctx)
			cancel()
			n++
			if err != nil || strings.TrimSpace(string(out)) != "ok" {
				failed = append(failed, fmt.Sprintf("%s: %q %v", time.Now().Format("15:04:05.000"), out, err))
			}
		}
	}()
	return func() (int, []string) {
		close(done)
		<-finished
		return n, failed
	}
}

// TestE2EAPIServerRestart stops the API server in the middle of a rollout
// (minReadySeconds stretches it to several seconds) and starts it again:
// the deploy must ride through it and report the completed rollout.
func TestE2EAPIServerRestart(t *testing.T) {
	c := clustertest.RequireExclusiveNode(t)
	ns := c.Namespace(t, "restart")
	ctx := context.Background()
	d := newClient(t, stagingEnv(c, ns), deploy.WithRolloutTimeout(2*time.Minute), deploy.WithApplyRetry(time.Minute))
	v1, v2 := appImage(t, "v1"), appImage(t, "v2")
	b := bundle(bundleOpts{minReady: 2})
	if _, err := d.Deploy(ctx, deploy.Release{Bundle: b, Image: v1}); err != nil {
		t.Fatal(err)
	}
	type result struct {
		res *deploy.Result
		err error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		res, err := d.Deploy(ctx, deploy.Release{Bundle: b, Image: v2})
		done <- result{res, err}
	}()
	time.Sleep(700 * time.Millisecond) // applied, and the first new pod is in minReadySeconds
	// Most of this test's time is the kubelet's and the controller-manager's
	// watch back-off after the outage; slipway's own watch re-opens within
	// a second.
	if err := c.RestartAPIServer(ctx, 500*time.Millisecond); err != nil {
		t.Fatalf("restarting the API server: %v", err)
	}
	t.Logf("API server back after %s", time.Since(start))
	r := <-done
	t.Logf("deploy across the restart: %s", time.Since(start))
	if r.err != nil {
		t.Fatalf("deploy across an API server restart: %v", r.err)
	}
	if r.res.Image != v2 {
		t.Fatalf("result %+v", r.res)
	}
	serving(t, c, ns, v2, 3)
}

func TestE2EClearErrors(t *testing.T) {
	c := clustertest.Require(t)
	ctx := context.Background()
	ns := c.Namespace(t, "errors")
	// Every deploy here is refused before a pod exists: no image is pulled.
	rel := deploy.Release{Bundle: bundle(bundleOpts{}), Image: fakeImage("v1")}

	// An identity with no rights: a ServiceAccount's token, no bindings.
	if _, err := c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "nobody"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tok, err := c.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "nobody", &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	noRights := kubeconfigWith(t, c.Kubeconfig, func(cfg *clientcmdapi.Config) {
		for _, a := range cfg.AuthInfos {
			*a = clientcmdapi.AuthInfo{Token: tok.Status.Token}
		}
	})
	unreachable := kubeconfigWith(t, c.Kubeconfig, func(cfg *clientcmdapi.Config) {
		for _, cl := range cfg.Clusters {
			cl.Server = "https://127.0.0.1:1"
		}
	})
	for _, tc := range []struct {
		name string
		env  deploy.Environment
		want []string
	}{
		{"missing namespace", deploy.Environment{Name: "staging", Namespace: "does-not-exist", Kubeconfig: deploy.KubeconfigBytes(c.Kubeconfig)},
			[]string{`namespace "does-not-exist" does not exist`, "kubectl create namespace does-not-exist"}},
		{"RBAC denied", deploy.Environment{Name: "staging", Namespace: ns, Kubeconfig: deploy.KubeconfigBytes(noRights)},
			[]string{"forbidden", `system:serviceaccount:` + ns + `:nobody`, "RBAC denied this", "applying ConfigMap web-config"}},
		{"unreachable cluster", deploy.Environment{Name: "staging", Namespace: ns, Kubeconfig: deploy.KubeconfigBytes(unreachable)},
			[]string{"cannot reach the API server https://127.0.0.1:1", "connection refused"}},
		{"missing kubeconfig secret", deploy.Environment{Name: "staging", Namespace: ns, Kubeconfig: deploy.KubeconfigEnv("SLIPWAY_E2E_UNSET_KUBECONFIG")},
			[]string{"the kubeconfig variable SLIPWAY_E2E_UNSET_KUBECONFIG is not set"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := deploy.New(ctx, tc.env, deploy.WithApplyRetry(300*time.Millisecond), deploy.WithRequestTimeout(5*time.Second))
			if err == nil {
				d := newClient(t, tc.env, deploy.WithApplyRetry(300*time.Millisecond), deploy.WithRequestTimeout(5*time.Second))
				_, err = d.Deploy(ctx, rel)
			}
			if err == nil {
				t.Fatal("deploy succeeded")
			}
			for _, w := range append(tc.want, `environment "staging"`) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if time.Since(start) > 10*time.Second {
				t.Errorf("took %s to fail", time.Since(start))
			}
		})
	}
	if deps, err := c.Client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{}); err != nil || len(deps.Items) != 0 {
		t.Fatalf("a refused deploy left %v (%v)", deps, err)
	}
}

func kubeconfigWith(t *testing.T, raw []byte, edit func(*clientcmdapi.Config)) []byte {
	t.Helper()
	cfg, err := clientcmd.Load(raw)
	if err != nil {
		t.Fatal(err)
	}
	edit(cfg)
	out, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestE2EPromotion runs the whole path on the real cluster: production
// refuses a digest without staging evidence; staging deploys and records
// it; a clean scan and an approval let production have it.
func TestE2EPromotion(t *testing.T) {
	c := clustertest.RequireNode(t)
	ctx := context.Background()
	// The image lives in the engine's registry, where the node pulls it
	// from, and the evidence lives beside it. A version of its own per run:
	// a digest with evidence from an earlier run would pass the gate.
	d, err := name.NewDigest(appImage(t, fmt.Sprint("promotion-", time.Now().UnixNano())))
	if err != nil {
		t.Fatal(err)
	}
	store := deploy.NewReferrers(remote.WithTransport(clustertest.RegistryTransport(t)))
	gate := &deploy.PromotionGate{Store: store, Staging: "staging"}
	staging := stagingEnv(c, c.Namespace(t, "stg"))
	prod := deploy.Environment{Name: "production", Tier: pipeline.Production, Namespace: c.Namespace(t, "prod"), Kubeconfig: deploy.KubeconfigBytes(c.Kubeconfig), Replicas: 2,
		NodeSelector: clustertest.NodeSelector()}
	toStaging := deploy.Gated(deploy.Recording(newClient(t, staging), staging, store), staging, gate)
	toProd := deploy.Gated(deploy.Recording(newClient(t, prod), prod, store), prod, gate)
	rel := deploy.Release{Bundle: bundle(bundleOpts{}), Image: d.String(), Approval: &deploy.Approval{By: "release-manager"}}

	_, err = toProd.Deploy(ctx, rel)
	if !errors.Is(err, deploy.ErrNotVerifiedInStaging) || !errors.Is(err, deploy.ErrNotScannedClean) {
		t.Fatalf("production without evidence: %v, want refusal naming both checks", err)
	}
	if deps, _ := c.Client.AppsV1().Deployments(prod.Namespace).List(ctx, metav1.ListOptions{}); len(deps.Items) != 0 {
		t.Fatal("a refused production deploy reached the cluster")
	}
	if _, err := toStaging.Deploy(ctx, rel); err != nil {
		t.Fatal(err)
	}
	if _, err := toProd.Deploy(ctx, rel); !errors.Is(err, deploy.ErrNotScannedClean) || errors.Is(err, deploy.ErrNotVerifiedInStaging) {
		t.Fatalf("production after staging, unscanned: %v", err)
	}
	if err := deploy.RecordScan(ctx, store, d.String(), "trivy", "HIGH,CRITICAL", 0); err != nil {
		t.Fatal(err)
	}
	res, err := toProd.Deploy(ctx, rel)
	if err != nil {
		t.Fatal(err)
	}
	if res.Environment != "production" || res.Image != d.String() {
		t.Fatalf("result %+v", res)
	}
	serving(t, c, prod.Namespace, d.String(), 2)
	evs, err := store.Evidence(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	var envs []string
	for _, ev := range evs {
		if ev.Kind == deploy.Deployed {
			envs = append(envs, ev.Environment)
		}
	}
	if fmt.Sprint(envs) != "[staging production]" {
		t.Fatalf("deployed evidence for %v, want [staging production]", envs)
	}
}

// Benchmarks: the time from the call to a completed rollout of a new image
// on a 3-replica Deployment, slipway against kubectl on the same cluster in
// the same run. `make bench` prints the ratio
// BenchmarkDeployRollout/BenchmarkKubectlRollout.
func BenchmarkDeployRollout(b *testing.B) {
	c := clustertest.RequireNode(b)
	ns := c.Namespace(b, "bench-slipway")
	ctx := context.Background()
	d := newClient(b, stagingEnv(c, ns))
	bun := bundle(bundleOpts{})
	if _, err := d.Deploy(ctx, deploy.Release{Bundle: bun, Image: appImage(b, "bench-0")}); err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		img := appImage(b, fmt.Sprint("bench-", i+1))
		b.StartTimer()
		if _, err := d.Deploy(ctx, deploy.Release{Bundle: bun, Image: img}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKubectlRollout(b *testing.B) {
	c := clustertest.RequireNode(b)
	ns := c.Namespace(b, "bench-kubectl")
	ctx := context.Background()
	d := newClient(b, stagingEnv(c, ns))
	if _, err := d.Deploy(ctx, deploy.Release{Bundle: bundle(bundleOpts{}), Image: appImage(b, "bench-0")}); err != nil {
		b.Fatal(err)
	}
	kubectl := func(args ...string) {
		out, err := exec.Command(c.Kubectl(), append([]string{"--kubeconfig", c.KubeconfigPath, "-n", ns}, args...)...).CombinedOutput()
		if err != nil {
			b.Fatalf("kubectl %v: %v\n%s", args, err, out)
		}
	}
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		img := appImage(b, fmt.Sprint("bench-", i+1))
		b.StartTimer()
		kubectl("set", "image", "deployment/web", "app="+img)
		kubectl("rollout", "status", "deployment/web", "--timeout=60s")
	}
}

// TestE2EFailedVerificationRollsBack: the rollout completes, but the
// verification hook (a smoke test against the environment's URL) fails:
// that is a failed deploy, rolled back like a failed rollout.
func TestE2EFailedVerificationRollsBack(t *testing.T) {
	c := clustertest.RequireNode(t)
	ns := c.Namespace(t, "verify")
	ctx := context.Background()
	env := stagingEnv(c, ns)
	v1, v2 := appImage(t, "v1"), appImage(t, "v2")
	if _, err := newClient(t, env).Deploy(ctx, deploy.Release{Bundle: bundle(bundleOpts{}), Image: v1}); err != nil {
		t.Fatal(err)
	}
	var checked []string
	d := newClient(t, env).WithVerify(func(_ context.Context, env deploy.Environment, r *deploy.Result) error {
		checked = append(checked, r.Image)
		if r.Image == v2 {
			return fmt.Errorf("GET %s/ready: 503", env.URL)
		}
		return nil
	})
	_, err := d.Deploy(ctx, deploy.Release{Bundle: bundle(bundleOpts{}), Image: v2})
	var rerr *deploy.RolloutError
	if !errors.As(err, &rerr) || !rerr.RolledBack || !strings.Contains(err.Error(), "verification failed: GET https://staging.example.test/ready: 503") {
		t.Fatalf("deploy with a failing verification: %v", err)
	}
	if fmt.Sprint(checked) != fmt.Sprint([]string{v2}) {
		t.Fatalf("verified %v, want only %s", checked, v2)
	}
	serving(t, c, ns, v1, 3)
}

// TestE2EFirstDeployFails: with no previous revision there is nothing to
// roll back to; like helm install --atomic, the deploy removes what it
// created (and waits until it is gone, pods included), names it, and
// leaves every object that existed before it. Without rollback the failed
// Deployment is left as it is.
func TestE2EFirstDeployFails(t *testing.T) {
	c := clustertest.RequireNode(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name        string
		opts        []deploy.Option
		preService  []corev1.ServicePort // a Service web with these ports exists before the deploy
		applyFails  bool
		wantRemoved []string
		wantKept    []string
		wantErr     string
	}{
		{name: "removes what it created",
			wantRemoved: []string{"Service web", "Deployment web", "ConfigMap web-config"},
			wantErr:     "nothing to roll back to (no previous revision): removed what this first deploy created: Service web, Deployment web, ConfigMap web-config"},
		{name: "keeps what existed", preService: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromString("http")}},
			wantRemoved: []string{"Deployment web", "ConfigMap web-config"}, wantKept: []string{"Service web"},
			wantErr: "removed what this first deploy created: Deployment web, ConfigMap web-config; kept Service web: they existed before this deploy"},
		// The bundle's unnamed port 80 and the Service's unnamed port 81
		// cannot be merged: the apply fails halfway, after creating two
		// objects, and those two are removed again.
		{name: "apply fails halfway", preService: []corev1.ServicePort{{Port: 81}}, applyFails: true,
			wantRemoved: []string{"Deployment web", "ConfigMap web-config"}, wantKept: []string{"Service web"},
			wantErr: `applying Service web: Service "web" is invalid: [spec.ports[0].name: Required value, spec.ports[1].name: Required value]; removed what this deploy had created: Deployment web, ConfigMap web-config`},
		{name: "rollback disabled", opts: []deploy.Option{deploy.WithoutRollback()},
			wantErr: "left as it is (rollback disabled)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := c.Namespace(t, "first")
			var pre *corev1.Service
			if tc.preService != nil {
				var err error
				pre, err = c.Client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
					ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"owner": "someone-else"}},
					Spec:       corev1.ServiceSpec{Ports: tc.preService},
				}, metav1.CreateOptions{})
				if err != nil {
					t.Fatal(err)
				}
			}
			d := newClient(t, stagingEnv(c, ns), tc.opts...)
			start := time.Now()
			_, err := d.Deploy(ctx, deploy.Release{Bundle: bundle(bundleOpts{progressDeadline: 2}), Image: clustertest.MissingImage()})
			t.Logf("failed first deploy + removal: %s", time.Since(start))
			t.Logf("error: %v", err)
			var rerr *deploy.RolloutError
			switch {
			case err == nil || !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("error %v, want %q", err, tc.wantErr)
			case tc.applyFails:
				if errors.As(err, &rerr) {
					t.Errorf("a failed apply reported as a rollout: %v", err)
				}
			case !errors.As(err, &rerr) || rerr.RolledBack || len(rerr.Pods) != 3:
				t.Fatalf("first deploy of a bad image: %v, want a *RolloutError, not rolled back, naming the three failing pods", err)
			case fmt.Sprint(rerr.Removed) != fmt.Sprint(tc.wantRemoved) || fmt.Sprint(rerr.Kept) != fmt.Sprint(tc.wantKept):
				t.Errorf("removed %q kept %q, want %q and %q", rerr.Removed, rerr.Kept, tc.wantRemoved, tc.wantKept)
			case tc.wantRemoved != nil && rerr.RollbackErr != nil:
				t.Errorf("RollbackErr %v after a complete removal", rerr.RollbackErr)
			}
			deps, err := c.Client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if rollback := tc.wantRemoved != nil; rollback == (len(deps.Items) != 0) {
				t.Fatalf("%d Deployments left in the namespace (rollback %v)", len(deps.Items), rollback)
			}
			if tc.wantRemoved == nil {
				return
			}
			// Foreground deletion: the ReplicaSets and pods are gone too.
			rss, err := c.Client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
			if err != nil || len(rss.Items) != 0 {
				t.Errorf("ReplicaSets left: %d (%v)", len(rss.Items), err)
			}
			// A pod the ReplicaSet created while it was being deleted is
			// the garbage collector's to remove once its owner is gone; on
			// a real node that takes the kubelet's graceful termination,
			// not the instant kwok takes.
			var pods *corev1.PodList
			err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
				var err error
				pods, err = c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
				return err == nil && len(pods.Items) == 0, nil
			})
			if err != nil {
				t.Errorf("pods left a minute after the removal: %d", len(pods.Items))
			} else {
				t.Logf("no pod left %s after the deploy returned", time.Since(start))
			}
			if _, err := c.Client.CoreV1().ConfigMaps(ns).Get(ctx, "web-config", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("ConfigMap web-config: %v, want it removed", err)
			}
			svc, err := c.Client.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
			switch {
			case pre == nil && !apierrors.IsNotFound(err):
				t.Errorf("Service web: %v, want it removed", err)
			case pre != nil && err != nil:
				t.Errorf("the Service that existed before the deploy was removed: %v", err)
			case pre != nil && (svc.UID != pre.UID || svc.Labels["owner"] != "someone-else"):
				t.Errorf("the Service that existed before the deploy was replaced: uid %s labels %v, want %s", svc.UID, svc.Labels, pre.UID)
			}
		})
	}
}

// TestE2EFailedDeployAfterFailedFirstDeploy: a first deploy left as it is
// (rollback disabled) and a second failing deploy: still no previous
// revision, but the Deployment existed before the second deploy, so it is
// not removed, and the error says why.
func TestE2EFailedDeployAfterFailedFirstDeploy(t *testing.T) {
	c := clustertest.RequireNode(t)
	ctx := context.Background()
	ns := c.Namespace(t, "refail")
	rel := deploy.Release{Bundle: bundle(bundleOpts{progressDeadline: 2}), Image: clustertest.MissingImage()}
	if _, err := newClient(t, stagingEnv(c, ns), deploy.WithoutRollback()).Deploy(ctx, rel); err == nil {
		t.Fatal("a bad image deployed")
	}
	before, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = newClient(t, stagingEnv(c, ns)).Deploy(ctx, rel)
	t.Logf("error: %v", err)
	var rerr *deploy.RolloutError
	if !errors.As(err, &rerr) || rerr.RolledBack || len(rerr.Removed) != 0 || rerr.RollbackErr == nil ||
		!strings.Contains(err.Error(), "NOT rolled back: there is no previous revision to roll back to, and the Deployment existed before this deploy") {
		t.Fatalf("second failing deploy: %v", err)
	}
	if fmt.Sprint(rerr.Kept) != "[ConfigMap web-config Deployment web Service web]" {
		t.Errorf("kept %q, want the three objects of the first deploy", rerr.Kept)
	}
	after, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil || after.UID != before.UID {
		t.Fatalf("the Deployment that existed before was removed or replaced: %v", err)
	}
}

// TestE2ETunnel reaches the API server through a TCP forwarder on an
// address the server certificate does not name (127.0.0.2), as a Dagger
// function reaches it through a host service: TLS is still verified,
// against the kubeconfig's own server name.
func TestE2ETunnel(t *testing.T) {
	c := clustertest.RequireNode(t)
	ns := c.Namespace(t, "tunnel")
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 on this host: %v", err)
	}
	defer l.Close()
	upstream := strings.TrimPrefix(c.Server(), "https://")
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer in.Close()
				out, err := net.Dial("tcp", upstream)
				if err != nil {
					return
				}
				defer out.Close()
				go io.Copy(out, in)
				io.Copy(in, out)
			}()
		}
	}()
	env := stagingEnv(c, ns)
	res, err := newClient(t, env, deploy.WithTunnel(l.Addr().String())).Deploy(context.Background(), deploy.Release{Bundle: bundle(bundleOpts{}), Image: appImage(t, "v1")})
	if err != nil {
		t.Fatalf("deploy through the tunnel: %v", err)
	}
	serving(t, c, ns, res.Image, 3)
	// Without the server name kept, the same route fails TLS verification.
	bare := kubeconfigWith(t, c.Kubeconfig, func(cfg *clientcmdapi.Config) {
		for _, cl := range cfg.Clusters {
			cl.Server = "https://" + l.Addr().String()
		}
	})
	env.Kubeconfig = deploy.KubeconfigBytes(bare)
	_, err = newClient(t, env, deploy.WithApplyRetry(0)).Deploy(context.Background(), deploy.Release{Bundle: bundle(bundleOpts{}), Image: fakeImage("v1")})
	if err == nil || !strings.Contains(err.Error(), "certificate is valid for") {
		t.Fatalf("deploy to an address the certificate does not name: %v, want a TLS name error", err)
	}
}
