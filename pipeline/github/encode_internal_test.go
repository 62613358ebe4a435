package github

import (
	"bytes"
	"testing"

	yaml "go.yaml.in/yaml/v3"

	"github.com/slipway-ci/slipway/pipeline"
)

// TestEncodeMatchesWholeDocument checks that encoding the jobs one by one
// yields exactly what encoding the workflow as one document does.
func TestEncodeMatchesWholeDocument(t *testing.T) {
	p, err := pipeline.New("p",
		pipeline.Stages("build", "test"),
		pipeline.Var("EMPTY", ""),
		pipeline.Job("build", pipeline.Stage("build"), pipeline.Retry(2), pipeline.Outputs("REF"),
			pipeline.Calls(pipeline.Fn("build", pipeline.String("msg", "two\n\nlines  "))),
			pipeline.KeepArtifacts(0, "a", "b/"),
			pipeline.When(pipeline.OnBranches("main"))),
		pipeline.Job("test", pipeline.Stage("test"), pipeline.Needs("build"),
			pipeline.Calls(pipeline.Fn("test", pipeline.FromJob("ref", "build", "REF"))),
			pipeline.Reports(pipeline.Report{Kind: pipeline.SARIF, Path: "x.sarif"})),
	)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Generate(p)
	if err != nil {
		t.Fatal(err)
	}
	g := &generator{p: p, cfg: config{cron: DefaultScheduleCron}, jobs: p.Jobs(), vars: p.Variables()}
	g.byName = map[string]*pipeline.JobSpec{}
	for i := range g.jobs {
		g.byName[g.jobs[i].Name] = &g.jobs[i]
	}
	jobs, err := g.jobsNode()
	if err != nil {
		t.Fatal(err)
	}
	root := mapping()
	set(root, "name", str("p"))
	set(root, "jobs", jobs)
	var split, whole bytes.Buffer
	if err := encode(&split, root); err != nil {
		t.Fatal(err)
	}
	if err := encodeDoc(&whole, root); err != nil {
		t.Fatal(err)
	}
	if split.String() != whole.String() {
		t.Errorf("split encoding:\n%s\nwhole:\n%s", split.String(), whole.String())
	}
	if !bytes.HasSuffix(got, whole.Bytes()[len("name: p\n"):]) {
		t.Errorf("Generate's jobs differ from the whole encoding:\n%s", got)
	}
	var back map[string]any
	if err := yaml.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
}
