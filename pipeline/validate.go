package pipeline

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// ValidationError lists everything wrong with a pipeline definition. New
// returns one before any file is generated, so a broken definition never
// reaches a CI system.
type ValidationError struct {
	// Pipeline is the pipeline's name.
	Pipeline string
	// Problems are the messages, one per problem, in a stable order.
	Problems []string
}

func (e *ValidationError) Error() string {
	if len(e.Problems) == 1 {
		return fmt.Sprintf("pipeline %q is invalid: %s", e.Pipeline, e.Problems[0])
	}
	return fmt.Sprintf("pipeline %q is invalid:\n  - %s", e.Pipeline, strings.Join(e.Problems, "\n  - "))
}

var (
	// GitLab CI variable keys and GitHub secret names may hold only ASCII
	// letters, digits and underscores, and must not start with a digit.
	envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// Dagger function and argument names as `dagger call` spells them.
	kebabRE = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
	// Stage and job names: printable, no YAML or shell surprises.
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:/ -]*$`)
)

func (p *Pipeline) validate() error {
	var probs []string
	add := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }

	if !nameRE.MatchString(p.name) {
		add("the pipeline name %q must start with a letter or digit and hold only letters, digits, spaces and _.:/-", p.name)
	}
	if len(p.stages) == 0 {
		add("no stages are declared; add pipeline.Stages(...)")
	}
	stageIndex := map[string]int{}
	for i, s := range p.stages {
		if _, dup := stageIndex[s]; dup {
			add("stage %q is declared twice", s)
			continue
		}
		if !nameRE.MatchString(s) {
			add("stage %q must start with a letter or digit and hold only letters, digits, spaces and _.:/-", s)
		}
		stageIndex[s] = i
	}
	if len(p.jobs) == 0 {
		add("no jobs are defined; add pipeline.Job(...)")
	}

	for name := range sortedMap(p.variables) {
		if !envNameRE.MatchString(name) {
			add("variable %q: the name must hold only letters, digits and _ and not start with a digit", name)
		} else if prefix := reservedPrefix(name); prefix != "" {
			add("variable %q: names starting with %s are the CI's own (GitHub ignores them, GitLab lets them override its predefined variables); choose another name", name, prefix)
		}
	}

	p.validateInputs(add)
	p.validateIncludes(add)
	p.validateSchedules(add)

	if p.toolchain != "" && !kebabRE.MatchString(p.toolchain) {
		add("toolchain %q: the name must be kebab-case, as `dagger call` spells it (such as slipway)", p.toolchain)
	}

	for _, msg := range p.engine.problems() {
		add("engine: %s", msg)
	}

	jobs := map[string]JobSpec{}
	ids := map[string]string{}
	for _, j := range p.jobs {
		if _, dup := jobs[j.Name]; dup {
			add("job %q is defined twice", j.Name)
			continue
		}
		jobs[j.Name] = j
		if other, clash := ids[j.ID()]; clash {
			add("jobs %q and %q both become the GitHub job id %q; rename one", other, j.Name, j.ID())
		}
		ids[j.ID()] = j.Name
	}

	checked := map[string]bool{}
	for _, j := range p.jobs {
		if checked[j.Name] {
			continue // a duplicate, reported above
		}
		checked[j.Name] = true
		jp := func(format string, args ...any) { add("job %q: "+format, append([]any{j.Name}, args...)...) }
		if !nameRE.MatchString(j.Name) {
			jp("the name must start with a letter or digit and hold only letters, digits, spaces and _.:/-")
		}
		si, ok := stageIndex[j.Stage]
		switch {
		case j.Stage == "":
			jp("no stage; add pipeline.Stage(...)")
		case !ok:
			jp("stage %q is not declared; declare it in pipeline.Stages(...)", j.Stage)
		}
		for _, n := range j.Needs {
			dep, exists := jobs[n]
			switch {
			case n == j.Name:
				jp("needs itself")
			case !exists:
				jp("needs %q, which is not a job", n)
			case ok && stageIndex[dep.Stage] > si:
				jp("needs %q, which runs in the later stage %q", n, dep.Stage)
			}
		}
		if j.External() {
			validateExternal(j, jp)
		} else {
			p.validateCall(j, jobs, jp)
		}
		p.validateRules(j, jp)
		validateSettings(j, jp)
		validatePermissions(j, jp)
		validatePolicies(j, jobs, jp)
		validateCheckout(j, jp)
		p.validateMatrix(j, jp)
		if j.Summary != "" && !kebabRE.MatchString(j.Summary) {
			jp("summary function %q is not kebab-case as `dagger call` spells it", j.Summary)
		}
		if stop, ok := j.StopJob(); ok {
			stop.Needs = j.Needs
			p.validateCall(stop, jobs, func(format string, args ...any) {
				add("job %q: "+format, append([]any{stop.Name}, args...)...)
			})
			if _, clash := jobs[stop.Name]; clash {
				jp("its stop job would be called %q, which is another job's name; rename that job", stop.Name)
			}
		}
		if j.Engine != nil {
			for _, msg := range j.Engine.problems() {
				jp("engine: %s", msg)
			}
		}
		seenOut := map[string]bool{}
		for _, o := range j.OutputNames() {
			switch {
			case !envNameRE.MatchString(o):
				jp("output name %q must hold only letters, digits and _ and not start with a digit", o)
			case seenOut[o]:
				jp("declares the output %s twice", o)
			case reservedPrefix(o) != "":
				jp("output %s: names starting with %s are the CI's own; choose another name", o, reservedPrefix(o))
			}
			seenOut[o] = true
		}
		if j.Outputs != nil && len(j.Outputs) == 0 {
			jp("pipeline.Outputs() or pipeline.LineOutputs() names no output")
		}
	}
	if cycle := findCycle(p.jobs, jobs); cycle != nil {
		add("the needs form a cycle: %s", strings.Join(cycle, " -> "))
	} else if len(probs) == 0 {
		probs = append(probs, p.unreachable(jobs)...)
	}
	if len(probs) > 0 {
		return &ValidationError{Pipeline: p.name, Problems: probs}
	}
	return nil
}

func (p *Pipeline) validateCall(j JobSpec, jobs map[string]JobSpec, jp func(string, ...any)) {
	c := j.Call
	if c.Function == "" {
		jp("calls no Dagger function; add pipeline.Calls(...)")
		return
	}
	if !kebabRE.MatchString(c.Function) {
		jp("function name %q is not kebab-case as `dagger call` spells it", c.Function)
	}
	if p.functions != nil {
		sig, ok := p.functions[c.Function]
		if !ok {
			names := make([]string, 0, len(p.functions))
			for n := range p.functions {
				names = append(names, n)
			}
			slices.Sort(names)
			jp("calls the Dagger function %q, which the module does not have (it has: %s)", c.Function, strings.Join(names, ", "))
		} else {
			for _, a := range c.Args {
				if !slices.Contains(sig.Args, a.Name) {
					jp("passes --%s to %q, which takes no such argument (it takes: %s)", a.Name, c.Function, strings.Join(sig.Args, ", "))
				}
			}
		}
	}
	audiences := map[string]string{}
	checkArgs := func(args []Arg) {
		seen := map[string]bool{}
		for _, a := range args {
			if !kebabRE.MatchString(a.Name) {
				jp("argument name %q is not kebab-case", a.Name)
			}
			if seen[a.Name] {
				jp("passes --%s twice", a.Name)
			}
			seen[a.Name] = true
			switch {
			case a.Var != "" && !a.Var.valid():
				jp("argument --%s reads the unknown CI variable %q", a.Name, a.Var)
			case a.Var.Secret() && a.Kind != ArgSecret:
				jp("argument --%s reads the CI credential %q as a plain value; pass it with pipeline.CISecret(%q, pipeline.%s)", a.Name, a.Var, a.Name, credentialName(a.Var))
			case a.Var != "" && a.Kind == ArgSecret && !a.Var.Secret():
				jp("argument --%s: the CI variable %q is not a secret; pass it with pipeline.FromVar", a.Name, a.Var)
			}
			if a.Env != "" {
				if _, ok := p.variables[a.Env]; !ok {
					jp("argument --%s reads the variable %q, which is not declared; add pipeline.Var(%q, ...)", a.Name, a.Env, a.Env)
				}
			}
			if o := a.Output; o != nil {
				src, ok := jobs[o.Job]
				switch {
				case !ok:
					jp("argument --%s reads an output of %q, which is not a job", a.Name, o.Job)
				case !slices.Contains(src.OutputNames(), o.Name):
					jp("argument --%s reads the output %q of %q, which declares no such output; add pipeline.Outputs(%q) to it", a.Name, o.Name, o.Job, o.Name)
				case !slices.Contains(j.Needs, o.Job):
					jp("argument --%s reads an output of %q but does not need it; add pipeline.Needs(%q)", a.Name, o.Job, o.Job)
				}
			}
			switch {
			case a.Kind == ArgSecret && a.Audience != "":
				checkIDToken(a, jp)
				if prev, ok := audiences[a.Value]; ok && prev != a.Audience {
					jp("reads the ID token %s for two audiences (%q, %q); give each its own name", a.Value, prev, a.Audience)
				}
				audiences[a.Value] = a.Audience
			case a.Kind == ArgSecret && a.Var == "":
				checkSecretName(a.Value, jp)
			case a.Audience != "":
				jp("argument --%s has an audience but is not a secret; use pipeline.IDToken", a.Name)
			}
		}
	}
	checkArgs(c.Args)
	for _, ch := range append(slices.Clone(c.Chain), c.Verify...) {
		if !kebabRE.MatchString(ch.Function) {
			jp("chained function name %q is not kebab-case", ch.Function)
		}
		checkArgs(ch.Args)
	}
	if len(c.Verify) > 0 && j.Output != "" {
		jp("has a verify call and takes the whole output of a call as %s; declare it with pipeline.LineOutputs(%q) and print %s=<value> in the verify call's output", j.Output, j.Output, j.Output)
	}
}

// credentialName is the Go name of a credential, for messages.
func credentialName(v Variable) string {
	if v == RegistryPassword {
		return "RegistryPassword"
	}
	return "JobToken"
}

// audienceRE is what an audience may hold: it goes into a URL query and a
// YAML value unquoted by any shell.
var audienceRE = regexp.MustCompile(`^[A-Za-z0-9._~:/-]+$`)

func checkIDToken(a Arg, jp func(string, ...any)) {
	switch {
	case !envNameRE.MatchString(a.Value):
		jp("ID token %q: the name must hold only letters, digits and _ and not start with a digit", a.Value)
	case reservedPrefix(a.Value) != "":
		jp("ID token %q: names starting with %s are the CI's own; choose another name", a.Value, reservedPrefix(a.Value))
	}
	if !audienceRE.MatchString(a.Audience) {
		jp("ID token %s: audience %q may hold only letters, digits and ._~:/-", a.Value, a.Audience)
	}
}

// reservedPrefix returns the prefix of name that GitHub or GitLab reserves
// for their own variables, or "".
func reservedPrefix(name string) string {
	upper := strings.ToUpper(name)
	for _, p := range []string{"GITHUB_", "RUNNER_", "CI_", "GITLAB_"} {
		if strings.HasPrefix(upper, p) {
			return p
		}
	}
	return ""
}

func checkSecretName(name string, jp func(string, ...any)) {
	upper := strings.ToUpper(name)
	for _, v := range Credentials() {
		if upper == v.GitLabName() || upper == v.GitHubName() {
			jp("secret %q is the CI's own credential; read it with pipeline.CISecret(name, pipeline.%s), which both CIs provide", name, credentialName(v))
			return
		}
	}
	switch {
	case !envNameRE.MatchString(name):
		jp("secret %q: a CI secret name may hold only letters, digits and _ and must not start with a digit", name)
	case strings.HasPrefix(upper, "GITHUB_"):
		jp("secret %q: GitHub rejects secret names that start with GITHUB_", name)
	case strings.HasPrefix(upper, "CI_") || strings.HasPrefix(upper, "GITLAB_"):
		jp("secret %q: names starting with CI_ or GITLAB_ are GitLab's predefined variables; choose another name", name)
	}
}

func (p *Pipeline) validateRules(j JobSpec, jp func(string, ...any)) {
	for _, r := range j.Rules {
		if !slices.Contains(Events(), r.Event) {
			jp("rule has the unknown event %q", r.Event)
			continue
		}
		for _, ref := range r.Refs {
			if _, err := ParsePattern(ref); err != nil {
				jp("invalid %s pattern: %v", refWord(r.Event), err)
			}
		}
		for _, ref := range r.ExceptRefs {
			if _, err := ParsePattern(ref); err != nil {
				jp("invalid excluded %s pattern: %v", refWord(r.Event), err)
			}
		}
		if r.Event == Release && (len(r.Refs) > 0 || len(r.ExceptRefs) > 0) {
			jp("a release rule matches no ref; drop its patterns")
		}
		for _, c := range append(slices.Clone(r.Changes), r.IgnoreChanges...) {
			switch {
			case c == "" || strings.HasPrefix(c, "/"):
				jp("changed-path glob %q must be a non-empty path relative to the repository root", c)
			case strings.ContainsAny(c, "'\"`$\\\n\r"):
				jp("changed-path glob %q may hold no quotes, $, \\ or line breaks", c)
			case !globWellFormed(c):
				jp("changed-path glob %q has an unclosed {: close the alternatives, as in \"{a,b}/**\"", c)
			}
		}
		if len(r.Changes) > 0 && len(r.IgnoreChanges) > 0 {
			jp("a rule either requires changes (WithChanges) or ignores some (IgnoringChanges), not both; GitHub's paths and paths-ignore exclude each other too")
		}
		for _, msg := range r.Cond.problems(p.variables) {
			jp("%s", msg)
		}
		if len(r.Types) > 0 {
			allowed, ok := activityTypes[r.Event]
			switch {
			case !ok:
				jp("activity types (%s) apply to merge requests, releases, merge queues and triggered pipelines, not to %s rules", strings.Join(r.Types, ", "), r.Event)
			case allowed == nil:
				for _, t := range r.Types {
					if !typeRE.MatchString(t) {
						jp("event type %q may hold only letters, digits and ._-", t)
					}
				}
			default:
				for _, t := range r.Types {
					if !slices.Contains(allowed, t) {
						jp("%s activity type %q is not one of: %s", r.Event, t, strings.Join(allowed, ", "))
					}
				}
			}
		}
		if len(r.Schedules) > 0 && r.Event != Schedule {
			jp("schedule names apply to OnSchedule rules only")
		}
		for _, name := range r.Schedules {
			if !slices.ContainsFunc(p.schedules, func(s ScheduleSpec) bool { return s.Name == name }) {
				jp("runs on the schedule %q, which is not declared; add pipeline.Cron(%q, \"<cron>\")", name, name)
			}
		}
		if r.Manual && j.Approval {
			jp("has a manual rule and an approval gate; every rule of a gated job is manual already, so drop Manually()")
		}
	}
}

