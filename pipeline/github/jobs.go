package github

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/slipway-ci/slipway/pipeline"
)

// defaultRetention is how many days artifacts and reports are kept when the
// model does not say.
const defaultRetention = 7

// outputStep is the id of the step that runs `dagger call`, whose output a
// job publishes.
const outputStep = "call"

// jobNeeds is what a job waits for on GitHub.
type jobNeeds struct {
	ids []string
	// stage is true when the needs stand for GitLab's stage order (the job
	// declares no needs): the job then runs when those jobs succeeded or
	// were skipped, not only when they succeeded.
	stage bool
	// results is true when the job declares needs and one of the jobs it
	// waits for, directly or not, follows stage order. Such a job may run
	// after an earlier job was skipped, and GitHub's implicit success()
	// would then skip everything after it, although each job it needs
	// succeeded: the job checks the results of its needs instead.
	results bool
}

// resolveNeeds returns every job's needs. Declared needs are kept as they
// are. A job without them waits for all jobs of earlier stages, as GitLab
// runs it; of those only the ones that no other of them already waits for
// are listed, so large pipelines stay readable.
func (g *generator) resolveNeeds() []jobNeeds {
	n := len(g.jobs)
	index := make(map[string]int, n)
	for i, j := range g.jobs {
		index[j.Name] = i
	}
	words := (n + 63) / 64
	// anc[i] holds the jobs that job i waits for, directly or not.
	anc := make([][]uint64, n)
	out := make([]jobNeeds, n)
	stageStart := 0
	union := make([]uint64, words)
	// mayFollowSkipped[i]: job i can run after a job it waits for was skipped.
	mayFollowSkipped := make([]bool, n)
	for i, j := range g.jobs {
		if i > 0 && g.jobs[i-1].Stage != j.Stage {
			stageStart = i
		}
		a := make([]uint64, words)
		var direct []int
		if len(j.Needs) > 0 {
			for _, name := range j.Needs {
				if k, ok := index[name]; ok && !slices.Contains(direct, k) {
					direct = append(direct, k)
				}
			}
		} else if stageStart > 0 {
			clear(union)
			for k := range stageStart {
				for w, x := range anc[k] {
					union[w] |= x
				}
			}
			for k := range stageStart {
				if union[k/64]&(1<<(k%64)) == 0 {
					direct = append(direct, k)
				}
			}
			out[i].stage = true
		}
		for _, k := range direct {
			a[k/64] |= 1 << (k % 64)
			for w, x := range anc[k] {
				a[w] |= x
			}
			out[i].ids = append(out[i].ids, g.jobs[k].ID())
			if mayFollowSkipped[k] && !out[i].stage {
				out[i].results = true
			}
		}
		mayFollowSkipped[i] = out[i].stage || out[i].results
		anc[i] = a
	}
	return out
}

func (g *generator) jobsNode() (*yaml.Node, error) {
	needs := g.resolveNeeds()
	jobs := mapping()
	if len(g.filters) > 0 {
		n, err := g.changesJob()
		if err != nil {
			return nil, err
		}
		set(jobs, ChangesJob, n)
		for i, j := range g.jobs {
			if g.filtered(j) {
				// Its if: reads the detection job's outputs.
				needs[i].ids = append([]string{ChangesJob}, needs[i].ids...)
			}
		}
	}
	for i, j := range g.jobs {
		n, err := g.job(j, needs[i])
		if err != nil {
			return nil, err
		}
		set(jobs, j.ID(), n)
		if j.Stop != nil {
			stop, err := g.stopJob(j)
			if err != nil {
				return nil, err
			}
			id, _ := j.StopJob()
			set(jobs, id.ID(), stop)
		}
	}
	return jobs, nil
}

