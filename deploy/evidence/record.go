package evidence

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipway-ci/slipway/deploy/attest"
)

// RecordScan records the result of a vulnerability scan of image (by
// digest): findings at or above threshold, by scanner; none makes it clean.
func RecordScan(ctx context.Context, store Store, image, scanner, threshold string, findings int) error {
	d, err := ParseDigest(image)
	if err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	return store.Record(ctx, d, Evidence{Kind: Scanned, Scanner: scanner, Threshold: threshold, Findings: findings, Clean: findings == 0})
}

// ParseDigest parses an image reference that names a digest
// (registry/repo@sha256:<hex>, optionally with a tag before the @). A tag
// alone is refused: a tag can move between the test and the deploy, a
// digest cannot.
func ParseDigest(image string) (name.Digest, error) {
	if image == "" {
		return name.Digest{}, fmt.Errorf("no image given: pass the build's IMAGE_REF (registry/repo@sha256:<digest>)")
	}
	if !strings.Contains(image, "@") {
		return name.Digest{}, fmt.Errorf("image %q is a tag, not a digest: slipway deploys exactly the image that was tested and scanned; "+
			"pass it by digest (%s@sha256:<digest>: the build job's IMAGE_REF output, or `crane digest %s`)", image, repoOf(image), image)
	}
	d, err := name.NewDigest(image)
	if err != nil {
		return name.Digest{}, fmt.Errorf("image %q is not a valid digest reference: %w", image, err)
	}
	return d, nil
}

func repoOf(image string) string {
	if t, err := name.NewTag(image); err == nil {
		return t.Repository.Name()
	}
	return image
}

// RegistryOptionsFromEnv authenticates to the image's registry, where
// evidence is read and written, with REGISTRY_USERNAME and
// REGISTRY_PASSWORD; without either, anonymously.
func RegistryOptionsFromEnv(getenv func(string) string) []remote.Option {
	user, pw := getenv("REGISTRY_USERNAME"), getenv("REGISTRY_PASSWORD")
	if user == "" && pw == "" {
		return nil
	}
	return []remote.Option{remote.WithAuth(&authn.Basic{Username: user, Password: pw})}
}

// StoreFromEnv is where a deploy or a scan records its evidence: signed
// attestations with the key in attest.SigningKeyEnv, else unsigned
// referrers, which production's gate refuses. note says which, for a
// tool's one-line result.
func StoreFromEnv(getenv func(string) string) (store Store, note string, err error) {
	s, err := attest.SignerFromEnv(getenv)
	if err != nil {
		return nil, "", err
	}
	if s == nil {
		return NewReferrers(RegistryOptionsFromEnv(getenv)...),
			"evidence recorded unsigned (no " + attest.SigningKeyEnv + "; production's gate will refuse this digest)", nil
	}
	return NewSignedReferrers(s, nil, RegistryOptionsFromEnv(getenv)...), "signed evidence recorded (key ID " + s.KeyID() + ")", nil
}