// activityTypes are the activity types each event takes; nil means any name.
var activityTypes = map[Event][]string{
	MergeRequest: {"assigned", "unassigned", "labeled", "unlabeled", "opened", "edited", "closed", "reopened", "synchronize",
		"converted_to_draft", "ready_for_review", "locked", "unlocked", "review_requested", "review_request_removed",
		"auto_merge_enabled", "auto_merge_disabled", "milestoned", "demilestoned", "enqueued", "dequeued"},
	Release:    {"published", "unpublished", "created", "edited", "deleted", "prereleased", "released"},
	MergeQueue: {"checks_requested"},
	Triggered:  nil,
}

var (
	typeRE     = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	scheduleRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	cronRE     = regexp.MustCompile(`^[0-9*/,-]+( [0-9A-Za-z*/,-]+){4}$`)
)

// validateSchedules checks the declared schedules.
func (p *Pipeline) validateSchedules(add func(string, ...any)) {
	names := map[string]bool{}
	crons := map[string]string{}
	for _, s := range p.schedules {
		if !scheduleRE.MatchString(s.Name) {
			add("schedule %q: the name must be lower-case letters, digits, - and _", s.Name)
		}
		if names[s.Name] {
			add("schedule %q is declared twice", s.Name)
		}
		names[s.Name] = true
		if !cronRE.MatchString(s.Cron) {
			add("schedule %q: cron %q must have five space-separated fields, such as \"0 3 * * 1\"", s.Name, s.Cron)
		} else if other, dup := crons[s.Cron]; dup {
			add("schedules %q and %q have the same cron %q, which GitHub cannot tell apart; change one", other, s.Name, s.Cron)
		}
		crons[s.Cron] = s.Name
	}
}

