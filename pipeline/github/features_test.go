package github_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/github"
)

// TestFeatureKeys checks the workflow keys each feature of the model
// becomes, on a one-job pipeline.
func TestFeatureKeys(t *testing.T) {
	for _, tc := range []struct {
		name     string
		jobOpts  []pipeline.JobOption
		pipeOpts []pipeline.Option
		want     map[string]any // keys of the job
		call     map[string]any // keys of the dagger call step
		absent   []string
	}{{
		name:     "docker engine: the hosted runner's Docker",
		pipeOpts: []pipeline.Option{pipeline.DefaultEngine(pipeline.DockerEngine())},
		absent:   []string{"env"},
	}, {
		name:     "runner engine on self-hosted runners",
		pipeOpts: []pipeline.Option{pipeline.DefaultEngine(pipeline.RunnerEngine("tcp://dagger-engine:1234")), pipeline.DefaultRunsOn("self-hosted", "dagger")},
		want: map[string]any{
			"runs-on": []any{"self-hosted", "dagger"},
			"env":     map[string]any{"_EXPERIMENTAL_DAGGER_RUNNER_HOST": "tcp://dagger-engine:1234"},
		},
	}, {
		name:    "cloud engine reads the token secret",
		jobOpts: []pipeline.JobOption{pipeline.UseEngine(pipeline.CloudEngine())},
		want:    map[string]any{"env": map[string]any{"DAGGER_CLOUD_ENGINE": "true"}},
		call:    map[string]any{"env": map[string]any{"DAGGER_CLOUD_TOKEN": "${{ secrets.DAGGER_CLOUD_TOKEN }}"}},
	}, {
		name: "permissions: least privilege plus what the job asks for",
		jobOpts: []pipeline.JobOption{pipeline.Permissions(pipeline.Packages.Write(), pipeline.Contents.Write(), pipeline.Checks.None()),
			pipeline.Calls(pipeline.Fn("run", pipeline.CISecret("password", pipeline.RegistryPassword), pipeline.FromVar("registry", pipeline.Registry),
				pipeline.FromVar("user", pipeline.RegistryUser)))},
		want: map[string]any{"permissions": map[string]any{"contents": "write", "packages": "write"}},
		call: map[string]any{
			"env": map[string]any{"GITHUB_TOKEN": "${{ secrets.GITHUB_TOKEN }}", "SLIPWAY_REGISTRY": "ghcr.io"},
			"run": `dagger call run --password=env://GITHUB_TOKEN --registry="$SLIPWAY_REGISTRY" --user="$GITHUB_ACTOR"` + "\n",
		},
	}, {
		name:    "contents withdrawn",
		jobOpts: []pipeline.JobOption{pipeline.Permissions(pipeline.Contents.None())},
		want:    map[string]any{"permissions": map[string]any{}},
	}, {
		name:    "an ID token asks for id-token: write and is fetched in the step",
		jobOpts: []pipeline.JobOption{pipeline.Calls(pipeline.Fn("run", pipeline.IDToken("token", "AWS_ID_TOKEN", "sts.amazonaws.com")))},
		want:    map[string]any{"permissions": map[string]any{"contents": "read", "id-token": "write"}},
	}, {
		name:    "runs on failure",
		jobOpts: []pipeline.JobOption{pipeline.RunsOnFailure(), pipeline.When(pipeline.OnBranches("main"))},
		want:    map[string]any{"if": "failure() && github.event_name == 'push' && github.ref == 'refs/heads/main'"},
	}, {
		name:    "allowed exit codes pass the step with a warning",
		jobOpts: []pipeline.JobOption{pipeline.AllowFailureOn(3, 4)},
		call: map[string]any{"run": "rc=0\ndagger call run || rc=$?\n" +
			`case "$rc" in 0) ;; 3|4) echo "::warning::dagger call run exited $rc, which may fail" ;; *) exit "$rc" ;; esac` + "\n"},
	}, {
		name:     "conditions in GitHub's syntax",
		pipeOpts: []pipeline.Option{pipeline.Var("RUN_E2E", "0")},
		jobOpts: []pipeline.JobOption{pipeline.When(pipeline.OnMergeRequests().If(pipeline.And(pipeline.SameProject(),
			pipeline.Or(pipeline.Env("RUN_E2E").Is("1"), pipeline.Not(pipeline.CIVar(pipeline.ProjectPath).Matches("^acme/"))))))},
		want: map[string]any{"if": "github.event_name == 'pull_request' && (github.event.pull_request.head.repo.full_name == github.repository || !github.event.pull_request) && ((vars.RUN_E2E || '0') == '1' || !startsWith(github.repository, 'acme/'))"},
	}, {
		name: "a matrix: strategy with fail-fast, max-parallel, include and exclude; the cell's values through the step's env",
		jobOpts: []pipeline.JobOption{pipeline.Calls(pipeline.Fn("run", pipeline.FromMatrix("go", "GO_VERSION"))),
			pipeline.RunsMatrix(pipeline.Axis("GO_VERSION", "1.24", "1.25"), pipeline.Axis("GOOS", "linux", "darwin")),
			pipeline.MatrixExclude(pipeline.Cell{"GOOS": "darwin"}),
			pipeline.MatrixInclude(pipeline.Cell{"GO_VERSION": "1.26", "GOOS": "linux"}),
			pipeline.FailFast(), pipeline.MaxParallel(2)},
		want: map[string]any{"strategy": map[string]any{"fail-fast": true, "max-parallel": 2, "matrix": map[string]any{
			"GO_VERSION": []any{"1.24", "1.25"}, "GOOS": []any{"linux", "darwin"},
			"exclude": []any{map[string]any{"GOOS": "darwin"}},
			"include": []any{map[string]any{"GO_VERSION": "1.26", "GOOS": "linux"}},
		}}},
		call: map[string]any{
			"env": map[string]any{"GO_VERSION": "${{ matrix.GO_VERSION }}"},
			"run": `dagger call run --go="$GO_VERSION"` + "\n",
		},
	}, {
		name:    "a matrix is not fail-fast unless asked",
		jobOpts: []pipeline.JobOption{pipeline.RunsMatrix(pipeline.Axis("GO_VERSION", "1.24"))},
		want:    map[string]any{"strategy": map[string]any{"fail-fast": false, "matrix": map[string]any{"GO_VERSION": []any{"1.24"}}}},
	}, {
		name: "a review environment per ref: the name holds the ref, the URL the slug a step computes",
		jobOpts: []pipeline.JobOption{pipeline.Deploys(pipeline.Environment{Name: "review", PerRef: true, Tier: pipeline.Development,
			URL: "https://{ref-slug}.example.com"}), pipeline.Calls(pipeline.Fn("run", pipeline.FromVar("slug", pipeline.RefSlug)))},
		want: map[string]any{"environment": map[string]any{"name": "review/${{ github.head_ref || github.ref_name }}",
			"url": "https://${{ steps.ref-slug.outputs.value }}.example.com"}},
		call: map[string]any{"run": `SLIPWAY_REF_SLUG="$(printf '%s' "${GITHUB_HEAD_REF:-$GITHUB_REF_NAME}" | tr '[:upper:]' '[:lower:]' | sed 's/[^a-z0-9]/-/g' | cut -c1-63 | sed 's/^-*//; s/-*$//')"` +
			"\nexport SLIPWAY_REF_SLUG\n" + `dagger call run --slug="$SLIPWAY_REF_SLUG"` + "\n"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			p := build(t, append(tc.pipeOpts, job("a", "build", tc.jobOpts...))...)
			_, doc := generate(t, p)
			j := jobOf(t, doc, "a")
			got := map[string]any{}
			for k := range tc.want {
				got[k] = j[k]
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("job (-want +got)\n%s", diff)
			}
			if tc.call != nil {
				step := stepOf(t, j, "dagger call")
				got := map[string]any{}
				for k := range tc.call {
					got[k] = step[k]
				}
				if diff := cmp.Diff(tc.call, got); diff != "" {
					t.Errorf("call step (-want +got)\n%s", diff)
				}
			}
			for _, k := range tc.absent {
				if v, ok := j[k]; ok {
					t.Errorf("job has %s: %v", k, v)
				}
			}
			if strings.Contains(stepOf(t, j, "Set up Dagger")["run"].(string), "install.sh") {
				t.Error("the Dagger set-up runs install.sh")
			}
		})
	}
}