// workflowJob renders the rest of a job that calls a reusable workflow:
// the called workflow's jobs get at most the token permissions granted
// here, the inputs and the secrets passed by name.
func (g *generator) workflowJob(n *yaml.Node, j pipeline.JobSpec, w pipeline.Workflow) *yaml.Node {
	set(n, "permissions", permissions(j, false))
	if j.ConcurrencyGroup != "" {
		c := mapping()
		set(c, "group", str(literal(j.ConcurrencyGroup)))
		set(c, "cancel-in-progress", boolean(false))
		set(n, "concurrency", c)
	}
	set(n, "uses", str(w.Uses))
	if len(w.With) > 0 {
		with := mapping()
		for _, k := range slices.Sorted(maps.Keys(w.With)) {
			set(with, k, str(literal(w.With[k])))
		}
		set(n, "with", with)
	}
	if len(w.Secrets) > 0 {
		sec := mapping()
		for _, k := range slices.Sorted(maps.Keys(w.Secrets)) {
			set(sec, k, str("${{ secrets."+w.Secrets[k]+" }}"))
		}
		set(n, "secrets", sec)
	}
	return n
}

// stopJob renders the job that stops j's review environment. GitHub has
// no stop action and no event for a deleted review app; the job runs the
// stop function when a pull request that j deploys for closes (merged or
// not), on the same runners and engine. It uses no environment: that would
// record a new deployment.
func (g *generator) stopJob(j pipeline.JobSpec) (*yaml.Node, error) {
	spec, _ := j.StopJob()
	var terms []string
	for _, r := range j.Rules {
		if r.Event != pipeline.MergeRequest {
			continue
		}
		r.Types = []string{"closed"}
		// A closed pull request stops its environment whatever it changed.
		r.Changes, r.IgnoreChanges = nil, nil
		c, err := g.ruleCondition(r, g.prTypes)
		if err != nil {
			return nil, fmt.Errorf("github: job %q: %w", spec.Name, err)
		}
		if !slices.Contains(terms, c) {
			terms = append(terms, c)
		}
	}
	if len(terms) == 0 && len(j.Rules) == 0 {
		terms = []string{"github.event_name == 'pull_request' && github.event.action == 'closed'"}
	}
	if len(terms) == 0 {
		return nil, fmt.Errorf("github: job %q: GitHub stops a review environment when its pull request closes, and %q has no merge request rule; add pipeline.OnMergeRequests() to its rules", spec.Name, j.Name)
	}
	spec.Rules = nil
	spec.Environment = nil
	n, err := g.job(spec, jobNeeds{})
	if err != nil {
		return nil, err
	}
	cond := strings.Join(terms, " || ")
	if len(terms) > 1 {
		for i, t := range terms {
			terms[i] = "(" + t + ")"
		}
		cond = strings.Join(terms, " || ")
	}
	// The job's if: is this condition alone; it goes first, as in every job.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "if" {
			n.Content = append(n.Content[:i:i], n.Content[i+2:]...)
			break
		}
	}
	n.Content = append([]*yaml.Node{str("if"), str(cond)}, n.Content...)
	return n, nil
}

