package pipeline

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// InputType is the kind of value a pipeline input takes.
type InputType string

// The input types, as GitHub's workflow_dispatch names them.
const (
	StringInput  InputType = "string"
	BooleanInput InputType = "boolean"
	ChoiceInput  InputType = "choice"
	NumberInput  InputType = "number"
)

// InputSpec is a value a person sets when starting the pipeline by hand
// (GitLab's "Run pipeline" form, GitHub's "Run workflow"): a pipeline
// variable with a description, a type and a default. Jobs read it like any
// pipeline variable, with FromEnv(arg, Name) and Env(Name) conditions.
type InputSpec struct {
	// Name is the variable's name, such as "DEPLOY_TARGET".
	Name string
	// Description says what it is for; both CIs show it in the form.
	Description string
	// Type is what it holds; the zero value is StringInput.
	Type InputType
	// Default is its value when nobody sets it, and in pipelines that were
	// not started by hand.
	Default string
	// Options are the values a ChoiceInput offers.
	Options []string
	// Required makes GitHub's form insist on a value.
	Required bool
}

// Input declares a pipeline input: GitLab gets a variable with a
// description (and options) that the "Run pipeline" form prefills, GitHub a
// workflow_dispatch input whose value the workflow's environment takes, the
// default otherwise. A project or repository variable of the same name
// overrides the default, as for Var.
func Input(in InputSpec) Option {
	return func(p *Pipeline) {
		in.Options = slices.Clone(in.Options)
		if in.Type == "" {
			in.Type = StringInput
		}
		p.inputs = append(p.inputs, in)
	}
}

// Inputs returns the declared inputs, in order.
func (p *Pipeline) Inputs() []InputSpec {
	out := slices.Clone(p.inputs)
	for i := range out {
		out[i].Options = slices.Clone(out[i].Options)
	}
	return out
}

// Input returns the input called name.
func (p *Pipeline) Input(name string) (InputSpec, bool) {
	for _, in := range p.Inputs() {
		if in.Name == name {
			return in, true
		}
	}
	return InputSpec{}, false
}

// inputValueRE is what a default or an option may hold: it is written into
// YAML and expressions of both CIs.
var inputValueRE = regexp.MustCompile(`^[^'"$\x60\\{}\n\r]*$`)

// validateInputs checks the inputs and adds each to the pipeline's
// variables, so jobs and conditions read it as one.
func (p *Pipeline) validateInputs(add func(string, ...any)) {
	seen := map[string]bool{}
	for _, in := range p.inputs {
		ip := func(format string, args ...any) {
			add("input %q: "+format, append([]any{in.Name}, args...)...)
		}
		dup := seen[strings.ToUpper(in.Name)]
		switch {
		case !envNameRE.MatchString(in.Name):
			ip("the name must hold only letters, digits and _ and not start with a digit")
		case reservedPrefix(in.Name) != "":
			ip("names starting with %s are the CI's own; choose another name", reservedPrefix(in.Name))
		case dup:
			ip("is declared twice (GitHub input names ignore case)")
		}
		seen[strings.ToUpper(in.Name)] = true
		if _, clash := p.variables[in.Name]; clash && !dup {
			ip("is also declared with pipeline.Var; an input is a variable already, so drop the Var")
		}
		if strings.TrimSpace(in.Description) == "" || strings.ContainsAny(in.Description, "\n\r") {
			ip("needs a one-line description, which both CIs show in the form")
		}
		for _, v := range append([]string{in.Default}, in.Options...) {
			if !inputValueRE.MatchString(v) {
				ip("value %q may hold no quotes, $, `, \\, braces or line breaks", v)
			}
		}
		switch in.Type {
		case StringInput:
		case BooleanInput:
			if in.Default != "true" && in.Default != "false" {
				ip("a boolean input's default must be \"true\" or \"false\", not %q", in.Default)
			}
		case NumberInput:
			if _, err := strconv.ParseFloat(in.Default, 64); err != nil {
				ip("a number input's default %q is not a number", in.Default)
			}
		case ChoiceInput:
			if len(in.Options) == 0 {
				ip("a choice input needs options")
			} else if !slices.Contains(in.Options, in.Default) {
				ip("the default %q is not one of the options (%s)", in.Default, strings.Join(in.Options, ", "))
			}
		default:
			ip("the type %q is unknown; use StringInput, BooleanInput, ChoiceInput or NumberInput", in.Type)
		}
		if in.Type != ChoiceInput && len(in.Options) > 0 {
			ip("options apply to a ChoiceInput only")
		}
		if _, clash := p.variables[in.Name]; !clash {
			if p.variables == nil {
				p.variables = map[string]string{}
			}
			p.variables[in.Name] = in.Default
		}
	}
}