// validatePolicies checks when the job runs and how it fails.
func validatePolicies(j JobSpec, jobs map[string]JobSpec, jp func(string, ...any)) {
	switch j.Run {
	case OnSuccess, Always, OnFailure:
	default:
		jp("run policy %q is unknown; use pipeline.RunsAlways() or pipeline.RunsOnFailure()", j.Run)
	}
	if j.StartIn < 0 || j.StartIn > 7*24*time.Hour {
		jp("delay %v must be between 0 and one week (GitLab's start_in)", j.StartIn)
	}
	if j.StartIn > 0 && j.StartIn%time.Second != 0 {
		jp("delay %v must be whole seconds", j.StartIn)
	}
	if j.StartIn > 0 && (j.Approval || j.Run != OnSuccess) {
		jp("a delayed job can neither wait for approval nor run always or on failure: GitLab's when: takes one of them")
	}
	if j.Approval && j.Run != OnSuccess {
		jp("a job that waits for approval runs when a person starts it; drop RunsAlways/RunsOnFailure")
	}
	for _, n := range j.Optional {
		if !slices.Contains(j.Needs, n) {
			jp("optional need %q is not among its needs", n)
		}
	}
	for _, o := range j.Call.Outputs() {
		if j.IsOptional(o.Job) {
			jp("reads the output %s of %q, which it needs optionally: the value is empty when that job is absent; make the need required", o.Name, o.Job)
		}
	}
	if (len(j.RetryWhen) > 0 || len(j.RetryExitCodes) > 0) && j.Retries == 0 {
		jp("sets when to retry but not how often; add pipeline.Retry(1) or pipeline.Retry(2)")
	}
	for _, r := range j.RetryWhen {
		if !slices.Contains(retryReasons, r) {
			jp("retry reason %q is unknown (GitLab's are: %s)", r, joinReasons(retryReasons))
		}
	}
	for _, c := range j.RetryExitCodes {
		if c < 1 || c > 255 {
			jp("retry exit code %d must be between 1 and 255", c)
		}
	}
	for _, c := range j.AllowExitCodes {
		if c < 1 || c > 255 {
			jp("allowed exit code %d must be between 1 and 255", c)
		}
	}
	if len(j.AllowExitCodes) > 0 && j.AllowFailure {
		jp("AllowFailure already allows every exit code; drop AllowFailureOn or AllowFailure")
	}
}

