package shimrun_test

import (
	"testing"

	"github.com/slipway-ci/slipway/internal/shimrun"
	"github.com/slipway-ci/slipway/pipeline"
)

// smallPipeline has what the generators must get right for a run to work:
// an output promoted from build to later jobs, CI variables, secrets, an
// allowed failure that still uploads its report, an environment with an
// approval gate, and rules for branches, tags and merge requests.
func smallPipeline(t *testing.T) *pipeline.Pipeline {
	t.Helper()
	everywhere := pipeline.When(pipeline.OnBranches(), pipeline.OnTags("v*"), pipeline.OnMergeRequests())
	p, err := pipeline.New("app",
		pipeline.Stages("build", "test", "deploy-staging", "deploy-production"),
		pipeline.DefaultRunnerTags("dagger"),
		pipeline.Job("build", pipeline.Stage("build"), everywhere,
			pipeline.Calls(pipeline.Fn("publish",
				pipeline.Dir("source", "."),
				pipeline.FromVar("commit", pipeline.CommitSHA),
				pipeline.Secret("registry-password", "REGISTRY_PASSWORD"))),
			pipeline.Outputs("IMAGE_REF")),
		pipeline.Job("test:lint", pipeline.Stage("test"), everywhere, pipeline.AllowFailure(),
			pipeline.Calls(pipeline.Fn("lint", pipeline.Dir("source", "."))),
			pipeline.Reports(pipeline.Report{Kind: pipeline.SARIF, Path: "reports/lint.sarif"})),
		pipeline.Job("test:integration", pipeline.Stage("test"), everywhere, pipeline.Needs("build"),
			pipeline.Calls(pipeline.Fn("test-integration", pipeline.FromJob("image", "build", "IMAGE_REF")))),
		pipeline.Job("deploy:staging", pipeline.Stage("deploy-staging"),
			pipeline.When(pipeline.OnBranches("develop", "main"), pipeline.OnTags("v*")),
			pipeline.Needs("build", "test:integration"),
			pipeline.Deploys(pipeline.Environment{Name: "staging", Tier: pipeline.Staging}),
			pipeline.Calls(pipeline.Fn("deploy-staging",
				pipeline.FromJob("image", "build", "IMAGE_REF"),
				pipeline.FromVar("ref", pipeline.RefName),
				pipeline.Secret("kubeconfig", "KUBECONFIG_STAGING")))),
		pipeline.Job("deploy:production", pipeline.Stage("deploy-production"),
			pipeline.When(pipeline.OnBranches("main"), pipeline.OnTags("v*")),
			pipeline.Needs("build", "deploy:staging"),
			pipeline.Approval(),
			pipeline.Deploys(pipeline.Environment{Name: "production", Tier: pipeline.Production}),
			pipeline.Calls(pipeline.Fn("deploy-production",
				pipeline.FromJob("image", "build", "IMAGE_REF"),
				pipeline.Secret("kubeconfig", "KUBECONFIG_PRODUCTION")))),
	)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// smallCalls are the calls of every job of smallPipeline, in stage order.
func smallCalls(v vals) []call {
	return []call{
		{"build", []string{"publish", "--source=.", "--commit=" + v.SHA, "--registry-password=env://REGISTRY_PASSWORD"}},
		{"test:lint", []string{"lint", "--source=."}},
		{"test:integration", []string{"test-integration", "--image=" + v.Image}},
		{"deploy:staging", []string{"deploy-staging", "--image=" + v.Image, "--ref=" + v.Ref, "--kubeconfig=env://KUBECONFIG_STAGING"}},
		{"deploy:production", []string{"deploy-production", "--image=" + v.Image, "--kubeconfig=env://KUBECONFIG_PRODUCTION"}},
	}
}

var smallSecrets = secretValues("REGISTRY_PASSWORD", "KUBECONFIG_STAGING", "KUBECONFIG_PRODUCTION")

var smallNames = githubNames("build", "test:lint", "test:integration", "deploy:staging", "deploy:production")

// smallCases are the runs both runners must get right.
func smallCases(tr traits) []refCase {
	all := smallCalls
	noDeploy := func(v vals) []call { return without(smallCalls(v), "deploy:staging", "deploy:production") }
	staging := func(v vals) []call { return without(smallCalls(v), "deploy:production") }
	cases := []refCase{{name: "develop", ref: shimrun.Branch("develop"), want: staging}}
	if tr.manualJobs {
		cases = append(cases,
			refCase{name: "main", ref: shimrun.Branch("main"), want: staging},
			refCase{name: "main with production started", ref: shimrun.Branch("main"), manual: []string{"deploy:production"}, want: all},
		)
	} else {
		cases = append(cases, refCase{name: "main", ref: shimrun.Branch("main"), want: all})
	}
	return append(cases, []refCase{
		{name: "tag", ref: shimrun.Tag("v1.2.3"), manual: []string{"deploy:production"}, want: all},
		{name: "feature branch", ref: shimrun.Branch("feature/x"), want: noDeploy},
		{name: "merge request", ref: shimrun.MergeRequest("feature/x", "main"), want: noDeploy},
		{name: "allowed failure", ref: shimrun.Branch("develop"), fail: []string{"lint"}, want: staging, wantFail: tr.allowedFailureFails},
		{
			name: "failure stops the deploys", ref: shimrun.Branch("develop"), fail: []string{"test-integration"}, wantFail: true,
			want: func(v vals) []call { return only(smallCalls(v), "build", "test:lint", "test:integration") },
		},
	}...)
}
