// Package reference defines slipway's reference pipeline: the CI/CD of the
// MTS Deploy AI service (examples/deployai), done right, as a user of
// slipway's own Dagger module. The service's settings are in ci/dagger.json,
// where the module is installed as the toolchain "slipway"; the jobs are
// the stock ones of pipeline/goservice. `make generate` turns it into the
// committed CI files.
package reference

import (
	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/generate"
	"github.com/slipway-ci/slipway/pipeline/goservice"
)

// Module is the Dagger module the jobs call: ci/dagger.json, which installs
// slipway's module (the repository root) as a toolchain configured for the
// example service.
const Module = "ci"

// Pipeline returns the reference pipeline. The GitLab job names are the
// seed's, so teams migrating keep their job history and environments.
//
// Which jobs run where:
//   - any branch, v* tags, merge and pull requests: build, tests and scans;
//   - develop, main and v* tags: also deploy:staging;
//   - main and v* tags: also deploy:production, behind a manual approval.
func Pipeline() (*pipeline.Pipeline, error) {
	return goservice.Pipeline("slipway",
		goservice.Module(Module),
		goservice.Registry("registry.example.com/telecom/mts-deploy-ai"),
		goservice.RegistryUsername("slipway"),
		goservice.StagingURL("https://staging.mts-deploy-ai.example.com"),
		goservice.ProductionURL("https://mts-deploy-ai.example.com"),
		// The deploys switch between apply, helm and gitops with the
		// DEPLOY_SOURCE variable (make demo DEPLOY=...); gitops pushes
		// with this secret.
		goservice.GitOpsPassword("GIT_PASSWORD"),
		// Staging is smoke-tested and watched by Prometheus (ci/dagger.json:
		// verifyPaths, alertRules) whatever the source: production takes
		// only a digest whose staging deploy passed those checks.
		goservice.RequireVerification(),
		goservice.GeneratedFrom("ci/reference/reference.go", "make generate"),
	)
}

// Files returns the CI files of the reference pipeline.
func Files() ([]generate.File, error) {
	p, err := Pipeline()
	if err != nil {
		return nil, err
	}
	return generate.Files(p)
}
