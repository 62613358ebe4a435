package gitlab_test

import (
	"bytes"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/gitlab"
	"github.com/slipway-ci/slipway/pipeline/pipelinetest"
)

func TestGenerateDeterministic(t *testing.T) {
	ref, err := reference()
	if err != nil {
		t.Fatal(err)
	}
	first, err := gitlab.Generate(ref)
	if err != nil {
		t.Fatal(err)
	}
	// Go randomises map iteration, so a map leaking into the output would
	// show within a few runs.
	for i := range 20 {
		again, err := gitlab.Generate(ref)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, again) {
			t.Fatalf("run %d differs from the first:\n%s\n---\n%s", i, first, again)
		}
	}

	// The same pipeline with its map-backed options given in another order.
	build := func(order []int) []byte {
		t.Helper()
		vars := []pipeline.Option{
			pipeline.Var("ALPHA", "1"), pipeline.Var("BRAVO", "2"), pipeline.Var("CHARLIE", "3"),
			pipeline.Var("DELTA", "4"), pipeline.Var("ECHO", "x$y"),
		}
		sigs := []pipeline.Signature{
			{Name: "build", Args: []string{"source"}},
			{Name: "test", Args: []string{"source", "image"}},
		}
		opts := []pipeline.Option{
			pipeline.Stages("build", "test"),
			pipeline.Job("build", pipeline.Stage("build"), pipeline.Calls(pipeline.Fn("build", pipeline.Dir("source", "."))), pipeline.Outputs("IMAGE")),
			pipeline.Job("test", pipeline.Stage("test"), pipeline.Needs("build"),
				pipeline.Calls(pipeline.Fn("test", pipeline.Dir("source", "."), pipeline.FromJob("image", "build", "IMAGE")))),
		}
		for _, i := range order {
			opts = append(opts, vars[i])
		}
		if order[0] == 0 {
			opts = append(opts, pipeline.Functions(sigs...))
		} else {
			opts = append(opts, pipeline.Functions(sigs[1]), pipeline.Functions(sigs[0]))
		}
		p, err := pipeline.New("order", opts...)
		if err != nil {
			t.Fatal(err)
		}
		out, err := gitlab.Generate(p)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	a := build([]int{0, 1, 2, 3, 4})
	b := build([]int{4, 2, 0, 3, 1})
	if !bytes.Equal(a, b) {
		t.Fatalf("option order changed the output:\n%s\n---\n%s", a, b)
	}
	if !bytes.Contains(a, []byte("variables:\n  ALPHA: \"1\"\n  BRAVO: \"2\"\n  CHARLIE: \"3\"\n  DELTA: \"4\"\n  ECHO:\n")) {
		t.Errorf("variables are not in key order:\n%s", a)
	}
}

