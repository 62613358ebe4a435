// Package evidence is what slipway records about an image digest, where
// the image is: facts (deployed to an environment and verified there,
// scanned with so many findings) stored next to the image as OCI 1.1
// referrers, plain (Referrers) or as signed in-toto attestations
// (SignedReferrers, with deploy/attest's keys), for production's gate
// (deploy.PromotionGate) to read.
//
// It depends on go-containerregistry and deploy/attest only, not on
// Kubernetes or Helm, so that the evidence tool (cmd/slipway-evidence)
// that publish and the scans run stays small to build on a runner whose
// engine starts empty.
package evidence

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/slipway-ci/slipway/pipeline"
)

// ArtifactType is the OCI artifactType (and config media type) of
// an evidence artifact attached to an image as a referrer.
const ArtifactType = "application/vnd.slipway.evidence.v1+json"

// Kind says what an Evidence proves.
type Kind string

// The kinds of evidence a production deploy asks for.
const (
	// Deployed: the digest rolled out completely, and passed verification,
	// in Environment.
	Deployed Kind = "deployed"
	// Scanned: a vulnerability scan of the digest; Clean says whether it
	// found nothing at or above the threshold.
	Scanned Kind = "scanned"
)

// Evidence is one fact about an image digest, stored where the image is,
// so that it travels with the image from registry to registry.
type Evidence struct {
	Kind  Kind      `json:"kind"`
	Image string    `json:"image"` // the digest reference it is about
	Time  time.Time `json:"time"`

	// Deployed.
	Environment string        `json:"environment,omitempty"`
	Tier        pipeline.Tier `json:"tier,omitempty"`
	Namespace   string        `json:"namespace,omitempty"`
	Revision    string        `json:"revision,omitempty"`
	Verified    bool          `json:"verified,omitempty"`
	// Checks is what the post-deploy verification checked (a smoke test,
	// alerts): empty when the rollout alone was waited for, which a gate
	// with RequireVerification refuses.
	Checks string `json:"checks,omitempty"`

	// Scanned.
	Scanner   string `json:"scanner,omitempty"`
	Threshold string `json:"threshold,omitempty"` // e.g. HIGH,CRITICAL
	Findings  int    `json:"findings,omitempty"`
	Clean     bool   `json:"clean,omitempty"`

	// Details is free text: a pipeline URL, a report digest.
	Details string `json:"details,omitempty"`
}

// Store records and reads evidence about image digests.
type Store interface {
	Record(ctx context.Context, image name.Digest, ev Evidence) error
	Evidence(ctx context.Context, image name.Digest) ([]Evidence, error)
}

// Referrers keeps evidence in the image's own registry as OCI 1.1
// referrers: each Evidence is a small artifact (artifactType
// ArtifactType, the JSON as its config blob) whose subject is the
// image manifest. `crane copy`, `oras cp -r` and registry replication carry
// it along with the image, and `oras discover` lists it. Registries without
// the referrers API get the tag-schema fallback go-containerregistry writes.
type Referrers struct {
	opts []remote.Option
}

var _ Store = (*Referrers)(nil)

// NewReferrers returns a store that talks to registries with opts (auth,
// transport).
func NewReferrers(opts ...remote.Option) *Referrers { return &Referrers{opts: opts} }

var emptyJSON = []byte("{}")

// Record pushes ev as a referrer of image.
func (s *Referrers) Record(ctx context.Context, image name.Digest, ev Evidence) error {
	ev.Image = image.String()
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	opts := append([]remote.Option{remote.WithContext(ctx)}, s.opts...)
	subject, err := remote.Head(image, opts...)
	if err != nil {
		return fmt.Errorf("evidence: %s: reading the image manifest: %w", image, err)
	}
	cfg, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	repo := image.Context()
	cfgLayer := static.NewLayer(cfg, types.MediaType(ArtifactType))
	emptyLayer := static.NewLayer(emptyJSON, "application/vnd.oci.empty.v1+json")
	for _, l := range []v1.Layer{cfgLayer, emptyLayer} {
		if err := remote.WriteLayer(repo, l, opts...); err != nil {
			return fmt.Errorf("evidence: %s: uploading: %w", image, err)
		}
	}
	desc := func(b []byte, mt types.MediaType) v1.Descriptor {
		sum := sha256.Sum256(b)
		return v1.Descriptor{MediaType: mt, Size: int64(len(b)), Digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}}
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  ArtifactType,
		Config:        desc(cfg, ArtifactType),
		Layers:        []v1.Descriptor{desc(emptyJSON, "application/vnd.oci.empty.v1+json")},
		Subject:       &v1.Descriptor{MediaType: subject.MediaType, Size: subject.Size, Digest: subject.Digest},
		Annotations: map[string]string{
			"org.opencontainers.image.created": ev.Time.Format(time.RFC3339),
			"vnd.slipway.evidence.kind":        string(ev.Kind),
			"vnd.slipway.evidence.environment": ev.Environment,
		},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	art := rawManifest{raw: raw, mt: types.OCIManifestSchema1}
	if err := remote.Put(repo.Digest(desc(raw, "").Digest.String()), art, opts...); err != nil {
		return fmt.Errorf("evidence: %s: pushing the %s evidence: %w", image, ev.Kind, err)
	}
	return nil
}

// Evidence lists every evidence artifact referring to image, oldest first.
func (s *Referrers) Evidence(ctx context.Context, image name.Digest) ([]Evidence, error) {
	opts := append([]remote.Option{remote.WithContext(ctx), remote.WithFilter("artifactType", ArtifactType)}, s.opts...)
	idx, err := remote.Referrers(image, opts...)
	if err != nil {
		return nil, fmt.Errorf("evidence: %s: listing referrers: %w", image, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("evidence: %s: %w", image, err)
	}
	var out []Evidence
	for _, d := range im.Manifests {
		if d.ArtifactType != ArtifactType {
			continue
		}
		img, err := remote.Image(image.Context().Digest(d.Digest.String()), opts...)
		if err != nil {
			return nil, fmt.Errorf("evidence: %s: reading %s: %w", image, d.Digest, err)
		}
		raw, err := img.RawConfigFile()
		if err != nil {
			return nil, fmt.Errorf("evidence: %s: reading %s: %w", image, d.Digest, err)
		}
		var ev Evidence
		dec := json.NewDecoder(bytes.NewReader(raw))
		if err := dec.Decode(&ev); err != nil {
			return nil, fmt.Errorf("evidence: %s: %s is not slipway evidence: %w", image, d.Digest, err)
		}
		// Evidence copied onto another image's tree is not evidence for
		// this one.
		if ev.Image != "" && !sameDigest(ev.Image, image) {
			continue
		}
		out = append(out, ev)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

func sameDigest(ref string, d name.Digest) bool {
	other, err := name.NewDigest(ref)
	return err == nil && other.DigestStr() == d.DigestStr()
}

type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.raw, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }
