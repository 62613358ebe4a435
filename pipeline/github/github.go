// Package github turns a pipeline.Pipeline into a GitHub Actions workflow,
// usually committed as .github/workflows/ci.yml.
//
// The workflow is a thin shim: every job checks out the repository, sets up
// the pinned Dagger CLI and runs exactly one `dagger call`, then at most
// uploads the reports and artifacts the job declares. Everything else lives
// in the Dagger module, so the same function runs on a laptop, in GitLab CI
// and in GitHub Actions.
//
// Generate is deterministic: the same pipeline always yields the same bytes,
// so a committed workflow can be checked for drift.
package github

import (
	"bytes"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/slipway-ci/slipway/pipeline"
)

// Pinned actions. Tags can be moved; commit SHAs cannot, so every action is
// pinned by SHA with the release it is in a comment.
const (
	CheckoutAction       = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683"                  // v4.2.2
	UploadArtifactAction = "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02"           // v4.6.2
	UploadSARIFAction    = "github/codeql-action/upload-sarif@5d4e8d1aca955e8d8589aabd499c5cae939e33c7" // v4.31.9
)

var actionVersions = map[string]string{
	CheckoutAction:       "v4.2.2",
	UploadArtifactAction: "v4.6.2",
	UploadSARIFAction:    "v4.31.9",
}

// DefaultScheduleCron is when the workflow runs for jobs with an OnSchedule
// rule, unless ScheduleCron says otherwise: Mondays at 03:00 UTC.
const DefaultScheduleCron = "0 3 * * 1"

// Option configures Generate.
type Option func(*config)

type config struct {
	cron     string
	callable bool
}

// Callable makes the workflow a reusable one as well: `on:` gets
// workflow_call with the pipeline's inputs (pipeline.Input; a choice is a
// string there) and the secrets its jobs read, which the caller passes.
// The jobs run as their rules select for the caller's event. Its
// concurrency group holds the pipeline's name, so that it never waits for
// the caller's run, which has the same workflow and ref.
func Callable() Option { return func(c *config) { c.callable = true } }

// ScheduleCron sets the cron expression (five fields, UTC) of the workflow's
// schedule trigger, which exists only when some job has an OnSchedule rule.
// GitLab keeps schedules in the project settings; GitHub needs one in the file.
func ScheduleCron(expr string) Option { return func(c *config) { c.cron = expr } }

var (
	cronRE    = regexp.MustCompile(`^\S+( \S+){4}$`)
	versionRE = regexp.MustCompile(`^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$`)
)

// Generate returns the GitHub Actions workflow for p.
//
// Jobs keep the model's stage order. A job with needs waits for exactly
// those jobs and runs when they succeeded (or failed with AllowFailure). A
// job without needs waits, as on GitLab, for the jobs of all earlier stages,
// and runs unless one of them failed: jobs their rules skipped do not hold it
// back. Rules become each job's `if:` and, united, the workflow's `on:`.
//
// Changed-path rules that every job shares become the workflow's paths or
// paths-ignore; rules that differ are decided by a first job, ChangesJob,
// whose outputs gate each job. Generate returns an error for what GitHub
// cannot express, such as step environment variables that would clash.
func Generate(p *pipeline.Pipeline, opts ...Option) ([]byte, error) {
	g, err := newGenerator(p, opts)
	if err != nil {
		return nil, err
	}
	root, err := g.document()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Grow(4096 + 1536*len(g.jobs))
	buf.WriteString(g.header())
	if err := (&emitter{}).encode(&buf, root); err != nil {
		return nil, fmt.Errorf("github: encoding the workflow: %w", err)
	}
	return buf.Bytes(), nil
}

func newGenerator(p *pipeline.Pipeline, opts []Option) (*generator, error) {
	cfg := config{cron: DefaultScheduleCron}
	for _, o := range opts {
		o(&cfg)
	}
	if !cronRE.MatchString(cfg.cron) {
		return nil, fmt.Errorf("github: schedule cron %q must have five space-separated fields", cfg.cron)
	}
	if incs := p.Includes(); len(incs) > 0 {
		return nil, fmt.Errorf("github: the pipeline includes %s: includes are GitLab's; GitHub composes workflows with reusable workflows, so call one from a job with pipeline.CallsWorkflow", incs[0])
	}
	if v := p.DaggerVersion(); !versionRE.MatchString(v) {
		return nil, fmt.Errorf("github: Dagger version %q is not a release version such as %s", v, pipeline.DefaultDaggerVersion)
	}
	g := &generator{p: p, cfg: cfg, jobs: p.Jobs(), vars: p.Variables()}
	g.byName = make(map[string]*pipeline.JobSpec, len(g.jobs))
	g.byID = make(map[string]*pipeline.JobSpec, len(g.jobs))
	for i := range g.jobs {
		g.byName[g.jobs[i].Name] = &g.jobs[i]
		g.byID[g.jobs[i].ID()] = &g.jobs[i]
	}
	g.filters = changeFilters(g.jobs)
	return g, nil
}

// document builds the workflow, without its header comment.
func (g *generator) document() (*yaml.Node, error) {
	trig, err := collectTriggers(g.p, g.jobs, g.cfg.cron, g.cfg.callable)
	if err != nil {
		return nil, err
	}
	g.prTypes = trig.prTypesFilter()
	root := mapping()
	set(root, "name", str(g.p.Name()))
	set(root, "on", trig.node())
	// Nothing by default; each job asks for what it uses.
	set(root, "permissions", emptyMapping())
	set(root, "concurrency", g.concurrency())
	if len(g.vars) > 0 {
		env := mapping()
		for _, k := range slices.Sorted(maps.Keys(g.vars)) {
			if _, ok := g.p.Input(k); ok {
				set(env, k, str("${{ "+inputValue(k, g.vars[k])+" }}"))
				continue
			}
			set(env, k, str(overridable(k, g.vars[k])))
		}
		set(root, "env", env)
	}
	jobs, err := g.jobsNode()
	if err != nil {
		return nil, err
	}
	set(root, "jobs", jobs)
	return root, nil
}