var retryReasons = []RetryReason{ScriptFailure, RunnerSystemFailure, StuckOrTimeoutFailure, APIFailure, UnknownFailure,
	SchedulerFailure, DataIntegrityFailure, JobExecutionTimeout, UnmetPrerequisites, RunnerUnsupported, StaleSchedule,
	ArchivedFailure, StuckOrTimeoutOrScript}

func joinReasons(rs []RetryReason) string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return strings.Join(out, ", ")
}

func refWord(e Event) string {
	if e == TagPush {
		return "tag"
	}
	return "branch"
}

func validateSettings(j JobSpec, jp func(string, ...any)) {
	if e := j.Environment; e != nil {
		if !nameRE.MatchString(e.Name) {
			jp("environment name %q must start with a letter or digit and hold only letters, digits, spaces and _.:/-", e.Name)
		}
		switch e.Tier {
		case Production, Staging, Testing, Development, Other:
		case "":
			jp("environment %q has no tier; set Tier", e.Name)
		default:
			jp("environment %q has the unknown tier %q", e.Name, e.Tier)
		}
		switch {
		case e.Tier == Production && !j.Approval && !j.ungatedSet:
			jp("deploys to the production environment %q without a gate; add pipeline.Approval() (a manual job on GitLab, environment reviewers on GitHub), or say why not with pipeline.DangerouslyDeployToProductionWithoutApproval(reason)", e.Name)
		case j.ungatedSet && e.Tier != Production:
			jp("DangerouslyDeployToProductionWithoutApproval applies to production environments only, and %q is %s; drop it", e.Name, e.Tier)
		case j.ungatedSet && j.Approval:
			jp("has an approval gate and DangerouslyDeployToProductionWithoutApproval; drop one")
		case j.ungatedSet && strings.TrimSpace(j.UngatedProduction) == "":
			jp("DangerouslyDeployToProductionWithoutApproval needs a reason, which both CI files show at the top")
		case j.ungatedSet && strings.ContainsAny(j.UngatedProduction, "\n\r"):
			jp("the reason for deploying to production without approval must be one line")
		}
		checkURL := func(what, u string) {
			rest := strings.ReplaceAll(u, RefSlugPlaceholder, "x")
			switch {
			case !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://"):
				jp("environment %q: %s %q must start with https:// or http://", e.Name, what, u)
			case strings.ContainsAny(rest, "{}$ \"'`\\\n"):
				jp("environment %q: %s %q may hold no spaces, quotes, $ or braces other than the placeholder %s", e.Name, what, u, RefSlugPlaceholder)
			}
		}
		if e.URL != "" {
			checkURL("URL", e.URL)
		}
		for _, l := range e.Links {
			switch {
			case l.Name == "" || strings.ContainsAny(l.Name, "|\n\r`$"):
				jp("environment %q: link %q needs a name without |, `, $ or line breaks", e.Name, l.URL)
			case l.URL == "":
				jp("environment %q: link %q has no URL", e.Name, l.Name)
			default:
				checkURL("link "+strconvQuote(l.Name), l.URL)
			}
		}
		if e.AutoStopIn < 0 || e.AutoStopIn%time.Minute != 0 {
			jp("environment %q: auto-stop %v must be whole minutes", e.Name, e.AutoStopIn)
		}
	}
	if j.Stop != nil && (j.Environment == nil || !j.Environment.PerRef) {
		jp("has a stop function but no per-ref environment; StopsWith stops review environments (pipeline.Environment{PerRef: true})")
	}
	if j.Retries < 0 || j.Retries > 2 {
		jp("retries must be 0, 1 or 2 (GitLab's limit), not %d", j.Retries)
	}
	if j.Timeout < 0 {
		jp("timeout must not be negative")
	}
	if j.Timeout > 0 && j.Timeout.Minutes() != float64(int(j.Timeout.Minutes())) {
		jp("timeout %v must be whole minutes (GitHub's timeout-minutes)", j.Timeout)
	}
	if j.Artifacts != nil && j.Artifacts.ExpireIn < 0 {
		jp("artifacts expiry must not be negative")
	}
	for _, r := range j.Reports {
		if !slices.Contains(ReportKinds(), r.Kind) {
			jp("report %q has the unknown kind %q", r.Path, r.Kind)
		}
		if r.Kind == Dotenv && r.Path == "slipway.env" {
			jp("dotenv report %q has the name of the file that holds the job's outputs; choose another", r.Path)
		}
		if r.Path == "" || strings.HasPrefix(r.Path, "/") || strings.Contains(r.Path, "..") {
			jp("report path %q must be a relative path inside the repository", r.Path)
		}
	}
	if j.Coverage != "" {
		if _, err := regexp.Compile(j.Coverage); err != nil {
			jp("coverage regexp %q does not compile: %v", j.Coverage, err)
		}
	}
}