func (g *generator) job(j pipeline.JobSpec, needs jobNeeds) (*yaml.Node, error) {
	jp := func(format string, args ...any) error {
		return fmt.Errorf("github: job %q: "+format, append([]any{j.Name}, args...)...)
	}
	if id := j.ID(); !(id[0] == '_' || id[0] >= 'a' && id[0] <= 'z' || id[0] >= 'A' && id[0] <= 'Z') {
		return nil, jp("GitHub job ids must start with a letter or _, and this job's is %q; rename the job", id)
	}
	if t := j.Trigger; t != nil {
		return nil, jp("a downstream pipeline (trigger of the %s) is GitLab's; GitHub Actions cannot start another pipeline from a job, so call a reusable workflow with pipeline.CallsWorkflow instead", t)
	}
	n := mapping()
	if len(needs.ids) > 0 {
		set(n, "needs", strings2seq(needs.ids))
	}
	cond, err := g.jobCondition(j, g.prTypes)
	if err != nil {
		return nil, jp("%v", err)
	}
	if j.StartIn > 0 {
		return nil, jp("GitHub Actions cannot delay a job (GitLab's when: delayed, start_in); use an environment wait timer in the repository settings, or drop pipeline.Delay")
	}
	var status string
	switch {
	case j.Run == pipeline.Always:
		status = "always()"
	case j.Run == pipeline.OnFailure:
		status = "failure()"
	case needs.stage && len(needs.ids) > 0:
		// GitHub skips a job when a job it needs was skipped; GitLab's
		// stage order only waits for the jobs that are in the pipeline.
		status = "!cancelled() && !failure()"
	case needs.results || len(j.Optional) > 0:
		status = "!cancelled()"
		for _, name := range j.Needs {
			id := g.byName[name].ID()
			if j.IsOptional(name) {
				// Absent or skipped is fine; failed is not.
				status += " && (needs." + id + ".result == 'success' || needs." + id + ".result == 'skipped')"
				continue
			}
			status += " && needs." + id + ".result == 'success'"
		}
	}
	if status != "" {
		switch {
		case cond == "":
			cond = status
		case strings.Contains(cond, " || "):
			cond = status + " && (" + cond + ")"
		default:
			cond = status + " && " + cond
		}
	}
	if strings.HasPrefix(cond, "!") {
		// A plain YAML scalar cannot start with "!" (a tag), and a
		// quoted one would double every quote of the expression.
		cond = "${{ " + cond + " }}"
	}
	if cond != "" {
		set(n, "if", str(cond))
	}
	if w := j.Workflow; w != nil {
		return g.workflowJob(n, j, *w), nil
	}
	runsOn := j.RunsOn
	if len(runsOn) == 0 {
		runsOn = g.p.DefaultRunsOn()
	}
	for i, l := range runsOn {
		runsOn[i] = literal(l)
	}
	if len(runsOn) == 1 {
		set(n, "runs-on", str(runsOn[0]))
	} else {
		set(n, "runs-on", strings2seq(runsOn))
	}

	if j.Matrix != nil {
		set(n, "strategy", strategy(*j.Matrix))
	}

	for _, r := range j.Reports {
		if r.Kind == pipeline.Dotenv {
			return nil, jp("a dotenv report (%s) passes variables to later jobs on GitLab only; GitHub has no such report, so pass values with pipeline.Outputs, which both CIs do", r.Path)
		}
	}
	sarif, files := splitReports(j)
	set(n, "permissions", permissions(j, len(sarif) > 0))

	if name := environmentName(j); name != "" {
		env := mapping()
		if j.Environment != nil && j.Environment.PerRef {
			// GitHub's expressions cannot compute a slug; the name holds
			// the pull request's source branch, else the ref name.
			name += "/${{ github.head_ref || github.ref_name }}"
		}
		set(env, "name", str(name))
		if j.Environment != nil && j.Environment.URL != "" {
			set(env, "url", str(slugURL(j.Environment.URL)))
		}
		set(n, "environment", env)
		if e := j.Environment; e != nil && e.AutoStopIn > 0 {
			return nil, jp("GitHub cannot stop an environment some time after its deploy (GitLab's auto_stop_in); drop AutoStopIn, or stop it with pipeline.StopsWith when the pull request closes")
		}
	}
	if j.ConcurrencyGroup != "" {
		c := mapping()
		set(c, "group", str(literal(j.ConcurrencyGroup)))
		// Queue, never cancel: a cancelled deploy is worse than a late one.
		set(c, "cancel-in-progress", boolean(false))
		set(n, "concurrency", c)
	}
	if j.AllowFailure {
		set(n, "continue-on-error", boolean(true))
	}
	if j.Timeout > 0 {
		set(n, "timeout-minutes", integer(int(j.Timeout/time.Minute)))
	}
	if j.Output != "" {
		o := mapping()
		set(o, j.Output, str("${{ steps."+outputStep+".outputs.value }}"))
		set(n, "outputs", o)
	}
	if len(j.Outputs) > 0 {
		o := mapping()
		for _, name := range j.Outputs {
			set(o, name, str("${{ steps."+outputStep+".outputs."+name+" }}"))
		}
		set(n, "outputs", o)
	}
	if env := engineEnv(g.p.EngineOf(j)); len(env.Content) > 0 {
		set(n, "env", env)
	}

	steps := &yaml.Node{Kind: yaml.SequenceNode}
	if g.setup == nil {
		// Every job starts with the same two steps; they are built once.
		g.setup = []*yaml.Node{checkoutStep(), daggerStep(g.p.DaggerVersion())}
	}
	switch c := j.Checkout; {
	case c == nil:
		steps.Content = append(steps.Content, g.setup...)
	case c.Skip:
		steps.Content = append(steps.Content, g.setup[1])
	default:
		steps.Content = append(steps.Content, checkoutWith(c), g.setup[1])
	}
	if e := j.Environment; e != nil && strings.Contains(e.URL, pipeline.RefSlugPlaceholder) {
		steps.Content = append(steps.Content, refSlugStep())
	}
	call, err := g.callStep(j)
	if err != nil {
		return nil, jp("%v", err)
	}
	steps.Content = append(steps.Content, call)
	if sum, ok := j.SummaryCall(); ok {
		steps.Content = append(steps.Content, g.summaryStep(j, sum, call))
	}
	if e := j.Environment; e != nil && len(e.Links) > 0 {
		steps.Content = append(steps.Content, linksStep(*e))
	}
	for i, r := range sarif {
		steps.Content = append(steps.Content, sarifStep(j, r, i, len(sarif)))
	}
	if len(files) > 0 {
		steps.Content = append(steps.Content, artifactStep(j, files))
	}
	set(n, "steps", steps)
	return n, nil
}

