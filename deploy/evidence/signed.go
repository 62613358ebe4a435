package evidence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipway-ci/slipway/deploy/attest"
)

// The in-toto predicate types of signed evidence: the predicate is the
// Evidence itself, as JSON.
const (
	DeployedPredicate = "https://github.com/slipway-ci/slipway/attestation/deployed/v1"
	ScannedPredicate  = "https://github.com/slipway-ci/slipway/attestation/scanned/v1"
)

// PredicateType returns the predicate type of evidence of kind.
func PredicateType(kind Kind) (string, error) {
	switch kind {
	case Deployed:
		return DeployedPredicate, nil
	case Scanned:
		return ScannedPredicate, nil
	}
	return "", fmt.Errorf("evidence: no predicate type for evidence kind %q", kind)
}

// SignedReferrers keeps evidence as signed attestations: each Evidence
// is an in-toto statement about the image digest, signed into a Sigstore
// bundle and pushed as an OCI referrer of the image (the format cosign
// verifies: `cosign verify-attestation --key cosign.pub
// --insecure-ignore-tlog --type DeployedPredicate IMAGE@DIGEST`).
// Evidence returns only what verifies against the trusted keys; Verify
// returns the whole report, with what was refused and why, for the gate.
type SignedReferrers struct {
	signer   *attest.Signer
	verifier *attest.Verifier
	opts     []remote.Option
}

var _ Store = (*SignedReferrers)(nil)

// NewSignedReferrers returns a store that signs with signer (nil: the
// store only reads, as a gate does) and trusts verifier's keys, talking
// to registries with opts.
func NewSignedReferrers(signer *attest.Signer, verifier *attest.Verifier, opts ...remote.Option) *SignedReferrers {
	return &SignedReferrers{signer: signer, verifier: verifier, opts: opts}
}

// Record signs ev and attaches it to image.
func (s *SignedReferrers) Record(ctx context.Context, image name.Digest, ev Evidence) error {
	if s.signer == nil {
		return fmt.Errorf("evidence: %s: no signing key to record the %s evidence with; give the pipeline's SIGNING_KEY", image, ev.Kind)
	}
	pt, err := PredicateType(ev.Kind)
	if err != nil {
		return err
	}
	ev.Image = image.String()
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	if _, err := s.signer.Attest(ctx, image, pt, ev, s.opts...); err != nil {
		return fmt.Errorf("evidence: %s: recording the %s evidence: %w", image, ev.Kind, err)
	}
	return nil
}

// Verify verifies every referrer of image.
func (s *SignedReferrers) Verify(ctx context.Context, image name.Digest) (*attest.Report, error) {
	if s.verifier == nil {
		return nil, errors.New("evidence: no trusted public key to verify evidence with")
	}
	rep, err := s.verifier.Verify(ctx, image, s.opts...)
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	return rep, nil
}

// Evidence returns the evidence in verified attestations about image,
// oldest first.
func (s *SignedReferrers) Evidence(ctx context.Context, image name.Digest) ([]Evidence, error) {
	rep, err := s.Verify(ctx, image)
	if err != nil {
		return nil, err
	}
	return FromReport(rep)
}

// FromReport decodes the evidence attestations of a verified report, oldest
// first; attestations whose predicate's kind does not match their signed
// predicate type are skipped.
func FromReport(rep *attest.Report) ([]Evidence, error) {
	var out []Evidence
	for _, pt := range []string{DeployedPredicate, ScannedPredicate} {
		for _, a := range rep.Find(pt) {
			raw, err := a.PredicateJSON()
			if err != nil {
				return nil, err
			}
			var ev Evidence
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, fmt.Errorf("evidence: %s: the signed %s predicate is not slipway evidence: %w", rep.Image, pt, err)
			}
			// The predicate's own kind must match its signed type.
			if want, _ := PredicateType(ev.Kind); want != pt {
				continue
			}
			out = append(out, ev)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}