// TestRefusals checks the exact errors for what GitHub cannot do.
func TestRefusals(t *testing.T) {
	for _, tc := range []struct {
		name    string
		jobOpts []pipeline.JobOption
		want    string
	}{{
		name:    "auto-stopped environment",
		jobOpts: []pipeline.JobOption{pipeline.Deploys(pipeline.Environment{Name: "review", PerRef: true, Tier: pipeline.Development, AutoStopIn: time.Hour})},
		want:    `github: job "a": GitHub cannot stop an environment some time after its deploy (GitLab's auto_stop_in); drop AutoStopIn, or stop it with pipeline.StopsWith when the pull request closes`,
	}, {
		name: "a stop job without a pull request to close",
		jobOpts: []pipeline.JobOption{pipeline.When(pipeline.OnBranches()), pipeline.Deploys(pipeline.Environment{Name: "review", PerRef: true, Tier: pipeline.Development}),
			pipeline.StopsWith(pipeline.Fn("stop"))},
		want: `github: job "a:stop": GitHub stops a review environment when its pull request closes, and "a" has no merge request rule; add pipeline.OnMergeRequests() to its rules`,
	}, {
		name:    "a dotenv report",
		jobOpts: []pipeline.JobOption{pipeline.Reports(pipeline.Report{Kind: pipeline.Dotenv, Path: "out/build.env"})},
		want:    `github: job "a": a dotenv report (out/build.env) passes variables to later jobs on GitLab only; GitHub has no such report, so pass values with pipeline.Outputs, which both CIs do`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			p := build(t, job("a", "build", tc.jobOpts...))
			_, err := github.Generate(p)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v\nwant %s", err, tc.want)
			}
		})
	}
}
