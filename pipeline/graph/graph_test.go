package graph_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/graph"
)

func sample(t *testing.T) *pipeline.Pipeline {
	t.Helper()
	p, err := pipeline.New("svc",
		pipeline.Stages("build", "deploy"),
		pipeline.Job("build", pipeline.Stage("build"), pipeline.Calls(pipeline.Fn("publish"))),
		pipeline.Job("deploy:production", pipeline.Stage("deploy"), pipeline.Needs("build"), pipeline.Approval(),
			pipeline.Deploys(pipeline.Environment{Name: "production", Tier: pipeline.Production}),
			pipeline.Calls(pipeline.Fn("deploy"))),
	)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDOT(t *testing.T) {
	dot := string(graph.DOT(sample(t), graph.WithStatus(func(job string) (string, string) {
		if job == "build" {
			return "passed 3s", "palegreen"
		}
		return "", ""
	})))
	for _, want := range []string{
		`subgraph cluster_0 {`,
		`label="build"`,
		`"build" [label="build\npublish\npassed 3s", fillcolor="palegreen"];`,
		`"deploy:production" [label="deploy:production\ndeploy\n(manual approval)", fillcolor="white"];`,
		`"build" -> "deploy:production";`,
	} {
		if !strings.Contains(dot, want) {
			t.Errorf("DOT lacks %q:\n%s", want, dot)
		}
	}
	// When Graphviz is installed, the DOT must render.
	if _, err := exec.LookPath("dot"); err == nil {
		cmd := exec.Command("dot", "-Tsvg")
		cmd.Stdin = strings.NewReader(dot)
		out, err := cmd.Output()
		if err != nil || !strings.Contains(string(out), "<svg") {
			t.Fatalf("dot -Tsvg: %v\n%s", err, out)
		}
	}
}

func TestMermaid(t *testing.T) {
	m := graph.Mermaid(sample(t))
	want := "flowchart LR\n  subgraph stage_build [build]\n    build[\"build\"]\n  end\n  subgraph stage_deploy [deploy]\n    deploy_production[\"deploy:production · manual\"]\n  end\n  build --> deploy_production\n"
	if m != want {
		t.Errorf("Mermaid:\n%s\nwant:\n%s", m, want)
	}
}
