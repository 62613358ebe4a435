package attest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dagger.io/dagger"

	"github.com/slipway-ci/slipway/internal/daggertest"
	"github.com/slipway-ci/slipway/stage/goimage"
	"github.com/slipway-ci/slipway/stage/kube"
	"github.com/slipway-ci/slipway/stage/ociregistry"
	"github.com/slipway-ci/slipway/stage/publish"
)

// The two benchmarks below give `make bench` the added cost of the supply
// chain evidence relative to the build stage it follows, on the example
// service (examples/deployai) after a one-file change, as the reference
// pipeline's build job (`dagger call publish --signing-key=...`) meets
// them, through the same stage packages:
//
//	-ratio 'SBOM + signing + provenance vs build stage=BenchmarkEvidenceAdded/BenchmarkEvidenceBuild<=0.2'
//
// The build stage builds the image and pushes it. With a signing key,
// publish pushes with stage/publish instead: the image's SBOM (CycloneDX
// and SPDX) is made while the push runs, then the deploy tool signs the
// digest and attaches the two SBOM attestations and the SLSA provenance,
// all in one exec. What that adds is the difference between the two
// pushes of images built alike.

// benchSource copies what the example service builds from (go.mod, go.sum
// and examples/deployai) and returns the copy and a function that changes
// one of its Go files, so that the next build compiles again.
func benchSource(b testing.TB) (string, func()) {
	b.Helper()
	dir := b.TempDir()
	for _, f := range []string{"go.mod", "go.sum"} {
		copyFile(b, filepath.Join("..", "..", f), filepath.Join(dir, f))
	}
	root := filepath.Join("..", "..", "examples", "deployai")
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(filepath.Join("..", ".."), p)
		copyFile(b, p, filepath.Join(dir, rel))
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	file := filepath.Join(dir, "examples/deployai/internal/server/server.go")
	orig, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	// The change reaches the binary (a comment would not): each build is a
	// new image, so neither its push nor its SBOM comes from Dagger's cache.
	return dir, func() {
		stamp := fmt.Sprintf("\nvar benchStamp = %q\n\nfunc init() { benchStamp += \"\" }\n", time.Now().Format(time.RFC3339Nano))
		if err := os.WriteFile(file, append(append([]byte{}, orig...), stamp...), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

func copyFile(b testing.TB, from, to string) {
	b.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		b.Fatal(err)
	}
}

// buildStage is the build stage: the service's image, evaluated.
func buildStage(b testing.TB, ctx context.Context, c *dagger.Client, dir string) *dagger.Container {
	b.Helper()
	imgs, err := goimage.Build(ctx, c, c.Host().Directory(dir, dagger.HostDirectoryOpts{NoCache: true}), goimage.WithPackage("./examples/deployai/cmd/deployai"),
		goimage.WithBinaryName("deployai"), goimage.WithGoEnv("GOPROXY", daggertest.GoProxy))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := imgs[0].Sync(ctx); err != nil {
		b.Fatal(err)
	}
	return imgs[0]
}

// push is the build stage's push, to the engine's registry.
func push(b testing.TB, ctx context.Context, c *dagger.Client, img *dagger.Container) string {
	b.Helper()
	ref, err := ociregistry.Push(ctx, c, img, daggertest.Registry+"/bench/deployai:latest",
		ociregistry.WithInsecureRegistry(daggertest.Registry), ociregistry.WithGoEnv("GOPROXY", daggertest.GoProxy))
	if err != nil {
		b.Fatal(err)
	}
	return ref
}

// BenchmarkEvidenceBuild is the baseline: the build stage (build and push)
// after a one-file change.
func BenchmarkEvidenceBuild(b *testing.B) {
	c := daggertest.Connect(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	dir, bump := benchSource(b)
	push(b, ctx, c, buildStage(b, ctx, c, dir)) // warm: the module and build caches are filled
	b.ResetTimer()
	var took time.Duration
	n := samples(b)
	for i := 0; i < n; i++ {
		bump()
		start := time.Now()
		push(b, ctx, c, buildStage(b, ctx, c, dir))
		took += time.Since(start)
	}
	b.ReportMetric(float64(took.Nanoseconds())/float64(n), "ns/op")
}

// samples is how many times the evidence benchmarks measure, whatever
// b.N: `make bench` runs them with -benchtime=2s, which one five-second
// build exceeds, and one sample of a sub-second difference is mostly
// noise. Each reports its mean as ns/op.
func samples(b *testing.B) int { return max(b.N, 4) }

// BenchmarkEvidenceAdded times what the evidence adds to that stage, as
// publish with a signing key meets it (stage/publish): the image pushed,
// its SBOM made while the push runs, the digest signed and the SBOMs and
// the provenance (with go.sum's modules) attached as signed referrers, all
// in the push's exec. Each iteration builds two new images (untimed) and
// pushes one plainly and publishes the other signed; what it reports per
// operation is the difference, so what the SBOM's CPU costs the
// concurrent push is counted too.
func BenchmarkEvidenceAdded(b *testing.B) {
	c := daggertest.Connect(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	dir, bump := benchSource(b)
	key := c.SetSecret("bench-signing-key", string(newKey(b)))
	// go.sum as publish has it, in the source directory it was given.
	sum, err := os.ReadFile(filepath.Join(dir, "go.sum"))
	if err != nil {
		b.Fatal(err)
	}
	goSum := c.Directory().WithNewFile("go.sum", string(sum)).File("go.sum")
	opts := []publish.Option{
		publish.WithPushOptions(ociregistry.WithInsecureRegistry(daggertest.Registry), ociregistry.WithGoEnv("GOPROXY", daggertest.GoProxy)),
		publish.WithAttestOptions(kube.WithSigningKey(key, nil), kube.WithGoEnv("GOPROXY", daggertest.GoProxy)),
	}
	signed := func(img *dagger.Container) time.Duration {
		start := time.Now()
		p := &kube.Provenance{SlipwayVersion: "bench", DaggerVersion: "v0.19.10", Repository: "https://example.com/slipway",
			Revision: "0123456789abcdef0123456789abcdef01234567", Function: "publish", Started: start}
		res, err := publish.Signed(ctx, c, img, daggertest.Registry+"/bench/deployai:latest", kube.Build{Provenance: p, GoSum: goSum}, opts...)
		if err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		if !strings.Contains(res.Attested, "signed SBOM attached") || !strings.Contains(res.Attested, "signed SLSA provenance attached") {
			b.Fatalf("publish did not attach everything: %s", res.Attested)
		}
		if len(res.SBOM.GoModules()) == 0 {
			b.Fatalf("the SBOM of %s lists no Go modules", res.Ref)
		}
		return took
	}
	signed(buildStage(b, ctx, c, dir)) // warm: Trivy's and the tools' images
	b.ResetTimer()
	var added time.Duration
	n := samples(b)
	for i := 0; i < n; i++ {
		bump()
		img := buildStage(b, ctx, c, dir)
		start := time.Now()
		push(b, ctx, c, img)
		plain := time.Since(start)
		bump()
		added += signed(buildStage(b, ctx, c, dir)) - plain
	}
	b.ReportMetric(float64(added.Nanoseconds())/float64(n), "ns/op")
}
