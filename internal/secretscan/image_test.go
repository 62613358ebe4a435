package secretscan_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"log"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/slipway-ci/slipway/internal/secretscan"
)

// fixture is an in-process registry holding one clean image and one leak
// of each kind, with the digests a finding must name.
type fixture struct {
	repo name.Repository
	// clean is a random multi-layer image; signed is another one with a
	// clean referrer; leaky* each hide the value in one place.
	clean, signed, leakyLayer, leakyEnv, leakyIndex, leakyReferrer name.Digest
	layer, envConfig, armImage, armConfig, referrerLayer           v1.Hash
}

func digestOf(t testing.TB, d interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	h, err := d.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func push(t testing.TB, repo name.Repository, tag string, img v1.Image) name.Digest {
	t.Helper()
	d := repo.Digest(digestOf(t, img).String())
	var ref name.Reference = d
	if tag != "" {
		ref = repo.Tag(tag)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	return d
}

func randomImage(t testing.TB, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(2048, layers)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func withConfig(t testing.TB, img v1.Image, cfg v1.Config) v1.Image {
	t.Helper()
	img, err := mutate.Config(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// referrer is an attestation-like artifact about subject: its one layer is
// a DSSE envelope whose payload is payload, base64-encoded.
func referrer(t testing.TB, subject v1.Image, payload string) (v1.Image, v1.Layer) {
	t.Helper()
	env := `{"payloadType":"application/vnd.in-toto+json","payload":"` + base64.StdEncoding.EncodeToString([]byte(payload)) + `","signatures":[]}`
	l := static.NewLayer([]byte(env), "application/vnd.dsse.envelope.v1+json")
	art, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), l)
	if err != nil {
		t.Fatal(err)
	}
	art = mutate.ConfigMediaType(art, "application/vnd.oci.empty.v1+json")
	mf, err := subject.MediaType()
	if err != nil {
		t.Fatal(err)
	}
	size, err := subject.Size()
	if err != nil {
		t.Fatal(err)
	}
	art = mutate.Subject(art, v1.Descriptor{MediaType: mf, Size: size, Digest: digestOf(t, subject)}).(v1.Image)
	return art, l
}

// newFixture pushes the images to a new registry, which serves the OCI
// referrers API, or not, so go-containerregistry falls back to the
// referrers tag schema (a "sha256-<subject>" tag on an index).
func newFixture(t testing.TB, referrersAPI bool) fixture {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(referrersAPI), registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	repo, err := name.NewRepository(strings.TrimPrefix(srv.URL, "http://") + "/shop/web")
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	f.repo = repo
	f.clean = push(t, repo, "clean", randomImage(t, 3))

	// A layer with a config file holding the value, on a random base.
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(tarOf(t,
			file{name: "etc/motd", body: []byte("hello\n")},
			file{name: "etc/app.conf", body: []byte("token = " + secret + "\n")},
		))), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	f.layer = digestOf(t, layer)
	leaky, err := mutate.AppendLayers(randomImage(t, 1), layer)
	if err != nil {
		t.Fatal(err)
	}
	f.leakyLayer = push(t, repo, "layer", leaky)

	// ENV in the config, as `ENV TOKEN=...` or a build arg would leave it.
	envImg := withConfig(t, randomImage(t, 1), v1.Config{Env: []string{"PATH=/bin", "TOKEN=" + secret}})
	f.envConfig = configDigest(t, envImg)
	f.leakyEnv = push(t, repo, "env", envImg)

	// A two-platform index whose arm64 image has the value in a label.
	arm := withConfig(t, randomImage(t, 1), v1.Config{Labels: map[string]string{"build.args": "--token=" + secret}})
	f.armImage, f.armConfig = digestOf(t, arm), configDigest(t, arm)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: randomImage(t, 1), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
	)
	f.leakyIndex = repo.Digest(digestOf(t, idx).String())
	if err := remote.WriteIndex(repo.Tag("multi"), idx); err != nil {
		t.Fatal(err)
	}

	// An attestation attached to an image by the referrers API, pushed by
	// digest only (no tag), with the value in its statement.
	subject := randomImage(t, 1)
	f.leakyReferrer = push(t, repo, "attested", subject)
	art, artLayer := referrer(t, subject, `{"predicate":{"env":`+strings.TrimSpace(jsonString(secret, true))+`}}`)
	f.referrerLayer = digestOf(t, artLayer)
	push(t, repo, "", art)

	// A clean referrer on another image.
	signed := randomImage(t, 2)
	f.signed = push(t, repo, "signed", signed)
	cleanArt, _ := referrer(t, signed, `{"predicate":{"result":"pass"}}`)
	push(t, repo, "", cleanArt)
	return f
}

func configDigest(t testing.TB, img v1.Image) v1.Hash {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestImage(t *testing.T) {
	t.Run("referrers API", func(t *testing.T) { testImage(t, true) })
	t.Run("referrers tag schema", func(t *testing.T) { testImage(t, false) })
}

func testImage(t *testing.T, referrersAPI bool) {
	ctx := context.Background()
	f := newFixture(t, referrersAPI)
	tags, err := remote.List(f.repo)
	if err != nil {
		t.Fatal(err)
	}
	fallback := slices.ContainsFunc(tags, func(tag string) bool { return strings.HasPrefix(tag, "sha256-") })
	if fallback == referrersAPI {
		t.Fatalf("referrers API %v, but tags %v", referrersAPI, tags)
	}
	s := newScanner(t, secret)
	artifact := func() string {
		// The referrer's own digest, as the registry lists it.
		idx, err := remote.Referrers(f.leakyReferrer)
		if err != nil {
			t.Fatal(err)
		}
		m, err := idx.IndexManifest()
		if err != nil || len(m.Manifests) != 1 {
			t.Fatalf("referrers of %s: %v %v", f.leakyReferrer, m, err)
		}
		return m.Manifests[0].Digest.String()
	}()
	r := f.repo.String()
	for _, tc := range []struct {
		name string
		ref  name.Reference
		want []string // "where encoding"
	}{
		{"random image", f.repo.Tag("clean"), nil},
		{"image with a clean referrer", f.signed, nil},
		{"file in a layer", f.repo.Tag("layer"), []string{
			r + "@" + f.leakyLayer.DigestStr() + " layer " + f.layer.String() + "!/etc/app.conf raw",
		}},
		{"env in the config", f.leakyEnv, []string{
			r + "@" + f.leakyEnv.DigestStr() + " config " + f.envConfig.String() + " json-escaped",
		}},
		{"label of one platform", f.repo.Tag("multi"), []string{
			r + "@" + f.armImage.String() + " (linux/arm64 in " + f.leakyIndex.DigestStr() + ") config " + f.armConfig.String() + " json-escaped",
		}},
		{"attestation attached as a referrer", f.repo.Tag("attested"), []string{
			r + "@" + artifact + " (referrer of " + f.leakyReferrer.DigestStr() + ") layer " + f.referrerLayer.String() + " base64(json-escaped)",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			found, err := s.Image(ctx, tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, fd := range found {
				got = append(got, fd.Where+" "+fd.Encoding)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("found\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}

	// The whole repository and the whole registry: the four leaks, each
	// once, although with the tag schema referrers are reached both from
	// their subject and from the fallback tag.
	for name, scan := range map[string]func() (secretscan.Findings, error){
		"Repository": func() (secretscan.Findings, error) { return s.Repository(ctx, f.repo) },
		"Registry":   func() (secretscan.Findings, error) { return s.Registry(ctx, f.repo.Registry) },
	} {
		found, err := scan()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(found) != 4 {
			t.Errorf("%s: %d findings, want 4:\n%v", name, len(found), found.Err())
		}
	}

	// A scanner for another value finds nothing anywhere.
	found, err := newScanner(t, plain).Registry(ctx, f.repo.Registry)
	if err != nil || len(found) != 0 {
		t.Errorf("other value: %v %v", found, err)
	}
}

func TestImageMissing(t *testing.T) {
	f := newFixture(t, true)
	if _, err := newScanner(t, secret).Image(context.Background(), f.repo.Tag("nope")); err == nil {
		t.Error("missing tag: no error")
	}
}

// BenchmarkImage scans a 4-layer image of 32 MiB of random files from an
// in-process registry: fetch, verify, gunzip, untar and search.
func BenchmarkImage(b *testing.B) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	b.Cleanup(srv.Close)
	ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/big:1")
	if err != nil {
		b.Fatal(err)
	}
	img, err := random.Image(8<<20, 4)
	if err != nil {
		b.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		b.Fatal(err)
	}
	s := newScanner(b, secret, plain)
	b.SetBytes(32 << 20)
	for b.Loop() {
		found, err := s.Image(context.Background(), ref)
		if err != nil || len(found) != 0 {
			b.Fatal(found, err)
		}
	}
}
