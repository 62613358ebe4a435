// Package sbom makes the software bill of materials of an image and of a
// Go module, with Trivy's own SBOM output (`--format cyclonedx` and
// `--format spdx-json`) in Trivy's container, with Dagger: CycloneDX 1.x
// JSON and SPDX 2.3 JSON, nothing written by hand.
//
// For an image, Trivy reads the image's filesystem, mounted as a root
// filesystem: the OS packages, and for each Go binary the modules it was
// linked with and their versions (from its build info). WithTrivy gives
// another stage's exec the same command (stage/publish makes the SBOM in
// the exec that pushes the image). For a Go module, Trivy reads
// go.mod and go.sum. No vulnerability database is needed.
//
// The SBOM goes next to the image with deploy/attest (a signed CycloneDX
// or SPDX attestation, as `cosign verify-attestation --type cyclonedx`
// reads it), and into the CI's reports (GitLab's
// artifacts:reports:cyclonedx; a GitHub artifact).
package sbom

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"dagger.io/dagger"
	"github.com/package-url/packageurl-go"

	"github.com/slipway-ci/slipway/stage"
	"github.com/slipway-ci/slipway/stage/trivy"
)

// Report file names, in Result.Reports. GitLab's
// artifacts:reports:cyclonedx takes the CycloneDX file (its name must
// match gl-sbom-*.cdx.json there).
const (
	CycloneDXFile = "gl-sbom-image.cdx.json"
	SPDXFile      = "sbom.spdx.json"
	// SourceCycloneDXFile and SourceSPDXFile are the Go module's.
	SourceCycloneDXFile = "gl-sbom-go.cdx.json"
	SourceSPDXFile      = "sbom-go.spdx.json"
)

// Option configures Image and Source.
type Option func(*config)

type config struct {
	stage.Settings
	image string
}

// WithImage sets the Trivy image (default trivy.DefaultImage).
func WithImage(ref string) Option { return func(c *config) { c.image = ref } }

// WithEnv sets an environment variable of Trivy's container.
func WithEnv(name, value string) Option {
	return func(c *config) { stage.WithEnv(name, value)(&c.Settings) }
}

// Component is one package an SBOM lists.
type Component struct {
	// Type is CycloneDX's component type: library, application,
	// operating-system...
	Type    string `json:"type"`
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	// PURL is the package URL, such as pkg:golang/golang.org/x/text@v0.3.7.
	PURL string `json:"purl,omitempty"`
}

// Result is an SBOM of one subject.
type Result struct {
	// Subject is what the SBOM describes: the image reference or the
	// module directory's name.
	Subject string
	// CycloneDX and SPDX are the documents Trivy wrote.
	CycloneDX, SPDX []byte
	// Components are the CycloneDX document's components.
	Components []Component
	// Reports holds the two files.
	Reports *dagger.Directory
}

// GoModules returns the Go modules the SBOM lists (pkg:golang package
// URLs) by path, with their versions; the standard library is "stdlib",
// and a module without a version (the main module) maps to "".
func (r *Result) GoModules() map[string]string {
	out := map[string]string{}
	for _, c := range r.Components {
		p, err := packageurl.FromString(c.PURL)
		if err != nil || p.Type != packageurl.TypeGolang {
			continue
		}
		path := p.Name
		if p.Namespace != "" {
			path = p.Namespace + "/" + p.Name
		}
		out[path] = p.Version
	}
	return out
}

// Verdict is the SBOM's outcome: the reports and a count.
func (r *Result) Verdict() stage.Verdict {
	return stage.Verdict{Reports: r.Reports,
		Summary: fmt.Sprintf("SBOM of %s: %d components, %d Go modules (CycloneDX and SPDX)", r.Subject, len(r.Components), len(r.GoModules()))}
}

var _ stage.Outcome = (*Result)(nil)

// Image makes the SBOM of image, a reference pinned by digest
// (repository@sha256:...), which the engine pulls.
func Image(ctx context.Context, client *dagger.Client, image string, opts ...Option) (*Result, error) {
	if !strings.Contains(image, "@sha256:") {
		return nil, fmt.Errorf("sbom: image %q is not pinned by digest (repository@sha256:...)", image)
	}
	return Container(ctx, client, client.Container().From(image), image, opts...)
}

