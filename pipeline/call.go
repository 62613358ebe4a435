package pipeline

import (
	"fmt"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"unicode"

	"github.com/iancoleman/strcase"
)

// Call is what a job runs: one Dagger function with its arguments, and
// optionally a chain of calls on its result (for example `export --path=out`
// on a returned Directory).
type Call struct {
	// Function is the kebab-case Dagger function name, as `dagger call` spells it.
	Function string
	// Args are the function's arguments, in the order given.
	Args []Arg
	// Chain holds further calls on the returned object, in order.
	Chain []ChainCall
	// Verify, when not empty, is a chain that a second `dagger call` of the
	// same function and arguments runs after the first has finished, to
	// decide the job's verdict. It lets a job keep its results even when
	// they are bad news: the first call exports the test reports, the second
	// fails the job when a test failed. Dagger caches the function's result,
	// so the second call does not run the work again.
	Verify []ChainCall
}

// ChainCall is one call on the object a previous call returned.
type ChainCall struct {
	// Function is the kebab-case name, such as "export" or "stdout".
	Function string
	// Args are its arguments.
	Args []Arg
}

// ArgKind says how an argument reaches the Dagger CLI.
type ArgKind string

// The argument kinds. Secrets are never rendered as plain values: they are
// passed as env://NAME so the value stays out of the command line and logs.
const (
	ArgString    ArgKind = "string"
	ArgBool      ArgKind = "bool"
	ArgInt       ArgKind = "int"
	ArgDirectory ArgKind = "directory"
	ArgFile      ArgKind = "file"
	ArgSecret    ArgKind = "secret"
)

// Arg is one named argument of a Call.
type Arg struct {
	// Name is the kebab-case flag name, without dashes.
	Name string
	// Kind says what the value is.
	Kind ArgKind
	// Value is the literal value, the path, or for ArgSecret the name of the
	// secret, which the CI provides as an environment variable.
	Value string
	// Var, when not empty, makes the value a CI-provided variable such as
	// the commit SHA; Value is then ignored.
	Var Variable
	// Env, when not empty, makes the value the pipeline variable of that
	// name (see pipeline.Var); Value is then ignored.
	Env string
	// Output, when not nil, makes the value what an earlier job printed;
	// Value is then ignored. The job must need that job.
	Output *OutputRef
	// Matrix, when not empty, makes the value the job's matrix cell's value
	// of the axis of that name (see FromMatrix); Value is then ignored.
	Matrix string
	// Audience, for an ArgSecret, makes the secret an OIDC ID token for
	// this audience, which the CI issues to the job under the name Value:
	// GitLab id_tokens, GitHub's id-token: write.
	Audience string
}

// OutputRef names the output of another job.
type OutputRef struct {
	// Job is the job that prints the value.
	Job string
	// Name is the output's name, as the job declares it with Outputs.
	Name string
}

// String returns a string argument.
func String(name, value string) Arg { return Arg{Name: name, Kind: ArgString, Value: value} }

// Bool returns a boolean argument.
func Bool(name string, value bool) Arg {
	return Arg{Name: name, Kind: ArgBool, Value: strconv.FormatBool(value)}
}

// Int returns an integer argument.
func Int(name string, value int) Arg {
	return Arg{Name: name, Kind: ArgInt, Value: strconv.Itoa(value)}
}

// Dir returns a Directory argument read from path, relative to the
// repository root.
func Dir(name, path string) Arg { return Arg{Name: name, Kind: ArgDirectory, Value: path} }

// File returns a File argument read from path, relative to the repository root.
func File(name, path string) Arg { return Arg{Name: name, Kind: ArgFile, Value: path} }

// Secret returns a Secret argument whose value the CI holds as the secret or
// masked variable called secret. It reaches Dagger as env://secret and never
// as a plain value.
func Secret(name, secret string) Arg { return Arg{Name: name, Kind: ArgSecret, Value: secret} }

// CISecret returns a Secret argument whose value is one of the CI's own
// credentials, such as JobToken (CI_JOB_TOKEN, GITHUB_TOKEN). It reaches
// Dagger as env://NAME, NAME being the CI's variable.
func CISecret(name string, v Variable) Arg { return Arg{Name: name, Kind: ArgSecret, Var: v} }

// IDToken returns a Secret argument holding an OIDC ID token that the CI
// issues to the job for audience (such as "sts.amazonaws.com"), under the
// environment variable token. GitLab creates it with id_tokens:, GitHub
// with the id-token: write permission and a request to its token service.
// It reaches Dagger only as env://token.
func IDToken(name, token, audience string) Arg {
	return Arg{Name: name, Kind: ArgSecret, Value: token, Audience: audience}
}

// FromVar returns a string argument whose value is a variable the CI
// provides, such as CommitSHA.
func FromVar(name string, v Variable) Arg { return Arg{Name: name, Kind: ArgString, Var: v} }

