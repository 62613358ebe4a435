package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Media types of a snapshot artifact.
const (
	// ArtifactType is the manifest's artifactType and its config's media type.
	ArtifactType = "application/vnd.slipway.backup.v1+json"
	// ObjectsMediaType is the one layer: a JSON array of the objects.
	ObjectsMediaType = "application/vnd.slipway.backup.objects.v1+json"
)

// config is the artifact's config blob: what the snapshot is, readable
// without fetching the objects.
type config struct {
	Namespace string         `json:"namespace"`
	Taken     time.Time      `json:"taken"`
	Counts    map[string]int `json:"counts"`
}

// Push stores snap at ref (a tag such as registry/backups/telecom:2026-01-01)
// and returns the artifact's digest, which names the backup for good.
func Push(ctx context.Context, snap *Snapshot, ref name.Reference, opts ...remote.Option) (name.Digest, error) {
	opts = append([]remote.Option{remote.WithContext(ctx)}, opts...)
	cfg := config{Namespace: snap.Namespace, Taken: snap.Taken, Counts: map[string]int{}}
	objs := make([]map[string]any, 0, len(snap.Objects))
	for _, o := range snap.Objects {
		cfg.Counts[o.GetKind()]++
		objs = append(objs, o.Object)
	}
	cfgRaw, err := json.Marshal(cfg)
	if err != nil {
		return name.Digest{}, fmt.Errorf("backup: %w", err)
	}
	objRaw, err := json.Marshal(objs)
	if err != nil {
		return name.Digest{}, fmt.Errorf("backup: %w", err)
	}
	repo := ref.Context()
	for _, l := range []v1.Layer{static.NewLayer(cfgRaw, ArtifactType), static.NewLayer(objRaw, ObjectsMediaType)} {
		if err := remote.WriteLayer(repo, l, opts...); err != nil {
			return name.Digest{}, fmt.Errorf("backup: pushing to %s: %w", repo, err)
		}
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  ArtifactType,
		Config:        descriptor(cfgRaw, ArtifactType),
		Layers:        []v1.Descriptor{descriptor(objRaw, ObjectsMediaType)},
		Annotations: map[string]string{
			"org.opencontainers.image.created": snap.Taken.Format(time.RFC3339),
			"vnd.slipway.backup.namespace":     snap.Namespace,
		},
	}
	m.Layers[0].Annotations = map[string]string{"org.opencontainers.image.title": "objects.json"}
	raw, err := json.Marshal(m)
	if err != nil {
		return name.Digest{}, fmt.Errorf("backup: %w", err)
	}
	if err := remote.Put(ref, rawManifest(raw), opts...); err != nil {
		return name.Digest{}, fmt.Errorf("backup: pushing %s: %w", ref, err)
	}
	return repo.Digest(descriptor(raw, "").Digest.String()), nil
}

// Pull reads the snapshot at ref (a tag or a digest).
func Pull(ctx context.Context, ref name.Reference, opts ...remote.Option) (*Snapshot, error) {
	opts = append([]remote.Option{remote.WithContext(ctx)}, opts...)
	img, err := remote.Image(ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("backup: pulling %s: %w", ref, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("backup: %s: %w", ref, err)
	}
	if m.Config.MediaType != ArtifactType || len(m.Layers) != 1 || m.Layers[0].MediaType != ObjectsMediaType {
		return nil, fmt.Errorf("backup: %s is not a slipway backup (config %s)", ref, m.Config.MediaType)
	}
	var cfg config
	raw, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("backup: %s: %w", ref, err)
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("backup: %s: config: %w", ref, err)
	}
	l, err := img.LayerByDigest(m.Layers[0].Digest)
	if err != nil {
		return nil, fmt.Errorf("backup: %s: %w", ref, err)
	}
	rc, err := l.Compressed() // stored as is: the media type carries no compression
	if err != nil {
		return nil, fmt.Errorf("backup: %s: %w", ref, err)
	}
	defer rc.Close()
	body, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("backup: %s: %w", ref, err)
	}
	var objs []map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&objs); err != nil {
		return nil, fmt.Errorf("backup: %s: objects: %w", ref, err)
	}
	snap := &Snapshot{Namespace: cfg.Namespace, Taken: cfg.Taken}
	for _, o := range objs {
		u := &unstructured.Unstructured{Object: normalizeNumbers(o).(map[string]any)}
		snap.Objects = append(snap.Objects, u)
	}
	return snap, nil
}

// normalizeNumbers turns json.Number into int64 or float64, the types
// unstructured objects read from the API server carry.
func normalizeNumbers(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = normalizeNumbers(x)
		}
		return t
	case []any:
		for i, x := range t {
			t[i] = normalizeNumbers(x)
		}
		return t
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	}
	return v
}

func descriptor(b []byte, mt types.MediaType) v1.Descriptor {
	sum := sha256.Sum256(b)
	return v1.Descriptor{MediaType: mt, Size: int64(len(b)), Digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}}
}

type rawManifest []byte

func (r rawManifest) RawManifest() ([]byte, error)        { return r, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
