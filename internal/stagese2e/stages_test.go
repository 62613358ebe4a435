// Package stagese2e runs slipway's module's stage functions with `dagger
// call` against the project's engine, as CI jobs and developers do: through
// the toolchain ci/dagger.json installs for the example service (`dagger -m
// ci call slipway ...`), and straight on the module at the root with other
// sources (`dagger call --source=DIR ...`), including the planted faults: a failing unit test, a vulnerable dependency, a gosec
// finding, a wrong registry password. Each test skips without an engine, and fails without one under
// SLIPWAY_REQUIRE_E2E=1.
package stagese2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/daggertest"
	"github.com/slipway-ci/slipway/internal/enginetest"
	"github.com/slipway-ci/slipway/stage/goimage"
	"github.com/slipway-ci/slipway/stage/govulncheck"
	"github.com/slipway-ci/slipway/stage/govulncheck/vulndb"
)

// repo is the repository root, where dagger.json is.
const repo = "../.."

// trivyDB are the security-trivy arguments that point Trivy at the engine's
// mirror of its DB, as an air-gapped user points it at theirs.
var trivyDB = []string{"--db-repository=" + daggertest.Registry + "/aquasecurity/trivy-db:2", "--insecure"}

// call runs `dagger -m ci call slipway ARGS`: the example service's
// stages, configured in ci/dagger.json.
func call(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return dagger(t, append([]string{"-m", "ci", "call", "slipway"}, args...)...)
}

// callRoot runs `dagger call ARGS` on slipway's module at the repository
// root, whose settings are the flags before the function.
func callRoot(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return dagger(t, append([]string{"call"}, args...)...)
}

func dagger(t *testing.T, args ...string) (string, error) {
	t.Helper()
	e := enginetest.Require(t)
	// The engine builds the module, and the stages fetch modules, from the
	// host's module cache.
	daggertest.ModDownload(t, repo, filepath.Join(repo, "dagger"))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	return e.Dagger(ctx, repo, args...)
}

