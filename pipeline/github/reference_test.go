package github_test

import (
	"testing"
	"time"

	"github.com/slipway-ci/slipway/pipeline"
)

// reference builds the pipeline of the project brief (the reference
// pipeline in ci/), so the tests see the shapes the runner tests see:
// deploy:staging declares no needs here, to exercise GitLab's stage order.
func reference(t testing.TB) *pipeline.Pipeline {
	t.Helper()
	everywhere := []pipeline.Rule{pipeline.OnBranches(), pipeline.OnTags("v*"), pipeline.OnMergeRequests()}
	src := pipeline.Dir("source", ".")
	p, err := pipeline.New("reference",
		pipeline.GeneratedFrom("ci/reference.go", "make generate"),
		pipeline.Stages("build", "test", "security", "deploy-staging", "deploy-production"),
		pipeline.DefaultRunnerTags("dagger"),
		pipeline.Job("build",
			pipeline.Stage("build"),
			pipeline.When(everywhere...),
			pipeline.Calls(pipeline.Fn("publish", src, pipeline.FromVar("tag", pipeline.CommitSHA), pipeline.Secret("registry-password", "REGISTRY_PASSWORD"))),
			pipeline.Outputs("IMAGE_REF"),
			pipeline.Interruptible(),
		),
		pipeline.Job("test:unit",
			pipeline.Stage("test"),
			pipeline.When(everywhere...),
			pipeline.Calls(pipeline.Fn("test-unit", src).Export("reports")),
			pipeline.Reports(pipeline.Report{Kind: pipeline.JUnit, Path: "reports/unit.xml"}, pipeline.Report{Kind: pipeline.Cobertura, Path: "reports/coverage.xml"}),
			pipeline.Coverage(`total:\s+\(statements\)\s+(\d+\.\d+)%`),
			pipeline.Interruptible(),
		),
		pipeline.Job("test:integration",
			pipeline.Stage("test"),
			pipeline.Needs("build"),
			pipeline.When(everywhere...),
			pipeline.Calls(pipeline.Fn("test-integration", src, pipeline.FromJob("image", "build", "IMAGE_REF"))),
			pipeline.Timeout(30*time.Minute),
			pipeline.Retry(1),
			pipeline.Interruptible(),
		),
		pipeline.Job("security:trivy",
			pipeline.Stage("security"),
			pipeline.Needs("build"),
			pipeline.When(everywhere...),
			pipeline.Calls(pipeline.Fn("security-trivy", pipeline.FromJob("image", "build", "IMAGE_REF")).Export("reports/trivy.sarif")),
			pipeline.Reports(pipeline.Report{Kind: pipeline.SARIF, Path: "reports/trivy.sarif"}),
			pipeline.Interruptible(),
		),
		pipeline.Job("security:sast",
			pipeline.Stage("security"),
			pipeline.When(everywhere...),
			pipeline.Calls(pipeline.Fn("security-sast", src).Export("reports")),
			pipeline.Reports(pipeline.Report{Kind: pipeline.GitLabSAST, Path: "reports/gl-sast.json"}, pipeline.Report{Kind: pipeline.SARIF, Path: "reports/gosec.sarif"}),
			pipeline.AllowFailure(),
			pipeline.Interruptible(),
		),
		pipeline.Job("deploy:staging",
			pipeline.Stage("deploy-staging"),
			pipeline.When(pipeline.OnBranches("develop", "main"), pipeline.OnTags("v*")),
			pipeline.Calls(pipeline.Fn("deploy-staging", pipeline.FromVar("repository", pipeline.RepositoryURL), pipeline.Secret("kubeconfig", "STAGING_KUBECONFIG"))),
			pipeline.Deploys(pipeline.Environment{Name: "staging", URL: "https://staging.example.com", Tier: pipeline.Staging}),
			pipeline.Concurrency("staging"),
		),
		pipeline.Job("deploy:production",
			pipeline.Stage("deploy-production"),
			pipeline.Needs("build", "deploy:staging"),
			pipeline.When(pipeline.OnBranches("main"), pipeline.OnTags("v*")),
			pipeline.Calls(pipeline.Fn("deploy-production", pipeline.FromJob("image", "build", "IMAGE_REF"), pipeline.Secret("kubeconfig", "PRODUCTION_KUBECONFIG"))),
			pipeline.Deploys(pipeline.Environment{Name: "production", URL: "https://example.com", Tier: pipeline.Production}),
			pipeline.Approval(),
			pipeline.Concurrency("production"),
			pipeline.Timeout(90*time.Minute),
		),
	)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