// strategy renders a matrix as the job's strategy. fail-fast is always
// written, since GitHub's default (true) is not the model's.
func strategy(m pipeline.Matrix) *yaml.Node {
	s := mapping()
	set(s, "fail-fast", boolean(m.FailFast))
	if m.MaxParallel > 0 {
		set(s, "max-parallel", integer(m.MaxParallel))
	}
	mx := mapping()
	for _, a := range m.Axes {
		set(mx, a.Name, strings2seq(a.Values))
	}
	cells := func(key string, cs []pipeline.Cell) {
		if len(cs) == 0 {
			return
		}
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, c := range cs {
			e := mapping()
			for _, a := range m.Axes {
				if v, ok := c[a.Name]; ok {
					set(e, a.Name, str(v))
				}
			}
			seq.Content = append(seq.Content, e)
		}
		set(mx, key, seq)
	}
	cells("exclude", m.Exclude)
	cells("include", m.Include)
	set(s, "matrix", mx)
	return s
}

// summaryStep writes the job's result to the step summary, pass or fail:
// a Markdown table with what the summary chain prints. It has the call
// step's environment, since the summary call takes the same arguments.
func (g *generator) summaryStep(j pipeline.JobSpec, sum pipeline.Call, call *yaml.Node) *yaml.Node {
	env := mapping()
	for i := 0; i+1 < len(call.Content); i += 2 {
		if call.Content[i].Value == "env" {
			env.Content = append(env.Content, call.Content[i+1].Content...)
		}
	}
	set(env, "SLIPWAY_OUTCOME", str("${{ steps."+outputStep+".outcome }}"))
	var lines []string
	if slices.Contains(sum.Variables(), pipeline.RefSlug) {
		lines = append(lines, pipeline.RefSlugScript(pipeline.RefSlug.GitHubName())...)
		lines = append(lines, "export "+pipeline.RefSlug.GitHubName())
	}
	lines = append(lines, pipeline.SummaryTable(j.Name, j.Call.Function, "$SLIPWAY_OUTCOME",
		literal(sum.CommandIn(g.p.Target(), pipeline.Variable.GitHubName)), `"$GITHUB_STEP_SUMMARY"`)...)
	s := mapping()
	set(s, "name", str("Summary"))
	set(s, "if", str("always()"))
	set(s, "env", env)
	set(s, "run", script(lines...))
	return s
}

