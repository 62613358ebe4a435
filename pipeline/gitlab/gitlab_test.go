package gitlab_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/gitlab"
)

// generate builds a pipeline from opts, generates its GitLab file and
// parses it back.
func generate(t *testing.T, opts ...pipeline.Option) ([]byte, map[string]any) {
	t.Helper()
	p, err := pipeline.New("test", opts...)
	if err != nil {
		t.Fatalf("pipeline.New: %v", err)
	}
	out, err := gitlab.Generate(p)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("the output does not parse: %v\n%s", err, out)
	}
	return out, doc
}

// oneJob generates a pipeline with the single job "job" in stage "build",
// calling the function "run", and returns that job's parsed map.
func oneJob(t *testing.T, jobOpts []pipeline.JobOption, pipeOpts ...pipeline.Option) map[string]any {
	t.Helper()
	opts := append([]pipeline.Option{
		pipeline.Stages("build"),
		pipeline.Job("job", append([]pipeline.JobOption{
			pipeline.Stage("build"),
			pipeline.Calls(pipeline.Fn("run")),
		}, jobOpts...)...),
	}, pipeOpts...)
	out, doc := generate(t, opts...)
	j, ok := doc["job"].(map[string]any)
	if !ok {
		t.Fatalf("no job map in:\n%s", out)
	}
	return j
}

// rule is a parsed GitLab rule, for tables.
type rule = map[string]any

func TestGenerateJobRules(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rules []pipeline.Rule
		want  []any
	}{
		{"push to any branch", []pipeline.Rule{pipeline.OnBranches()},
			[]any{rule{"if": `$CI_COMMIT_BRANCH`}}},
		{"push to any branch by star", []pipeline.Rule{pipeline.OnBranches("*")},
			[]any{rule{"if": `$CI_COMMIT_BRANCH`}}},
		{"push to an exact branch", []pipeline.Rule{pipeline.OnBranches("develop")},
			[]any{rule{"if": `$CI_COMMIT_BRANCH == "develop"`}}},
		{"push to a branch prefix", []pipeline.Rule{pipeline.OnBranches("release/*")},
			[]any{rule{"if": `$CI_COMMIT_BRANCH =~ /^release\/.*$/`}}},
		{"prefix with regexp metacharacters", []pipeline.Rule{pipeline.OnBranches("hotfix/1.x+y*")},
			[]any{rule{"if": `$CI_COMMIT_BRANCH =~ /^hotfix\/1\.x\+y.*$/`}}},
		{"branch holding a double quote", []pipeline.Rule{pipeline.OnBranches(`say"hi`)},
			[]any{rule{"if": `$CI_COMMIT_BRANCH == 'say"hi'`}}},
		{"several branches: one rule each", []pipeline.Rule{pipeline.OnBranches("main", "release/*")},
			[]any{rule{"if": `$CI_COMMIT_BRANCH == "main"`}, rule{"if": `$CI_COMMIT_BRANCH =~ /^release\/.*$/`}}},
		{"any tag", []pipeline.Rule{pipeline.OnTags()},
			[]any{rule{"if": `$CI_COMMIT_TAG`}}},
		{"exact tag", []pipeline.Rule{pipeline.OnTags("v1.0.0")},
			[]any{rule{"if": `$CI_COMMIT_TAG == "v1.0.0"`}}},
		{"tag prefix", []pipeline.Rule{pipeline.OnTags("v*")},
			[]any{rule{"if": `$CI_COMMIT_TAG =~ /^v.*$/`}}},
		{"any merge request", []pipeline.Rule{pipeline.OnMergeRequests()},
			[]any{rule{"if": `$CI_PIPELINE_SOURCE == "merge_request_event"`}}},
		{"merge request into an exact branch", []pipeline.Rule{pipeline.OnMergeRequests("main")},
			[]any{rule{"if": `$CI_PIPELINE_SOURCE == "merge_request_event" && $CI_MERGE_REQUEST_TARGET_BRANCH_NAME == "main"`}}},
		{"merge request into a branch prefix", []pipeline.Rule{pipeline.OnMergeRequests("release/*")},
			[]any{rule{"if": `$CI_PIPELINE_SOURCE == "merge_request_event" && $CI_MERGE_REQUEST_TARGET_BRANCH_NAME =~ /^release\/.*$/`}}},
		{"schedule", []pipeline.Rule{pipeline.OnSchedule()},
			[]any{rule{"if": `$CI_PIPELINE_SOURCE == "schedule"`}}},
		{"schedule on a branch", []pipeline.Rule{{Event: pipeline.Schedule, Refs: []string{"main"}}},
			[]any{rule{"if": `$CI_PIPELINE_SOURCE == "schedule" && $CI_COMMIT_BRANCH == "main"`}}},
		{"dispatch", []pipeline.Rule{pipeline.OnDispatch()},
			[]any{rule{"if": `$CI_PIPELINE_SOURCE == "web"`}}},
		{"changed paths", []pipeline.Rule{pipeline.OnBranches("main").WithChanges("go.mod", "cmd/**")},
			[]any{rule{"if": `$CI_COMMIT_BRANCH == "main"`, "changes": []any{"go.mod", "cmd/**"}}}},
		{"changed paths on a merge request", []pipeline.Rule{pipeline.OnMergeRequests().WithChanges("docs/**")},
			[]any{rule{"if": `$CI_PIPELINE_SOURCE == "merge_request_event"`, "changes": []any{"docs/**"}}}},
		{"push guarded once schedules are admitted", []pipeline.Rule{pipeline.OnBranches("main"), pipeline.OnTags(), pipeline.OnSchedule()},
			[]any{
				rule{"if": `$CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_BRANCH == "main"`},
				rule{"if": `$CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_TAG`},
				rule{"if": `$CI_PIPELINE_SOURCE == "schedule"`},
			}},
		{"push guarded once hand-started pipelines are admitted", []pipeline.Rule{pipeline.OnBranches(), pipeline.OnDispatch()},
			[]any{
				rule{"if": `$CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_BRANCH`},
				rule{"if": `$CI_PIPELINE_SOURCE == "web"`},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := oneJob(t, []pipeline.JobOption{pipeline.When(tc.rules...)})
			if got := j["rules"]; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("rules:\n got: %#v\nwant: %#v", got, tc.want)
			}
		})
	}
}

