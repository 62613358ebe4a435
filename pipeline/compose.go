package pipeline

import (
	"encoding/base64"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Interface is what a reusable unit of CI takes: a GitHub reusable
// workflow's workflow_call inputs and secrets, a GitLab component's or
// included file's spec:inputs. Pipeline.Interface returns a slipway
// pipeline's own, and a Workflow or Include that carries one is checked
// against it by New: unknown inputs, missing required ones, values of the
// wrong type, unknown or missing secrets.
type Interface struct {
	// Inputs are the inputs it declares.
	Inputs []InputSpec
	// Secrets are the secrets it reads (GitHub reusable workflows only).
	Secrets []string
}

// Interface returns what the pipeline takes when a team reuses it as a
// GitHub reusable workflow or a GitLab component: its inputs and the
// secrets its jobs read.
func (p *Pipeline) Interface() Interface {
	return Interface{Inputs: p.Inputs(), Secrets: p.Secrets()}
}

func (i Interface) clone() Interface {
	out := Interface{Secrets: slices.Clone(i.Secrets)}
	for _, in := range i.Inputs {
		in.Options = slices.Clone(in.Options)
		out.Inputs = append(out.Inputs, in)
	}
	return out
}

// Workflow is a GitHub reusable workflow that a job calls instead of a
// Dagger function: the job is `uses: <Uses>` with `with:` and `secrets:`.
// GitLab has no reusable workflows: its generator refuses such a job (GitLab
// composes pipelines with Include and child pipelines, see TriggersChild).
type Workflow struct {
	// Uses is the workflow: "owner/repo/.github/workflows/x.yml@<sha>",
	// pinned to a full 40-hex commit SHA (tags and branches can move), or
	// "./.github/workflows/x.yml" in this repository.
	Uses string
	// With are the workflow's inputs, by name.
	With map[string]string
	// Secrets pass secrets of this repository to the workflow: the
	// workflow's secret name to the name of the secret here.
	Secrets map[string]string
	// Interface, when not nil, is what the workflow declares; New checks
	// With and Secrets against it.
	Interface *Interface
}

func (w Workflow) clone() Workflow {
	out := w
	out.With = maps.Clone(w.With)
	out.Secrets = maps.Clone(w.Secrets)
	if w.Interface != nil {
		i := w.Interface.clone()
		out.Interface = &i
	}
	return out
}

// CallsWorkflow makes the job call the reusable workflow w (GitHub only)
// instead of a Dagger function.
func CallsWorkflow(w Workflow) JobOption {
	return func(j *JobSpec) { c := w.clone(); j.Workflow = &c }
}

// Include is a CI file or component that a GitLab pipeline includes: its
// jobs join the pipeline, and GitLab runs them as they are written. Exactly
// one of Local, Remote, Template, Project (with File and Ref) and Component
// is set. GitHub has no includes: its generator refuses them (a GitHub job
// calls a reusable workflow instead, see CallsWorkflow).
type Include struct {
	// Local is a file of this repository, such as "ci/lint.gitlab-ci.yml".
	Local string
	// Remote is an https:// address of a file; Integrity must pin it.
	Remote string
	// Integrity is the remote file's SHA-256, as GitLab's integrity:
	// "sha256-" and the digest in standard base64.
	Integrity string
	// Template is one of GitLab's own templates, such as
	// "Jobs/SAST.gitlab-ci.yml"; it comes with the GitLab version.
	Template string
	// Project is the path of another project whose File is included at
	// Ref, a full 40-hex commit SHA.
	Project, File, Ref string
	// Component is a CI/CD catalog component,
	// "<host>/<project path>/<name>@<version>", pinned to a full semantic
	// version (such as 1.2.3, a catalog release) or a 40-hex commit SHA.
	Component string
	// Inputs are the values of the included file's spec:inputs.
	Inputs map[string]string
	// Interface, when not nil, is what the file or component declares;
	// New checks Inputs against it.
	Interface *Interface
}

func (i Include) clone() Include {
	out := i
	out.Inputs = maps.Clone(i.Inputs)
	if i.Interface != nil {
		c := i.Interface.clone()
		out.Interface = &c
	}
	return out
}

// String names the include for messages.
func (i Include) String() string {
	switch {
	case i.Local != "":
		return "local " + i.Local
	case i.Remote != "":
		return "remote " + i.Remote
	case i.Template != "":
		return "template " + i.Template
	case i.Project != "":
		return "project " + i.Project + " " + i.File + "@" + i.Ref
	case i.Component != "":
		return "component " + i.Component
	}
	return "nothing"
}

// Includes adds GitLab includes to the pipeline (GitLab only).
func Includes(incs ...Include) Option {
	return func(p *Pipeline) {
		for _, i := range incs {
			p.includes = append(p.includes, i.clone())
		}
	}
}

// Includes returns the pipeline's GitLab includes, in order.
func (p *Pipeline) Includes() []Include {
	out := make([]Include, len(p.includes))
	for k, i := range p.includes {
		out[k] = i.clone()
	}
	return out
}

var (
	// workflowRE is a reusable workflow of another repository, pinned to
	// a full commit SHA.
	workflowRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/\.github/workflows/[A-Za-z0-9_.-]+\.ya?ml@[0-9a-f]{40}$`)
	// workflowAnyRefRE is one pinned to anything.
	workflowAnyRefRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/\.github/workflows/[A-Za-z0-9_.-]+\.ya?ml@\S+$`)
	// localWorkflowRE is a reusable workflow of this repository.
	localWorkflowRE = regexp.MustCompile(`^\./\.github/workflows/[A-Za-z0-9_.-]+\.ya?ml$`)
	// inputNameRE is a reusable workflow's or a spec's input name.
	inputNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)
	shaRE       = regexp.MustCompile(`^[0-9a-f]{40}$`)
	// componentRE is a catalog component and its version.
	componentRE = regexp.MustCompile(`^([A-Za-z0-9.-]+(:[0-9]+)?/[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+)@(\S+)$`)
	semverRE    = regexp.MustCompile(`^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$`)
	templateRE  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_./-]*\.gitlab-ci\.yml$`)
)

// validateWorkflow checks a job that calls a reusable workflow.
func validateWorkflow(w Workflow, jp func(string, ...any)) {
	switch {
	case workflowRE.MatchString(w.Uses), localWorkflowRE.MatchString(w.Uses):
	case workflowAnyRefRE.MatchString(w.Uses):
		jp("reusable workflow %q must be pinned to a full 40-hex commit SHA (tags and branches can move), as owner/repo/.github/workflows/x.yml@<sha>", w.Uses)
	default:
		jp("reusable workflow %q must be owner/repo/.github/workflows/<file>.yml@<40-hex sha> or ./.github/workflows/<file>.yml", w.Uses)
	}
	for _, name := range slices.Sorted(maps.Keys(w.With)) {
		if !inputNameRE.MatchString(name) {
			jp("reusable workflow input %q: the name must hold only letters, digits, _ and - and start with a letter or _", name)
		}
		checkValue("reusable workflow input "+strconv.Quote(name), w.With[name], jp)
	}
	for _, name := range slices.Sorted(maps.Keys(w.Secrets)) {
		if !inputNameRE.MatchString(name) {
			jp("reusable workflow secret %q: the name must hold only letters, digits, _ and - and start with a letter or _", name)
		}
		checkSecretName(w.Secrets[name], jp)
	}
	if w.Interface != nil {
		checkInputs("reusable workflow "+w.Uses, w.With, *w.Interface, jp)
		for _, s := range slices.Sorted(maps.Keys(w.Secrets)) {
			if !slices.Contains(w.Interface.Secrets, s) {
				jp("reusable workflow %s declares no secret %q (it reads: %s)", w.Uses, s, listOrNone(w.Interface.Secrets))
			}
		}
		for _, s := range w.Interface.Secrets {
			if _, ok := w.Secrets[s]; !ok {
				jp("reusable workflow %s reads the secret %q, which the job does not pass; add it to Secrets", w.Uses, s)
			}
		}
	}
}

// validateIncludes checks the pipeline's GitLab includes.
func (p *Pipeline) validateIncludes(add func(string, ...any)) {
	for _, inc := range p.includes {
		ip := func(format string, args ...any) {
			add("include of %s: "+format, append([]any{inc}, args...)...)
		}
		kinds := 0
		for _, set := range []bool{inc.Local != "", inc.Remote != "", inc.Template != "", inc.Project != "", inc.Component != ""} {
			if set {
				kinds++
			}
		}
		if kinds != 1 {
			add("an include sets exactly one of Local, Remote, Template, Project and Component; this one sets %d", kinds)
			continue
		}
		switch {
		case inc.Local != "":
			if !ciFileRE.MatchString(inc.Local) || strings.Contains(inc.Local, "..") {
				ip("the file must be a .yml or .yaml path inside the repository")
			}
		case inc.Remote != "":
			if !strings.HasPrefix(inc.Remote, "https://") || strings.ContainsAny(inc.Remote, " \"'$`\\") {
				ip("the address must start with https:// and hold no spaces, quotes or $")
			}
			if b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(inc.Integrity, "sha256-")); !strings.HasPrefix(inc.Integrity, "sha256-") || err != nil || len(b) != 32 {
				ip("a remote file can change under the pipeline: pin it with Integrity, \"sha256-\" and its SHA-256 in base64 (openssl dgst -sha256 -binary file | base64)")
			}
		case inc.Template != "":
			if !templateRE.MatchString(inc.Template) || strings.Contains(inc.Template, "..") {
				ip("a GitLab template is a name such as Jobs/SAST.gitlab-ci.yml")
			}
		case inc.Project != "":
			if !projectRE.MatchString(inc.Project) {
				ip("the project must be a GitLab project path such as acme/ci-templates")
			}
			if !ciFileRE.MatchString(strings.TrimPrefix(inc.File, "/")) || strings.Contains(inc.File, "..") {
				ip("the file %q must be a .yml or .yaml path in that project", inc.File)
			}
			if !shaRE.MatchString(inc.Ref) {
				ip("the ref %q must be a full 40-hex commit SHA (branches and tags can move)", inc.Ref)
			}
		case inc.Component != "":
			m := componentRE.FindStringSubmatch(inc.Component)
			switch {
			case m == nil:
				ip("a component is <host>/<project path>/<name>@<version>, such as gitlab.com/acme/components/lint@1.2.3")
			case !semverRE.MatchString(m[4]) && !shaRE.MatchString(m[4]):
				ip("the version %q must be a full release such as 1.2.3 or a 40-hex commit SHA (~latest, partial versions and branches move)", m[4])
			}
		}
		if inc.Integrity != "" && inc.Remote == "" {
			ip("Integrity pins remote files only; drop it")
		}
		if inc.Ref != "" && inc.Project == "" || inc.File != "" && inc.Project == "" {
			ip("File and Ref apply to a Project include only")
		}
		if inc.Template != "" && len(inc.Inputs) > 0 {
			ip("GitLab's templates take no inputs")
		}
		for _, name := range slices.Sorted(maps.Keys(inc.Inputs)) {
			if !inputNameRE.MatchString(name) {
				ip("input %q: the name must hold only letters, digits, _ and - and start with a letter or _", name)
			}
			checkValue("input "+strconv.Quote(name), inc.Inputs[name], ip)
		}
		if inc.Interface != nil {
			checkInputs(inc.String(), inc.Inputs, *inc.Interface, ip)
		}
	}
}

