// Package lint checks generated CI files the way the CI systems would, and a
// little more, without a network, a runner or a Dagger engine.
//
// GitLab and GitHub parse a file, validate it against the JSON schema of its
// CI system (embedded, see schemas/SOURCES.md), and then check what the
// schemas cannot express: every `needs` names a job, every GitLab stage is
// declared and no job needs one of a later stage, and every job is a slipway
// shim that runs one Dagger function: `dagger call <function>`, and at most
// a second call of it that decides the verdict. GitHub also runs
// actionlint as a library. Every problem found is reported, with its job and
// a hint, in one *Error.
//
// It is a test kit in the spirit of go-containerregistry's validate package:
// generator tests call it on their output.
//
//	if err := lint.GitLab(out, lint.WithFunctions("build", "test-unit")); err != nil {
//		t.Fatal(err)
//	}
package lint

import (
	"fmt"
	"slices"
	"strings"
)

// Option configures a check.
type Option func(*config)

type config struct {
	functions    []string // nil: do not check that called functions exist
	toolchain    string   // "": jobs call the module's own functions
	runnerLabels []string
	filename     string
	shellcheck   bool
}

func newConfig(opts []Option, filename string) *config {
	c := &config{filename: filename}
	for _, o := range opts {
		o(c)
	}
	return c
}

// WithFunctions makes the check fail when a job calls a Dagger function
// other than names (kebab-case, as `dagger call` spells them).
func WithFunctions(names ...string) Option {
	return func(c *config) {
		if c.functions == nil {
			c.functions = []string{}
		}
		c.functions = append(c.functions, names...)
	}
}

// WithToolchain says jobs call the functions of the toolchain name, as
// `dagger call name function`: the function WithFunctions checks is then the
// word after name, and a call that does not go through the toolchain is a
// problem.
func WithToolchain(name string) Option { return func(c *config) { c.toolchain = name } }

// WithRunnerLabels declares self-hosted GitHub runner labels, so that
// actionlint accepts them in runs-on instead of reporting unknown labels.
func WithRunnerLabels(labels ...string) Option {
	return func(c *config) { c.runnerLabels = append(c.runnerLabels, labels...) }
}

// WithShellcheck makes GitHub also run shellcheck, found on PATH, on every
// run: script, through actionlint. Without it the check is hermetic: its
// verdict does not depend on what the machine has installed. Asking for
// shellcheck where it is missing is reported as a problem.
func WithShellcheck() Option { return func(c *config) { c.shellcheck = true } }

// WithFilename names the file in messages, such as ".gitlab-ci.yml".
func WithFilename(name string) Option {
	return func(c *config) { c.filename = name }
}

// Problem is one thing wrong with a file.
type Problem struct {
	// Job is the job the problem is in: its GitLab name or GitHub id. It is
	// empty for problems of the file as a whole.
	Job string
	// Line is the 1-based line of the problem, when known, else 0.
	Line int
	// Message says what is wrong.
	Message string
	// Hint says how to fix it.
	Hint string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Job != "" {
		fmt.Fprintf(&b, "job %q: ", p.Job)
	}
	b.WriteString(p.Message)
	if p.Hint != "" {
		b.WriteString(" (hint: " + p.Hint + ")")
	}
	return b.String()
}

// Error lists every problem found in a file.
type Error struct {
	// File is the file's name, such as ".gitlab-ci.yml".
	File string
	// Problems are in a stable order: parse and schema problems first, then
	// the cross-reference checks in job order, then actionlint's findings.
	Problems []Problem
}

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return fmt.Sprintf("%s: %s", e.File, e.Problems[0])
	}
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return fmt.Sprintf("%s: %d problems:\n  - %s", e.File, len(e.Problems), strings.Join(lines, "\n  - "))
}

// report collects problems for one file.
type report struct {
	cfg      *config
	problems []Problem
}

func (r *report) add(job string, line int, hint, format string, args ...any) {
	r.problems = append(r.problems, Problem{Job: job, Line: line, Message: fmt.Sprintf(format, args...), Hint: hint})
}

func (r *report) err() error {
	if len(r.problems) == 0 {
		return nil
	}
	return &Error{File: r.cfg.filename, Problems: r.problems}
}

// checkCalls checks the `dagger call`s found in one job's commands.
func (r *report) checkCalls(job string, line int, calls []daggerCall, where string) {
	if tc := r.cfg.toolchain; tc != "" {
		for i, c := range calls {
			if c.function != tc {
				r.add(job, line, "call the toolchain's functions as `dagger call "+tc+" <function>`; regenerate the file",
					"calls %q, not a function of the toolchain %q", c.function, tc)
				return
			}
			calls[i].function, calls[i].text = c.next, c.text+" "+c.next
		}
	}
	switch len(calls) {
	case 0:
		r.add(job, line, "a slipway job only sets up the Dagger CLI and runs one `dagger call <function>`; regenerate the file",
			"runs no `dagger call <function>` in %s", where)
		return
	case 1:
	default:
		// A second call of the same function is the verdict of the first
		// (pipeline.Call.ThenVerify); two different functions are two jobs.
		fns := make([]string, len(calls))
		distinct := map[string]bool{}
		for i, c := range calls {
			fns[i] = c.function
			distinct[c.function] = true
		}
		if len(distinct) > 1 {
			r.add(job, line, "give each Dagger function its own job, or compose them in one Dagger function",
				"runs %d different Dagger functions in %s (%s); a slipway job runs one", len(distinct), where, strings.Join(fns, ", "))
		}
	}
	for _, c := range calls {
		if c.function == "" {
			r.add(job, line, "put the function name right after `call` and its flags",
				"`%s` names no function", c.text)
			continue
		}
		if !kebabRE.MatchString(c.function) {
			r.add(job, line, "`dagger call` spells functions in kebab-case, such as test-unit for TestUnit",
				"calls %q, which is not a kebab-case function name", c.function)
			continue
		}
		if r.cfg.functions != nil && !slices.Contains(r.cfg.functions, c.function) {
			have := slices.Clone(r.cfg.functions)
			slices.Sort(have)
			r.add(job, line, "rename the call or add the function to the module, then regenerate",
				"calls the Dagger function %q, which the module does not have (it has: %s)", c.function, strings.Join(have, ", "))
		}
	}
}
