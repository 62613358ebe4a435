package deploy_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipway-ci/slipway/deploy"
	"github.com/slipway-ci/slipway/deploy/attest"
	"github.com/slipway-ci/slipway/internal/mirror"
	"github.com/slipway-ci/slipway/internal/registrytest"
	"github.com/slipway-ci/slipway/pipeline"
)

const sourceRepo = "https://gitlab.example.com/shop/web"

// pushTagged pushes a new random image as host/shop/web:tag.
func pushTagged(t testing.TB, host, tag string) name.Digest {
	return registrytest.PushRandom(t, host, "shop/web", tag, 256)
}

func newSigner(t testing.TB) *attest.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	s, err := attest.LoadSigner(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func trust(t testing.TB, s *attest.Signer, now time.Time) *deploy.Trust {
	t.Helper()
	keys, err := attest.ParseTrustedKeys(s.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	v, err := attest.NewVerifier(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return &deploy.Trust{Verifier: v, SourceRepository: sourceRepo, Scanners: []string{"trivy", "govulncheck"}, Now: func() time.Time { return now }}
}

func provenance(repo string, at time.Time) attest.Provenance {
	return attest.Provenance{DaggerVersion: "v0.19.10", SlipwayVersion: "v0.9.0", Repository: repo, Revision: strings.Repeat("c", 40),
		Function: "publish", Started: at.Add(-time.Minute), Finished: at}
}

// signEverything is what the pipeline does for a good image with the
// signer's key: sign the digest, record provenance, deploy to staging
// (signed evidence), scan with trivy and govulncheck (signed evidence).
func signEverything(t testing.TB, s *attest.Signer, d name.Digest, at time.Time) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.SignImage(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AttestProvenance(ctx, d, provenance(sourceRepo, at)); err != nil {
		t.Fatal(err)
	}
	store := deploy.NewSignedReferrers(s, nil)
	if err := store.Record(ctx, d, deploy.Evidence{Kind: deploy.Deployed, Environment: "staging", Tier: pipeline.Staging, Verified: true, Time: at}); err != nil {
		t.Fatal(err)
	}
	for _, sc := range []string{"trivy", "govulncheck"} {
		if err := store.Record(ctx, d, deploy.Evidence{Kind: deploy.Scanned, Scanner: sc, Threshold: "HIGH,CRITICAL", Clean: true, Time: at}); err != nil {
			t.Fatal(err)
		}
	}
}

var approved = &deploy.Approval{By: "alice", Reason: "release 1.2"}

// TestSignedGate: the verifying gate passes a fully signed image and
// refuses each attack, done for real against a real registry, naming the
// failed check and what it refused.
func TestSignedGate(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	host := registrytest.Serve(t)
	good := newSigner(t)
	attacker := newSigner(t)
	prod := deploy.Environment{Name: "production", Tier: pipeline.Production}

	tests := []struct {
		name string
		// setup prepares the registry and returns the digest released.
		setup   func(t *testing.T) name.Digest
		gateNow time.Time
		// wantIs has one error a failed check (each scanner is one).
		wantIs []error
		// want are substrings of the error, IMG the released digest.
		want []string
	}{
		{"fully signed passes", func(t *testing.T) name.Digest {
			d := pushTagged(t, host, "ok")
			signEverything(t, good, d, now.Add(-time.Hour))
			return d
		}, now, nil, nil},
		{"unsigned evidence (the old store) is refused", func(t *testing.T) name.Digest {
			d := pushTagged(t, host, "unsigned")
			old := deploy.NewReferrers()
			if err := old.Record(ctx, d, deploy.Evidence{Kind: deploy.Deployed, Environment: "staging", Tier: pipeline.Staging, Verified: true}); err != nil {
				t.Fatal(err)
			}
			if err := deploy.RecordScan(ctx, old, d.String(), "trivy", "HIGH,CRITICAL", 0); err != nil {
				t.Fatal(err)
			}
			return d
		}, now, []error{deploy.ErrNotSigned, deploy.ErrNotVerifiedInStaging, deploy.ErrNotScannedClean, deploy.ErrNotScannedClean, deploy.ErrNoProvenance},
			[]string{"not deployed and verified in staging: no signed evidence that it rolled out and passed verification in staging; deploy this digest there first (refused: referrer sha256:",
				"(application/vnd.slipway.evidence.v1+json): unsigned: not a Sigstore bundle)"}},
		{"forged referrer signed by an untrusted key", func(t *testing.T) name.Digest {
			d := pushTagged(t, host, "forged")
			signEverything(t, good, d, now.Add(-time.Hour))
			// Only the good image signature and scans remain trusted: the
			// staging evidence is the attacker's.
			d2 := pushTagged(t, host, "forged2")
			if _, err := good.SignImage(ctx, d2); err != nil {
				t.Fatal(err)
			}
			if _, err := good.AttestProvenance(ctx, d2, provenance(sourceRepo, now)); err != nil {
				t.Fatal(err)
			}
			for _, sc := range []string{"trivy", "govulncheck"} {
				if err := deploy.NewSignedReferrers(good, nil).Record(ctx, d2, deploy.Evidence{Kind: deploy.Scanned, Scanner: sc, Clean: true, Time: now}); err != nil {
					t.Fatal(err)
				}
			}
			if err := deploy.NewSignedReferrers(attacker, nil).Record(ctx, d2, deploy.Evidence{Kind: deploy.Deployed, Environment: "staging", Tier: pipeline.Staging, Verified: true}); err != nil {
				t.Fatal(err)
			}
			return d2
		}, now, []error{deploy.ErrNotVerifiedInStaging},
			[]string{"(" + deploy.DeployedPredicate + "): signed by an untrusted key: key ID " + attacker.KeyID()}},
		{"everything re-signed with an untrusted key", func(t *testing.T) name.Digest {
			d := pushTagged(t, host, "resigned")
			signEverything(t, attacker, d, now)
			return d
		}, now, []error{deploy.ErrNotSigned, deploy.ErrNotVerifiedInStaging, deploy.ErrNotScannedClean, deploy.ErrNotScannedClean, deploy.ErrNoProvenance},
			[]string{"not signed by a trusted key: no signature on IMG verifies with the trusted keys (key 1 (key ID " + good.KeyID() + ")); the publish job signs it with SIGNING_KEY (refused: referrer sha256:",
				"(" + attest.CosignSignPredicate + "): signed by an untrusted key: key ID " + attacker.KeyID()}},
		{"evidence for a different digest", func(t *testing.T) name.Digest {
			a := pushTagged(t, host, "a")
			signEverything(t, good, a, now)
			b := pushTagged(t, host, "b")
			copyBundles(t, a, b)
			return b
		}, now, []error{deploy.ErrNotSigned, deploy.ErrNotVerifiedInStaging, deploy.ErrNotScannedClean, deploy.ErrNotScannedClean, deploy.ErrNoProvenance},
			[]string{"about another image digest: signed by key 1 (key ID " + good.KeyID() + ") for sha256:"}},
		{"tampered attestation, one byte changed", func(t *testing.T) name.Digest {
			d := pushTagged(t, host, "tampered")
			if _, err := good.SignImage(ctx, d); err != nil {
				t.Fatal(err)
			}
			if _, err := good.AttestProvenance(ctx, d, provenance(sourceRepo, now)); err != nil {
				t.Fatal(err)
			}
			st := deploy.NewSignedReferrers(good, nil)
			for _, sc := range []string{"trivy", "govulncheck"} {
				if err := st.Record(ctx, d, deploy.Evidence{Kind: deploy.Scanned, Scanner: sc, Clean: true, Time: now}); err != nil {
					t.Fatal(err)
				}
			}
			// Verified in "staginG", not "staging": one byte changed.
			ev, err := attest.Statement(d, deploy.DeployedPredicate, deploy.Evidence{Kind: deploy.Deployed, Environment: "staginG", Tier: pipeline.Staging, Verified: true, Image: d.String(), Time: now})
			if err != nil {
				t.Fatal(err)
			}
			b, err := good.Sign(ctx, ev)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := attest.Attach(ctx, d, changePayload(t, b, "staginG", "staging"), deploy.DeployedPredicate); err != nil {
				t.Fatal(err)
			}
			return d
		}, now, []error{deploy.ErrNotVerifiedInStaging},
			[]string{"(" + deploy.DeployedPredicate + "): signature does not verify (changed after signing): names key 1 (key ID " + good.KeyID() + ")"}},
		{"re-tagged image", func(t *testing.T) name.Digest {
			good1 := pushTagged(t, host, "v1")
			signEverything(t, good, good1, now)
			// The attacker pushes their image under the tag that was
			// approved, and copies the good image's attestations onto it.
			evil := pushTagged(t, host, "v1")
			copyBundles(t, good1, evil)
			tag, err := name.NewTag(host + "/shop/web:v1")
			if err != nil {
				t.Fatal(err)
			}
			resolved, err := remote.Head(tag)
			if err != nil {
				t.Fatal(err)
			}
			if resolved.Digest.String() != evil.DigestStr() {
				t.Fatalf("the tag resolves to %s, not the attacker's %s", resolved.Digest, evil.DigestStr())
			}
			return evil
		}, now, []error{deploy.ErrNotSigned, deploy.ErrNotVerifiedInStaging, deploy.ErrNotScannedClean, deploy.ErrNotScannedClean, deploy.ErrNoProvenance},
			[]string{"about another image digest"}},
		{"scan older than allowed", func(t *testing.T) name.Digest {
			d := pushTagged(t, host, "stale")
			signEverything(t, good, d, now.Add(-25*time.Hour))
			return d
		}, now, []error{deploy.ErrScanTooOld, deploy.ErrScanTooOld},
			[]string{"scan evidence too old: the latest clean trivy scan is from 2026-12-03T11:00:00Z, 25h0m0s old, more than the 24h0m0s allowed; scan this digest again"}},
		{"provenance from another repository", func(t *testing.T) name.Digest {
			d := pushTagged(t, host, "otherrepo")
			signEverything(t, good, d, now)
			// Replace: a second image whose provenance names a fork.
			d2 := pushTagged(t, host, "otherrepo2")
			copyEverythingBut(t, good, d2, now, "provenance")
			if _, err := good.AttestProvenance(ctx, d2, provenance("https://gitlab.example.com/mallory/web", now)); err != nil {
				t.Fatal(err)
			}
			return d2
		}, now, []error{deploy.ErrNoProvenance},
			[]string{"no provenance from the expected builder and source: no signed SLSA provenance from builder " + attest.DefaultBuilderID + " of " + sourceRepo +
				" (found: builder " + attest.DefaultBuilderID + " of https://gitlab.example.com/mallory/web); the build job records it"}},
		{"a dirty govulncheck scan is not hidden by a clean trivy one", func(t *testing.T) name.Digest {
			d := pushTagged(t, host, "dirty")
			signEverything(t, good, d, now.Add(-2*time.Hour))
			if err := deploy.NewSignedReferrers(good, nil).Record(ctx, d, deploy.Evidence{Kind: deploy.Scanned, Scanner: "govulncheck", Threshold: "called", Findings: 1, Time: now.Add(-time.Hour)}); err != nil {
				t.Fatal(err)
			}
			if err := deploy.NewSignedReferrers(good, nil).Record(ctx, d, deploy.Evidence{Kind: deploy.Scanned, Scanner: "trivy", Threshold: "HIGH,CRITICAL", Clean: true, Time: now}); err != nil {
				t.Fatal(err)
			}
			return d
		}, now, []error{deploy.ErrNotScannedClean},
			[]string{"not scanned clean: the latest scan (govulncheck, 2026-12-04T11:00:00Z) found 1 vulnerabilities at called"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.setup(t)
			gate := &deploy.PromotionGate{Staging: "staging", Trust: trust(t, good, tt.gateNow)}
			err := gate.Allow(ctx, prod, deploy.Release{Image: d.String(), Approval: approved})
			if len(tt.wantIs) == 0 {
				if err != nil {
					t.Fatalf("Allow: %v", err)
				}
				return
			}
			var gerr *deploy.GateError
			if !errors.As(err, &gerr) {
				t.Fatalf("Allow: %v, want a *GateError", err)
			}
			for _, want := range tt.wantIs {
				if !errors.Is(err, want) {
					t.Errorf("the refusal does not name %q:\n%v", want, err)
				}
			}
			if len(gerr.Failed) != len(tt.wantIs) {
				t.Errorf("%d failed checks, want %d:\n%s", len(gerr.Failed), len(tt.wantIs), strings.Join(gerr.Failed, "\n"))
			}
			for _, w := range tt.want {
				w = strings.ReplaceAll(w, "IMG", d.DigestStr())
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the refusal lacks %q:\n%s", w, strings.Join(gerr.Failed, "\n"))
				}
			}
		})
	}
}

// copyBundles pushes every bundle referring to from as a referrer of to:
// what an attacker with push rights can do without the key.
func copyBundles(t *testing.T, from, to name.Digest) {
	t.Helper()
	idx, err := remote.Referrers(from)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range im.Manifests {
		img, err := remote.Image(from.Context().Digest(d.Digest.String()))
		if err != nil {
			t.Fatal(err)
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range m.Layers {
			if l.MediaType != attest.BundleMediaType {
				continue
			}
			b := blob(t, from, l)
			if _, err := attest.Attach(context.Background(), to, b, m.Annotations[attest.PredicateTypeAnnotation]); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("nothing to copy")
	}
}

func blob(t *testing.T, img name.Digest, l v1.Descriptor) []byte {
	t.Helper()
	layer, err := remote.Layer(img.Context().Digest(l.Digest.String()))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layer.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// copyEverythingBut signs d like signEverything, without one part.
func copyEverythingBut(t *testing.T, s *attest.Signer, d name.Digest, at time.Time, skip string) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.SignImage(ctx, d); err != nil {
		t.Fatal(err)
	}
	store := deploy.NewSignedReferrers(s, nil)
	if err := store.Record(ctx, d, deploy.Evidence{Kind: deploy.Deployed, Environment: "staging", Tier: pipeline.Staging, Verified: true, Time: at}); err != nil {
		t.Fatal(err)
	}
	for _, sc := range []string{"trivy", "govulncheck"} {
		if err := store.Record(ctx, d, deploy.Evidence{Kind: deploy.Scanned, Scanner: sc, Clean: true, Time: at}); err != nil {
			t.Fatal(err)
		}
	}
	if skip != "provenance" {
		if _, err := s.AttestProvenance(ctx, d, provenance(sourceRepo, at)); err != nil {
			t.Fatal(err)
		}
	}
}

// changePayload replaces from with to (the same length) in a bundle's
// signed payload, keeping the bundle well-formed.
func changePayload(t *testing.T, bundle []byte, from, to string) []byte {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	env := b["dsseEnvelope"].(map[string]any)
	p, err := base64.StdEncoding.DecodeString(env["payload"].(string))
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(p), from, to, 1)
	if changed == string(p) || len(changed) != len(p) {
		t.Fatalf("no %q in the payload", from)
	}
	env["payload"] = base64.StdEncoding.EncodeToString([]byte(changed))
	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSignedGateSettings: a verifying gate without its settings refuses
// before reading anything.
func TestSignedGateSettings(t *testing.T) {
	host := registrytest.Serve(t)
	d := pushTagged(t, host, "x")
	prod := deploy.Environment{Name: "production", Tier: pipeline.Production}
	tr := trust(t, newSigner(t), time.Now())
	for _, tt := range []struct {
		name  string
		trust *deploy.Trust
		want  string
	}{
		{"no keys", &deploy.Trust{SourceRepository: sourceRepo}, `environment "production": the gate trusts no key (Trust.Verifier); give the public key of the pipeline's SIGNING_KEY`},
		{"no source repository", &deploy.Trust{Verifier: tr.Verifier}, `environment "production": the gate expects no source repository (Trust.SourceRepository); name the repository production images are built from`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := (&deploy.PromotionGate{Trust: tt.trust}).Allow(context.Background(), prod, deploy.Release{Image: d.String(), Approval: approved})
			if err == nil || err.Error() != tt.want {
				t.Errorf("err = %v\nwant %s", err, tt.want)
			}
		})
	}
}

// TestSignedReferrersStore: signed evidence round-trips through the
// EvidenceStore interface, and Recording/Gated work with it as with the
// unsigned store.
func TestSignedReferrersStore(t *testing.T) {
	ctx := context.Background()
	host := registrytest.Serve(t)
	d := pushTagged(t, host, "store")
	s := newSigner(t)
	tr := trust(t, s, time.Now())
	store := deploy.NewSignedReferrers(s, tr.Verifier)
	if err := store.Record(ctx, d, deploy.Evidence{Kind: deploy.Deployed, Environment: "staging", Tier: pipeline.Staging, Verified: true, Revision: "3"}); err != nil {
		t.Fatal(err)
	}
	if err := deploy.RecordScan(ctx, store, d.String(), "trivy", "HIGH,CRITICAL", 2); err != nil {
		t.Fatal(err)
	}
	evs, err := store.Evidence(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Kind != deploy.Deployed || evs[0].Revision != "3" || evs[1].Findings != 2 || evs[1].Clean || evs[1].Image != d.String() {
		t.Fatalf("evidence: %+v", evs)
	}
	readOnly := deploy.NewSignedReferrers(nil, tr.Verifier)
	if err := readOnly.Record(ctx, d, deploy.Evidence{Kind: deploy.Scanned}); err == nil || !strings.Contains(err.Error(), "no signing key") {
		t.Errorf("a store without a key recorded: %v", err)
	}
	if _, err := deploy.PredicateType("approved"); err == nil || err.Error() != `evidence: no predicate type for evidence kind "approved"` {
		t.Errorf("PredicateType: %v", err)
	}

}

// TestSignedGateOnTheMirrorRegistry runs the verifying gate against the
// registry the local engine's mirror runs (internal/mirror: manifests
// journaled on disk, no referrers API, so referrers go to the tag-schema
// fallback): signed evidence passes, re-signed evidence is refused, and
// both survive a restart of the registry.
func TestSignedGateOnTheMirrorRegistry(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	start := func() (string, func()) {
		reg, err := mirror.NewRegistry(filepath.Join(dir, "blobs"), filepath.Join(dir, "manifests"))
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(reg)
		return strings.TrimPrefix(srv.URL, "http://"), func() { srv.Close(); reg.Close() }
	}
	host, stop := start()
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	good, attacker := newSigner(t), newSigner(t)
	ok := pushTagged(t, host, "ok")
	signEverything(t, good, ok, now)
	bad := pushTagged(t, host, "bad")
	signEverything(t, attacker, bad, now)
	stop()

	host, stop = start()
	defer stop()
	prod := deploy.Environment{Name: "production", Tier: pipeline.Production}
	gate := &deploy.PromotionGate{Staging: "staging", Trust: trust(t, good, now)}
	reloc := func(d name.Digest) string { return host + "/shop/web@" + d.DigestStr() }
	if err := gate.Allow(ctx, prod, deploy.Release{Image: reloc(ok), Approval: approved}); err != nil {
		t.Errorf("the signed image is refused: %v", err)
	}
	err := gate.Allow(ctx, prod, deploy.Release{Image: reloc(bad), Approval: approved})
	if !errors.Is(err, deploy.ErrNotSigned) || !strings.Contains(err.Error(), "signed by an untrusted key: key ID "+attacker.KeyID()) {
		t.Errorf("the re-signed image: %v", err)
	}
}
