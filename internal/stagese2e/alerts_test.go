package stagese2e

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/clustertest"
	"github.com/slipway-ci/slipway/internal/daggertest"
	"github.com/slipway-ci/slipway/internal/enginetest"
)

// TestDeployStagingAlerts: deploy-staging with the alertRules setting (the
// reference's alerts.rules.yaml), evaluated by the Prometheus of the
// prom/prometheus image (the default: the mirror serves one built from
// Debian's package) and by the host's (--prometheus=/usr/bin/prometheus,
// Debian's, beside which the tool runs in the Go image). After the smoke
// test a throwaway Prometheus scrapes the reference's pods on the real
// node through the API server's pod proxy; staging is verified once every
// pod is up and no alert fired for the window. (The failing case, a
// planted alert that rolls back, is deploy's TestE2EAlerts.)
func TestDeployStagingAlerts(t *testing.T) {
	enginetest.Require(t)
	c := clustertest.RequireNode(t)
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("SLIPWAY_REQUIRE_E2E") != "" {
			t.Fatalf("no prometheus (make examples-tools installs Debian's): %v", err)
		}
		t.Skipf("no prometheus: %v", err)
	}
	t.Setenv("KUBECONFIG_STAGING", string(c.EngineKubeconfig))
	b := make([]byte, 4)
	rand.Read(b)
	ref := strings.TrimSpace(mustCall(t, "publish", "--repository="+daggertest.Registry+"/slipway-e2e/deploy", "--insecure", "--revision=alerts-e2e-"+hex.EncodeToString(b)))
	if !strings.Contains(ref, "@sha256:") {
		t.Fatalf("publish returned %q, want repository@sha256:digest", ref)
	}
	for _, tc := range []struct{ name, flag string }{
		{"prom/prometheus image", ""},
		{"host binary", "--prometheus=" + prom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			staging := c.Namespace(t, "mts-deploy-ai-staging")
			args := []string{"--staging-manifests=examples/deployai/deploy/k8s/local",
				"--alert-rules=examples/deployai/deploy/alerts.rules.yaml", "--alert-window=5s",
				"deploy-staging", "--image=" + ref, "--kubeconfig=env://KUBECONFIG_STAGING", "--namespace=" + staging}
			if tc.flag != "" {
				args = append(args, tc.flag)
			}
			start := time.Now()
			out := mustCall(t, args...)
			t.Logf("deploy-staging: %s (dagger call %v)", strings.TrimSpace(out), time.Since(start).Round(time.Millisecond))
			for _, want := range []string{"staging: namespace " + staging + ", verified by smoke test and alerts, revision 1, ", "smoke test passed: GET /health, /ready, metrics:/metrics answered 2xx through Service mts-deploy-ai for 5s; Prometheus: ",
				" targets up, no alert of 1 rule files fired for 5s, evidence recorded"} {
				if !strings.Contains(out, want) {
					t.Errorf("summary lacks %q: %s", want, out)
				}
			}
			assertRunning(t, c, staging, ref)
		})
	}
}
