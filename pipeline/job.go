package pipeline

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// Tier is the kind of deployment an environment receives. The names are
// GitLab's deployment tiers.
type Tier string

// The deployment tiers.
const (
	Production  Tier = "production"
	Staging     Tier = "staging"
	Testing     Tier = "testing"
	Development Tier = "development"
	Other       Tier = "other"
)

// Environment is where a deploy job deploys.
type Environment struct {
	// Name is the environment's name in the CI system, such as "staging";
	// with PerRef, the prefix of every review environment's name.
	Name string
	// URL is where the deployed service answers; optional. It may hold
	// RefSlugPlaceholder, which becomes the ref's slug (see RefSlug), as
	// review apps' host names do.
	URL string
	// Tier is the deployment tier. A Production environment needs a gate.
	Tier Tier
	// PerRef makes one environment per branch or merge request: review
	// apps. Its name is Name/<ref>: GitLab's review/$CI_COMMIT_REF_SLUG,
	// GitHub's review/<pull request's source branch or ref name>.
	PerRef bool
	// AutoStopIn, when set, stops the environment that long after its last
	// deploy (GitLab's auto_stop_in; GitHub has no such thing).
	AutoStopIn time.Duration
	// Links are further addresses of the deployed service (an API, a
	// dashboard). Both CIs show one URL per environment: URL. The links go
	// to the job's log on GitLab and to its step summary on GitHub.
	Links []Link
}

// Link is a named address of a deployed service.
type Link struct {
	// Name says what it is, such as "API".
	Name string
	// URL is the address; it may hold RefSlugPlaceholder too.
	URL string
}

// RefSlugPlaceholder, in an environment's URL, stands for the slug of the
// ref being built (see RefSlug): "https://{ref-slug}.review.example.com".
const RefSlugPlaceholder = "{ref-slug}"

// ReportKind is the format of a report a job produces.
type ReportKind string

// The report kinds. GitLab shows JUnit, Cobertura, SAST and container
// scanning reports in merge requests; GitHub takes SARIF into code scanning.
const (
	JUnit                   ReportKind = "junit"
	Cobertura               ReportKind = "cobertura"
	SARIF                   ReportKind = "sarif"
	GitLabSAST              ReportKind = "gitlab-sast"
	GitLabContainerScanning ReportKind = "gitlab-container-scanning"
	// GitLabCodeQuality is GitLab's code quality report (Code Climate JSON).
	GitLabCodeQuality ReportKind = "gitlab-codequality"
	// GitLabDependencyScanning is GitLab's dependency scanning report.
	GitLabDependencyScanning ReportKind = "gitlab-dependency-scanning"
	// GitLabSecretDetection is GitLab's secret detection report.
	GitLabSecretDetection ReportKind = "gitlab-secret-detection"
	// CycloneDX is a CycloneDX SBOM (JSON), which GitLab lists as the
	// pipeline's dependencies.
	CycloneDX ReportKind = "cyclonedx"
	// Dotenv is a file of NAME=value lines whose variables GitLab passes
	// to the jobs after this one. GitHub has no such report: it refuses
	// it; pipeline.Outputs passes values on both.
	Dotenv ReportKind = "dotenv"
)

// ReportKinds lists every report kind, in a stable order.
func ReportKinds() []ReportKind {
	return []ReportKind{JUnit, Cobertura, SARIF, GitLabSAST, GitLabContainerScanning, GitLabCodeQuality,
		GitLabDependencyScanning, GitLabSecretDetection, CycloneDX, Dotenv}
}

// Report is a report file a job leaves behind, relative to the repository root.
type Report struct {
	// Kind is the report's format.
	Kind ReportKind
	// Path is the file the job writes.
	Path string
}

// Artifacts are files a job keeps after it ends.
type Artifacts struct {
	// Paths are files or directories relative to the repository root.
	Paths []string
	// ExpireIn is how long the CI keeps them; zero means the CI's default.
	ExpireIn time.Duration
}

// RunWhen says on which outcome of the earlier jobs a job runs.
type RunWhen string

// The run policies.
const (
	// OnSuccess: when the jobs before it succeeded (the default).
	OnSuccess RunWhen = ""
	// Always: whatever happened before it, as a clean-up or a report does.
	Always RunWhen = "always"
	// OnFailure: only when a job before it failed, as a notification does.
	OnFailure RunWhen = "on_failure"
)