func TestGenerateManualGate(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []pipeline.JobOption
		want map[string]any
		none []string
	}{
		{
			name: "manual on every rule",
			opts: []pipeline.JobOption{pipeline.Approval(), pipeline.When(pipeline.OnBranches("main"), pipeline.OnTags("v*"))},
			want: map[string]any{"rules": []any{
				rule{"if": `$CI_COMMIT_BRANCH == "main"`, "when": "manual"},
				rule{"if": `$CI_COMMIT_TAG =~ /^v.*$/`, "when": "manual"},
			}},
			// Rule-made manual jobs default to allow_failure: false, which
			// blocks the pipeline until someone approves.
			none: []string{"allow_failure", "when"},
		},
		{
			name: "manual without rules",
			opts: []pipeline.JobOption{pipeline.Approval()},
			want: map[string]any{"rules": []any{rule{"when": "manual"}}},
			none: []string{"allow_failure", "when"},
		},
		{
			name: "manual production deploy",
			opts: []pipeline.JobOption{
				pipeline.Approval(),
				pipeline.Deploys(pipeline.Environment{Name: "production", URL: "https://example.com", Tier: pipeline.Production}),
			},
			want: map[string]any{
				"rules":       []any{rule{"when": "manual"}},
				"environment": map[string]any{"name": "production", "url": "https://example.com", "deployment_tier": "production"},
			},
		},
		{
			name: "manual and allowed to fail",
			opts: []pipeline.JobOption{pipeline.Approval(), pipeline.AllowFailure()},
			want: map[string]any{"rules": []any{rule{"when": "manual"}}, "allow_failure": true},
		},
		{
			name: "not manual: no rules key",
			opts: nil,
			none: []string{"rules", "when", "allow_failure"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := oneJob(t, tc.opts)
			checkKeys(t, j, tc.want, tc.none)
		})
	}
}

