package ociregistry_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"dagger.io/dagger"

	"github.com/slipway-ci/slipway/internal/daggertest"
	"github.com/slipway-ci/slipway/stage/goimage"
	"github.com/slipway-ci/slipway/stage/ociregistry"
)

// TestPush pushes to a registry that requires a password: the right one
// gives a digest, a wrong one (the planted fault) a clear error, and the
// registry holds only what the right push put there.
func TestPush(t *testing.T) {
	c := daggertest.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	goproxy := ociregistry.WithGoEnv("GOPROXY", daggertest.GoProxy)
	right := c.SetSecret("registry-password", "s3cret")
	wrong := c.SetSecret("registry-password-wrong", "not-it")
	reg := ociregistry.Service(c, goproxy, ociregistry.WithAuth("ci", right))
	on := []ociregistry.Option{goproxy, ociregistry.WithService("registry", reg), ociregistry.WithInsecureRegistry("registry:5000")}

	imgs, err := goimage.Build(ctx, c, c.Host().Directory("../goimage/testdata/hello"),
		goimage.WithBinaryName("hello"), goimage.WithGoEnv("GOPROXY", daggertest.GoProxy))
	if err != nil {
		t.Fatal(err)
	}

	_, err = ociregistry.Push(ctx, c, imgs[0], "registry:5000/team/wrong", append(on, ociregistry.WithAuth("ci", wrong))...)
	if err == nil {
		t.Fatal("push with a wrong password succeeded")
	}
	for _, want := range []string{`registry registry:5000 refused the credentials of user "ci"`, "401 Unauthorized", "nothing was pushed", "Check the password or token secret"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("push with a wrong password: the error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "not-it") {
		t.Errorf("the error contains the password: %v", err)
	}

	ref, err := ociregistry.Push(ctx, c, imgs[0], "registry:5000/team/right", append(on, ociregistry.WithAuth("ci", right))...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ref, "registry:5000/team/right@sha256:") {
		t.Errorf("ref = %q, want registry:5000/team/right@sha256:...", ref)
	}

	repos, err := ociregistry.Repositories(ctx, c, "registry:5000", append(on, ociregistry.WithAuth("ci", right))...)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(repos, ",") != "team/right" {
		t.Errorf("repositories = %v, want only team/right: the refused push must leave nothing", repos)
	}
}

// TestPushIndex pushes one image per platform as one OCI index to the
// engine's registry: a pull of the index's digest for each platform gets
// that platform's image.
func TestPushIndex(t *testing.T) {
	c := daggertest.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Scratch: only the binaries, which Go cross-compiles, so no base
	// image for the second platform is needed.
	imgs, err := goimage.Build(ctx, c, c.Host().Directory("../goimage/testdata/hello"),
		goimage.WithBinaryName("hello"), goimage.WithBase(""), goimage.WithGoEnv("GOPROXY", daggertest.GoProxy),
		goimage.WithPlatforms("linux/amd64", "linux/arm64"))
	if err != nil {
		t.Fatal(err)
	}
	repo := daggertest.Registry + "/slipway-e2e/index"
	ref, err := ociregistry.PushIndex(ctx, c, imgs, repo+":multi", ociregistry.WithGoEnv("GOPROXY", daggertest.GoProxy),
		ociregistry.WithInsecureRegistry(daggertest.Registry))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ref, repo+"@sha256:") {
		t.Fatalf("ref = %q, want %s@sha256:...", ref, repo)
	}
	pull := strings.Replace(ref, daggertest.Registry, daggertest.EngineRegistry, 1)
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		got, err := c.Container(dagger.ContainerOpts{Platform: dagger.Platform(p)}).From(pull).Platform(ctx)
		if err != nil {
			t.Fatalf("pulling %s for %s: %v", pull, p, err)
		}
		if string(got) != p {
			t.Errorf("the index gave %s for %s", got, p)
		}
	}
}
