package github

import (
	"fmt"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/slipway-ci/slipway/pipeline"
)

// patternSet collects ref patterns for one trigger filter.
type patternSet struct {
	any      bool
	patterns []pipeline.Pattern
	// except holds the exclusions every rule of the filter shares: only
	// those can filter the whole workflow.
	except    []string
	exceptSet bool
}

// add records one rule's refs and exclusions; no refs, or the pattern "*",
// means every ref.
func (s *patternSet) add(refs, except []string) error {
	if !s.exceptSet {
		s.except, s.exceptSet = slices.Clone(except), true
	} else {
		var keep []string
		for _, e := range s.except {
			if slices.Contains(except, e) {
				keep = append(keep, e)
			}
		}
		s.except = keep
	}
	if len(refs) == 0 {
		s.any = true
		return nil
	}
	for _, r := range refs {
		pp, err := pipeline.ParsePattern(r)
		if err != nil {
			return err
		}
		if pp.Any() {
			s.any = true
		}
		if _, ok := filterPattern(pp); !ok {
			// No filter says exactly this; the job's if: decides.
			s.any = true
		}
		s.patterns = append(s.patterns, pp)
	}
	return nil
}

// filters returns the GitHub filter patterns, sorted, without duplicates and
// without exact or prefix patterns that another one already covers, then the
// shared exclusions as "!pattern".
func (s *patternSet) filters() []string {
	if s.any {
		return []string{"**"}
	}
	var keep []string
	for i, p := range s.patterns {
		covered := false
		if p.Kind == pipeline.ExactPattern || p.Kind == pipeline.PrefixPattern {
			for k, q := range s.patterns {
				if q.Kind != pipeline.PrefixPattern || !strings.HasPrefix(p.Parts[0], q.Parts[0]) {
					continue
				}
				// q covers p; of two equal wildcards keep the first.
				if p.Kind == pipeline.ExactPattern || len(q.Parts[0]) < len(p.Parts[0]) || k < i {
					covered = true
					break
				}
			}
		}
		if !covered {
			f, _ := filterPattern(p)
			keep = append(keep, f)
		}
	}
	slices.Sort(keep)
	keep = slices.Compact(keep)
	for _, e := range s.ignored() {
		keep = append(keep, "!"+e)
	}
	return keep
}

