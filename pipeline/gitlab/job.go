package gitlab

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/slipway-ci/slipway/pipeline"
)

// retryWhen are the failures a retried job is run again for: the job's own
// failure (a flaky test or a registry hiccup inside the Dagger call) and the
// runner's. Failures of GitLab's own checks are not worth a retry.
var retryWhen = []string{"runner_system_failure", "stuck_or_timeout_failure", "script_failure"}

// job renders one job. rules are its effective rules (see effectiveRules),
// nil when it runs in every pipeline.
func job(p *pipeline.Pipeline, j pipeline.JobSpec, rules []atom, guardPush bool) (*yaml.Node, error) {
	if err := refuse(j); err != nil {
		return nil, err
	}
	n := mapping()
	set(n, "stage", str(j.Stage))
	if err := jobHead(p, n, j, rules, guardPush); err != nil {
		return nil, err
	}
	if t := j.Trigger; t != nil {
		// A trigger job is GitLab's own: no script, no runner.
		set(n, "trigger", trigger(*t))
		return n, nil
	}
	return jobBody(p, n, j)
}

// trigger renders a downstream pipeline.
func trigger(t pipeline.Trigger) *yaml.Node {
	n := mapping()
	if t.Include != "" {
		set(n, "include", str(t.Include))
	} else {
		set(n, "project", str(t.Project))
		if t.Branch != "" {
			set(n, "branch", str(t.Branch))
		}
	}
	if t.Wait {
		set(n, "strategy", str("depend"))
	}
	return n
}

// jobHead renders what every job has: needs, matrix, rules, environment,
// resource group and failure policy.
func jobHead(p *pipeline.Pipeline, n *yaml.Node, j pipeline.JobSpec, rules []atom, guardPush bool) error {
	if len(j.Needs) > 0 {
		needs := sequence()
		for _, name := range j.Needs {
			if j.IsOptional(name) {
				// The job runs without it when its rules leave it out.
				m := mapping()
				set(m, "job", str(name))
				set(m, "optional", boolean(true))
				needs.Content = append(needs.Content, m)
				continue
			}
			needs.Content = append(needs.Content, str(name))
		}
		set(n, "needs", needs)
	}
	if j.Matrix != nil {
		set(n, "parallel", parallelMatrix(*j.Matrix))
	}
	when := whenOf(j)
	if rules != nil || when != "" {
		rn, err := jobRules(rules, j, when, guardPush, p.Variables())
		if err != nil {
			return err
		}
		set(n, "rules", rn)
	}
	if e := j.Environment; e != nil {
		en := mapping()
		set(en, "name", str(environmentName(*e)))
		if e.URL != "" {
			set(en, "url", str(slugURL(e.URL)))
		}
		set(en, "deployment_tier", str(string(e.Tier)))
		if name := j.StopJobName(); name != "" {
			set(en, "on_stop", str(name))
		}
		if e.AutoStopIn > 0 {
			set(en, "auto_stop_in", str(formatExpiry(e.AutoStopIn)))
		}
		set(n, "environment", en)
	}
	if j.ConcurrencyGroup != "" {
		set(n, "resource_group", str(j.ConcurrencyGroup))
	}
	if j.Interruptible {
		set(n, "interruptible", boolean(true))
	}
	switch {
	case j.AllowFailure:
		set(n, "allow_failure", boolean(true))
	case len(j.AllowExitCodes) > 0:
		af := mapping()
		set(af, "exit_codes", ints(j.AllowExitCodes))
		set(n, "allow_failure", af)
	}
	return nil
}