// checkKeys asserts that j holds want and none of the keys in none.
func checkKeys(t *testing.T, j map[string]any, want map[string]any, none []string) {
	t.Helper()
	for k, v := range want {
		if got, ok := j[k]; !ok {
			t.Errorf("key %q is missing; job: %#v", k, j)
		} else if !reflect.DeepEqual(got, v) {
			t.Errorf("%s:\n got: %#v\nwant: %#v", k, got, v)
		}
	}
	for _, k := range none {
		if v, ok := j[k]; ok {
			t.Errorf("key %q should be absent, is %#v", k, v)
		}
	}
}

func TestGenerateJobSettings(t *testing.T) {
	sarif := pipeline.Report{Kind: pipeline.SARIF, Path: "out/scan.sarif"}
	for _, tc := range []struct {
		name     string
		opts     []pipeline.JobOption
		pipeOpts []pipeline.Option
		want     map[string]any
		none     []string
	}{
		{
			name: "minimal job",
			want: map[string]any{
				"stage": "build",
				"before_script": []any{
					`export PATH="$HOME/.local/bin:$PATH"`,
					pipeline.DaggerInstall("v0.19.10")[1],
				},
				"script": []any{"dagger call run"},
			},
			none: []string{"needs", "rules", "environment", "resource_group", "interruptible", "allow_failure",
				"timeout", "retry", "tags", "coverage", "artifacts", "image", "services", "variables"},
		},
		{
			name:     "pinned dagger version",
			pipeOpts: []pipeline.Option{pipeline.DaggerVersion("v0.20.1")},
			want: map[string]any{"before_script": []any{
				`export PATH="$HOME/.local/bin:$PATH"`,
				pipeline.DaggerInstall("v0.20.1")[1],
			}},
		},
		{
			name:     "module, secrets, CI and pipeline variables in the call",
			pipeOpts: []pipeline.Option{pipeline.Module("ci"), pipeline.Var("REGISTRY", "registry.example.com")},
			opts: []pipeline.JobOption{pipeline.Calls(pipeline.Fn("publish",
				pipeline.Dir("source", "."),
				pipeline.FromVar("sha", pipeline.CommitSHA),
				pipeline.FromVar("ref", pipeline.RefName),
				pipeline.FromVar("pipeline", pipeline.PipelineID),
				pipeline.FromVar("repo", pipeline.RepositoryURL),
				pipeline.FromEnv("registry", "REGISTRY"),
				pipeline.Secret("token", "REGISTRY_TOKEN"),
				pipeline.String("message", "it's done"),
			))},
			want: map[string]any{"script": []any{
				`dagger -m ci call publish --source=. --sha="$CI_COMMIT_SHA" --ref="$CI_COMMIT_REF_NAME" --pipeline="$CI_PIPELINE_ID" --repo="$CI_PROJECT_URL" --registry="$REGISTRY" --token=env://REGISTRY_TOKEN --message='it'\''s done'`,
			}},
		},
		{
			name: "output to dotenv",
			opts: []pipeline.JobOption{pipeline.Outputs("IMAGE_REF")},
			want: map[string]any{
				"script": []any{
					`IMAGE_REF="$(dagger call run)"`,
					`echo "IMAGE_REF=$IMAGE_REF" > slipway.env`,
				},
				"artifacts": map[string]any{"when": "always", "reports": map[string]any{"dotenv": "slipway.env"}},
			},
		},
		{
			name: "every report kind",
			opts: []pipeline.JobOption{pipeline.Reports(
				pipeline.Report{Kind: pipeline.JUnit, Path: "out/junit.xml"},
				pipeline.Report{Kind: pipeline.Cobertura, Path: "out/coverage.xml"},
				pipeline.Report{Kind: pipeline.GitLabSAST, Path: "out/gl-sast.json"},
				pipeline.Report{Kind: pipeline.GitLabContainerScanning, Path: "out/gl-cs.json"},
				sarif,
			)},
			want: map[string]any{"artifacts": map[string]any{
				"when":  "always",
				"paths": []any{"out/scan.sarif"},
				"reports": map[string]any{
					"junit":              "out/junit.xml",
					"coverage_report":    map[string]any{"coverage_format": "cobertura", "path": "out/coverage.xml"},
					"sast":               "out/gl-sast.json",
					"container_scanning": "out/gl-cs.json",
				},
			}},
		},
		{
			name: "several reports of a kind become lists",
			opts: []pipeline.JobOption{pipeline.Reports(
				pipeline.Report{Kind: pipeline.JUnit, Path: "a.xml"},
				pipeline.Report{Kind: pipeline.JUnit, Path: "b.xml"},
				pipeline.Report{Kind: pipeline.GitLabSAST, Path: "a.json"},
				pipeline.Report{Kind: pipeline.GitLabSAST, Path: "b.json"},
			)},
			want: map[string]any{"artifacts": map[string]any{
				"when":    "always",
				"reports": map[string]any{"junit": []any{"a.xml", "b.xml"}, "sast": []any{"a.json", "b.json"}},
			}},
		},
		{
			name: "artifacts with expiry in weeks, SARIF path not repeated",
			opts: []pipeline.JobOption{pipeline.KeepArtifacts(14*24*time.Hour, "dist/", "out/scan.sarif"), pipeline.Reports(sarif)},
			want: map[string]any{"artifacts": map[string]any{
				"when": "always", "expire_in": "2 weeks", "paths": []any{"dist/", "out/scan.sarif"},
			}},
		},
		{
			name: "artifacts expiring in days",
			opts: []pipeline.JobOption{pipeline.KeepArtifacts(3*24*time.Hour, "dist/")},
			want: map[string]any{"artifacts": map[string]any{"when": "always", "expire_in": "3 days", "paths": []any{"dist/"}}},
		},
		{
			name: "artifacts expiring in one day",
			opts: []pipeline.JobOption{pipeline.KeepArtifacts(24*time.Hour, "dist/")},
			want: map[string]any{"artifacts": map[string]any{"when": "always", "expire_in": "1 day", "paths": []any{"dist/"}}},
		},
		{
			name: "artifacts expiring in hours",
			opts: []pipeline.JobOption{pipeline.KeepArtifacts(36*time.Hour, "dist/")},
			want: map[string]any{"artifacts": map[string]any{"when": "always", "expire_in": "36 hours", "paths": []any{"dist/"}}},
		},
		{
			name: "artifacts expiring in minutes",
			opts: []pipeline.JobOption{pipeline.KeepArtifacts(90*time.Minute, "dist/")},
			want: map[string]any{"artifacts": map[string]any{"when": "always", "expire_in": "90 minutes", "paths": []any{"dist/"}}},
		},
		{
			name: "artifacts with the CI's default expiry",
			opts: []pipeline.JobOption{pipeline.KeepArtifacts(0, "dist/")},
			want: map[string]any{"artifacts": map[string]any{"when": "always", "paths": []any{"dist/"}}},
		},
		{
			name: "coverage regexp",
			opts: []pipeline.JobOption{pipeline.Coverage(`total:\s+(\d+\.\d+)%`)},
			want: map[string]any{"coverage": `/total:\s+(\d+\.\d+)%/`},
		},
		{
			name: "coverage regexp with a slash",
			opts: []pipeline.JobOption{pipeline.Coverage(`lines: (\d+)/(\d+) a\/b`)},
			want: map[string]any{"coverage": `/lines: (\d+)\/(\d+) a\/b/`},
		},
		{
			name: "retries",
			opts: []pipeline.JobOption{pipeline.Retry(2)},
			want: map[string]any{"retry": map[string]any{
				"max": 2, "when": []any{"runner_system_failure", "stuck_or_timeout_failure", "script_failure"},
			}},
		},
		{
			name: "timeout in minutes",
			opts: []pipeline.JobOption{pipeline.Timeout(30 * time.Minute)},
			want: map[string]any{"timeout": "30m"},
		},
		{
			name: "timeout in hours",
			opts: []pipeline.JobOption{pipeline.Timeout(2 * time.Hour)},
			want: map[string]any{"timeout": "2h"},
		},
		{
			name: "timeout in hours and minutes",
			opts: []pipeline.JobOption{pipeline.Timeout(90 * time.Minute)},
			want: map[string]any{"timeout": "1h 30m"},
		},
		{
			name: "allow failure",
			opts: []pipeline.JobOption{pipeline.AllowFailure()},
			want: map[string]any{"allow_failure": true},
		},
		{
			name: "interruptible",
			opts: []pipeline.JobOption{pipeline.Interruptible()},
			want: map[string]any{"interruptible": true},
		},
		{
			name: "resource group",
			opts: []pipeline.JobOption{pipeline.Concurrency("deploy-staging")},
			want: map[string]any{"resource_group": "deploy-staging"},
		},
		{
			name: "environment without URL",
			opts: []pipeline.JobOption{pipeline.Deploys(pipeline.Environment{Name: "review", Tier: pipeline.Development})},
			want: map[string]any{"environment": map[string]any{"name": "review", "deployment_tier": "development"}},
		},
		{
			name:     "default runner tags",
			pipeOpts: []pipeline.Option{pipeline.DefaultRunnerTags("dagger", "linux")},
			want:     map[string]any{"tags": []any{"dagger", "linux"}},
		},
		{
			name:     "job runner tags win over the default",
			pipeOpts: []pipeline.Option{pipeline.DefaultRunnerTags("dagger")},
			opts:     []pipeline.JobOption{pipeline.RunnerTags("dagger-gpu")},
			want:     map[string]any{"tags": []any{"dagger-gpu"}},
		},
		{
			name: "GitHub runner labels do not leak into GitLab",
			opts: []pipeline.JobOption{pipeline.RunsOn("ubuntu-24.04")},
			none: []string{"tags", "runs-on"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := oneJob(t, tc.opts, tc.pipeOpts...)
			checkKeys(t, j, tc.want, tc.none)
		})
	}
}

