package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/slipway-ci/slipway/deploy"
	"github.com/slipway-ci/slipway/deploy/attest"
	"github.com/slipway-ci/slipway/deploy/evidence"
)

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
	return &deploy.PromotionGate{Staging: f.stagingEnv, RequireVerification: f.requireVerification, Trust: &deploy.Trust{
		Verifier: v, Remote: evidence.RegistryOptionsFromEnv(getenv), MaxScanAge: age, Scanners: scanners, SourceRepository: f.sourceRepo,
	}}, nil
}

// refusal is production refusing a digest before its gate can run (no key
// is trusted, so no evidence could be): a refusal in notifications, like
// the gate's own *deploy.GateError, not a failed deploy.
type refusal struct{ err error }

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }
