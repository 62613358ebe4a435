package stagese2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-ci/slipway/deploy/attest"
	bundle "github.com/slipway-ci/slipway/examples/deployai/deploy"
	"github.com/slipway-ci/slipway/internal/clustertest"
	"github.com/slipway-ci/slipway/internal/daggertest"
	"github.com/slipway-ci/slipway/internal/enginetest"
)

// TestDeployPromotion drives the deploy stages as the deploy:staging and
// deploy:production jobs do, from inside the engine against the local
// control plane, reached at the address the engine's containers see
// (https://10.87.0.1:16443), as a CI runner's engine reaches a cluster:
// production refuses a digest staging has not verified, the scan has not
// cleared and nobody approved, naming each missing check, and takes it
// once all three hold. The evidence is signed: publish signs the digest and
// attaches the SBOM and SLSA provenance, staging and the scan sign theirs,
// and production verifies them with the trusted key; without trusted keys,
// or with a scan signed by a key it does not trust, it refuses. The
// Deployments are then read back with client-go.
func TestDeployPromotion(t *testing.T) {
	enginetest.Require(t)
	c := clustertest.RequireNode(t)
	// The namespaces are the test's own: the manifests are the local
	// overlay, which names none (an overlay for another namespace is
	// refused), and whose CPU requests let both environments share the
	// real node. The ci module's nodeSelector setting places the pods there.
	base := "--staging-manifests=examples/deployai/deploy/k8s/local"
	prodBase := "--production-manifests=examples/deployai/deploy/k8s/local"
	staging := c.Namespace(t, "mts-deploy-ai-staging")
	production := c.Namespace(t, "mts-deploy-ai")
	t.Setenv("KUBECONFIG_STAGING", string(c.EngineKubeconfig))
	t.Setenv("KUBECONFIG_PRODUCTION", string(c.EngineKubeconfig))
	key, trusted, err := attest.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	untrusted, _, err := attest.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SIGNING_KEY", string(key))
	t.Setenv("SLIPWAY_TRUSTED_KEYS", string(trusted))
	t.Setenv("SLIPWAY_E2E_UNTRUSTED_KEY", string(untrusted))

	// A fresh revision (a commit hash, which the provenance records) makes
	// a fresh digest, which no earlier run has left evidence for.
	b := make([]byte, 20)
	rand.Read(b)
	revision := hex.EncodeToString(b)
	ref := strings.TrimSpace(mustCall(t, "publish", "--repository="+daggertest.Registry+"/slipway-e2e/deploy", "--insecure", "--revision="+revision, "--signing-key=env://SIGNING_KEY"))
	if !strings.Contains(ref, "@sha256:") {
		t.Fatalf("publish returned %q, want repository@sha256:digest", ref)
	}
	digest := ref[strings.Index(ref, "@")+1:]

	stagingCall := []string{base, "deploy-staging", "--image=" + ref, "--kubeconfig=env://KUBECONFIG_STAGING", "--namespace=" + staging, "--signing-key=env://SIGNING_KEY"}
	unverified := []string{prodBase, "deploy-production", "--image=" + ref, "--kubeconfig=env://KUBECONFIG_PRODUCTION", "--namespace=" + production}
	prodCall := append(slices.Clone(unverified), "--trusted-keys=env://SLIPWAY_TRUSTED_KEYS")

	refused := func(t *testing.T, args []string, want, notWant []string) {
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
	const (
		notStaged   = "not deployed and verified in staging"
		notScanned  = "not scanned clean"
		notApproved = "not approved"
	)

	t.Run("production without trusted keys is refused", func(t *testing.T) {
		refused(t, append(unverified, "--approve"), []string{"no key is trusted", "SIGNING_KEY", "SLIPWAY_TRUSTED_KEYS", "trustedKeys"}, nil)
		assertNoDeployment(t, c, production)
	})

	t.Run("production first is refused on every check", func(t *testing.T) {
		refused(t, append(prodCall, "--approve=false"), []string{notStaged, notScanned, notApproved, "--approve"}, nil)
		assertNoDeployment(t, c, production)
	})

	t.Run("staging", func(t *testing.T) {
		start := time.Now()
		out := mustCall(t, stagingCall...)
		t.Logf("deploy-staging: %s (dagger call %v)", strings.TrimSpace(out), time.Since(start).Round(time.Millisecond))
		// ci/dagger.json's verifyPaths and alertRules: the reference's
		// smoke test, through its Service by the API server's proxy, then
		// its alert rules on the prom/prometheus image's Prometheus, before
		// the evidence.
		smoke := "smoke test passed: GET /health, /ready, metrics:/metrics answered 2xx through Service " + bundle.Name + " for 5s; Prometheus: "
		alerts := " targets up, no alert of 1 rule files fired for 10s, signed evidence recorded (key ID "
		for _, want := range []string{"staging: namespace " + staging + ", verified by smoke test and alerts, revision 1, ", digest, smoke, alerts, "skipped: PrometheusRule"} {
			if !strings.Contains(out, want) {
				t.Errorf("summary lacks %q: %s", want, out)
			}
		}
		if strings.Contains(out, "BEGIN") || strings.Contains(out, "client-key-data") || strings.Count(out, "\n") > 1 {
			t.Errorf("summary is not one line without secrets: %q", out)
		}
		assertRunning(t, c, staging, ref)
		assertPlaced(t, c, staging)
	})

	t.Run("staging again deploys again", func(t *testing.T) {
		// The same call must reach the cluster, not replay a cached result.
		if err := c.Client.AppsV1().Deployments(staging).Delete(context.Background(), bundle.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		mustCall(t, stagingCall...)
		assertRunning(t, c, staging, ref)
	})

	t.Run("production without a scan or approval is refused", func(t *testing.T) {
		refused(t, prodCall, []string{notScanned, notApproved}, []string{notStaged})
	})

	t.Run("a scan signed by an untrusted key does not count", func(t *testing.T) {
		out := mustCall(t, append([]string{"security-trivy", "--image=" + ref, "--signing-key=env://SLIPWAY_E2E_UNTRUSTED_KEY"}, append(trivyDB, "summary")...)...)
		if !strings.Contains(out, "scan signed evidence recorded") {
			t.Fatalf("security-trivy summary = %q, want its evidence signed", out)
		}
		refused(t, prodCall, []string{notScanned, "untrusted key", notApproved}, []string{notStaged, "not signed by a trusted key", "no provenance"})
	})

	t.Run("scan records clean evidence", func(t *testing.T) {
		out := mustCall(t, append([]string{"security-trivy", "--image=" + ref, "--signing-key=env://SIGNING_KEY"}, append(trivyDB, "summary")...)...)
		if !strings.Contains(out, "0 HIGH/CRITICAL") || !strings.Contains(out, "scan signed evidence recorded") {
			t.Fatalf("security-trivy summary = %q, want a clean scan with its evidence recorded and signed", out)
		}
	})

	t.Run("production without --approve is refused", func(t *testing.T) {
		refused(t, prodCall, []string{notApproved, "--approve"}, []string{notStaged, notScanned})
		assertNoDeployment(t, c, production)
	})

	t.Run("production with --approve", func(t *testing.T) {
		out := mustCall(t, append(prodCall, "--approve", "--approver=e2e")...)
		for _, want := range []string{"production: namespace " + production, digest, "revision 1"} {
			if !strings.Contains(out, want) {
				t.Errorf("summary lacks %q: %s", want, out)
			}
		}
		assertRunning(t, c, production, ref)
		assertPlaced(t, c, production)
	})

	t.Run("missing kubeconfig secret", func(t *testing.T) {
		args := []string{base, "deploy-staging", "--image=" + ref, "--kubeconfig=env://SLIPWAY_E2E_NO_SUCH_KUBECONFIG", "--namespace=" + staging}
		refused(t, args, []string{"kubeconfig secret cannot be read", "KUBECONFIG_STAGING"}, nil)
	})
}

// assertRunning checks with client-go that the service's Deployment runs
// image and has completed its rollout.
func assertRunning(t *testing.T, c *clustertest.Cluster, namespace, image string) {
	t.Helper()
	d, err := c.Client.AppsV1().Deployments(namespace).Get(context.Background(), bundle.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Deployment %s/%s: %v", namespace, bundle.Name, err)
	}
	if got := d.Spec.Template.Spec.Containers[0].Image; got != image {
		t.Errorf("Deployment %s/%s runs %q, want %q", namespace, bundle.Name, got, image)
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	if d.Status.UpdatedReplicas != want || d.Status.AvailableReplicas != want {
		t.Errorf("Deployment %s/%s: %d updated, %d available, want %d", namespace, bundle.Name, d.Status.UpdatedReplicas, d.Status.AvailableReplicas, want)
	}
	// The pods ran on the real node, where their probes really answered
	// (kwok's nodes are tainted while it runs).
	if c.Node == "" {
		return
	}
	pods, err := c.Client.CoreV1().Pods(namespace).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + bundle.Name})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Spec.NodeName != c.Node {
			t.Errorf("pod %s/%s runs on %q, want the real node %q", namespace, p.Name, p.Spec.NodeName, c.Node)
		}
	}
}

// assertPlaced checks that the deploy set the ci module's nodeSelector
// setting (slipway.dev/node=real) on the service's pods: the apply and
// helm sources place them; a GitOps repository places its own.
func assertPlaced(t *testing.T, c *clustertest.Cluster, namespace string) {
	t.Helper()
	d, err := c.Client.AppsV1().Deployments(namespace).Get(context.Background(), bundle.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Deployment %s/%s: %v", namespace, bundle.Name, err)
	}
	for k, v := range clustertest.NodeSelector() {
		if got := d.Spec.Template.Spec.NodeSelector[k]; got != v {
			t.Errorf("Deployment %s/%s: nodeSelector %s=%q, want %q (the module's nodeSelector setting)", namespace, bundle.Name, k, got, v)
		}
	}
}

// assertNoDeployment checks that a refused deploy touched nothing.
func assertNoDeployment(t *testing.T, c *clustertest.Cluster, namespace string) {
	t.Helper()
	list, err := c.Client.AppsV1().Deployments(namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) > 0 {
		t.Errorf("a refused deploy left %d Deployments in %s", len(list.Items), namespace)
	}
}