// Container makes the SBOM of a container's image, named name.
func Container(ctx context.Context, client *dagger.Client, img *dagger.Container, name string, opts ...Option) (*Result, error) {
	c := newConfig(opts)
	// Trivy reads the image's filesystem as a root filesystem, mounted as
	// it is: the same packages (OS packages, Go binaries' modules) as from
	// an image tarball, without exporting one. The export was a third of
	// the SBOM's time for a new image (0.3 of 1.3 s here), and publish
	// waits for the SBOM after its push. The image itself is named by the
	// attestation's subject, its digest.
	ctr := c.base(client).WithMountedDirectory("/rootfs", img.Rootfs())
	return c.run(ctx, ctr, name, []string{"rootfs", "/rootfs"}, CycloneDXFile, SPDXFile)
}

// Start begins Container in the background and returns a function that
// waits for its result: the SBOM needs the image, not its digest, so
// publish makes it while the image is pushed.
func Start(ctx context.Context, client *dagger.Client, img *dagger.Container, name string, opts ...Option) func() (*Result, error) {
	type done struct {
		res *Result
		err error
	}
	c := make(chan done, 1)
	go func() {
		res, err := Container(ctx, client, img, name, opts...)
		c <- done{res, err}
	}()
	return func() (*Result, error) {
		d := <-c
		return d.res, d.err
	}
}

// Source makes the SBOM of the Go module in source (its root holds go.mod
// and go.sum), as Trivy reads them.
func Source(ctx context.Context, client *dagger.Client, source *dagger.Directory, name string, opts ...Option) (*Result, error) {
	c := newConfig(opts)
	ctr := c.base(client).WithMountedDirectory("/src", source)
	return c.run(ctx, ctr, name, []string{"fs", "/src"}, SourceCycloneDXFile, SourceSPDXFile)
}

func newConfig(opts []Option) config {
	c := config{image: trivy.DefaultImage}
	for _, o := range opts {
		o(&c)
	}
	return c
}

func (c config) base(client *dagger.Client) *dagger.Container {
	return c.WithEnvOn(client.Container().From(c.image))
}

const out = "/slipway-reports"

func (c config) run(ctx context.Context, ctr *dagger.Container, name string, target []string, cdxFile, spdxFile string) (*Result, error) {
	// One exec for both: a container start is a good part of the cost.
	ctr = ctr.WithExec([]string{"sh", "-c", command(target, out, cdxFile, spdxFile)})
	return read(ctx, ctr.Directory(out), name, cdxFile, spdxFile)
}

// command is the shell command that writes the SBOM of target (Trivy's
// target kind and its path) into dir as cdxFile and spdxFile.
func command(target []string, dir, cdxFile, spdxFile string) string {
	// An SBOM format turns Trivy's scanning off: no database is fetched,
	// and nothing else is asked of the network. Nothing is cached either
	// (the memory backend): an image's analysis is not asked for twice.
	common := []string{"--cache-backend", "memory", "--cache-dir", "/tmp/trivy-cache", "--skip-db-update", "--skip-java-db-update", "--offline-scan",
		"--skip-version-check", "--disable-telemetry"}
	cdxArgs := append(append([]string{trivyCommand, target[0]}, common...), "--format", "cyclonedx", "--output", dir+"/"+cdxFile)
	cdxArgs = append(cdxArgs, target[1:]...)
	spdxArgs := append(append([]string{trivyCommand, target[0]}, common...), "--format", "spdx-json", "--output", dir+"/"+spdxFile)
	spdxArgs = append(spdxArgs, target[1:]...)
	// Both documents are made from the target at once, not the SPDX one
	// converted from the CycloneDX one afterwards (`trivy sbom`): on two
	// cores that was 0.1 to 0.2 s more of the time publish waits for
	// after its push, and Trivy's analysis is the same both times.
	return "mkdir -p " + shellJoin([]string{dir}) + " && { " + shellJoin(cdxArgs) + " & cdx=$!; " + shellJoin(spdxArgs) + " & spdx=$!; wait $cdx && wait $spdx; }"
}

// trivyCommand is Trivy's binary, on the PATH of Trivy's image and of
// WithTrivy's container.
const trivyCommand = "trivy"

