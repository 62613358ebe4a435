package enginetest_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/engine"
	"github.com/slipway-ci/slipway/internal/enginetest"
)

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// container runs `dagger core container from REF <chain...>` and returns stdout.
func container(t *testing.T, e *enginetest.Engine, ctx context.Context, dir, ref string, chain ...string) string {
	t.Helper()
	args := append([]string{"core", "container", "from", "--address", ref}, chain...)
	out, err := e.Dagger(ctx, dir, args...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

func TestGoVersionInGolangImage(t *testing.T) {
	e := enginetest.Require(t)
	out := container(t, e, ctxFor(t, 5*time.Minute), t.TempDir(), engine.GolangRef, "with-exec", "--args", "go,version", "stdout")
	if !regexp.MustCompile(`^go version go1\.(2[5-9]|[3-9]\d)(\.\d+)? linux/`).MatchString(out) {
		t.Fatalf("`go version` in %s printed %q", engine.GolangRef, out)
	}
}

func TestStaticBaseImage(t *testing.T) {
	e := enginetest.Require(t)
	ctx := ctxFor(t, 5*time.Minute)
	if user := container(t, e, ctx, t.TempDir(), engine.StaticBaseRef, "user"); user != "65532" {
		t.Errorf("%s runs as %q, want 65532 (nonroot)", engine.StaticBaseRef, user)
	}
	size := container(t, e, ctx, t.TempDir(), engine.StaticBaseRef, "file", "--path", "/etc/ssl/certs/ca-certificates.crt", "size")
	if size == "" || size == "0" {
		t.Errorf("%s has no CA certificates (size %q)", engine.StaticBaseRef, size)
	}
}

// TestTrivyFindsPlantedCVEs scans a binary built with golang.org/x/text
// v0.3.5 with the Trivy image and the offline DB, both from the mirror: the
// DB is downloaded by Trivy itself, from inside the container, over the
// engine's bridge.
func TestTrivyFindsPlantedCVEs(t *testing.T) {
	e := enginetest.Require(t)
	ctx := ctxFor(t, 8*time.Minute)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	write(t, filepath.Join(src, "go.mod"), "module example.com/vulnerable\n\ngo 1.25\n\nrequire golang.org/x/text v0.3.5\n")
	write(t, filepath.Join(src, "main.go"), "package main\n\nimport (\n\t\"fmt\"\n\n\t\"golang.org/x/text/language\"\n)\n\nfunc main() { fmt.Println(language.English) }\n")
	out := filepath.Join(dir, "scan")
	os.MkdirAll(out, 0o755)
	for _, args := range [][]string{{"mod", "tidy"}, {"build", "-o", filepath.Join(out, "app"), "."}} {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %v: %v\n%s", args, err, b)
		}
	}
	report := container(t, e, ctx, dir, engine.TrivyRef,
		"with-directory", "--path", "/scan", "--source", out,
		"with-exec", "--args", "trivy,rootfs,--cache-dir,/tmp/trivy,--db-repository,"+engine.MirrorBridgeAddr+"/aquasecurity/trivy-db:2,--insecure,"+
			"--skip-java-db-update,--skip-version-check,--disable-telemetry,--scanners,vuln,--severity,HIGH,--format,json,--quiet,/scan",
		"stdout")
	for _, cve := range []string{"CVE-2021-38561", "CVE-2022-32149"} {
		if !strings.Contains(report, `"VulnerabilityID": "`+cve+`"`) {
			t.Errorf("Trivy report lacks %s:\n%.3000s", cve, report)
		}
	}
	if !strings.Contains(report, `"Severity": "HIGH"`) {
		t.Errorf("Trivy report has no HIGH finding:\n%.3000s", report)
	}
}

// TestGosecFindsWeakHash runs the gosec image on a file that uses MD5.
func TestGosecFindsWeakHash(t *testing.T) {
	e := enginetest.Require(t)
	ctx := ctxFor(t, 5*time.Minute)
	src := t.TempDir()
	write(t, filepath.Join(src, "go.mod"), "module example.com/weak\n\ngo 1.25\n")
	write(t, filepath.Join(src, "main.go"), "package main\n\nimport (\n\t\"crypto/md5\"\n\t\"fmt\"\n)\n\nfunc main() { fmt.Println(md5.Sum([]byte(\"x\"))) }\n")
	report := container(t, e, ctx, src, engine.GosecRef,
		"with-directory", "--path", "/src", "--source", src, "with-workdir", "--path", "/src",
		"with-exec", "--args", "/bin/gosec,-fmt,json,-no-fail,-quiet,./...", "stdout")
	if !strings.Contains(report, `"rule_id": "G401"`) && !strings.Contains(report, `"rule_id": "G501"`) {
		t.Errorf("gosec found no weak-hash issue:\n%.3000s", report)
	}
}

// TestDaggerCallModule calls a function of this repository's Dagger module
// (ci/, declared by dagger.json at the root) through `dagger call`. Before
// the module exists it falls back to a throwaway module from `dagger init`.
func TestDaggerCallModule(t *testing.T) {
	e := enginetest.Require(t)
	ctx := ctxFor(t, 9*time.Minute)
	wd, _ := os.Getwd()
	repo, ok := engine.FindRepo(wd)
	if !ok {
		t.Fatal("not in the slipway checkout")
	}
	if _, err := os.Stat(filepath.Join(repo, "dagger.json")); err != nil {
		throwawayModule(t, e, ctx)
		return
	}
	// Module builds in the engine fetch from the host's module cache over
	// the file GOPROXY: make sure everything the module needs is there.
	for _, dir := range []string{repo, filepath.Join(repo, "dagger")} {
		cmd := exec.CommandContext(ctx, "go", "mod", "download")
		cmd.Dir = dir
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go mod download in %s: %v\n%s", dir, err, b)
		}
	}
	help, err := e.Dagger(ctx, repo, "-m", "ci", "call", "slipway", "--help")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(help, "generate") {
		t.Errorf("`dagger -m ci call slipway --help` does not list the generate function:\n%s", help)
	}
	out, err := e.Dagger(ctx, repo, "-m", "ci", "call", "slipway", "generate", "entries")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, ".gitlab-ci.yml") {
		t.Errorf("`dagger -m ci call slipway generate entries` printed %q, want .gitlab-ci.yml among them", out)
	}
}

func throwawayModule(t *testing.T, e *enginetest.Engine, ctx context.Context) {
	dir := t.TempDir()
	// --license="": otherwise the CLI fetches the licence text online.
	if _, err := e.Dagger(ctx, dir, "init", "--sdk=go", "--name=hello", "--license="); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "main.go"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("\n// Greet returns a greeting.\nfunc (m *Hello) Greet(name string) string { return \"Hello, \" + name + \"!\" }\n")
	f.Close()
	out, err := e.Dagger(ctx, dir, "call", "greet", "--name=engine")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != "Hello, engine!" {
		t.Errorf("dagger call greet printed %q", out)
	}
}

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