// refSlugStepID is the id of the step that computes the ref's slug for an
// environment URL (pipeline.RefSlugPlaceholder).
const refSlugStepID = "ref-slug"

// slugURL writes an environment URL with the slug the ref-slug step
// computed; GitHub evaluates the environment's url after the steps ran.
func slugURL(u string) string {
	return strings.ReplaceAll(literal(u), pipeline.RefSlugPlaceholder, "${{ steps."+refSlugStepID+".outputs.value }}")
}

// refSlugStep computes the ref's slug as GitLab's CI_COMMIT_REF_SLUG is.
func refSlugStep() *yaml.Node {
	s := mapping()
	set(s, "name", str("Ref slug"))
	set(s, "id", str(refSlugStepID))
	set(s, "run", script(append(pipeline.RefSlugScript("slug"), `echo "value=$slug" >> "$GITHUB_OUTPUT"`)...))
	return s
}

// linksStep lists the environment's further addresses in the job's step
// summary: GitHub shows one URL per environment.
func linksStep(e pipeline.Environment) *yaml.Node {
	lines := pipeline.RefSlugScript("slug")
	lines = append(lines, "{")
	lines = append(lines, `  echo "### `+e.Name+`"`)
	for _, l := range e.Links {
		u := strings.ReplaceAll(l.URL, pipeline.RefSlugPlaceholder, "$slug")
		lines = append(lines, `  echo "- `+l.Name+`: <`+u+`>"`)
	}
	lines = append(lines, `} >> "$GITHUB_STEP_SUMMARY"`)
	s := mapping()
	set(s, "name", str("Links"))
	set(s, "run", script(lines...))
	return s
}

// splitReports separates SARIF reports, which go to code scanning, from the
// files kept as a workflow artifact: the other reports and the artifacts.
func splitReports(j pipeline.JobSpec) (sarif []pipeline.Report, files []string) {
	for _, r := range j.Reports {
		if r.Kind == pipeline.SARIF {
			sarif = append(sarif, r)
		} else if !slices.Contains(files, r.Path) {
			files = append(files, r.Path)
		}
	}
	if j.Artifacts != nil {
		for _, p := range j.Artifacts.Paths {
			if !slices.Contains(files, p) {
				files = append(files, p)
			}
		}
	}
	return sarif, files
}

func checkoutStep() *yaml.Node {
	s := mapping()
	set(s, "name", str("Check out"))
	set(s, "uses", uses(CheckoutAction))
	with := mapping()
	// The job needs the sources, not a token left in .git/config.
	set(with, "persist-credentials", boolean(false))
	set(s, "with", with)
	return s
}

// checkoutWith is the checkout step of a job with its own settings.
func checkoutWith(c *pipeline.Checkout) *yaml.Node {
	s := checkoutStep()
	with := s.Content[len(s.Content)-1]
	switch {
	case c.Depth == pipeline.FullHistory:
		set(with, "fetch-depth", integer(0))
	case c.Depth > 0:
		set(with, "fetch-depth", integer(c.Depth))
	}
	if c.Tags {
		set(with, "fetch-tags", boolean(true))
	}
	switch c.Submodules {
	case pipeline.TopSubmodules:
		set(with, "submodules", boolean(true))
	case pipeline.RecursiveSubmodules:
		set(with, "submodules", str("recursive"))
	}
	return s
}

// daggerStep installs the pinned Dagger CLI, checked against the release's
// published checksums, unless that exact version is already on PATH. The
// lines are the same as on GitLab (pipeline.DaggerInstall).
func daggerStep(version string) *yaml.Node {
	v := "v" + strings.TrimPrefix(version, "v")
	lines := pipeline.DaggerInstall(v)[1:]
	s := mapping()
	set(s, "name", str("Set up Dagger "+v))
	set(s, "run", script(append(lines, `echo "$HOME/.local/bin" >> "$GITHUB_PATH"`)...))
	return s
}

