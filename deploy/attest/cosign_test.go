package attest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/deploy/attest"
	"github.com/slipway-ci/slipway/internal/cosigntest"
	"github.com/slipway-ci/slipway/internal/mirror"
	"github.com/slipway-ci/slipway/internal/registrytest"
)

// TestCosignVerifies runs the real cosign CLI (v3, built from the module
// proxy) on what Signer pushes to a real registry: `cosign verify` and
// `cosign verify-attestation` accept it with the signer's public key,
// offline, and refuse it with another key. The key pair itself comes from
// `cosign generate-key-pair` (encrypted with COSIGN_PASSWORD), so a team
// uses the key cosign gave it. The other way round, a signature `cosign
// sign` makes verifies with Verifier: the formats are the same.
func TestCosignVerifies(t *testing.T) {
	cosigntest.Binary(t)
	ctx := context.Background()
	host := registrytest.Serve(t)
	img := pushImage(t, host, "team/billing")
	dir := t.TempDir()
	env := []string{"COSIGN_PASSWORD=correct horse"}

	out, err := cosigntest.Run(t, env, "generate-key-pair", "--output-key-prefix", filepath.Join(dir, "team"))
	if err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, "team.key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attest.LoadSigner(keyPEM, []byte("wrong")); err == nil || !strings.Contains(err.Error(), "wrong password?") {
		t.Errorf("a wrong password: %v", err)
	}
	s, err := attest.LoadSigner(keyPEM, []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	pubPath := filepath.Join(dir, "team.pub")
	if _, err := s.SignImage(ctx, img); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AttestProvenance(ctx, img, testProvenance(goSum)); err != nil {
		t.Fatal(err)
	}
	sbom := map[string]any{"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": []any{map[string]any{"type": "library", "name": "golang.org/x/text", "version": "v0.3.7"}}}
	if _, err := s.Attest(ctx, img, attest.CycloneDXPredicate, sbom); err != nil {
		t.Fatal(err)
	}
	ref := img.String()
	offline := []string{"--insecure-ignore-tlog", "--allow-http-registry"}

	out, err = cosigntest.Run(t, nil, append([]string{"verify", "--key", pubPath}, append(offline, ref)...)...)
	if err != nil {
		t.Fatalf("cosign verify refused what Signer signed: %v\n%s", err, out)
	}
	if !strings.Contains(out, "The signatures were verified against the specified public key") || !strings.Contains(out, img.DigestStr()[len("sha256:"):]) {
		t.Errorf("cosign verify did not say it verified the key and digest:\n%s", out)
	}
	for _, typ := range []string{attest.SLSAProvenancePredicate, "cyclonedx"} {
		out, err = cosigntest.Run(t, nil, append([]string{"verify-attestation", "--key", pubPath, "--type", typ}, append(offline, ref)...)...)
		if err != nil {
			t.Fatalf("cosign verify-attestation --type %s refused what Signer attested: %v\n%s", typ, err, out)
		}
	}
	if !strings.Contains(decodePayloads(t, out), `"name":"golang.org/x/text"`) {
		t.Errorf("cosign verify-attestation did not print the SBOM:\n%s", out)
	}

	// Another key: cosign refuses.
	other := signer(t)
	otherPub := filepath.Join(dir, "other.pub")
	if err := os.WriteFile(otherPub, other.PublicKeyPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err = cosigntest.Run(t, nil, append([]string{"verify", "--key", otherPub}, append(offline, ref)...)...); err == nil {
		t.Errorf("cosign verify accepted a signature by another key:\n%s", out)
	}

	// cosign's own signature of another image verifies with Verifier.
	img2 := pushImage(t, host, "team/cosign-signed")
	out, err = cosigntest.Run(t, env, "sign", "--key", filepath.Join(dir, "team.key"), "--use-signing-config=false", "--tlog-upload=false", "--yes", "--allow-http-registry", img2.String())
	if err != nil {
		t.Fatalf("cosign sign: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	k, err := attest.ParsePublicKey("team", pub)
	if err != nil {
		t.Fatal(err)
	}
	v, err := attest.NewVerifier(k)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := v.Verify(ctx, img2)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Find(attest.CosignSignPredicate)) != 1 || len(rep.Rejected) != 0 {
		t.Errorf("cosign's signature: %d verified, rejected %v", len(rep.Find(attest.CosignSignPredicate)), rep.Rejected)
	}
}

// decodePayloads decodes the DSSE payloads cosign verify-attestation
// prints, one envelope a line.
func decodePayloads(t *testing.T, out string) string {
	t.Helper()
	var b strings.Builder
	for _, line := range strings.Split(out, "\n") {
		var env struct {
			Payload string `json:"payload"`
		}
		if json.Unmarshal([]byte(line), &env) != nil || env.Payload == "" {
			continue
		}
		p, err := base64.StdEncoding.DecodeString(env.Payload)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(p)
	}
	return b.String()
}

// TestCosignVerifiesOnTheMirrorRegistry: on the registry the local
// engine's mirror runs, which has no referrers API (go-containerregistry
// writes the tag-schema fallback), cosign still finds and verifies what
// Signer pushed.
func TestCosignVerifiesOnTheMirrorRegistry(t *testing.T) {
	cosigntest.Binary(t)
	ctx := context.Background()
	reg, err := mirror.NewRegistry(filepath.Join(t.TempDir(), "blobs"), filepath.Join(t.TempDir(), "manifests"))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	srv := httptest.NewServer(reg)
	defer srv.Close()
	img := pushImage(t, strings.TrimPrefix(srv.URL, "http://"), "team/mirror")
	s := signer(t)
	if _, err := s.SignImage(ctx, img); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AttestProvenance(ctx, img, testProvenance(goSum)); err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(t.TempDir(), "cosign.pub")
	if err := os.WriteFile(pub, s.PublicKeyPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	offline := []string{"--key", pub, "--insecure-ignore-tlog", "--allow-http-registry"}
	if out, err := cosigntest.Run(t, nil, append(append([]string{"verify"}, offline...), img.String())...); err != nil {
		t.Fatalf("cosign verify: %v\n%s", err, out)
	}
	if out, err := cosigntest.Run(t, nil, append(append([]string{"verify-attestation", "--type", attest.SLSAProvenancePredicate}, offline...), img.String())...); err != nil {
		t.Fatalf("cosign verify-attestation: %v\n%s", err, out)
	}
}