// jobBody renders what a job that runs a Dagger call has on top of jobHead.
func jobBody(p *pipeline.Pipeline, n *yaml.Node, j pipeline.JobSpec) (*yaml.Node, error) {
	if j.Timeout > 0 {
		set(n, "timeout", str(formatTimeout(j.Timeout)))
	}
	if j.Retries > 0 {
		r := mapping()
		set(r, "max", integer(j.Retries))
		reasons := retryWhen
		if len(j.RetryWhen) > 0 {
			reasons = nil
			for _, w := range j.RetryWhen {
				reasons = append(reasons, string(w))
			}
		}
		set(r, "when", strs(reasons))
		if len(j.RetryExitCodes) > 0 {
			set(r, "exit_codes", ints(j.RetryExitCodes))
		}
		set(n, "retry", r)
	}
	tags := j.RunnerTags
	if len(tags) == 0 {
		tags = p.DefaultRunnerTags()
	}
	if len(tags) > 0 {
		set(n, "tags", strs(tags))
	}
	engine := p.EngineOf(j)
	if engine.Mode() == pipeline.DockerEngineKind {
		// Dagger's GitLab recipe: the CLI starts its engine in the
		// docker:dind service, through the docker CLI of the job's image.
		set(n, "image", str("docker:"+engine.Docker()+"-cli"))
		set(n, "services", strs([]string{"docker:" + engine.Docker() + "-dind"}))
	}
	vars := engineVariables(engine)
	checkoutVariables(vars, j.Checkout)
	if len(vars.Content) > 0 {
		set(n, "variables", vars)
	}
	if tokens := j.Call.IDTokens(); len(tokens) > 0 {
		// GitLab issues each token into the job's environment under its
		// name; the call reads it as env://NAME.
		ids := mapping()
		seen := map[string]bool{}
		for _, t := range tokens {
			if seen[t.Value] {
				continue
			}
			seen[t.Value] = true
			tok := mapping()
			set(tok, "aud", str(t.Audience))
			set(ids, t.Value, tok)
		}
		set(n, "id_tokens", ids)
	}
	set(n, "before_script", strs(pipeline.DaggerInstall(p.DaggerVersion())))
	set(n, "script", strs(script(p, j)))
	if sum, ok := j.SummaryCall(); ok {
		// GitLab has no step summaries: the table goes to the job's log,
		// after the script, whatever its outcome. after_script is a new
		// shell, without before_script's PATH.
		lines := []string{pipeline.DaggerInstall(p.DaggerVersion())[0]}
		lines = append(lines, pipeline.SummaryTable(j.Name, j.Call.Function, "$CI_JOB_STATUS",
			sum.CommandIn(p.Target(), pipeline.Variable.GitLabName), "")...)
		set(n, "after_script", strs(lines))
	}
	if j.Coverage != "" {
		c := str("/" + escapeSlashes(j.Coverage) + "/")
		c.Style = yaml.SingleQuotedStyle
		set(n, "coverage", c)
	}
	a, err := artifacts(j)
	if err != nil {
		return nil, err
	}
	if a != nil {
		set(n, "artifacts", a)
	}
	return n, nil
}

// environmentName is the job's GitLab environment: a per-ref one is named
// after the ref's slug, which holds only characters GitLab allows in
// environment names.
func environmentName(e pipeline.Environment) string {
	if e.PerRef {
		return e.Name + "/$" + pipeline.RefSlug.GitLabName()
	}
	return e.Name
}

// slugURL writes an environment URL with the ref's slug as GitLab's
// variable.
func slugURL(u string) string {
	return strings.ReplaceAll(u, pipeline.RefSlugPlaceholder, "$"+pipeline.RefSlug.GitLabName())
}

// stopJob renders the job that stops j's environment: j's stage, effective
// rules and engine, each rule manual (a person, or GitLab when the branch
// goes, the merge request closes or auto_stop_in passes, starts it) and
// allowed to fail, so the pipeline does not wait for it.
func stopJob(p *pipeline.Pipeline, j pipeline.JobSpec, rules []atom, guardPush bool) (*yaml.Node, error) {
	stop, _ := j.StopJob()
	stop.Approval = true
	n, err := job(p, stop, rules, guardPush)
	if err != nil {
		return nil, err
	}
	en := mapping()
	set(en, "name", str(environmentName(*j.Environment)))
	set(en, "action", str("stop"))
	replace(n, "environment", en)
	// After environment: GitLab's own examples put it there.
	set(n, "allow_failure", boolean(true))
	return n, nil
}

// replace sets key of the mapping m to value, in place.
func replace(m *yaml.Node, key string, value *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = value
			return
		}
	}
	set(m, key, value)
}

// whenOf returns the `when:` every rule of the job carries: manual for a
// job with an approval gate, its run policy, or delayed; "" for on_success.
func whenOf(j pipeline.JobSpec) string {
	switch {
	case j.Approval:
		return "manual"
	case j.StartIn > 0:
		return "delayed"
	case j.Run != pipeline.OnSuccess:
		return string(j.Run)
	}
	return ""
}

