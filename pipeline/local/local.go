// Package local runs a pipeline on this machine the way a CI system would:
// the jobs a ref selects, in the order their needs and stages impose,
// in parallel where they allow, each running exactly the `dagger call`
// lines the generated CI files run. It is the laptop runner beside
// pipeline/gitlab and pipeline/github.
//
//	res, err := local.Run(ctx, p, pipeline.Push, "main", local.WithProgress(os.Stderr))
package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slipway-ci/slipway/pipeline"
)

// Status is how a job ended.
type Status string

// The job statuses.
const (
	Passed          Status = "passed"
	Failed          Status = "failed"
	AllowedFailure  Status = "failed (allowed)"
	Skipped         Status = "skipped"
	WaitingApproval Status = "waiting for approval"
	// NotRunHere is a job that runs no Dagger function of its own (a
	// GitLab trigger job, a GitHub reusable workflow): only the CI runs it.
	// The jobs after it run as if it passed.
	NotRunHere Status = "not run here"
)

// JobResult is what happened to one job.
type JobResult struct {
	// Name is the job's name.
	Name string
	// Function is the Dagger function it calls.
	Function string
	// Status is how it ended.
	Status Status
	// Duration is how long it ran.
	Duration time.Duration
	// Output is the value it printed, for jobs with an output.
	Output string
	// Reason says why a job failed, was skipped or waits.
	Reason string
	// Summary is what the stage reported of itself (see WithSummary).
	Summary string
	// Stdout is what the job's call printed, trimmed: its result.
	Stdout string
	// Log is the job's combined output.
	Log string
	// Failure is what Dagger reported when the job failed (ParseFailure);
	// nil when it passed or its output named no Dagger error. Reason is
	// its String.
	Failure *Failure
	// LogFile is the file the job's full log was written to (WithLogDir),
	// or "".
	LogFile string
	// Attempts counts the runs of the job's calls: more than one when a
	// module-load failure was retried (RetryModuleLoad).
	Attempts int
}

// Result is a whole run.
type Result struct {
	// Jobs are in the order they were planned.
	Jobs []JobResult
}

// Failed reports whether a job failed without being allowed to.
func (r *Result) Failed() bool {
	return slices.ContainsFunc(r.Jobs, func(j JobResult) bool { return j.Status == Failed })
}

// Job returns the result of the job called name.
func (r *Result) Job(name string) (JobResult, bool) {
	i := slices.IndexFunc(r.Jobs, func(j JobResult) bool { return j.Name == name })
	if i < 0 {
		return JobResult{}, false
	}
	return r.Jobs[i], true
}

// Runner runs shell commands. The default runs them with sh in a directory;
// tests substitute a recording one.
type Runner interface {
	// Run runs command with env added to the environment, writing its
	// standard output to stdout and its standard error to stderr.
	Run(ctx context.Context, command string, env []string, stdout, stderr io.Writer) error
}

// Shell is the default Runner: `sh -c` in Dir.
type Shell struct {
	// Dir is the repository root the commands run in.
	Dir string
}

var _ Runner = Shell{}

// Run implements Runner.
func (s Shell) Run(ctx context.Context, command string, env []string, stdout, stderr io.Writer) error {
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.Dir = s.Dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	return cmd.Run()
}

type options struct {
	runner   Runner
	progress io.Writer
	approved []string
	env      map[string]string
	lookup   func(string) (string, bool)
	extra    map[string][]pipeline.Arg
	summary  string
	only     []string
	logDir   string
	retries  int
}

// Option configures Run.
type Option func(*options)

// WithRunner runs commands with r instead of sh in the current directory.
func WithRunner(r Runner) Option { return func(o *options) { o.runner = r } }

// WithProgress writes a line as each job starts and ends.
func WithProgress(w io.Writer) Option { return func(o *options) { o.progress = w } }

// Approve lets jobs with an approval gate run, as a person approving them
// in the CI would.
func Approve(jobs ...string) Option {
	return func(o *options) { o.approved = append(o.approved, jobs...) }
}

