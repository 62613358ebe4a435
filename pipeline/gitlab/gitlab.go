// Package gitlab turns a pipeline.Pipeline into a GitLab CI configuration,
// the .gitlab-ci.yml file at a repository's root.
//
// The file is a thin shim: every job installs the pinned Dagger CLI and runs
// exactly one `dagger call`, so the pipeline's logic lives in the Dagger
// module and runs the same on a laptop. Everything GitLab itself decides
// (which jobs a pipeline holds, their order, approvals, retries, reports)
// is written as plain GitLab keywords: stages, needs, rules, environment,
// allow_failure, timeout, retry, interruptible, resource_group, tags,
// artifacts and coverage. No image and no services are set: runners selected
// by the job's tags must provide a Dagger engine.
//
// Output is deterministic: the same pipeline always gives the same bytes,
// with jobs in stage order and maps in key order.
package gitlab

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/slipway-ci/slipway/pipeline"
)

// DotenvFile is the file a job that declares an output writes its value to.
// GitLab loads it as a dotenv report into the environment of the jobs that
// need the job.
const DotenvFile = "slipway.env"

// Option configures Generate.
type Option func(*settings)

type settings struct {
	// yamlOnly skips the printer, for tests comparing it with yaml.v3.
	yamlOnly bool
	// component writes the pipeline as a CI/CD component's template.
	component bool
}

// AsComponent writes the pipeline as the template of a GitLab CI/CD
// component (templates/<name>.yml of a component project), which other
// projects include with `include: component:` and its inputs: a spec:
// header declares the pipeline's inputs (pipeline.Input), whose variables
// take the values given ($[[ inputs.NAME ]]), and the jobs follow. It has
// no workflow: the including pipeline decides which pipelines exist, and
// its stages: win over the component's.
func AsComponent() Option { return func(s *settings) { s.component = true } }

// reserved are top-level keys of a GitLab CI file (and YAML's words for
// booleans and null), which GitLab does not accept as job names.
var reserved = map[string]bool{
	"default": true, "include": true, "stages": true, "variables": true,
	"workflow": true, "image": true, "services": true, "cache": true,
	"before_script": true, "after_script": true, "types": true, "spec": true,
	"pages:deploy": true, "true": true, "false": true, "nil": true,
}

// Generate returns the .gitlab-ci.yml for p. It fails when p uses something
// GitLab cannot express, such as a job that needs a job whose rules require
// other changed paths than its own.
func Generate(p *pipeline.Pipeline, opts ...Option) ([]byte, error) {
	if p == nil {
		return nil, errors.New("gitlab: nil pipeline")
	}
	var s settings
	for _, o := range opts {
		o(&s)
	}
	jobs := p.Jobs()
	eff, err := effectiveRules(jobs)
	if err != nil {
		return nil, err
	}
	events := usedEvents(jobs)

	root := mapping()
	if incs := p.Includes(); len(incs) > 0 {
		set(root, "include", includes(incs))
	}
	set(root, "stages", strs(p.Stages()))
	if vars := p.Variables(); len(vars) > 0 {
		set(root, "variables", variables(vars, p.Inputs(), s.component))
	}
	if !s.component {
		set(root, "workflow", workflow(events))
	}
	guardPush := events[pipeline.Schedule] || events[pipeline.Dispatch] || events[pipeline.Triggered]
	for _, j := range jobs {
		if reserved[j.Name] {
			return nil, fmt.Errorf("gitlab: job %q: the name is a GitLab CI keyword; rename the job", j.Name)
		}
		n, err := job(p, j, eff[j.Name], guardPush)
		if err != nil {
			return nil, fmt.Errorf("gitlab: job %q: %w", j.Name, err)
		}
		set(root, j.Name, n)
		if j.Stop != nil {
			stop, err := stopJob(p, j, eff[j.Name], guardPush)
			if err != nil {
				return nil, fmt.Errorf("gitlab: job %q: %w", j.StopJobName(), err)
			}
			set(root, j.StopJobName(), stop)
		}
	}

	var body []byte
	if !s.yamlOnly {
		body, err = printEntries(root)
	}
	if s.yamlOnly || errors.Is(err, errNotPrintable) {
		body, err = encodeEntries(root)
	}
	if err != nil {
		return nil, fmt.Errorf("gitlab: encoding YAML: %w", err)
	}
	out := header(p, jobs)
	if s.component {
		out = append(out, fmt.Sprintf("# A CI/CD component template: include it with `component:` and the inputs of its spec: header.\n# The including pipeline decides which pipelines run; its stages: must list %s.\n",
			strings.Join(p.Stages(), ", "))...)
		spec, err := encode(specHeader(p.Inputs()))
		if err != nil {
			return nil, fmt.Errorf("gitlab: encoding the spec: header: %w", err)
		}
		out = append(append(out, spec...), "---\n"...)
	}
	return append(out, body...), nil
}

