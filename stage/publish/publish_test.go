package publish_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"dagger.io/dagger"

	"github.com/slipway-ci/slipway/deploy/attest"
	"github.com/slipway-ci/slipway/internal/daggertest"
	"github.com/slipway-ci/slipway/stage/goimage"
	"github.com/slipway-ci/slipway/stage/kube"
	"github.com/slipway-ci/slipway/stage/ociregistry"
	"github.com/slipway-ci/slipway/stage/publish"
)

// service builds stage/sbom's test service into a new image (a unique
// label, so nothing of it comes from an earlier run's pushes).
func service(ctx context.Context, t *testing.T, c *dagger.Client) *dagger.Container {
	t.Helper()
	daggertest.ModDownload(t, "../sbom/testdata/service")
	imgs, err := goimage.Build(ctx, c, c.Host().Directory("../sbom/testdata/service"), goimage.WithBinaryName("service"),
		goimage.WithGoEnv("GOPROXY", daggertest.GoProxy))
	if err != nil {
		t.Fatal(err)
	}
	return imgs[0].WithLabel("test.run", fmt.Sprint(time.Now().UnixNano()))
}

// key is a throwaway signing key, as make demo makes one.
func key(t *testing.T) string {
	t.Helper()
	priv, _, err := attest.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	return string(priv)
}

func options(c *dagger.Client, signingKey string) []publish.Option {
	return []publish.Option{
		publish.WithPushOptions(ociregistry.WithInsecureRegistry(daggertest.Registry), ociregistry.WithGoEnv("GOPROXY", daggertest.GoProxy)),
		publish.WithAttestOptions(kube.WithSigningKey(c.SetSecret(fmt.Sprintf("publish-test-key-%d", time.Now().UnixNano()), signingKey), nil),
			kube.WithGoEnv("GOPROXY", daggertest.GoProxy)),
	}
}

// TestSignedPushesAndSigns: one call pushes the image, whose digest the
// engine then pulls by its tag, and signs it with its SBOM and provenance;
// the SBOM lists the binary's modules and names the digest.
func TestSignedPushesAndSigns(t *testing.T) {
	c := daggertest.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	img := service(ctx, t, c)
	p := &kube.Provenance{DaggerVersion: "v0.19.10", Repository: "https://example.com/team/service",
		Revision: "0123456789abcdef0123456789abcdef01234567", Function: "publish", Started: time.Now().Add(-time.Minute)}
	res, err := publish.Signed(ctx, c, img, daggertest.Registry+"/slipway-test/publish:signed", kube.Build{Provenance: p}, options(c, key(t))...)
	if err != nil {
		t.Fatal(err)
	}
	repo, digest, ok := strings.Cut(res.Ref, "@")
	if !ok || repo != daggertest.Registry+"/slipway-test/publish" || !strings.HasPrefix(digest, "sha256:") {
		t.Fatalf("Ref = %q, want %s/slipway-test/publish@sha256:...", res.Ref, daggertest.Registry)
	}
	pulled, err := c.Container().From(daggertest.EngineRegistry + "/slipway-test/publish:signed").ImageRef(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(pulled, "@"+digest) {
		t.Errorf("the tag resolves to %s; Signed returned %s", pulled, res.Ref)
	}
	for _, want := range []string{"signed " + digest, "signed SBOM attached", "signed SLSA provenance attached"} {
		if !strings.Contains(res.Attested, want) {
			t.Errorf("Attested = %q, want it to say %q", res.Attested, want)
		}
	}
	if res.SBOM.Subject != res.Ref {
		t.Errorf("SBOM subject %q, want %q", res.SBOM.Subject, res.Ref)
	}
	if len(res.SBOM.GoModules()) < 3 {
		t.Errorf("the SBOM lists %d Go modules: %v", len(res.SBOM.GoModules()), res.SBOM.GoModules())
	}
	if len(res.SBOM.SPDX) == 0 || len(res.SBOM.CycloneDX) == 0 {
		t.Error("an SBOM document is empty")
	}
}

// TestSignedRefusesABadKeyBeforePushing: a signing key that does not load
// fails the call, naming the key, and nothing is pushed.
func TestSignedRefusesABadKeyBeforePushing(t *testing.T) {
	c := daggertest.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	tag := fmt.Sprintf("badkey-%d", time.Now().UnixNano())
	_, err := publish.Signed(ctx, c, service(ctx, t, c), daggertest.Registry+"/slipway-test/publish:"+tag, kube.Build{},
		options(c, "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")...)
	if err == nil {
		t.Fatal("a bad signing key was accepted")
	}
	t.Log(err)
	if !strings.Contains(err.Error(), "SIGNING_KEY") || !strings.Contains(err.Error(), "nothing was pushed") {
		t.Errorf("the error does not name the key and say nothing was pushed: %v", err)
	}
	if ref, err := c.Container().From(daggertest.EngineRegistry + "/slipway-test/publish:" + tag).ImageRef(ctx); err == nil {
		t.Errorf("the image was pushed (%s) though its key could not sign", ref)
	}
}

// TestSignedPushFailureSignsNothing: a registry that cannot be reached
// fails as ociregistry's push does.
func TestSignedPushFailureSignsNothing(t *testing.T) {
	c := daggertest.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	_, err := publish.Signed(ctx, c, service(ctx, t, c), "10.87.0.1:5999/slipway-test/publish:unreachable", kube.Build{},
		append(options(c, key(t)), publish.WithPushOptions(ociregistry.WithInsecureRegistry("10.87.0.1:5999")))...)
	if err == nil {
		t.Fatal("a push to a closed port succeeded")
	}
	t.Log(err)
	if !strings.Contains(err.Error(), "ociregistry: pushing 10.87.0.1:5999/slipway-test/publish:unreachable") {
		t.Errorf("the error is not the push's: %v", err)
	}
}