// RetryReason is a kind of failure a job is run again for, with GitLab's
// names. GitHub can only retry the job's own failure, in the step.
type RetryReason string

// The retry reasons.
const (
	ScriptFailure          RetryReason = "script_failure"
	RunnerSystemFailure    RetryReason = "runner_system_failure"
	StuckOrTimeoutFailure  RetryReason = "stuck_or_timeout_failure"
	APIFailure             RetryReason = "api_failure"
	UnknownFailure         RetryReason = "unknown_failure"
	SchedulerFailure       RetryReason = "scheduler_failure"
	DataIntegrityFailure   RetryReason = "data_integrity_failure"
	JobExecutionTimeout    RetryReason = "job_execution_timeout"
	UnmetPrerequisites     RetryReason = "unmet_prerequisites"
	RunnerUnsupported      RetryReason = "runner_unsupported"
	StaleSchedule          RetryReason = "stale_schedule"
	ArchivedFailure        RetryReason = "archived_failure"
	StuckOrTimeoutOrScript RetryReason = "always"
)

// JobSpec is the full description of one job. It is a plain value: the
// copies that Pipeline.Jobs returns can be read freely and changing them
// changes nothing else.
type JobSpec struct {
	// Name is the job's name on GitLab, such as "test:unit". On GitHub the
	// job id is ID().
	Name string
	// Stage is the stage the job belongs to.
	Stage string
	// Needs are the jobs that must finish before this one starts.
	Needs []string
	// Call is the Dagger function the job runs.
	Call Call
	// Rules say when the job runs; empty means always.
	Rules []Rule
	// Environment is where the job deploys, if it deploys.
	Environment *Environment
	// Approval makes the job wait for a person: a manual job on GitLab,
	// environment reviewers on GitHub.
	Approval bool
	// AllowFailure lets the pipeline succeed when the job fails.
	AllowFailure bool
	// Timeout bounds the job's run time; zero means the CI's default.
	Timeout time.Duration
	// Retries is how many times a failed job is run again (0 to 2).
	Retries int
	// Interruptible lets a newer pipeline on the same ref cancel this job.
	Interruptible bool
	// ConcurrencyGroup, when set, makes jobs of the same group run one at a
	// time across pipelines (GitLab resource_group, GitHub job concurrency).
	ConcurrencyGroup string
	// RunnerTags select GitLab runners.
	RunnerTags []string
	// RunsOn selects GitHub runners; empty means the pipeline's default.
	RunsOn []string
	// Permissions are the GITHUB_TOKEN permissions the job asks for on top
	// of contents: read (see Permissions).
	Permissions map[Scope]Access
	// Engine, when not nil, is where the job finds its Dagger engine
	// instead of the pipeline's default.
	Engine *Engine
	// Reports are the report files the job writes.
	Reports []Report
	// Artifacts are the files the job keeps.
	Artifacts *Artifacts
	// Coverage is a regular expression (without slashes) that finds the
	// coverage percentage in the job's log, for GitLab's coverage: keyword.
	Coverage string
	// Output, when set, names the value the job's function prints (its
	// standard output, trimmed). Later jobs that need this job read it with
	// FromJob: a GitLab dotenv report, a GitHub job output.
	Output string
	// Outputs, when set, name several values the job's function prints,
	// each as a NAME=value line of its standard output (other lines are
	// ignored; a missing one fails the job). Later jobs read each with
	// FromJob, as Output. A job has Output or Outputs, not both.
	Outputs []string
	// Run says on which outcome of earlier jobs the job runs.
	Run RunWhen
	// StartIn delays the job after its turn comes (GitLab when: delayed).
	StartIn time.Duration
	// Optional are the jobs among Needs that may be absent or skipped:
	// the job runs without them.
	Optional []string
	// RetryWhen are the failures Retries retries; empty means the job's own
	// failure, the runner's, and a timeout.
	RetryWhen []RetryReason
	// RetryExitCodes, when set, limits retries to these exit codes.
	RetryExitCodes []int
	// Checkout, when not nil, says how the job checks out the repository.
	Checkout *Checkout
	// Matrix, when not nil, runs the job once per cell (see RunsMatrix).
	Matrix *Matrix
	// Summary, when set, is the function chained on the job's call that
	// prints a short account of the stage's result (such as "summary" on
	// a stage's Verdict): after the call, pass or fail, the job writes a
	// Markdown table of the job, its function, its result and that account
	// to GitHub's step summary ($GITHUB_STEP_SUMMARY), and to the job's log
	// on GitLab (after_script), which has no step summaries.
	Summary string
	// Stop, when not nil, is the Dagger function that stops the job's
	// (per-ref) environment. GitLab gets a stop job, the environment's
	// on_stop, that a person or GitLab (when the branch is deleted, the
	// merge request closed, or AutoStopIn passed) starts; GitHub gets a
	// job that runs it when the pull request closes. See StopJobName.
	Stop *Call
	// UngatedProduction, when not empty, is why the job deploys to a
	// production environment without approval (see
	// DangerouslyDeployToProductionWithoutApproval).
	UngatedProduction string
	// AllowExitCodes, when set, lets the pipeline succeed when the job
	// fails with one of these exit codes, and only then.
	AllowExitCodes []int
	// Trigger, when not nil, makes the job start a GitLab downstream
	// pipeline instead of calling a Dagger function (see Triggers).
	Trigger *Trigger
	// Workflow, when not nil, makes the job call a GitHub reusable
	// workflow instead of a Dagger function (see CallsWorkflow).
	Workflow *Workflow

	ungatedSet bool
}

