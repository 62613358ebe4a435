package secretscan

import (
	"bytes"
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Image searches everything a registry holds for ref: the manifest or index
// and, for an index, every platform's manifest; each image's config blob
// (env, labels, history, entrypoint); every layer, decompressed and
// extracted (file contents, names, link targets, PAX records); and, for
// every manifest, the OCI referrers that name it as their subject
// (signatures, SBOMs, attestations, slipway's deploy evidence), recursively.
// Blobs that are not archives (an artifact's JSON "layer") are searched as
// bytes.
//
// Layers are streamed from the registry and never held in memory; a blob or
// manifest shared by several images is searched once. Places are named
// "<repository>@<manifest digest> (<how it was reached>) <part>", for
// example "reg/app@sha256:... (linux/amd64 in sha256:...) layer
// sha256:...!/etc/app.conf". opts are passed to every registry call (auth,
// transport).
func (s *Scanner) Image(ctx context.Context, ref name.Reference, opts ...remote.Option) (Findings, error) {
	w := s.walker(ctx, opts)
	err := w.ref(ref)
	return w.out.sorted(), err
}

// Repository searches, as Image does, every tagged image in repo, which
// covers images a run pushed under tags the test does not know.
func (s *Scanner) Repository(ctx context.Context, repo name.Repository, opts ...remote.Option) (Findings, error) {
	w := s.walker(ctx, opts)
	err := w.repository(repo)
	return w.out.sorted(), err
}

// Registry searches, as Repository does, every repository the registry's
// catalog lists.
func (s *Scanner) Registry(ctx context.Context, reg name.Registry, opts ...remote.Option) (Findings, error) {
	w := s.walker(ctx, opts)
	repos, err := remote.Catalog(ctx, reg, w.opts...)
	if err != nil {
		return nil, s.errorf(reg.String(), "listing repositories: %w", err)
	}
	for _, r := range repos {
		if err := w.repository(reg.Repo(r)); err != nil {
			return w.out.sorted(), err
		}
	}
	return w.out.sorted(), nil
}

type walker struct {
	s    *Scanner
	opts []remote.Option
	// seen holds "repository@digest" of manifests and blobs already
	// searched: images share base layers, and referrers can form cycles.
	seen map[string]bool
	out  Findings
}

func (s *Scanner) walker(ctx context.Context, opts []remote.Option) *walker {
	return &walker{
		s:    s,
		opts: append([]remote.Option{remote.WithContext(ctx)}, opts...),
		seen: map[string]bool{},
	}
}

func (w *walker) repository(repo name.Repository) error {
	tags, err := remote.List(repo, w.opts...)
	if err != nil {
		return w.s.errorf(repo.String(), "listing tags: %w", err)
	}
	for _, t := range tags {
		if err := w.ref(repo.Tag(t)); err != nil {
			return err
		}
	}
	return nil
}

func (w *walker) ref(ref name.Reference) error {
	desc, err := remote.Get(ref, w.opts...)
	if err != nil {
		return w.s.errorf(ref.String(), "%w", err)
	}
	return w.manifest(ref.Context(), desc.Descriptor, "")
}

// manifest searches one manifest (image, artifact or index), what it
// references and its referrers. note says how it was reached.
func (w *walker) manifest(repo name.Repository, d v1.Descriptor, note string) error {
	key := repo.String() + "@" + d.Digest.String()
	if w.seen[key] {
		return nil
	}
	w.seen[key] = true
	label := key + note
	desc, err := remote.Get(repo.Digest(d.Digest.String()), w.opts...)
	if err != nil {
		return w.s.errorf(label, "fetching the manifest: %w", err)
	}
	w.s.match(label+" manifest", desc.Manifest, 0, 0, &w.out)

	switch {
	case desc.MediaType.IsIndex():
		im, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
		if err != nil {
			return w.s.errorf(label, "%w", err)
		}
		for _, c := range im.Manifests {
			if !c.MediaType.IsIndex() && !c.MediaType.IsImage() {
				if err := w.blob(repo, c, label+" entry "+c.Digest.String()); err != nil {
					return err
				}
				continue
			}
			how := "entry"
			if c.Platform != nil {
				how = c.Platform.String()
			}
			if err := w.manifest(repo, c, fmt.Sprintf(" (%s in %s)", how, d.Digest)); err != nil {
				return err
			}
		}
	case desc.MediaType.IsSchema1():
		// Schema 1 embeds its config in the manifest, searched above;
		// its layers are not listed as descriptors. No current tool
		// pushes it.
	default:
		m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
		if err != nil {
			return w.s.errorf(label, "%w", err)
		}
		if m.Config.Digest.Hex != "" {
			if err := w.blob(repo, m.Config, label+" config "+m.Config.Digest.String()); err != nil {
				return err
			}
		}
		for _, l := range m.Layers {
			if err := w.blob(repo, l, label+" layer "+l.Digest.String()); err != nil {
				return err
			}
		}
	}

	idx, err := remote.Referrers(repo.Digest(d.Digest.String()), w.opts...)
	if err != nil {
		return w.s.errorf(label, "listing referrers: %w", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return w.s.errorf(label, "listing referrers: %w", err)
	}
	for _, r := range im.Manifests {
		if err := w.manifest(repo, r, fmt.Sprintf(" (referrer of %s)", d.Digest)); err != nil {
			return err
		}
	}
	return nil
}

// blob streams one blob, decompressed (gzip or zstd), into the content
// search, which extracts it when it is a tar.
func (w *walker) blob(repo name.Repository, d v1.Descriptor, where string) error {
	key := repo.String() + "@" + d.Digest.String()
	if w.seen[key] {
		return nil
	}
	w.seen[key] = true
	if !d.MediaType.IsDistributable() && len(d.URLs) > 0 {
		// A foreign layer (Windows base images) lives outside the
		// registry and was not built by the run.
		return nil
	}
	l, err := remote.Layer(repo.Digest(d.Digest.String()), w.opts...)
	if err != nil {
		return w.s.errorf(where, "%w", err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		return w.s.errorf(where, "%w", err)
	}
	defer rc.Close()
	return w.s.content(where, rc, nil, 0, 0, &w.out)
}
