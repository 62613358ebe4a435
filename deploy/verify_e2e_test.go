package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/slipway-ci/slipway/deploy"
	"github.com/slipway-ci/slipway/internal/clustertest"
)

// deployedIn lists the environments with deployed evidence for image.
func deployedIn(t *testing.T, store deploy.EvidenceStore, image string) []string {
	t.Helper()
	d, err := name.NewDigest(image)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := store.Evidence(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	var envs []string
	for _, ev := range evs {
		if ev.Kind == deploy.Deployed {
			envs = append(envs, ev.Environment)
		}
	}
	return envs
}

// withoutService is the bundle with no Service and no probes: the smoke
// test must reach the pods themselves, and nothing but the smoke test
// looks at their endpoints.
func withoutService(b []*unstructured.Unstructured) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range b {
		if o.GetKind() == "Service" {
			continue
		}
		if o.GetKind() == "Deployment" {
			cts, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			for _, ct := range cts {
				delete(ct.(map[string]any), "readinessProbe")
				delete(ct.(map[string]any), "livenessProbe")
			}
			unstructured.SetNestedSlice(o.Object, cts, "spec", "template", "spec", "containers")
		}
		out = append(out, o)
	}
	return out
}

// TestE2ESmokeTest: after the rollout, the deploy GETs /health, /ready and
// /metrics of the real pods through their Service (the API server's
// service proxy), or from each pod when no Service selects them. A good
// image passes and its evidence is recorded; an image whose probes pass
// but whose /metrics answers 500 rolls out, fails the smoke test, and is
// rolled back as a failed rollout is: the previous pods serve throughout,
// and no evidence is recorded for it.
func TestE2ESmokeTest(t *testing.T) {
	c := clustertest.RequireNode(t)
	// Versions of their own per run: evidence from an earlier run would
	// make "no evidence recorded" pass or fail for the wrong reason.
	run := fmt.Sprint(time.Now().UnixNano())
	good := clustertest.PushAppVersion(t, clustertest.AppServe, "smoke-"+run)
	broken := clustertest.PushAppVersion(t, clustertest.AppBrokenMetrics, "smoke-"+run)
	store := deploy.NewReferrers(remote.WithTransport(clustertest.RegistryTransport(t)))
	for _, tc := range []struct {
		name    string
		bundle  []*unstructured.Unstructured
		service bool
		via     string
		failure string
	}{
		{"through the Service", bundle(bundleOpts{replicas: 2}), true, "through Service web",
			`verification failed: smoke test: GET /metrics through Service web: 500 Internal Server Error: "metrics broken, as asked"`},
		{"on each pod, no Service and no probes", withoutService(bundle(bundleOpts{replicas: 2})), false, "through each of 2 pods (no Service selects them)",
			`verification failed: smoke test: GET /metrics on pod web-`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := c.Namespace(t, "smoke")
			ctx := context.Background()
			env := stagingEnv(c, ns)
			d := deploy.Recording(newClient(t, env, deploy.WithVerifyPaths(deploy.DefaultVerifyPaths...), deploy.WithVerifyWindow(4*time.Second)), env, store)
			start := time.Now()
			res, err := d.Deploy(ctx, deploy.Release{Bundle: tc.bundle, Image: good})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("good deploy with a 4s smoke test: %s: %s", time.Since(start).Round(time.Millisecond), res.Verification)
			want := "smoke test passed: GET /health, /ready, /metrics answered 2xx " + tc.via + " for 4s"
			if res.Verification != want {
				t.Errorf("verification %q, want %q", res.Verification, want)
			}
			if !res.Verified {
				t.Error("a smoke-tested deploy says nothing was verified (Result.Verified)")
			}
			serving(t, c, ns, good, 2)

			var stop func() (int, []string)
			if tc.service {
				stop = pollService(t, c, ns, "web")
			}
			start = time.Now()
			_, err = d.Deploy(ctx, deploy.Release{Bundle: tc.bundle, Image: broken})
			t.Logf("failed smoke test + rollback: %s", time.Since(start).Round(time.Millisecond))
			if stop != nil {
				if n, failed := stop(); n == 0 || len(failed) > 0 {
					t.Errorf("%d requests to /health through the Service during the deploy and rollback, %d failed: %q", n, len(failed), failed)
				} else {
					t.Logf("%d requests to /health through the Service, none failed", n)
				}
			}
			t.Logf("error: %v", err)
			var rerr *deploy.RolloutError
			if !errors.As(err, &rerr) || !errors.Is(err, deploy.ErrVerification) {
				t.Fatalf("deploy of an image with broken /metrics: %v, want a *RolloutError caused by ErrVerification", err)
			}
			if !strings.Contains(err.Error(), tc.failure) {
				t.Errorf("error does not say %q", tc.failure)
			}
			if !rerr.RolledBack || rerr.PreviousImage != good || rerr.RollbackErr != nil {
				t.Errorf("rolled back %v to %q (err %v), want a healthy rollback to %s", rerr.RolledBack, rerr.PreviousImage, rerr.RollbackErr, good)
			}
			serving(t, c, ns, good, 2)
		})
	}
	if got := deployedIn(t, store, good); len(got) != 2 || got[0] != "staging" || got[1] != "staging" {
		t.Errorf("deployed evidence of the good image: %v, want [staging staging]", got)
	}
	if got := deployedIn(t, store, broken); len(got) != 0 {
		t.Errorf("deployed evidence of the image that failed its smoke test: %v, want none", got)
	}
}