// FromEnv returns a string argument whose value is the pipeline variable
// name, declared with pipeline.Var.
func FromEnv(name, variable string) Arg { return Arg{Name: name, Kind: ArgString, Env: variable} }

// FromJob returns a string argument whose value is the output called output
// of job, which the job declares with Outputs and the calling job needs. This
// is how a digest built once is promoted to later jobs instead of rebuilt.
func FromJob(name, job, output string) Arg {
	return Arg{Name: name, Kind: ArgString, Output: &OutputRef{Job: job, Name: output}}
}

// Fn returns a call of the Dagger function named name (kebab-case).
func Fn(name string, args ...Arg) Call {
	return Call{Function: name, Args: args}
}

// FuncOf returns a call of the Dagger function that method becomes. method is
// a method expression of a Dagger module's main object, such as
// (*Ci).TestUnit, which Dagger exposes as "test-unit". Because the method is
// named by the compiler, renaming it breaks the build rather than CI.
//
// FuncOf panics if method is not a function, since that is a programming
// error in the pipeline definition and not a run-time condition.
func FuncOf(method any, args ...Arg) Call {
	return Fn(FunctionName(method), args...)
}

// FunctionName returns the kebab-case Dagger function name of a method
// expression or method value, such as "test-unit" for (*Ci).TestUnit.
func FunctionName(method any) string {
	v := reflect.ValueOf(method)
	if v.Kind() != reflect.Func {
		panic(fmt.Sprintf("pipeline.FunctionName: %T is not a method expression", method))
	}
	full := runtime.FuncForPC(v.Pointer()).Name()
	// "main.(*Ci).TestUnit" or, for a method value, "main.(*Ci).TestUnit-fm".
	full = strings.TrimSuffix(full, "-fm")
	name := full[strings.LastIndexByte(full, '.')+1:]
	return Kebab(name)
}

// Kebab converts a Go identifier to the kebab-case form that Dagger uses for
// function and argument names: "TestUnit" becomes "test-unit". It is
// exactly Dagger v0.19.10's own rule (strcase.ToKebab of
// strcase.ToLowerCamel), so "HTTPServer" becomes "httpserver", as
// `dagger call` spells it.
func Kebab(ident string) string {
	return strcase.ToKebab(strcase.ToLowerCamel(ident))
}

// Export returns a copy of c that exports the returned Directory or File to
// path on the runner, as `dagger call ... export --path=path`.
func (c Call) Export(path string) Call {
	return c.Then("export", String("path", path))
}

// Then returns a copy of c with one more call chained on its result.
func (c Call) Then(function string, args ...Arg) Call {
	out := c.clone()
	out.Chain = append(out.Chain, ChainCall{Function: function, Args: cloneArgs(args)})
	return out
}

// ThenVerify returns a copy of c whose verdict is decided by a second call
// of the same function, chained with function: for example
// Fn("test-unit", src).Then("reports").Export("out").ThenVerify("check").
func (c Call) ThenVerify(function string, args ...Arg) Call {
	out := c.clone()
	out.Verify = append(out.Verify, ChainCall{Function: function, Args: cloneArgs(args)})
	return out
}

func (c Call) clone() Call {
	out := Call{Function: c.Function, Args: cloneArgs(c.Args)}
	for _, ch := range c.Chain {
		out.Chain = append(out.Chain, ChainCall{Function: ch.Function, Args: cloneArgs(ch.Args)})
	}
	for _, ch := range c.Verify {
		out.Verify = append(out.Verify, ChainCall{Function: ch.Function, Args: cloneArgs(ch.Args)})
	}
	return out
}

// chains returns the argument lists of every chained call, Verify included.
func (c Call) chains() [][]Arg {
	var out [][]Arg
	for _, ch := range c.Chain {
		out = append(out, ch.Args)
	}
	for _, ch := range c.Verify {
		out = append(out, ch.Args)
	}
	return out
}

func cloneArgs(args []Arg) []Arg {
	out := append([]Arg(nil), args...)
	for i, a := range out {
		if a.Output != nil {
			o := *a.Output
			out[i].Output = &o
		}
	}
	return out
}

// Outputs returns the job outputs the call reads, in order.
func (c Call) Outputs() []OutputRef {
	var out []OutputRef
	add := func(args []Arg) {
		for _, a := range args {
			if a.Output != nil {
				out = append(out, *a.Output)
			}
		}
	}
	add(c.Args)
	for _, args := range c.chains() {
		add(args)
	}
	return out
}

// Secrets returns the names of the secrets the call reads, in order: the
// ones a person stores in the CI, not the CI's own credentials (CISecret)
// nor ID tokens (IDToken).
func (c Call) Secrets() []string {
	var out []string
	add := func(args []Arg) {
		for _, a := range args {
			if a.Kind == ArgSecret && a.Var == "" && a.Audience == "" {
				out = append(out, a.Value)
			}
		}
	}
	add(c.Args)
	for _, args := range c.chains() {
		add(args)
	}
	return out
}