// jobRules renders effective rules: one GitLab rule per atom, each with the
// job's when: (a manual rule of its own says manual instead). A job with a
// when: but no rules gets a single rule saying only that. Manual jobs
// created by rules default to allow_failure: false, so the pipeline waits
// for the approval instead of passing around it.
func jobRules(rules []atom, j pipeline.JobSpec, when string, guardPush bool, vars map[string]string) (*yaml.Node, error) {
	seq := sequence()
	addWhen := func(r *yaml.Node, w string) {
		if w == "" {
			return
		}
		set(r, "when", str(w))
		if w == "delayed" {
			set(r, "start_in", str(formatStartIn(j.StartIn)))
		}
	}
	if rules == nil {
		r := mapping()
		addWhen(r, when)
		seq.Content = append(seq.Content, r)
		return seq, nil
	}
	for _, a := range rules {
		cond, err := condition(a, guardPush, vars)
		if err != nil {
			return nil, err
		}
		r := mapping()
		set(r, "if", str(cond))
		if len(a.changes) > 0 {
			set(r, "changes", strs(a.changes))
		}
		w := when
		if a.manual {
			w = "manual"
		}
		addWhen(r, w)
		seq.Content = append(seq.Content, r)
	}
	return seq, nil
}

// parallelMatrix renders a matrix as parallel:matrix. Without exclusions
// the axes are one entry, which GitLab multiplies out; exclusions, which
// GitLab has not, list the remaining combinations one entry each. Included
// cells are one entry each.
func parallelMatrix(m pipeline.Matrix) *yaml.Node {
	entries := sequence()
	cell := func(c pipeline.Cell) *yaml.Node {
		e := mapping()
		for _, a := range m.Axes {
			set(e, a.Name, str(c[a.Name]))
		}
		return e
	}
	if len(m.Exclude) == 0 {
		e := mapping()
		for _, a := range m.Axes {
			set(e, a.Name, strs(a.Values))
		}
		entries.Content = append(entries.Content, e)
		for _, c := range m.Include {
			entries.Content = append(entries.Content, cell(c))
		}
	} else {
		for _, c := range m.Cells() {
			entries.Content = append(entries.Content, cell(c))
		}
	}
	pm := mapping()
	set(pm, "matrix", entries)
	return pm
}

// refuse returns the error for what a job asks and GitLab cannot do.
func refuse(j pipeline.JobSpec) error {
	if w := j.Workflow; w != nil {
		return fmt.Errorf("a reusable workflow (uses: %s) is GitHub's; GitLab composes pipelines with includes and child pipelines, so use pipeline.Includes or pipeline.TriggersChild", w.Uses)
	}
	if m := j.Matrix; m != nil {
		switch {
		case m.FailFast:
			return fmt.Errorf("a fail-fast matrix (FailFast: cancel the other cells when one fails) is GitHub's; GitLab runs every cell of a parallel:matrix job, so drop pipeline.FailFast")
		case m.MaxParallel > 0:
			return fmt.Errorf("a matrix's max-parallel (MaxParallel(%d)) is GitHub's; GitLab starts every cell of a parallel:matrix job as runners allow, so drop pipeline.MaxParallel", m.MaxParallel)
		}
	}
	for _, r := range j.Rules {
		switch {
		case r.Event == pipeline.Release:
			return fmt.Errorf("GitLab has no release event; a release is made from a tag, so use pipeline.OnTags")
		case len(r.Types) > 0 && r.Event == pipeline.MergeRequest:
			return fmt.Errorf("pull request activity types (%s) are GitHub's; GitLab runs merge request pipelines on every push to the source branch", strings.Join(r.Types, ", "))
		case len(r.IgnoreChanges) > 0:
			return fmt.Errorf("ignoring changed paths (IgnoringChanges: %s) is GitHub's paths-ignore; GitLab's rules:changes cannot exclude paths, so list the paths that matter with WithChanges", strings.Join(r.IgnoreChanges, ", "))
		case len(r.Types) > 0 && r.Event == pipeline.Triggered:
			return fmt.Errorf("event types (%s) of triggered pipelines are GitHub's repository_dispatch types; GitLab's pipeline triggers have none", strings.Join(r.Types, ", "))
		}
	}
	return nil
}

// formatStartIn writes a delay as GitLab's start_in reads it.
func formatStartIn(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return plural(int(d/(24*time.Hour)), "day")
	case d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour")
	case d%time.Minute == 0:
		return plural(int(d/time.Minute), "minute")
	}
	return plural(int(d/time.Second), "second")
}

