package mirror

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// epoch is the modification time of every tar entry we write: fixed times
// and sorted entries make layer digests reproducible, so a rebuilt cache
// yields the same images.
var epoch = time.Unix(0, 0).UTC()

// TarDir writes the tree under root into a tar file at dst, every entry
// prefixed with prefix (e.g. "usr/local/go"), keeping numeric owners,
// modes, symlinks, hard links and device nodes.
func TarDir(dst, root, prefix string) error {
	f, err := os.Create(dst + ".tmp")
	if err != nil {
		return fmt.Errorf("creating layer tar: %w", err)
	}
	if err := writeTarDir(f, root, prefix); err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("archiving %s: %w", root, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(dst+".tmp", dst)
}

func writeTarDir(w io.Writer, root, prefix string) error {
	tw := tar.NewWriter(w)
	// Parent directories of the prefix, so that the layer is self-contained.
	if prefix != "" {
		var parents []string
		for p := path.Dir(prefix); p != "." && p != "/"; p = path.Dir(p) {
			parents = append([]string{p}, parents...)
		}
		for _, p := range parents {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: 0o755, ModTime: epoch}); err != nil {
				return err
			}
		}
	}
	type inode struct{ dev, ino uint64 }
	seen := map[inode]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		name := path.Join(prefix, filepath.ToSlash(rel))
		if name == "." || name == "" {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		var link string
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		hdr.Name = name
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", ""
		hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = epoch, time.Time{}, time.Time{}
		hdr.Format = tar.FormatPAX
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
			if fi.Mode().IsRegular() && st.Nlink > 1 {
				key := inode{uint64(st.Dev), st.Ino}
				if first, ok := seen[key]; ok {
					hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
					return tw.WriteHeader(hdr)
				}
				seen[key] = name
			}
		}
		// PAX records carry the (fixed) times only when needed; drop them.
		hdr.PAXRecords = nil
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// Entry is one file or directory of a layer built from a list.
type Entry struct {
	Name     string // path inside the image, without leading slash
	Mode     int64  // permission bits
	UID, GID int
	Dir      bool
	Body     []byte // contents, or
	Source   string // a host file to copy the contents from
}

// TarEntries returns an uncompressed tar of entries, in the order given.
func TarEntries(entries []Entry) ([]byte, error) {
	var buf bytes.Buffer
	if err := WriteTar(&buf, entries); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// TarEntriesFile writes an uncompressed tar of entries to dst, streaming
// Source files (a 250 MB tool binary need not sit in memory).
func TarEntriesFile(dst string, entries []Entry) error {
	f, err := os.Create(dst + ".tmp")
	if err != nil {
		return err
	}
	if err := WriteTar(f, entries); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(dst+".tmp", dst)
}

// WriteTar writes entries as an uncompressed tar to w.
func WriteTar(w io.Writer, entries []Entry) error {
	tw := tar.NewWriter(w)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.Name, Mode: e.Mode, Uid: e.UID, Gid: e.GID, ModTime: epoch, Typeflag: tar.TypeReg, Size: int64(len(e.Body))}
		var body io.Reader = bytes.NewReader(e.Body)
		if e.Source != "" {
			f, err := os.Open(e.Source)
			if err != nil {
				return fmt.Errorf("tar entry %s: %w", e.Name, err)
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				return err
			}
			hdr.Size, body = fi.Size(), f
		}
		if e.Dir {
			hdr.Typeflag, hdr.Name, hdr.Size = tar.TypeDir, e.Name+"/", 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("tar entry %s: %w", e.Name, err)
		}
		if !e.Dir {
			if _, err := io.Copy(tw, body); err != nil {
				return fmt.Errorf("tar entry %s: %w", e.Name, err)
			}
		}
	}
	return tw.Close()
}

// LayerFromTarFile is an OCI gzip layer read from an uncompressed tar file.
func LayerFromTarFile(p string) (v1.Layer, error) {
	l, err := tarball.LayerFromFile(p, tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.BestSpeed))
	if err != nil {
		return nil, fmt.Errorf("layer from %s: %w", p, err)
	}
	return l, nil
}