func TestGenerateNeeds(t *testing.T) {
	_, doc := generate(t,
		pipeline.Stages("build", "test"),
		pipeline.Job("build", pipeline.Stage("build"), pipeline.Calls(pipeline.Fn("build")), pipeline.Outputs("IMAGE_REF")),
		pipeline.Job("lint", pipeline.Stage("build"), pipeline.Calls(pipeline.Fn("lint"))),
		pipeline.Job("test", pipeline.Stage("test"), pipeline.Needs("build", "lint"),
			pipeline.Calls(pipeline.Fn("test", pipeline.FromJob("image", "build", "IMAGE_REF")))),
		pipeline.Job("docs", pipeline.Stage("test"), pipeline.Calls(pipeline.Fn("docs"))),
	)
	test := doc["test"].(map[string]any)
	if got, want := test["needs"], []any{"build", "lint"}; !reflect.DeepEqual(got, want) {
		t.Errorf("test needs = %#v, want %#v", got, want)
	}
	if got, want := test["script"], []any{`dagger call test --image="$IMAGE_REF"`}; !reflect.DeepEqual(got, want) {
		t.Errorf("test script = %#v, want %#v", got, want)
	}
	// Without needs a job waits for the earlier stages, GitLab's default.
	if v, ok := doc["docs"].(map[string]any)["needs"]; ok {
		t.Errorf("docs has needs %#v; want none", v)
	}
}

