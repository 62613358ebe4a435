package adoptione2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/enginetest"
)

// copyHello copies testdata/hello, the smallest service, into a new
// directory.
func copyHello(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range readTree(t, filepath.Join("testdata", "hello")) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestDaggerM calls slipway's module with -m against another repository's
// source, the settings as flags before the function: no file of slipway's
// in the service's repository at all.
func TestDaggerM(t *testing.T) {
	eng := enginetest.Require(t)
	url, _ := serveSlipway(t, eng)
	dir := copyHello(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	settings := []string{"-m", url, "call", "--source=.", "--smoke=8080/health=200,8080/hello=200,8080/nope=404"}
	out, err := eng.Dagger(ctx, dir, append(settings, "test-unit", "check")...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "1 tests") || !strings.Contains(out, "total:") {
		t.Errorf("test-unit check = %q, want the one test and the coverage line", out)
	}
	if _, err := eng.Dagger(ctx, dir, append(settings, "integration-tests")...); err != nil {
		t.Fatal(err)
	}
	// The binary is named after the module, its only main package.
	out, err = eng.Dagger(ctx, dir, append(settings, "build", "entrypoint")...)
	if err != nil || !strings.Contains(out, "/usr/local/bin/hello") {
		t.Errorf("build entrypoint = %q, %v; want /usr/local/bin/hello", out, err)
	}
}

// TestDaggerInstall installs slipway's module as a dependency of a team's
// own Dagger module, whose function calls dag.Slipway(...) with its
// settings.
func TestDaggerInstall(t *testing.T) {
	eng := enginetest.Require(t)
	url, _ := serveSlipway(t, eng)
	dir := copyHello(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	run(t, ctx, dir, nil, "git", "init", "-q")
	step := func(args ...string) {
		t.Helper()
		start := time.Now()
		if _, err := eng.Dagger(ctx, dir, args...); err != nil {
			t.Fatalf("dagger %s: %v", strings.Join(args, " "), err)
		}
		t.Logf("dagger %s: %s", strings.Join(args, " "), time.Since(start).Round(time.Second))
	}
	// --license="": the air-gapped engine cannot fetch a licence text.
	step("init", "--sdk=go", "--name=team", "--source=.dagger", "--license=")
	step("install", url)
	main := `// Team is a team's own Dagger module, which uses slipway's stages.
package main

import (
	"context"

	"dagger/team/internal/dagger"
)

type Team struct{}

// Unit runs the service's unit tests with slipway.
func (m *Team) Unit(
	ctx context.Context,
	// +defaultPath="/"
	source *dagger.Directory,
) (string, error) {
	return m.slipway(source).TestUnit().Check(ctx)
}

// Smoke builds the image and probes it.
func (m *Team) Smoke(
	ctx context.Context,
	// +defaultPath="/"
	source *dagger.Directory,
) error {
	return m.slipway(source).IntegrationTests(ctx)
}

func (m *Team) slipway(source *dagger.Directory) *dagger.Slipway {
	return dag.Slipway(dagger.SlipwayOpts{Source: source, Smoke: []string{"8080/health=200"}})
}
`
	if err := os.WriteFile(filepath.Join(dir, ".dagger", "main.go"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	step("develop")
	out, err := eng.Dagger(ctx, dir, "call", "unit")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "1 tests") {
		t.Errorf("unit = %q, want slipway's summary of one test", out)
	}
	step("call", "smoke")
}
