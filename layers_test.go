package slipway_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// productPackages are the packages teams import or run: the model and
// generators, the stages, the deploy layer, the commands and this root.
var productPackages = []string{".", "./pipeline/...", "./stage/...", "./deploy/...", "./cmd/..."}

// TestProductImportsNoInternalOrExamples: nothing on the product's path
// depends on the repository's own tooling (internal/) or its examples.
func TestProductImportsNoInternalOrExamples(t *testing.T) {
	out, err := exec.Command("go", append([]string{"list", "-deps", "-f", "{{.ImportPath}}"}, productPackages...)...).Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 100 {
		t.Fatalf("go list -deps listed %d packages; the check would prove nothing", len(deps))
	}
	for _, p := range deps {
		for _, bad := range []string{"github.com/slipway-ci/slipway/internal", "github.com/slipway-ci/slipway/examples"} {
			if p == bad || strings.HasPrefix(p, bad+"/") {
				who, _ := exec.Command("go", "list", "-f", `{{.ImportPath}}: {{join .Imports " "}}`, "./...").Output()
				t.Errorf("the product depends on %s; importers:\n%s", p, grepLines(string(who), p))
			}
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, " "+sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestScratchImporter builds a new Go module that imports every library
// package of slipway, with no replace directive but the one that points at
// this checkout (slipway is not fetched from a proxy here): what a team's
// program or Dagger module gets from `go get github.com/slipway-ci/slipway`.
func TestScratchImporter(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module with slipway's whole dependency graph")
	}
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "list", "-f", `{{if and (ne .Name "main") .GoFiles}}{{.ImportPath}}{{end}}`, "./pipeline/...", "./stage/...", "./deploy/...", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var imports strings.Builder
	n := 0
	for _, p := range strings.Fields(string(out)) {
		fmt.Fprintf(&imports, "\t_ %q\n", p)
		n++
	}
	if n < 15 {
		t.Fatalf("only %d library packages: %s", n, out)
	}
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/importer\n\ngo 1.25.0\n\nrequire github.com/slipway-ci/slipway v0.0.0\n\nreplace github.com/slipway-ci/slipway => "+root+"\n")
	write("main.go", "// Command importer imports every slipway library package.\npackage main\n\nimport (\n"+imports.String()+")\n\nfunc main() {}\n")
	for _, args := range [][]string{{"mod", "tidy"}, {"build", "-o", os.DevNull, "."}, {"vet", "."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s in a module importing %d slipway packages: %v\n%s", strings.Join(args, " "), n, err, out)
		}
	}
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if c := strings.Count(string(mod), "replace "); c != 1 {
		t.Errorf("the importer's go.mod has %d replace directives, want only slipway's own:\n%s", c, mod)
	}
	if !strings.Contains(string(mod), "\ngo 1.25") {
		t.Errorf("importing slipway raised the importer's go line above 1.25 (Dagger v0.19.10 builds modules with Go 1.25.3):\n%s", mod)
	}
}

// TestBuildListGoVersions: every module in slipway's build list builds with
// the Go that Dagger v0.19.10 builds modules with (1.25.3); one that asks
// for more would make every module importing slipway unbuildable there.
func TestBuildListGoVersions(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Path}}@{{.Version}} {{.GoVersion}}", "all").Output()
	if err != nil {
		t.Fatalf("go list -m all: %v", err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		mod, goVersion, _ := strings.Cut(line, " ")
		if goVersion == "" {
			continue
		}
		n++
		var major, minor, patch int
		fmt.Sscanf(goVersion, "%d.%d.%d", &major, &minor, &patch)
		if major > 1 || major == 1 && (minor > 25 || minor == 25 && patch > 3) {
			t.Errorf("%s says go %s: Dagger v0.19.10 builds modules with Go 1.25.3; pick a version that says 1.25.3 or less", mod, goVersion)
		}
	}
	if n < 50 {
		t.Fatalf("only %d modules with a go line; the check would prove little", n)
	}
}