func TestGenerateVariables(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []pipeline.Option
		want any
	}{
		{"none", nil, nil},
		{"sorted and typed as strings",
			[]pipeline.Option{pipeline.Var("ZED", "1"), pipeline.Var("ALPHA", "true"), pipeline.Var("GOFLAGS", "-mod=mod")},
			map[string]any{"ALPHA": "true", "GOFLAGS": "-mod=mod", "ZED": "1"}},
		{"a dollar is not expanded by GitLab",
			[]pipeline.Option{pipeline.Var("PRICE", "5$US")},
			map[string]any{"PRICE": map[string]any{"value": "5$US", "expand": false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := append([]pipeline.Option{
				pipeline.Stages("build"),
				pipeline.Job("job", pipeline.Stage("build"), pipeline.Calls(pipeline.Fn("run"))),
			}, tc.opts...)
			out, doc := generate(t, opts...)
			got, ok := doc["variables"]
			if tc.want == nil {
				if ok {
					t.Fatalf("variables = %#v, want none", got)
				}
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("variables:\n got: %#v\nwant: %#v", got, tc.want)
			}
			// The bytes keep the values strings, as GitLab wants them.
			if strings.Contains(string(out), "ALPHA: true\n") {
				t.Errorf("ALPHA is not quoted:\n%s", out)
			}
		})
	}
}

