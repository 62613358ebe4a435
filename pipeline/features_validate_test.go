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
