package pipeline_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/slipway-ci/slipway/pipeline"
)

// featureCase is one invalid definition of a feature and the exact
// problems New must report for it.
type featureCase struct {
	name string
	opts []pipeline.Option
	want []string
}

// checkProblems runs the cases: New must fail with exactly the messages.
func checkProblems(t *testing.T, cases []featureCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := pipeline.New("service", tc.opts...)
			if err == nil {
				t.Fatalf("New returned a pipeline (%d jobs), want the problems %q", len(p.Jobs()), tc.want)
			}
			var verr *pipeline.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("New error is %T (%v), want *pipeline.ValidationError", err, err)
			}
			if !slices.Equal(verr.Problems, tc.want) {
				t.Errorf("problems:\n got: %q\nwant: %q", verr.Problems, tc.want)
			}
		})
	}
}

func TestEngineValidation(t *testing.T) {
	checkProblems(t, []featureCase{{
		name: "runner host without a scheme",
		opts: valid(pipeline.DefaultEngine(pipeline.RunnerEngine("/run/dagger/engine.sock"))),
		want: []string{`engine: runner host "/run/dagger/engine.sock" must be a URL such as unix:///run/dagger/engine.sock or kube-pod://dagger-engine-0?namespace=dagger`},
	}, {
		name: "runner host with an unknown scheme",
		opts: valid(job("test", "test", pipeline.UseEngine(pipeline.RunnerEngine("http://engine:8080")))),
		want: []string{`job "test": engine: runner host "http://engine:8080" has the scheme "http", which Dagger has no driver for (it has: unix, tcp, ssh, kube-pod, image, container, docker-image, docker-container, image+docker, container+docker, image+podman, container+podman, image+nerdctl, container+nerdctl, image+finch, container+finch, dagger-cloud)`},
	}, {
		name: "runner host with a shell character",
		opts: valid(pipeline.DefaultEngine(pipeline.RunnerEngine("unix:///run/$(id)/engine.sock"))),
		want: []string{"engine: runner host \"unix:///run/$(id)/engine.sock\" must not hold spaces, quotes, $, ` or \\"},
	}, {
		name: "Docker version that is not a release",
		opts: valid(pipeline.DefaultEngine(pipeline.DockerEngine().WithDockerVersion("latest"))),
		want: []string{`engine: Docker version "latest" must be a release such as 27.5.1`},
	}, {
		name: "Docker version on a runner engine",
		opts: valid(pipeline.DefaultEngine(pipeline.RunnerEngine("").WithDockerVersion("27.5.1"))),
		want: []string{`engine: a Docker version is set on a runner-provided engine; it applies to pipeline.DockerEngine() only`},
	}, {
		name: "runner host on a Docker engine",
		opts: valid(pipeline.DefaultEngine(pipeline.Engine{Kind: pipeline.DockerEngineKind, RunnerHost: "tcp://engine:1234"})),
		want: []string{`engine: a runner host is set on a Docker engine; use pipeline.RunnerEngine(host) for an engine the runner provides`},
	}, {
		name: "cloud engine with a host",
		opts: valid(pipeline.DefaultEngine(pipeline.Engine{Kind: pipeline.CloudEngineKind, RunnerHost: "tcp://engine:1234"})),
		want: []string{`engine: a Dagger Cloud engine takes no runner host and no Docker version`},
	}, {
		name: "unknown engine kind",
		opts: valid(pipeline.DefaultEngine(pipeline.Engine{Kind: "podman"})),
		want: []string{`engine: the engine kind "podman" is unknown; use pipeline.RunnerEngine, pipeline.DockerEngine or pipeline.CloudEngine`},
	}})
}