// WithEnv sets a variable for every command, such as the values of the
// portable CI variables (CI_COMMIT_SHA...) or of secrets.
func WithEnv(name, value string) Option {
	return func(o *options) { o.env[name] = value }
}

// WithExtraArgs adds args to every call of the Dagger function named
// function, for what only this machine needs, such as a tunnel to a local
// cluster (--cluster=tcp://localhost:16443). The CI files never see them.
func WithExtraArgs(function string, args ...pipeline.Arg) Option {
	return func(o *options) { o.extra[function] = append(o.extra[function], args...) }
}

// WithSummary asks every job that has a verdict call for a one-line account
// of its stage, by calling the same function chained with chain (such as
// "summary"), and keeps it in JobResult.Summary. Dagger caches the function,
// so this costs a call, not a rerun.
func WithSummary(chain string) Option { return func(o *options) { o.summary = chain } }

// OnlyJobs runs only the named jobs of the plan: what they need from jobs
// left out is taken as done, and the outputs those would have printed
// (such as IMAGE_REF) come from the environment; Run refuses when one is
// not set, naming it and the job that prints it.
func OnlyJobs(names ...string) Option {
	return func(o *options) { o.only = append(o.only, names...) }
}

// WithLogDir writes each job's full log (the commands it ran and all they
// printed) to DIR/JOB.log as it runs, one file per job, such as the demo's
// .slipway/demo/logs/RUN/build.log; JobResult.LogFile names it. The
// directory is created; give each run its own.
func WithLogDir(dir string) Option { return func(o *options) { o.logDir = dir } }

// RetryModuleLoad runs a job's call again, up to n more times, when the
// dagger CLI failed while loading the module, before any function ran
// (Failure.ModuleLoad): such a failure changed nothing, so the retry is
// safe. Dagger v0.19.10 has such failures that a second attempt does not
// meet (a client or session "not found" when concurrent loads of one module
// share work and one of them ends). The log and the progress say so.
func RetryModuleLoad(n int) Option { return func(o *options) { o.retries = n } }

// WithLookupEnv replaces os.LookupEnv for finding secrets and variables.
func WithLookupEnv(f func(string) (string, bool)) Option {
	return func(o *options) { o.lookup = f }
}

// MissingSecretsError lists the secrets the selected jobs read but the
// environment does not hold. Run returns it before any job starts.
type MissingSecretsError struct {
	// Secrets are the missing names, sorted.
	Secrets []string
}

func (e *MissingSecretsError) Error() string {
	return fmt.Sprintf("the jobs read secrets that are not set: %s; export each (the jobs pass them to Dagger as env://NAME, never on a command line) and run again",
		strings.Join(e.Secrets, ", "))
}

