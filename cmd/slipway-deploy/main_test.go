package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/deploy"
	"github.com/slipway-ci/slipway/deploy/attest"
	"github.com/slipway-ci/slipway/deploy/evidence"
	"github.com/slipway-ci/slipway/internal/registrytest"
	"github.com/slipway-ci/slipway/pipeline"
)

// pushRandom pushes a random image to an in-process registry with the
// referrers API, returning repository@sha256:digest.
func pushRandom(t *testing.T) string {
	return registrytest.PushRandom(t, registrytest.Serve(t), "svc", "v1", 64).String()
}

// kubeconfig writes a kubeconfig for a server nothing listens on: the
// tests below must fail before any request reaches it.
func kubeconfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	const cfg = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:1
contexts:
- name: c
  context: {cluster: c, user: u}
current-context: c
users:
- name: u
  user: {token: t}
`
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func noEnv(string) string { return "" }

// manifests writes a directory with files (name -> content).
func manifests(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const webDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: web}
      - {name: proxy, image: envoy@sha256:0000000000000000000000000000000000000000000000000000000000000000}
`

func TestRunRefuses(t *testing.T) {
	image := pushRandom(t)
	kc := kubeconfig(t)
	good := manifests(t, map[string]string{"web.yaml": webDeployment})
	base := func(extra ...string) []string {
		return append([]string{"--image=" + image, "--manifests=" + good, "--namespace=web", "--kubeconfig=" + kc, "--container=web"}, extra...)
	}
	staging := func(extra ...string) []string { return append([]string{"staging"}, base(extra...)...) }
	with := func(dir string) []string {
		return []string{"staging", "--image=" + image, "--manifests=" + dir, "--namespace=web", "--kubeconfig=" + kc, "--container=web"}
	}
	tests := []struct {
		name  string
		args  []string
		usage bool
		want  []string
	}{
		{"no subcommand", nil, true, []string{"no subcommand", "staging, production or notify"}},
		{"record-scan, moved", []string{"record-scan", "--image=" + image, "--findings=0"}, true, []string{"record-scan moved to slipway-evidence"}},
		{"unknown subcommand", []string{"canary"}, true, []string{`unknown subcommand "canary"`}},
		{"unknown flag", staging("--colour=red"), true, []string{"deploy-staging", "colour"}},
		{"stray argument", staging("extra"), true, []string{"unexpected arguments"}},
		{"no kubeconfig", []string{"staging", "--image=" + image, "--manifests=" + good, "--namespace=web"}, true, []string{"deploy-staging: no --kubeconfig"}},
		{"no manifests", []string{"staging", "--image=" + image, "--namespace=web", "--kubeconfig=" + kc}, true, []string{"deploy-staging: no --manifests"}},
		{"no namespace", []string{"staging", "--image=" + image, "--manifests=" + good, "--kubeconfig=" + kc}, true, []string{"deploy-staging: no --namespace"}},
		{"bad timeout", staging("--timeout=soon"), false, []string{`timeout "soon" is not a positive Go duration`}},
		{"tag, not digest", []string{"staging", "--image=registry.example/svc:v1", "--manifests=" + good, "--namespace=web", "--kubeconfig=" + kc}, false, []string{"deploy-staging", "is a tag, not a digest"}},
		{"no Deployment", with(manifests(t, map[string]string{"svc.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"})), false,
			[]string{"deploy-staging: manifests", "the bundle has no Deployment to roll out"}},
		{"no such container", staging("--container=api"), false, []string{`no container "api" (it has [web proxy])`}},
		{"two containers, none named", []string{"staging", "--image=" + image, "--manifests=" + good, "--namespace=web", "--kubeconfig=" + kc}, false,
			[]string{"2 containers [web proxy]: name the one that gets the image"}},
		{"kustomize error", with(manifests(t, map[string]string{"kustomization.yaml": "resources: [gone.yaml]\n"})), false,
			[]string{"deploy-staging: manifests", "kustomize could not render kustomization.yaml"}},
		{"another namespace", with(manifests(t, map[string]string{"web.yaml": strings.Replace(webDeployment, "{name: web}", "{name: web, namespace: prod}", 1)})), false,
			[]string{`the manifests put Deployment web in namespace "prod", but the deploy targets "web"`}},
		{"unreadable kubeconfig", []string{"staging", "--image=" + image, "--manifests=" + good, "--namespace=web", "--container=web", "--kubeconfig=" + filepath.Join(t.TempDir(), "none")}, false, []string{"deploy-staging", "kubeconfig"}},
		{"bad tunnel", staging("--tunnel=cluster"), false, []string{"deploy-staging", "tunnel", "HOST:PORT"}},
		{"bad node selector", staging("--node-selector=real"), true, []string{`deploy-staging: --node-selector: node selector "real": want KEY=VALUE`}},
		// Without trusted keys production has nothing to verify with: it
		// names the signing key and the setting that trusts its public key.
		{"production without trusted keys", append([]string{"production"}, base()...), false,
			[]string{"deploy-production: production accepts only evidence signed by a trusted key, and no key is trusted: give the public key of the pipeline's SIGNING_KEY (cosign.pub; several concatenated to rotate) in SLIPWAY_TRUSTED_KEYS (the module's trustedKeys setting or deploy-production --trusted-keys), and sign publish, the scans and deploy-staging with SIGNING_KEY"}},
		{"bad verify path", staging("--verify-path=health"), true,
			[]string{`deploy-staging: --verify-path: verify path "health" is not an absolute URL path, optionally after a port: /health, metrics:/metrics`}},
		{"no-verify with a verify path", staging("--no-verify", "--verify-path=/ready"), true,
			[]string{"deploy-staging: --no-verify turns the smoke test off, but --verify-path or --verify-window was given: drop one"}},
		{"no-verify with alert rules", staging("--no-verify", "--alert-rules=a.yaml"), true,
			[]string{"deploy-staging: --no-verify turns verification off, but --alert-rules was given: drop one"}},
		{"bad alert window", staging("--alert-rules=a.yaml", "--alert-window=soon"), false,
			[]string{`deploy-staging: --alert-window "soon" is not a positive Go duration such as 30s`}},
		{"negative verify window", staging("--verify-window=-1s"), true, []string{"deploy-staging: --verify-window -1s is negative"}},
		{"no-verify with a verify path, helm", []string{"staging", "--image=" + image, "--namespace=web", "--kubeconfig=" + kc, "--source=helm", "--chart=x", "--no-verify", "--verify-path=/ready"}, true,
			[]string{"deploy-staging: --no-verify turns the smoke test off, but --verify-path or --verify-window was given: drop one"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(context.Background(), tt.args, noEnv)
			if err == nil {
				t.Fatalf("run(%q) = %q, want an error", tt.args, out)
			}
			if got := errors.Is(err, errUsage); got != tt.usage {
				t.Errorf("usage error = %v, want %v: %v", got, tt.usage, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
}

// testRepository is the source repository the tests' provenance names.
const testRepository = "https://git.example/team/svc"

// signingKeys are a fresh key pair as the tool reads them: SIGNING_KEY and
// its public key as the one trusted key.
func signingKeys(t *testing.T) map[string]string {
	t.Helper()
	priv, pub, err := attest.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{attest.SigningKeyEnv: string(priv), attest.TrustedKeysEnv: string(pub)}
}

// signingEnv is signingKeys as a getenv.
func signingEnv(t *testing.T) func(string) string {
	env := signingKeys(t)
	return func(k string) string { return env[k] }
}

// attestBuild signs the image and its SLSA provenance with getenv's key,
// as publish does with slipway-evidence attest (cmd/slipway-evidence).
func attestBuild(t *testing.T, image string, getenv func(string) string) {
	t.Helper()
	now := time.Now().UTC()
	s, err := attest.SignerFromEnv(getenv)
	if err != nil || s == nil {
		t.Fatalf("signer: %v", err)
	}
	d, err := evidence.ParseDigest(image)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SignImage(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	p := attest.Provenance{Repository: testRepository, Revision: strings.Repeat("ab", 20), Function: "publish",
		Started: now.Add(-time.Minute), Finished: now, GoSum: []byte("example.com/m v1.0.0 h1:aGVsbG8=\n")}
	if _, err := s.AttestProvenance(context.Background(), d, p); err != nil {
		t.Fatal(err)
	}
}

// recordScan records a clean scan of image with getenv's key (unsigned
// without one), as the scans do with slipway-evidence record-scan.
func recordScan(t *testing.T, image string, getenv func(string) string) {
	t.Helper()
	store, _, err := evidence.StoreFromEnv(getenv)
	if err != nil {
		t.Fatal(err)
	}
	if err := evidence.RecordScan(context.Background(), store, image, "trivy", "HIGH,CRITICAL", 0); err != nil {
		t.Fatal(err)
	}
}

// TestRecordScanFeedsTheGate: production's gate verifies what attest and
// a signed record-scan (slipway-evidence) recorded; only the staging check and the approval
// remain. A scan recorded without the key, or signed with a key the gate
// does not trust, does not count.
func TestRecordScanFeedsTheGate(t *testing.T) {
	image := pushRandom(t)
	env := signingEnv(t)
	attestBuild(t, image, env)
	dir := manifests(t, map[string]string{"web.yaml": webDeployment})
	production := []string{"production", "--image=" + image, "--manifests=" + dir, "--namespace=web", "--container=web", "--kubeconfig=" + kubeconfig(t), "--source-repository=" + testRepository}
	refusal := func(want []string, not ...string) {
		t.Helper()
		_, err := run(context.Background(), production, env)
		if err == nil {
			t.Fatal("production deployed without staging evidence or approval")
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("refusal lacks %q: %v", w, err)
			}
		}
		for _, w := range not {
			if strings.Contains(err.Error(), w) {
				t.Errorf("refusal says %q: %v", w, err)
			}
		}
	}
	// Unsigned, and signed by another key: refused, and named.
	recordScan(t, image, noEnv)
	recordScan(t, image, signingEnv(t))
	refusal([]string{"not deployed and verified in staging", "not scanned clean", "unsigned", "untrusted key", "not approved"}, "not signed by a trusted key", "no provenance")
	recordScan(t, image, env)
	refusal([]string{"not deployed and verified in staging", "not approved"}, "not scanned clean", "not signed by a trusted key", "no provenance")

	// A signed staging deploy that only rolled out (--no-verify): enough
	// by default, refused with --require-verification.
	store, _, err := evidence.StoreFromEnv(env)
	if err != nil {
		t.Fatal(err)
	}
	d, err := deploy.ParseDigest(image)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Record(context.Background(), d, deploy.Evidence{Kind: deploy.Deployed, Environment: "staging", Tier: pipeline.Staging, Namespace: "web", Verified: true}); err != nil {
		t.Fatal(err)
	}
	refusal([]string{"not approved"}, "not deployed and verified in staging")
	production = append(production, "--require-verification")
	refusal([]string{"not deployed and verified in staging", "says only that it rolled out", "not approved"})
}