func mustCallRoot(t *testing.T, args ...string) string {
	t.Helper()
	out, err := callRoot(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mustCall(t *testing.T, args ...string) string {
	t.Helper()
	out, err := call(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBuild checks the labels and that the created time comes from the
// argument, not the clock.
func TestBuild(t *testing.T) {
	for key, want := range map[string]string{
		goimage.KeyCreated:  "2026-11-26T12:00:00Z",
		goimage.KeyRevision: "abc123",
	} {
		out := mustCall(t, "build", "--revision=abc123", "--created=1795694400", "label", "--name="+key)
		if strings.TrimSpace(out) != want {
			t.Errorf("label %s = %q, want %q", key, out, want)
		}
	}
	if user := strings.TrimSpace(mustCall(t, "build", "user")); user != goimage.DefaultUser {
		t.Errorf("user = %q, want %q", user, goimage.DefaultUser)
	}
}

// TestTestUnit runs the service's unit tests and exports their reports.
func TestTestUnit(t *testing.T) {
	out := mustCall(t, "test-unit", "summary")
	if !strings.Contains(out, "tests") || !strings.Contains(out, "% of statements") {
		t.Errorf("summary = %q", out)
	}
	dir := t.TempDir()
	mustCall(t, "test-unit", "reports", "export", "--path="+dir)
	for _, f := range []string{"junit.xml", "coverage.xml", "coverage.out"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("report %s: %v", f, err)
		}
	}
	// check prints the line GitLab's coverage regex (ci/reference) reads,
	// also when the stage comes from Dagger's cache, as it does here.
	if out := mustCall(t, "test-unit", "check"); !regexp.MustCompile(`total:\s+\(statements\)\s+(\d+\.\d+)%`).MatchString(out) {
		t.Errorf("check printed no coverage total line for GitLab: %q", out)
	}
}

// TestTestUnitPlantedFailure: the function still returns its reports, the
// JUnit report shows the failure, and check fails naming the test.
func TestTestUnitPlantedFailure(t *testing.T) {
	src := []string{"--source=internal/stagese2e/testdata/failing", "test-unit"}
	dir := t.TempDir()
	mustCallRoot(t, append(src, "reports", "export", "--path="+dir)...)
	junit, err := os.ReadFile(filepath.Join(dir, "junit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`name="TestPlantedFailure"`, `failures="1"`, "planted failure: 4 is not 5"} {
		if !strings.Contains(string(junit), want) {
			t.Errorf("junit.xml lacks %q:\n%s", want, junit)
		}
	}
	_, err = callRoot(t, append(src, "check")...)
	if err == nil || !strings.Contains(err.Error(), "example.com/failing.TestPlantedFailure") {
		t.Fatalf("check: err = %v, want a failure naming TestPlantedFailure", err)
	}
}

// TestSecuritySastPlantedFinding: gosec's finding is reported, check fails
// by default and passes with --fail=false (the pipeline goes on).
func TestSecuritySastPlantedFinding(t *testing.T) {
	src := []string{"--source=stage/gosec/testdata/finding", "security-sast"}
	if out := mustCallRoot(t, append(src, "summary")...); !strings.Contains(out, "2 gosec findings") {
		t.Errorf("summary = %q, want 2 findings", out)
	}
	_, err := callRoot(t, append(src, "check")...)
	if err == nil || !strings.Contains(err.Error(), "G401") {
		t.Fatalf("check: err = %v, want the G401 finding", err)
	}
	mustCallRoot(t, append(src, "--fail=false", "check")...)
}

// TestSecurityTrivyPlantedVulnerability scans an image that links
// golang.org/x/text v0.3.5: check fails naming both CVEs.
func TestSecurityTrivyPlantedVulnerability(t *testing.T) {
	c := daggertest.Connect(t)
	daggertest.ModDownload(t, filepath.Join(repo, "stage/trivy/testdata/vulnerable"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	imgs, err := goimage.Build(ctx, c, c.Host().Directory(filepath.Join(repo, "stage/trivy/testdata/vulnerable")),
		goimage.WithBinaryName("vulnerable"), goimage.WithGoEnv("GOPROXY", daggertest.GoProxy))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := imgs[0].Publish(ctx, daggertest.EngineRegistry+"/slipway-e2e/vulnerable:latest")
	if err != nil {
		t.Fatal(err)
	}
	_, err = call(t, append([]string{"security-trivy", "--image=" + ref}, append(trivyDB, "check")...)...)
	if err == nil {
		t.Fatal("check passed on an image with HIGH vulnerabilities")
	}
	for _, id := range []string{"CVE-2021-38561", "CVE-2022-32149"} {
		if !strings.Contains(err.Error(), id) {
			t.Errorf("check's error does not name %s: %v", id, err)
		}
	}
}

// TestPublishScanIntegrate publishes the service to the engine's registry
// by digest, then scans it and runs the integration tests against it as a
// service, as the build, security:trivy and test:integration jobs do.
func TestPublishScanIntegrate(t *testing.T) {
	ref := strings.TrimSpace(mustCall(t, "publish", "--repository="+daggertest.Registry+"/slipway-e2e/deployai", "--insecure", "--revision=e2e"))
	if !strings.HasPrefix(ref, daggertest.Registry+"/slipway-e2e/deployai@sha256:") {
		t.Fatalf("publish returned %q, want repository@sha256:digest", ref)
	}
	// The engine reaches the same registry under another address.
	pull := strings.Replace(ref, daggertest.Registry, daggertest.EngineRegistry, 1)
	mustCall(t, append([]string{"security-trivy", "--image=" + pull}, append(trivyDB, "check")...)...)
	out := mustCall(t, "test-integration", "--image="+pull, "summary")
	if !strings.Contains(out, "tests") {
		t.Errorf("summary = %q", out)
	}
	mustCall(t, "test-integration", "--image="+pull, "check")
}

// TestCi runs the whole pipeline in one call.
func TestCi(t *testing.T) {
	args := []string{"ci", "--db-repository=" + daggertest.Registry + "/aquasecurity/trivy-db:2", "--db-insecure"}
	out := mustCall(t, append(args, "summary")...)
	for _, stage := range []string{"unit", "sast", "publish", "integration", "trivy"} {
		if !strings.Contains(out, stage) {
			t.Errorf("summary lacks %s:\n%s", stage, out)
		}
	}
	mustCall(t, append(args, "check")...)
	if !strings.Contains(out, "scan evidence not recorded: the image is only in this session's registry") {
		t.Errorf("summary does not say why the scan evidence was not recorded:\n%s", out)
	}

	// Pushed to a registry, the scan is recorded next to the image, as
	// security-trivy records it, for production's gate. The stages are
	// cached from the call above; publish and the evidence run again.
	pushed := append([]string{"ci", "--repository=" + daggertest.Registry + "/slipway-e2e/ci", "--insecure"}, args[1:]...)
	out = mustCall(t, append(pushed, "summary")...)
	if !strings.Contains(out, "scan evidence recorded") || strings.Contains(out, "not recorded") {
		t.Errorf("summary does not say the scan evidence was recorded:\n%s", out)
	}
}

// TestDaggerCheck runs the toolchain's +check functions with `dagger
// check` in ci/, as a team runs them in its repository.
func TestDaggerCheck(t *testing.T) {
	e := enginetest.Require(t)
	daggertest.ModDownload(t, repo, filepath.Join(repo, "dagger"))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	ci := filepath.Join(repo, "ci")
	list, err := e.Dagger(ctx, ci, "check", "-l")
	if err != nil {
		t.Fatal(err)
	}
	for _, check := range []string{"unit-tests", "integration-tests"} {
		if !strings.Contains(list, check) {
			t.Errorf("dagger check -l does not list %s:\n%s", check, list)
		}
	}
	if _, err := e.Dagger(ctx, ci, "check"); err != nil {
		t.Fatal(err)
	}
}

// TestSmokeProbes: a service without an integration-test package is tested
// by probing the image as a service; a probe that wants another status
// fails check, naming the probe and what the service answered.
func TestSmokeProbes(t *testing.T) {
	ref := strings.TrimSpace(mustCall(t, "publish", "--repository="+daggertest.Registry+"/slipway-e2e/smoke", "--insecure", "--revision=smoke"))
	pull := strings.Replace(ref, daggertest.Registry, daggertest.EngineRegistry, 1)
	good := []string{"--integration-package=", "--smoke=8080/health=200,8080/ready=200,9090/metrics=200,8080/nope=404"}
	out := mustCall(t, append(good, "test-integration", "--image="+pull, "summary")...)
	if !strings.Contains(out, "4 smoke probes") {
		t.Errorf("summary = %q, want 4 smoke probes", out)
	}
	mustCall(t, append(good, "test-integration", "--image="+pull, "check")...)
	bad := []string{"--integration-package=", "--smoke=8080/health=200,8080/nope=200"}
	_, err := call(t, append(bad, "test-integration", "--image="+pull, "check")...)
	if err == nil || !strings.Contains(err.Error(), "1 of 2 smoke probes failed: GET :8080/nope wants 200, got 404") {
		t.Fatalf("check: err = %v, want the failed probe named", err)
	}
}

// TestSmokeServiceExitsAtStart: an image whose binary exits at once (here
// the service with a flag it does not know) fails with what it printed,
// not Dagger's bare "start ... exit code: 1".
func TestSmokeServiceExitsAtStart(t *testing.T) {
	ref := strings.TrimSpace(mustCall(t, "publish", "--repository="+daggertest.Registry+"/slipway-e2e/smoke", "--insecure", "--revision=smoke"))
	pull := strings.Replace(ref, daggertest.Registry, daggertest.EngineRegistry, 1)
	_, err := call(t, "--integration-package=", "--smoke=8080/health=200", "--args=--no-such-flag", "test-integration", "--image="+pull, "check")
	if err == nil {
		t.Fatal("a service that exits at start passed its smoke test")
	}
	for _, want := range []string{"exited when it started (exit code 1) before serving", "no-such-flag", "its arguments (args)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error lacks %q: %v", want, err)
		}
	}
}

// TestSecurityGovulncheckPlanted: govulncheck through `dagger call`, on the
// Go vulnerability database the engine's mirror serves: a module that
// calls a vulnerable function fails check naming the GO- ID and the call
// path; the same dependency imported but never called passes, listed.
func TestSecurityGovulncheckPlanted(t *testing.T) {
	for _, dir := range []string{"called", "imported"} {
		daggertest.ModDownload(t, filepath.Join(repo, "stage/govulncheck/testdata", dir))
	}
	db := "--db-image=" + daggertest.Registry + "/" + vulndb.ImageRepository + ":" + vulndb.DefaultVersion
	called := []string{"--source=stage/govulncheck/testdata/called", "security-govulncheck", db}
	dir := t.TempDir()
	mustCallRoot(t, append(called, "reports", "export", "--path="+dir)...)
	for _, f := range []string{govulncheck.JSONFile, govulncheck.SARIFFile, govulncheck.GitLabFile, govulncheck.SummaryFile} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("report %s: %v", f, err)
		}
	}
	_, err := callRoot(t, append(called, "check")...)
	if err == nil || !strings.Contains(err.Error(), "GO-2022-1059") || !strings.Contains(err.Error(), "->") {
		t.Fatalf("check: err = %v, want GO-2022-1059 with its call path", err)
	}
	out := mustCallRoot(t, "--source=stage/govulncheck/testdata/imported", "security-govulncheck", db, "check")
	if !strings.Contains(out, "0 reachable vulnerabilities") {
		t.Errorf("imported, not called: %q, want 0 reachable", out)
	}
}