// specHeader declares the pipeline's inputs as a component's spec:inputs.
// An input without a default is required; a choice becomes options.
func specHeader(inputs []pipeline.InputSpec) *yaml.Node {
	ins := mapping()
	for _, in := range inputs {
		n := mapping()
		set(n, "description", str(in.Description))
		switch in.Type {
		case pipeline.BooleanInput:
			set(n, "type", str("boolean"))
		case pipeline.NumberInput:
			set(n, "type", str("number"))
		case pipeline.ChoiceInput:
			set(n, "options", strs(in.Options))
		}
		if !in.Required {
			switch in.Type {
			case pipeline.BooleanInput:
				set(n, "default", boolean(in.Default == "true"))
			case pipeline.NumberInput:
				set(n, "default", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: in.Default})
			default:
				set(n, "default", str(in.Default))
			}
		}
		set(ins, in.Name, n)
	}
	spec := mapping()
	if len(inputs) > 0 {
		set(spec, "inputs", ins)
	} else {
		set(spec, "inputs", &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle})
	}
	root := mapping()
	set(root, "spec", spec)
	return root
}

// encodeEntries writes each top-level key of root as its own paragraph with
// yaml.v3 alone. Each is its own document because yaml.v3's emitter keeps
// every event of a document until it ends (see printer.go).
func encodeEntries(root *yaml.Node) ([]byte, error) {
	var out []byte
	for i := 0; i < len(root.Content); i += 2 {
		if i > 0 {
			out = append(out, '\n')
		}
		entry := mapping()
		entry.Content = root.Content[i : i+2]
		b, err := encode(entry)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", root.Content[i].Value, err)
		}
		out = append(out, b...)
	}
	return out, nil
}