func (g *generator) callStep(j pipeline.JobSpec) (*yaml.Node, error) {
	env := map[string]string{}
	what := map[string]string{}
	add := func(name, value, desc string) error {
		if _, clash := g.vars[name]; clash {
			return fmt.Errorf("%s %q would hide the pipeline variable of the same name; rename one", desc, name)
		}
		if old, ok := env[name]; ok && old != value {
			return fmt.Errorf("%s %q and %s %q would be the same environment variable; rename one", what[name], name, desc, name)
		}
		env[name], what[name] = value, desc
		return nil
	}
	secrets := j.Secrets()
	if g.p.EngineOf(j).UsesCloudToken() && !slices.Contains(secrets, pipeline.CloudTokenSecret) {
		secrets = append(secrets, pipeline.CloudTokenSecret)
	}
	for _, s := range secrets {
		// The secret reaches the step's environment only; the command
		// passes env://NAME, so the value is never on a command line.
		if err := add(s, "${{ secrets."+s+" }}", "secret"); err != nil {
			return nil, err
		}
	}
	for _, o := range j.Call.Outputs() {
		src, ok := g.byName[o.Job]
		if !ok {
			return nil, fmt.Errorf("reads an output of %q, which is not a job", o.Job)
		}
		if err := add(o.Name, "${{ needs."+src.ID()+".outputs."+o.Name+" }}", "the output of "+o.Job); err != nil {
			return nil, err
		}
	}
	for _, axis := range j.Call.MatrixReads() {
		// The cell's value reaches the shell through the environment, never
		// as an expression in the script.
		if err := add(axis, "${{ matrix."+axis+" }}", "the matrix axis"); err != nil {
			return nil, err
		}
	}
	for _, v := range j.Call.Variables() {
		var value, desc string
		switch v {
		case pipeline.RepositoryURL:
			value, desc = "${{ github.server_url }}/${{ github.repository }}", "the repository URL"
		case pipeline.Registry:
			value, desc = "ghcr.io", "the registry"
		case pipeline.JobToken, pipeline.RegistryPassword:
			// The job's own token, scoped by the job's permissions.
			value, desc = "${{ secrets.GITHUB_TOKEN }}", "the job token"
		case pipeline.RefSlug:
			// Computed in the script below; GitHub has no such variable.
			continue
		default:
			continue // a default variable of every GitHub job
		}
		if err := add(v.GitHubName(), value, desc); err != nil {
			return nil, err
		}
	}

	cmd := literal(j.Call.CommandIn(g.p.Target(), pipeline.Variable.GitHubName))
	verify := j.Call.VerifyCommandIn(g.p.Target(), pipeline.Variable.GitHubName)
	switch {
	case verify != "":
		// The outputs, if any, are in the verify call's output (below).
	case j.Output != "":
		cmd = j.Output + `="$(` + cmd + `)"`
	case len(j.Outputs) > 0:
		cmd = `out="$(` + cmd + `)"`
	}
	var lines []string
	if slices.Contains(j.Call.Variables(), pipeline.RefSlug) {
		name := pipeline.RefSlug.GitHubName()
		lines = append(lines, pipeline.RefSlugScript(name)...)
		lines = append(lines, "export "+name)
	}
	for _, t := range j.Call.IDTokens() {
		if slices.Contains(lines, "export "+t.Value) {
			continue
		}
		// GitHub issues OIDC tokens on request to jobs with id-token:
		// write; the token goes to Dagger through the environment only,
		// masked in case something prints it.
		lines = append(lines,
			t.Value+`="$(curl -fsS -H "Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN" "${ACTIONS_ID_TOKEN_REQUEST_URL}&audience=`+t.Audience+`")"`,
			t.Value+`="$(printf '%s' "$`+t.Value+`" | sed -n 's/.*"value":"\([^"]*\)".*/\1/p')"`,
			`[ -n "$`+t.Value+`" ] || { echo "no OIDC token for `+t.Audience+`" >&2; exit 1; }`,
			`echo "::add-mask::$`+t.Value+`"`,
			"export "+t.Value,
		)
	}
	if len(j.RetryWhen) > 0 && !slices.Contains(j.RetryWhen, pipeline.ScriptFailure) {
		return nil, fmt.Errorf("GitHub Actions can retry only the call's own failure (script_failure), in the step; it cannot retry %s", joinReasons(j.RetryWhen))
	}
	exitCodes := func(codes []int) string {
		out := make([]string, len(codes))
		for i, c := range codes {
			out[i] = strconv.Itoa(c)
		}
		return strings.Join(out, "|")
	}
	switch {
	case j.Retries > 0 && (len(j.RetryExitCodes) > 0 || len(j.AllowExitCodes) > 0):
		// The call is retried in place, only for the exit codes asked for.
		attempts := make([]string, j.Retries+1)
		for i := range attempts {
			attempts[i] = strconv.Itoa(i + 1)
		}
		lines = append(lines,
			"rc=0",
			"for attempt in "+strings.Join(attempts, " ")+"; do",
			"  rc=0",
			"  "+cmd+" || rc=$?",
			`  if [ "$rc" = 0 ] || [ "$attempt" = `+attempts[len(attempts)-1]+" ]; then break; fi",
		)
		if len(j.RetryExitCodes) > 0 {
			lines = append(lines, `  case "$rc" in `+exitCodes(j.RetryExitCodes)+") ;; *) break ;; esac")
		}
		lines = append(lines, "  sleep 10", "done")
	case len(j.AllowExitCodes) > 0:
		lines = append(lines, "rc=0", cmd+" || rc=$?")
	case j.Retries > 0:
		// GitHub cannot retry a job, so the call is retried in place.
		last := strconv.Itoa(j.Retries + 1)
		attempts := make([]string, j.Retries+1)
		for i := range attempts {
			attempts[i] = strconv.Itoa(i + 1)
		}
		lines = append(lines,
			"for attempt in "+strings.Join(attempts, " ")+"; do",
			"  if "+cmd+"; then break; fi",
			`  if [ "$attempt" = `+last+" ]; then exit 1; fi",
			"  sleep 10",
			"done",
		)
	default:
		lines = append(lines, cmd)
	}
	switch {
	case len(j.AllowExitCodes) > 0:
		// GitHub's continue-on-error takes no exit codes: an allowed exit
		// code passes the step with a warning, any other fails it.
		lines = append(lines, `case "$rc" in 0) ;; `+exitCodes(j.AllowExitCodes)+`) echo "::warning::dagger call `+j.Call.Function+` exited $rc, which may fail" ;; *) exit "$rc" ;; esac`)
	case j.Retries > 0 && len(j.RetryExitCodes) > 0:
		lines = append(lines, `if [ "$rc" != 0 ]; then exit "$rc"; fi`)
	}
	if j.Output != "" {
		lines = append(lines, `echo "value=$`+j.Output+`" >> "$GITHUB_OUTPUT"`)
	}
	switch {
	case verify == "":
		// Several outputs: the NAME=value lines the function printed.
		lines = append(lines, j.OutputLines("out", `>> "$GITHUB_OUTPUT"`)...)
	case len(j.Outputs) == 0:
		// The first call exported the results, which the upload steps keep
		// (they run if: always()); this one decides the verdict.
		lines = append(lines, literal(verify))
	default:
		// LineOutputs: the verdict's output holds the NAME=value lines.
		// Printed again, as the call's output would have been.
		lines = append(lines, `out="$(`+literal(verify)+`)"`, `printf '%s\n' "$out"`)
		lines = append(lines, j.OutputLines("out", `>> "$GITHUB_OUTPUT"`)...)
	}

	s := mapping()
	set(s, "name", str("dagger call "+j.Call.Function))
	if len(j.OutputNames()) > 0 || j.Summary != "" {
		set(s, "id", str(outputStep))
	}
	if len(env) > 0 {
		e := mapping()
		for _, k := range slices.Sorted(maps.Keys(env)) {
			set(e, k, str(env[k]))
		}
		set(s, "env", e)
	}
	set(s, "run", script(lines...))
	return s, nil
}