// ID returns the job's GitHub Actions job id: the name with every character
// other than letters, digits, "-" and "_" replaced by "-".
func (j JobSpec) ID() string {
	b := []byte(j.Name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '-'
		}
	}
	return string(b)
}

// Secrets returns the secret names the job reads: its call's, or the
// secrets it passes to a reusable workflow.
func (j JobSpec) Secrets() []string {
	if w := j.Workflow; w != nil {
		var out []string
		for _, k := range slices.Sorted(maps.Keys(w.Secrets)) {
			out = append(out, w.Secrets[k])
		}
		return out
	}
	return j.Call.Secrets()
}

func (j JobSpec) clone() JobSpec {
	out := j
	out.Needs = slices.Clone(j.Needs)
	out.Call = j.Call.clone()
	out.Rules = nil
	for _, r := range j.Rules {
		out.Rules = append(out.Rules, r.clone())
	}
	if j.Environment != nil {
		e := *j.Environment
		e.Links = slices.Clone(e.Links)
		out.Environment = &e
	}
	if j.Stop != nil {
		c := j.Stop.clone()
		out.Stop = &c
	}
	out.RunnerTags = slices.Clone(j.RunnerTags)
	out.RunsOn = slices.Clone(j.RunsOn)
	if j.Engine != nil {
		e := *j.Engine
		out.Engine = &e
	}
	out.Permissions = maps.Clone(j.Permissions)
	out.Optional = slices.Clone(j.Optional)
	if j.Checkout != nil {
		c := *j.Checkout
		out.Checkout = &c
	}
	out.Outputs = slices.Clone(j.Outputs)
	out.RetryWhen = slices.Clone(j.RetryWhen)
	out.RetryExitCodes = slices.Clone(j.RetryExitCodes)
	out.AllowExitCodes = slices.Clone(j.AllowExitCodes)
	out.Reports = slices.Clone(j.Reports)
	if j.Matrix != nil {
		m := j.Matrix.clone()
		out.Matrix = &m
	}
	if j.Trigger != nil {
		t := *j.Trigger
		out.Trigger = &t
	}
	if j.Workflow != nil {
		w := j.Workflow.clone()
		out.Workflow = &w
	}
	if j.Artifacts != nil {
		a := Artifacts{Paths: slices.Clone(j.Artifacts.Paths), ExpireIn: j.Artifacts.ExpireIn}
		out.Artifacts = &a
	}
	return out
}

// JobOption sets one property of a job.
type JobOption func(*JobSpec)

// Stage puts the job in stage.
func Stage(name string) JobOption { return func(j *JobSpec) { j.Stage = name } }

// Needs makes the job wait for jobs.
func Needs(jobs ...string) JobOption {
	return func(j *JobSpec) { j.Needs = append(j.Needs, jobs...) }
}

// NeedsOptional makes the job wait for jobs when they are in the pipeline,
// and run without them when their rules left them out or they were
// skipped (GitLab optional: true; GitHub checks their result).
func NeedsOptional(jobs ...string) JobOption {
	return func(j *JobSpec) {
		j.Needs = append(j.Needs, jobs...)
		j.Optional = append(j.Optional, jobs...)
	}
}

// IsOptional reports whether the need on job may be absent.
func (j JobSpec) IsOptional(job string) bool { return slices.Contains(j.Optional, job) }

// RunsAlways runs the job whatever happened to the jobs before it.
func RunsAlways() JobOption { return func(j *JobSpec) { j.Run = Always } }

// RunsOnFailure runs the job only when a job before it failed.
func RunsOnFailure() JobOption { return func(j *JobSpec) { j.Run = OnFailure } }

// Delay starts the job d after its turn comes (GitLab's when: delayed and
// start_in; GitHub has no delayed jobs).
func Delay(d time.Duration) JobOption { return func(j *JobSpec) { j.StartIn = d } }

// RetryWhen limits the job's retries (see Retry) to these failures.
func RetryWhen(reasons ...RetryReason) JobOption {
	return func(j *JobSpec) { j.RetryWhen = append(j.RetryWhen, reasons...) }
}

// RetryExitCodes limits the job's retries (see Retry) to these exit codes.
func RetryExitCodes(codes ...int) JobOption {
	return func(j *JobSpec) { j.RetryExitCodes = append(j.RetryExitCodes, codes...) }
}

// AllowFailureOn lets the pipeline succeed when the job fails with one of
// codes, and only then: a linter's "findings" exit code, say, but not a
// crash.
func AllowFailureOn(codes ...int) JobOption {
	return func(j *JobSpec) { j.AllowExitCodes = append(j.AllowExitCodes, codes...) }
}

// Calls sets the Dagger function the job runs.
func Calls(c Call) JobOption { return func(j *JobSpec) { j.Call = c.clone() } }

// When adds rules saying when the job runs. A job runs when any rule matches.
func When(rules ...Rule) JobOption {
	return func(j *JobSpec) {
		for _, r := range rules {
			j.Rules = append(j.Rules, r.clone())
		}
	}
}

// Deploys makes the job deploy to env.
func Deploys(env Environment) JobOption {
	return func(j *JobSpec) { e := env; j.Environment = &e }
}

// Summarize makes the job write a short Markdown table of its result, with
// the account the function chain prints (such as "summary"), to the step
// summary on GitHub and to the log on GitLab.
func Summarize(chain string) JobOption { return func(j *JobSpec) { j.Summary = chain } }

// SummaryCall returns the call that prints the job's summary: the job's
// function and arguments with Summary chained, or false when it has none.
func (j JobSpec) SummaryCall() (Call, bool) {
	if j.Summary == "" {
		return Call{}, false
	}
	return Call{Function: j.Call.Function, Args: cloneArgs(j.Call.Args)}.Then(j.Summary), true
}

// StopsWith makes c stop the job's per-ref environment (see
// Environment.PerRef): the review app's teardown.
func StopsWith(c Call) JobOption { return func(j *JobSpec) { s := c.clone(); j.Stop = &s } }

// StopJobName returns the name of the job that stops the job's
// environment ("deploy:review:stop"), or "" when it has none.
func (j JobSpec) StopJobName() string {
	if j.Stop == nil {
		return ""
	}
	return j.Name + ":stop"
}

// StopJob returns the job that stops the job's environment, as the
// generators write it: the same stage, rules and engine, calling Stop.
func (j JobSpec) StopJob() (JobSpec, bool) {
	if j.Stop == nil {
		return JobSpec{}, false
	}
	s := JobSpec{Name: j.StopJobName(), Stage: j.Stage, Call: j.Stop.clone(), Engine: j.Engine,
		RunnerTags: slices.Clone(j.RunnerTags), RunsOn: slices.Clone(j.RunsOn), Timeout: j.Timeout}
	for _, r := range j.Rules {
		s.Rules = append(s.Rules, r.clone())
	}
	if j.Environment != nil {
		e := *j.Environment
		e.Links = nil
		s.Environment = &e
	}
	return s, true
}

// DangerouslyDeployToProductionWithoutApproval lets the job deploy to a
// production environment without a person's approval, for teams that
// deploy every merge to main and gate it elsewhere. reason is written at
// the top of both CI files, so every reader sees it. Without it New
// refuses an ungated production deploy.
func DangerouslyDeployToProductionWithoutApproval(reason string) JobOption {
	return func(j *JobSpec) { j.UngatedProduction = reason; j.ungatedSet = true }
}

// Approval makes the job wait for a person's approval before it runs.
func Approval() JobOption { return func(j *JobSpec) { j.Approval = true } }