// TestGenerateParsesBack checks the reference-like pipeline's file as YAML:
// top-level keys in the documented order, every job's shape, and the
// shims doing nothing but set up Dagger and call it.
func TestGenerateParsesBack(t *testing.T) {
	p, err := reference()
	if err != nil {
		t.Fatal(err)
	}
	out, err := gitlab.Generate(p)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("the output does not parse: %v\n%s", err, out)
	}
	wantKeys := []string{"stages", "workflow", "build", "test:unit", "test:integration", "security:trivy", "security:sast", "deploy:staging", "deploy:production"}
	if got := topLevelKeys(t, out); !slices.Equal(got, wantKeys) {
		t.Errorf("top-level keys = %q, want %q", got, wantKeys)
	}
	if got, want := doc["stages"], []any{"build", "test", "security", "deploy-staging", "deploy-production"}; !reflect.DeepEqual(got, want) {
		t.Errorf("stages = %#v, want %#v", got, want)
	}
	stages := map[string]bool{}
	for _, s := range doc["stages"].([]any) {
		stages[s.(string)] = true
	}
	callRE := regexp.MustCompile(`^(IMAGE_REF="\$\()?dagger call [a-z-]+( |$|\))`)
	for _, name := range wantKeys[2:] {
		j, ok := doc[name].(map[string]any)
		if !ok {
			t.Errorf("job %q is missing or not a map", name)
			continue
		}
		if !stages[j["stage"].(string)] {
			t.Errorf("job %q: stage %q is not declared", name, j["stage"])
		}
		for _, n := range asStrings(j["needs"]) {
			if _, ok := doc[n]; !ok {
				t.Errorf("job %q needs %q, which is not in the file", name, n)
			}
		}
		if got := j["tags"]; !reflect.DeepEqual(got, []any{"dagger"}) {
			t.Errorf("job %q: tags = %#v, want [dagger]", name, got)
		}
		for _, k := range []string{"image", "services", "after_script", "variables"} {
			if _, ok := j[k]; ok {
				t.Errorf("job %q has %q; shims hold only the Dagger set-up and call", name, k)
			}
		}
		if bs := asStrings(j["before_script"]); !slices.Equal(bs, pipeline.DaggerInstall("v0.19.10")) {
			t.Errorf("job %q: before_script = %q, want the pinned Dagger set-up", name, bs)
		}
		script := asStrings(j["script"])
		if len(script) == 0 || !callRE.MatchString(script[0]) {
			t.Errorf("job %q: script = %q, want one dagger call first", name, script)
		}
		calls := 0
		for _, l := range script {
			calls += strings.Count(l, "dagger call")
		}
		if calls != 1 {
			t.Errorf("job %q calls dagger %d times, want once", name, calls)
		}
	}
	prod := doc["deploy:production"].(map[string]any)
	if got, want := prod["environment"], map[string]any{"name": "production", "url": "https://example.com", "deployment_tier": "production"}; !reflect.DeepEqual(got, want) {
		t.Errorf("production environment = %#v, want %#v", got, want)
	}
	for _, r := range prod["rules"].([]any) {
		if r.(map[string]any)["when"] != "manual" {
			t.Errorf("production rule %#v is not manual", r)
		}
	}
	if got := doc["security:sast"].(map[string]any)["allow_failure"]; got != true {
		t.Errorf("security:sast allow_failure = %#v, want true", got)
	}
	if _, ok := doc["security:trivy"].(map[string]any)["allow_failure"]; ok {
		t.Error("security:trivy may not fail, but has allow_failure")
	}
	if bytes.Contains(out, []byte("${{")) || regexp.MustCompile(`--[a-z-]+="?\$[A-Z_]*(PASSWORD|KUBECONFIG)`).Match(out) {
		t.Errorf("a secret reaches a command line as a value:\n%s", out)
	}
}

func topLevelKeys(t *testing.T, out []byte) []string {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal(out, &n); err != nil {
		t.Fatal(err)
	}
	var keys []string
	root := n.Content[0]
	for i := 0; i < len(root.Content); i += 2 {
		keys = append(keys, root.Content[i].Value)
	}
	return keys
}

func asStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// TestGenerateMatchesPlan evaluates the generated workflow and job rules
// the way GitLab does, for pipelines started by each kind of event, and
// checks that they select exactly the jobs pipeline.Plan says, and that no
// selected job needs a job left out (GitLab would refuse the pipeline).
func TestGenerateMatchesPlan(t *testing.T) {
	ref, err := reference()
	if err != nil {
		t.Fatal(err)
	}
	mono, err := synthetic(10, 30)
	if err != nil {
		t.Fatal(err)
	}
	narrowed, err := pipeline.New("narrowed",
		pipeline.Stages("build", "deploy"),
		pipeline.Job("build", pipeline.Stage("build"), pipeline.Calls(pipeline.Fn("build")),
			pipeline.When(pipeline.OnBranches("main", "release/*"), pipeline.OnDispatch(), pipeline.OnSchedule())),
		pipeline.Job("report", pipeline.Stage("deploy"), pipeline.Needs("build"), pipeline.Calls(pipeline.Fn("report"))),
		pipeline.Job("deploy", pipeline.Stage("deploy"), pipeline.Needs("build"), pipeline.Calls(pipeline.Fn("deploy")),
			pipeline.When(pipeline.OnBranches("release/2*"), pipeline.OnTags())),
	)
	if err != nil {
		t.Fatal(err)
	}
	starts := []struct {
		event pipeline.Event
		ref   string
	}{
		{pipeline.Push, "main"}, {pipeline.Push, "develop"}, {pipeline.Push, "feature/login"},
		{pipeline.Push, "release/1.0"}, {pipeline.Push, "release/2.0"},
		{pipeline.TagPush, "v1.2.3"}, {pipeline.TagPush, "nightly"},
		{pipeline.MergeRequest, "main"}, {pipeline.MergeRequest, "develop"},
		{pipeline.Schedule, "main"}, {pipeline.Dispatch, "main"}, {pipeline.Dispatch, "release/2.1"},
		// Refs the random pipelines' patterns match and miss.
		{pipeline.Push, "hotfix/JIRA-1_x"}, {pipeline.Push, "renovate/go-1.x"}, {pipeline.Push, "1.x"},
		{pipeline.Push, "users/a.b"}, {pipeline.Push, "usersXa.b"}, {pipeline.TagPush, "1.x"},
		{pipeline.MergeRequest, "release/3"}, {pipeline.MergeRequest, "feature/x"},
		{pipeline.Schedule, "develop"}, {pipeline.Dispatch, "feature/y"},
	}
	pipelines := []*pipeline.Pipeline{ref, mono, narrowed}
	for seed := int64(0); seed < 60; seed++ {
		pipelines = append(pipelines, pipelinetest.Random(seed))
	}
	for _, p := range pipelines {
		out, err := gitlab.Generate(p)
		if err != nil {
			t.Fatalf("%s: %v", p.Name(), err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(out, &doc); err != nil {
			t.Fatal(err)
		}
		used := map[pipeline.Event]bool{}
		for _, j := range p.Jobs() {
			for _, r := range j.Rules {
				used[r.Event] = true
			}
		}
		for _, st := range starts {
			name := fmt.Sprintf("%s/%s %s", p.Name(), st.event, st.ref)
			if (st.event == pipeline.Schedule || st.event == pipeline.Dispatch) && !used[st.event] {
				// Without such rules the workflow treats these pipelines
				// as pushes (see condition); Plan has no opinion.
				continue
			}
			schedules := []string{""}
			if st.event == pipeline.Schedule && len(p.Schedules()) > 0 {
				// Every schedule sets SLIPWAY_SCHEDULE to its name.
				schedules = nil
				for _, sc := range p.Schedules() {
					schedules = append(schedules, sc.Name)
				}
			}
			for _, sched := range schedules {
				got := simulate(t, doc, p, st.event, st.ref, sched)
				var want []string
				if st.event != pipeline.MergeRequest || used[pipeline.MergeRequest] {
					for _, j := range p.PlanFor(pipeline.Start{Event: st.event, Ref: st.ref, Schedule: sched}) {
						want = append(want, j.Name)
					}
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s %s: GitLab would run\n  %q\nPlan says\n  %q", name, sched, got, want)
				}
				for _, n := range got {
					j, _ := p.Job(n)
					for _, need := range j.Needs {
						if !slices.Contains(got, need) && !j.IsOptional(need) {
							t.Errorf("%s: %q needs %q, which is not in the pipeline: GitLab refuses it", name, n, need)
						}
					}
				}
			}
		}
	}
}

// simulate returns the jobs GitLab creates for a pipeline started by event
// on ref, in the pipeline's job order, by evaluating the `if:` expressions
// slipway writes. Changed paths count as matching, as in Plan.
func simulate(t *testing.T, doc map[string]any, p *pipeline.Pipeline, event pipeline.Event, ref, schedule string) []string {
	t.Helper()
	env := map[string]string{}
	if schedule != "" {
		env[gitlab.ScheduleVariable] = schedule
	}
	// Plan reads RefName conditions from the ref it is given.
	env["CI_COMMIT_REF_NAME"] = ref
	switch event {
	case pipeline.Push:
		env["CI_PIPELINE_SOURCE"], env["CI_COMMIT_BRANCH"] = "push", ref
	case pipeline.TagPush:
		env["CI_PIPELINE_SOURCE"], env["CI_COMMIT_TAG"] = "push", ref
	case pipeline.MergeRequest:
		env["CI_PIPELINE_SOURCE"], env["CI_MERGE_REQUEST_TARGET_BRANCH_NAME"] = "merge_request_event", ref
	case pipeline.Schedule:
		env["CI_PIPELINE_SOURCE"], env["CI_COMMIT_BRANCH"] = "schedule", ref
	case pipeline.Dispatch:
		env["CI_PIPELINE_SOURCE"], env["CI_COMMIT_BRANCH"] = "web", ref
	}
	// first returns the `when` of the first matching rule, "" if none.
	first := func(rules []any) string {
		for _, r := range rules {
			m := r.(map[string]any)
			cond, has := m["if"].(string)
			if has && !evalIf(t, cond, env) {
				continue
			}
			if w, ok := m["when"].(string); ok {
				return w
			}
			return "on_success"
		}
		return ""
	}
	if w := first(doc["workflow"].(map[string]any)["rules"].([]any)); w == "" || w == "never" {
		return nil
	}
	var out []string
	for _, j := range p.Jobs() {
		spec := doc[j.Name].(map[string]any)
		rules, ok := spec["rules"].([]any)
		if w := first(rules); !ok || (w != "" && w != "never" && w != "on_failure") {
			out = append(out, j.Name)
		}
	}
	return out
}

// evalIf evaluates a GitLab CI expression as GitLab does, for the syntax
// slipway writes: $VAR, "text", 'text', /regexp/, null, ==, !=, =~, !~, &&
// (binding tighter than ||) and parentheses. An unset variable is null: it
// equals null, matches no regular expression and is false on its own.
func evalIf(t *testing.T, cond string, env map[string]string) bool {
	t.Helper()
	toks := tokenize(t, cond)
	pos := 0
	type value struct {
		s   string
		set bool
		re  *regexp.Regexp
	}
	var or func() bool
	operand := func() value {
		tok := toks[pos]
		pos++
		switch {
		case strings.HasPrefix(tok, "$"):
			v, ok := env[tok[1:]]
			return value{s: v, set: ok}
		case tok == "null":
			return value{}
		case strings.HasPrefix(tok, "/"):
			return value{re: regexp.MustCompile(strings.ReplaceAll(tok[1:len(tok)-1], `\/`, "/"))}
		case strings.HasPrefix(tok, `"`) || strings.HasPrefix(tok, "'"):
			return value{s: tok[1 : len(tok)-1], set: true}
		}
		t.Fatalf("unexpected %q in %q", tok, cond)
		return value{}
	}
	primary := func() bool {
		if toks[pos] == "(" {
			pos++
			v := or()
			pos++ // ")"
			return v
		}
		left := operand()
		if pos >= len(toks) || toks[pos] == "&&" || toks[pos] == "||" || toks[pos] == ")" {
			return left.set && left.s != ""
		}
		op := toks[pos]
		pos++
		right := operand()
		switch op {
		case "==", "!=":
			eq := left.set == right.set && left.s == right.s
			return eq == (op == "==")
		case "=~", "!~":
			m := left.set && right.re.MatchString(left.s)
			return m == (op == "=~")
		}
		t.Fatalf("unexpected operator %q in %q", op, cond)
		return false
	}
	and := func() bool {
		v := primary()
		for pos < len(toks) && toks[pos] == "&&" {
			pos++
			w := primary()
			v = v && w
		}
		return v
	}
	or = func() bool {
		v := and()
		for pos < len(toks) && toks[pos] == "||" {
			pos++
			w := and()
			v = v || w
		}
		return v
	}
	return or()
}

// tokenize splits a GitLab CI expression into tokens.
func tokenize(t *testing.T, s string) []string {
	var out []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ':
			i++
		case c == '(' || c == ')':
			out = append(out, string(c))
			i++
		case strings.HasPrefix(s[i:], "&&") || strings.HasPrefix(s[i:], "||") || strings.HasPrefix(s[i:], "==") ||
			strings.HasPrefix(s[i:], "!=") || strings.HasPrefix(s[i:], "=~") || strings.HasPrefix(s[i:], "!~"):
			out = append(out, s[i:i+2])
			i += 2
		case c == '"' || c == '\'':
			end := strings.IndexByte(s[i+1:], c)
			out = append(out, s[i:i+end+2])
			i += end + 2
		case c == '/':
			k := i + 1
			for ; k < len(s) && s[k] != '/'; k++ {
				if s[k] == '\\' {
					k++
				}
			}
			out = append(out, s[i:k+1])
			i = k + 1
		default:
			k := i
			for k < len(s) && s[k] != ' ' && s[k] != ')' {
				k++
			}
			out = append(out, s[i:k])
			i = k
		}
	}
	return out
}
