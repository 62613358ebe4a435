package attest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/slipway-ci/slipway/deploy/attest"
	"github.com/slipway-ci/slipway/internal/registrytest"
)

// pushImage pushes a random image to host/repo:latest and returns its
// digest reference.
func pushImage(t *testing.T, host, repo string) name.Digest {
	return registrytest.PushRandom(t, host, repo, "latest", 512)
}

// newKey returns an ECDSA P-256 private key in PKCS #8 PEM, as `openssl
// genpkey` writes it.
func newKey(t testing.TB) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func signer(t *testing.T) *attest.Signer {
	t.Helper()
	s, err := attest.LoadSigner(newKey(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func verifier(t *testing.T, signers ...*attest.Signer) *attest.Verifier {
	t.Helper()
	var keys []attest.TrustedKey
	for i, s := range signers {
		k, err := attest.ParsePublicKey([]string{"current", "previous", "third"}[i], s.PublicKeyPEM())
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	v, err := attest.NewVerifier(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func testProvenance(goSum string) attest.Provenance {
	start := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	return attest.Provenance{
		SlipwayVersion: "v0.9.0", DaggerVersion: "v0.19.10",
		Repository: "https://gitlab.example.com/team/billing", Revision: strings.Repeat("ab", 20), Ref: "refs/heads/main",
		Function: "publish", Arguments: map[string]string{"repository": "registry.example.com/team/billing"}, Secrets: []string{"SIGNING_KEY", "REGISTRY_PASSWORD"},
		GoSum:      []byte(goSum),
		BaseImages: []string{"golang@sha256:" + strings.Repeat("1", 64)},
		Started:    start, Finished: start.Add(42 * time.Second), InvocationID: "https://gitlab.example.com/team/billing/-/jobs/1",
	}
}

const goSum = `golang.org/x/text v0.3.7 h1:olpwvP2KacW1ZWvsR7uQhoyTYvKAupfQrRGBFM352Gk=
golang.org/x/text v0.3.7/go.mod h1:u+2+/6zg+i71rQMx5EYifcz6MCKuco9NR6JIITiCfzQ=
`

// TestSignAndVerify signs the digest, provenance and an SBOM, pushes them
// to a real registry as referrers, and verifies them back: the
// provenance's subject is the pushed digest.
func TestSignAndVerify(t *testing.T) {
	ctx := context.Background()
	host := registrytest.Serve(t)
	img := pushImage(t, host, "team/billing")
	s := signer(t)
	if _, err := s.SignImage(ctx, img); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AttestProvenance(ctx, img, testProvenance(goSum)); err != nil {
		t.Fatal(err)
	}
	sbom := map[string]any{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": []any{map[string]any{"name": "golang.org/x/text", "version": "v0.3.7"}}}
	if _, err := s.Attest(ctx, img, attest.CycloneDXPredicate, sbom); err != nil {
		t.Fatal(err)
	}
	rep, err := verifier(t, s).Verify(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rejected) != 0 || len(rep.Attestations) != 3 {
		t.Fatalf("%d verified, rejected %v; want 3 and none", len(rep.Attestations), rep.Rejected)
	}
	for _, pt := range []string{attest.CosignSignPredicate, attest.SLSAProvenancePredicate, attest.CycloneDXPredicate} {
		got := rep.Find(pt)
		if len(got) != 1 {
			t.Fatalf("%d %s attestations, want 1", len(got), pt)
		}
		if subj := attest.SubjectDigests(got[0].Statement); len(subj) != 1 || subj[0] != img.DigestStr() {
			t.Errorf("%s is about %v, want the pushed digest %s", pt, subj, img.DigestStr())
		}
		if got[0].Key.ID != s.KeyID() || got[0].Key.Name != "current" {
			t.Errorf("%s verified with %s, want the signer's key %s", pt, got[0].Key, s.KeyID())
		}
	}
	p, err := attest.DecodeProvenance(rep.Find(attest.SLSAProvenancePredicate)[0])
	if err != nil {
		t.Fatal(err)
	}
	repo, rev, err := attest.Source(p)
	if err != nil || repo != "https://gitlab.example.com/team/billing" || rev != strings.Repeat("ab", 20) {
		t.Errorf("source %s %s (%v)", repo, rev, err)
	}
	rd := p.GetRunDetails()
	if rd.GetBuilder().GetId() != attest.DefaultBuilderID || rd.GetBuilder().GetVersion()["dagger"] != "v0.19.10" ||
		rd.GetMetadata().GetFinishedOn().AsTime().Sub(rd.GetMetadata().GetStartedOn().AsTime()) != 42*time.Second {
		t.Errorf("run details: %v", rd)
	}
	ext := p.GetBuildDefinition().GetExternalParameters().AsMap()
	if ext["function"] != "publish" || !strings.Contains(toJSON(ext["secrets"]), "SIGNING_KEY") {
		t.Errorf("external parameters: %v", ext)
	}
	var uris []string
	for _, d := range p.GetBuildDefinition().GetResolvedDependencies() {
		uris = append(uris, d.GetUri()+d.GetName())
		if d.GetUri() == "pkg:golang/golang.org/x/text@v0.3.7" && d.GetDigest()[attest.GoModuleH1] != "olpwvP2KacW1ZWvsR7uQhoyTYvKAupfQrRGBFM352Gk=" {
			t.Errorf("x/text's h1 hash: %v", d.GetDigest())
		}
	}
	want := "git+https://gitlab.example.com/team/billing@refs/heads/main," + host + "/golang" + ",pkg:golang/golang.org/x/text@v0.3.7"
	want = strings.Replace(want, host+"/golang", "index.docker.io/library/golang", 1)
	if strings.Join(uris, ",") != want {
		t.Errorf("resolved dependencies\n %s\nwant\n %s", strings.Join(uris, ","), want)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestRefusals: what an attacker who can push to the registry, but does
// not hold the signing key, can do, done for real against a registry;
// each is refused with its reason, and the genuine attestation still
// verifies next to it.
func TestRefusals(t *testing.T) {
	ctx := context.Background()
	host := registrytest.Serve(t)
	good := signer(t)
	attacker := signer(t)
	v := verifier(t, good)
	evidence := map[string]any{"kind": "deployed", "environment": "staging", "verified": true}
	const deployed = "https://github.com/slipway-ci/slipway/attestation/deployed/v1"

	tests := []struct {
		name   string
		attack func(t *testing.T, img name.Digest)
		reason attest.Reason
		detail string
	}{
		{"unsigned referrer", func(t *testing.T, img name.Digest) {
			pushPlainReferrer(t, img, `{"kind":"deployed","environment":"staging","verified":true}`)
		}, attest.Unsigned, "not a Sigstore bundle"},
		{"signed by an untrusted key", func(t *testing.T, img name.Digest) {
			if _, err := attacker.Attest(ctx, img, deployed, evidence); err != nil {
				t.Fatal(err)
			}
		}, attest.UntrustedKey, "key ID " + attacker.KeyID()},
		{"tampered attestation, one byte changed", func(t *testing.T, img name.Digest) {
			st, err := attest.Statement(img, deployed, map[string]any{"kind": "deployed", "environment": "staging", "verified": false})
			if err != nil {
				t.Fatal(err)
			}
			b, err := good.Sign(ctx, st)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := attest.Attach(ctx, img, flipPayloadByte(t, b, "false", "true "), deployed); err != nil {
				t.Fatal(err)
			}
		}, attest.BadSignature, "names current (key ID " + good.KeyID() + ")"},
		{"evidence for a different digest", func(t *testing.T, img name.Digest) {
			other := pushImage(t, host, "team/other")
			st, err := attest.Statement(other, deployed, evidence)
			if err != nil {
				t.Fatal(err)
			}
			b, err := good.Sign(ctx, st)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := attest.Attach(ctx, img, b, deployed); err != nil {
				t.Fatal(err)
			}
		}, attest.OtherDigest, "not " + "IMG"},
		{"not a bundle", func(t *testing.T, img name.Digest) {
			if _, err := attest.Attach(ctx, img, []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`), deployed); err != nil {
				t.Fatal(err)
			}
		}, attest.Malformed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := pushImage(t, host, "team/"+strings.ReplaceAll(tt.name, " ", "-")[:10])
			if _, err := good.Attest(ctx, img, attest.CosignSignPredicate, nil); err != nil {
				t.Fatal(err)
			}
			tt.attack(t, img)
			rep, err := v.Verify(ctx, img)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Attestations) != 1 || rep.Attestations[0].PredicateType() != attest.CosignSignPredicate {
				t.Errorf("verified %d attestations, want the genuine signature only", len(rep.Attestations))
			}
			if len(rep.Find(deployed)) != 0 {
				t.Errorf("the attacker's evidence verified")
			}
			if len(rep.Rejected) != 1 {
				t.Fatalf("rejected %v, want one", rep.Rejected)
			}
			rj := rep.Rejected[0]
			if rj.Reason != tt.reason {
				t.Errorf("reason %q, want %q (%s)", rj.Reason, tt.reason, rj)
			}
			want := strings.ReplaceAll(tt.detail, "IMG", img.DigestStr())
			if !strings.Contains(rj.Detail, want) {
				t.Errorf("detail %q lacks %q", rj.Detail, want)
			}
			if tt.reason != attest.Unsigned && tt.reason != attest.Malformed && rj.PredicateType != deployed {
				t.Errorf("the rejection does not name what it claimed to be: %s", rj)
			}
		})
	}
}

// flipPayloadByte changes one byte of a bundle's signed payload (from
// to to, the same length) and returns the bundle, still well-formed.
func flipPayloadByte(t *testing.T, bundle []byte, from, to string) []byte {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	env := b["dsseEnvelope"].(map[string]any)
	payload, err := base64.StdEncoding.DecodeString(env["payload"].(string))
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(payload), from, to, 1)
	if changed == string(payload) || len(changed) != len(payload) {
		t.Fatalf("payload has no %q to change", from)
	}
	env["payload"] = base64.StdEncoding.EncodeToString([]byte(changed))
	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pushPlainReferrer pushes an unsigned artifact referring to img, the
// shape of slipway's older unsigned evidence.
func pushPlainReferrer(t *testing.T, img name.Digest, body string) {
	t.Helper()
	art := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	art = mutate.ConfigMediaType(art, "application/vnd.slipway.evidence.v1+json")
	art, err := mutate.Append(art, mutate.Addendum{Layer: static.NewLayer([]byte(body), "application/json")})
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(img)
	if err != nil {
		t.Fatal(err)
	}
	art = mutate.Subject(art, v1.Descriptor{MediaType: desc.MediaType, Size: desc.Size, Digest: desc.Digest}).(v1.Image)
	d, err := art.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(img.Context().Digest(d.String()), art); err != nil {
		t.Fatal(err)
	}
}

// TestRotation: with the new key trusted next to the old one, both
// verify; once the old key is dropped, what it signed is refused as
// untrusted.
func TestRotation(t *testing.T) {
	ctx := context.Background()
	host := registrytest.Serve(t)
	oldKey, newKey := signer(t), signer(t)
	img := pushImage(t, host, "team/rotation")
	for _, s := range []*attest.Signer{oldKey, newKey} {
		if _, err := s.SignImage(ctx, img); err != nil {
			t.Fatal(err)
		}
	}
	both, err := verifier(t, newKey, oldKey).Verify(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, a := range both.Attestations {
		names[a.Key.Name] = true
	}
	if len(both.Attestations) != 2 || !names["current"] || !names["previous"] {
		t.Errorf("with both keys trusted: %d verified (%v), rejected %v", len(both.Attestations), names, both.Rejected)
	}
	onlyNew, err := verifier(t, newKey).Verify(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	if len(onlyNew.Attestations) != 1 || len(onlyNew.Rejected) != 1 || onlyNew.Rejected[0].Reason != attest.UntrustedKey ||
		!strings.Contains(onlyNew.Rejected[0].Detail, oldKey.KeyID()) {
		t.Errorf("with the old key dropped: %d verified, rejected %v", len(onlyNew.Attestations), onlyNew.Rejected)
	}
}

func TestLoadSignerRefuses(t *testing.T) {
	pub := signer(t).PublicKeyPEM()
	for _, tt := range []struct {
		name string
		key  []byte
		want string
	}{
		{"not PEM", []byte("SIGNING_KEY"), "attest: the signing key is neither PEM nor base64 of PEM; give the private key file `cosign generate-key-pair` wrote (cosign.key), a PKCS #8 PEM key, or either as one line of base64 (base64 -w0 cosign.key)"},
		{"base64 of something else", []byte(base64.StdEncoding.EncodeToString([]byte("not a key"))), "attest: the signing key is neither PEM nor base64 of PEM; give the private key file `cosign generate-key-pair` wrote (cosign.key), a PKCS #8 PEM key, or either as one line of base64 (base64 -w0 cosign.key)"},
		{"public key", pub, "attest: the signing key is a public key; signing needs the private key (the public key goes to the gate's trusted keys)"},
		{"two keys", append(newKey(t), newKey(t)...), "attest: the signing key holds more than one PEM block; give one private key"},
		{"certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), `attest: a "CERTIFICATE" PEM block is not a private key this signer reads (ENCRYPTED SIGSTORE PRIVATE KEY, PRIVATE KEY, EC PRIVATE KEY, RSA PRIVATE KEY)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := attest.LoadSigner(tt.key, nil)
			if err == nil || err.Error() != tt.want {
				t.Errorf("err = %v\nwant %s", err, tt.want)
			}
		})
	}
	if _, err := attest.NewVerifier(); err == nil || err.Error() != "attest: no trusted public key; give the public key of the CI's signing key (cosign.pub)" {
		t.Errorf("NewVerifier() = %v", err)
	}
	k, _ := attest.ParsePublicKey("a", pub)
	if _, err := attest.NewVerifier(k, k); err == nil || !strings.Contains(err.Error(), "is given twice") {
		t.Errorf("the same key twice: %v", err)
	}
}

func TestProvenanceRefuses(t *testing.T) {
	p := testProvenance(goSum)
	p.Repository, p.Function = "", ""
	p.Arguments = map[string]string{"SIGNING_KEY": "-----BEGIN"}
	p.Finished = p.Started.Add(-time.Second)
	_, err := p.Predicate()
	want := `attest: provenance: argument "SIGNING_KEY" is a secret: give secrets by name in Secrets, never their values in Arguments; ` +
		"the function called is missing (Function); the source repository is missing (Repository); the start and finish times are missing or out of order (Started, Finished)"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
	if _, err := attest.GoSumModules([]byte("golang.org/x/text v0.3.7\n")); err == nil || !strings.Contains(err.Error(), "go.sum line 1") {
		t.Errorf("a bad go.sum: %v", err)
	}
}

// TestFromEnv: the key and the trusted keys as a CI gives them, and the
// SBOM attestations made from stage/sbom's documents.
func TestFromEnv(t *testing.T) {
	ctx := context.Background()
	key := newKey(t)
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if s, err := attest.SignerFromEnv(getenv); s != nil || err != nil {
		t.Fatalf("no SIGNING_KEY: %v, %v; want nothing", s, err)
	}
	env[attest.SigningKeyEnv] = "not a key"
	if _, err := attest.SignerFromEnv(getenv); err == nil || !strings.HasPrefix(err.Error(), "SIGNING_KEY: attest: the signing key is neither PEM nor base64 of PEM") {
		t.Errorf("a bad SIGNING_KEY: %v", err)
	}
	env[attest.SigningKeyEnv] = string(key)
	s, err := attest.SignerFromEnv(getenv)
	if err != nil {
		t.Fatal(err)
	}
	old := signer(t)
	pemFile := t.TempDir() + "/trusted.pem"
	named := strings.Replace(string(s.PublicKeyPEM()), "-----BEGIN PUBLIC KEY-----\n", "-----BEGIN PUBLIC KEY-----\nName: 2026-q4\n\n", 1)
	if err := os.WriteFile(pemFile, []byte(named+string(old.PublicKeyPEM())), 0o600); err != nil {
		t.Fatal(err)
	}
	env[attest.TrustedKeysFileEnv] = pemFile
	v, err := attest.VerifierFromEnv(getenv)
	if err != nil {
		t.Fatal(err)
	}
	if ks := v.Keys(); len(ks) != 2 || ks[0].Name != "2026-q4" || ks[0].ID != s.KeyID() || ks[1].Name != "key 2" {
		t.Errorf("trusted keys: %v", ks)
	}
	env[attest.TrustedKeysEnv] = "garbage"
	if _, err := attest.VerifierFromEnv(getenv); err == nil || err.Error() != "attest: no PEM public key in the trusted keys; give cosign.pub (several concatenated to rotate)" {
		t.Errorf("bad trusted keys: %v", err)
	}

	host := registrytest.Serve(t)
	img := pushImage(t, host, "team/sbom")
	if _, err := s.AttestSBOMs(ctx, img, attest.SBOMs{}); err == nil || !strings.Contains(err.Error(), "no SBOM document") {
		t.Errorf("no documents: %v", err)
	}
	hs, err := s.AttestSBOMs(ctx, img, attest.SBOMs{CycloneDX: []byte(`{"bomFormat":"CycloneDX","specVersion":"1.7"}`), SPDX: []byte(`{"spdxVersion":"SPDX-2.3"}`)})
	if err != nil || len(hs) != 2 {
		t.Fatalf("AttestSBOMs: %v, %v", hs, err)
	}
	rep, err := v.Verify(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Find(attest.CycloneDXPredicate)) != 1 || len(rep.Find(attest.SPDXPredicate)) != 1 || rep.Find(attest.SPDXPredicate)[0].Key.Name != "2026-q4" {
		t.Errorf("SBOM attestations: %d verified, rejected %v", len(rep.Attestations), rep.Rejected)
	}
}

// TestGenerateKeyPair: the private key loads as a signer whose public key
// is the one returned, and a second pair is a different key.
func TestGenerateKeyPair(t *testing.T) {
	priv, pub, err := attest.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	s, err := attest.LoadSigner(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(s.PublicKeyPEM()) != string(pub) {
		t.Errorf("public key %q, want the signer's %q", pub, s.PublicKeyPEM())
	}
	keys, err := attest.ParseTrustedKeys(pub)
	if err != nil || len(keys) != 1 || keys[0].ID != s.KeyID() {
		t.Errorf("trusted keys %v, %v; want the one key %s", keys, err, s.KeyID())
	}
	// The one-line base64 form GitLab can mask, with the line breaks
	// `base64` without -w0 adds, signs and trusts as the same keys.
	b64 := func(b []byte) []byte {
		e := base64.StdEncoding.EncodeToString(b)
		return []byte(e[:20] + "\n" + e[20:] + "\n")
	}
	if s2, err := attest.LoadSigner(b64(priv), nil); err != nil || s2.KeyID() != s.KeyID() {
		t.Errorf("base64 signing key: %v, %v; want key %s", s2, err, s.KeyID())
	}
	if keys, err := attest.ParseTrustedKeys(b64(pub)); err != nil || len(keys) != 1 || keys[0].ID != s.KeyID() {
		t.Errorf("base64 trusted keys %v, %v; want the one key %s", keys, err, s.KeyID())
	}
	priv2, _, err := attest.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	if string(priv2) == string(priv) {
		t.Error("two pairs are the same key")
	}
}
