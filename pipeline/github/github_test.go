package github_test

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	yaml "go.yaml.in/yaml/v3"

	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/github"
	"github.com/slipway-ci/slipway/pipeline/pipelinetest"
)

// job adds a job that calls the function "run" unless opts say otherwise.
func job(name, stage string, opts ...pipeline.JobOption) pipeline.Option {
	return pipeline.Job(name, append([]pipeline.JobOption{pipeline.Stage(stage), pipeline.Calls(pipeline.Fn("run"))}, opts...)...)
}

// build returns a valid pipeline with the stages build, test and deploy.
func build(t *testing.T, opts ...pipeline.Option) *pipeline.Pipeline {
	t.Helper()
	p, err := pipeline.New("p", append([]pipeline.Option{pipeline.Stages("build", "test", "deploy")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// generate runs Generate and parses the result.
func generate(t *testing.T, p *pipeline.Pipeline, opts ...github.Option) ([]byte, map[string]any) {
	t.Helper()
	b, err := github.Generate(p, opts...)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	// Every workflow the tests build also checks that the fast emitter
	// writes what yaml/v3 would.
	slow, err := github.GenerateWithYAML(p, opts...)
	if err != nil {
		t.Fatalf("GenerateWithYAML: %v", err)
	}
	if !bytes.Equal(b, slow) {
		t.Fatalf("the fast emitter and yaml/v3 differ:\n%s", lineDiff(string(slow), string(b)))
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("the workflow does not parse: %v\n%s", err, b)
	}
	return b, doc
}

func jobOf(t *testing.T, doc map[string]any, id string) map[string]any {
	t.Helper()
	jobs, _ := doc["jobs"].(map[string]any)
	j, ok := jobs[id].(map[string]any)
	if !ok {
		t.Fatalf("no job %q in %v", id, doc["jobs"])
	}
	return j
}

// stepOf returns the job's step whose name starts with prefix.
func stepOf(t *testing.T, job map[string]any, prefix string) map[string]any {
	t.Helper()
	steps, _ := job["steps"].([]any)
	for _, s := range steps {
		if m, ok := s.(map[string]any); ok && strings.HasPrefix(fmt.Sprint(m["name"]), prefix) {
			return m
		}
	}
	t.Fatalf("no step named %q... in %v", prefix, steps)
	return nil
}

func TestOn(t *testing.T) {
	dispatch := map[string]any{}
	tests := []struct {
		name string
		jobs []pipeline.Option
		opts []github.Option
		want map[string]any
	}{{
		name: "push to an exact branch",
		jobs: []pipeline.Option{job("a", "build", pipeline.When(pipeline.OnBranches("main")))},
		want: map[string]any{"push": map[string]any{"branches": []any{"main"}}, "workflow_dispatch": dispatch},
	}, {
		name: "branch prefixes become ** and are sorted",
		jobs: []pipeline.Option{job("a", "build", pipeline.When(pipeline.OnBranches("release/*", "main")))},
		want: map[string]any{"push": map[string]any{"branches": []any{"main", "release/**"}}, "workflow_dispatch": dispatch},
	}, {
		name: "any branch in one job covers the others",
		jobs: []pipeline.Option{
			job("a", "build", pipeline.When(pipeline.OnBranches("main"))),
			job("b", "build", pipeline.When(pipeline.OnBranches())),
		},
		want: map[string]any{"push": map[string]any{"branches": []any{"**"}}, "workflow_dispatch": dispatch},
	}, {
		name: "a lone * is any branch",
		jobs: []pipeline.Option{job("a", "build", pipeline.When(pipeline.OnBranches("main", "*")))},
		want: map[string]any{"push": map[string]any{"branches": []any{"**"}}, "workflow_dispatch": dispatch},
	}, {
		name: "covered patterns and duplicates are dropped",
		jobs: []pipeline.Option{
			job("a", "build", pipeline.When(pipeline.OnBranches("release/*", "release/1.x", "rel*"))),
			job("b", "build", pipeline.When(pipeline.OnBranches("rel*", "main", "main"))),
		},
		want: map[string]any{"push": map[string]any{"branches": []any{"main", "rel**"}}, "workflow_dispatch": dispatch},
	}, {
		name: "filter metacharacters that git allows are escaped",
		jobs: []pipeline.Option{job("a", "build", pipeline.When(pipeline.OnBranches("feat+x", "!bang")))},
		want: map[string]any{"push": map[string]any{"branches": []any{`\!bang`, `feat\+x`}}, "workflow_dispatch": dispatch},
	}, {
		name: "tags",
		jobs: []pipeline.Option{job("a", "build", pipeline.When(pipeline.OnTags("v*")))},
		want: map[string]any{"push": map[string]any{"tags": []any{"v**"}}, "workflow_dispatch": dispatch},
	}, {
		name: "branches and tags from different jobs",
		jobs: []pipeline.Option{
			job("a", "build", pipeline.When(pipeline.OnBranches("develop"))),
			job("b", "build", pipeline.When(pipeline.OnTags())),
		},
		want: map[string]any{"push": map[string]any{"branches": []any{"develop"}, "tags": []any{"**"}}, "workflow_dispatch": dispatch},
	}, {
		name: "pull requests filtered by target when every rule names targets",
		jobs: []pipeline.Option{
			job("a", "build", pipeline.When(pipeline.OnMergeRequests("main"))),
			job("b", "build", pipeline.When(pipeline.OnMergeRequests("release/*"))),
		},
		want: map[string]any{"pull_request": map[string]any{"branches": []any{"main", "release/**"}}, "workflow_dispatch": dispatch},
	}, {
		name: "pull requests unfiltered when one rule takes any target",
		jobs: []pipeline.Option{
			job("a", "build", pipeline.When(pipeline.OnMergeRequests("main"))),
			job("b", "build", pipeline.When(pipeline.OnMergeRequests())),
		},
		want: map[string]any{"pull_request": map[string]any{}, "workflow_dispatch": dispatch},
	}, {
		name: "schedule with the default cron",
		jobs: []pipeline.Option{job("a", "build", pipeline.When(pipeline.OnSchedule()))},
		want: map[string]any{"schedule": []any{map[string]any{"cron": "0 3 * * 1"}}, "workflow_dispatch": dispatch},
	}, {
		name: "schedule with a chosen cron",
		jobs: []pipeline.Option{job("a", "build", pipeline.When(pipeline.OnSchedule()))},
		opts: []github.Option{github.ScheduleCron("30 5 * * *")},
		want: map[string]any{"schedule": []any{map[string]any{"cron": "30 5 * * *"}}, "workflow_dispatch": dispatch},
	}, {
		name: "dispatch only",
		jobs: []pipeline.Option{job("a", "build", pipeline.When(pipeline.OnDispatch()))},
		want: map[string]any{"workflow_dispatch": dispatch},
	}, {
		name: "a job without rules runs for every event",
		jobs: []pipeline.Option{
			job("a", "build"),
			job("b", "build", pipeline.When(pipeline.OnMergeRequests("main"))),
		},
		want: map[string]any{
			"push":              map[string]any{"branches": []any{"**"}, "tags": []any{"**"}},
			"pull_request":      map[string]any{},
			"workflow_dispatch": dispatch,
		},
	}, {
		name: "the same changes everywhere become the workflow's paths",
		jobs: []pipeline.Option{
			job("a", "build", pipeline.When(pipeline.OnBranches("main").WithChanges("src/**", "go.mod"), pipeline.OnMergeRequests().WithChanges("go.mod", "src/**"))),
			job("b", "build", pipeline.When(pipeline.OnTags("v*").WithChanges("src/**", "go.mod", "go.mod"))),
		},
		want: map[string]any{
			"push":              map[string]any{"branches": []any{"main"}, "tags": []any{"v**"}, "paths": []any{"go.mod", "src/**"}},
			"pull_request":      map[string]any{"paths": []any{"go.mod", "src/**"}},
			"workflow_dispatch": dispatch,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, doc := generate(t, build(t, tt.jobs...), tt.opts...)
			if diff := cmp.Diff(tt.want, doc["on"]); diff != "" {
				t.Errorf("on: (-want +got)\n%s", diff)
			}
		})
	}
}

func TestIf(t *testing.T) {
	tests := []struct {
		name  string
		rules []pipeline.Rule
		want  string // "" means no if: key
	}{
		{"no rules", nil, ""},
		{"exact branch", []pipeline.Rule{pipeline.OnBranches("develop")},
			"github.event_name == 'push' && github.ref == 'refs/heads/develop'"},
		{"branch prefix", []pipeline.Rule{pipeline.OnBranches("release/*")},
			"github.event_name == 'push' && startsWith(github.ref, 'refs/heads/release/')"},
		{"any branch", []pipeline.Rule{pipeline.OnBranches()},
			"github.event_name == 'push' && startsWith(github.ref, 'refs/heads/')"},
		{"any branch as *", []pipeline.Rule{pipeline.OnBranches("main", "*")},
			"github.event_name == 'push' && startsWith(github.ref, 'refs/heads/')"},
		{"two branches", []pipeline.Rule{pipeline.OnBranches("develop", "main")},
			"github.event_name == 'push' && (github.ref == 'refs/heads/develop' || github.ref == 'refs/heads/main')"},
		{"quote in a branch name", []pipeline.Rule{pipeline.OnBranches("it's")},
			"github.event_name == 'push' && github.ref == 'refs/heads/it''s'"},
		{"tag prefix", []pipeline.Rule{pipeline.OnTags("v*")},
			"github.event_name == 'push' && startsWith(github.ref, 'refs/tags/v')"},
		{"exact tag", []pipeline.Rule{pipeline.OnTags("stable")},
			"github.event_name == 'push' && github.ref == 'refs/tags/stable'"},
		{"any tag", []pipeline.Rule{pipeline.OnTags()},
			"github.event_name == 'push' && startsWith(github.ref, 'refs/tags/')"},
		{"any pull request", []pipeline.Rule{pipeline.OnMergeRequests()},
			"github.event_name == 'pull_request'"},
		{"pull request to main", []pipeline.Rule{pipeline.OnMergeRequests("main")},
			"github.event_name == 'pull_request' && github.base_ref == 'main'"},
		{"pull request to a prefix", []pipeline.Rule{pipeline.OnMergeRequests("release/*")},
			"github.event_name == 'pull_request' && startsWith(github.base_ref, 'release/')"},
		{"schedule", []pipeline.Rule{pipeline.OnSchedule()},
			"github.event_name == 'schedule'"},
		{"dispatch", []pipeline.Rule{pipeline.OnDispatch()},
			"github.event_name == 'workflow_dispatch'"},
		{"several rules", []pipeline.Rule{pipeline.OnBranches("main"), pipeline.OnTags("v*"), pipeline.OnMergeRequests()},
			"(github.event_name == 'push' && github.ref == 'refs/heads/main') || (github.event_name == 'push' && startsWith(github.ref, 'refs/tags/v')) || github.event_name == 'pull_request'"},
		{"identical rules once", []pipeline.Rule{pipeline.OnBranches("main"), pipeline.OnBranches("main")},
			"github.event_name == 'push' && github.ref == 'refs/heads/main'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, doc := generate(t, build(t, job("a", "build", pipeline.When(tt.rules...))))
			got, ok := jobOf(t, doc, "a")["if"]
			if tt.want == "" {
				if ok {
					t.Fatalf("if: %q, want none", got)
				}
				return
			}
			if got != tt.want {
				t.Errorf("if:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestStageOrder checks that jobs without needs wait for the earlier stages,
// as GitLab runs them, but still run when those jobs were skipped by rules.
func TestStageOrder(t *testing.T) {
	p := build(t,
		job("a1", "build"),
		job("a2", "build"),
		job("b1", "test", pipeline.Needs("a1")),
		job("b2", "test"),
		job("c:1", "deploy"),
		job("c2", "deploy", pipeline.When(pipeline.OnBranches("main"))),
		job("c3", "deploy", pipeline.When(pipeline.OnBranches("main"), pipeline.OnTags())),
		// Needs only jobs whose ancestors all declare needs: GitHub's
		// default applies.
		job("c4", "deploy", pipeline.Needs("b1")),
		// Needs a job that follows stage order, which may run after a
		// skipped job: it checks the results of what it needs.
		job("c5", "deploy", pipeline.Needs("b1", "b2"), pipeline.When(pipeline.OnBranches("main"))),
		// And so does every job after it.
		job("c6", "deploy", pipeline.Needs("c5")),
	)
	_, doc := generate(t, p)
	tests := []struct {
		id    string
		needs []any
		cond  any
	}{
		{"a1", nil, nil},
		{"a2", nil, nil},
		{"b1", []any{"a1"}, nil},
		{"b2", []any{"a1", "a2"}, "${{ !cancelled() && !failure() }}"},
		// a1 and a2 are already waited for by b1 and b2.
		{"c-1", []any{"b1", "b2"}, "${{ !cancelled() && !failure() }}"},
		{"c2", []any{"b1", "b2"}, "${{ !cancelled() && !failure() && github.event_name == 'push' && github.ref == 'refs/heads/main' }}"},
		{"c3", []any{"b1", "b2"}, "${{ !cancelled() && !failure() && ((github.event_name == 'push' && github.ref == 'refs/heads/main') || (github.event_name == 'push' && startsWith(github.ref, 'refs/tags/'))) }}"},
		{"c4", []any{"b1"}, nil},
		{"c5", []any{"b1", "b2"}, "${{ !cancelled() && needs.b1.result == 'success' && needs.b2.result == 'success' && github.event_name == 'push' && github.ref == 'refs/heads/main' }}"},
		{"c6", []any{"c5"}, "${{ !cancelled() && needs.c5.result == 'success' }}"},
	}
	for _, tt := range tests {
		j := jobOf(t, doc, tt.id)
		var needs []any
		if n, ok := j["needs"]; ok {
			needs = n.([]any)
		}
		if diff := cmp.Diff(tt.needs, needs); diff != "" {
			t.Errorf("job %s needs: (-want +got)\n%s", tt.id, diff)
		}
		if j["if"] != tt.cond {
			t.Errorf("job %s if:\n got %v\nwant %v", tt.id, j["if"], tt.cond)
		}
	}
}

func TestEnvironmentAndApproval(t *testing.T) {
	p := build(t,
		job("build", "build"),
		job("deploy:staging", "deploy", pipeline.Deploys(pipeline.Environment{Name: "staging", Tier: pipeline.Staging})),
		job("deploy:production", "deploy", pipeline.Approval(),
			pipeline.Deploys(pipeline.Environment{Name: "production", URL: "https://example.com", Tier: pipeline.Production})),
		job("release:gate", "deploy", pipeline.Approval()),
	)
	b, doc := generate(t, p)
	tests := []struct {
		id   string
		want any
	}{
		{"build", nil},
		{"deploy-staging", map[string]any{"name": "staging"}},
		{"deploy-production", map[string]any{"name": "production", "url": "https://example.com"}},
		// GitHub can make a job wait only through an environment.
		{"release-gate", map[string]any{"name": "release-gate"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, jobOf(t, doc, tt.id)["environment"]); diff != "" {
			t.Errorf("job %s environment: (-want +got)\n%s", tt.id, diff)
		}
	}
	want := "# Environments that need required reviewers (Settings > Environments), or their jobs\n# run without approval: production, release-gate.\n"
	if !bytes.Contains(b, []byte(want)) {
		t.Errorf("the header does not list the gated environments %q:\n%s", want, b)
	}

	b, _ = generate(t, build(t, job("a", "build")))
	if !bytes.Contains(b, []byte("# Environments that need required reviewers: none.\n")) {
		t.Errorf("the header does not say that no environment needs reviewers:\n%s", b)
	}
}

func TestOutputs(t *testing.T) {
	p := build(t,
		job("build", "build", pipeline.Calls(pipeline.Fn("publish", pipeline.Dir("source", "."))), pipeline.Outputs("IMAGE_REF")),
		job("scan", "test", pipeline.Needs("build"), pipeline.Retry(1), pipeline.Outputs("REPORT"),
			pipeline.Calls(pipeline.Fn("scan", pipeline.FromJob("image", "build", "IMAGE_REF")))),
		job("deploy:it", "deploy", pipeline.Needs("build", "scan"),
			pipeline.Calls(pipeline.Fn("deploy", pipeline.FromJob("image", "build", "IMAGE_REF"), pipeline.FromJob("report", "scan", "REPORT")))),
	)
	_, doc := generate(t, p)

	producer := jobOf(t, doc, "build")
	if diff := cmp.Diff(map[string]any{"IMAGE_REF": "${{ steps.call.outputs.value }}"}, producer["outputs"]); diff != "" {
		t.Errorf("build outputs: (-want +got)\n%s", diff)
	}
	call := stepOf(t, producer, "dagger call")
	if call["id"] != "call" {
		t.Errorf("the producing step's id is %v, want call", call["id"])
	}
	wantRun := "IMAGE_REF=\"$(dagger call publish --source=.)\"\necho \"value=$IMAGE_REF\" >> \"$GITHUB_OUTPUT\"\n"
	if call["run"] != wantRun {
		t.Errorf("build run:\n%s\nwant:\n%s", call["run"], wantRun)
	}

	scan := stepOf(t, jobOf(t, doc, "scan"), "dagger call")
	wantRun = `for attempt in 1 2; do
  if REPORT="$(dagger call scan --image="$IMAGE_REF")"; then break; fi
  if [ "$attempt" = 2 ]; then exit 1; fi
  sleep 10
done
echo "value=$REPORT" >> "$GITHUB_OUTPUT"
`
	if scan["run"] != wantRun {
		t.Errorf("scan run:\n%s\nwant:\n%s", scan["run"], wantRun)
	}

	consumer := jobOf(t, doc, "deploy-it")
	if _, ok := consumer["outputs"]; ok {
		t.Errorf("a job without Outputs has outputs: %v", consumer["outputs"])
	}
	step := stepOf(t, consumer, "dagger call")
	if _, ok := step["id"]; ok {
		t.Errorf("a step without output has an id: %v", step["id"])
	}
	wantEnv := map[string]any{
		"IMAGE_REF": "${{ needs.build.outputs.IMAGE_REF }}",
		"REPORT":    "${{ needs.scan.outputs.REPORT }}",
	}
	if diff := cmp.Diff(wantEnv, step["env"]); diff != "" {
		t.Errorf("consumer env: (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff([]any{"build", "scan"}, consumer["needs"]); diff != "" {
		t.Errorf("consumer needs: (-want +got)\n%s", diff)
	}
}

func TestPermissions(t *testing.T) {
	p := build(t,
		job("plain", "build"),
		job("scan", "build", pipeline.Reports(pipeline.Report{Kind: pipeline.SARIF, Path: "a.sarif"})),
		job("junit", "build", pipeline.Reports(pipeline.Report{Kind: pipeline.JUnit, Path: "junit.xml"})),
		job("deploy", "deploy", pipeline.Deploys(pipeline.Environment{Name: "staging", Tier: pipeline.Staging})),
	)
	_, doc := generate(t, p)
	if diff := cmp.Diff(map[string]any{}, doc["permissions"]); diff != "" {
		t.Errorf("workflow permissions: (-want +got)\n%s", diff)
	}
	read := map[string]any{"contents": "read"}
	tests := []struct {
		id   string
		want map[string]any
	}{
		{"plain", read},
		{"scan", map[string]any{"contents": "read", "security-events": "write", "actions": "read"}},
		{"junit", read},
		{"deploy", read},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, jobOf(t, doc, tt.id)["permissions"]); diff != "" {
			t.Errorf("job %s permissions: (-want +got)\n%s", tt.id, diff)
		}
	}
}

var secretLine = regexp.MustCompile(`^ +([A-Z_]+): \$\{\{ secrets\.([A-Z_]+) \}\}$`)

func TestSecretsOnlyInStepEnv(t *testing.T) {
	p := build(t, job("deploy", "deploy", pipeline.Calls(
		pipeline.Fn("deploy", pipeline.Secret("token", "API_TOKEN"), pipeline.String("mode", "fast")).
			Then("with-auth", pipeline.Secret("password", "REGISTRY_PASSWORD")))))
	b, doc := generate(t, p)
	step := stepOf(t, jobOf(t, doc, "deploy"), "dagger call")
	wantEnv := map[string]any{
		"API_TOKEN":         "${{ secrets.API_TOKEN }}",
		"REGISTRY_PASSWORD": "${{ secrets.REGISTRY_PASSWORD }}",
	}
	if diff := cmp.Diff(wantEnv, step["env"]); diff != "" {
		t.Errorf("step env: (-want +got)\n%s", diff)
	}
	wantRun := "dagger call deploy --token=env://API_TOKEN --mode=fast with-auth --password=env://REGISTRY_PASSWORD\n"
	if step["run"] != wantRun {
		t.Errorf("run:\n%s\nwant:\n%s", step["run"], wantRun)
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.Contains(l, "secrets.") {
			continue
		}
		n++
		if m := secretLine.FindStringSubmatch(l); m == nil || m[1] != m[2] {
			t.Errorf("a secret is used outside a step env entry of its own name: %q", l)
		}
	}
	if n != 2 {
		t.Errorf("%d lines name secrets, want 2:\n%s", n, b)
	}
	if want := "# Secrets that must exist (Settings > Secrets and variables > Actions): API_TOKEN, REGISTRY_PASSWORD.\n"; !bytes.Contains(b, []byte(want)) {
		t.Errorf("the header does not list the secrets %q:\n%s", want, b)
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		retries int
		want    string
	}{
		{0, "dagger call run\n"},
		{1, "for attempt in 1 2; do\n  if dagger call run; then break; fi\n  if [ \"$attempt\" = 2 ]; then exit 1; fi\n  sleep 10\ndone\n"},
		{2, "for attempt in 1 2 3; do\n  if dagger call run; then break; fi\n  if [ \"$attempt\" = 3 ]; then exit 1; fi\n  sleep 10\ndone\n"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.retries), func(t *testing.T) {
			_, doc := generate(t, build(t, job("a", "build", pipeline.Retry(tt.retries))))
			if got := stepOf(t, jobOf(t, doc, "a"), "dagger call")["run"]; got != tt.want {
				t.Errorf("run:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestJobSettings(t *testing.T) {
	tests := []struct {
		name string
		opts []pipeline.Option
		job  []pipeline.JobOption
		key  string
		want any // nil means the key is absent
	}{
		{"no timeout", nil, nil, "timeout-minutes", nil},
		{"timeout", nil, []pipeline.JobOption{pipeline.Timeout(90 * time.Minute)}, "timeout-minutes", 90},
		{"allow failure", nil, []pipeline.JobOption{pipeline.AllowFailure()}, "continue-on-error", true},
		{"must not fail", nil, nil, "continue-on-error", nil},
		{"default runs-on", nil, nil, "runs-on", "ubuntu-latest"},
		{"pipeline runs-on", []pipeline.Option{pipeline.DefaultRunsOn("self-hosted", "linux")}, nil, "runs-on", []any{"self-hosted", "linux"}},
		{"job runs-on", []pipeline.Option{pipeline.DefaultRunsOn("self-hosted", "linux")}, []pipeline.JobOption{pipeline.RunsOn("big")}, "runs-on", "big"},
		{"job runs-on list", nil, []pipeline.JobOption{pipeline.RunsOn("self-hosted", "dagger")}, "runs-on", []any{"self-hosted", "dagger"}},
		{"concurrency group", nil, []pipeline.JobOption{pipeline.Concurrency("production")}, "concurrency",
			map[string]any{"group": "production", "cancel-in-progress": false}},
		{"no concurrency group", nil, nil, "concurrency", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := append(tt.opts, job("a", "build", tt.job...))
			_, doc := generate(t, build(t, opts...))
			if diff := cmp.Diff(tt.want, jobOf(t, doc, "a")[tt.key]); diff != "" {
				t.Errorf("%s: (-want +got)\n%s", tt.key, diff)
			}
		})
	}
}

func TestWorkflowConcurrency(t *testing.T) {
	main := pipeline.When(pipeline.OnBranches("main"))
	tests := []struct {
		name string
		jobs []pipeline.Option
		want any
	}{
		{"nothing interruptible", []pipeline.Option{job("a", "build"), job("b", "build")}, false},
		{"everything interruptible", []pipeline.Option{job("a", "build", pipeline.Interruptible()), job("b", "build", pipeline.Interruptible())}, true},
		{"deploys only on main", []pipeline.Option{
			job("a", "build", pipeline.Interruptible()),
			job("d", "deploy", main),
		}, "${{ github.event_name == 'pull_request' }}"},
		{"a job that may not be interrupted runs on pull requests", []pipeline.Option{
			job("a", "build", pipeline.Interruptible()),
			job("b", "build", pipeline.When(pipeline.OnMergeRequests())),
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, doc := generate(t, build(t, tt.jobs...))
			want := map[string]any{"group": "${{ github.workflow }}-${{ github.ref }}", "cancel-in-progress": tt.want}
			if diff := cmp.Diff(want, doc["concurrency"]); diff != "" {
				t.Errorf("concurrency: (-want +got)\n%s", diff)
			}
		})
	}
}

func TestReports(t *testing.T) {
	p := build(t,
		job("scan", "build", pipeline.Reports(
			pipeline.Report{Kind: pipeline.SARIF, Path: "a.sarif"},
			pipeline.Report{Kind: pipeline.SARIF, Path: "b.sarif"},
			pipeline.Report{Kind: pipeline.GitLabSAST, Path: "gl-sast.json"},
		)),
		job("test", "build",
			pipeline.Reports(pipeline.Report{Kind: pipeline.JUnit, Path: "out/junit.xml"}, pipeline.Report{Kind: pipeline.Cobertura, Path: "out/cover.xml"}),
			pipeline.KeepArtifacts(36*time.Hour, "out/junit.xml", "dist/")),
		job("bin", "build", pipeline.KeepArtifacts(0, "bin/")),
		job("plain", "build"),
	)
	_, doc := generate(t, p)
	steps := func(id string) []any { return jobOf(t, doc, id)["steps"].([]any) }

	scan := steps("scan")
	want := []any{
		map[string]any{"name": "Upload SARIF a.sarif", "if": "always()", "uses": github.UploadSARIFAction,
			"with": map[string]any{"sarif_file": "a.sarif", "category": "scan-1"}},
		map[string]any{"name": "Upload SARIF b.sarif", "if": "always()", "uses": github.UploadSARIFAction,
			"with": map[string]any{"sarif_file": "b.sarif", "category": "scan-2"}},
		map[string]any{"name": "Upload reports", "if": "always()", "uses": github.UploadArtifactAction,
			"with": map[string]any{"name": "scan-reports", "path": "gl-sast.json\n", "retention-days": 7, "if-no-files-found": "warn"}},
	}
	if diff := cmp.Diff(want, scan[3:]); diff != "" {
		t.Errorf("scan upload steps: (-want +got)\n%s", diff)
	}
	wantWith := map[string]any{"name": "test-reports", "path": "out/junit.xml\nout/cover.xml\ndist/\n", "retention-days": 2, "if-no-files-found": "warn"}
	if diff := cmp.Diff(wantWith, stepOf(t, jobOf(t, doc, "test"), "Upload reports")["with"]); diff != "" {
		t.Errorf("test upload: (-want +got)\n%s", diff)
	}
	if got := stepOf(t, jobOf(t, doc, "bin"), "Upload reports")["with"].(map[string]any)["retention-days"]; got != 7 {
		t.Errorf("retention-days without an expiry = %v, want 7", got)
	}
	if n := len(steps("plain")); n != 3 {
		t.Errorf("a job without reports has %d steps, want 3 (checkout, Dagger, call)", n)
	}
}

func TestStepsAreTheShim(t *testing.T) {
	p := build(t, pipeline.Module("ci"), pipeline.DaggerVersion("v0.19.11"),
		job("a", "build", pipeline.Calls(pipeline.Fn("build", pipeline.FromVar("sha", pipeline.CommitSHA),
			pipeline.FromVar("ref", pipeline.RefName), pipeline.FromVar("run", pipeline.PipelineID), pipeline.FromVar("repo", pipeline.RepositoryURL)))))
	_, doc := generate(t, p)
	want := []any{
		map[string]any{"name": "Check out", "uses": github.CheckoutAction, "with": map[string]any{"persist-credentials": false}},
		map[string]any{"name": "Set up Dagger v0.19.11", "run": pipeline.DaggerInstall("v0.19.11")[1] + "\n" +
			`echo "$HOME/.local/bin" >> "$GITHUB_PATH"` + "\n"},
		map[string]any{"name": "dagger call build",
			"env": map[string]any{"SLIPWAY_REPOSITORY_URL": "${{ github.server_url }}/${{ github.repository }}"},
			"run": `dagger -m ci call build --sha="$GITHUB_SHA" --ref="$GITHUB_REF_NAME" --run="$GITHUB_RUN_ID" --repo="$SLIPWAY_REPOSITORY_URL"` + "\n"},
	}
	if diff := cmp.Diff(want, jobOf(t, doc, "a")["steps"]); diff != "" {
		t.Errorf("steps: (-want +got)\n%s", diff)
	}
}

func TestPinnedActions(t *testing.T) {
	b, _ := generate(t, reference(t))
	pinned := regexp.MustCompile(`^ +uses: [a-z-]+/[a-z/-]+@[0-9a-f]{40} # v[0-9]+\.[0-9]+\.[0-9]+$`)
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "uses:") {
			n++
			if !pinned.MatchString(l) {
				t.Errorf("an action is not pinned by SHA with its version: %q", l)
			}
		}
	}
	if n < 7 {
		t.Errorf("only %d uses: lines in the reference workflow", n)
	}
}

func TestVariablesAndLiterals(t *testing.T) {
	p := build(t,
		pipeline.Var("GOFLAGS", "-mod=mod"), pipeline.Var("DEBUG", "true"), pipeline.Var("AAA", "${{ github.token }}"),
		job("a", "build", pipeline.Calls(pipeline.Fn("run", pipeline.String("msg", "${{ github.event.head_commit.message }}"), pipeline.FromEnv("flags", "GOFLAGS")))),
	)
	b, doc := generate(t, p)
	// Defaults a repository variable of the same name overrides (as a
	// project variable does on GitLab); a default holding "{{" cannot sit in
	// an expression and stays a plain, escaped value.
	want := map[string]any{"AAA": "${{ '${{' }} github.token }}", "DEBUG": "${{ vars.DEBUG || 'true' }}", "GOFLAGS": "${{ vars.GOFLAGS || '-mod=mod' }}"}
	if diff := cmp.Diff(want, doc["env"]); diff != "" {
		t.Errorf("env: (-want +got)\n%s", diff)
	}
	if !bytes.Contains(b, []byte("env:\n  AAA: ${{ '${{' }} github.token }}\n  DEBUG: ${{ vars.DEBUG || 'true' }}\n  GOFLAGS: ${{ vars.GOFLAGS || '-mod=mod' }}\n")) {
		t.Errorf("env is not sorted:\n%s", b)
	}
	_, qdoc := generate(t, build(t, pipeline.Var("QUOTE", "it's"), job("a", "build", pipeline.Calls(pipeline.Fn("run", pipeline.FromEnv("q", "QUOTE"))))))
	if got := qdoc["env"].(map[string]any)["QUOTE"]; got != "${{ vars.QUOTE || 'it''s' }}" {
		t.Errorf("QUOTE: %v, want the quote doubled inside the expression's string", got)
	}
	wantRun := `dagger call run --msg='${{ '${{' }} github.event.head_commit.message }}' --flags="$GOFLAGS"` + "\n"
	if got := stepOf(t, jobOf(t, doc, "a"), "dagger call")["run"]; got != wantRun {
		t.Errorf("run:\n%s\nwant:\n%s", got, wantRun)
	}
}

func TestHeader(t *testing.T) {
	b, _ := generate(t, reference(t))
	want := `# Code generated by slipway from ci/reference.go; DO NOT EDIT.
# Regenerate with: make generate
#
# GitHub Actions workflow of the pipeline "reference": every job sets up the Dagger CLI v0.19.10
# and runs one ` + "`dagger call`" + `; the logic lives in the Dagger module.
# Environments that need required reviewers (Settings > Environments), or their jobs
# run without approval: production.
# Secrets that must exist (Settings > Secrets and variables > Actions): PRODUCTION_KUBECONFIG, REGISTRY_PASSWORD, STAGING_KUBECONFIG.
name: reference
`
	if !bytes.HasPrefix(b, []byte(want)) {
		t.Errorf("header:\n%s\nwant:\n%s", b[:min(len(b), len(want)+200)], want)
	}

	b, _ = generate(t, build(t, job("a", "build")))
	want = "# Code generated by slipway; DO NOT EDIT.\n#\n"
	if !bytes.HasPrefix(b, []byte(want)) {
		t.Errorf("header without source:\n%s\nwant prefix:\n%s", b, want)
	}
	if bytes.Contains(b, []byte("Regenerate")) {
		t.Errorf("header without a regenerate command mentions one:\n%s", b)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		opts []pipeline.Option
		gen  []github.Option
		want string
	}{{
		name: "a job with the id of the change-detection job",
		opts: []pipeline.Option{
			job("changes", "build", pipeline.When(pipeline.OnBranches().WithChanges("docs/**"))),
			job("b", "build", pipeline.When(pipeline.OnBranches())),
		},
		want: `github: job "changes": its id is "changes", the id of the job that detects changed paths for the jobs' path filters; rename the job`,
	}, {
		name: "secret hides a pipeline variable",
		opts: []pipeline.Option{
			pipeline.Var("TOKEN", "x"),
			job("a", "build", pipeline.Calls(pipeline.Fn("run", pipeline.Secret("token", "TOKEN")))),
		},
		want: `github: job "a": secret "TOKEN" would hide the pipeline variable of the same name; rename one`,
	}, {
		name: "output and secret of the same name",
		opts: []pipeline.Option{
			job("a", "build", pipeline.Outputs("TOKEN")),
			job("b", "test", pipeline.Needs("a"), pipeline.Calls(pipeline.Fn("run", pipeline.Secret("token", "TOKEN"), pipeline.FromJob("value", "a", "TOKEN")))),
		},
		want: `github: job "b": secret "TOKEN" and the output of a "TOKEN" would be the same environment variable; rename one`,
	}, {
		name: "job id not starting with a letter",
		opts: []pipeline.Option{job("1st", "build")},
		want: `github: job "1st": GitHub job ids must start with a letter or _, and this job's is "1st"; rename the job`,
	}, {
		name: "bad cron",
		opts: []pipeline.Option{job("a", "build")},
		gen:  []github.Option{github.ScheduleCron("@weekly")},
		want: `github: schedule cron "@weekly" must have five space-separated fields`,
	}, {
		name: "bad Dagger version",
		opts: []pipeline.Option{pipeline.DaggerVersion("latest; rm -rf /"), job("a", "build")},
		want: `github: Dagger version "latest; rm -rf /" is not a release version such as v0.19.10`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := github.Generate(build(t, tt.opts...), tt.gen...)
			if err == nil {
				t.Fatalf("Generate succeeded, want error %q:\n%s", tt.want, b)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	opts := []pipeline.Option{job("a", "build", pipeline.Calls(pipeline.Fn("run",
		pipeline.Secret("z", "ZED"), pipeline.Secret("a", "ALPHA"), pipeline.Secret("m", "MID"))))}
	for i := range 40 {
		opts = append(opts, pipeline.Var(fmt.Sprintf("V%02d", (i*7)%40), fmt.Sprint(i)))
	}
	first, err := github.Generate(build(t, opts...))
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		// A fresh pipeline each time: its maps are filled in a new order.
		again, err := github.Generate(build(t, opts...))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, again) {
			t.Fatalf("two runs differ:\n%s\n---\n%s", first, again)
		}
	}
	ref := reference(t)
	a, _ := github.Generate(ref)
	b, _ := github.Generate(ref)
	if !bytes.Equal(a, b) {
		t.Fatal("the reference workflow differs between runs")
	}
}

func TestParseBack(t *testing.T) {
	p := reference(t)
	b, _ := generate(t, p)
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	top := root.Content[0]
	var keys []string
	for i := 0; i < len(top.Content); i += 2 {
		k := top.Content[i]
		if k.Tag != "!!str" {
			t.Errorf("top-level key %q has tag %s, want !!str", k.Value, k.Tag)
		}
		keys = append(keys, k.Value)
	}
	if diff := cmp.Diff([]string{"name", "on", "permissions", "concurrency", "jobs"}, keys); diff != "" {
		t.Errorf("top-level keys: (-want +got)\n%s", diff)
	}

	// Decoding into untyped keys shows what a YAML 1.1 reader would turn
	// "on" into; go.yaml.in/yaml/v3 must keep it a string.
	var loose map[any]any
	if err := yaml.Unmarshal(b, &loose); err != nil {
		t.Fatal(err)
	}
	if _, ok := loose["on"]; !ok {
		t.Errorf("the key on is not the string \"on\": keys %v", mapKeys(loose))
	}
	if _, ok := loose[true]; ok {
		t.Error("the key on decoded as the boolean true")
	}

	var wf struct {
		Jobs yaml.Node `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(b, &wf); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := 0; i < len(wf.Jobs.Content); i += 2 {
		ids = append(ids, wf.Jobs.Content[i].Value)
	}
	var want []string
	for _, j := range p.Jobs() {
		want = append(want, j.ID())
	}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("job ids in order: (-want +got)\n%s", diff)
	}

	var typed struct {
		Jobs map[string]struct {
			Needs []string `yaml:"needs"`
			Steps []struct {
				Name string            `yaml:"name"`
				Uses string            `yaml:"uses"`
				Run  string            `yaml:"run"`
				Env  map[string]string `yaml:"env"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(b, &typed); err != nil {
		t.Fatal(err)
	}
	for _, j := range p.Jobs() {
		got := typed.Jobs[j.ID()]
		if len(got.Steps) < 3 || got.Steps[0].Uses != github.CheckoutAction || !strings.HasPrefix(got.Steps[1].Name, "Set up Dagger") {
			t.Errorf("job %s does not start with checkout and the Dagger set-up: %+v", j.ID(), got.Steps)
			continue
		}
		if want := "dagger call " + j.Call.Function; !strings.Contains(got.Steps[2].Run, want) {
			t.Errorf("job %s third step runs %q, want %q", j.ID(), got.Steps[2].Run, want)
		}
		for _, s := range got.Steps[3:] {
			if s.Run != "" {
				t.Errorf("job %s runs more than one command: %q", j.ID(), s.Run)
			}
		}
		for _, n := range got.Needs {
			if _, ok := typed.Jobs[n]; !ok {
				t.Errorf("job %s needs %q, which is not a job", j.ID(), n)
			}
		}
	}
}

func mapKeys(m map[any]any) []any {
	var out []any
	for k := range m {
		out = append(out, k)
	}
	return out
}

// lineDiff shows the first lines where want and got differ.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\nyaml/v3: %q\nfast:    %q", i+1, a, b)
		}
	}
	return "no difference"
}

// TestRandomPipelines generates the workflows of many random pipelines,
// whose values are awkward for shells and YAML, and checks that the fast
// emitter writes exactly what yaml/v3 writes, that the result parses, and
// that every job has its shim steps.
func TestRandomPipelines(t *testing.T) {
	for seed := range int64(150) {
		opt := pipelinetest.WithoutChanges()
		if seed%3 == 0 {
			opt = pipelinetest.SameChanges()
		}
		p := pipelinetest.Random(seed, opt)
		_, doc := generate(t, p)
		for _, j := range p.Jobs() {
			steps, _ := jobOf(t, doc, j.ID())["steps"].([]any)
			if len(steps) < 3 {
				t.Fatalf("seed %d: job %s has %d steps", seed, j.ID(), len(steps))
			}
		}
	}
}
