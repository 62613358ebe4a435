package mirror

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func startRegistry(t *testing.T, blobs, manifests string) (string, func()) {
	t.Helper()
	reg, err := NewRegistry(blobs, manifests)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg)
	return strings.TrimPrefix(srv.URL, "http://"), func() { srv.Close(); reg.Close() }
}

// TestManifestsSurviveRestart pushes an image and an index, restarts the
// registry on the same directories, and pulls both back by tag.
func TestManifestsSurviveRestart(t *testing.T) {
	blobs, manifests := t.TempDir(), t.TempDir()
	host, stop := startRegistry(t, blobs, manifests)
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := random.Index(512, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	imgRef, _ := name.ParseReference(host+"/library/golang:1.25", name.Insecure)
	if err := remote.Write(imgRef, img); err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(imgRef.Context().Tag("multi"), idx); err != nil {
		t.Fatal(err)
	}
	stop()

	host2, stop2 := startRegistry(t, blobs, manifests)
	defer stop2()
	for tag, want := range map[string]func() (v1.Hash, error){"1.25": img.Digest, "multi": idx.Digest} {
		ref, _ := name.ParseReference(host2+"/library/golang:"+tag, name.Insecure)
		desc, err := remote.Get(ref)
		if err != nil {
			t.Fatalf("after restart, %s: %v", tag, err)
		}
		w, _ := want()
		if desc.Digest != w {
			t.Errorf("after restart, %s has digest %s, want %s", tag, desc.Digest, w)
		}
	}
	// The blobs are really there, not only the manifest.
	got, err := remote.Image(mustRef(t, host2+"/library/golang:1.25"))
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := got.Layers()
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatalf("layer after restart: %v", err)
		}
		rc.Close()
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSeedsFromLayouts(t *testing.T) {
	dir := t.TempDir()
	tarball, err := TarEntries([]Entry{{Name: "etc", Dir: true, Mode: 0o755}, {Name: "etc/hello", Mode: 0o644, Body: []byte("hi\n")}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := LayerFromTarBytes(tarball)
	if err != nil {
		t.Fatal(err)
	}
	img, err := Build(nil, "amd64", []v1.Layer{l}, WithEnv("PATH=/bin", "A=1"), WithEnv("A=2"), WithUser("65532"), WithEntrypoint("/hello"))
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	if cf.Architecture != "amd64" || cf.OS != "linux" || cf.Config.User != "65532" || strings.Join(cf.Config.Env, ",") != "PATH=/bin,A=2" {
		t.Errorf("config: %+v", cf.Config)
	}
	layoutDir := filepath.Join(dir, "img")
	if err := WriteLayout(layoutDir, img); err != nil {
		t.Fatal(err)
	}
	seedFile := filepath.Join(dir, "seeds.txt")
	seeds := []Seed{{layoutDir, "library/hello:1"}, {layoutDir, "distroless/static-debian12:nonroot"}}
	if err := WriteSeeds(seedFile, seeds); err != nil {
		t.Fatal(err)
	}
	back, err := ReadSeeds(seedFile)
	if err != nil || len(back) != 2 || back[1] != seeds[1] {
		t.Fatalf("ReadSeeds: %v %v", back, err)
	}
	host, stop := startRegistry(t, t.TempDir(), t.TempDir())
	defer stop()
	ctx := context.Background()
	for i := 0; i < 2; i++ { // the second push finds everything there
		if err := Push(ctx, host, back); err != nil {
			t.Fatal(err)
		}
	}
	want, _ := img.Digest()
	for _, s := range seeds {
		desc, err := remote.Head(mustRef(t, host+"/"+s.Ref))
		if err != nil {
			t.Fatalf("%s: %v", s.Ref, err)
		}
		if desc.Digest != want {
			t.Errorf("%s: digest %s, want %s", s.Ref, desc.Digest, want)
		}
	}
	if err := os.WriteFile(seedFile, []byte("only-one-field\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSeeds(seedFile); err == nil || !strings.Contains(err.Error(), "LAYOUT-DIR REPO:TAG") {
		t.Errorf("bad seed line: %v", err)
	}
}

func TestTarDirIsReproducible(t *testing.T) {
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "bin"), 0o755)
	os.WriteFile(filepath.Join(src, "bin", "tool"), []byte("#!/bin/sh\necho hi\n"), 0o755)
	os.Symlink("bin/tool", filepath.Join(src, "tool"))
	os.Link(filepath.Join(src, "bin", "tool"), filepath.Join(src, "hard"))
	out := t.TempDir()
	var digests []v1.Hash
	for i, p := range []string{"a.tar", "b.tar"} {
		if i == 1 {
			os.Chtimes(filepath.Join(src, "bin", "tool"), fixedTime, fixedTime)
		}
		if err := TarDir(filepath.Join(out, p), src, "usr/local/go"); err != nil {
			t.Fatal(err)
		}
		l, err := LayerFromTarFile(filepath.Join(out, p))
		if err != nil {
			t.Fatal(err)
		}
		d, _ := l.DiffID()
		digests = append(digests, d)
	}
	if digests[0] != digests[1] {
		t.Errorf("same tree, different layers: %v", digests)
	}
}

func TestArtifact(t *testing.T) {
	img, err := Artifact("application/vnd.aquasec.trivy.config.v1+json", "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip", "db.tar.gz", []byte("not really gzip"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.MediaType != "application/vnd.aquasec.trivy.config.v1+json" || len(m.Layers) != 1 ||
		m.Layers[0].MediaType != "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip" ||
		m.Layers[0].Annotations["org.opencontainers.image.title"] != "db.tar.gz" {
		t.Errorf("manifest: %+v", m)
	}
}

var fixedTime = mustTime("2001-02-03T04:05:06Z")