// read reads and checks the two documents in dir.
func read(ctx context.Context, dir *dagger.Directory, name, cdxFile, spdxFile string) (*Result, error) {
	// Both at once: each read is a round trip to the engine.
	var spdx string
	var spdxErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		spdx, spdxErr = dir.File(spdxFile).Contents(ctx)
	}()
	cdx, err := dir.File(cdxFile).Contents(ctx)
	<-done
	if err == nil {
		err = spdxErr
	}
	if err != nil {
		return nil, fmt.Errorf("sbom: %s: %w", name, err)
	}
	comps, err := DecodeCycloneDX([]byte(cdx))
	if err != nil {
		return nil, fmt.Errorf("sbom: %s: %w", name, err)
	}
	if err := checkSPDX([]byte(spdx)); err != nil {
		return nil, fmt.Errorf("sbom: %s: %w", name, err)
	}
	return &Result{Subject: name, CycloneDX: []byte(cdx), SPDX: []byte(spdx), Components: comps, Reports: dir}, nil
}

// Within is how another stage's exec makes an image's SBOM itself, so
// that no container start of its own is waited for: publish makes it in
// the exec that pushes the image, while the push runs.
type Within struct {
	// Command is the shell command that writes the SBOM (a sh -c script;
	// it needs a shell and mkdir on the container's PATH).
	Command string
	// Dir is where it writes CycloneDXFile and SPDXFile.
	Dir string
}

// WithTrivy returns ctr with Trivy's binary (from the Trivy image) on its
// PATH, img's filesystem mounted and the options' environment, and the
// command that makes img's SBOM there; Read reads its result.
func WithTrivy(client *dagger.Client, ctr, img *dagger.Container, opts ...Option) (*dagger.Container, Within) {
	c := newConfig(opts)
	const rootfs, dir = "/run/sbom/rootfs", "/run/sbom/out"
	ctr = c.WithEnvOn(ctr).
		WithMountedFile("/usr/local/bin/"+trivyCommand, client.Container().From(c.image).File("/usr/local/bin/"+trivyCommand)).
		WithMountedDirectory(rootfs, img.Rootfs())
	return ctr, Within{Command: command([]string{"rootfs", rootfs}, dir, CycloneDXFile, SPDXFile), Dir: dir}
}

// Read reads the SBOM Within's command wrote in ctr, named name.
func Read(ctx context.Context, ctr *dagger.Container, w Within, name string) (*Result, error) {
	return read(ctx, ctr.Directory(w.Dir), name, CycloneDXFile, SPDXFile)
}

// DecodeCycloneDX reads the components of a CycloneDX JSON document (any
// 1.x version; nested components are flattened), sorted by package URL.
func DecodeCycloneDX(raw []byte) ([]Component, error) {
	var doc struct {
		BOMFormat   string `json:"bomFormat"`
		SpecVersion string `json:"specVersion"`
		Components  []struct {
			Component
			Components json.RawMessage `json:"components"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("the CycloneDX SBOM does not decode: %w", err)
	}
	if doc.BOMFormat != "CycloneDX" || !strings.HasPrefix(doc.SpecVersion, "1.") {
		return nil, fmt.Errorf("not a CycloneDX 1.x document (bomFormat %q, specVersion %q)", doc.BOMFormat, doc.SpecVersion)
	}
	var out []Component
	for _, c := range doc.Components {
		out = append(out, c.Component)
		if len(c.Components) > 0 {
			nested, err := DecodeCycloneDX([]byte(fmt.Sprintf(`{"bomFormat":"CycloneDX","specVersion":%q,"components":%s}`, doc.SpecVersion, c.Components)))
			if err != nil {
				return nil, err
			}
			out = append(out, nested...)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].PURL+out[i].Name < out[j].PURL+out[j].Name })
	return out, nil
}

func checkSPDX(raw []byte) error {
	var doc struct {
		SPDXVersion string `json:"spdxVersion"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || !strings.HasPrefix(doc.SPDXVersion, "SPDX-2.") {
		return fmt.Errorf("the SPDX SBOM is not an SPDX 2.x JSON document (%v)", err)
	}
	return nil
}

// Predicate returns the document as a JSON object, for an attestation of
// predicate type attest.CycloneDXPredicate or attest.SPDXPredicate.
func Predicate(doc []byte) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		return nil, fmt.Errorf("sbom: not a JSON object: %w", err)
	}
	return m, nil
}

// shellJoin quotes args for sh -c.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}
