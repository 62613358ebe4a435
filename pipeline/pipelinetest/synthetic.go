package pipelinetest

import (
	"fmt"
	"time"

	"github.com/slipway-ci/slipway/pipeline"
)

// syntheticJobs are the jobs every service of a Synthetic monorepo has, in
// order, with the stage each runs in.
var syntheticJobs = []struct{ suffix, stage, function string }{
	{"build", "build", "build"},
	{"test:unit", "test", "test-unit"},
	{"test:integration", "test", "test-integration"},
	{"security:trivy", "security", "security-trivy"},
	{"deploy:staging", "deploy-staging", "deploy-staging"},
	{"deploy:production", "deploy-production", "deploy-production"},
}

// Synthetic returns a large monorepo-like pipeline of exactly jobs jobs (at
// least 1): services svc-000, svc-001, ... each with the reference
// pipeline's build, test, scan and deploy jobs, the digest promoted from
// build to the later jobs, and the last service cut short to make the count
// exact. It is the same for the same count, for benchmarks that compare
// runs. It has no changed-path filters, so that both generators accept it.
func Synthetic(jobs int) *pipeline.Pipeline {
	jobs = max(jobs, 1)
	opts := []pipeline.Option{
		pipeline.Stages("build", "test", "security", "deploy-staging", "deploy-production"),
		pipeline.DefaultRunnerTags("dagger"),
		pipeline.Var("GO_VERSION", "1.25"),
		pipeline.Module("ci"),
		pipeline.GeneratedFrom("ci/pipeline.go", "go run ./ci generate"),
	}
	every := []pipeline.Rule{pipeline.OnBranches(), pipeline.OnTags("v*"), pipeline.OnMergeRequests()}
	for i := 0; i < jobs; i++ {
		svc := fmt.Sprintf("svc-%03d", i/len(syntheticJobs))
		spec := syntheticJobs[i%len(syntheticJobs)]
		name := svc + ":" + spec.suffix
		build := svc + ":build"
		src := pipeline.Dir("source", "services/"+svc)
		image := pipeline.FromJob("image", build, "IMAGE_REF")
		jo := []pipeline.JobOption{pipeline.Stage(spec.stage)}
		if spec.stage != "deploy-staging" && spec.stage != "deploy-production" {
			// A newer push may cancel checks, never a deployment half-way.
			jo = append(jo, pipeline.Interruptible())
		}
		switch spec.suffix {
		case "build":
			jo = append(jo, pipeline.When(every...), pipeline.Outputs("IMAGE_REF"),
				pipeline.Calls(pipeline.Fn(spec.function, src, pipeline.FromVar("commit", pipeline.CommitSHA))))
		case "test:unit":
			jo = append(jo, pipeline.When(every...), pipeline.Timeout(20*time.Minute),
				pipeline.Reports(pipeline.Report{Kind: pipeline.JUnit, Path: "services/" + svc + "/junit.xml"},
					pipeline.Report{Kind: pipeline.Cobertura, Path: "services/" + svc + "/coverage.xml"}),
				pipeline.Coverage(`total:\s+\(statements\)\s+(\d+\.\d+)%`),
				pipeline.Calls(pipeline.Fn(spec.function, src, pipeline.FromEnv("go-version", "GO_VERSION"))))
		case "test:integration":
			jo = append(jo, pipeline.When(every...), pipeline.Needs(build), pipeline.Retry(1),
				pipeline.Calls(pipeline.Fn(spec.function, image)))
		case "security:trivy":
			jo = append(jo, pipeline.When(every...), pipeline.Needs(build),
				pipeline.Reports(pipeline.Report{Kind: pipeline.SARIF, Path: "services/" + svc + "/trivy.sarif"}),
				pipeline.Calls(pipeline.Fn(spec.function, image).Export("services/"+svc+"/trivy.sarif")))
		case "deploy:staging":
			jo = append(jo, pipeline.When(pipeline.OnBranches("develop", "main"), pipeline.OnTags("v*")),
				pipeline.Needs(build),
				pipeline.Deploys(pipeline.Environment{Name: "staging/" + svc, Tier: pipeline.Staging}),
				pipeline.Concurrency("staging-"+svc),
				pipeline.Calls(pipeline.Fn(spec.function, image, pipeline.Secret("token", "STAGING_TOKEN"))))
		case "deploy:production":
			jo = append(jo, pipeline.When(pipeline.OnBranches("main"), pipeline.OnTags("v*")),
				pipeline.Needs(build, svc+":deploy:staging"), pipeline.Approval(),
				pipeline.Deploys(pipeline.Environment{Name: "production/" + svc, URL: "https://" + svc + ".example.com", Tier: pipeline.Production}),
				pipeline.Concurrency("production-"+svc),
				pipeline.Calls(pipeline.Fn(spec.function, image, pipeline.Secret("token", "PRODUCTION_TOKEN"))))
		}
		opts = append(opts, pipeline.Job(name, jo...))
	}
	p, err := pipeline.New(fmt.Sprintf("synthetic %d", jobs), opts...)
	if err != nil {
		panic(fmt.Sprintf("pipelinetest.Synthetic(%d) built an invalid pipeline: %v", jobs, err))
	}
	return p
}
