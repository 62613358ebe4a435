package stagese2e

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/internal/clustertest"
	"github.com/slipway-ci/slipway/internal/daggertest"
	"github.com/slipway-ci/slipway/internal/engine"
	"github.com/slipway-ci/slipway/internal/enginetest"
)

// TestOneJobPromotion runs goservice.OneJob's pipeline as its jobs do:
// one `dagger call ci` exports every stage's reports, its verdict prints
// IMAGE_REF=..., and the deploy jobs take that image through staging and
// production's gate. The gate verifies what ci alone signed and recorded:
// the digest's signature, the SBOM and provenance, and the scans.
func TestOneJobPromotion(t *testing.T) {
	enginetest.Require(t)
	c := clustertest.RequireNode(t)
	staging := c.Namespace(t, "mts-deploy-ai-staging")
	production := c.Namespace(t, "mts-deploy-ai")
	t.Setenv("KUBECONFIG_STAGING", string(c.EngineKubeconfig))
	t.Setenv("KUBECONFIG_PRODUCTION", string(c.EngineKubeconfig))
	signing(t)

	// A fresh commit hash: a fresh digest, with no evidence from earlier
	// runs, and a revision the provenance can record.
	b := make([]byte, 20)
	rand.Read(b)
	repository := daggertest.Registry + "/slipway-e2e/one-job"
	ci := []string{"ci", "--revision=" + hex.EncodeToString(b), "--repository=" + repository, "--insecure",
		"--db-repository=" + daggertest.Registry + "/aquasecurity/trivy-db:2", "--db-insecure",
		"--govuln-db-image=" + engine.MirrorBridgeAddr + "/" + engine.VulnDBRef,
		signArg}

	reports := t.TempDir()
	mustCall(t, append(ci, "reports", "export", "--path="+reports)...)
	for _, f := range []string{"sbom/gl-sbom-image.cdx.json", "unit/junit.xml", "integration/junit.xml", "trivy/trivy.sarif",
		"govulncheck/govulncheck.sarif", "govulncheck/gl-dependency-scanning-report.json", "sast/gosec.sarif"} {
		if _, err := os.Stat(filepath.Join(reports, f)); err != nil {
			t.Errorf("ci's reports lack %s: %v", f, err)
		}
	}
	verdict := mustCall(t, append(ci, "check")...)
	t.Logf("ci check:\n%s", verdict)
	m := regexp.MustCompile(`(?m)^IMAGE_REF=(` + regexp.QuoteMeta(repository) + `@sha256:[0-9a-f]{64})$`).FindStringSubmatch(verdict)
	if m == nil {
		t.Fatalf("ci's verdict has no IMAGE_REF=%s@sha256:... line:\n%s", repository, verdict)
	}
	ref := m[1]
	for _, want := range []string{"key ID ", "SBOM: ", "components", "scan signed evidence recorded"} {
		if !strings.Contains(verdict, want) {
			t.Errorf("ci's verdict lacks %q", want)
		}
	}
	if strings.Contains(verdict, "BEGIN") {
		t.Errorf("ci's verdict holds a PEM block")
	}

	base := "--staging-manifests=examples/deployai/deploy/k8s/local"
	prodBase := "--production-manifests=examples/deployai/deploy/k8s/local"
	out := mustCall(t, base, "deploy-staging", "--image="+ref, "--kubeconfig=env://KUBECONFIG_STAGING", "--namespace="+staging, signArg)
	t.Logf("deploy-staging: %s", strings.TrimSpace(out))
	assertRunning(t, c, staging, ref)

	out = mustCall(t, prodBase, "deploy-production", "--image="+ref, "--kubeconfig=env://KUBECONFIG_PRODUCTION", "--namespace="+production,
		prodTrust, "--approve", "--approver=e2e")
	t.Logf("deploy-production: %s", strings.TrimSpace(out))
	if !strings.Contains(out, "production: namespace "+production) {
		t.Errorf("deploy-production's summary does not name %s: %s", production, out)
	}
	assertRunning(t, c, production, ref)
}
