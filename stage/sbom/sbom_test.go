package sbom_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/daggertest"
	"github.com/slipway-ci/slipway/stage/goimage"
	"github.com/slipway-ci/slipway/stage/sbom"
)

// goList runs the go command in the service's directory and returns
// "path version" lines as a map.
func goList(t *testing.T, args ...string) map[string]string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = "testdata/service"
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v", strings.Join(args, " "), err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 {
			m[f[0]] = f[1]
		}
	}
	return m
}

// TestImageSBOMListsTheModules builds the service into an image, publishes
// it, and checks Trivy's SBOM of the published digest against the go
// command: every module the binary links is listed with the version `go
// list -m all` gives, and every Go module listed has that version.
func TestImageSBOMListsTheModules(t *testing.T) {
	c := daggertest.Connect(t)
	daggertest.ModDownload(t, "testdata/service")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	all := goList(t, "list", "-m", "-f", "{{.Path}} {{.Version}}", "all")
	linked := goList(t, "list", "-deps", "-f", "{{with .Module}}{{if .Version}}{{.Path}} {{.Version}}{{end}}{{end}}", ".")
	if len(linked) < 3 {
		t.Fatalf("the service links %d modules; the test would prove little", len(linked))
	}
	imgs, err := goimage.Build(ctx, c, c.Host().Directory("testdata/service"), goimage.WithBinaryName("service"), goimage.WithGoEnv("GOPROXY", daggertest.GoProxy))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := imgs[0].Publish(ctx, daggertest.EngineRegistry+"/slipway-test/sbom-service:latest")
	if err != nil {
		t.Fatal(err)
	}
	res, err := sbom.Image(ctx, c, ref)
	if err != nil {
		t.Fatal(err)
	}
	got := res.GoModules()
	for path, version := range linked {
		if got[path] != version {
			t.Errorf("the SBOM lists %s at %q; the binary links %s (go list -m all: %s)", path, got[path], version, all[path])
		}
	}
	for path, version := range got {
		if path == "stdlib" || version == "" {
			continue
		}
		if all[path] != version {
			t.Errorf("the SBOM lists %s %s; go list -m all says %q", path, version, all[path])
		}
	}
	if _, ok := got["golang.org/x/tools"]; ok {
		t.Error("the image's SBOM lists golang.org/x/tools, which go list -m all has but the binary does not link")
	}
	checkDocs(ctx, t, res, sbom.CycloneDXFile, sbom.SPDXFile)
	if s := res.Verdict().Summary; !strings.Contains(s, ref) || !strings.Contains(s, "Go modules") {
		t.Errorf("summary %q", s)
	}
}

// TestSourceSBOM: the Go module's SBOM, from go.mod and go.sum, lists
// every requirement at the version go.mod gives.
func TestSourceSBOM(t *testing.T) {
	c := daggertest.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := sbom.Source(ctx, c, c.Host().Directory("testdata/service"), "example.com/service")
	if err != nil {
		t.Fatal(err)
	}
	all := goList(t, "list", "-m", "-f", "{{.Path}} {{.Version}}", "all")
	direct := goList(t, "list", "-m", "-f", "{{if not .Indirect}}{{.Path}} {{.Version}}{{end}}", "all")
	got := res.GoModules()
	for path, version := range direct {
		if version != "" && got[path] != version {
			t.Errorf("the module's SBOM lists %s at %q, go.mod requires %s", path, got[path], version)
		}
	}
	for path, version := range got {
		if version != "" && all[path] != version {
			t.Errorf("the module's SBOM lists %s %s; go list -m all says %q", path, version, all[path])
		}
	}
	checkDocs(ctx, t, res, sbom.SourceCycloneDXFile, sbom.SourceSPDXFile)
}

func checkDocs(ctx context.Context, t *testing.T, res *sbom.Result, cdxFile, spdxFile string) {
	t.Helper()
	cdx, err := res.Reports.File(cdxFile).Contents(ctx)
	if err != nil || cdx != string(res.CycloneDX) {
		t.Errorf("%s differs from Result.CycloneDX (%v)", cdxFile, err)
	}
	var spdx struct {
		SPDXVersion string `json:"spdxVersion"`
		Packages    []struct {
			Name        string `json:"name"`
			VersionInfo string `json:"versionInfo"`
		} `json:"packages"`
	}
	raw, err := res.Reports.File(spdxFile).Contents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(raw), &spdx); err != nil || !strings.HasPrefix(spdx.SPDXVersion, "SPDX-2.") {
		t.Fatalf("%s is not SPDX 2 JSON (%v)", spdxFile, err)
	}
	found := false
	for _, p := range spdx.Packages {
		if p.Name == "golang.org/x/text" && p.VersionInfo == "v0.21.0" {
			found = true
		}
	}
	if !found {
		t.Errorf("the SPDX document does not list golang.org/x/text v0.21.0")
	}
	if _, err := sbom.Predicate(res.CycloneDX); err != nil {
		t.Error(err)
	}
}

func TestDecodeCycloneDX(t *testing.T) {
	comps, err := sbom.DecodeCycloneDX([]byte(`{"bomFormat":"CycloneDX","specVersion":"1.7","components":[
		{"type":"application","name":"usr/local/bin/service","components":[{"type":"library","name":"golang.org/x/text","version":"v0.21.0","purl":"pkg:golang/golang.org/x/text@v0.21.0"}]},
		{"type":"library","name":"github.com/google/uuid","version":"v1.6.0","purl":"pkg:golang/github.com/google/uuid@v1.6.0"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	res := sbom.Result{Components: comps}
	mods := res.GoModules()
	if len(comps) != 3 || mods["golang.org/x/text"] != "v0.21.0" || mods["github.com/google/uuid"] != "v1.6.0" {
		t.Errorf("components %v, modules %v", comps, mods)
	}
	for _, tt := range []struct{ doc, want string }{
		{`{"bomFormat":"SPDX"}`, `not a CycloneDX 1.x document (bomFormat "SPDX", specVersion "")`},
		{`[]`, "the CycloneDX SBOM does not decode"},
	} {
		if _, err := sbom.DecodeCycloneDX([]byte(tt.doc)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("DecodeCycloneDX(%s) = %v, want %q", tt.doc, err, tt.want)
		}
	}
	if _, err := sbom.Image(context.Background(), nil, "registry.example.com/app:latest"); err == nil || !strings.Contains(err.Error(), "not pinned by digest") {
		t.Errorf("a tag: %v", err)
	}
}

// TestContainerSBOMListsOSPackages checks that the image's filesystem, as
// Container reads it, yields its OS packages (TestImageSBOMListsTheModules
// covers the Go modules): the engine's alpine:latest (Debian-based here, built locally; Alpine's own
// elsewhere) lists its dpkg or apk packages, the C library among them.
func TestContainerSBOMListsOSPackages(t *testing.T) {
	c := daggertest.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := sbom.Container(ctx, c, c.Container().From("alpine:latest"), "alpine")
	if err != nil {
		t.Fatal(err)
	}
	var pkgs []string
	for _, comp := range res.Components {
		if strings.HasPrefix(comp.PURL, "pkg:deb/") || strings.HasPrefix(comp.PURL, "pkg:apk/") {
			pkgs = append(pkgs, comp.Name)
		}
	}
	if len(pkgs) < 5 || !(slices.Contains(pkgs, "libc6") || slices.Contains(pkgs, "musl")) {
		t.Errorf("the SBOM of alpine:latest lists OS packages %q, want its packages with the C library (libc6 or musl)", pkgs)
	}
}
