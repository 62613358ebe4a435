package attest

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"google.golang.org/protobuf/encoding/protojson"
)

// Verifier checks bundles against a set of trusted public keys. Several
// keys make rotation possible: trust the new key next to the old one,
// switch the CI secret to the new private key, and drop the old key once
// nothing it signed is still to be promoted.
type Verifier struct {
	keys []TrustedKey
}

// NewVerifier trusts keys; at least one is needed.
func NewVerifier(keys ...TrustedKey) (*Verifier, error) {
	if len(keys) == 0 {
		return nil, errors.New("attest: no trusted public key; give the public key of the CI's signing key (cosign.pub)")
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if k.verifier == nil {
			return nil, fmt.Errorf("attest: trusted key %q was not made by ParsePublicKey", k.Name)
		}
		if seen[k.ID] {
			return nil, fmt.Errorf("attest: trusted key %s is given twice", k)
		}
		seen[k.ID] = true
	}
	return &Verifier{keys: append([]TrustedKey(nil), keys...)}, nil
}

// Keys returns the trusted keys.
func (v *Verifier) Keys() []TrustedKey { return append([]TrustedKey(nil), v.keys...) }

// Reason says why a referrer was not accepted.
type Reason string

// The reasons, for errors.Is-like matching on Rejection.Reason.
const (
	// Unsigned: a referrer that is not a Sigstore bundle (such as
	// slipway's older unsigned evidence, or anything anyone pushed).
	Unsigned Reason = "unsigned"
	// UntrustedKey: a bundle signed by a key no trusted key matches.
	UntrustedKey Reason = "signed by an untrusted key"
	// BadSignature: the bundle names a trusted key, but its signature
	// does not verify: the envelope was changed after signing.
	BadSignature Reason = "signature does not verify (changed after signing)"
	// OtherDigest: correctly signed, but about another image digest.
	OtherDigest Reason = "about another image digest"
	// Malformed: not a bundle slipway or cosign can read.
	Malformed Reason = "not a readable Sigstore bundle"
)

// Rejection is a referrer that was not accepted, and why.
type Rejection struct {
	// Referrer is the referrer manifest's digest.
	Referrer v1.Hash
	// ArtifactType is the referrer's artifact type.
	ArtifactType string
	// PredicateType is the predicate type the referrer claims (its
	// annotation, or the unverified statement's), if any.
	PredicateType string
	Reason        Reason
	// Annotations are the referrer's annotations, as the registry lists
	// them (unsigned: for naming only).
	Annotations map[string]string
	// Detail says more: the key ID, the other digest, the parse error.
	Detail string
}

func (r Rejection) String() string {
	what := r.PredicateType
	if what == "" {
		what = r.ArtifactType
	}
	s := fmt.Sprintf("referrer %s (%s): %s", short(r.Referrer), what, r.Reason)
	if r.Detail != "" {
		s += ": " + r.Detail
	}
	return s
}

func short(h v1.Hash) string {
	if len(h.Hex) > 12 {
		return h.Algorithm + ":" + h.Hex[:12]
	}
	return h.String()
}

// Attestation is a verified statement about the image.
type Attestation struct {
	// Referrer is the referrer manifest's digest.
	Referrer v1.Hash
	// Key is the trusted key that signed it.
	Key TrustedKey
	// Statement is the signed in-toto statement.
	Statement *intoto.Statement
	// Created is the referrer's creation annotation (unsigned: use the
	// predicate's own times for decisions).
	Created time.Time
}

// PredicateType is the statement's predicate type.
func (a Attestation) PredicateType() string { return a.Statement.GetPredicateType() }

// PredicateJSON returns the predicate as JSON, to decode into its type.
func (a Attestation) PredicateJSON() ([]byte, error) {
	return protojson.Marshal(a.Statement.GetPredicate())
}

// Report is what Verify found among an image's referrers.
type Report struct {
	Image name.Digest
	// Attestations are the statements that verified, oldest first.
	Attestations []Attestation
	// Rejected are the referrers that did not.
	Rejected []Rejection
}

// Find returns the verified attestations of predicateType, oldest first.
func (r *Report) Find(predicateType string) []Attestation {
	var out []Attestation
	for _, a := range r.Attestations {
		if a.PredicateType() == predicateType {
			out = append(out, a)
		}
	}
	return out
}

// RejectedFor returns the rejections that claim predicateType, and the
// referrers that claim nothing (unsigned, malformed), which may have been
// meant as anything.
func (r *Report) RejectedFor(predicateType string) []Rejection {
	var out []Rejection
	for _, rj := range r.Rejected {
		if rj.PredicateType == predicateType || rj.PredicateType == "" {
			out = append(out, rj)
		}
	}
	return out
}