// encode writes n as a YAML document with 2-space indentation.
func encode(n *yaml.Node) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{n}}); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// header returns the comment lines that open the file: that it is
// generated and how to regenerate it, then what a maintainer must set up in
// GitLab for it to work.
func header(p *pipeline.Pipeline, jobs []pipeline.JobSpec) []byte {
	var b strings.Builder
	b.WriteString("# Code generated by slipway")
	if src := p.Source(); src != "" {
		b.WriteString(" from " + src)
	}
	b.WriteString("; DO NOT EDIT.\n")
	if re := p.Regenerate(); re != "" {
		b.WriteString("# Regenerate with: " + re + "\n")
	}
	fmt.Fprintf(&b, "# GitLab CI pipeline %q: every job installs Dagger %s and runs one `dagger call`.\n", p.Name(), p.DaggerVersion())
	b.WriteString(engineHeader(p, jobs))
	if len(p.Variables()) > 0 {
		b.WriteString("# Project CI/CD variables of the same names override the defaults under variables:.\n")
	}
	secrets := p.Secrets()
	for _, j := range jobs {
		if p.EngineOf(j).UsesCloudToken() && !slices.Contains(secrets, pipeline.CloudTokenSecret) {
			secrets = append(secrets, pipeline.CloudTokenSecret)
		}
	}
	slices.Sort(secrets)
	if len(secrets) > 0 {
		fmt.Fprintf(&b, "# Masked CI/CD variables that must exist: %s.\n", strings.Join(secrets, ", "))
	}
	if scheds := p.Schedules(); len(scheds) > 0 {
		var list []string
		for _, sc := range scheds {
			list = append(list, sc.Name+" ("+sc.Cron+")")
		}
		fmt.Fprintf(&b, "# Pipeline schedules to create (Build > Pipeline schedules), each setting the variable\n# %s to its name: %s.\n", ScheduleVariable, strings.Join(list, ", "))
	}
	var downstream []string
	for _, j := range jobs {
		if j.Trigger != nil {
			downstream = append(downstream, j.Name+" ("+j.Trigger.String()+")")
		}
	}
	if len(downstream) > 0 {
		fmt.Fprintf(&b, "# Trigger jobs start downstream pipelines as the user who runs this one, who needs the Developer\n# role in a downstream project: %s.\n", strings.Join(downstream, ", "))
	}
	for _, j := range jobs {
		if j.UngatedProduction != "" {
			fmt.Fprintf(&b, "# DANGER: job %s deploys to production WITHOUT APPROVAL: %s\n", j.Name, j.UngatedProduction)
		}
	}
	var manual, envs []string
	for _, j := range jobs {
		if j.Approval {
			manual = append(manual, j.Name)
			if j.Environment != nil && !slices.Contains(envs, j.Environment.Name) {
				envs = append(envs, j.Environment.Name)
			}
		}
	}
	if len(manual) > 0 {
		fmt.Fprintf(&b, "# Manual jobs (a person starts them to approve): %s.\n", strings.Join(manual, ", "))
	}
	if len(envs) > 0 {
		// Anyone who may run a pipeline may start a manual job unless its
		// environment is protected.
		word := "environment"
		if len(envs) > 1 {
			word += "s"
		}
		fmt.Fprintf(&b, "# Protect the %s %s in the project settings to choose who may approve.\n", word, strings.Join(envs, ", "))
	}
	return []byte(b.String())
}

// engineHeader says, for each engine the jobs use, what the runners must
// provide.
func engineHeader(p *pipeline.Pipeline, jobs []pipeline.JobSpec) string {
	var b strings.Builder
	seen := map[pipeline.EngineKind]bool{}
	for _, j := range jobs {
		e := p.EngineOf(j)
		if seen[e.Mode()] {
			continue
		}
		seen[e.Mode()] = true
		switch e.Mode() {
		case pipeline.RunnerEngineKind:
			if tags := p.DefaultRunnerTags(); len(tags) > 0 {
				fmt.Fprintf(&b, "# Runners tagged %s must provide a Dagger engine", strings.Join(tags, ", "))
			} else {
				b.WriteString("# Runners must provide a Dagger engine")
			}
			if e.RunnerHost != "" {
				fmt.Fprintf(&b, " at %s", e.RunnerHost)
			}
			b.WriteString("; no image or services are used.\n")
		case pipeline.DockerEngineKind:
			fmt.Fprintf(&b, "# The Dagger engine starts in a docker:%s-dind service (Dagger's GitLab recipe): shared runners\n# work; self-managed Docker runners need privileged = true and the /certs/client volume.\n", e.Docker())
		case pipeline.CloudEngineKind:
			b.WriteString("# The Dagger engine runs in Dagger Cloud (DAGGER_CLOUD_ENGINE), authorised by DAGGER_CLOUD_TOKEN.\n")
		}
	}
	return b.String()
}

