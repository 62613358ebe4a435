// Package vulndb builds the Go vulnerability database, in the layout
// govulncheck reads (that of vuln.go.dev: index/db.json,
// index/modules.json, index/vulns.json, ID/<id>.json), from the OSV
// entries of the golang.org/x/vulndb module at a pinned version, fetched
// from the Go module proxy. The database is then real and current, and a
// scan needs nothing but the proxy, or not even that when the database is
// served from a registry mirror.
//
// Three ways to get it:
//
//   - Build, on the host: `go mod download -json` and the layout written
//     under a cache directory, once per version (how `make engine` seeds
//     its mirror, and how tests get a directory);
//   - Directory, inside Dagger: the same in a Go container, with the Go
//     module proxy the stage is given; Dagger caches it per version;
//   - Image and FromImage: the layout as a small OCI image (one layer,
//     the files under /vulndb), for a registry or mirror, and back.
package vulndb

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"dagger.io/dagger"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/slipway-ci/slipway/stage"
)

const (
	// Module is the Go module that holds the database's OSV entries, in
	// data/osv.
	Module = "golang.org/x/vulndb"
	// DefaultVersion is the pinned version of Module: 4,789 entries, the
	// newest GO-2026-6917.
	DefaultVersion = "v0.0.0-20261105234957-e22db6528018"
	// ImageDir is where an Image holds the layout.
	ImageDir = "/vulndb"
	// ImageRepository is the repository path the local engine's mirror
	// serves the database image under; the tag is the vulndb version.
	ImageRepository = "slipway-ci/govulndb"
	// VersionAnnotation names the vulndb version on an Image's manifest.
	VersionAnnotation = "dev.slipway.vulndb.version"
)

// CheckVersion refuses what is not a version of Module that the proxy can
// serve: a tag such as latest or master would not be pinned.
func CheckVersion(version string) error {
	if !strings.HasPrefix(version, "v") || strings.ContainsAny(version, " /@") || len(strings.Split(version, ".")) < 3 {
		return fmt.Errorf("vulndb: %q is not a version of %s; pin one, such as %s", version, Module, DefaultVersion)
	}
	return nil
}

// Build writes the database of Module at version into cacheDir/version,
// unless it is there already, and returns that directory and its Stats.
// It runs the host's `go mod download -json`, so GOPROXY and friends
// apply; env adds to the environment (nil: the process's).
func Build(ctx context.Context, cacheDir, version string, env ...string) (string, Stats, error) {
	if err := CheckVersion(version); err != nil {
		return "", Stats{}, err
	}
	dst := filepath.Join(cacheDir, version)
	if st, err := Read(dst); err == nil {
		return dst, st, nil
	}
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", Module+"@"+version)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = os.TempDir() // outside any module: the download is the only thing asked
	out, err := cmd.Output()
	d, perr := parseDownload(out)
	if perr != nil {
		if err != nil {
			return "", Stats{}, fmt.Errorf("%w (%v)", perr, exitDetail(err))
		}
		return "", Stats{}, perr
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", Stats{}, err
	}
	tmp, err := os.MkdirTemp(cacheDir, ".tmp-"+version+"-")
	if err != nil {
		return "", Stats{}, err
	}
	defer os.RemoveAll(tmp)
	st, err := writeLayout(filepath.Join(d.Dir, "data", "osv"), tmp, pseudoVersionTime(d.Version))
	if err != nil {
		return "", Stats{}, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", Stats{}, err
	}
	if err := os.Rename(tmp, dst); err != nil {
		// Another process built it first.
		if st2, rerr := Read(dst); rerr == nil {
			return dst, st2, nil
		}
		return "", Stats{}, err
	}
	return dst, st, nil
}

func exitDetail(err error) error {
	if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
	}
	return err
}

// Read returns the Stats of a database layout in dir, checking that it is
// one.
func Read(dir string) (Stats, error) {
	var st Stats
	var db dbMeta
	if err := readJSON(filepath.Join(dir, "index", "db.json"), &db); err != nil {
		return st, err
	}
	var mods []moduleMeta
	if err := readJSON(filepath.Join(dir, "index", "modules.json"), &mods); err != nil {
		return st, err
	}
	ents, err := os.ReadDir(filepath.Join(dir, "ID"))
	if err != nil {
		return st, fmt.Errorf("vulndb: %s is not a database: %w", dir, err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".json") {
			st.Entries++
		}
	}
	st.Modules, st.Modified = len(mods), db.Modified
	return st, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("vulndb: not a database: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("vulndb: %s: %w", path, err)
	}
	return nil
}

