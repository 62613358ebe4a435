package pipeline

import (
	"fmt"
	"regexp"
	"strings"
)

// Operand is a value a condition reads: a CI/CD variable of the project
// (Env) or one of the CI's own variables (CIVar).
type Operand struct {
	env string
	ci  Variable
}

// Env is the variable name as the project sets it: a project CI/CD
// variable on GitLab, a repository variable (vars.NAME) on GitHub, falling
// back to the pipeline.Var default of the same name. Use it for toggles such
// as DEPLOY_ENABLED.
func Env(name string) Operand { return Operand{env: name} }

// CIVar is one of the CI's own variables, such as ProjectPath or RefName.
func CIVar(v Variable) Operand { return Operand{ci: v} }

// Name returns the operand's variable name ("" for a CIVar).
func (o Operand) Name() string { return o.env }

// Var returns the operand's CI variable ("" for an Env).
func (o Operand) Var() Variable { return o.ci }

func (o Operand) String() string {
	if o.ci != "" {
		return string(o.ci)
	}
	return o.env
}

// CondOp is the operator of a condition.
type CondOp int

// The condition operators.
const (
	condNone CondOp = iota
	// OpEquals: the operand equals Value.
	OpEquals
	// OpNotEquals: the operand differs from Value (or is unset).
	OpNotEquals
	// OpMatches: the operand matches the regular expression Value (RE2).
	OpMatches
	// OpNotMatches: the operand does not match the regular expression Value.
	OpNotMatches
	// OpSet: the operand is set and not empty.
	OpSet
	// OpUnset: the operand is unset or empty.
	OpUnset
	// OpAnd: every one of Args holds.
	OpAnd
	// OpOr: one of Args holds.
	OpOr
	// OpSameProject: the pipeline does not run for a merge or pull request
	// from a fork; changes from other projects are not trusted with secrets.
	OpSameProject
	// OpFork: the pipeline runs for a merge or pull request from a fork.
	OpFork
)

// Cond is a condition over CI variables, written once and rendered in each
// CI's expression syntax. The zero Cond is "no condition". Negation is
// pushed down to the leaves (Not), because GitLab's expressions have no "!".
type Cond struct {
	// Op is the operator.
	Op CondOp
	// Operand is what a comparison reads.
	Operand Operand
	// Value is what it compares with: a text, or a regular expression.
	Value string
	// Args are the conditions of OpAnd and OpOr.
	Args []Cond
}

// IsZero reports whether c is no condition.
func (c Cond) IsZero() bool { return c.Op == condNone }

// Is is true when the operand equals value.
func (o Operand) Is(value string) Cond { return Cond{Op: OpEquals, Operand: o, Value: value} }

// IsNot is true when the operand differs from value.
func (o Operand) IsNot(value string) Cond { return Cond{Op: OpNotEquals, Operand: o, Value: value} }

// Matches is true when the operand matches the regular expression re (RE2,
// without slashes). GitHub has no regular expressions: there only ^literal,
// literal$, ^literal$ and literal are accepted.
func (o Operand) Matches(re string) Cond { return Cond{Op: OpMatches, Operand: o, Value: re} }

// IsSet is true when the operand is set and not empty.
func (o Operand) IsSet() Cond { return Cond{Op: OpSet, Operand: o} }

// IsUnset is true when the operand is unset or empty.
func (o Operand) IsUnset() Cond { return Cond{Op: OpUnset, Operand: o} }

// And is true when every condition is.
func And(cs ...Cond) Cond { return Cond{Op: OpAnd, Args: cloneConds(cs)} }

// Or is true when one condition is.
func Or(cs ...Cond) Cond { return Cond{Op: OpOr, Args: cloneConds(cs)} }

// SameProject is the fork guard: true unless the pipeline runs for a merge
// or pull request whose source is another project (a fork). Jobs that read
// secrets or push images should carry it on merge request rules.
func SameProject() Cond { return Cond{Op: OpSameProject} }

// ProjectIs is true when the pipeline runs in the project path, such as
// "acme/app", and not in a fork of it.
func ProjectIs(path string) Cond { return CIVar(ProjectPath).Is(path) }

// Not is true when c is false. The negation is pushed down to the leaves:
// Not(Is) is IsNot, Not(And) is Or of the Nots, and so on.
func Not(c Cond) Cond {
	switch c.Op {
	case OpEquals:
		return Cond{Op: OpNotEquals, Operand: c.Operand, Value: c.Value}
	case OpNotEquals:
		return Cond{Op: OpEquals, Operand: c.Operand, Value: c.Value}
	case OpMatches:
		return Cond{Op: OpNotMatches, Operand: c.Operand, Value: c.Value}
	case OpNotMatches:
		return Cond{Op: OpMatches, Operand: c.Operand, Value: c.Value}
	case OpSet:
		return Cond{Op: OpUnset, Operand: c.Operand}
	case OpUnset:
		return Cond{Op: OpSet, Operand: c.Operand}
	case OpSameProject:
		return Cond{Op: OpFork}
	case OpFork:
		return Cond{Op: OpSameProject}
	case OpAnd, OpOr:
		args := make([]Cond, len(c.Args))
		for i, a := range c.Args {
			args[i] = Not(a)
		}
		op := OpOr
		if c.Op == OpOr {
			op = OpAnd
		}
		return Cond{Op: op, Args: args}
	}
	return c
}