// ignored returns the filter patterns of the shared exclusions that a
// filter can say exactly, sorted.
func (s *patternSet) ignored() []string {
	var out []string
	for _, e := range s.except {
		pp, err := pipeline.ParsePattern(e)
		if err != nil {
			continue
		}
		if f, ok := filterPattern(pp); ok {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// filterPattern turns a model ref pattern into a GitHub branch or tag
// filter, and false when no filter says exactly the same. The model's "*"
// matches slashes too, which is GitHub's "**". Characters that GitHub's
// filters treat specially and git allows in ref names are escaped with a
// backslash.
func filterPattern(pp pipeline.Pattern) (string, bool) {
	parts := pp.Parts
	if pp.Kind == pipeline.RegexpPattern {
		lit, ok := literalRegexp(pp.Source[1 : len(pp.Source)-1])
		if !ok {
			return "", false
		}
		parts = lit.parts()
	}
	var b strings.Builder
	for i, part := range parts {
		if i > 0 {
			b.WriteString("**")
		}
		for k, r := range part {
			if r == '+' || r == ']' || r == '?' || r == '[' || (r == '!' && i == 0 && k == 0) {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
	}
	return b.String(), true
}

// litRE is a regular expression that is a literal text, anchored or not:
// the only ones GitHub can evaluate (==, startsWith, endsWith, contains).
type litRE struct {
	text       string
	start, end bool // anchored with ^, with $
}

// parts returns the literal as the fixed parts of a glob.
func (l litRE) parts() []string {
	out := []string{l.text}
	if !l.start {
		out = append([]string{""}, out...)
	}
	if !l.end {
		out = append(out, "")
	}
	return out
}

// literalRegexp reads re as ^?literal$? and reports whether it is one.
func literalRegexp(re string) (litRE, bool) {
	var l litRE
	if strings.HasPrefix(re, "^") {
		l.start, re = true, re[1:]
	}
	if strings.HasSuffix(re, "$") && !strings.HasSuffix(re, `\$`) {
		l.end, re = true, re[:len(re)-1]
	}
	var b strings.Builder
	for i := 0; i < len(re); i++ {
		c := re[i]
		switch {
		case c == '\\' && i+1 < len(re) && strings.IndexByte(`.+*?()|[]{}^$\/-`, re[i+1]) >= 0:
			b.WriteByte(re[i+1])
			i++
		case strings.IndexByte(`.+*?()|[]{}^$\`, c) >= 0:
			return litRE{}, false
		default:
			b.WriteByte(c)
		}
	}
	l.text = b.String()
	return l, l.text != ""
}

// triggers is the workflow's `on:`, the union of what every job's rules match.
type triggers struct {
	branches, tags, pullRequests patternSet
	push, tagPush, pullRequest   bool
	schedule                     bool
	crons                        []string
	dispatchTypes, releaseTypes  []string
	dispatch, anyDispatch        bool
	release, mergeGroup          bool
	prTypes                      []string
	anyPRType                    bool
	paths, pathsIgnore           []string
	inputs                       []pipeline.InputSpec
	// callable adds workflow_call with the inputs and these secrets.
	callable bool
	secrets  []string
}

func collectTriggers(p *pipeline.Pipeline, jobs []pipeline.JobSpec, defaultCron string, callable bool) (*triggers, error) {
	t := &triggers{inputs: p.Inputs(), callable: callable, secrets: p.Secrets()}
	for _, j := range jobs {
		if p.EngineOf(j).UsesCloudToken() && !slices.Contains(t.secrets, pipeline.CloudTokenSecret) {
			t.secrets = append(t.secrets, pipeline.CloudTokenSecret)
		}
	}
	slices.Sort(t.secrets)
	cronOf := map[string]string{}
	for _, s := range p.Schedules() {
		cronOf[s.Name] = s.Cron
	}
	for _, j := range jobs {
		if len(j.Rules) == 0 {
			// A job without rules runs for every event, as on GitLab, whose
			// workflow runs for branches, tags and merge requests.
			t.push, t.tagPush, t.pullRequest = true, true, true
			t.branches.add(nil, nil)
			t.tags.add(nil, nil)
			t.pullRequests.add(nil, nil)
			t.anyPRType = true
			continue
		}
		for _, r := range j.Rules {
			var err error
			switch r.Event {
			case pipeline.Push:
				t.push = true
				err = t.branches.add(r.Refs, r.ExceptRefs)
			case pipeline.TagPush:
				t.tagPush = true
				err = t.tags.add(r.Refs, r.ExceptRefs)
			case pipeline.MergeRequest:
				t.pullRequest = true
				err = t.pullRequests.add(r.Refs, r.ExceptRefs)
				if len(r.Types) == 0 {
					t.anyPRType = true
				}
				t.prTypes = append(t.prTypes, r.Types...)
				if j.Stop != nil {
					// The stop job runs when the pull request closes.
					t.prTypes = append(t.prTypes, "closed")
				}
			case pipeline.Schedule:
				t.schedule = true
				names := r.Schedules
				if len(names) == 0 {
					for _, s := range p.Schedules() {
						names = append(names, s.Name)
					}
				}
				if len(names) == 0 {
					t.crons = append(t.crons, defaultCron)
				}
				for _, n := range names {
					t.crons = append(t.crons, cronOf[n])
				}
			case pipeline.Dispatch:
				// workflow_dispatch is always a trigger.
			case pipeline.Triggered:
				t.dispatch = true
				if len(r.Types) == 0 {
					t.anyDispatch = true
				}
				t.dispatchTypes = append(t.dispatchTypes, r.Types...)
			case pipeline.MergeQueue:
				t.mergeGroup = true
			case pipeline.Release:
				t.release = true
				t.releaseTypes = append(t.releaseTypes, r.Types...)
			default:
				err = fmt.Errorf("unknown event %q", r.Event)
			}
			if err != nil {
				return nil, fmt.Errorf("github: job %q: %w", j.Name, err)
			}
		}
	}
	t.paths, t.pathsIgnore = workflowPaths(jobs)
	return t, nil
}

// prTypesFilter returns the pull_request types the workflow needs, nil for
// GitHub's default (opened, synchronize, reopened).
func (t *triggers) prTypesFilter() []string {
	if len(t.prTypes) == 0 {
		return nil
	}
	types := slices.Clone(t.prTypes)
	if t.anyPRType {
		types = append(types, defaultPRTypes...)
	}
	slices.Sort(types)
	return slices.Compact(types)
}

// defaultPRTypes are the pull request activity types GitHub starts a
// workflow for when the trigger names none.
var defaultPRTypes = []string{"opened", "synchronize", "reopened"}

func globSet(globs []string) []string {
	out := slices.Clone(globs)
	slices.Sort(out)
	return slices.Compact(out)
}

func (t *triggers) node() *yaml.Node {
	on := mapping()
	if t.push || t.tagPush {
		push := mapping()
		if t.push {
			refFilter(push, "branches", &t.branches)
		}
		if t.tagPush {
			refFilter(push, "tags", &t.tags)
		}
		if len(t.paths) > 0 {
			// GitHub does not evaluate paths for tag pushes, as GitLab
			// treats changes as true for tag pipelines.
			set(push, "paths", strings2seq(t.paths))
		}
		if len(t.pathsIgnore) > 0 {
			set(push, "paths-ignore", strings2seq(t.pathsIgnore))
		}
		set(on, "push", push)
	}
	if t.pullRequest {
		pr := mapping()
		if !t.pullRequests.any || len(t.pullRequests.ignored()) > 0 {
			refFilter(pr, "branches", &t.pullRequests)
		}
		if types := t.prTypesFilter(); types != nil {
			set(pr, "types", strings2seq(types))
		}
		if len(t.paths) > 0 {
			set(pr, "paths", strings2seq(t.paths))
		}
		if len(t.pathsIgnore) > 0 {
			set(pr, "paths-ignore", strings2seq(t.pathsIgnore))
		}
		if len(pr.Content) == 0 {
			pr = emptyMapping()
		}
		set(on, "pull_request", pr)
	}
	if t.mergeGroup {
		mg := mapping()
		set(mg, "types", strings2seq([]string{"checks_requested"}))
		set(on, "merge_group", mg)
	}
	if t.release {
		rel := mapping()
		types := slices.Clone(t.releaseTypes)
		slices.Sort(types)
		set(rel, "types", strings2seq(slices.Compact(types)))
		set(on, "release", rel)
	}
	if t.dispatch {
		rd := emptyMapping()
		if !t.anyDispatch {
			types := slices.Clone(t.dispatchTypes)
			slices.Sort(types)
			rd = mapping()
			set(rd, "types", strings2seq(slices.Compact(types)))
		}
		set(on, "repository_dispatch", rd)
	}
	if t.schedule {
		crons := slices.Clone(t.crons)
		slices.Sort(crons)
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, c := range slices.Compact(crons) {
			entry := mapping()
			set(entry, "cron", str(c))
			seq.Content = append(seq.Content, entry)
		}
		set(on, "schedule", seq)
	}
	// Always runnable by hand, so a person can rerun the pipeline on a ref.
	set(on, "workflow_dispatch", dispatchInputs(t.inputs))
	if t.callable {
		set(on, "workflow_call", callInputs(t.inputs, t.secrets))
	}
	return on
}

// callInputs renders workflow_call: the inputs, with a choice as a string
// (workflow_call has no choice type; the model checks the values its
// callers pass, see pipeline.Interface), and the secrets, all required.
func callInputs(inputs []pipeline.InputSpec, secrets []string) *yaml.Node {
	n := mapping()
	if len(inputs) > 0 {
		ins := mapping()
		for _, in := range inputs {
			if in.Type == pipeline.ChoiceInput {
				in.Type = pipeline.StringInput
				in.Description += " (one of: " + strings.Join(in.Options, ", ") + ")"
				in.Options = nil
			}
			ins.Content = append(ins.Content, inputNode(in)...)
		}
		set(n, "inputs", ins)
	}
	if len(secrets) > 0 {
		sec := mapping()
		for _, s := range secrets {
			e := mapping()
			set(e, "required", boolean(true))
			set(sec, s, e)
		}
		set(n, "secrets", sec)
	}
	if len(n.Content) == 0 {
		return emptyMapping()
	}
	return n
}

// dispatchInputs renders the pipeline's inputs as workflow_dispatch inputs.
func dispatchInputs(inputs []pipeline.InputSpec) *yaml.Node {
	if len(inputs) == 0 {
		return emptyMapping()
	}
	ins := mapping()
	for _, in := range inputs {
		ins.Content = append(ins.Content, inputNode(in)...)
	}
	d := mapping()
	set(d, "inputs", ins)
	return d
}

// inputNode renders one input as a key and its settings.
func inputNode(in pipeline.InputSpec) []*yaml.Node {
	n := mapping()
	set(n, "description", str(in.Description))
	set(n, "type", str(string(in.Type)))
	set(n, "required", boolean(in.Required))
	switch in.Type {
	case pipeline.BooleanInput:
		set(n, "default", boolean(in.Default == "true"))
	case pipeline.NumberInput:
		tag := "!!float"
		if isDigits(in.Default) {
			tag = "!!int"
		}
		set(n, "default", &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: in.Default})
	default:
		set(n, "default", str(in.Default))
	}
	if len(in.Options) > 0 {
		set(n, "options", strings2seq(in.Options))
	}
	return []*yaml.Node{str(in.Name), n}
}

// inputValue is the expression of an input's value: what the person who
// started the run, or the calling workflow, chose (other events have no
// inputs: null), else the repository variable of its name, else its
// default. format() makes a false boolean the non-empty 'false'.
func inputValue(name, def string) string {
	return "inputs." + name + " != null && format('{0}', inputs." + name + ") || vars." + name + " || " + quote(def)
}

// refFilter sets key (branches or tags) on a trigger, or key-ignore when
// every ref is wanted but some are excluded by every rule.
func refFilter(trigger *yaml.Node, key string, s *patternSet) {
	if ignored := s.ignored(); s.any && len(ignored) > 0 {
		set(trigger, key+"-ignore", strings2seq(ignored))
		return
	}
	set(trigger, key, strings2seq(s.filters()))
}

// jobCondition returns the job's `if:` expression for its rules, or "" for a
// job that runs on every event. Changed paths are not part of it: they are
// the workflow's paths filter (or the change detection job's outputs).
// prTypes are the workflow's pull_request types, nil for the default.
func (g *generator) jobCondition(j pipeline.JobSpec, prTypes []string) (string, error) {
	if len(j.Rules) == 0 && prTypes != nil {
		// The workflow also starts for other pull request activity (such
		// as closed, for a stop job); a job without rules runs on the
		// default activity only, as it would without them.
		var ts []string
		for _, t := range defaultPRTypes {
			ts = append(ts, "github.event.action == "+quote(t))
		}
		return "github.event_name != 'pull_request' || " + groupOr(ts), nil
	}
	var terms []string
	for _, r := range j.Rules {
		c, err := g.ruleCondition(r, prTypes)
		if err != nil {
			return "", err
		}
		if !slices.Contains(terms, c) {
			terms = append(terms, c)
		}
	}
	if len(terms) <= 1 {
		return strings.Join(terms, ""), nil
	}
	for i, t := range terms {
		if strings.Contains(t, " && ") || strings.Contains(t, " || ") {
			terms[i] = "(" + t + ")"
		}
	}
	return strings.Join(terms, " || "), nil
}

func (g *generator) ruleCondition(r pipeline.Rule, prTypes []string) (string, error) {
	if r.Manual {
		return "", fmt.Errorf("a manual rule (Manually) waits for a person on some events only, which GitHub cannot do: it gates a job through its environment's reviewers on every run; use pipeline.Approval()")
	}
	var event, expr, prefix string
	anyCheck := false
	switch r.Event {
	case pipeline.Push:
		event, expr, prefix, anyCheck = "push", "github.ref", "refs/heads/", true
	case pipeline.TagPush:
		event, expr, prefix, anyCheck = "push", "github.ref", "refs/tags/", true
	case pipeline.MergeRequest:
		event, expr = "pull_request", "github.base_ref"
	case pipeline.Schedule:
		event, expr, prefix = "schedule", "github.ref", "refs/heads/"
	case pipeline.Dispatch:
		event, expr, prefix = "workflow_dispatch", "github.ref", "refs/heads/"
	case pipeline.Triggered:
		event, expr, prefix = "repository_dispatch", "github.ref", "refs/heads/"
	case pipeline.MergeQueue:
		event, expr, prefix = "merge_group", "github.event.merge_group.base_ref", "refs/heads/"
	case pipeline.Release:
		event = "release"
	default:
		return "", fmt.Errorf("unknown event %q", r.Event)
	}
	parts := []string{"github.event_name == " + quote(event)}
	refs, err := refCondition(expr, prefix, r.Refs, anyCheck)
	if err != nil {
		return "", err
	}
	if refs != "" {
		parts = append(parts, refs)
	}
	for _, e := range r.ExceptRefs {
		c, err := refCondition(expr, prefix, []string{e}, false)
		if err != nil {
			return "", err
		}
		if c != "" {
			parts = append(parts, "!("+c+")")
		}
	}
	types := r.Types
	if len(types) == 0 && r.Event == pipeline.MergeRequest && prTypes != nil {
		// The workflow also listens to other activity types for other
		// jobs; this one runs on the default ones only.
		types = defaultPRTypes
	}
	if len(types) > 0 {
		var ts []string
		for _, t := range types {
			ts = append(ts, "github.event.action == "+quote(t))
		}
		parts = append(parts, groupOr(ts))
	}
	if len(r.Schedules) > 0 {
		var cs []string
		for _, s := range g.p.Schedules() {
			if slices.Contains(r.Schedules, s.Name) {
				cs = append(cs, "github.event.schedule == "+quote(s.Cron))
			}
		}
		parts = append(parts, groupOr(cs))
	}
	if out := g.filterOutput(r); out != "" {
		parts = append(parts, "needs."+ChangesJob+".outputs."+out+" == 'true'")
	}
	if !r.Cond.IsZero() {
		e, err := g.expression(r.Cond)
		if err != nil {
			return "", err
		}
		if r.Cond.Op == pipeline.OpOr || r.Cond.Op == pipeline.OpSameProject {
			e = "(" + e + ")"
		}
		parts = append(parts, e)
	}
	return strings.Join(parts, " && "), nil
}

func groupOr(terms []string) string {
	if len(terms) == 1 {
		return terms[0]
	}
	return "(" + strings.Join(terms, " || ") + ")"
}

// refCondition matches the context value expr against patterns, each
// prefixed with refPrefix. anyNeedsCheck says whether "any ref" must still
// be checked against refPrefix, as for push events, which carry both branch
// and tag refs. GitHub's expressions have ==, startsWith, endsWith and
// contains: globs with one "*" and literal regular expressions fit, others
// are refused.
func refCondition(expr, refPrefix string, refs []string, anyNeedsCheck bool) (string, error) {
	anyRef := ""
	if anyNeedsCheck {
		anyRef = "startsWith(" + expr + ", " + quote(refPrefix) + ")"
	}
	if len(refs) == 0 {
		return anyRef, nil
	}
	var terms []string
	for _, r := range refs {
		pp, err := pipeline.ParsePattern(r)
		if err != nil {
			return "", err
		}
		if pp.Any() {
			return anyRef, nil
		}
		parts := pp.Parts
		if pp.Kind == pipeline.RegexpPattern {
			lit, ok := literalRegexp(pp.Source[1 : len(pp.Source)-1])
			if !ok {
				return "", fmt.Errorf("the ref pattern %s is a regular expression, which GitHub's expressions cannot evaluate; use a glob such as \"v*\"", r)
			}
			parts = lit.parts()
			if !lit.start {
				// Unanchored: the pattern may match anywhere in the name.
				if lit.end {
					terms = append(terms, "endsWith("+expr+", "+quote(lit.text)+")")
				} else {
					terms = append(terms, "contains("+expr+", "+quote(lit.text)+")")
				}
				continue
			}
		}
		var t string
		switch len(parts) {
		case 1:
			t = expr + " == " + quote(refPrefix+parts[0])
		case 2:
			t = "startsWith(" + expr + ", " + quote(refPrefix+parts[0]) + ")"
			if parts[1] != "" {
				if overlaps(parts[0], parts[1]) {
					return "", fmt.Errorf("the ref pattern %q has fixed parts that overlap, so startsWith and endsWith, all GitHub's expressions have, would also match shorter refs; use a regular expression on GitLab only, or another pattern", r)
				}
				t += " && endsWith(" + expr + ", " + quote(parts[1]) + ")"
			}
		default:
			return "", fmt.Errorf("the ref pattern %q has more than one \"*\", which GitHub's expressions (startsWith, endsWith) cannot match exactly", r)
		}
		if !slices.Contains(terms, t) {
			terms = append(terms, t)
		}
	}
	if len(terms) == 1 {
		return terms[0], nil
	}
	for i, t := range terms {
		if strings.Contains(t, " && ") {
			terms[i] = "(" + t + ")"
		}
	}
	return "(" + strings.Join(terms, " || ") + ")", nil
}

// overlaps reports whether a suffix of prefix is a prefix of suffix, so
// that a ref shorter than both could start with one and end with the other.
func overlaps(prefix, suffix string) bool {
	for i := 1; i <= len(prefix) && i <= len(suffix); i++ {
		if prefix[len(prefix)-i:] == suffix[:i] {
			return true
		}
	}
	return false
}

// expression renders a condition in GitHub's expression syntax. Env
// operands read the repository variable, falling back to the pipeline's
// default; CIVar operands read the github context.
func (g *generator) expression(c pipeline.Cond) (string, error) {
	operand := func(o pipeline.Operand) (string, error) {
		if v := o.Var(); v != "" {
			switch v {
			case pipeline.CommitSHA:
				return "github.sha", nil
			case pipeline.RefName:
				return "github.ref_name", nil
			case pipeline.PipelineID:
				return "github.run_id", nil
			case pipeline.ProjectPath:
				return "github.repository", nil
			case pipeline.RegistryUser:
				return "github.actor", nil
			case pipeline.RepositoryURL:
				return "format('{0}/{1}', github.server_url, github.repository)", nil
			case pipeline.Registry:
				return "'ghcr.io'", nil
			}
			return "", fmt.Errorf("conditions cannot read %q on GitHub", v)
		}
		if _, ok := g.p.Input(o.Name()); ok {
			return "(" + inputValue(o.Name(), g.vars[o.Name()]) + ")", nil
		}
		if d, ok := g.vars[o.Name()]; ok && !strings.Contains(d, "{{") && !strings.Contains(d, "}}") {
			return "(vars." + o.Name() + " || " + quote(d) + ")", nil
		}
		return "vars." + o.Name(), nil
	}
	switch c.Op {
	case pipeline.OpEquals, pipeline.OpNotEquals, pipeline.OpSet, pipeline.OpUnset:
		o, err := operand(c.Operand)
		if err != nil {
			return "", err
		}
		switch c.Op {
		case pipeline.OpEquals:
			return o + " == " + quote(c.Value), nil
		case pipeline.OpNotEquals:
			return o + " != " + quote(c.Value), nil
		case pipeline.OpSet:
			return o + " != ''", nil
		}
		return o + " == ''", nil
	case pipeline.OpMatches, pipeline.OpNotMatches:
		o, err := operand(c.Operand)
		if err != nil {
			return "", err
		}
		lit, ok := literalRegexp(c.Value)
		if !ok {
			return "", fmt.Errorf("the condition %s uses a regular expression, which GitHub's expressions cannot evaluate; use ^text, text$, ^text$ or text, or Is", c)
		}
		var e string
		switch {
		case lit.start && lit.end:
			e = o + " == " + quote(lit.text)
		case lit.start:
			e = "startsWith(" + o + ", " + quote(lit.text) + ")"
		case lit.end:
			e = "endsWith(" + o + ", " + quote(lit.text) + ")"
		default:
			e = "contains(" + o + ", " + quote(lit.text) + ")"
		}
		if c.Op == pipeline.OpNotMatches {
			e = "!" + e
			if lit.start && lit.end {
				e = o + " != " + quote(lit.text)
			}
		}
		return e, nil
	case pipeline.OpSameProject:
		return "github.event.pull_request.head.repo.full_name == github.repository || !github.event.pull_request", nil
	case pipeline.OpFork:
		return "github.event.pull_request && github.event.pull_request.head.repo.full_name != github.repository", nil
	case pipeline.OpAnd, pipeline.OpOr:
		sep := " && "
		if c.Op == pipeline.OpOr {
			sep = " || "
		}
		var parts []string
		for _, a := range c.Args {
			e, err := g.expression(a)
			if err != nil {
				return "", err
			}
			if a.Op == pipeline.OpAnd || a.Op == pipeline.OpOr || a.Op == pipeline.OpSameProject || a.Op == pipeline.OpFork {
				e = "(" + e + ")"
			}
			parts = append(parts, e)
		}
		return strings.Join(parts, sep), nil
	}
	return "", fmt.Errorf("condition %s cannot be written for GitHub", c)
}