func TestGenerateWorkflow(t *testing.T) {
	mr := rule{"if": `$CI_PIPELINE_SOURCE == "merge_request_event"`}
	never := rule{"if": `$CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS`, "when": "never"}
	branch := rule{"if": `$CI_COMMIT_BRANCH`}
	tag := rule{"if": `$CI_COMMIT_TAG`}
	schedule := rule{"if": `$CI_PIPELINE_SOURCE == "schedule"`}
	web := rule{"if": `$CI_PIPELINE_SOURCE == "web"`}
	for _, tc := range []struct {
		name  string
		rules []pipeline.Rule
		want  []any
	}{
		{"no rules: branch and tag pipelines", nil, []any{branch, tag}},
		{"merge requests: no duplicate branch pipelines", []pipeline.Rule{pipeline.OnMergeRequests(), pipeline.OnBranches()},
			[]any{mr, never, branch, tag}},
		{"schedules", []pipeline.Rule{pipeline.OnSchedule()}, []any{schedule, branch, tag}},
		{"hand-started", []pipeline.Rule{pipeline.OnDispatch()}, []any{web, branch, tag}},
		{"everything", []pipeline.Rule{pipeline.OnDispatch(), pipeline.OnSchedule(), pipeline.OnMergeRequests("main")},
			[]any{mr, schedule, web, never, branch, tag}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, doc := generate(t,
				pipeline.Stages("build"),
				pipeline.Job("job", pipeline.Stage("build"), pipeline.Calls(pipeline.Fn("run")), pipeline.When(tc.rules...)),
			)
			got := doc["workflow"]
			want := map[string]any{"rules": tc.want}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("workflow:\n got: %#v\nwant: %#v", got, want)
			}
		})
	}
}

