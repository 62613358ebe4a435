package gitlab_test

import (
	"bytes"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/gitlab"
)

// TestPrinterMatchesYAML checks that the fast printer writes exactly what
// yaml.v3 writes for the same tree, including scalars that need quoting and
// trees the printer hands back to yaml.v3.
func TestPrinterMatchesYAML(t *testing.T) {
	ref, err := reference()
	if err != nil {
		t.Fatal(err)
	}
	mono, err := synthetic(10, 30)
	if err != nil {
		t.Fatal(err)
	}
	awkward := func(extra ...pipeline.Option) *pipeline.Pipeline {
		t.Helper()
		values := []string{"true", "no", "1.5", "0x1F", "null", "~", "- item", "a: b", "#note", "x #y", "'quoted'", `"double"`,
			"üñíçødé", "tab\there", " lead", "trail ", "@at", "`tick`", "*star", "&amp", "!bang", "%pct", "{b}", "[s]", "|pipe", ">gt", "?q", ": colon"}
		opts := []pipeline.Option{
			pipeline.Stages("build", "deploy prod"),
			pipeline.Job("build:all the things", pipeline.Stage("build"), pipeline.Outputs("OUT"),
				pipeline.Calls(pipeline.Fn("build", pipeline.String("msg", "it's: #1 \"ok\""), pipeline.String("empty", ""))),
				pipeline.Coverage(`^\s*total: (\d+)%$`)),
			pipeline.Job("2nd", pipeline.Stage("deploy prod"), pipeline.Needs("build:all the things"),
				pipeline.Calls(pipeline.Fn("deploy", pipeline.FromJob("ref", "build:all the things", "OUT"))),
				pipeline.When(pipeline.OnBranches(`it's`, "true", "release/*").WithChanges("a b/**", "*.go")),
				pipeline.KeepArtifacts(0, "- odd", "yes")),
		}
		for i, v := range values {
			opts = append(opts, pipeline.Var("V"+strings.Repeat("X", i), v))
		}
		p, err := pipeline.New("awkward", append(opts, extra...)...)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name string
		p    *pipeline.Pipeline
	}{
		{"reference", ref},
		{"synthetic", mono},
		{"awkward scalars", awkward()},
		{"empty value: yaml.v3 alone", awkward(pipeline.Var("EMPTY", ""))},
		{"multi-line value: yaml.v3 alone", awkward(pipeline.Var("LINES", "one\ntwo"))},
		{"long job name: yaml.v3 alone", awkward(pipeline.Job(strings.Repeat("long", 40), pipeline.Stage("build"), pipeline.Calls(pipeline.Fn("x"))))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fast, err := gitlab.Generate(tc.p)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := gitlab.Generate(tc.p, gitlab.YAMLOnly())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(fast, plain) {
				t.Fatalf("the printer and yaml.v3 differ:\n%s", lineDiff(string(plain), string(fast)))
			}
			var doc map[string]any
			if err := yaml.Unmarshal(fast, &doc); err != nil {
				t.Fatalf("output does not parse: %v", err)
			}
			if vars, ok := doc["variables"].(map[string]any); ok {
				for k, v := range vars {
					if _, isStr := v.(string); !isStr {
						if _, isMap := v.(map[string]any); !isMap {
							t.Errorf("variable %s reads back as %T %#v, not a string", k, v, v)
						}
					}
				}
			}
		})
	}
}

// lineDiff shows the first differing line of want and got with context.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return "line " + itoa(i+1) + ":\nyaml.v3: " + wl + "\nprinter: " + gl
		}
	}
	return "(equal)"
}

func itoa(i int) string {
	var b []byte
	for i > 0 || len(b) == 0 {
		b = append([]byte{byte('0' + i%10)}, b...)
		i /= 10
	}
	return string(b)
}
