// Package graph draws a pipeline: its stages as columns, its jobs as boxes
// and its needs as arrows, as Graphviz DOT (which `dot -Tsvg` turns into a
// picture) or as a Mermaid flowchart (which GitHub and GitLab render in
// Markdown).
package graph

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/slipway-ci/slipway/pipeline"
)

// Status colours a job in a drawing, such as a run's outcome; jobs without
// one are drawn plain.
type Status func(job string) (label, color string)

type options struct {
	status Status
}

// Option configures a drawing.
type Option func(*options)

// WithStatus colours each job and adds a label line, such as "passed 12s".
func WithStatus(s Status) Option { return func(o *options) { o.status = s } }

// DOT returns the pipeline as a Graphviz digraph, left to right, one
// cluster per stage.
func DOT(p *pipeline.Pipeline, opts ...Option) []byte {
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "digraph %s {\n", quote(p.Name()))
	b.WriteString("  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", fillcolor=white, fontname=\"Helvetica\"];\n  edge [color=\"#555555\"];\n")
	jobs := p.Jobs()
	for i, s := range p.Stages() {
		fmt.Fprintf(&b, "  subgraph cluster_%d {\n    label=%s; style=dashed; color=\"#999999\";\n", i, quote(s))
		for _, j := range jobs {
			if j.Stage != s {
				continue
			}
			label := j.Name + "\\n" + j.Call.Function
			if j.Approval {
				label += "\\n(manual approval)"
			}
			if j.AllowFailure {
				label += "\\n(may fail)"
			}
			fill := "white"
			if o.status != nil {
				if l, c := o.status(j.Name); l != "" {
					label += "\\n" + l
					fill = c
				}
			}
			fmt.Fprintf(&b, "    %s [label=\"%s\", fillcolor=%s];\n", quote(j.Name), escape(label), quote(fill))
		}
		b.WriteString("  }\n")
	}
	for _, j := range jobs {
		for _, n := range j.Needs {
			fmt.Fprintf(&b, "  %s -> %s;\n", quote(n), quote(j.Name))
		}
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// Mermaid returns the pipeline as a Mermaid flowchart.
func Mermaid(p *pipeline.Pipeline) string {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	id := func(name string) string {
		return strings.NewReplacer(":", "_", "-", "_", " ", "_", ".", "_", "/", "_").Replace(name)
	}
	jobs := p.Jobs()
	for _, s := range p.Stages() {
		fmt.Fprintf(&b, "  subgraph %s [%s]\n", id("stage_"+s), s)
		for _, j := range jobs {
			if j.Stage == s {
				label := j.Name
				if j.Approval {
					label += " · manual"
				}
				if j.AllowFailure {
					label += " · may fail"
				}
				fmt.Fprintf(&b, "    %s[\"%s\"]\n", id(j.Name), label)
			}
		}
		b.WriteString("  end\n")
	}
	for _, j := range jobs {
		for _, n := range j.Needs {
			fmt.Fprintf(&b, "  %s --> %s\n", id(n), id(j.Name))
		}
	}
	return b.String()
}

func quote(s string) string { return `"` + escape(s) + `"` }

func escape(s string) string { return strings.ReplaceAll(s, `"`, `\"`) }