// Run runs the jobs of p that a pipeline started by event on ref selects.
// Commands see the GitLab names of the portable variables (CI_COMMIT_SHA...)
// and the pipeline's variables, unless the environment already sets them.
// It returns an error only when it could not run at all; failed jobs are in
// the Result.
func Run(ctx context.Context, p *pipeline.Pipeline, event pipeline.Event, ref string, opts ...Option) (*Result, error) {
	o := options{runner: Shell{}, env: map[string]string{}, lookup: os.LookupEnv, extra: map[string][]pipeline.Arg{}}
	for _, opt := range opts {
		opt(&o)
	}
	plan := p.Plan(event, ref)
	if len(plan) == 0 {
		return nil, fmt.Errorf("no job of pipeline %q runs for a %s of %q", p.Name(), event, ref)
	}
	var external []pipeline.OutputRef
	if len(o.only) > 0 {
		var kept []pipeline.JobSpec
		for _, name := range o.only {
			i := slices.IndexFunc(plan, func(j pipeline.JobSpec) bool { return j.Name == name })
			if i < 0 {
				return nil, fmt.Errorf("job %q does not run for a %s of %q", name, event, ref)
			}
			kept = append(kept, plan[i])
		}
		for _, j := range kept {
			for _, out := range j.Call.Outputs() {
				if !slices.Contains(o.only, out.Job) {
					external = append(external, out)
				}
			}
		}
		plan = kept
	}
	for _, name := range o.approved {
		if !slices.ContainsFunc(plan, func(j pipeline.JobSpec) bool { return j.Name == name }) {
			return nil, fmt.Errorf("cannot approve %q: no such job runs for a %s of %q", name, event, ref)
		}
	}

	// The pipeline's variables, unless the environment sets them (as a CI
	// variable would override them), then what the caller set explicitly.
	env := map[string]string{}
	for k, v := range p.Variables() {
		if _, set := o.lookup(k); !set {
			env[k] = v
		}
	}
	for k, v := range o.env {
		env[k] = v
	}
	var missing []string
	for _, j := range plan {
		if j.Approval && !slices.Contains(o.approved, j.Name) || j.External() {
			continue
		}
		for _, s := range j.Secrets() {
			if _, ok := env[s]; ok {
				continue
			}
			if _, ok := o.lookup(s); !ok && !slices.Contains(missing, s) {
				missing = append(missing, s)
			}
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, &MissingSecretsError{Secrets: missing}
	}

	outputs := map[string]string{}
	for _, out := range external {
		v, ok := env[out.Name]
		if !ok {
			v, ok = o.lookup(out.Name)
		}
		if !ok || v == "" {
			return nil, fmt.Errorf("%s is an output of job %q, which does not run here: set %s (for example to the digest the build printed) or run %s too", out.Name, out.Job, out.Name, out.Job)
		}
		outputs[out.Job+"\x00"+out.Name] = v
	}
	r := &run{o: o, p: p, plan: plan, env: env, done: map[string]chan struct{}{}, results: map[string]*JobResult{}, outputs: outputs}
	return r.all(ctx), nil
}

type run struct {
	o    options
	p    *pipeline.Pipeline
	plan []pipeline.JobSpec
	env  map[string]string

	mu      sync.Mutex
	done    map[string]chan struct{}
	results map[string]*JobResult
	outputs map[string]string
}

func (r *run) all(ctx context.Context) *Result {
	for _, j := range r.plan {
		r.done[j.Name] = make(chan struct{})
		r.results[j.Name] = &JobResult{Name: j.Name, Function: j.Call.Function}
	}
	var wg sync.WaitGroup
	for _, j := range r.plan {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(r.done[j.Name])
			r.job(ctx, j)
		}()
	}
	wg.Wait()
	res := &Result{}
	for _, j := range r.plan {
		res.Jobs = append(res.Jobs, *r.results[j.Name])
	}
	return res
}

// deps returns the jobs j waits for: its needs, or, as on GitLab, every
// planned job of an earlier stage when it has none.
func (r *run) deps(j pipeline.JobSpec) []string {
	if len(j.Needs) > 0 {
		var out []string
		for _, n := range j.Needs {
			if _, planned := r.done[n]; planned {
				out = append(out, n)
			}
		}
		return out
	}
	stages := r.p.Stages()
	mine := slices.Index(stages, j.Stage)
	var out []string
	for _, other := range r.plan {
		if slices.Index(stages, other.Stage) < mine {
			out = append(out, other.Name)
		}
	}
	return out
}

