package pipeline

import (
	"regexp"
	"strings"
)

// Trigger is a GitLab downstream pipeline that a job starts instead of
// calling a Dagger function: a multi-project pipeline of another project
// (TriggersProject), or a child pipeline of this project from a CI file in
// the repository (TriggersChild), such as one slipway generates from another
// definition. GitHub Actions has no downstream pipelines: its generator
// refuses trigger jobs (a job there calls a reusable workflow instead, see
// CallsWorkflow).
type Trigger struct {
	// Project is the path of the downstream project, such as "acme/infra",
	// for a multi-project pipeline.
	Project string
	// Branch is the downstream project's branch; "" is its default branch.
	Branch string
	// Include is the path of the child pipeline's CI file, relative to the
	// repository root, for a child pipeline.
	Include string
	// Wait makes the trigger job wait for the downstream pipeline and take
	// its status (GitLab's strategy: depend). Without it the job succeeds
	// as soon as the downstream pipeline is created.
	Wait bool
}

// TriggersProject returns a trigger of a multi-project pipeline of project
// (a path such as "acme/infra") on branch ("" for its default branch).
func TriggersProject(project, branch string) Trigger {
	return Trigger{Project: project, Branch: branch}
}

// TriggersChild returns a trigger of a child pipeline whose CI file is path,
// relative to the repository root, such as ".gitlab/docs.gitlab-ci.yml".
func TriggersChild(path string) Trigger { return Trigger{Include: path} }

// AndWait returns a copy of t whose job waits for the downstream pipeline and
// fails when it fails (GitLab's strategy: depend).
func (t Trigger) AndWait() Trigger { t.Wait = true; return t }

// String describes the trigger for messages: "acme/infra@main", "child
// .gitlab/docs.yml".
func (t Trigger) String() string {
	if t.Include != "" {
		return "child pipeline " + t.Include
	}
	s := "project " + t.Project
	if t.Branch != "" {
		s += "@" + t.Branch
	}
	return s
}

// Triggers makes the job start the downstream pipeline t instead of calling
// a Dagger function.
func Triggers(t Trigger) JobOption { return func(j *JobSpec) { c := t; j.Trigger = &c } }

// External reports whether the job runs no Dagger function of its own: it
// triggers a downstream pipeline or calls a reusable workflow.
func (j JobSpec) External() bool { return j.Trigger != nil || j.Workflow != nil }

var (
	// projectRE is a GitLab project path: a namespace (groups and
	// subgroups) and a project, as GitLab allows their path segments.
	projectRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)+$`)
	// ciFileRE is a repository file path a CI includes: no spaces, quotes or
	// variables, ending in .yml or .yaml.
	ciFileRE = regexp.MustCompile(`^[A-Za-z0-9_.][A-Za-z0-9_./-]*\.ya?ml$`)
)

// validateExternal checks a job that runs no Dagger function: what it
// starts, and that it asks for nothing that only a job running a call has.
func validateExternal(j JobSpec, jp func(string, ...any)) {
	what := "a trigger job"
	if j.Workflow != nil {
		what = "a reusable workflow job"
		validateWorkflow(*j.Workflow, jp)
	}
	if j.Trigger != nil && j.Workflow != nil {
		jp("both triggers a downstream pipeline and calls a reusable workflow; a job does one")
	}
	if j.Call.Function != "" {
		jp("%s runs no Dagger function of its own, yet it calls %q; drop pipeline.Calls or make it a job of its own", what, j.Call.Function)
	}
	if t := j.Trigger; t != nil {
		switch {
		case t.Project != "" && t.Include != "":
			jp("a trigger starts either a project's pipeline or a child pipeline, not both (%s, %s)", t.Project, t.Include)
		case t.Project == "" && t.Include == "":
			jp("the trigger names no pipeline; use pipeline.TriggersProject or pipeline.TriggersChild")
		case t.Project != "" && !projectRE.MatchString(t.Project):
			jp("trigger project %q must be a GitLab project path such as acme/infra", t.Project)
		case t.Include != "" && (!ciFileRE.MatchString(t.Include) || strings.Contains(t.Include, "..")):
			jp("child pipeline file %q must be a .yml or .yaml path inside the repository, such as .gitlab/docs.gitlab-ci.yml", t.Include)
		}
		if t.Branch != "" {
			if t.Include != "" {
				jp("a child pipeline runs on this pipeline's ref; drop the branch %q", t.Branch)
			} else if rp, err := ParseRefPattern(t.Branch); err != nil || rp.Wildcard {
				jp("trigger branch %q must be a branch name", t.Branch)
			}
		}
	}
	// What a job that runs no call of its own cannot have; the runner
	// settings go with it, since the CI runs such a job itself.
	for _, s := range []struct {
		set  bool
		name string
	}{
		{len(j.OutputNames()) > 0, "an output (pipeline.Outputs)"},
		{len(j.Reports) > 0, "reports"},
		{j.Artifacts != nil, "artifacts"},
		{j.Environment != nil, "an environment"},
		{j.Matrix != nil, "a matrix"},
		{j.Retries > 0, "retries"},
		{j.Timeout > 0, "a timeout"},
		{j.Engine != nil, "an engine"},
		{j.Checkout != nil, "a checkout"},
		{j.Summary != "", "a summary"},
		{j.Coverage != "", "a coverage regexp"},
		{len(j.RunnerTags) > 0 || len(j.RunsOn) > 0, "runners"},
		{j.StartIn > 0, "a delay"},
		{len(j.AllowExitCodes) > 0, "allowed exit codes"},
		{j.Interruptible, "Interruptible"},
	} {
		if s.set {
			jp("%s runs no Dagger call, so it cannot have %s", what, s.name)
		}
	}
	if j.Workflow != nil && j.Approval {
		jp("a reusable workflow job cannot wait for approval: GitHub allows no environment on a job that calls a workflow; gate the workflow's own jobs")
	}
	if j.Workflow != nil && j.AllowFailure {
		jp("a reusable workflow job cannot be allowed to fail: GitHub allows no continue-on-error on a job that calls a workflow")
	}
	if j.Trigger != nil && len(j.Permissions) > 0 {
		jp("a trigger job runs on GitLab only, which has no job token permissions; drop pipeline.Permissions")
	}
}