// Entry is one OSV entry as the database holds it, decoded loosely.
type Entry struct {
	ID       string   `json:"id"`
	Aliases  []string `json:"aliases"`
	Summary  string   `json:"summary"`
	Affected []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
		EcosystemSpecific struct {
			Imports []struct {
				Path    string   `json:"path"`
				Symbols []string `json:"symbols"`
			} `json:"imports"`
		} `json:"ecosystem_specific"`
	} `json:"affected"`
}

// ReadEntry reads entry id (GO-YYYY-NNNN) of the database in dir.
func ReadEntry(dir, id string) (Entry, error) {
	var e Entry
	err := readJSON(filepath.Join(dir, "ID", id+".json"), &e)
	return e, err
}

//go:embed layout.go
var layoutSource string

//go:embed main.go.txt
var mainSource string

// Directory builds the database of Module at version inside a Go
// container (image goImage, default stage.DefaultGoImage) that reaches
// the module proxy with the Go settings in opts (GOPROXY, GONOSUMDB...).
// Dagger caches the result per version and settings. The files are under
// the returned directory's root.
func Directory(client *dagger.Client, version string, opts ...stage.Option) (*dagger.Directory, error) {
	if err := CheckVersion(version); err != nil {
		return nil, err
	}
	s := stage.NewSettings(opts...)
	src := client.Directory().
		WithNewFile("go.mod", "module vulndblayout\n\ngo 1.22\n").
		WithNewFile("layout.go", strings.Replace(layoutSource, "package vulndb", "package main", 1)).
		WithNewFile("main.go", mainSource)
	ctr := s.WithEnvOn(s.WithGoEnvOn(stage.GoCaches(client, client.Container().From(s.GoImageOr(stage.DefaultGoImage))))).
		WithDirectory("/src", src).WithWorkdir("/src").
		WithEnvVariable("CGO_ENABLED", "0").
		WithExec([]string{"go", "build", "-trimpath", "-o", "/usr/local/bin/vulndb-layout", "."}).
		WithWorkdir("/tmp").
		// -x shows where the time goes on a cold proxy; the JSON is the
		// only stdout.
		WithExec([]string{"sh", "-c", "go mod download -json " + Module + "@" + version + " > /tmp/download.json; s=$?; cat /tmp/download.json >&2; exit $s"}).
		WithExec([]string{"vulndb-layout", "-download", "/tmp/download.json", "-o", "/vulndb"})
	return ctr.Directory("/vulndb"), nil
}

// Image packs the database layout in dir into a small OCI image index:
// one layer with the files under ImageDir, for linux/amd64 and
// linux/arm64 (the data is the same), the version as an annotation.
// `crane push` or remote.WriteIndex puts it into any registry; FromImage
// reads it back inside Dagger.
func Image(dir, version string) (v1.ImageIndex, error) {
	st, err := Read(dir)
	if err != nil {
		return nil, err
	}
	var idx v1.ImageIndex = mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := PlatformImage(dir, version, arch)
		if err != nil {
			return nil, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	return mutate.Annotations(idx, map[string]string{VersionAnnotation: version, "org.opencontainers.image.created": st.Modified.Format(time.RFC3339)}).(v1.ImageIndex), nil
}

// PlatformImage is Image for one architecture: what a mirror that serves
// one platform seeds.
func PlatformImage(dir, version, arch string) (v1.Image, error) {
	st, err := Read(dir)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return tarDir(dir, strings.TrimPrefix(ImageDir, "/")) },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1), mutate.Addendum{Layer: layer})
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", arch, v1.Time{Time: st.Modified}
	cf.Config.Labels = map[string]string{VersionAnnotation: version}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, err
	}
	return mutate.Annotations(img, map[string]string{VersionAnnotation: version}).(v1.Image), nil
}

// FromImage returns the database inside an image made by Image, which
// the engine pulls (so the engine's registry settings and mirrors apply).
func FromImage(client *dagger.Client, ref string) *dagger.Directory {
	return client.Container().From(ref).Directory(ImageDir)
}
