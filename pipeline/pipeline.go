package pipeline

import (
	"maps"
	"slices"
)

// DefaultDaggerVersion is the Dagger CLI version generated CI files install.
const DefaultDaggerVersion = "v0.19.10"

// Pipeline is a validated, immutable pipeline definition. Build one with New.
type Pipeline struct {
	name          string
	stages        []string
	jobs          []JobSpec
	variables     map[string]string
	module        string
	toolchain     string
	daggerVersion string
	functions     map[string]Signature
	runnerTags    []string
	runsOn        []string
	source        string
	regenerate    string
	engine        Engine
	schedules     []ScheduleSpec
	inputs        []InputSpec
	includes      []Include
}

// ScheduleSpec is a named pipeline schedule.
type ScheduleSpec struct {
	// Name tells schedules apart: OnSchedule(name) rules match it.
	Name string
	// Cron is when it runs: five fields, UTC.
	Cron string
}

// Signature describes a Dagger function that jobs may call, for checking
// jobs against the module before any CI file is written.
type Signature struct {
	// Name is the kebab-case function name.
	Name string
	// Args are the kebab-case argument names the function takes.
	Args []string
}

// Option configures a Pipeline.
type Option func(*Pipeline)

// Stages declares the stages, in the order they run.
func Stages(names ...string) Option {
	return func(p *Pipeline) { p.stages = append(p.stages, names...) }
}

// Job adds a job named name. Its name is used as-is on GitLab; GitHub gets
// JobSpec.ID.
func Job(name string, opts ...JobOption) Option {
	return func(p *Pipeline) {
		j := JobSpec{Name: name}
		for _, o := range opts {
			o(&j)
		}
		p.jobs = append(p.jobs, j)
	}
}

// Variable sets a plain (non-secret) environment variable for every job.
func Var(name, value string) Option {
	return func(p *Pipeline) {
		if p.variables == nil {
			p.variables = map[string]string{}
		}
		p.variables[name] = value
	}
}

// Module sets the Dagger module jobs call, as `dagger -m path call`. The
// default is the module at the repository root.
func Module(path string) Option { return func(p *Pipeline) { p.module = path } }

// Toolchain makes jobs call the functions of the toolchain installed in the
// module under name, as `dagger call name function`: a repository whose
// dagger.json installs slipway as a toolchain calls `dagger call slipway
// build`. The functions Functions declares are then the toolchain's.
func Toolchain(name string) Option { return func(p *Pipeline) { p.toolchain = name } }

// DaggerVersion sets the Dagger CLI version the CI installs.
func DaggerVersion(v string) Option { return func(p *Pipeline) { p.daggerVersion = v } }

// Functions declares the functions the module has. When given, New checks
// that every job calls one of them with arguments it takes.
func Functions(sigs ...Signature) Option {
	return func(p *Pipeline) {
		if p.functions == nil {
			p.functions = map[string]Signature{}
		}
		for _, s := range sigs {
			p.functions[s.Name] = Signature{Name: s.Name, Args: slices.Clone(s.Args)}
		}
	}
}

// DefaultRunnerTags selects GitLab runners for jobs that do not choose their own.
func DefaultRunnerTags(tags ...string) Option {
	return func(p *Pipeline) { p.runnerTags = append(p.runnerTags, tags...) }
}

// DefaultRunsOn selects GitHub runners for jobs that do not choose their own.
// The default is ubuntu-latest.
func DefaultRunsOn(labels ...string) Option {
	return func(p *Pipeline) { p.runsOn = append(p.runsOn, labels...) }
}

// Cron declares a pipeline schedule called name that runs at cron (five
// fields, UTC), for OnSchedule(name) rules. GitHub gets each as a schedule
// trigger; GitLab keeps schedules in the project settings, where each must
// set the variable SLIPWAY_SCHEDULE to name (the file's header says so).
func Cron(name, cron string) Option {
	return func(p *Pipeline) { p.schedules = append(p.schedules, ScheduleSpec{Name: name, Cron: cron}) }
}

// DefaultEngine says where jobs that do not choose their own find their
// Dagger engine. The default, the zero Engine, leaves it to the runners.
func DefaultEngine(e Engine) Option { return func(p *Pipeline) { p.engine = e } }

// GeneratedFrom names the source of the definition and the command that
// regenerates the CI files, for the header of every generated file.
func GeneratedFrom(source, regenerate string) Option {
	return func(p *Pipeline) { p.source, p.regenerate = source, regenerate }
}