func (r *run) job(ctx context.Context, j pipeline.JobSpec) {
	res := r.results[j.Name]
	for _, d := range r.deps(j) {
		select {
		case <-r.done[d]:
		case <-ctx.Done():
			res.Status, res.Reason = Skipped, ctx.Err().Error()
			return
		}
		r.mu.Lock()
		st := r.results[d].Status
		r.mu.Unlock()
		if st != Passed && st != AllowedFailure && st != NotRunHere {
			res.Status, res.Reason = Skipped, fmt.Sprintf("%s %s", d, st)
			r.say("  - %-22s skipped: %s", j.Name, res.Reason)
			return
		}
	}
	if j.Approval && !slices.Contains(r.o.approved, j.Name) {
		res.Status, res.Reason = WaitingApproval, "a person must approve it"
		r.say("  ⏸ %-22s waits for approval", j.Name)
		return
	}

	if j.External() {
		res.Status, res.Reason = NotRunHere, "it starts a pipeline or workflow of the CI, not a Dagger call"
		r.say("  ~ %-22s not run here: %s", j.Name, res.Reason)
		return
	}
	env := r.jobEnv(j)
	call := j.Call
	call.Args = append(call.Args, r.o.extra[call.Function]...)
	command := call.CommandIn(r.p.Target(), pipeline.Variable.GitLabName)
	r.say("  ▶ %-22s %s", j.Name, command)
	var log bytes.Buffer
	var logw io.Writer = &log
	if r.o.logDir != "" {
		f, err := r.openLog(j.Name)
		if err != nil {
			res.Status, res.Reason = Failed, err.Error()
			r.say("  ✘ %-22s %s", j.Name, res.Reason)
			return
		}
		defer f.Close()
		res.LogFile = f.Name()
		logw = io.MultiWriter(&log, f)
		fmt.Fprintf(logw, "# job %s (stage %s), started %s\n", j.Name, j.Stage, time.Now().Format(time.RFC3339))
	}
	start := time.Now()
	var stdout bytes.Buffer
	// A matrix job runs once per cell, one after the other, with the
	// cell's values in the environment, as each CI runs one job per cell.
	cells := []pipeline.Cell{nil}
	if j.Matrix != nil {
		cells = j.Matrix.Cells()
	}
	var last string
	var err error
	// NAME=value outputs come from the verify call when there is one
	// (pipeline.LineOutputs), as the generated scripts read them.
	outputsFrom, verifyOut := &stdout, io.Discard
	if len(call.Verify) > 0 && len(j.Outputs) > 0 {
		outputsFrom = &bytes.Buffer{}
		verifyOut = outputsFrom
	}
	for _, c := range cells {
		cellEnv := env
		for _, k := range slices.Sorted(maps.Keys(c)) {
			cellEnv = append(slices.Clone(cellEnv), k+"="+c[k])
		}
		last, err = r.attempt(ctx, j.Name, res, command, cellEnv, &stdout, logw)
		if err == nil {
			if verify := call.VerifyCommandIn(r.p.Target(), pipeline.Variable.GitLabName); verify != "" {
				last, err = r.attempt(ctx, j.Name, res, verify, cellEnv, verifyOut, logw)
			}
		}
		if err != nil {
			break
		}
	}
	res.Duration = time.Since(start).Round(time.Millisecond)
	if r.o.summary != "" && len(call.Verify) > 0 {
		sum := pipeline.Call{Function: call.Function, Args: call.Args}.Then(r.o.summary).CommandIn(r.p.Target(), pipeline.Variable.GitLabName)
		var out bytes.Buffer
		fmt.Fprintf(logw, "$ %s\n", sum)
		if r.o.runner.Run(ctx, sum, env, io.MultiWriter(&out, logw), logw) == nil {
			res.Summary = strings.TrimSpace(out.String())
		}
	}
	res.Log = log.String()
	res.Stdout = strings.TrimSpace(stdout.String())
	if err != nil {
		if f, ok := ParseFailure(last); ok {
			res.Failure = &f
		}
	}
	switch {
	case err == nil:
		res.Status = Passed
		if j.Output != "" {
			res.Output = strings.TrimSpace(stdout.String())
			r.mu.Lock()
			r.outputs[j.Name+"\x00"+j.Output] = res.Output
			r.mu.Unlock()
		}
		if len(j.Outputs) > 0 {
			// Several outputs: NAME=value lines, as the CIs read them.
			values := map[string]string{}
			for _, line := range strings.Split(outputsFrom.String(), "\n") {
				if name, v, ok := strings.Cut(strings.TrimRight(line, "\r"), "="); ok && slices.Contains(j.Outputs, name) {
					values[name] = v
				}
			}
			var missing []string
			r.mu.Lock()
			for _, name := range j.Outputs {
				v, ok := values[name]
				if !ok {
					missing = append(missing, name)
				}
				r.outputs[j.Name+"\x00"+name] = v
			}
			r.mu.Unlock()
			if len(missing) > 0 {
				res.Status, res.Reason = Failed, fmt.Sprintf("the function printed no %s=<value> line", strings.Join(missing, ", no "))
			}
		}
	case j.AllowFailure:
		res.Status, res.Reason = AllowedFailure, reason(res, err)
	default:
		res.Status, res.Reason = Failed, reason(res, err)
	}
	if res.LogFile != "" {
		fmt.Fprintf(logw, "# %s in %v\n", res.Status, res.Duration)
		if res.Reason != "" {
			fmt.Fprintf(logw, "# reason: %s\n", res.Reason)
		}
	}
	r.mu.Lock()
	r.results[j.Name] = res
	r.mu.Unlock()
	mark := map[Status]string{Passed: "✔", Failed: "✘", AllowedFailure: "!"}[res.Status]
	extra := res.Reason
	if res.Output != "" {
		extra = j.Output + "=" + res.Output
	}
	r.say("  %s %-22s %s in %v %s", mark, j.Name, res.Status, res.Duration, extra)
}

