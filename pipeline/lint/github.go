package lint

import (
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"slices"
	"strings"

	"github.com/rhysd/actionlint"
)

// GitHub checks a GitHub Actions workflow: it parses, matches SchemaStore's
// workflow schema, every `needs` names a job, every job runs one Dagger
// `dagger call <function>` in its run steps (of a function WithFunctions
// lists, if given) or calls a reusable workflow pinned to a commit SHA, and
// actionlint, run as a library, finds nothing. It returns nil or an *Error listing every problem.
//
// actionlint runs hermetically: it reads no configuration file from the
// working directory and runs no external program, unless WithShellcheck
// asks it to check run: scripts with shellcheck.
func GitHub(data []byte, opts ...Option) error {
	r := &report{cfg: newConfig(opts, ".github/workflows/ci.yml")}
	doc, err := parse(data)
	if err != nil {
		r.add("", 0, "write the file with a YAML library", "%v", err)
		return r.err()
	}
	jobsNode := lookup(doc.root, "jobs")
	jobLines := keyLines(jobsNode)
	jobs, _ := doc.value["jobs"].(map[string]any)
	jobOf := func(loc []string) string {
		if len(loc) > 1 && loc[0] == "jobs" {
			if _, ok := jobs[loc[1]]; ok {
				return loc[1]
			}
		}
		return ""
	}
	topLines := keyLines(doc.root)
	lineOf := func(loc []string) int {
		if j := jobOf(loc); j != "" {
			return jobLines[j]
		}
		if len(loc) > 0 {
			return topLines[loc[0]]
		}
		return 0
	}
	s, err := githubSchema()
	if err != nil {
		return fmt.Errorf("lint: %w", err)
	}
	r.validateSchema(s, doc.value, "GitHub workflow", "https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax", jobOf, lineOf)

	for _, id := range keyOrder(jobsNode) {
		job, ok := jobs[id].(map[string]any)
		if !ok {
			continue // the schema reported it
		}
		line := jobLines[id]
		for _, n := range stringList(job["needs"]) {
			switch _, exists := jobs[n]; {
			case n == id:
				r.add(id, line, "remove the job from its own needs", "needs itself")
			case !exists:
				r.add(id, line, "name an existing job id (GitHub ids have \"-\" where GitLab names have \":\")", "needs %q, which is not a job in this workflow", n)
			}
		}
		if uses, ok := job["uses"]; ok {
			// A job calling a reusable workflow (pipeline.CallsWorkflow)
			// runs no steps; what it runs must not move under it.
			u, _ := uses.(string)
			if !pinnedWorkflowRE.MatchString(u) && !strings.HasPrefix(u, "./") {
				r.add(id, line, "pin the workflow to a full commit SHA: owner/repo/.github/workflows/x.yml@<40-hex sha>",
					"calls the reusable workflow %q, which is not pinned to a commit", u)
			}
			continue
		}
		steps, _ := job["steps"].([]any)
		if id == "changes" && slices.ContainsFunc(steps, func(st any) bool {
			m, _ := st.(map[string]any)
			return m["id"] == "diff"
		}) {
			// The change-detection job the generator adds for per-job
			// path filters: git diff, no Dagger.
			continue
		}
		var calls []daggerCall
		for _, st := range steps {
			if m, ok := st.(map[string]any); ok {
				if run, ok := m["run"].(string); ok {
					calls = append(calls, findCalls(run)...)
				}
			}
		}
		r.checkCalls(id, line, calls, "its run steps")
	}

	if err := r.actionlint(data, jobLines); err != nil {
		return fmt.Errorf("lint: actionlint: %w", err)
	}
	return r.err()
}

// pinnedWorkflowRE is a reusable workflow of another repository pinned to
// a full commit SHA.
var pinnedWorkflowRE = regexp.MustCompile(`^[^/@]+/[^/@]+/\.github/workflows/[^/@]+\.ya?ml@[0-9a-f]{40}$`)

// actionlint runs actionlint on data and reports each finding on the job
// whose lines hold it.
func (r *report) actionlint(data []byte, jobLines map[string]int) error {
	opts := &actionlint.LinterOptions{}
	// shellcheck and pyflakes run only when asked for: the same file must
	// get the same verdict on every machine, whatever happens to be installed.
	if r.cfg.shellcheck {
		if p, err := exec.LookPath("shellcheck"); err == nil {
			opts.Shellcheck = p
		} else {
			r.add("", 0, "install shellcheck, or drop lint.WithShellcheck", "shellcheck was asked for but is not on PATH: %v", err)
		}
	}
	cfg := &actionlint.Config{}
	cfg.SelfHostedRunner.Labels = slices.Clone(r.cfg.runnerLabels)
	opts.OnRulesCreated = func(rules []actionlint.Rule) []actionlint.Rule {
		for _, rule := range rules {
			rule.SetConfig(cfg)
		}
		return rules
	}
	l, err := actionlint.NewLinter(io.Discard, opts)
	if err != nil {
		return err
	}
	// "<stdin>" keeps actionlint from looking for a project, and so for its
	// configuration file, around a path in the working directory.
	errs, err := l.Lint("<stdin>", data, nil)
	if err != nil {
		return err
	}
	type span struct {
		id   string
		line int
	}
	var spans []span
	for id, line := range jobLines {
		spans = append(spans, span{id, line})
	}
	slices.SortFunc(spans, func(a, b span) int { return a.line - b.line })
	for _, e := range errs {
		job := ""
		for _, s := range spans {
			if s.line <= e.Line {
				job = s.id
			}
		}
		r.add(job, e.Line, fmt.Sprintf("actionlint rule %q; see https://github.com/rhysd/actionlint/blob/v1.7.12/docs/checks.md", e.Kind),
			"actionlint: %s", e.Message)
	}
	return nil
}
