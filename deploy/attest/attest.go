// Package attest signs what a pipeline says about an image digest, stores
// it next to the image, and verifies it, in the format the real cosign
// (v3) signs and verifies:
//
//   - every statement is an in-toto v1 Statement (github.com/in-toto/
//     attestation's Go types) whose subject is the image digest: the
//     image signature itself (predicate type CosignSignPredicate, what
//     `cosign sign` makes), SLSA provenance v1, CycloneDX and SPDX SBOMs,
//     and slipway's evidence (deployed and verified in staging, scanned);
//   - it is signed into a Sigstore bundle v0.3 (a DSSE envelope) with
//     sigstore-go, with a key given as bytes (a CI secret), no Fulcio,
//     Rekor or timestamp authority needed;
//   - the bundle is pushed as an OCI 1.1 referrer of the image digest, the
//     manifest cosign writes: one layer of media type
//     application/vnd.dev.sigstore.bundle.v0.3+json, the predicate type
//     in an annotation.
//
// `cosign verify --key cosign.pub --insecure-ignore-tlog IMAGE@DIGEST`
// and `cosign verify-attestation --key cosign.pub --insecure-ignore-tlog
// --type https://slsa.dev/provenance/v1 IMAGE@DIGEST` verify what Signer
// makes (TestCosignVerifies runs the real cosign CLI). Verifier checks
// the same with several trusted keys (rotation) and says, referrer by
// referrer, why one was refused: unsigned, signed by an untrusted key,
// changed after signing, or about another digest.
package attest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// Media types and annotations of the referrers, as cosign v3 writes them.
const (
	// BundleMediaType is the media type of a Sigstore bundle v0.3, the
	// referrer's artifactType and its one layer.
	BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// PredicateTypeAnnotation carries the statement's predicate type on
	// the referrer manifest, so a reader can pick bundles without
	// fetching them (it is not trusted: the signed statement decides).
	PredicateTypeAnnotation = "dev.sigstore.bundle.predicateType"
	// ContentAnnotation says what the bundle holds.
	ContentAnnotation = "dev.sigstore.bundle.content"
	// CreatedAnnotation is the referrer's creation time.
	CreatedAnnotation = "org.opencontainers.image.created"
	// InTotoPayloadType is the DSSE payload type of an in-toto statement.
	InTotoPayloadType = "application/vnd.in-toto+json"
)

// Predicate types.
const (
	// CosignSignPredicate is the predicate of an image signature, as
	// `cosign sign` (v3) makes it: an empty predicate about the digest.
	CosignSignPredicate = "https://sigstore.dev/cosign/sign/v1"
	// SLSAProvenancePredicate is SLSA provenance v1.
	SLSAProvenancePredicate = "https://slsa.dev/provenance/v1"
	// CycloneDXPredicate is a CycloneDX SBOM (cosign's --type cyclonedx).
	CycloneDXPredicate = "https://cyclonedx.org/bom"
	// SPDXPredicate is an SPDX JSON SBOM (cosign's --type spdxjson).
	SPDXPredicate = "https://spdx.dev/Document"
)

// MaxBundleSize bounds a bundle read from a registry: an SBOM attestation
// of a large image is a few megabytes; anything far larger is refused
// rather than read into memory.
const MaxBundleSize = 64 << 20

// Statement returns the in-toto v1 statement that predicate (any value
// that encodes as a JSON object; nil for an empty one) of predicateType
// is about the image digest.
func Statement(image name.Digest, predicateType string, predicate any) (*intoto.Statement, error) {
	alg, hexDigest, err := splitDigest(image.DigestStr())
	if err != nil {
		return nil, err
	}
	pred := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	if predicate != nil {
		raw, err := json.Marshal(predicate)
		if err != nil {
			return nil, fmt.Errorf("attest: encoding the %s predicate: %w", predicateType, err)
		}
		if err := protojson.Unmarshal(raw, pred); err != nil {
			return nil, fmt.Errorf("attest: the %s predicate is not a JSON object: %w", predicateType, err)
		}
	}
	st := &intoto.Statement{
		Type:          intoto.StatementTypeUri,
		Subject:       []*intoto.ResourceDescriptor{{Name: image.Context().Name(), Digest: map[string]string{alg: hexDigest}}},
		PredicateType: predicateType,
		Predicate:     pred,
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("attest: %w", err)
	}
	return st, nil
}

func splitDigest(d string) (alg, hexDigest string, err error) {
	h, err := v1.NewHash(d)
	if err != nil {
		return "", "", fmt.Errorf("attest: %q is not a digest: %w", d, err)
	}
	return h.Algorithm, h.Hex, nil
}