// engineVariables returns the job variables that point `dagger` at its
// engine. The Docker ones are those of Dagger's GitLab recipe: the dind
// service listens on TLS at the host name "docker", with the certificates
// GitLab's runners share under /certs. DAGGER_CLOUD_TOKEN is not among them:
// it is a masked CI/CD variable, which every job already has.
func engineVariables(e pipeline.Engine) *yaml.Node {
	n := mapping()
	switch e.Mode() {
	case pipeline.DockerEngineKind:
		set(n, "DOCKER_HOST", str("tcp://docker:2376"))
		set(n, "DOCKER_TLS_CERTDIR", str("/certs"))
		set(n, "DOCKER_TLS_VERIFY", str("1"))
		set(n, "DOCKER_CERT_PATH", str("/certs/client"))
		set(n, "DOCKER_DRIVER", str("overlay2"))
	case pipeline.RunnerEngineKind:
		if e.RunnerHost != "" {
			set(n, "_EXPERIMENTAL_DAGGER_RUNNER_HOST", str(e.RunnerHost))
		}
	case pipeline.CloudEngineKind:
		set(n, "DAGGER_CLOUD_ENGINE", str("true"))
	}
	return n
}

// checkoutVariables adds the git variables of the job's checkout to n.
func checkoutVariables(n *yaml.Node, c *pipeline.Checkout) {
	if c == nil {
		return
	}
	if c.Skip {
		set(n, "GIT_STRATEGY", str("none"))
		return
	}
	switch {
	case c.Depth == pipeline.FullHistory:
		set(n, "GIT_DEPTH", str("0"))
	case c.Depth > 0:
		set(n, "GIT_DEPTH", str(strconv.Itoa(c.Depth)))
	}
	if c.Tags {
		// GitLab's default flags, plus the tags.
		set(n, "GIT_FETCH_EXTRA_FLAGS", str("--prune --quiet --tags"))
	}
	if c.Submodules != pipeline.NoSubmodules {
		set(n, "GIT_SUBMODULE_STRATEGY", str(string(c.Submodules)))
	}
}

// script returns the job's script: the `dagger call` and, for a job with an
// output, writing the printed value to the dotenv report.
func script(p *pipeline.Pipeline, j pipeline.JobSpec) []string {
	lines := callScript(p, j)
	if e := j.Environment; e != nil {
		// GitLab shows one URL per environment; the others go to the log.
		for _, l := range e.Links {
			lines = append(lines, `echo "`+l.Name+`: `+slugURL(l.URL)+`"`)
		}
	}
	return lines
}

func callScript(p *pipeline.Pipeline, j pipeline.JobSpec) []string {
	cmd := j.Call.CommandIn(p.Target(), pipeline.Variable.GitLabName)
	if verify := j.Call.VerifyCommandIn(p.Target(), pipeline.Variable.GitLabName); verify != "" {
		// The first call keeps the results (reports are artifacts even
		// when the verdict is a failure); the second one fails the job.
		if len(j.Outputs) == 0 {
			return []string{cmd, verify}
		}
		// LineOutputs: the verdict's output holds the NAME=value lines.
		// Printed again, as the call's output would have been.
		return append([]string{cmd, `out="$(` + verify + `)"`, `printf '%s\n' "$out"`}, j.OutputLines("out", "> "+DotenvFile)...)
	}
	if len(j.Outputs) > 0 {
		// Several outputs: the NAME=value lines the function printed are
		// the dotenv report.
		return append([]string{`out="$(` + cmd + `)"`}, j.OutputLines("out", "> "+DotenvFile)...)
	}
	if j.Output == "" {
		return []string{cmd}
	}
	// The assignment fails when the call fails, so the job fails too. ">"
	// rather than ">>": the file holds this job's output and nothing older.
	return []string{
		j.Output + `="$(` + cmd + `)"`,
		`echo "` + j.Output + `=$` + j.Output + `" > ` + DotenvFile,
	}
}