// findCycle returns the jobs of one needs cycle, first job repeated at the
// end, or nil.
func findCycle(order []JobSpec, jobs map[string]JobSpec) []string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var found []string
	var visit func(string) bool
	visit = func(n string) bool {
		color[n] = grey
		stack = append(stack, n)
		for _, m := range jobs[n].Needs {
			if _, ok := jobs[m]; !ok || m == n {
				continue // reported as a missing or self need
			}
			switch color[m] {
			case grey:
				i := slices.Index(stack, m)
				found = append(slices.Clone(stack[i:]), m)
				return true
			case white:
				if visit(m) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
		return false
	}
	for _, j := range order {
		if color[j.Name] == white && visit(j.Name) {
			return found
		}
	}
	return nil
}

// sortedMap iterates m in key order, so messages come out in a stable order.
func sortedMap(m map[string]string) func(func(string, string) bool) {
	return func(yield func(string, string) bool) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if !yield(k, m[k]) {
				return
			}
		}
	}
}

// unreachable reports jobs that no pipeline can run: every pipeline that
// matches their rules lacks a job they need. GitLab refuses such a pipeline
// outright, so the model does too. It also reports a job whose changed-path
// filters differ from those of a job it needs, which GitLab cannot express.
func (p *Pipeline) unreachable(jobs map[string]JobSpec) []string {
	var probs []string
	ever := map[string]bool{}
	// Conditions, types and schedule names depend on what starts a
	// pipeline; assume they can hold, so only refs and needs decide.
	loose := *p
	loose.jobs = make([]JobSpec, len(p.jobs))
	for i, j := range p.jobs {
		j = j.clone()
		for k := range j.Rules {
			j.Rules[k].Cond, j.Rules[k].Types = Cond{}, nil
		}
		if j.Run == OnFailure {
			j.Run = OnSuccess
		}
		loose.jobs[i] = j
	}
	schedules := []string{""}
	if len(p.schedules) > 0 {
		// Each schedule on its own: jobs on different schedules never
		// run together.
		schedules = nil
		for _, sc := range p.schedules {
			schedules = append(schedules, sc.Name)
		}
	}
	for _, s := range p.sampleStarts() {
		for _, name := range schedules {
			for _, planned := range loose.PlanFor(Start{Event: s.event, Ref: s.ref, Schedule: name}) {
				ever[planned.Name] = true
			}
		}
	}
	for _, j := range p.jobs {
		if len(j.Needs) == 0 {
			continue
		}
		for _, n := range j.Needs {
			if j.IsOptional(n) {
				continue
			}
			own, theirs := changesOf(j), changesOf(jobs[n])
			if len(own) > 0 && len(theirs) > 0 && !subset(own, theirs) {
				probs = append(probs, fmt.Sprintf("job %q: filters on changed paths (%s) that are not among those of %q (%s), which it needs; one GitLab rule cannot require both, so give both the same paths", j.Name, strings.Join(own, ", "), n, strings.Join(theirs, ", ")))
			}
		}
		if !ever[j.Name] {
			probs = append(probs, fmt.Sprintf("job %q never runs: none of its rules matches a pipeline in which the jobs it needs (%s) run too; align its rules with theirs", j.Name, strings.Join(j.Needs, ", ")))
		}
	}
	return probs
}

type start struct {
	event Event
	ref   string
}

// sampleStarts returns pipeline starts that cover every combination of the
// pipeline's ref patterns: each exact name, each prefix continued, and a ref
// no pattern names. Patterns are exact names or prefixes, so two patterns
// overlap exactly when one of these refs matches both.
func (p *Pipeline) sampleStarts() []start {
	refs := map[string]bool{"slipway-unnamed-ref": true}
	for _, j := range p.jobs {
		for _, r := range j.Rules {
			for _, ref := range append(slices.Clone(r.Refs), r.ExceptRefs...) {
				if pp, err := ParsePattern(ref); err == nil {
					refs[pp.Sample()] = true
				}
			}
		}
	}
	var out []start
	for _, e := range Events() {
		for ref := range sortedSet(refs) {
			out = append(out, start{e, ref})
		}
	}
	return out
}

func changesOf(j JobSpec) []string {
	var all []string
	for _, r := range j.Rules {
		all = append(all, r.Changes...)
	}
	slices.Sort(all)
	return slices.Compact(all)
}

func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func sortedSet(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if !yield(k) {
				return
			}
		}
	}
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }
