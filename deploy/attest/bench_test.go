package attest_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"dagger.io/dagger"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/slipway-ci/slipway/deploy/attest"
	"github.com/slipway-ci/slipway/internal/daggertest"
	"github.com/slipway-ci/slipway/stage/goimage"
	"github.com/slipway-ci/slipway/stage/sbom"
)

// The two benchmarks below give `make bench` the added cost of the supply
// chain evidence (the image's SBOM in CycloneDX and SPDX, the image
// signature, SLSA provenance and the two SBOM attestations, signed and
// pushed as referrers) relative to the build stage it follows, both on the
// example service (examples/deployai) after a one-file change, as a
// pipeline meets them:
//
//	-ratio 'SBOM + signing + provenance vs build stage=BenchmarkEvidenceAdded/BenchmarkEvidenceBuild<=0.2'

// benchSource copies what the example service builds from (go.mod, go.sum
// and examples/deployai) and returns the copy and a function that changes
// one of its Go files, so that the next build compiles again.
func benchSource(b *testing.B) (string, func()) {
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
	return dir, func() {
		f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		f.WriteString("\n// bench " + time.Now().Format(time.RFC3339Nano) + "\n")
	}
}

func copyFile(b *testing.B, from, to string) {
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
func buildStage(b *testing.B, ctx context.Context, c *dagger.Client, dir string) *dagger.Container {
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

// BenchmarkEvidenceBuild is the baseline: the build stage after a
// one-file change.
func BenchmarkEvidenceBuild(b *testing.B) {
	c := daggertest.Connect(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	dir, bump := benchSource(b)
	buildStage(b, ctx, c, dir) // warm: the module and build caches are filled
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		bump()
		b.StartTimer()
		buildStage(b, ctx, c, dir)
	}
}

// BenchmarkEvidenceAdded times what the evidence adds after that build:
// the image's SBOM (CycloneDX, then SPDX from it) in Trivy's container,
// and, pushed as signed referrers of the published digest, the image
// signature, the SLSA provenance (with go.sum's modules) and the two SBOM
// attestations. The build and the publish are not timed.
func BenchmarkEvidenceAdded(b *testing.B) {
	c := daggertest.Connect(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	dir, bump := benchSource(b)
	host := serveRegistry(b)
	signer := benchSigner(b)
	goSum, err := os.ReadFile(filepath.Join(dir, "go.sum"))
	if err != nil {
		b.Fatal(err)
	}
	publish := func(img *dagger.Container) name.Digest {
		path := filepath.Join(b.TempDir(), "image.tar")
		if _, err := img.Export(ctx, path, dagger.ContainerExportOpts{ForcedCompression: dagger.ImageLayerCompressionGzip}); err != nil {
			b.Fatal(err)
		}
		local, err := tarball.ImageFromPath(path, nil)
		if err != nil {
			b.Fatal(err)
		}
		tag, err := name.NewTag(host + "/bench/deployai:latest")
		if err != nil {
			b.Fatal(err)
		}
		if err := remote.Write(tag, local); err != nil {
			b.Fatal(err)
		}
		d, err := local.Digest()
		if err != nil {
			b.Fatal(err)
		}
		return tag.Context().Digest(d.String())
	}
	evidence := func(img *dagger.Container, d name.Digest) {
		start := time.Now()
		res, err := sbom.Container(ctx, c, img, d.String())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := signer.SignImage(ctx, d); err != nil {
			b.Fatal(err)
		}
		p := attest.Provenance{SlipwayVersion: "bench", DaggerVersion: "v0.19.10", Repository: "https://example.com/slipway", Revision: "0123456789abcdef0123456789abcdef01234567",
			Function: "publish", GoSum: goSum, Started: start.Add(-time.Minute), Finished: start}
		if _, err := signer.AttestProvenance(ctx, d, p); err != nil {
			b.Fatal(err)
		}
		for pt, doc := range map[string][]byte{attest.CycloneDXPredicate: res.CycloneDX, attest.SPDXPredicate: res.SPDX} {
			pred, err := sbom.Predicate(doc)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := signer.Attest(ctx, d, pt, pred); err != nil {
				b.Fatal(err)
			}
		}
	}
	img := buildStage(b, ctx, c, dir)
	evidence(img, publish(img)) // warm: Trivy's image is pulled
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		bump()
		img := buildStage(b, ctx, c, dir)
		d := publish(img)
		b.StartTimer()
		evidence(img, d)
	}
}

func benchSigner(b *testing.B) *attest.Signer {
	b.Helper()
	s, err := attest.LoadSigner(newKey(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	return s
}