type generator struct {
	p      *pipeline.Pipeline
	cfg    config
	jobs   []pipeline.JobSpec
	byName map[string]*pipeline.JobSpec
	vars   map[string]string
	setup  []*yaml.Node // the steps every job starts with
	// filters are the distinct path filters the change-detection job
	// computes, nil when no job needs it (see changeFilters).
	filters []pipeline.Rule
	byID    map[string]*pipeline.JobSpec
	// prTypes are the workflow's pull_request types, nil for the default.
	prTypes []string
}

func (g *generator) header() string {
	var b strings.Builder
	if src := g.p.Source(); src != "" {
		fmt.Fprintf(&b, "# Code generated by slipway from %s; DO NOT EDIT.\n", src)
	} else {
		b.WriteString("# Code generated by slipway; DO NOT EDIT.\n")
	}
	if re := g.p.Regenerate(); re != "" {
		fmt.Fprintf(&b, "# Regenerate with: %s\n", re)
	}
	fmt.Fprintf(&b, "#\n# GitHub Actions workflow of the pipeline %q: every job sets up the Dagger CLI %s\n", g.p.Name(), g.p.DaggerVersion())
	b.WriteString("# and runs one `dagger call`; the logic lives in the Dagger module.\n")
	for _, j := range g.jobs {
		if j.UngatedProduction != "" {
			fmt.Fprintf(&b, "# DANGER: job %s deploys to production WITHOUT APPROVAL: %s\n", j.ID(), j.UngatedProduction)
		}
	}
	envs := g.approvalEnvironments()
	if len(envs) == 0 {
		b.WriteString("# Environments that need required reviewers: none.\n")
	} else {
		fmt.Fprintf(&b, "# Environments that need required reviewers (Settings > Environments), or their jobs\n# run without approval: %s.\n", strings.Join(envs, ", "))
	}
	if len(g.vars) > 0 {
		b.WriteString("# Repository variables of the same names (Settings > Secrets and variables > Actions >\n# Variables) override the defaults under env:.\n")
	}
	secrets := g.p.Secrets()
	for _, j := range g.jobs {
		if g.p.EngineOf(j).UsesCloudToken() && !slices.Contains(secrets, pipeline.CloudTokenSecret) {
			secrets = append(secrets, pipeline.CloudTokenSecret)
		}
	}
	slices.Sort(secrets)
	if len(secrets) == 0 {
		b.WriteString("# Secrets that must exist: none.\n")
	} else {
		fmt.Fprintf(&b, "# Secrets that must exist (Settings > Secrets and variables > Actions): %s.\n", strings.Join(secrets, ", "))
	}
	return b.String()
}

// overridable renders a pipeline variable's default so that a repository
// (or organization) variable of the same name replaces it, as a project
// CI/CD variable replaces a .gitlab-ci.yml default on GitLab: one file
// serves every registry and cluster, and act takes --var NAME=value. A
// default holding "{{" or "}}" cannot sit inside an expression's string
// literal and stays a plain, escaped value.
func overridable(name, value string) string {
	if strings.Contains(value, "{{") || strings.Contains(value, "}}") {
		return literal(value)
	}
	return "${{ vars." + name + " || " + quote(value) + " }}"
}

// approvalEnvironments lists, sorted, the environments of the jobs that wait
// for approval. GitHub gates a job only through its environment's required
// reviewers, which live in the repository settings and not in the file.
func (g *generator) approvalEnvironments() []string {
	var out []string
	for _, j := range g.jobs {
		if j.Approval {
			out = append(out, environmentName(j))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// environmentName is the GitHub environment of a job. A job that waits for
// approval without deploying anywhere still needs one: it is GitHub's only
// way to make a job wait for a person. It is named after the job.
func environmentName(j pipeline.JobSpec) string {
	if j.Environment != nil {
		return j.Environment.Name
	}
	if j.Approval {
		return j.ID()
	}
	return ""
}

// concurrency is the workflow-level group: one run per workflow and ref. A
// newer run cancels the running one only when every job that could be
// running may be interrupted; deploy jobs usually may not.
func (g *generator) concurrency() *yaml.Node {
	all, some := true, false
	prAll, prSome := true, false
	for _, j := range g.jobs {
		all = all && j.Interruptible
		some = some || j.Interruptible
		if runsOnPullRequests(j) {
			prSome = true
			prAll = prAll && j.Interruptible
		}
	}
	var cancel *yaml.Node
	switch {
	case all:
		cancel = boolean(true)
	case some && prSome && prAll:
		cancel = str("${{ github.event_name == 'pull_request' }}")
	default:
		cancel = boolean(false)
	}
	c := mapping()
	group := "${{ github.workflow }}-${{ github.ref }}"
	if g.cfg.callable {
		group += "-" + literal(g.p.Name())
	}
	set(c, "group", str(group))
	set(c, "cancel-in-progress", cancel)
	return c
}

func runsOnPullRequests(j pipeline.JobSpec) bool {
	if len(j.Rules) == 0 {
		return true
	}
	for _, r := range j.Rules {
		if r.Event == pipeline.MergeRequest {
			return true
		}
	}
	return false
}
