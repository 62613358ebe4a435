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
	cron string
}

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
// those jobs, and is skipped when one of them is skipped or fails. A job
// without needs waits, as on GitLab, for the jobs of all earlier stages, but
// runs when they were skipped by their rules. Rules become each job's `if:`
// and, united, the workflow's `on:`.
func Generate(p *pipeline.Pipeline, opts ...Option) ([]byte, error) {
	cfg := config{cron: DefaultScheduleCron}
	for _, o := range opts {
		o(&cfg)
	}
	if !cronRE.MatchString(cfg.cron) {
		return nil, fmt.Errorf("github: schedule cron %q must have five space-separated fields", cfg.cron)
	}
	version := p.DaggerVersion()
	if !versionRE.MatchString(version) {
		return nil, fmt.Errorf("github: Dagger version %q is not a release version such as %s", version, pipeline.DefaultDaggerVersion)
	}

	g := &generator{p: p, cfg: cfg, jobs: p.Jobs(), vars: p.Variables()}
	g.byName = make(map[string]*pipeline.JobSpec, len(g.jobs))
	for i := range g.jobs {
		g.byName[g.jobs[i].Name] = &g.jobs[i]
	}
	trig, err := collectTriggers(g.jobs)
	if err != nil {
		return nil, err
	}

	root := mapping()
	set(root, "name", str(p.Name()))
	set(root, "on", trig.node(cfg.cron))
	// Nothing by default; each job asks for what it uses.
	set(root, "permissions", emptyMapping())
	set(root, "concurrency", g.concurrency())
	if len(g.vars) > 0 {
		env := mapping()
		for _, k := range slices.Sorted(maps.Keys(g.vars)) {
			set(env, k, str(literal(g.vars[k])))
		}
		set(root, "env", env)
	}
	jobs, err := g.jobsNode()
	if err != nil {
		return nil, err
	}
	set(root, "jobs", jobs)

	var buf bytes.Buffer
	buf.Grow(4096 + 1200*len(g.jobs))
	buf.WriteString(g.header())
	if err := encode(&buf, root); err != nil {
		return nil, fmt.Errorf("github: encoding the workflow: %w", err)
	}
	return buf.Bytes(), nil
}

// encode writes root, a mapping whose last key is "jobs", as YAML with a
// two-space indent. Each job is encoded on its own and indented under
// "jobs:": the output is the same as encoding root whole, but the encoder
// keeps every event of a document until it ends, which makes one document
// of a few hundred jobs several times slower than the jobs one by one.
func encode(buf *bytes.Buffer, root *yaml.Node) error {
	n := len(root.Content)
	if n < 2 || root.Content[n-2].Value != "jobs" || root.Content[n-1].Kind != yaml.MappingNode || len(root.Content[n-1].Content) == 0 {
		return encodeDoc(buf, root)
	}
	head := &yaml.Node{Kind: yaml.MappingNode, Content: root.Content[:n-2]}
	if err := encodeDoc(buf, head); err != nil {
		return err
	}
	buf.WriteString("jobs:\n")
	jobs := root.Content[n-1].Content
	var one bytes.Buffer
	for i := 0; i < len(jobs); i += 2 {
		one.Reset()
		if err := encodeDoc(&one, &yaml.Node{Kind: yaml.MappingNode, Content: jobs[i : i+2]}); err != nil {
			return err
		}
		for line := range bytes.Lines(one.Bytes()) {
			if len(line) > 1 {
				// Indenting every line keeps block scalars intact: their
				// indentation is relative to the key that holds them.
				buf.WriteString("  ")
			}
			buf.Write(line)
		}
	}
	return nil
}

func encodeDoc(buf *bytes.Buffer, n *yaml.Node) error {
	enc := yaml.NewEncoder(buf)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{n}}); err != nil {
		return err
	}
	return enc.Close()
}

type generator struct {
	p      *pipeline.Pipeline
	cfg    config
	jobs   []pipeline.JobSpec
	byName map[string]*pipeline.JobSpec
	vars   map[string]string
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
	envs := g.approvalEnvironments()
	if len(envs) == 0 {
		b.WriteString("# Environments that need required reviewers: none.\n")
	} else {
		fmt.Fprintf(&b, "# Environments that need required reviewers (Settings > Environments), or their jobs\n# run without approval: %s.\n", strings.Join(envs, ", "))
	}
	if secrets := g.p.Secrets(); len(secrets) == 0 {
		b.WriteString("# Secrets that must exist: none.\n")
	} else {
		fmt.Fprintf(&b, "# Secrets that must exist (Settings > Secrets and variables > Actions): %s.\n", strings.Join(secrets, ", "))
	}
	return b.String()
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
	set(c, "group", str("${{ github.workflow }}-${{ github.ref }}"))
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