func cloneConds(cs []Cond) []Cond {
	out := make([]Cond, len(cs))
	for i, c := range cs {
		out[i] = c.clone()
	}
	return out
}

func (c Cond) clone() Cond {
	out := c
	out.Args = nil
	if c.Args != nil {
		out.Args = cloneConds(c.Args)
	}
	return out
}

// String renders c in a neutral syntax, for messages and as a key.
func (c Cond) String() string {
	switch c.Op {
	case OpEquals:
		return fmt.Sprintf("%s == %q", c.Operand, c.Value)
	case OpNotEquals:
		return fmt.Sprintf("%s != %q", c.Operand, c.Value)
	case OpMatches:
		return fmt.Sprintf("%s =~ /%s/", c.Operand, c.Value)
	case OpNotMatches:
		return fmt.Sprintf("%s !~ /%s/", c.Operand, c.Value)
	case OpSet:
		return c.Operand.String() + " is set"
	case OpUnset:
		return c.Operand.String() + " is unset"
	case OpSameProject:
		return "same project"
	case OpFork:
		return "fork"
	case OpAnd, OpOr:
		sep := " && "
		if c.Op == OpOr {
			sep = " || "
		}
		parts := make([]string, len(c.Args))
		for i, a := range c.Args {
			parts[i] = a.String()
		}
		return "(" + strings.Join(parts, sep) + ")"
	}
	return ""
}

// Eval evaluates c for a pipeline start: Env operands read s.Vars, then
// defaults (the pipeline's variables); CIVar operands read the start.
func (c Cond) Eval(s Start, defaults map[string]string) bool {
	get := func(o Operand) (string, bool) {
		if o.ci != "" {
			switch o.ci {
			case RefName:
				return s.Ref, s.Ref != ""
			case ProjectPath:
				return s.Project, s.Project != ""
			}
			v, ok := s.Vars[o.ci.GitLabName()]
			return v, ok
		}
		if v, ok := s.Vars[o.env]; ok {
			return v, true
		}
		v, ok := defaults[o.env]
		return v, ok
	}
	switch c.Op {
	case condNone:
		return true
	case OpEquals, OpNotEquals:
		v, _ := get(c.Operand)
		return (v == c.Value) == (c.Op == OpEquals)
	case OpMatches, OpNotMatches:
		v, _ := get(c.Operand)
		re, err := regexp.Compile(c.Value)
		return err == nil && re.MatchString(v) == (c.Op == OpMatches)
	case OpSet, OpUnset:
		v, _ := get(c.Operand)
		return (v != "") == (c.Op == OpSet)
	case OpSameProject:
		return !s.Fork
	case OpFork:
		return s.Fork
	case OpAnd:
		for _, a := range c.Args {
			if !a.Eval(s, defaults) {
				return false
			}
		}
		return true
	case OpOr:
		for _, a := range c.Args {
			if a.Eval(s, defaults) {
				return true
			}
		}
		return false
	}
	return false
}

// problems returns what is wrong with c.
func (c Cond) problems(vars map[string]string) []string {
	var out []string
	switch c.Op {
	case OpEquals, OpNotEquals, OpMatches, OpNotMatches, OpSet, OpUnset:
		o := c.Operand
		switch {
		case o.ci != "" && !o.ci.valid():
			out = append(out, fmt.Sprintf("condition reads the unknown CI variable %q", o.ci))
		case o.ci.Secret():
			out = append(out, fmt.Sprintf("condition reads the CI credential %q; conditions may not read secrets", o.ci))
		case o.ci == "" && !envNameRE.MatchString(o.env):
			out = append(out, fmt.Sprintf("condition reads the variable %q, whose name must hold only letters, digits and _ and not start with a digit", o.env))
		}
		if c.Op == OpMatches || c.Op == OpNotMatches {
			if _, err := regexp.Compile(c.Value); err != nil {
				out = append(out, fmt.Sprintf("condition %s: the regular expression does not compile: %v", c, err))
			}
		}
		if (c.Op == OpEquals || c.Op == OpNotEquals) && strings.Contains(c.Value, `"`) && strings.Contains(c.Value, `'`) {
			out = append(out, fmt.Sprintf("condition %s: the value holds both kinds of quote, which a GitLab expression cannot compare with", c))
		}
	case OpAnd, OpOr:
		if len(c.Args) == 0 {
			out = append(out, "pipeline.And() and pipeline.Or() need at least one condition")
		}
		for _, a := range c.Args {
			out = append(out, a.problems(vars)...)
		}
	case OpSameProject, OpFork, condNone:
	default:
		out = append(out, fmt.Sprintf("condition has the unknown operator %d", c.Op))
	}
	return out
}