// Sign signs a statement into a Sigstore bundle (JSON), with the signer's
// key and nothing else: no certificate, transparency log or timestamp.
func (s *Signer) Sign(ctx context.Context, st *intoto.Statement) ([]byte, error) {
	payload, err := protojson.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("attest: encoding the statement: %w", err)
	}
	b, err := sign.Bundle(&sign.DSSEData{Data: payload, PayloadType: InTotoPayloadType}, s, sign.BundleOptions{Context: ctx})
	if err != nil {
		return nil, fmt.Errorf("attest: signing the %s statement: %w", st.PredicateType, err)
	}
	raw, err := protojson.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("attest: encoding the bundle: %w", err)
	}
	return raw, nil
}

// Attest signs predicate of predicateType about image and attaches the
// bundle to image as a referrer; it returns the referrer's digest.
func (s *Signer) Attest(ctx context.Context, image name.Digest, predicateType string, predicate any, opts ...remote.Option) (v1.Hash, error) {
	st, err := Statement(image, predicateType, predicate)
	if err != nil {
		return v1.Hash{}, err
	}
	bundle, err := s.Sign(ctx, st)
	if err != nil {
		return v1.Hash{}, err
	}
	return Attach(ctx, image, bundle, predicateType, opts...)
}

// SignImage signs the image digest itself, as `cosign sign --key` does.
func (s *Signer) SignImage(ctx context.Context, image name.Digest, opts ...remote.Option) (v1.Hash, error) {
	return s.Attest(ctx, image, CosignSignPredicate, nil, opts...)
}

// commitMu serialises Attach's manifest pushes (see there).
var commitMu sync.Mutex

// Attach pushes a bundle as a referrer of image, in the manifest cosign
// writes (an empty config, the bundle as the one layer, the predicate
// type as an annotation). It returns the referrer manifest's digest. The
// bundle is pushed as given: Attach is also how a test pushes a forged
// one.
func Attach(ctx context.Context, image name.Digest, bundle []byte, predicateType string, opts ...remote.Option) (v1.Hash, error) {
	opts = append([]remote.Option{remote.WithContext(ctx)}, opts...)
	subject, err := remote.Head(image, opts...)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("attest: %s: reading the image manifest: %w", image, err)
	}
	repo := image.Context()
	empty := []byte("{}")
	layers := []v1.Layer{
		static.NewLayer(empty, "application/vnd.oci.empty.v1+json"),
		static.NewLayer(bundle, BundleMediaType),
	}
	for _, l := range layers {
		if err := remote.WriteLayer(repo, l, opts...); err != nil {
			return v1.Hash{}, fmt.Errorf("attest: %s: uploading the bundle: %w", image, err)
		}
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  BundleMediaType,
		Config:        descriptor(empty, "application/vnd.oci.empty.v1+json"),
		Layers:        []v1.Descriptor{descriptor(bundle, BundleMediaType)},
		Subject:       &v1.Descriptor{MediaType: subject.MediaType, Size: subject.Size, Digest: subject.Digest},
		Annotations: map[string]string{
			CreatedAnnotation:       time.Now().UTC().Format(time.RFC3339),
			ContentAnnotation:       "dsse-envelope",
			PredicateTypeAnnotation: predicateType,
		},
	}
	m.Config.ArtifactType = BundleMediaType
	raw, err := json.Marshal(m)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("attest: %w", err)
	}
	d := descriptor(raw, types.OCIManifestSchema1)
	// A registry without the referrers API gets the referrer listed in the
	// sha256-<digest> tag's index, which go-containerregistry reads,
	// extends and writes back: two attestations attached at once (as
	// AttestSBOMs and the deploy tool's attest do) would each drop the
	// other's. The blobs above go in parallel; the manifests, one at a time.
	commitMu.Lock()
	defer commitMu.Unlock()
	if err := remote.Put(repo.Digest(d.Digest.String()), rawManifest{raw: raw, mt: types.OCIManifestSchema1}, opts...); err != nil {
		return v1.Hash{}, fmt.Errorf("attest: %s: pushing the %s attestation: %w", image, predicateType, err)
	}
	return d.Digest, nil
}

func descriptor(b []byte, mt types.MediaType) v1.Descriptor {
	sum := sha256.Sum256(b)
	return v1.Descriptor{MediaType: mt, Size: int64(len(b)), Digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}}
}

type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.raw, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }
