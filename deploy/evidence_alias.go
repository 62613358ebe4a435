package deploy

import (
	"context"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipway-ci/slipway/deploy/attest"
	"github.com/slipway-ci/slipway/deploy/evidence"
)

// The evidence model lives in deploy/evidence, which builds without
// Kubernetes; these names keep deploy's API, which the gate and its
// callers read evidence through, as it was.
type (
	// Evidence is evidence.Evidence: one fact about an image digest.
	Evidence = evidence.Evidence
	// EvidenceKind is evidence.Kind.
	EvidenceKind = evidence.Kind
	// EvidenceStore is evidence.Store.
	EvidenceStore = evidence.Store
	// Referrers is evidence.Referrers: unsigned evidence as OCI referrers.
	Referrers = evidence.Referrers
	// SignedReferrers is evidence.SignedReferrers: evidence as signed
	// in-toto attestations.
	SignedReferrers = evidence.SignedReferrers
)

// The kinds, artifact type and predicate types of evidence.
const (
	// Deployed is evidence.Deployed.
	Deployed = evidence.Deployed
	// Scanned is evidence.Scanned.
	Scanned = evidence.Scanned
	// EvidenceArtifactType is evidence.ArtifactType.
	EvidenceArtifactType = evidence.ArtifactType
	// DeployedPredicate is evidence.DeployedPredicate.
	DeployedPredicate = evidence.DeployedPredicate
	// ScannedPredicate is evidence.ScannedPredicate.
	ScannedPredicate = evidence.ScannedPredicate
)

// NewReferrers is evidence.NewReferrers.
func NewReferrers(opts ...remote.Option) *Referrers { return evidence.NewReferrers(opts...) }

// NewSignedReferrers is evidence.NewSignedReferrers.
func NewSignedReferrers(signer *attest.Signer, verifier *attest.Verifier, opts ...remote.Option) *SignedReferrers {
	return evidence.NewSignedReferrers(signer, verifier, opts...)
}

// PredicateType is evidence.PredicateType.
func PredicateType(kind EvidenceKind) (string, error) { return evidence.PredicateType(kind) }

// RecordScan is evidence.RecordScan: it records the result of a
// vulnerability scan of image.
func RecordScan(ctx context.Context, store EvidenceStore, image, scanner, threshold string, findings int) error {
	return evidence.RecordScan(ctx, store, image, scanner, threshold, findings)
}

// ParseDigest is evidence.ParseDigest: an image reference that names a
// digest; a tag alone is refused.
func ParseDigest(image string) (name.Digest, error) { return evidence.ParseDigest(image) }
