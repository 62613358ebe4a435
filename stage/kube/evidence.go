package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"dagger.io/dagger"
)

// evidenceConfig is what signs the evidence and what production's gate
// trusts and asks for.
type evidenceConfig struct {
	signingKey, signingPassword *dagger.Secret
	trustedKeys                 *dagger.Secret
	sourceRepository            string
	scanners                    []string
	maxScanAge                  time.Duration
	requireVerification         bool
}

// WithSigningKey makes the tool sign the evidence it records (a staging
// deploy's, a scan's) with the private key (cosign.key's PEM; password is
// its password, nil for an unencrypted key). Both reach the tool as
// secret variables, SIGNING_KEY and SIGNING_KEY_PASSWORD. Without a key
// the evidence is recorded unsigned, which production's gate refuses.
func WithSigningKey(key, password *dagger.Secret) Option {
	return func(c *config) { c.evidence.signingKey, c.evidence.signingPassword = key, password }
}

// WithTrustedKeys gives production's gate the public keys it trusts
// (PEM, several concatenated to rotate), as the secret variable
// SLIPWAY_TRUSTED_KEYS: a secret not because a public key is, but so that
// a CI variable reaches the tool the same way as the others. Production
// refuses every deploy without them.
func WithTrustedKeys(keys *dagger.Secret) Option {
	return func(c *config) { c.evidence.trustedKeys = keys }
}

// WithProductionChecks sets what production's gate asks of the signed
// evidence: provenance naming sourceRepository (required), a signed clean
// scan from each of scanners (empty: each recorded, at least one), no
// older than maxScanAge (0: the tool's default, a day).
func WithProductionChecks(sourceRepository string, scanners []string, maxScanAge time.Duration) Option {
	return func(c *config) {
		c.evidence.sourceRepository, c.evidence.scanners, c.evidence.maxScanAge = sourceRepository, scanners, maxScanAge
	}
}

// WithRequireVerification makes production's gate count staging evidence
// only when a post-deploy check (smoke test, alerts) ran there and passed,
// not when the rollout alone was waited for (a staging deploy with
// NoVerify, or of a Deployment with nothing to probe).
func WithRequireVerification() Option {
	return func(c *config) { c.evidence.requireVerification = true }
}

func (e evidenceConfig) keys(ctr *dagger.Container) *dagger.Container {
	if e.signingKey != nil {
		ctr = ctr.WithSecretVariable("SIGNING_KEY", e.signingKey)
	}
	if e.signingPassword != nil {
		ctr = ctr.WithSecretVariable("SIGNING_KEY_PASSWORD", e.signingPassword)
	}
	if e.trustedKeys != nil {
		ctr = ctr.WithSecretVariable("SLIPWAY_TRUSTED_KEYS", e.trustedKeys)
	}
	return ctr
}

func (e evidenceConfig) productionArgs() []string {
	var args []string
	if e.sourceRepository != "" {
		args = append(args, "--source-repository="+e.sourceRepository)
	}
	if len(e.scanners) > 0 {
		args = append(args, "--scanners="+strings.Join(e.scanners, ","))
	}
	if e.maxScanAge > 0 {
		args = append(args, "--max-scan-age="+e.maxScanAge.String())
	}
	if e.requireVerification {
		args = append(args, "--require-verification")
	}
	return args
}

// Provenance is how an image was built, as the tool turns it into signed
// SLSA provenance v1 (deploy/attest.Provenance's fields, which the tool
// reads by these names).
type Provenance struct {
	// BuilderID is the SLSA builder.id; empty is slipway's.
	BuilderID string
	// SlipwayVersion and DaggerVersion are the builder's versions.
	SlipwayVersion, DaggerVersion string
	// Repository, Revision and Ref are the source built.
	Repository, Revision, Ref string
	// Function is the Dagger function called, Arguments its arguments and
	// Secrets the names of the secrets it was given (never their values).
	Function  string
	Arguments map[string]string
	Secrets   []string
	// BaseImages are the images the build started from, pinned by digest.
	BaseImages []string
	// InvocationID identifies the run (a CI job URL or ID).
	InvocationID string
	// Started and Finished bound the build; a zero Finished is when the
	// tool signs (a build that pushes and signs in one exec).
	Started, Finished time.Time
}

