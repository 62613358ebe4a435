// Slipway's own Dagger module: the reference pipeline's stages as Dagger
// functions, and the generator of its CI files.
//
// Every stage runs the same way on a laptop (`dagger call <stage>`), in
// GitLab CI and in GitHub Actions, whose files only call these functions.
// The work lives in slipway's pipeline packages and in tool containers; this
// module stays thin so that it loads fast.
package main

import (
	"context"
	"embed"
	"fmt"

	"github.com/slipway-ci/slipway/ci/internal/dagger"
	"github.com/slipway-ci/slipway/ci/reference"
)

// source is this module's own Go source. The reference pipeline checks every
// job against the functions declared here, also when it is generated inside
// an engine.
//
//go:embed *.go
var source embed.FS

// Slipway is the main object: one function per pipeline stage.
type Slipway struct{}

// errNotImplemented is what a stage returns until its body lands, so that no
// stage can pretend to succeed.
func errNotImplemented(function, issue string) error {
	return fmt.Errorf("%s: not implemented yet (tracked in %s); no work was done", function, issue)
}

// Build builds the example service's container image from source.
func (m *Slipway) Build(
	ctx context.Context,
	// The repository root.
	// +defaultPath="/"
	source *dagger.Directory,
) (*dagger.Container, error) {
	return nil, errNotImplemented("build", "the stages issue")
}

// Publish builds the image and pushes it, returning repository@sha256:digest.
// Every later stage uses that digest, never a tag.
func (m *Slipway) Publish(
	ctx context.Context,
	// The repository root.
	// +defaultPath="/"
	source *dagger.Directory,
	// Where to push, such as registry.example.com/team/app.
	// +optional
	repository string,
	// The registry user.
	// +optional
	username string,
	// The registry password or token.
	// +optional
	password *dagger.Secret,
	// The commit the image is built from, recorded in its labels.
	// +optional
	revision string,
) (string, error) {
	return "", errNotImplemented("publish", "the stages issue")
}

// Verdict is the outcome of a test or scan stage: its reports, which are kept
// even when the stage fails, and a check that fails when it did. CI jobs
// export the reports first and call check second, so a failing stage still
// shows its JUnit, coverage and scan reports.
type Verdict struct {
	// The stage's reports: JUnit, Cobertura, SARIF or GitLab reports.
	Reports *dagger.Directory
	// What the stage found, one line; empty when all is well.
	Problem string
}

// Check fails when the stage failed, naming what it found.
func (v *Verdict) Check() error {
	if v.Problem != "" {
		return fmt.Errorf("%s", v.Problem)
	}
	return nil
}

// TestUnit runs the unit tests with the race detector and coverage. Its
// reports hold junit.xml and coverage.xml.
func (m *Slipway) TestUnit(
	ctx context.Context,
	// The repository root.
	// +defaultPath="/"
	source *dagger.Directory,
) (*Verdict, error) {
	return nil, errNotImplemented("test-unit", "the stages issue")
}

// TestIntegration runs the integration tests against the built image,
// served as a Dagger service. Its reports hold junit.xml.
func (m *Slipway) TestIntegration(
	ctx context.Context,
	// The repository root.
	// +defaultPath="/"
	source *dagger.Directory,
	// The image to test, as repository@sha256:digest.
	image string,
) (*Verdict, error) {
	return nil, errNotImplemented("test-integration", "the stages issue")
}

// SecurityTrivy scans the image for HIGH and CRITICAL vulnerabilities; check
// fails when it finds any. Its reports hold SARIF and a GitLab
// container-scanning report.
func (m *Slipway) SecurityTrivy(
	ctx context.Context,
	// The image to scan, as repository@sha256:digest.
	image string,
) (*Verdict, error) {
	return nil, errNotImplemented("security-trivy", "the stages issue")
}

// SecuritySast runs gosec over the source; check fails when it finds
// anything. Its reports hold SARIF and a GitLab SAST report.
func (m *Slipway) SecuritySast(
	ctx context.Context,
	// The repository root.
	// +defaultPath="/"
	source *dagger.Directory,
) (*Verdict, error) {
	return nil, errNotImplemented("security-sast", "the stages issue")
}

// DeployStaging deploys the image by digest to the staging namespace, waits
// for the rollout and rolls back on failure.
func (m *Slipway) DeployStaging(
	ctx context.Context,
	// The image to deploy, as repository@sha256:digest.
	image string,
	// The staging cluster's kubeconfig.
	kubeconfig *dagger.Secret,
) (string, error) {
	return "", errNotImplemented("deploy-staging", "the deploy issue")
}

// DeployProduction deploys to production an image that staging has verified
// and the scan found clean. It refuses without an explicit approval.
func (m *Slipway) DeployProduction(
	ctx context.Context,
	// The image to deploy, as repository@sha256:digest.
	image string,
	// The production cluster's kubeconfig.
	kubeconfig *dagger.Secret,
	// Confirms that a person approved this deploy.
	// +optional
	approve bool,
) (string, error) {
	return "", errNotImplemented("deploy-production", "the deploy issue")
}

// Generate returns the CI files generated from the reference pipeline:
// .gitlab-ci.yml and .github/workflows/ci.yml. Write them into the
// repository with `dagger call generate export --path=.`.
func (m *Slipway) Generate(ctx context.Context) (*dagger.Directory, error) {
	files, err := reference.Files(source)
	if err != nil {
		return nil, err
	}
	dir := dag.Directory()
	for _, f := range files {
		dir = dir.WithNewFile(f.Path, string(f.Data))
	}
	return dir, nil
}