// LayerFromTarBytes is an OCI gzip layer of an in-memory uncompressed tar.
func LayerFromTarBytes(b []byte) (v1.Layer, error) {
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("layer from bytes: %w", err)
	}
	return l, nil
}

// ImageOption edits an image's config file.
type ImageOption func(*v1.ConfigFile)

// WithEnv sets environment variables (KEY=VALUE), replacing same-named ones.
func WithEnv(kv ...string) ImageOption {
	return func(c *v1.ConfigFile) {
		for _, e := range kv {
			key, _, _ := strings.Cut(e, "=")
			var out []string
			for _, old := range c.Config.Env {
				if oldKey, _, _ := strings.Cut(old, "="); oldKey != key {
					out = append(out, old)
				}
			}
			c.Config.Env = append(out, e)
		}
	}
}

// WithEntrypoint sets the entrypoint and clears the command.
func WithEntrypoint(args ...string) ImageOption {
	return func(c *v1.ConfigFile) { c.Config.Entrypoint, c.Config.Cmd = args, nil }
}

// WithCmd sets the default command.
func WithCmd(args ...string) ImageOption {
	return func(c *v1.ConfigFile) { c.Config.Cmd = args }
}

// WithWorkdir sets the working directory.
func WithWorkdir(dir string) ImageOption {
	return func(c *v1.ConfigFile) { c.Config.WorkingDir = dir }
}

// WithUser sets the user the image runs as.
func WithUser(u string) ImageOption {
	return func(c *v1.ConfigFile) { c.Config.User = u }
}

// WithLabel sets one label.
func WithLabel(k, v string) ImageOption {
	return func(c *v1.ConfigFile) {
		if c.Config.Labels == nil {
			c.Config.Labels = map[string]string{}
		}
		c.Config.Labels[k] = v
	}
}

// Build appends layers to base (nil means empty) and applies opts to the
// config, for linux/GOARCH, with OCI media types throughout.
func Build(base v1.Image, arch string, layers []v1.Layer, opts ...ImageOption) (v1.Image, error) {
	if base == nil {
		base = mutate.MediaType(empty.Image, types.OCIManifestSchema1)
		base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	}
	img, err := mutate.AppendLayers(base, layers...)
	if err != nil {
		return nil, fmt.Errorf("appending layers: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Created = v1.Time{Time: epoch}
	for _, o := range opts {
		o(cf)
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("setting config: %w", err)
	}
	return img, nil
}

// Artifact is an OCI artifact with one blob layer, the way ORAS-style
// tools (and Trivy's DB download) expect: a custom config media type and a
// layer titled title.
func Artifact(configMediaType, layerMediaType types.MediaType, title string, blob []byte) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, configMediaType)
	img, err := mutate.Append(img, mutate.Addendum{
		Layer:       static.NewLayer(blob, layerMediaType),
		Annotations: map[string]string{"org.opencontainers.image.title": title},
		MediaType:   layerMediaType,
	})
	if err != nil {
		return nil, fmt.Errorf("building artifact: %w", err)
	}
	return img, nil
}

// WriteLayout writes img as a one-image OCI layout at dir, atomically: dir
// either holds a complete layout or does not exist, which is what the
// build cache tests for.
func WriteLayout(dir string, img v1.Image) error {
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return fmt.Errorf("creating layout: %w", err)
	}
	if err := p.AppendImage(img); err != nil {
		return fmt.Errorf("writing layout %s: %w", dir, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// LayoutImage reads the single image of a layout written by WriteLayout.
func LayoutImage(dir string) (v1.Image, error) {
	ii, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("reading layout %s: %w", dir, err)
	}
	m, err := ii.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading layout %s: %w", dir, err)
	}
	if len(m.Manifests) != 1 {
		return nil, fmt.Errorf("layout %s holds %d manifests, want 1", dir, len(m.Manifests))
	}
	return ii.Image(m.Manifests[0].Digest)
}

// LayoutDigest is the manifest digest of the single image in a layout.
func LayoutDigest(dir string) (v1.Hash, error) {
	img, err := LayoutImage(dir)
	if err != nil {
		return v1.Hash{}, err
	}
	return img.Digest()
}