// Build is what Attest signs about an image besides its digest.
type Build struct {
	// CycloneDX and SPDX are the image's SBOM documents (stage/sbom);
	// either may be nil.
	CycloneDX, SPDX *dagger.File
	// CycloneDXPath and SPDXPath name the SBOM documents by their paths
	// in Attesting's container instead, where an earlier command of the
	// same exec writes them.
	CycloneDXPath, SPDXPath string
	// Provenance, when set, is signed as SLSA provenance, with GoSum's
	// modules as resolved dependencies.
	Provenance *Provenance
	GoSum      *dagger.File
}

// Attest signs image's digest with the key of WithSigningKey (required)
// and attaches, as signed referrers, the SBOMs and the provenance of b.
// It returns the tool's line: the digest signed, the key's ID and what
// was attached.
func Attest(ctx context.Context, client *dagger.Client, image string, b Build, opts ...Option) (string, error) {
	ctr, args, err := attesting(client, EvidenceTool(client, opts...), b, newConfig(opts))
	if err != nil {
		return "", err
	}
	return run(ctx, "attest", ctr, append(args, "--image="+image))
}

// Attesting is Attest for a stage that attests in an exec of its own, to
// do it where the image is pushed (publish pushes, makes the SBOM and
// signs in one exec): ctr with the evidence tool at EvidenceToolPath and what attest
// reads (the signing key, the registry's credentials, b's files), and the
// tool's arguments without the image, which the caller appends
// (--image=repository@sha256:digest) once the push has printed it. The
// tool prints one line; when it fails, its message is on standard error
// and its exit status is not 0.
func Attesting(client *dagger.Client, ctr *dagger.Container, b Build, opts ...Option) (*dagger.Container, []string, error) {
	c := newConfig(opts)
	// Mounted, not copied: a copy would be made again for each image.
	return attesting(client, ctr.WithMountedFile(EvidenceToolPath, evidenceBinary(client, c)), b, c)
}

// attesting adds to ctr, which has the tool, what attest reads.
func attesting(client *dagger.Client, ctr *dagger.Container, b Build, c config) (*dagger.Container, []string, error) {
	if c.evidence.signingKey == nil {
		return nil, nil, fmt.Errorf("attest: no signing key (WithSigningKey)")
	}
	ctr = c.withRegistryAuth(ctr).
		WithEnvVariable("SLIPWAY_ATTESTED_AT", c.now().UTC().Format(time.RFC3339Nano))
	args := []string{EvidenceToolPath, "attest"}
	const dir = "/run/evidence/"
	mount := func(f *dagger.File, name, flag string) {
		if f != nil {
			ctr = ctr.WithMountedFile(dir+name, f)
			args = append(args, "--"+flag+"="+dir+name)
		}
	}
	mount(b.CycloneDX, "sbom.cdx.json", "sbom-cyclonedx")
	mount(b.SPDX, "sbom.spdx.json", "sbom-spdx")
	if b.CycloneDXPath != "" {
		args = append(args, "--sbom-cyclonedx="+b.CycloneDXPath)
	}
	if b.SPDXPath != "" {
		args = append(args, "--sbom-spdx="+b.SPDXPath)
	}
	if b.Provenance != nil {
		raw, err := json.Marshal(b.Provenance)
		if err != nil {
			return nil, nil, fmt.Errorf("attest: %w", err)
		}
		mount(client.Directory().WithNewFile("provenance.json", string(raw)).File("provenance.json"), "provenance.json", "provenance")
		mount(b.GoSum, "go.sum", "go-sum")
	}
	return ctr, args, nil
}
