package pipelinetest

import (
	"fmt"

	"github.com/slipway-ci/slipway/pipeline"
)

// Feature is a small pipeline that shows one feature of the model, for the
// golden files of the generators and the runner tests.
type Feature struct {
	// Name names the golden files: testdata/golden/<Name>.gitlab-ci.yml
	// and <Name>.github.yml.
	Name string
	// Pipeline uses the feature.
	Pipeline *pipeline.Pipeline
	// GitLabRefusal and GitHubRefusal, when not empty, are the exact errors
	// the generator returns because its CI lacks the feature.
	GitLabRefusal, GitHubRefusal string
	// NoGitLabRun and NoGitHubRun, when not empty, say why the local runner
	// (gitlab-ci-local, act) cannot run the generated file, such as a
	// service container or an OIDC token that only the CI service has.
	NoGitLabRun, NoGitHubRun string
}

// everywhere is the rule set most feature pipelines run their jobs on.
var everywhere = pipeline.When(pipeline.OnBranches(), pipeline.OnTags("v*"), pipeline.OnMergeRequests())

func mustNew(name string, opts ...pipeline.Option) *pipeline.Pipeline {
	p, err := pipeline.New(name, opts...)
	if err != nil {
		panic(fmt.Sprintf("pipelinetest: feature %q: %v", name, err))
	}
	return p
}

// buildTest is the two-job pipeline most features extend: build prints an
// image reference that test reads.
func buildTest(name string, pipelineOpts []pipeline.Option, buildOpts, testOpts []pipeline.JobOption) *pipeline.Pipeline {
	opts := append([]pipeline.Option{
		pipeline.Stages("build", "test"),
		pipeline.GeneratedFrom("pipeline/pipelinetest/features.go", "go test ./pipeline/conformance -run TestGolden -update"),
	}, pipelineOpts...)
	opts = append(opts,
		pipeline.Job("build", append([]pipeline.JobOption{
			pipeline.Stage("build"), everywhere,
			pipeline.Calls(pipeline.Fn("publish", pipeline.Dir("source", "."))),
			pipeline.Outputs("IMAGE_REF"),
		}, buildOpts...)...),
		pipeline.Job("test", append([]pipeline.JobOption{
			pipeline.Stage("test"), everywhere, pipeline.Needs("build"),
			pipeline.Calls(pipeline.Fn("test", pipeline.FromJob("image", "build", "IMAGE_REF"))),
		}, testOpts...)...),
	)
	return mustNew(name, opts...)
}

// Features returns one pipeline per feature, in a stable order.
func Features() []Feature {
	return []Feature{
		{
			Name:        "engine-docker",
			Pipeline:    buildTest("engine-docker", []pipeline.Option{pipeline.DefaultEngine(pipeline.DockerEngine())}, nil, nil),
			NoGitLabRun: "gitlab-ci-local's shell executor cannot start the docker:dind service",
		},
		{
			Name: "engine-runner",
			Pipeline: buildTest("engine-runner", []pipeline.Option{
				pipeline.DefaultEngine(pipeline.RunnerEngine("kube-pod://dagger-engine-0?namespace=dagger")),
				pipeline.DefaultRunnerTags("dagger"),
				pipeline.DefaultRunsOn("self-hosted", "dagger"),
			}, nil, nil),
		},
		{
			Name: "engine-cloud",
			Pipeline: buildTest("engine-cloud", []pipeline.Option{pipeline.DefaultEngine(pipeline.CloudEngine())},
				nil, []pipeline.JobOption{pipeline.UseEngine(pipeline.DockerEngine().WithTraces())}),
			NoGitLabRun: "gitlab-ci-local's shell executor cannot start the docker:dind service of the test job",
		},
		{
			Name: "credentials",
			Pipeline: buildTest("credentials", nil, []pipeline.JobOption{
				pipeline.Calls(pipeline.Fn("publish", pipeline.Dir("source", "."),
					pipeline.FromVar("registry", pipeline.Registry),
					pipeline.FromVar("username", pipeline.RegistryUser),
					pipeline.CISecret("password", pipeline.RegistryPassword))),
				pipeline.Permissions(pipeline.Packages.Write(), pipeline.Attestations.Write()),
			}, []pipeline.JobOption{
				pipeline.Calls(pipeline.Fn("test", pipeline.FromJob("image", "build", "IMAGE_REF"),
					pipeline.FromVar("project", pipeline.ProjectPath),
					pipeline.CISecret("token", pipeline.JobToken))),
				pipeline.Permissions(pipeline.PullRequests.Write(), pipeline.Checks.Write()),
			}),
		},
		{
			Name: "oidc",
			Pipeline: buildTest("oidc", nil, nil, []pipeline.JobOption{
				pipeline.Calls(pipeline.Fn("test", pipeline.FromJob("image", "build", "IMAGE_REF"),
					pipeline.IDToken("aws-token", "AWS_ID_TOKEN", "sts.amazonaws.com"),
					pipeline.IDToken("vault-token", "VAULT_ID_TOKEN", "https://vault.example.com"))),
			}),
			NoGitLabRun: "gitlab-ci-local issues no OIDC ID tokens",
			NoGitHubRun: "act has no OIDC token service",
		},
	}
}