// New builds and validates a pipeline. It returns a *ValidationError that
// lists every problem found when the definition is not valid.
func New(name string, opts ...Option) (*Pipeline, error) {
	p := &Pipeline{name: name, daggerVersion: DefaultDaggerVersion}
	for _, o := range opts {
		o(p)
	}
	if len(p.runsOn) == 0 {
		p.runsOn = []string{"ubuntu-latest"}
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// Name returns the pipeline's name.
func (p *Pipeline) Name() string { return p.name }

// Stages returns the stages in order.
func (p *Pipeline) Stages() []string { return slices.Clone(p.stages) }

// Jobs returns copies of the jobs, in stage order and, within a stage, in
// the order they were added.
func (p *Pipeline) Jobs() []JobSpec {
	out := make([]JobSpec, 0, len(p.jobs))
	for _, s := range p.stages {
		for _, j := range p.jobs {
			if j.Stage == s {
				out = append(out, j.clone())
			}
		}
	}
	return out
}

// Job returns a copy of the job called name.
func (p *Pipeline) Job(name string) (JobSpec, bool) {
	for _, j := range p.jobs {
		if j.Name == name {
			return j.clone(), true
		}
	}
	return JobSpec{}, false
}

// Variables returns the pipeline-wide plain variables.
func (p *Pipeline) Variables() map[string]string { return maps.Clone(p.variables) }

// Module returns the Dagger module path jobs call ("" for the root module).
func (p *Pipeline) Module() string { return p.module }

// Functions returns the functions declared with Functions, sorted by name
// (nil when none were).
func (p *Pipeline) Functions() []Signature {
	if p.functions == nil {
		return nil
	}
	out := make([]Signature, 0, len(p.functions))
	for _, name := range slices.Sorted(maps.Keys(p.functions)) {
		s := p.functions[name]
		s.Args = slices.Clone(s.Args)
		out = append(out, s)
	}
	return out
}

// Toolchain returns the toolchain whose functions jobs call ("" when they
// call the module's own).
func (p *Pipeline) Toolchain() string { return p.toolchain }

// Target returns how the CI's dagger command reaches the functions jobs call.
func (p *Pipeline) Target() Target { return Target{Module: p.module, Toolchain: p.toolchain} }

// DaggerVersion returns the Dagger CLI version the CI installs.
func (p *Pipeline) DaggerVersion() string { return p.daggerVersion }

// DefaultRunnerTags returns the GitLab runner tags for jobs without their own.
func (p *Pipeline) DefaultRunnerTags() []string { return slices.Clone(p.runnerTags) }

// DefaultRunsOn returns the GitHub runner labels for jobs without their own.
func (p *Pipeline) DefaultRunsOn() []string { return slices.Clone(p.runsOn) }

// Schedules returns the declared schedules, in order.
func (p *Pipeline) Schedules() []ScheduleSpec { return slices.Clone(p.schedules) }

// DefaultEngine returns the engine of jobs that do not choose their own.
func (p *Pipeline) DefaultEngine() Engine { return p.engine }

// EngineOf returns the engine job j runs its `dagger` commands on: its own,
// else the pipeline's default.
func (p *Pipeline) EngineOf(j JobSpec) Engine {
	if j.Engine != nil {
		return *j.Engine
	}
	return p.engine
}

// Source returns where the definition lives, for generated headers.
func (p *Pipeline) Source() string { return p.source }

// Regenerate returns the command that regenerates the CI files.
func (p *Pipeline) Regenerate() string { return p.regenerate }

// Secrets returns every secret name that some job reads, sorted.
func (p *Pipeline) Secrets() []string {
	set := map[string]bool{}
	for _, j := range p.jobs {
		for _, s := range j.Secrets() {
			set[s] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// Plan returns the jobs that a pipeline started by event on ref would
// contain, in an order in which each job comes after the jobs it needs:
// the jobs whose rules match, minus the jobs whose needs would be absent
// (GitLab refuses such a pipeline; GitHub skips such a job). Jobs with an
// approval gate are included; their JobSpec says so.
func (p *Pipeline) Plan(event Event, ref string) []JobSpec {
	return p.PlanFor(Start{Event: event, Ref: ref})
}

// PlanFor is Plan for a start that also sets variables, the project, a
// fork, an activity type or a schedule. It assumes every job succeeds:
// jobs that run only on failure are not in it. Jobs whose matching rule is
// manual are, like jobs with an approval gate; WaitsFor says which.
func (p *Pipeline) PlanFor(s Start) []JobSpec {
	var candidates []JobSpec
	for _, j := range p.Jobs() {
		if j.Run != OnFailure && j.runsFor(s, p.variables) {
			candidates = append(candidates, j)
		}
	}
	// Membership first: a job is in when its required needs are, settled
	// until nothing changes (needs may point within a stage in any order).
	// Optional needs do not decide it.
	member := map[string]bool{}
	for progress := true; progress; {
		progress = false
		for _, j := range candidates {
			if member[j.Name] {
				continue
			}
			ready := true
			for _, n := range j.Needs {
				if !member[n] && !j.IsOptional(n) {
					ready = false
				}
			}
			if ready {
				member[j.Name] = true
				progress = true
			}
		}
	}
	// Then an order in which each job follows every need that is in.
	included := map[string]bool{}
	var out []JobSpec
	for progress := true; progress; {
		progress = false
		for _, j := range candidates {
			if included[j.Name] || !member[j.Name] {
				continue
			}
			ready := true
			for _, n := range j.Needs {
				if member[n] && !included[n] {
					ready = false
				}
			}
			if ready {
				included[j.Name] = true
				out = append(out, j)
				progress = true
			}
		}
	}
	return out
}

// runsFor reports whether the job's rules match s. A job without rules
// runs in every pipeline, as on both CIs.
func (j JobSpec) runsFor(s Start, defaults map[string]string) bool {
	if len(j.Rules) == 0 {
		return true
	}
	for _, r := range j.Rules {
		if r.MatchesStart(s, defaults) {
			return true
		}
	}
	return false
}

// WaitsFor reports whether the job waits for a person in a pipeline
// started as s: it has an approval gate, or the rule that matches s is
// manual.
func (j JobSpec) WaitsFor(s Start, defaults map[string]string) bool {
	if j.Approval {
		return true
	}
	for _, r := range j.Rules {
		if r.MatchesStart(s, defaults) {
			return r.Manual
		}
	}
	return false
}