// AllowFailure lets the pipeline succeed when this job fails.
func AllowFailure() JobOption { return func(j *JobSpec) { j.AllowFailure = true } }

// Timeout bounds the job's run time.
func Timeout(d time.Duration) JobOption { return func(j *JobSpec) { j.Timeout = d } }

// Retry runs a failed job again, up to n more times (GitLab allows 0 to 2).
func Retry(n int) JobOption { return func(j *JobSpec) { j.Retries = n } }

// Interruptible lets a newer pipeline on the same ref cancel the job.
func Interruptible() JobOption { return func(j *JobSpec) { j.Interruptible = true } }

// Concurrency makes jobs sharing group run one at a time across pipelines.
func Concurrency(group string) JobOption { return func(j *JobSpec) { j.ConcurrencyGroup = group } }

// RunnerTags selects GitLab runners by tag for this job.
func RunnerTags(tags ...string) JobOption {
	return func(j *JobSpec) { j.RunnerTags = append(j.RunnerTags, tags...) }
}

// RunsOn selects GitHub runners by label for this job.
func RunsOn(labels ...string) JobOption {
	return func(j *JobSpec) { j.RunsOn = append(j.RunsOn, labels...) }
}

// UseEngine makes the job find its Dagger engine as e says, instead of as
// the pipeline's DefaultEngine says.
func UseEngine(e Engine) JobOption { return func(j *JobSpec) { j.Engine = &e } }

// Reports declares report files the job writes.
func Reports(reports ...Report) JobOption {
	return func(j *JobSpec) { j.Reports = append(j.Reports, reports...) }
}

// KeepArtifacts keeps paths for expireIn after the job ends.
func KeepArtifacts(expireIn time.Duration, paths ...string) JobOption {
	return func(j *JobSpec) {
		j.Artifacts = &Artifacts{Paths: slices.Clone(paths), ExpireIn: expireIn}
	}
}

// Outputs declares the values the job's function prints for later jobs,
// which read each with FromJob. One name, such as "IMAGE_REF" for a pushed
// image's digest reference, is the function's whole standard output.
// Several, such as Outputs("IMAGE_REF", "VERSION"), are NAME=value lines
// the function prints, one per name: a GitLab dotenv report, GitHub job
// outputs.
func Outputs(names ...string) JobOption {
	return func(j *JobSpec) {
		if len(names) == 1 {
			j.Output, j.Outputs = names[0], nil
			return
		}
		// Not nil even when empty, so New can say no name was given.
		j.Output, j.Outputs = "", append([]string{}, names...)
	}
}

// LineOutputs declares values the job's function prints as NAME=value
// lines, one per name, among other output: with one name too, unlike
// Outputs. A job with a verify call (Call.ThenVerify) reads its outputs
// this way from what the verify call prints, such as a verdict's summary
// that ends with IMAGE_REF=repository@sha256:digest.
func LineOutputs(names ...string) JobOption {
	return func(j *JobSpec) { j.Output, j.Outputs = "", append([]string{}, names...) }
}

// OutputNames returns the names of the values the job prints: Output, or
// Outputs.
func (j JobSpec) OutputNames() []string {
	if j.Output != "" {
		return []string{j.Output}
	}
	return slices.Clone(j.Outputs)
}

// OutputLines returns the POSIX shell lines that keep the NAME=value lines
// of the job's Outputs from the variable holding what its function printed
// and write them with redirect (such as "> slipway.env" or
// `>> "$GITHUB_OUTPUT"`), failing with a message when one is missing.
func (j JobSpec) OutputLines(variable, redirect string) []string {
	if len(j.Outputs) == 0 {
		return nil
	}
	return []string{
		`printf '%s\n' "$` + variable + `" | grep -E '^(` + strings.Join(j.Outputs, "|") + `)=' ` + redirect + ` || true`,
		// awk, not grep -q: grep -q exits at the first match, and with
		// pipefail the printf still writing the lines after it dies of
		// SIGPIPE, failing the check for a line that is there.
		`for name in ` + strings.Join(j.Outputs, " ") + `; do printf '%s\n' "$` + variable + `" | awk -v p="$name=" 'index($0, p) == 1 { found = 1 } END { exit !found }' || { echo "the function printed no $name=<value> line" >&2; exit 1; }; done`,
	}
}

// Coverage sets the regular expression that finds the coverage percentage
// in the job's log.
func Coverage(regexp string) JobOption { return func(j *JobSpec) { j.Coverage = regexp } }