// IDTokens returns the OIDC ID tokens the call reads, in order.
func (c Call) IDTokens() []Arg {
	var out []Arg
	for _, args := range append([][]Arg{c.Args}, c.chains()...) {
		for _, a := range args {
			if a.Kind == ArgSecret && a.Audience != "" {
				out = append(out, a)
			}
		}
	}
	return out
}

// Variables returns the CI variables the call reads, in order, without
// duplicates, credentials (CISecret) included.
func (c Call) Variables() []Variable {
	var out []Variable
	seen := map[Variable]bool{}
	add := func(args []Arg) {
		for _, a := range args {
			if a.Var != "" && !seen[a.Var] {
				seen[a.Var] = true
				out = append(out, a.Var)
			}
		}
	}
	add(c.Args)
	for _, args := range c.chains() {
		add(args)
	}
	return out
}

// Target says how a `dagger` command line reaches the functions jobs call:
// the module (`dagger -m Module call`, "" for the one at the repository
// root) and, when the functions belong to a toolchain the module installs,
// its name (`dagger call Toolchain function`).
type Target struct {
	Module    string
	Toolchain string
}

// Command returns the `dagger call` command line for the call, for a shell
// whose environment holds the CI variables and secrets under the names env
// gives them. Values are quoted for a POSIX shell. module, when not empty, is
// passed as `-m module`.
func (c Call) Command(module string, env func(Variable) string) string {
	return c.CommandIn(Target{Module: module}, env)
}

// CommandIn is Command for a call reached through t.
func (c Call) CommandIn(t Target, env func(Variable) string) string {
	parts := []string{"dagger"}
	if t.Module != "" {
		parts = append(parts, "-m", shellQuote(t.Module))
	}
	parts = append(parts, "call")
	if t.Toolchain != "" {
		parts = append(parts, t.Toolchain)
	}
	parts = append(parts, c.Function)
	parts = append(parts, renderArgs(c.Args, env)...)
	for _, ch := range c.Chain {
		parts = append(parts, ch.Function)
		parts = append(parts, renderArgs(ch.Args, env)...)
	}
	return strings.Join(parts, " ")
}

// VerifyCommand returns the second `dagger call` line that decides the
// job's verdict (see Verify), or "" when the call has none.
func (c Call) VerifyCommand(module string, env func(Variable) string) string {
	return c.VerifyCommandIn(Target{Module: module}, env)
}

// VerifyCommandIn is VerifyCommand for a call reached through t.
func (c Call) VerifyCommandIn(t Target, env func(Variable) string) string {
	if len(c.Verify) == 0 {
		return ""
	}
	return Call{Function: c.Function, Args: c.Args, Chain: c.Verify}.CommandIn(t, env)
}

func renderArgs(args []Arg, env func(Variable) string) []string {
	out := make([]string, 0, len(args))
	for _, a := range args {
		var v string
		switch {
		case a.Kind == ArgSecret && a.Var != "":
			v = shellQuote("env://" + env(a.Var))
		case a.Kind == ArgSecret:
			v = shellQuote("env://" + a.Value)
		case a.Var != "":
			// Double quotes let the shell expand the variable without word
			// splitting; the value never passes through the YAML.
			v = `"$` + env(a.Var) + `"`
		case a.Env != "":
			v = `"$` + a.Env + `"`
		case a.Output != nil:
			v = `"$` + a.Output.Name + `"`
		case a.Matrix != "":
			v = `"$` + a.Matrix + `"`
		default:
			v = shellQuote(a.Value)
		}
		out = append(out, "--"+a.Name+"="+v)
	}
	return out
}

// shellQuote quotes s for a POSIX shell when it has anything but safe characters.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("-_./:=@%+,", r)))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// SummaryTable returns the POSIX shell lines that write the Markdown table
// of a job's result to file (such as "$GITHUB_STEP_SUMMARY"; "" is the
// job's log): the job, its function, result (an expression the shell
// expands, such as "$CI_JOB_STATUS") and what summaryCommand printed, its
// lines joined by <br> and its | escaped. A failing summary command does
// not fail the lines.
func SummaryTable(job, function, result, summaryCommand, file string) []string {
	redirect := ""
	if file != "" {
		redirect = " >> " + file
	}
	return []string{
		`summary="$(` + summaryCommand + ` 2>/dev/null)" || summary="(no summary: the call failed)"`,
		`summary="$(printf '%s\n' "$summary" | sed 's/|/\\|/g' | awk 'NR>1{printf "<br>"} {printf "%s", $0}')"`,
		`printf '| Job | Function | Result | Summary |\n| --- | --- | --- | --- |\n| %s | %s | %s | %s |\n' ` + shellQuote(job) + ` ` + shellQuote(function) + ` "` + result + `" "$summary"` + redirect,
	}
}
