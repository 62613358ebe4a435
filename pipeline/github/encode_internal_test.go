package github

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/slipway-ci/slipway/pipeline"
)

// awkward returns a pipeline whose values exercise YAML quoting: strings
// that look like other types, indicators, quotes, newlines and non-ASCII.
func awkward(t *testing.T) *pipeline.Pipeline {
	t.Helper()
	values := []string{"", "true", "on", "No", "null", "~", "123", "0x1F", "1e3", "-mod=mod", "--", "- x", "a: b", "a #b", "a#b",
		"#x", "*x", "&x", "!x", "%x", "@x", "`x", "'x'", `"x"`, "{}", "[a]", "x,y", "?x", ":x", "x:", " lead", "trail ", "two\nlines",
		"two\n\nbreaks", "tab\there", "ünïcode", "<<", "=", ".5", "+1", "2026-11-26", "${{ x }}", "it's", `back\slash`, "a|b", "> x"}
	opts := []pipeline.Option{pipeline.Stages("build", "test")}
	var args []pipeline.Arg
	for i, v := range values {
		opts = append(opts, pipeline.Var(fmt.Sprintf("V%02d", i), v))
		args = append(args, pipeline.String(fmt.Sprintf("a%d", i), v))
	}
	opts = append(opts,
		pipeline.Job("build", pipeline.Stage("build"), pipeline.Retry(2), pipeline.Outputs("REF"),
			pipeline.Calls(pipeline.Fn("build", args...)),
			pipeline.KeepArtifacts(0, "a", "b/", "it's", "on", "*.log"),
			pipeline.Concurrency("on"), pipeline.RunsOn("true", "x: y"),
			pipeline.When(pipeline.OnBranches("main", "on", "it's", "1.x", "release/*"))),
		pipeline.Job("on", pipeline.Stage("test"), pipeline.Needs("build"), pipeline.Timeout(time.Hour),
			pipeline.Calls(pipeline.Fn("test", pipeline.FromJob("ref", "build", "REF"))),
			pipeline.Reports(pipeline.Report{Kind: pipeline.SARIF, Path: "x.sarif"})),
		pipeline.Job("true", pipeline.Stage("test"), pipeline.Calls(pipeline.Fn("test")),
			pipeline.Deploys(pipeline.Environment{Name: "prod: eu", URL: "https://example.com/a#b", Tier: pipeline.Production}), pipeline.Approval()),
	)
	p, err := pipeline.New("p", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEmitterMatchesYAML checks that the fast emitter writes exactly what
// yaml/v3 writes for the same nodes.
func TestEmitterMatchesYAML(t *testing.T) {
	for name, p := range map[string]*pipeline.Pipeline{"awkward": awkward(t), "two jobs": twoJobs(t)} {
		t.Run(name, func(t *testing.T) {
			g, err := newGenerator(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			root, err := g.document()
			if err != nil {
				t.Fatal(err)
			}
			var fast, slow bytes.Buffer
			e := &emitter{}
			if err := e.encode(&fast, root); err != nil {
				t.Fatal(err)
			}
			if err := encodeDoc(&slow, root); err != nil {
				t.Fatal(err)
			}
			if fast.String() != slow.String() {
				t.Errorf("fast emitter:\n%s\nyaml/v3:\n%s", fast.String(), slow.String())
			}
			var back map[string]any
			if err := yaml.Unmarshal(fast.Bytes(), &back); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func twoJobs(t *testing.T) *pipeline.Pipeline {
	p, err := pipeline.New("p",
		pipeline.Stages("build", "test"),
		pipeline.Job("build", pipeline.Stage("build"), pipeline.Calls(pipeline.Fn("build"))),
		pipeline.Job("test", pipeline.Stage("test"), pipeline.Calls(pipeline.Fn("test"))),
	)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
