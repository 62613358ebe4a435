// Package reference defines slipway's reference pipeline: the CI/CD of the
// MTS Deploy AI service, done right. The ci module's Generate function and
// `make generate` both turn it into the committed CI files.
package reference

import (
	"fmt"
	"io/fs"
	"time"

	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/daggermod"
	"github.com/slipway-ci/slipway/pipeline/generate"
)

// Object is the module's main object, whose methods are the functions the
// jobs call.
const Object = "Slipway"

// The names of the reference pipeline's stages, in order.
const (
	stageBuild            = "build"
	stageTest             = "test"
	stageSecurity         = "security"
	stageDeployStaging    = "deploy-staging"
	stageDeployProduction = "deploy-production"
)

// imageRef is the output of the build job: the pushed image as
// repository@sha256:digest. Every later job reads this one value, so the
// digest that was tested and scanned is the digest that is deployed.
const imageRef = "IMAGE_REF"

// Pipeline returns the reference pipeline: the CI/CD of the MTS Deploy AI
// service (see examples/deployai), done right. The GitLab job names are the
// seed's, so teams migrating keep their job history and environments.
//
// Which jobs run where:
//   - any branch, v* tags, merge and pull requests: build, tests and scans;
//   - develop, main and v* tags: also deploy:staging;
//   - main and v* tags: also deploy:production, behind a manual approval.
//
// module is the ci module's Go source (its top directory). Every job is
// checked against the functions it declares, with their arguments, so a job
// cannot call a function that is missing or renamed.
func Pipeline(module fs.FS) (*pipeline.Pipeline, error) {
	mod, err := daggermod.ParseFS(module, Object)
	if err != nil {
		return nil, fmt.Errorf("reading the module's functions: %w", err)
	}
	everywhere := pipeline.When(
		pipeline.OnBranches(),
		pipeline.OnTags("v*"),
		pipeline.OnMergeRequests(),
	)
	source := pipeline.Dir("source", ".")
	// The deploys record and read their evidence in the image's registry.
	registryUser := pipeline.FromEnv("registry-username", "REGISTRY_USERNAME")
	registryPassword := pipeline.Secret("registry-password", "REGISTRY_PASSWORD")
	image := pipeline.FromJob("image", "build", imageRef)
	week := 7 * 24 * time.Hour

	return pipeline.New("slipway",
		pipeline.GeneratedFrom("ci/reference/reference.go", "make generate"),
		pipeline.DefaultRunnerTags("dagger"),
		pipeline.Stages(stageBuild, stageTest, stageSecurity, stageDeployStaging, stageDeployProduction),
		pipeline.Var("IMAGE_REPOSITORY", "registry.example.com/telecom/mts-deploy-ai"),
		pipeline.Var("REGISTRY_USERNAME", "slipway"),
		// Plain-HTTP registries and an internal Trivy DB mirror are set per
		// CI project (or by `make demo` for the local ones), never in code.
		pipeline.Var("REGISTRY_INSECURE", "false"),
		pipeline.Var("TRIVY_DB_REPOSITORY", "ghcr.io/aquasecurity/trivy-db:2"),
		pipeline.Var("TRIVY_DB_INSECURE", "false"),
		pipeline.Functions(mod.Signatures()...),

		pipeline.Job("build",
			pipeline.Stage(stageBuild),
			pipeline.Calls(pipeline.Fn("publish",
				source,
				pipeline.FromEnv("repository", "IMAGE_REPOSITORY"),
				pipeline.FromEnv("username", "REGISTRY_USERNAME"),
				pipeline.Secret("password", "REGISTRY_PASSWORD"),
				pipeline.FromVar("revision", pipeline.CommitSHA),
				pipeline.FromEnv("insecure", "REGISTRY_INSECURE"),
			)),
			pipeline.Outputs(imageRef),
			everywhere,
			pipeline.Interruptible(),
			pipeline.Timeout(30*time.Minute),
		),
		pipeline.Job("test:unit",
			pipeline.Stage(stageTest),
			pipeline.Calls(verdict(pipeline.Fn("test-unit", source), "reports/unit")),
			everywhere,
			pipeline.Interruptible(),
			pipeline.Timeout(30*time.Minute),
			pipeline.Reports(
				pipeline.Report{Kind: pipeline.JUnit, Path: "reports/unit/junit.xml"},
				pipeline.Report{Kind: pipeline.Cobertura, Path: "reports/unit/coverage.xml"},
			),
			pipeline.KeepArtifacts(week, "reports/unit/"),
			pipeline.Coverage(`total:\s+\(statements\)\s+(\d+\.\d+)%`),
		),
		pipeline.Job("test:integration",
			pipeline.Stage(stageTest),
			pipeline.Needs("build"),
			pipeline.Calls(verdict(pipeline.Fn("test-integration", source, image), "reports/integration")),
			everywhere,
			pipeline.Interruptible(),
			pipeline.Timeout(30*time.Minute),
			pipeline.Reports(pipeline.Report{Kind: pipeline.JUnit, Path: "reports/integration/junit.xml"}),
			pipeline.KeepArtifacts(week, "reports/integration/"),
		),
		pipeline.Job("security:trivy",
			pipeline.Stage(stageSecurity),
			pipeline.Needs("build"),
			pipeline.Calls(verdict(pipeline.Fn("security-trivy", image,
				pipeline.FromEnv("db-repository", "TRIVY_DB_REPOSITORY"),
				pipeline.FromEnv("insecure", "TRIVY_DB_INSECURE"),
				// The scan is recorded as evidence next to the image.
				registryUser, registryPassword,
			), "reports/trivy")),
			everywhere,
			pipeline.Interruptible(),
			pipeline.Timeout(20*time.Minute),
			pipeline.Reports(
				pipeline.Report{Kind: pipeline.SARIF, Path: "reports/trivy/trivy.sarif"},
				pipeline.Report{Kind: pipeline.GitLabContainerScanning, Path: "reports/trivy/gl-container-scanning-report.json"},
			),
			pipeline.KeepArtifacts(week, "reports/trivy/"),
		),
		pipeline.Job("security:sast",
			pipeline.Stage(stageSecurity),
			pipeline.Calls(verdict(pipeline.Fn("security-sast", source), "reports/sast")),
			everywhere,
			pipeline.AllowFailure(),
			pipeline.Interruptible(),
			pipeline.Timeout(20*time.Minute),
			pipeline.Reports(
				pipeline.Report{Kind: pipeline.SARIF, Path: "reports/sast/gosec.sarif"},
				pipeline.Report{Kind: pipeline.GitLabSAST, Path: "reports/sast/gl-sast-report.json"},
			),
			pipeline.KeepArtifacts(week, "reports/sast/"),
		),
		pipeline.Job("deploy:staging",
			pipeline.Stage(stageDeployStaging),
			pipeline.Needs("build", "test:unit", "test:integration", "security:trivy"),
			pipeline.Calls(pipeline.Fn("deploy-staging",
				image,
				pipeline.Secret("kubeconfig", "KUBECONFIG_STAGING"),
				registryUser, registryPassword,
			)),
			pipeline.When(pipeline.OnBranches("develop", "main"), pipeline.OnTags("v*")),
			pipeline.Deploys(pipeline.Environment{Name: "staging", URL: "https://staging.mts-deploy-ai.example.com", Tier: pipeline.Staging}),
			pipeline.Concurrency("deploy-staging"),
			pipeline.Timeout(15*time.Minute),
		),
		pipeline.Job("deploy:production",
			pipeline.Stage(stageDeployProduction),
			pipeline.Needs("build", "deploy:staging"),
			pipeline.Calls(pipeline.Fn("deploy-production",
				image,
				pipeline.Secret("kubeconfig", "KUBECONFIG_PRODUCTION"),
				registryUser, registryPassword,
				pipeline.Bool("approve", true),
			)),
			pipeline.When(pipeline.OnBranches("main"), pipeline.OnTags("v*")),
			pipeline.Deploys(pipeline.Environment{Name: "production", URL: "https://mts-deploy-ai.example.com", Tier: pipeline.Production}),
			pipeline.Approval(),
			pipeline.Concurrency("deploy-production"),
			pipeline.Timeout(15*time.Minute),
		),
	)
}

// verdict makes a job of a stage that returns a Verdict: it exports the
// reports to dir first, so the CI keeps them whatever the outcome, and then
// calls check, which fails the job when the stage failed.
func verdict(c pipeline.Call, dir string) pipeline.Call {
	return c.Then("reports").Export(dir).ThenVerify("check")
}

// Files returns the CI files of the reference pipeline.
func Files(module fs.FS) ([]generate.File, error) {
	p, err := Pipeline(module)
	if err != nil {
		return nil, err
	}
	return generate.Files(p)
}