// variables renders the pipeline variables in key order. A value holding
// "$" is marked expand: false, because GitLab would otherwise expand
// variable references inside it, which GitHub does not do. An input gets
// its description (and options), which prefill the "Run pipeline" form.
func variables(vars map[string]string, inputs []pipeline.InputSpec, component bool) *yaml.Node {
	n := mapping()
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		v := vars[k]
		if i := slices.IndexFunc(inputs, func(in pipeline.InputSpec) bool { return in.Name == k }); i >= 0 {
			m := mapping()
			if component {
				// The value the including pipeline gives, interpolated
				// before the pipeline is created.
				v = "$[[ inputs." + k + " ]]"
			}
			val := str(v)
			if component {
				// Quoted, so a boolean or a number is a string value.
				val.Style = yaml.DoubleQuotedStyle
			}
			set(m, "value", val)
			set(m, "description", str(inputs[i].Description))
			switch {
			case len(inputs[i].Options) > 0:
				set(m, "options", strs(inputs[i].Options))
			case inputs[i].Type == pipeline.BooleanInput:
				// The form offers the two values instead of a text box.
				set(m, "options", strs([]string{"true", "false"}))
			}
			set(n, k, m)
			continue
		}
		if strings.Contains(v, "$") {
			m := mapping()
			set(m, "value", str(v))
			set(m, "expand", boolean(false))
			set(n, k, m)
			continue
		}
		set(n, k, str(v))
	}
	return n
}

// includes renders the pipeline's includes, each with its inputs in key
// order.
func includes(incs []pipeline.Include) *yaml.Node {
	seq := sequence()
	for _, inc := range incs {
		n := mapping()
		switch {
		case inc.Local != "":
			set(n, "local", str(inc.Local))
		case inc.Remote != "":
			set(n, "remote", str(inc.Remote))
			set(n, "integrity", str(inc.Integrity))
		case inc.Template != "":
			set(n, "template", str(inc.Template))
		case inc.Project != "":
			set(n, "project", str(inc.Project))
			set(n, "ref", str(inc.Ref))
			set(n, "file", str(inc.File))
		case inc.Component != "":
			set(n, "component", str(inc.Component))
		}
		if len(inc.Inputs) > 0 {
			in := mapping()
			for _, k := range slices.Sorted(maps.Keys(inc.Inputs)) {
				set(in, k, str(inc.Inputs[k]))
			}
			set(n, "inputs", in)
		}
		seq.Content = append(seq.Content, n)
	}
	return seq
}

// usedEvents returns the events some job's rules name.
func usedEvents(jobs []pipeline.JobSpec) map[pipeline.Event]bool {
	used := map[pipeline.Event]bool{}
	for _, j := range jobs {
		for _, r := range j.Rules {
			used[r.Event] = true
		}
	}
	return used
}

// workflow returns the rules deciding which pipelines GitLab creates at all.
// Branch pipelines and tag pipelines always run. Merge request pipelines
// run when some job has a merge request rule; then a branch with an open
// merge request gets only the merge request pipeline, not both. Scheduled
// and hand-started pipelines are admitted explicitly when some job asks for
// them, ahead of that exclusion.
func workflow(events map[pipeline.Event]bool) *yaml.Node {
	rules := sequence()
	add := func(cond, when string) {
		r := mapping()
		set(r, "if", str(cond))
		if when != "" {
			set(r, "when", str(when))
		}
		rules.Content = append(rules.Content, r)
	}
	if events[pipeline.MergeRequest] {
		add(`$CI_PIPELINE_SOURCE == "merge_request_event"`, "")
	}
	if events[pipeline.Schedule] {
		add(`$CI_PIPELINE_SOURCE == "`+sourceSchedule+`"`, "")
	}
	if events[pipeline.Dispatch] {
		add(`$CI_PIPELINE_SOURCE == "`+sourceWeb+`"`, "")
	}
	if events[pipeline.Triggered] {
		for _, src := range triggeredSources {
			add(`$CI_PIPELINE_SOURCE == "`+src+`"`, "")
		}
	}
	if events[pipeline.MergeRequest] {
		add(`$CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS`, "never")
	}
	add(`$CI_COMMIT_BRANCH`, "")
	add(`$CI_COMMIT_TAG`, "")
	w := mapping()
	set(w, "rules", rules)
	return w
}
