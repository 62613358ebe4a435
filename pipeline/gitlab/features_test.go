package gitlab_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/slipway-ci/slipway/pipeline"
)

// TestFeatureKeys checks the GitLab keywords each feature of the model
// becomes, on a one-job pipeline: want holds the keys the feature sets
// (and absent those it must not).
func TestFeatureKeys(t *testing.T) {
	for _, tc := range []struct {
		name     string
		jobOpts  []pipeline.JobOption
		pipeOpts []pipeline.Option
		want     map[string]any
		absent   []string
	}{{
		name:     "docker engine: Dagger's dind recipe",
		pipeOpts: []pipeline.Option{pipeline.DefaultEngine(pipeline.DockerEngine().WithDockerVersion("28.0.4"))},
		want: map[string]any{
			"image":    "docker:28.0.4-cli",
			"services": []any{"docker:28.0.4-dind"},
			"variables": map[string]any{"DOCKER_HOST": "tcp://docker:2376", "DOCKER_TLS_CERTDIR": "/certs",
				"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/certs/client", "DOCKER_DRIVER": "overlay2"},
		},
	}, {
		name:     "runner engine with a host and tags",
		pipeOpts: []pipeline.Option{pipeline.DefaultEngine(pipeline.RunnerEngine("unix:///run/dagger/engine.sock")), pipeline.DefaultRunnerTags("dagger", "k8s")},
		want: map[string]any{
			"tags":      []any{"dagger", "k8s"},
			"variables": map[string]any{"_EXPERIMENTAL_DAGGER_RUNNER_HOST": "unix:///run/dagger/engine.sock"},
		},
		absent: []string{"image", "services"},
	}, {
		name:    "cloud engine on one job",
		jobOpts: []pipeline.JobOption{pipeline.UseEngine(pipeline.CloudEngine())},
		want:    map[string]any{"variables": map[string]any{"DAGGER_CLOUD_ENGINE": "true"}},
		absent:  []string{"image", "services"},
	}, {
		name:    "traces alone add nothing: DAGGER_CLOUD_TOKEN is a masked project variable",
		jobOpts: []pipeline.JobOption{pipeline.UseEngine(pipeline.RunnerEngine("").WithTraces())},
		absent:  []string{"image", "services", "variables"},
	}, {
		name: "ID tokens and credentials; GitHub permissions are not GitLab's",
		jobOpts: []pipeline.JobOption{
			pipeline.Calls(pipeline.Fn("run", pipeline.IDToken("token", "VAULT_ID_TOKEN", "https://vault.example.com"),
				pipeline.CISecret("job-token", pipeline.JobToken))),
			pipeline.Permissions(pipeline.Packages.Write()),
		},
		want: map[string]any{
			"id_tokens": map[string]any{"VAULT_ID_TOKEN": map[string]any{"aud": "https://vault.example.com"}},
			"script":    []any{"dagger call run --token=env://VAULT_ID_TOKEN --job-token=env://CI_JOB_TOKEN"},
		},
		absent: []string{"permissions"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			j := oneJob(t, tc.jobOpts, tc.pipeOpts...)
			got := map[string]any{}
			for k := range tc.want {
				got[k] = j[k]
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
			for _, k := range tc.absent {
				if v, ok := j[k]; ok {
					t.Errorf("job has %s: %v", k, v)
				}
			}
		})
	}
}
