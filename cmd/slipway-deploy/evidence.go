package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"golang.org/x/sync/errgroup"

	"github.com/slipway-ci/slipway/deploy"
	"github.com/slipway-ci/slipway/deploy/attest"
)

// evidenceStore is where a deploy or a scan records its evidence: signed
// attestations with SIGNING_KEY, else unsigned referrers, which
// production's gate refuses. note says which, for the one-line result.
func evidenceStore(getenv func(string) string) (deploy.EvidenceStore, string, error) {
	s, err := attest.SignerFromEnv(getenv)
	if err != nil {
		return nil, "", err
	}
	if s == nil {
		return deploy.NewReferrers(registryOptions(getenv)...),
			"evidence recorded unsigned (no " + attest.SigningKeyEnv + "; production's gate will refuse this digest)", nil
	}
	return deploy.NewSignedReferrers(s, nil, registryOptions(getenv)...), "signed evidence recorded (key ID " + s.KeyID() + ")", nil
}

// promotionGate is production's gate: it verifies, with the trusted keys
// of SLIPWAY_TRUSTED_KEYS (or the file SLIPWAY_TRUSTED_KEYS_FILE names), a
// signature on the digest, signed staging evidence, signed clean scans no
// older than --max-scan-age and provenance of --source-repository. Without
// trusted keys there is nothing to verify with, so production refuses:
// unsigned evidence is what anyone who can push to the registry can forge.
func promotionGate(stage string, f deployFlags, getenv func(string) string) (*deploy.PromotionGate, error) {
	v, err := attest.VerifierFromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("%s: the trusted keys: %w", stage, err)
	}
	if v == nil {
		return nil, &refusal{fmt.Errorf("%s: production accepts only evidence signed by a trusted key, and no key is trusted: give the public key of the pipeline's %s (cosign.pub; several concatenated to rotate) in %s (the module's trustedKeys setting or deploy-production --trusted-keys), and sign publish, the scans and deploy-staging with %s",
			stage, attest.SigningKeyEnv, attest.TrustedKeysEnv, attest.SigningKeyEnv)}
	}
	if f.sourceRepo == "" {
		return nil, fmt.Errorf("%s: production checks the provenance's source repository, and none is expected: pass --source-repository (the module's sourceUrl setting): %w", stage, errUsage)
	}
	age, err := time.ParseDuration(f.maxScanAge)
	if err != nil || age <= 0 {
		return nil, fmt.Errorf("%s: max-scan-age %q is not a positive Go duration such as 24h", stage, f.maxScanAge)
	}
	var scanners []string
	for _, s := range strings.Split(f.scanners, ",") {
		if s = strings.TrimSpace(s); s != "" {
			scanners = append(scanners, s)
		}
	}
	return &deploy.PromotionGate{Staging: f.stagingEnv, Trust: &deploy.Trust{
		Verifier: v, Remote: registryOptions(getenv), MaxScanAge: age, Scanners: scanners, SourceRepository: f.sourceRepo,
	}}, nil
}

// runAttest signs what the build made: the image digest itself (as `cosign
// sign` does), the SBOM documents and the SLSA provenance, each pushed as
// a signed referrer of the digest, with SIGNING_KEY.
func runAttest(ctx context.Context, args []string, getenv func(string) string) (string, error) {
	const stage = "attest"
	fs := flag.NewFlagSet(stage, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	image := fs.String("image", "", "the built image, as repository@sha256:digest")
	cdx := fs.String("sbom-cyclonedx", "", "the image's CycloneDX SBOM file")
	spdx := fs.String("sbom-spdx", "", "the image's SPDX SBOM file")
	prov := fs.String("provenance", "", "the build's provenance, a JSON file of attest.Provenance's fields (no Finished: now)")
	goSum := fs.String("go-sum", "", "the built module's go.sum, the provenance's resolved Go modules")
	check := fs.Bool("check", false, "check the key and the provenance, sign and push nothing (before the image is pushed; the SBOM files need not exist yet)")
	if err := fs.Parse(args); err != nil {
		return "", fmt.Errorf("%s: %v: %w", stage, err, errUsage)
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("%s: unexpected arguments %q: %w", stage, fs.Args(), errUsage)
	}
	if *image == "" && !*check {
		return "", fmt.Errorf("%s: no --image: pass the repository@sha256:digest publish pushed: %w", stage, errUsage)
	}
	var d name.Digest
	if !*check {
		var err error
		if d, err = deploy.ParseDigest(*image); err != nil {
			return "", fmt.Errorf("%s: %w", stage, err)
		}
	}
	s, err := attest.SignerFromEnv(getenv)
	if err != nil {
		return "", fmt.Errorf("%s: %w", stage, err)
	}
	if s == nil {
		return "", fmt.Errorf("%s: no signing key: give the private key (cosign.key) in %s", stage, attest.SigningKeyEnv)
	}
	// Everything is read and checked before anything is pushed: a bad
	// file leaves no half-attested digest.
	var docs attest.SBOMs
	if !*check {
		if docs.CycloneDX, err = readOptional(*cdx); err == nil {
			docs.SPDX, err = readOptional(*spdx)
		}
		if err != nil {
			return "", fmt.Errorf("%s: %w", stage, err)
		}
	}
	var p *attest.Provenance
	if *prov != "" {
		raw, err := os.ReadFile(*prov)
		if err != nil {
			return "", fmt.Errorf("%s: %w", stage, err)
		}
		p = new(attest.Provenance)
		if err := json.Unmarshal(raw, p); err != nil {
			return "", fmt.Errorf("%s: the provenance file %s: %w", stage, *prov, err)
		}
		if p.GoSum, err = readOptional(*goSum); err != nil {
			return "", fmt.Errorf("%s: %w", stage, err)
		}
		// A build that pushes and signs in one exec (stage/publish)
		// cannot know when it finished before it is run: it is now,
		// with the image pushed and its SBOM made.
		if p.Finished.IsZero() {
			p.Finished = time.Now().UTC()
		}
	}
	if *check {
		return fmt.Sprintf("the signing key (key ID %s) and the provenance are usable", s.KeyID()), nil
	}
	// The referrers are independent of each other, so they are pushed at
	// once: this runs right after the build stage's push, and its round
	// trips were most of what signing added to it.
	opts := registryOptions(getenv)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		_, err := s.SignImage(gctx, d, opts...)
		return err
	})
	parts := []string{fmt.Sprintf("signed %s with key ID %s", d.DigestStr(), s.KeyID())}
	if len(docs.CycloneDX) > 0 || len(docs.SPDX) > 0 {
		g.Go(func() error {
			_, err := s.AttestSBOMs(gctx, d, docs, opts...)
			return err
		})
		parts = append(parts, "signed SBOM attached")
	}
	if p != nil {
		g.Go(func() error {
			_, err := s.AttestProvenance(gctx, d, *p, opts...)
			return err
		})
		builder := p.BuilderID
		if builder == "" {
			builder = attest.DefaultBuilderID
		}
		parts = append(parts, "signed SLSA provenance attached (builder "+builder+")")
	}
	if err := g.Wait(); err != nil {
		return "", fmt.Errorf("%s: %w", stage, err)
	}
	return strings.Join(parts, "; "), nil
}

// readOptional reads path, or nothing when path is empty.
func readOptional(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	return os.ReadFile(path)
}

// refusal is production refusing a digest before its gate can run (no key
// is trusted, so no evidence could be): a refusal in notifications, like
// the gate's own *deploy.GateError, not a failed deploy.
type refusal struct{ err error }

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }
