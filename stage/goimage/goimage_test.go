package goimage_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"dagger.io/dagger"

	"github.com/slipway-ci/slipway/internal/daggertest"
	"github.com/slipway-ci/slipway/stage/goimage"
)

func TestBuildRejectsRoot(t *testing.T) {
	for _, user := range []string{"", "0", "root", "0:0", "root:root"} {
		_, err := goimage.Build(context.Background(), nil, nil, goimage.WithUser(user))
		if err == nil || !strings.Contains(err.Error(), "root") {
			t.Errorf("WithUser(%q): err = %v, want a refusal to run as root", user, err)
		}
	}
}

func TestBuildNeedsABinaryName(t *testing.T) {
	_, err := goimage.Build(context.Background(), nil, nil, goimage.WithPackage("."))
	if err == nil || !strings.Contains(err.Error(), "WithBinaryName") {
		t.Errorf("err = %v, want a request for WithBinaryName", err)
	}
}

// TestBuildIsReproducible builds the fixture twice from different sources
// that hold the same Go code (the second has an extra file, so the go build
// really runs again) and checks the digests match, the labels, the user and
// that the binary runs.
func TestBuildIsReproducible(t *testing.T) {
	c := daggertest.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	src := c.Host().Directory("testdata/hello")
	created := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	opts := []goimage.Option{
		goimage.WithBinaryName("hello"), goimage.WithGoEnv("GOPROXY", daggertest.GoProxy),
		goimage.WithRevision("0123abc"), goimage.WithSource("https://example.com/hello"), goimage.WithCreated(created),
	}
	publish := func(src *dagger.Directory, tag string) string {
		t.Helper()
		imgs, err := goimage.Build(ctx, c, src, opts...)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := imgs[0].Publish(ctx, daggertest.EngineRegistry+"/slipway-test/hello:"+tag)
		if err != nil {
			t.Fatal(err)
		}
		_, digest, _ := strings.Cut(ref, "@")
		return digest
	}
	first := publish(src, "a")
	second := publish(src.WithNewFile("NOTES.md", time.Now().String()), "b")
	if first == "" || first != second {
		t.Fatalf("digests differ: %s and %s; the same code must give the same image", first, second)
	}

	imgs, err := goimage.Build(ctx, c, src, opts...)
	if err != nil {
		t.Fatal(err)
	}
	img := imgs[0]
	user, err := img.User(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if user != goimage.DefaultUser {
		t.Errorf("user = %q, want %q", user, goimage.DefaultUser)
	}
	for key, want := range map[string]string{
		goimage.KeyRevision: "0123abc", goimage.KeySource: "https://example.com/hello",
		goimage.KeyCreated: "2026-11-26T12:00:00Z",
	} {
		got, err := img.Label(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("label %s = %q, want %q", key, got, want)
		}
	}
	out, err := img.WithExec(nil, dagger.ContainerWithExecOpts{UseEntrypoint: true}).Stdout(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "hello from a static binary") {
		t.Errorf("binary printed %q", out)
	}
}

// TestBuildMultiPlatform builds amd64 and arm64 and publishes them as one
// index. The base is scratch: the engine's mirror serves amd64 bases only.
func TestBuildMultiPlatform(t *testing.T) {
	c := daggertest.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	imgs, err := goimage.Build(ctx, c, c.Host().Directory("testdata/hello"),
		goimage.WithBinaryName("hello"), goimage.WithGoEnv("GOPROXY", daggertest.GoProxy),
		goimage.WithPlatforms("linux/amd64", "linux/arm64"), goimage.WithBase(""))
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 2 {
		t.Fatalf("got %d images, want 2", len(imgs))
	}
	for i, want := range []dagger.Platform{"linux/amd64", "linux/arm64"} {
		p, err := imgs[i].Platform(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if p != want {
			t.Errorf("image %d: platform %s, want %s", i, p, want)
		}
	}
	ref, err := imgs[0].Publish(ctx, daggertest.EngineRegistry+"/slipway-test/hello:multi",
		dagger.ContainerPublishOpts{PlatformVariants: imgs[1:]})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ref, "@sha256:") {
		t.Errorf("publish returned %q, want a digest", ref)
	}
}