// permissions returns the job's GITHUB_TOKEN permissions: contents: read,
// what its settings need (SARIF uploads, ID tokens) and what it asks for,
// in a stable order. A scope asked for at a lower level than a setting
// needs gets the higher one.
func permissions(j pipeline.JobSpec, sarif bool) *yaml.Node {
	want := map[pipeline.Scope]pipeline.Access{pipeline.Contents: pipeline.ReadAccess}
	if sarif {
		// upload-sarif reads the run's metadata, which private
		// repositories guard with actions: read.
		want[pipeline.Actions] = pipeline.ReadAccess
		want[pipeline.SecurityEvents] = pipeline.WriteAccess
	}
	if len(j.Call.IDTokens()) > 0 {
		want[pipeline.IDTokens] = pipeline.WriteAccess
	}
	rank := map[pipeline.Access]int{pipeline.NoAccess: 0, pipeline.ReadAccess: 1, pipeline.WriteAccess: 2}
	for s, a := range j.Permissions {
		if s == pipeline.Contents && a == pipeline.NoAccess || rank[a] > rank[want[s]] {
			want[s] = a
		}
	}
	n := mapping()
	for _, s := range slices.Sorted(maps.Keys(want)) {
		if want[s] == pipeline.NoAccess {
			continue
		}
		set(n, string(s), str(string(want[s])))
	}
	if len(n.Content) == 0 {
		return emptyMapping()
	}
	return n
}

