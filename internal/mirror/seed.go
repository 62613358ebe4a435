package mirror

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Seed names one OCI image layout on disk and the repository:tag it is
// served under, written the way the mirror sees it: a pull of
// docker.io/library/golang:1.25 arrives as library/golang:1.25, and one of
// gcr.io/distroless/static-debian12:nonroot as distroless/static-debian12:nonroot.
type Seed struct {
	Layout string
	Ref    string
}

// ReadSeeds parses a seed file: one "LAYOUT-DIR REPO:TAG" per line, # comments.
func ReadSeeds(path string) ([]Seed, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading seed list: %w", err)
	}
	defer f.Close()
	var seeds []Seed
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return nil, fmt.Errorf("%s:%d: want \"LAYOUT-DIR REPO:TAG\", got %q", path, n, line)
		}
		seeds = append(seeds, Seed{Layout: fields[0], Ref: fields[1]})
	}
	return seeds, sc.Err()
}

// WriteSeeds writes a seed file that ReadSeeds reads back.
func WriteSeeds(path string, seeds []Seed) error {
	var b strings.Builder
	b.WriteString("# OCI layout, then the repository:tag the mirror serves it as\n")
	for _, s := range seeds {
		fmt.Fprintf(&b, "%s %s\n", s.Layout, s.Ref)
	}
	return writeFileAtomic(path, []byte(b.String()))
}

// Push pushes every seed to the plain-HTTP registry at host (for example
// 127.0.0.1:5000). Blobs already present are skipped by the registry client,
// so re-seeding a registry whose blobs are on disk takes well under a second
// per image.
func Push(ctx context.Context, host string, seeds []Seed) error {
	for _, s := range seeds {
		ref, err := name.ParseReference(host+"/"+s.Ref, name.Insecure)
		if err != nil {
			return fmt.Errorf("seed %s: %w", s.Ref, err)
		}
		ii, err := layout.ImageIndexFromPath(s.Layout)
		if err != nil {
			return fmt.Errorf("seed %s: reading layout %s: %w", s.Ref, s.Layout, err)
		}
		m, err := ii.IndexManifest()
		if err != nil {
			return fmt.Errorf("seed %s: %w", s.Ref, err)
		}
		if len(m.Manifests) != 1 {
			return fmt.Errorf("seed %s: layout %s holds %d manifests, want 1", s.Ref, s.Layout, len(m.Manifests))
		}
		desc := m.Manifests[0]
		if got, err := remote.Head(ref, remote.WithContext(ctx)); err == nil && got.Digest == desc.Digest {
			continue
		}
		if desc.MediaType.IsIndex() {
			child, err := ii.ImageIndex(desc.Digest)
			if err != nil {
				return fmt.Errorf("seed %s: %w", s.Ref, err)
			}
			err = remote.WriteIndex(ref, child, remote.WithContext(ctx))
			if err != nil {
				return fmt.Errorf("seed %s: pushing index: %w", s.Ref, err)
			}
			continue
		}
		img, err := ii.Image(desc.Digest)
		if err != nil {
			return fmt.Errorf("seed %s: %w", s.Ref, err)
		}
		if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
			return fmt.Errorf("seed %s: pushing image: %w", s.Ref, err)
		}
	}
	return nil
}