// plantedRule fires as soon as a pod reports a failed request: the test
// app in AppErrors mode does.
const plantedRule = `groups:
  - name: planted
    rules:
      - alert: TestAppErrors
        expr: testapp_errors_total > 0
        labels:
          severity: critical
`

// TestE2EAlerts: after the rollout and the smoke test, a real Prometheus
// (Debian's /usr/bin/prometheus, started by the deploy) scrapes the new
// pods through the API server's pod proxy and evaluates the reference's
// alert rules and a planted one. A good image: every target up, nothing
// fires for the window, evidence recorded. An image whose metrics report
// errors: the planted alert fires, the deploy rolls back, the previous
// pods keep serving, and no evidence is recorded.
func TestE2EAlerts(t *testing.T) {
	c := clustertest.RequireNode(t)
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("SLIPWAY_REQUIRE_E2E") != "" {
			t.Fatalf("no prometheus (make examples-tools installs Debian's): %v", err)
		}
		t.Skipf("no prometheus (make examples-tools installs Debian's): %v", err)
	}
	planted := filepath.Join(t.TempDir(), "planted.rules.yaml")
	if err := os.WriteFile(planted, []byte(plantedRule), 0o644); err != nil {
		t.Fatal(err)
	}
	rules := []string{"../examples/deployai/deploy/alerts.rules.yaml", planted}
	run := fmt.Sprint(time.Now().UnixNano())
	good := clustertest.PushAppVersion(t, clustertest.AppServe, "alerts-"+run)
	bad := clustertest.PushAppVersion(t, clustertest.AppErrors, "alerts-"+run)
	store := deploy.NewReferrers(remote.WithTransport(clustertest.RegistryTransport(t)))
	ns := c.Namespace(t, "alerts")
	ctx := context.Background()
	env := stagingEnv(c, ns)
	d := deploy.Recording(newClient(t, env, deploy.WithVerifyPaths(),
		deploy.WithAlerts(deploy.Alerts{Prometheus: prom, Rules: rules, Window: 5 * time.Second})), env, store)
	b := bundle(bundleOpts{replicas: 2})
	start := time.Now()
	res, err := d.Deploy(ctx, deploy.Release{Bundle: b, Image: good})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("good deploy, smoke test and 5s of alerts: %s: %s", time.Since(start).Round(time.Millisecond), res.Verification)
	if want := "Prometheus: 2 targets up, no alert of 2 rule files fired for 5s"; !strings.HasSuffix(res.Verification, want) {
		t.Errorf("verification %q, want it to end %q", res.Verification, want)
	}
	// The staging evidence records what was verified, for a gate that
	// requires it (PromotionGate.RequireVerification).
	gd, err := deploy.ParseDigest(good)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := store.Evidence(ctx, gd)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Kind != deploy.Deployed || evs[0].Checks != res.Verification {
		t.Errorf("staging evidence %+v, want one Deployed record whose Checks are %q", evs, res.Verification)
	}
	stop := pollService(t, c, ns, "web")
	start = time.Now()
	_, err = d.Deploy(ctx, deploy.Release{Bundle: b, Image: bad})
	t.Logf("planted alert + rollback: %s", time.Since(start).Round(time.Millisecond))
	if n, failed := stop(); n == 0 || len(failed) > 0 {
		t.Errorf("%d requests to /health through the Service during the deploy and rollback, %d failed: %q", n, len(failed), failed)
	} else {
		t.Logf("%d requests to /health through the Service, none failed", n)
	}
	t.Logf("error: %v", err)
	var rerr *deploy.RolloutError
	if !errors.As(err, &rerr) || !errors.Is(err, deploy.ErrVerification) {
		t.Fatalf("deploy of an image whose metrics fire an alert: %v, want a *RolloutError caused by ErrVerification", err)
	}
	if want := "verification failed: alerts: alert firing "; !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "TestAppErrors (pod web-") {
		t.Errorf("error does not say %q and name TestAppErrors on a web- pod", want)
	}
	if !rerr.RolledBack || rerr.PreviousImage != good {
		t.Errorf("rolled back %v to %q (err %v), want a healthy rollback to %s", rerr.RolledBack, rerr.PreviousImage, rerr.RollbackErr, good)
	}
	serving(t, c, ns, good, 2)
	if got := deployedIn(t, store, good); len(got) != 1 {
		t.Errorf("deployed evidence of the good image: %v, want [staging]", got)
	}
	if got := deployedIn(t, store, bad); len(got) != 0 {
		t.Errorf("deployed evidence of the image whose alert fired: %v, want none", got)
	}
}