// attempt runs one command of a job, again while it fails in loading the
// module and retries remain (RetryModuleLoad). It returns the combined
// output of the last run, for ParseFailure; stdout gets the standard output
// of the run that passed.
func (r *run) attempt(ctx context.Context, job string, res *JobResult, command string, env []string, stdout, logw io.Writer) (string, error) {
	for try := 0; ; try++ {
		var out, sout bytes.Buffer
		res.Attempts++
		fmt.Fprintf(logw, "$ %s\n", command)
		err := r.o.runner.Run(ctx, command, env, io.MultiWriter(&sout, &out, logw), io.MultiWriter(&out, logw))
		if err == nil {
			_, werr := stdout.Write(sout.Bytes())
			return out.String(), werr
		}
		f, ok := ParseFailure(out.String())
		if !ok || !f.ModuleLoad || try >= r.o.retries || ctx.Err() != nil {
			return out.String(), err
		}
		note := fmt.Sprintf("loading the module failed before any function ran, so nothing changed and a retry is safe (attempt %d of %d): %s",
			try+1, r.o.retries+1, f.String())
		fmt.Fprintf(logw, "# %s\n", note)
		r.say("  ↻ %-22s %s", job, note)
	}
}

// openLog creates the job's log file in the log directory.
func (r *run) openLog(job string) (*os.File, error) {
	if err := os.MkdirAll(r.o.logDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the log directory: %w", err)
	}
	name := strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' {
			return c
		}
		return '-'
	}, job)
	f, err := os.Create(filepath.Join(r.o.logDir, name+".log"))
	if err != nil {
		return nil, fmt.Errorf("creating the job's log: %w", err)
	}
	return f, nil
}

// reason is why a job failed: what Dagger reported, else the last line
// of its output, else err.
func reason(res *JobResult, err error) string {
	if res.Failure != nil {
		return res.Failure.String()
	}
	return lastLine(res.Log, err)
}

// jobEnv is the environment a job's commands see: the pipeline's and the
// run's variables, and the outputs of the jobs it reads from.
func (r *run) jobEnv(j pipeline.JobSpec) []string {
	var env []string
	for k, v := range r.env {
		env = append(env, k+"="+v)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range j.Call.Outputs() {
		env = append(env, o.Name+"="+r.outputs[o.Job+"\x00"+o.Name])
	}
	slices.Sort(env)
	return env
}

func (r *run) say(format string, args ...any) {
	if r.o.progress == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.o.progress, format+"\n", args...)
}

// lastLine returns the last non-empty line of a job's log, which is where
// Dagger prints the error, or err's text.
func lastLine(log string, err error) string {
	lines := strings.Split(strings.TrimSpace(log), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			// Dagger ends its error line with a trace id, noise here.
			if k := strings.Index(l, " [traceparent:"); k > 0 {
				l = l[:k]
			}
			return l
		}
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return fmt.Sprintf("exit status %d", exit.ExitCode())
	}
	return err.Error()
}
