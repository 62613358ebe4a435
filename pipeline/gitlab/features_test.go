package gitlab_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/gitlab"
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
	}, {
		name:    "runs always, retried for some exit codes, allowed to fail with others",
		jobOpts: []pipeline.JobOption{pipeline.RunsAlways(), pipeline.Retry(2), pipeline.RetryWhen(pipeline.ScriptFailure), pipeline.RetryExitCodes(137), pipeline.AllowFailureOn(3)},
		want: map[string]any{
			"rules":         []any{map[string]any{"when": "always"}},
			"retry":         map[string]any{"max": 2, "when": []any{"script_failure"}, "exit_codes": []any{137}},
			"allow_failure": map[string]any{"exit_codes": []any{3}},
		},
	}, {
		name:    "delayed on main only, manual on tags",
		jobOpts: []pipeline.JobOption{pipeline.Delay(90 * time.Minute), pipeline.When(pipeline.OnBranches("main"), pipeline.OnTags("v*").Manually())},
		want: map[string]any{"rules": []any{
			map[string]any{"if": `$CI_COMMIT_BRANCH == "main"`, "when": "delayed", "start_in": "90 minutes"},
			map[string]any{"if": `$CI_COMMIT_TAG =~ /^v.*$/`, "when": "manual"},
		}},
	}, {
		name: "conditions in GitLab's syntax",
		jobOpts: []pipeline.JobOption{pipeline.When(pipeline.OnMergeRequests().If(pipeline.And(pipeline.SameProject(),
			pipeline.Or(pipeline.Env("RUN_E2E").Is("1"), pipeline.Not(pipeline.CIVar(pipeline.ProjectPath).Matches("^acme/")))))),
		},
		want: map[string]any{"rules": []any{map[string]any{"if": `$CI_PIPELINE_SOURCE == "merge_request_event" && ($CI_MERGE_REQUEST_SOURCE_PROJECT_PATH == null || $CI_MERGE_REQUEST_SOURCE_PROJECT_PATH == $CI_PROJECT_PATH) && ($RUN_E2E == "1" || $CI_PROJECT_PATH !~ /^acme\//)`}}},
	}, {
		name:     "named schedules compare SLIPWAY_SCHEDULE",
		pipeOpts: []pipeline.Option{pipeline.Cron("nightly", "0 2 * * *")},
		jobOpts:  []pipeline.JobOption{pipeline.When(pipeline.OnSchedule("nightly"), pipeline.OnTriggered())},
		want: map[string]any{"rules": []any{
			map[string]any{"if": `$CI_PIPELINE_SOURCE == "schedule" && $SLIPWAY_SCHEDULE == "nightly"`},
			map[string]any{"if": `($CI_PIPELINE_SOURCE == "trigger" || $CI_PIPELINE_SOURCE == "pipeline" || $CI_PIPELINE_SOURCE == "api")`},
		}},
	}, {
		name: "a matrix: the axes as one parallel:matrix entry, included cells one each",
		jobOpts: []pipeline.JobOption{pipeline.Calls(pipeline.Fn("run", pipeline.FromMatrix("go", "GO_VERSION"))),
			pipeline.RunsMatrix(pipeline.Axis("GO_VERSION", "1.24", "1.25"), pipeline.Axis("GOOS", "linux", "darwin")),
			pipeline.MatrixInclude(pipeline.Cell{"GO_VERSION": "1.26", "GOOS": "linux"})},
		want: map[string]any{
			"parallel": map[string]any{"matrix": []any{
				map[string]any{"GO_VERSION": []any{"1.24", "1.25"}, "GOOS": []any{"linux", "darwin"}},
				map[string]any{"GO_VERSION": "1.26", "GOOS": "linux"},
			}},
			"script": []any{`dagger call run --go="$GO_VERSION"`},
		},
	}, {
		name: "a matrix with exclusions lists the cells left",
		jobOpts: []pipeline.JobOption{pipeline.RunsMatrix(pipeline.Axis("GO_VERSION", "1.24", "1.25"), pipeline.Axis("GOOS", "linux", "darwin")),
			pipeline.MatrixExclude(pipeline.Cell{"GOOS": "darwin", "GO_VERSION": "1.24"})},
		want: map[string]any{"parallel": map[string]any{"matrix": []any{
			map[string]any{"GO_VERSION": "1.24", "GOOS": "linux"},
			map[string]any{"GO_VERSION": "1.25", "GOOS": "linux"},
			map[string]any{"GO_VERSION": "1.25", "GOOS": "darwin"},
		}}},
	}, {
		name: "a review environment per ref, stopped by its stop job, auto-stopped",
		jobOpts: []pipeline.JobOption{pipeline.Deploys(pipeline.Environment{Name: "review", PerRef: true, Tier: pipeline.Development,
			URL: "https://{ref-slug}.example.com", AutoStopIn: 48 * time.Hour, Links: []pipeline.Link{{Name: "API", URL: "https://api.example.com/{ref-slug}"}}}),
			pipeline.StopsWith(pipeline.Fn("stop"))},
		want: map[string]any{
			"environment": map[string]any{"name": "review/$CI_COMMIT_REF_SLUG", "url": "https://$CI_COMMIT_REF_SLUG.example.com",
				"deployment_tier": "development", "on_stop": "job:stop", "auto_stop_in": "2 days"},
			"script": []any{"dagger call run", `echo "API: https://api.example.com/$CI_COMMIT_REF_SLUG"`},
		},
	}, {
		name: "GitLab's report kinds, a dotenv report beside the outputs' file, and a summary in the log",
		jobOpts: []pipeline.JobOption{pipeline.Outputs("VERSION"), pipeline.Summarize("summary"), pipeline.Reports(
			pipeline.Report{Kind: pipeline.GitLabCodeQuality, Path: "cq.json"},
			pipeline.Report{Kind: pipeline.GitLabDependencyScanning, Path: "ds.json"},
			pipeline.Report{Kind: pipeline.GitLabSecretDetection, Path: "sd.json"},
			pipeline.Report{Kind: pipeline.CycloneDX, Path: "sbom.cdx.json"},
			pipeline.Report{Kind: pipeline.Dotenv, Path: "build.env"})},
		want: map[string]any{
			"artifacts": map[string]any{"when": "always", "reports": map[string]any{
				"codequality": "cq.json", "dependency_scanning": "ds.json", "secret_detection": "sd.json",
				"cyclonedx": "sbom.cdx.json", "dotenv": []any{"slipway.env", "build.env"}}},
			"after_script": []any{`export PATH="$HOME/.local/bin:$PATH"`,
				`summary="$(dagger call run summary 2>/dev/null)" || summary="(no summary: the call failed)"`,
				`summary="$(printf '%s\n' "$summary" | sed 's/|/\\|/g' | awk 'NR>1{printf "<br>"} {printf "%s", $0}')"`,
				`printf '| Job | Function | Result | Summary |\n| --- | --- | --- | --- |\n| %s | %s | %s | %s |\n' job run "$CI_JOB_STATUS" "$summary"`},
		},
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

// TestRefusals checks the exact errors for what GitLab cannot do.
// TestStopJob checks the generated stop job: the deploy job's stage and
// rules, manual, allowed to fail, stopping the same environment.
func TestStopJob(t *testing.T) {
	_, doc := generate(t, pipeline.Stages("build"),
		pipeline.Job("job", pipeline.Stage("build"), pipeline.Calls(pipeline.Fn("run")), pipeline.When(pipeline.OnMergeRequests("main")),
			pipeline.Deploys(pipeline.Environment{Name: "review", PerRef: true, Tier: pipeline.Development}),
			pipeline.StopsWith(pipeline.Fn("stop", pipeline.FromVar("slug", pipeline.RefSlug)))))
	want := map[string]any{
		"stage":         "build",
		"rules":         []any{map[string]any{"if": `$CI_PIPELINE_SOURCE == "merge_request_event" && $CI_MERGE_REQUEST_TARGET_BRANCH_NAME == "main"`, "when": "manual"}},
		"environment":   map[string]any{"name": "review/$CI_COMMIT_REF_SLUG", "action": "stop"},
		"script":        []any{`dagger call stop --slug="$CI_COMMIT_REF_SLUG"`},
		"allow_failure": true,
	}
	got := map[string]any{}
	stop, _ := doc["job:stop"].(map[string]any)
	for k := range want {
		got[k] = stop[k]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("job:stop (-want +got)\n%s", diff)
	}
}

func TestRefusals(t *testing.T) {
	for _, tc := range []struct {
		name     string
		jobOpts  []pipeline.JobOption
		pipeOpts []pipeline.Option
		want     string
	}{{
		name:    "fail-fast matrix",
		jobOpts: []pipeline.JobOption{pipeline.RunsMatrix(pipeline.Axis("GO_VERSION", "1.24", "1.25")), pipeline.FailFast()},
		want:    `gitlab: job "job": a fail-fast matrix (FailFast: cancel the other cells when one fails) is GitHub's; GitLab runs every cell of a parallel:matrix job, so drop pipeline.FailFast`,
	}, {
		name:    "matrix max-parallel",
		jobOpts: []pipeline.JobOption{pipeline.RunsMatrix(pipeline.Axis("GO_VERSION", "1.24", "1.25")), pipeline.MaxParallel(1)},
		want:    `gitlab: job "job": a matrix's max-parallel (MaxParallel(1)) is GitHub's; GitLab starts every cell of a parallel:matrix job as runners allow, so drop pipeline.MaxParallel`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := pipeline.New("service", append([]pipeline.Option{pipeline.Stages("build"),
				pipeline.Job("job", append([]pipeline.JobOption{pipeline.Stage("build"), pipeline.Calls(pipeline.Fn("run"))}, tc.jobOpts...)...)},
				tc.pipeOpts...)...)
			if err != nil {
				t.Fatal(err)
			}
			_, err = gitlab.Generate(p)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v\nwant %s", err, tc.want)
			}
		})
	}
}
