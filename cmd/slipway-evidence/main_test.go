package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/deploy/attest"
	"github.com/slipway-ci/slipway/deploy/evidence"
	"github.com/slipway-ci/slipway/internal/registrytest"
)

// pushRandom pushes a random image to an in-process registry with the
// referrers API, returning repository@sha256:digest.
func pushRandom(t *testing.T) string {
	return registrytest.PushRandom(t, registrytest.Serve(t), "svc", "v1", 64).String()
}

func noEnv(string) string { return "" }

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

func TestRunRefuses(t *testing.T) {
	image := pushRandom(t)
	tests := []struct {
		name  string
		args  []string
		usage bool
		want  []string
	}{
		{"no subcommand", nil, true, []string{"no subcommand", "attest or record-scan"}},
		{"unknown subcommand", []string{"staging"}, true, []string{`unknown subcommand "staging"`}},
		{"attest without a key", []string{"attest", "--image=" + image}, false, []string{"attest: no signing key: give the private key (cosign.key) in SIGNING_KEY"}},
		{"attest without an image", []string{"attest"}, true, []string{"attest: no --image"}},
		{"attest with an image and a push command", []string{"attest", "--image=" + image, `--push-command=["true"]`}, true, []string{"--image and --push-command both name the image"}},
		{"attest with a push command that is not JSON", []string{"attest", "--push-command=ociregistry push"}, true, []string{`--push-command "ociregistry push" is not a JSON array`}},
		{"attest with an SBOM command and no push", []string{"attest", "--image=" + image, `--sbom-command=["true"]`}, true, []string{"--sbom-command and --state go with --push-command"}},
		{"record-scan without findings", []string{"record-scan", "--image=" + image}, true, []string{"--findings is required"}},
		{"record-scan of a tag", []string{"record-scan", "--image=registry.example/svc:v1", "--findings=0"}, false, []string{"record-scan", "not a digest"}},
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

// TestAttestAndRecordScan: attest signs the digest and its provenance and
// says so; record-scan records unsigned evidence without a key and says
// that production's gate will refuse it, and signed evidence with one,
// which reads back, verified, as a clean scan.
func TestAttestAndRecordScan(t *testing.T) {
	image := pushRandom(t)
	env := signingKeys(t)
	getenv := func(k string) string { return env[k] }
	now := time.Now().UTC()
	prov, err := json.Marshal(attest.Provenance{Repository: "https://git.example/team/svc", Revision: strings.Repeat("ab", 20), Function: "publish",
		Started: now.Add(-time.Minute), Finished: now})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "provenance.json"), prov, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), []byte("example.com/m v1.0.0 h1:aGVsbG8=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := run(context.Background(), []string{"attest", "--image=" + image, "--provenance=" + filepath.Join(dir, "provenance.json"), "--go-sum=" + filepath.Join(dir, "go.sum")}, getenv)
	if err != nil || !strings.Contains(out, "signed sha256:") || !strings.Contains(out, "signed SLSA provenance attached (builder https://github.com/slipway-ci/slipway)") {
		t.Errorf("attest = %q, %v", out, err)
	}
	out, err = run(context.Background(), []string{"record-scan", "--image=" + image, "--findings=0"}, noEnv)
	if err != nil || !strings.HasPrefix(out, "scan evidence recorded unsigned (no SIGNING_KEY") {
		t.Fatalf("unsigned record-scan = %q, %v", out, err)
	}
	out, err = run(context.Background(), []string{"record-scan", "--image=" + image, "--findings=2", "--scanner=govulncheck", "--threshold=ANY"}, getenv)
	if err != nil || !strings.HasPrefix(out, "scan signed evidence recorded (key ID ") {
		t.Fatalf("signed record-scan = %q, %v", out, err)
	}
	v, err := attest.VerifierFromEnv(getenv)
	if err != nil || v == nil {
		t.Fatalf("verifier: %v", err)
	}
	d, err := evidence.ParseDigest(image)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := evidence.NewSignedReferrers(nil, v).Evidence(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Kind != evidence.Scanned || evs[0].Scanner != "govulncheck" || evs[0].Findings != 2 || evs[0].Clean {
		t.Errorf("signed evidence read back = %+v, want the one govulncheck scan with 2 findings", evs)
	}
}

// TestAttestPushes: with --push-command, attest pushes (the command's
// last line is the digest), makes the SBOM with --sbom-command and signs;
// a key that cannot sign fails before the push command runs, and a failed
// push is passed on with its exit status and message; --state names the
// failed part.
func TestAttestPushes(t *testing.T) {
	image := pushRandom(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "failed")
	cdx := filepath.Join(dir, "sbom.cdx.json")
	sbomCmd := `--sbom-command=["sh","-c","echo '{\"bomFormat\":\"CycloneDX\",\"specVersion\":\"1.6\"}' > ` + cdx + `"]`
	push := func(script string) string {
		raw, err := json.Marshal([]string{"sh", "-c", script})
		if err != nil {
			t.Fatal(err)
		}
		return "--push-command=" + string(raw)
	}

	out, err := run(context.Background(), []string{"attest", push("echo pushing; echo " + image), sbomCmd, "--sbom-cyclonedx=" + cdx, "--state=" + state}, signingEnv(t))
	if err != nil {
		t.Fatal(err)
	}
	first, line, _ := strings.Cut(out, "\n")
	if first != image || !strings.Contains(line, "signed SBOM attached") {
		t.Errorf("attest printed %q, want the digest, then what it signed", out)
	}
	if _, err := os.Stat(state); err == nil {
		t.Error("a state file was written though nothing failed")
	}

	marker := filepath.Join(dir, "pushed")
	bogus := func(k string) string {
		if k == attest.SigningKeyEnv {
			return "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"
		}
		return ""
	}
	_, err = run(context.Background(), []string{"attest", push("touch " + marker + "; echo " + image), "--state=" + state}, bogus)
	if err == nil || !strings.Contains(err.Error(), "SIGNING_KEY") {
		t.Errorf("a key that does not load: %v", err)
	}
	if _, serr := os.Stat(marker); serr == nil {
		t.Error("the push command ran though the key could not sign")
	}
	if got, _ := os.ReadFile(state); string(got) != "check\n" {
		t.Errorf("state %q, want check", got)
	}

	_, err = run(context.Background(), []string{"attest", push("echo 'denied: push to svc' >&2; exit 4"), "--state=" + state}, signingEnv(t))
	var status *exitStatus
	if !errors.As(err, &status) || status.Code != 4 || strings.TrimSpace(status.Stderr) != "denied: push to svc" {
		t.Errorf("a refused push: %v, want its exit status 4 and its message passed on", err)
	}
	if got, _ := os.ReadFile(state); string(got) != "push\n" {
		t.Errorf("state %q, want push", got)
	}

	_, err = run(context.Background(), []string{"attest", push("echo " + image), `--sbom-command=["sh","-c","echo no rootfs >&2; exit 1"]`, "--state=" + state}, signingEnv(t))
	if err == nil || !strings.Contains(err.Error(), "no rootfs") || !strings.Contains(err.Error(), "pushed but not signed") {
		t.Errorf("a failed SBOM: %v", err)
	}
	if got, _ := os.ReadFile(state); string(got) != "sbom\n" {
		t.Errorf("state %q, want sbom", got)
	}
}