func joinReasons(rs []pipeline.RetryReason) string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return strings.Join(out, ", ")
}

// engineEnv returns the job environment that points `dagger` at its engine.
// A Docker engine needs none: the hosted runners' Docker starts it.
func engineEnv(e pipeline.Engine) *yaml.Node {
	n := mapping()
	switch e.Mode() {
	case pipeline.RunnerEngineKind:
		if e.RunnerHost != "" {
			set(n, "_EXPERIMENTAL_DAGGER_RUNNER_HOST", str(literal(e.RunnerHost)))
		}
	case pipeline.CloudEngineKind:
		set(n, "DAGGER_CLOUD_ENGINE", str("true"))
	}
	return n
}

func sarifStep(j pipeline.JobSpec, r pipeline.Report, i, count int) *yaml.Node {
	category := j.ID()
	if count > 1 {
		category += "-" + strconv.Itoa(i+1)
	}
	if j.Matrix != nil {
		// Each cell's findings are their own category.
		category += "-${{ strategy.job-index }}"
	}
	s := mapping()
	set(s, "name", str("Upload SARIF "+literal(r.Path)))
	// Findings matter most when the scan failed the job.
	set(s, "if", str("always()"))
	set(s, "uses", uses(UploadSARIFAction))
	with := mapping()
	set(with, "sarif_file", str(literal(r.Path)))
	set(with, "category", str(category))
	set(s, "with", with)
	return s
}

func artifactStep(j pipeline.JobSpec, files []string) *yaml.Node {
	days := defaultRetention
	if j.Artifacts != nil && j.Artifacts.ExpireIn > 0 {
		const day = 24 * time.Hour
		days = max(1, int((j.Artifacts.ExpireIn+day-1)/day))
	}
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = literal(f)
	}
	s := mapping()
	set(s, "name", str("Upload reports"))
	// Test reports matter most when the tests failed.
	set(s, "if", str("always()"))
	set(s, "uses", uses(UploadArtifactAction))
	with := mapping()
	name := j.ID() + "-reports"
	if j.Matrix != nil {
		// Artifact names are unique per run: one per cell.
		name += "-${{ strategy.job-index }}"
	}
	set(with, "name", str(name))
	set(with, "path", script(paths...))
	set(with, "retention-days", integer(days))
	set(with, "if-no-files-found", str("warn"))
	set(s, "with", with)
	return s
}