// checkValue refuses what cannot be written into both CIs' YAML and
// expressions unchanged.
func checkValue(what, v string, jp func(string, ...any)) {
	if !inputValueRE.MatchString(v) {
		jp("%s: value %q may hold no quotes, $, `, \\, braces or line breaks", what, v)
	}
}

// checkInputs checks values given to a unit against the inputs it declares.
func checkInputs(unit string, given map[string]string, iface Interface, jp func(string, ...any)) {
	var names []string
	for _, in := range iface.Inputs {
		names = append(names, in.Name)
	}
	for _, name := range slices.Sorted(maps.Keys(given)) {
		i := slices.IndexFunc(iface.Inputs, func(in InputSpec) bool { return in.Name == name })
		if i < 0 {
			jp("%s declares no input %q (it has: %s)", unit, name, listOrNone(names))
			continue
		}
		in, v := iface.Inputs[i], given[name]
		switch in.Type {
		case BooleanInput:
			if v != "true" && v != "false" {
				jp("%s: input %q is a boolean, not %q", unit, name, v)
			}
		case NumberInput:
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				jp("%s: input %q is a number, not %q", unit, name, v)
			}
		case ChoiceInput:
			if !slices.Contains(in.Options, v) {
				jp("%s: input %q is one of %s, not %q", unit, name, strings.Join(in.Options, ", "), v)
			}
		}
	}
	for _, in := range iface.Inputs {
		if _, ok := given[in.Name]; !ok && in.Required {
			jp("%s requires the input %q, which is not given", unit, in.Name)
		}
	}
}

func listOrNone(ss []string) string {
	if len(ss) == 0 {
		return "none"
	}
	return strings.Join(ss, ", ")
}