func TestEngineAccessors(t *testing.T) {
	p, err := pipeline.New("service", valid(
		pipeline.DefaultEngine(pipeline.DockerEngine()),
		job("test", "test", pipeline.UseEngine(pipeline.CloudEngine())),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	build, _ := p.Job("build")
	test, _ := p.Job("test")
	if got := p.EngineOf(build).Mode(); got != pipeline.DockerEngineKind {
		t.Errorf("build runs on %q, want the default docker", got)
	}
	if got := p.EngineOf(test); got.Mode() != pipeline.CloudEngineKind || !got.UsesCloudToken() {
		t.Errorf("test runs on %+v, want its own cloud engine with the token", got)
	}
	if got := (pipeline.Engine{}).Mode(); got != pipeline.RunnerEngineKind {
		t.Errorf("the zero Engine is %q, want runner", got)
	}
	if got := pipeline.DockerEngine().Docker(); got != pipeline.DefaultDockerVersion {
		t.Errorf("Docker() = %q", got)
	}
}

func TestIdentityValidation(t *testing.T) {
	deploy := func(args ...pipeline.Arg) pipeline.Option {
		return job("deploy", "deploy", pipeline.Calls(pipeline.Fn("deploy", args...)))
	}
	checkProblems(t, []featureCase{{
		name: "credential as a plain value",
		opts: valid(deploy(pipeline.FromVar("token", pipeline.JobToken))),
		want: []string{`job "deploy": argument --token reads the CI credential "job-token" as a plain value; pass it with pipeline.CISecret("token", pipeline.JobToken)`},
	}, {
		name: "plain variable as a secret",
		opts: valid(deploy(pipeline.CISecret("sha", pipeline.CommitSHA))),
		want: []string{`job "deploy": argument --sha: the CI variable "commit-sha" is not a secret; pass it with pipeline.FromVar`},
	}, {
		name: "ID token with a reserved name",
		opts: valid(deploy(pipeline.IDToken("token", "CI_ID_TOKEN", "sts.amazonaws.com"))),
		want: []string{`job "deploy": ID token "CI_ID_TOKEN": names starting with CI_ are the CI's own; choose another name`},
	}, {
		name: "ID token with a bad name",
		opts: valid(deploy(pipeline.IDToken("token", "id-token", "sts.amazonaws.com"))),
		want: []string{`job "deploy": ID token "id-token": the name must hold only letters, digits and _ and not start with a digit`},
	}, {
		name: "ID token with an audience a URL cannot carry",
		opts: valid(deploy(pipeline.IDToken("token", "AWS_TOKEN", "sts amazonaws&x=1"))),
		want: []string{`job "deploy": ID token AWS_TOKEN: audience "sts amazonaws&x=1" may hold only letters, digits and ._~:/-`},
	}, {
		name: "one ID token, two audiences",
		opts: valid(deploy(pipeline.IDToken("aws", "ID_TOKEN", "sts.amazonaws.com"), pipeline.IDToken("vault", "ID_TOKEN", "https://vault.example.com"))),
		want: []string{`job "deploy": reads the ID token ID_TOKEN for two audiences ("sts.amazonaws.com", "https://vault.example.com"); give each its own name`},
	}, {
		name: "unknown permission scope",
		opts: valid(job("test", "test", pipeline.Permissions(pipeline.Scope("repo").Write()))),
		want: []string{`job "test": permission "repo" is not a GITHUB_TOKEN scope (they are: actions, attestations, checks, contents, deployments, id-token, issues, packages, pull-requests, security-events, statuses)`},
	}, {
		name: "id-token read",
		opts: valid(job("test", "test", pipeline.Permissions(pipeline.IDTokens.Read()))),
		want: []string{`job "test": permission id-token: "read" is not one of "none", "write"`},
	}, {
		name: "ID token with the permission withdrawn",
		opts: valid(job("deploy", "deploy", pipeline.Permissions(pipeline.IDTokens.None()),
			pipeline.Calls(pipeline.Fn("deploy", pipeline.IDToken("token", "AWS_TOKEN", "sts.amazonaws.com"))))),
		want: []string{`job "deploy": withdraws the id-token permission but reads an ID token; drop pipeline.IDTokens.None()`},
	}})
}

func TestIdentityCommands(t *testing.T) {
	c := pipeline.Fn("publish",
		pipeline.CISecret("password", pipeline.RegistryPassword),
		pipeline.FromVar("username", pipeline.RegistryUser),
		pipeline.FromVar("registry", pipeline.Registry),
		pipeline.IDToken("id-token", "SIGSTORE_ID_TOKEN", "sigstore"),
		pipeline.Secret("api-key", "API_KEY"))
	for _, tc := range []struct {
		env  func(pipeline.Variable) string
		want string
	}{
		{pipeline.Variable.GitLabName, `dagger call publish --password=env://CI_REGISTRY_PASSWORD --username="$CI_REGISTRY_USER" --registry="$CI_REGISTRY" --id-token=env://SIGSTORE_ID_TOKEN --api-key=env://API_KEY`},
		{pipeline.Variable.GitHubName, `dagger call publish --password=env://GITHUB_TOKEN --username="$GITHUB_ACTOR" --registry="$SLIPWAY_REGISTRY" --id-token=env://SIGSTORE_ID_TOKEN --api-key=env://API_KEY`},
	} {
		if got := c.Command("", tc.env); got != tc.want {
			t.Errorf("Command:\n got %s\nwant %s", got, tc.want)
		}
	}
	if got := c.Secrets(); !slices.Equal(got, []string{"API_KEY"}) {
		t.Errorf("Secrets() = %q, want only the stored secret API_KEY", got)
	}
	if got := c.IDTokens(); len(got) != 1 || got[0].Value != "SIGSTORE_ID_TOKEN" || got[0].Audience != "sigstore" {
		t.Errorf("IDTokens() = %+v", got)
	}
}