// Verify lists every referrer of image and verifies each bundle among
// them against the trusted keys and the image digest. It fails only when
// the registry cannot be read; what does not verify is in
// Report.Rejected.
func (v *Verifier) Verify(ctx context.Context, image name.Digest, opts ...remote.Option) (*Report, error) {
	opts = append([]remote.Option{remote.WithContext(ctx)}, opts...)
	idx, err := remote.Referrers(image, opts...)
	if err != nil {
		return nil, fmt.Errorf("attest: %s: listing referrers: %w", image, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("attest: %s: %w", image, err)
	}
	rep := &Report{Image: image}
	for _, d := range im.Manifests {
		rj := Rejection{Referrer: d.Digest, ArtifactType: d.ArtifactType, PredicateType: d.Annotations[PredicateTypeAnnotation], Annotations: d.Annotations}
		// Registries disagree on a referrer's artifactType (the manifest's,
		// or its config's media type): the manifest itself decides.
		raw, created, err := fetchBundle(image.Context().Digest(d.Digest.String()), opts)
		if errors.Is(err, errNoBundle) {
			rj.Reason, rj.Detail = Unsigned, "not a Sigstore bundle"
			rep.Rejected = append(rep.Rejected, rj)
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			rj.Reason, rj.Detail = Malformed, err.Error()
			rep.Rejected = append(rep.Rejected, rj)
			continue
		}
		a, rej := v.VerifyBundle(raw, image)
		if rej != nil {
			rej.Referrer, rej.ArtifactType, rej.Annotations = d.Digest, d.ArtifactType, d.Annotations
			if rej.PredicateType == "" {
				rej.PredicateType = rj.PredicateType
			}
			rep.Rejected = append(rep.Rejected, *rej)
			continue
		}
		a.Referrer, a.Created = d.Digest, created
		rep.Attestations = append(rep.Attestations, a)
	}
	sort.SliceStable(rep.Attestations, func(i, j int) bool { return rep.Attestations[i].Created.Before(rep.Attestations[j].Created) })
	return rep, nil
}

var errNoBundle = errors.New("no bundle layer")

// fetchBundle reads a bundle referrer's one bundle layer.
func fetchBundle(ref name.Digest, opts []remote.Option) ([]byte, time.Time, error) {
	img, err := remote.Image(ref, opts...)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("reading the referrer: %w", err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, time.Time{}, err
	}
	created, _ := time.Parse(time.RFC3339, m.Annotations[CreatedAnnotation])
	var layer *v1.Descriptor
	for i := range m.Layers {
		if m.Layers[i].MediaType == BundleMediaType {
			if layer != nil {
				return nil, created, errors.New("more than one bundle layer")
			}
			layer = &m.Layers[i]
		}
	}
	if layer == nil {
		return nil, created, errNoBundle
	}
	if layer.Size > MaxBundleSize {
		return nil, created, fmt.Errorf("the bundle is %d bytes, more than the %d read", layer.Size, MaxBundleSize)
	}
	l, err := remote.Layer(ref.Context().Digest(layer.Digest.String()), opts...)
	if err != nil {
		return nil, created, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, created, err
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, MaxBundleSize+1))
	if err != nil {
		return nil, created, err
	}
	return raw, created, nil
}

// VerifyBundle verifies one bundle (JSON) about image: a DSSE envelope
// over an in-toto statement, signed by one of the trusted keys, whose
// subject is image's digest. It returns the attestation, or why not.
func (v *Verifier) VerifyBundle(raw []byte, image name.Digest) (Attestation, *Rejection) {
	var b bundle.Bundle
	if err := b.UnmarshalJSON(raw); err != nil {
		return Attestation{}, &Rejection{Reason: Malformed, Detail: err.Error()}
	}
	claimed := unverifiedPredicateType(&b)
	hint := b.GetVerificationMaterial().GetPublicKey().GetHint()
	// The hint says which key to try first; it is not trusted: every key
	// is tried, and only a verifying signature counts.
	keys := v.Keys()
	sort.SliceStable(keys, func(i, j int) bool { return keys[i].ID == hint && keys[j].ID != hint })
	alg, hexDigest, err := splitDigest(image.DigestStr())
	if err != nil {
		return Attestation{}, &Rejection{Reason: Malformed, Detail: err.Error()}
	}
	digest, err := hex.DecodeString(hexDigest)
	if err != nil {
		return Attestation{}, &Rejection{Reason: Malformed, Detail: err.Error()}
	}
	for _, k := range keys {
		res, err := verifyWith(&b, k, verify.WithoutArtifactUnsafe())
		if err != nil {
			continue
		}
		// The signature is the key's. Now what cosign checks too: the
		// statement is about this digest.
		if _, err := verifyWith(&b, k, verify.WithArtifactDigest(alg, digest)); err != nil {
			return Attestation{}, &Rejection{Reason: OtherDigest, PredicateType: res.Statement.GetPredicateType(),
				Detail: fmt.Sprintf("signed by %s for %s, not %s", k, subjects(res.Statement), image.DigestStr())}
		}
		if res.Statement == nil {
			return Attestation{}, &Rejection{Reason: Malformed, Detail: "the bundle holds no in-toto statement"}
		}
		return Attestation{Key: k, Statement: res.Statement}, nil
	}
	for _, k := range keys {
		if k.ID == hint {
			return Attestation{}, &Rejection{Reason: BadSignature, PredicateType: claimed, Detail: "names " + k.String()}
		}
	}
	detail := "key ID " + hint
	if hint == "" {
		detail = "no key ID given, and no trusted key verifies it"
	}
	return Attestation{}, &Rejection{Reason: UntrustedKey, PredicateType: claimed, Detail: detail}
}

func verifyWith(b *bundle.Bundle, k TrustedKey, artifact verify.ArtifactPolicyOption) (*verify.VerificationResult, error) {
	key := root.NewExpiringKey(k.verifier, time.Time{}, time.Time{})
	tm := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return key, nil })
	sv, err := verify.NewVerifier(tm, verify.WithNoObserverTimestamps())
	if err != nil {
		return nil, err
	}
	return sv.Verify(b, verify.NewPolicy(artifact, verify.WithKey()))
}

// unverifiedPredicateType reads the predicate type the envelope claims,
// for naming a rejected bundle; nothing else may use it.
func unverifiedPredicateType(b *bundle.Bundle) string {
	env := b.GetDsseEnvelope()
	if env == nil {
		return ""
	}
	var st intoto.Statement
	if err := protojson.Unmarshal(env.GetPayload(), &st); err != nil {
		return ""
	}
	return st.GetPredicateType()
}

func subjects(st *intoto.Statement) string {
	return strings.Join(SubjectDigests(st), ", ")
}