// artifacts renders what the job keeps and reports, or nil when nothing.
func artifacts(j pipeline.JobSpec) (*yaml.Node, error) {
	var paths, junit, cobertura, sast, containerScanning, codeQuality, dependencyScanning, secretDetection, cyclonedx, dotenv []string
	if len(j.OutputNames()) > 0 {
		dotenv = append(dotenv, DotenvFile)
	}
	if j.Artifacts != nil {
		paths = append(paths, j.Artifacts.Paths...)
	}
	for _, r := range j.Reports {
		switch r.Kind {
		case pipeline.JUnit:
			junit = append(junit, r.Path)
		case pipeline.Cobertura:
			cobertura = append(cobertura, r.Path)
		case pipeline.GitLabSAST:
			sast = append(sast, r.Path)
		case pipeline.GitLabContainerScanning:
			containerScanning = append(containerScanning, r.Path)
		case pipeline.GitLabCodeQuality:
			codeQuality = append(codeQuality, r.Path)
		case pipeline.GitLabDependencyScanning:
			dependencyScanning = append(dependencyScanning, r.Path)
		case pipeline.GitLabSecretDetection:
			secretDetection = append(secretDetection, r.Path)
		case pipeline.CycloneDX:
			cyclonedx = append(cyclonedx, r.Path)
		case pipeline.Dotenv:
			dotenv = append(dotenv, r.Path)
		case pipeline.SARIF:
			// GitLab shows no SARIF report; keep the file for download.
			paths = append(paths, r.Path)
		default:
			return nil, fmt.Errorf("report %q has the unknown kind %q", r.Path, r.Kind)
		}
	}
	if len(cobertura) > 1 {
		return nil, fmt.Errorf("GitLab takes one coverage report per job, not %d (%s); merge them into one file", len(cobertura), strings.Join(cobertura, ", "))
	}
	paths = dedupe(paths)

	reports := mapping()
	if len(junit) > 0 {
		set(reports, "junit", oneOrMany(junit))
	}
	if len(cobertura) == 1 {
		c := mapping()
		set(c, "coverage_format", str("cobertura"))
		set(c, "path", str(cobertura[0]))
		set(reports, "coverage_report", c)
	}
	if len(sast) > 0 {
		set(reports, "sast", oneOrMany(sast))
	}
	if len(containerScanning) > 0 {
		set(reports, "container_scanning", oneOrMany(containerScanning))
	}
	for _, r := range []struct {
		key   string
		paths []string
	}{{"codequality", codeQuality}, {"dependency_scanning", dependencyScanning}, {"secret_detection", secretDetection},
		{"cyclonedx", cyclonedx}, {"dotenv", dotenv}} {
		if len(r.paths) > 0 {
			set(reports, r.key, oneOrMany(dedupe(r.paths)))
		}
	}
	if len(paths) == 0 && len(reports.Content) == 0 {
		return nil, nil
	}
	a := mapping()
	// Reports of a failed job are what explains the failure.
	set(a, "when", str("always"))
	if j.Artifacts != nil && j.Artifacts.ExpireIn > 0 {
		set(a, "expire_in", str(formatExpiry(j.Artifacts.ExpireIn)))
	}
	if len(paths) > 0 {
		set(a, "paths", strs(paths))
	}
	if len(reports.Content) > 0 {
		set(a, "reports", reports)
	}
	return a, nil
}

func oneOrMany(ss []string) *yaml.Node {
	if len(ss) == 1 {
		return str(ss[0])
	}
	return strs(ss)
}

func dedupe(ss []string) []string {
	var out []string
	for _, s := range ss {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// formatTimeout writes d as GitLab's timeout keyword reads it: "30m",
// "1h", "1h 30m" (and seconds, which New does not let through).
func formatTimeout(d time.Duration) string {
	var parts []string
	if h := d / time.Hour; h > 0 {
		parts = append(parts, strconv.Itoa(int(h))+"h")
	}
	if m := d % time.Hour / time.Minute; m > 0 {
		parts = append(parts, strconv.Itoa(int(m))+"m")
	}
	if s := d % time.Minute; s > 0 {
		parts = append(parts, strconv.Itoa(int((s+time.Second-1)/time.Second))+"s")
	}
	return strings.Join(parts, " ")
}

// formatExpiry writes d in the largest whole unit GitLab's expire_in reads:
// "1 week", "3 days", "12 hours", "30 minutes", "45 seconds".
func formatExpiry(d time.Duration) string {
	units := []struct {
		size time.Duration
		name string
	}{
		{7 * 24 * time.Hour, "week"},
		{24 * time.Hour, "day"},
		{time.Hour, "hour"},
		{time.Minute, "minute"},
	}
	for _, u := range units {
		if d%u.size == 0 {
			return plural(int(d/u.size), u.name)
		}
	}
	return plural(int((d+time.Second-1)/time.Second), "second")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

// escapeSlashes escapes every "/" of a regular expression that is not
// escaped yet, since GitLab reads the coverage regexp between slashes.
func escapeSlashes(re string) string {
	var b strings.Builder
	escaped := false
	for _, r := range re {
		switch {
		case escaped:
			escaped = false
		case r == '\\':
			escaped = true
		case r == '/':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
