package gitlab_test

import (
	"fmt"
	"time"

	"github.com/slipway-ci/slipway/pipeline"
)

// reference builds a pipeline shaped like the project's reference pipeline
// (ci/ holds the real one): build publishes an image and promotes its
// digest to the tests, the scans and both deploys; production waits for a
// person.
func reference() (*pipeline.Pipeline, error) {
	everywhere := []pipeline.Rule{pipeline.OnBranches(), pipeline.OnTags("v*"), pipeline.OnMergeRequests()}
	src := pipeline.Dir("source", ".")
	return pipeline.New("reference",
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
			pipeline.Calls(pipeline.Fn("test-unit", src)),
			pipeline.Reports(pipeline.Report{Kind: pipeline.JUnit, Path: "reports/unit.xml"}, pipeline.Report{Kind: pipeline.Cobertura, Path: "reports/coverage.xml"}),
			pipeline.Coverage(`total:\s+\(statements\)\s+(\d+\.\d+)%`),
			pipeline.Interruptible(),
			pipeline.Retry(1),
		),
		pipeline.Job("test:integration",
			pipeline.Stage("test"),
			pipeline.Needs("build"),
			pipeline.When(everywhere...),
			pipeline.Calls(pipeline.Fn("test-integration", src, pipeline.FromJob("image", "build", "IMAGE_REF"))),
			pipeline.Reports(pipeline.Report{Kind: pipeline.JUnit, Path: "reports/integration.xml"}),
			pipeline.Timeout(30*time.Minute),
			pipeline.Interruptible(),
		),
		pipeline.Job("security:trivy",
			pipeline.Stage("security"),
			pipeline.Needs("build"),
			pipeline.When(everywhere...),
			pipeline.Calls(pipeline.Fn("security-trivy", pipeline.FromJob("image", "build", "IMAGE_REF"))),
			pipeline.Reports(pipeline.Report{Kind: pipeline.GitLabContainerScanning, Path: "reports/trivy.json"}, pipeline.Report{Kind: pipeline.SARIF, Path: "reports/trivy.sarif"}),
		),
		pipeline.Job("security:sast",
			pipeline.Stage("security"),
			pipeline.When(everywhere...),
			pipeline.Calls(pipeline.Fn("security-sast", src)),
			pipeline.Reports(pipeline.Report{Kind: pipeline.GitLabSAST, Path: "reports/gl-sast.json"}, pipeline.Report{Kind: pipeline.SARIF, Path: "reports/gosec.sarif"}),
			pipeline.KeepArtifacts(7*24*time.Hour, "reports/"),
			pipeline.AllowFailure(),
		),
		pipeline.Job("deploy:staging",
			pipeline.Stage("deploy-staging"),
			pipeline.Needs("build", "test:unit", "test:integration", "security:trivy"),
			pipeline.When(pipeline.OnBranches("develop", "main"), pipeline.OnTags("v*")),
			pipeline.Calls(pipeline.Fn("deploy-staging", pipeline.FromJob("image", "build", "IMAGE_REF"), pipeline.Secret("kubeconfig", "STAGING_KUBECONFIG"))),
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
}

// synthetic builds a monorepo-like pipeline of stages×perStage jobs: a
// chain of jobs per service, each job needing two or three jobs of the stage
// before, with every kind of rule, outputs, reports, retries, timeouts,
// environments and approvals spread over the jobs. perStage must be a
// multiple of 5, the number of rule kinds.
func synthetic(stages, perStage int) (*pipeline.Pipeline, error) {
	kinds := [][]pipeline.Rule{
		nil,
		{pipeline.OnBranches(), pipeline.OnTags("v*"), pipeline.OnMergeRequests()},
		{pipeline.OnBranches("main", "release/*"), pipeline.OnTags("v*")},
		{pipeline.OnMergeRequests("main"), pipeline.OnBranches("develop")},
		{pipeline.OnBranches("main"), pipeline.OnSchedule()},
	}
	name := func(s, i int) string { return fmt.Sprintf("s%d:svc%02d", s, (i+perStage)%perStage) }
	opts := []pipeline.Option{
		pipeline.GeneratedFrom("ci/monorepo.go", "make generate"),
		pipeline.DefaultRunnerTags("dagger"),
		pipeline.Var("GOFLAGS", "-mod=mod"),
		pipeline.Var("REGISTRY", "registry.example.com"),
	}
	var stageNames []string
	for s := range stages {
		stageNames = append(stageNames, fmt.Sprintf("stage-%d", s))
	}
	opts = append(opts, pipeline.Stages(stageNames...))
	for s := range stages {
		for i := range perStage {
			kind := i % len(kinds)
			rules := kinds[kind]
			if s == stages-1 && kind == 3 {
				// Changed paths only where no later job needs the job, so
				// no two jobs' rules ask for different paths.
				rules = []pipeline.Rule{pipeline.OnMergeRequests("main").WithChanges(fmt.Sprintf("services/svc%02d/**", i), "go.mod")}
			}
			args := []pipeline.Arg{pipeline.Dir("source", "."), pipeline.FromVar("sha", pipeline.CommitSHA)}
			jo := []pipeline.JobOption{pipeline.Stage(stageNames[s]), pipeline.When(rules...)}
			if s == 0 {
				jo = append(jo, pipeline.Outputs(fmt.Sprintf("REF_%02d", i)))
			} else {
				needs := []string{name(s-1, i), name(s-1, i+len(kinds))}
				if kind == 2 {
					needs = append(needs, name(s-1, i-1)) // kind 1: broader rules
				}
				jo = append(jo, pipeline.Needs(needs...))
				if s == 1 {
					args = append(args, pipeline.FromJob("image", name(0, i), fmt.Sprintf("REF_%02d", i)))
				}
			}
			if i%3 == 0 {
				jo = append(jo, pipeline.Reports(pipeline.Report{Kind: pipeline.JUnit, Path: fmt.Sprintf("reports/%d-%d.xml", s, i)}))
			}
			if i%7 == 0 {
				jo = append(jo, pipeline.Reports(pipeline.Report{Kind: pipeline.Cobertura, Path: fmt.Sprintf("reports/cov-%d-%d.xml", s, i)}),
					pipeline.Coverage(`total:\s+(\d+\.\d+)%`))
			}
			if i%4 == 0 {
				jo = append(jo, pipeline.Retry(1))
			}
			if i%6 == 0 {
				jo = append(jo, pipeline.Timeout(45*time.Minute))
			}
			if kind == 1 {
				jo = append(jo, pipeline.Interruptible())
			}
			if i%9 == 0 {
				jo = append(jo, pipeline.KeepArtifacts(3*24*time.Hour, fmt.Sprintf("dist/%d-%d/", s, i)))
				args = append(args, pipeline.Secret("token", "REGISTRY_TOKEN"))
			}
			if s == stages-1 && kind == 2 {
				jo = append(jo, pipeline.Deploys(pipeline.Environment{Name: fmt.Sprintf("production/svc%02d", i), Tier: pipeline.Production}),
					pipeline.Approval(), pipeline.Concurrency(fmt.Sprintf("production-svc%02d", i)))
			}
			jo = append(jo, pipeline.Calls(pipeline.Fn(fmt.Sprintf("stage-%d", s), args...)))
			opts = append(opts, pipeline.Job(name(s, i), jo...))
		}
	}
	return pipeline.New("monorepo", opts...)
}