// TestGenerateRulesFollowNeeds checks that a job's rules are narrowed to
// the pipelines in which the jobs it needs exist, since GitLab refuses a
// pipeline where a job needs one that its rules left out.
func TestGenerateRulesFollowNeeds(t *testing.T) {
	for _, tc := range []struct {
		name         string
		upstream     []pipeline.Rule
		rules        []pipeline.Rule
		want         any // the downstream job's rules; nil for none
		wantError    string
		wantNewError string
	}{
		{name: "neither has rules", want: nil},
		{name: "inherits the upstream's rules",
			upstream: []pipeline.Rule{pipeline.OnBranches("main")},
			want:     []any{rule{"if": `$CI_COMMIT_BRANCH == "main"`}}},
		{name: "own rules within the upstream's stay as they are",
			upstream: []pipeline.Rule{pipeline.OnBranches(), pipeline.OnTags("v*"), pipeline.OnMergeRequests()},
			rules:    []pipeline.Rule{pipeline.OnBranches("main"), pipeline.OnTags("v*")},
			want:     []any{rule{"if": `$CI_COMMIT_BRANCH == "main"`}, rule{"if": `$CI_COMMIT_TAG =~ /^v.*$/`}}},
		{name: "narrowed to the overlap",
			upstream: []pipeline.Rule{pipeline.OnBranches("develop", "release/*")},
			rules:    []pipeline.Rule{pipeline.OnBranches("main", "release/1.*"), pipeline.OnTags()},
			want:     []any{rule{"if": `$CI_COMMIT_BRANCH =~ /^release\/1\..*$/`}}},
		{name: "a broader own rule takes the upstream's narrower patterns",
			upstream: []pipeline.Rule{pipeline.OnBranches("main", "develop")},
			rules:    []pipeline.Rule{pipeline.OnBranches()},
			want:     []any{rule{"if": `$CI_COMMIT_BRANCH == "main"`}, rule{"if": `$CI_COMMIT_BRANCH == "develop"`}}},
		{name: "upstream changed paths carry over",
			upstream: []pipeline.Rule{pipeline.OnMergeRequests().WithChanges("api/**")},
			rules:    []pipeline.Rule{pipeline.OnMergeRequests("main")},
			want: []any{rule{"if": `$CI_PIPELINE_SOURCE == "merge_request_event" && $CI_MERGE_REQUEST_TARGET_BRANCH_NAME == "main"`,
				"changes": []any{"api/**"}}}},
		{name: "narrower own changed paths stay",
			upstream: []pipeline.Rule{pipeline.OnBranches().WithChanges("api/**", "go.mod")},
			rules:    []pipeline.Rule{pipeline.OnBranches().WithChanges("go.mod")},
			want:     []any{rule{"if": `$CI_COMMIT_BRANCH`, "changes": []any{"go.mod"}}}},
		{name: "different changed paths cannot be combined",
			upstream:     []pipeline.Rule{pipeline.OnBranches().WithChanges("api/**")},
			rules:        []pipeline.Rule{pipeline.OnBranches("main").WithChanges("web/**")},
			wantNewError: `pipeline "test" is invalid: job "down": filters on changed paths (web/**) that are not among those of "up" (api/**), which it needs; one GitLab rule cannot require both, so give both the same paths`},
		{name: "no overlap at all",
			upstream:     []pipeline.Rule{pipeline.OnTags("v*")},
			rules:        []pipeline.Rule{pipeline.OnBranches("main")},
			wantNewError: `pipeline "test" is invalid: job "down" never runs: none of its rules matches a pipeline in which the jobs it needs (up) run too; align its rules with theirs`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := pipeline.New("test",
				pipeline.Stages("build", "test"),
				pipeline.Job("up", pipeline.Stage("build"), pipeline.Calls(pipeline.Fn("up")), pipeline.When(tc.upstream...)),
				pipeline.Job("down", pipeline.Stage("test"), pipeline.Needs("up"), pipeline.Calls(pipeline.Fn("down")), pipeline.When(tc.rules...)),
			)
			if tc.wantNewError != "" {
				// The model refuses these before any generator runs.
				if err == nil || err.Error() != tc.wantNewError {
					t.Fatalf("pipeline.New error:\n got: %v\nwant: %s", err, tc.wantNewError)
				}
				return
			}
			if err != nil {
				t.Fatalf("pipeline.New: %v", err)
			}
			out, err := gitlab.Generate(p)
			if tc.wantError != "" {
				if err == nil || err.Error() != tc.wantError {
					t.Fatalf("Generate error:\n got: %v\nwant: %s", err, tc.wantError)
				}
				return
			}
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			var doc map[string]any
			if err := yaml.Unmarshal(out, &doc); err != nil {
				t.Fatal(err)
			}
			got, ok := doc["down"].(map[string]any)["rules"]
			if tc.want == nil {
				if ok {
					t.Fatalf("down has rules %#v, want none", got)
				}
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("down rules:\n got: %#v\nwant: %#v", got, tc.want)
			}
		})
	}
}

// TestGenerateNeedsLaterInSameStage checks a job needing one defined after
// it in the same stage, which GitLab allows.
func TestGenerateNeedsLaterInSameStage(t *testing.T) {
	_, doc := generate(t,
		pipeline.Stages("build"),
		pipeline.Job("second", pipeline.Stage("build"), pipeline.Needs("first"), pipeline.Calls(pipeline.Fn("second"))),
		pipeline.Job("first", pipeline.Stage("build"), pipeline.Calls(pipeline.Fn("first")), pipeline.When(pipeline.OnTags())),
	)
	want := []any{rule{"if": `$CI_COMMIT_TAG`}}
	if got := doc["second"].(map[string]any)["rules"]; !reflect.DeepEqual(got, want) {
		t.Errorf("second rules = %#v, want %#v", got, want)
	}
}

func TestGenerateErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []pipeline.Option
		want string
	}{
		{"job named like a keyword", []pipeline.Option{
			pipeline.Stages("build"),
			pipeline.Job("variables", pipeline.Stage("build"), pipeline.Calls(pipeline.Fn("run"))),
		}, `gitlab: job "variables": the name is a GitLab CI keyword; rename the job`},
		{"two coverage reports", []pipeline.Option{
			pipeline.Stages("build"),
			pipeline.Job("test", pipeline.Stage("build"), pipeline.Calls(pipeline.Fn("run")), pipeline.Reports(
				pipeline.Report{Kind: pipeline.Cobertura, Path: "a.xml"}, pipeline.Report{Kind: pipeline.Cobertura, Path: "b.xml"})),
		}, `gitlab: job "test": GitLab takes one coverage report per job, not 2 (a.xml, b.xml); merge them into one file`},
		{"ref holding both quotes", []pipeline.Option{
			pipeline.Stages("build"),
			pipeline.Job("test", pipeline.Stage("build"), pipeline.Calls(pipeline.Fn("run")), pipeline.When(pipeline.OnBranches(`a"b'c`))),
		}, `gitlab: job "test": the ref "a\"b'c" holds both kinds of quote, which a GitLab CI expression cannot compare with`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := pipeline.New("test", tc.opts...)
			if err != nil {
				t.Fatalf("pipeline.New: %v", err)
			}
			out, err := gitlab.Generate(p)
			if err == nil {
				t.Fatalf("Generate succeeded, want error %q; output:\n%s", tc.want, out)
			}
			if err.Error() != tc.want {
				t.Errorf("Generate error:\n got: %s\nwant: %s", err, tc.want)
			}
		})
	}
	if _, err := gitlab.Generate(nil); err == nil || err.Error() != "gitlab: nil pipeline" {
		t.Errorf("Generate(nil) error = %v, want gitlab: nil pipeline", err)
	}
}

func TestGenerateHeader(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []pipeline.Option
		want string
	}{
		{"bare", nil, `# Code generated by slipway; DO NOT EDIT.
# GitLab CI pipeline "test": every job installs Dagger v0.19.10 and runs one ` + "`dagger call`" + `.
# Runners must provide a Dagger engine; no image or services are used.
stages:
`},
		{"source, command, tags, secrets and approvals", []pipeline.Option{
			pipeline.GeneratedFrom("ci/main.go", "go run ./ci generate"),
			pipeline.DefaultRunnerTags("dagger"),
			pipeline.Job("deploy", pipeline.Stage("build"), pipeline.Approval(),
				pipeline.Deploys(pipeline.Environment{Name: "production", Tier: pipeline.Production}),
				pipeline.Calls(pipeline.Fn("deploy", pipeline.Secret("token", "DEPLOY_TOKEN"), pipeline.Secret("key", "API_KEY")))),
			pipeline.Job("deploy eu", pipeline.Stage("build"), pipeline.Approval(),
				pipeline.Deploys(pipeline.Environment{Name: "production", Tier: pipeline.Production}),
				pipeline.Calls(pipeline.Fn("deploy"))),
			pipeline.Job("stop", pipeline.Stage("build"), pipeline.Approval(), pipeline.Calls(pipeline.Fn("stop"))),
		}, `# Code generated by slipway from ci/main.go; DO NOT EDIT.
# Regenerate with: go run ./ci generate
# GitLab CI pipeline "test": every job installs Dagger v0.19.10 and runs one ` + "`dagger call`" + `.
# Runners tagged dagger must provide a Dagger engine; no image or services are used.
# Masked CI/CD variables that must exist: API_KEY, DEPLOY_TOKEN.
# Manual jobs (a person starts them to approve): deploy, deploy eu, stop.
# Protect the environment production in the project settings to choose who may approve.
stages:
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := append([]pipeline.Option{
				pipeline.Stages("build"),
				pipeline.Job("job", pipeline.Stage("build"), pipeline.Calls(pipeline.Fn("run"))),
			}, tc.opts...)
			out, _ := generate(t, opts...)
			if !bytes.HasPrefix(out, []byte(tc.want)) {
				t.Errorf("header:\n got: %s\nwant: %s", firstLines(out, strings.Count(tc.want, "\n")), tc.want)
			}
		})
	}
}

func firstLines(b []byte, n int) string {
	lines := strings.SplitAfter(string(b), "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "")
}
