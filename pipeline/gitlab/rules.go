package gitlab

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/slipway-ci/slipway/pipeline"
)

// atom is one rule with at most one positive ref pattern of its own: the
// unit GitLab's `rules:` list is made of, since one `if:` cannot say "any
// of these patterns" without parentheses. Intersecting a job's rules with
// those of the jobs it needs adds the needed jobs' patterns, exclusions and
// conditions, which must all hold.
type atom struct {
	event     pipeline.Event
	refs      []string // ref patterns that must all match; none: any ref
	except    []string // ref patterns that must not match
	changes   []string
	conds     []pipeline.Cond // must all hold
	schedules []string        // schedule names; none: any
	manual    bool
}

// atoms splits rules into atoms, in order. nil means "always": the job has
// no rules of its own.
func atoms(rules []pipeline.Rule) []atom {
	if len(rules) == 0 {
		return nil
	}
	var out []atom
	for _, r := range rules {
		refs := r.Refs
		if len(refs) == 0 {
			refs = []string{""}
		}
		for _, ref := range refs {
			a := atom{event: r.Event, except: slices.Clone(r.ExceptRefs), changes: slices.Clone(r.Changes),
				schedules: slices.Clone(r.Schedules), manual: r.Manual}
			if ref != "" && ref != "*" { // "*" matches everything: the same as no pattern
				a.refs = []string{ref}
			}
			if !r.Cond.IsZero() {
				a.conds = []pipeline.Cond{r.Cond}
			}
			out = append(out, a)
		}
	}
	return out
}

// covers reports whether every pipeline a matches is matched by b too. It
// may answer false for atoms that do cover: that only keeps a redundant
// rule.
func (b atom) covers(a atom) bool {
	if a.event != b.event || a.manual != b.manual {
		return false
	}
	switch {
	case len(b.refs) == 0:
	case len(a.refs) == 1 && len(b.refs) == 1:
		if ref, ok := intersectRefs(a.refs[0], b.refs[0]); !ok || ref != a.refs[0] {
			return false
		}
	default:
		if !subsetOf(b.refs, a.refs) {
			return false
		}
	}
	if !subsetOf(b.except, a.except) || !subsetOf(condKeys(b.conds), condKeys(a.conds)) {
		return false
	}
	if len(b.schedules) > 0 && (len(a.schedules) == 0 || !subsetOf(a.schedules, b.schedules)) {
		return false
	}
	return len(b.changes) == 0 || subset(b.changes, a.changes)
}

// subsetOf reports whether every element of small is in big.
func subsetOf(small, big []string) bool {
	for _, s := range small {
		if !slices.Contains(big, s) {
			return false
		}
	}
	return true
}

func condKeys(cs []pipeline.Cond) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.String()
	}
	return out
}

// subset reports whether every glob of small is in big and small is not
// empty: then a change matching small also matches big.
func subset(big, small []string) bool {
	if len(small) == 0 {
		return false
	}
	for _, g := range small {
		if !slices.Contains(big, g) {
			return false
		}
	}
	return true
}

// intersectRefs returns the pattern matching exactly the refs both a and b
// match, and false when no ref matches both, for exact names and prefixes
// followed by "*". "" is any ref. For other patterns it answers (a, true)
// only when a == b, and ("", true) otherwise: callers then keep both.
func intersectRefs(a, b string) (string, bool) {
	if a == "" {
		return b, true
	}
	if b == "" || a == b {
		return a, true
	}
	pa, errA := pipeline.ParseRefPattern(a)
	pb, errB := pipeline.ParseRefPattern(b)
	if errA != nil || errB != nil {
		return "", true // globs or regular expressions: not decided here
	}
	switch {
	case !pa.Wildcard && !pb.Wildcard:
		return a, a == b
	case !pa.Wildcard:
		return a, pb.Match(pa.Prefix)
	case !pb.Wildcard:
		return b, pa.Match(pb.Prefix)
	case strings.HasPrefix(pa.Prefix, pb.Prefix):
		return a, true
	case strings.HasPrefix(pb.Prefix, pa.Prefix):
		return b, true
	}
	return "", false
}

// intersect returns the atoms matching the pipelines that both x and y
// match. nil is "always". ok is false when a pair overlaps in events and
// refs but requires two different sets of changed paths, which one GitLab
// rule cannot express; bad then holds that pair. The atoms of x keep their
// manual setting: it is the job's own.
func intersect(x, y []atom) (out []atom, bad [2]atom, ok bool) {
	if x == nil {
		return y, bad, true
	}
	if y == nil {
		return x, bad, true
	}
	out = []atom{} // not nil: an empty result means "never", not "always"
	for _, a := range x {
		for _, b := range y {
			if a.event != b.event {
				continue
			}
			refs, overlap := intersectRefLists(a.refs, b.refs)
			if !overlap {
				continue
			}
			schedules := a.schedules
			if len(b.schedules) > 0 {
				if len(a.schedules) == 0 {
					schedules = b.schedules
				} else {
					schedules = nil
					for _, s := range a.schedules {
						if slices.Contains(b.schedules, s) {
							schedules = append(schedules, s)
						}
					}
					if len(schedules) == 0 {
						continue
					}
				}
			}
			var changes []string
			switch {
			case len(b.changes) == 0 || subset(b.changes, a.changes):
				changes = a.changes
			case len(a.changes) == 0 || subset(a.changes, b.changes):
				changes = b.changes
			default:
				return nil, [2]atom{a, b}, false
			}
			conds := slices.Clone(a.conds)
			for _, c := range b.conds {
				if !slices.Contains(condKeys(conds), c.String()) {
					conds = append(conds, c)
				}
			}
			except := slices.Clone(a.except)
			for _, e := range b.except {
				if !slices.Contains(except, e) {
					except = append(except, e)
				}
			}
			out = append(out, atom{event: a.event, refs: refs, except: except, changes: slices.Clone(changes),
				conds: conds, schedules: slices.Clone(schedules), manual: a.manual})
		}
	}
	return simplify(out), bad, true
}

// intersectRefLists returns the patterns that must all match for both lists
// to, and false when they cannot.
func intersectRefLists(a, b []string) ([]string, bool) {
	if len(a) == 0 {
		return slices.Clone(b), true
	}
	if len(b) == 0 {
		return slices.Clone(a), true
	}
	if len(a) == 1 && len(b) == 1 {
		ref, ok := intersectRefs(a[0], b[0])
		if !ok {
			return nil, false
		}
		if ref != "" {
			return []string{ref}, true
		}
	}
	out := slices.Clone(a)
	for _, r := range b {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, true
}

// simplify drops atoms that an earlier or broader atom already covers, so
// that intersecting a job's rules with rules that imply them gives back the
// job's rules unchanged.
func simplify(in []atom) []atom {
	out := in[:0:0]
	for i, a := range in {
		redundant := false
		for k, b := range in {
			if i == k || !b.covers(a) {
				continue
			}
			// Of two atoms covering each other, keep the first.
			if !a.covers(b) || k < i {
				redundant = true
				break
			}
		}
		if !redundant {
			out = append(out, a)
		}
	}
	return out
}

// effectiveRules returns, for every job, the atoms saying when GitLab must
// create it. A job runs only where its own rules and the effective rules of
// every job it needs match: GitLab refuses to create a pipeline in which a
// job needs a job that the rules left out, whereas pipeline.Plan simply drops
// such a job. Intersecting the rules reproduces Plan. Optional needs do not
// count: the job runs without them.
func effectiveRules(jobs []pipeline.JobSpec) (map[string][]atom, error) {
	byName := make(map[string]pipeline.JobSpec, len(jobs))
	for _, j := range jobs {
		byName[j.Name] = j
	}
	eff := make(map[string][]atom, len(jobs))
	done := make(map[string]bool, len(jobs))
	var visit func(j pipeline.JobSpec) error
	visit = func(j pipeline.JobSpec) error {
		if done[j.Name] {
			return nil
		}
		// New rejects cycles, so the recursion ends; a job may need one
		// defined after it in the same stage, hence no single pass.
		rules := atoms(j.Rules)
		for _, n := range j.Needs {
			dep, ok := byName[n]
			if !ok {
				return fmt.Errorf("gitlab: job %q needs %q, which is not a job", j.Name, n)
			}
			if err := visit(dep); err != nil {
				return err
			}
			if j.IsOptional(n) {
				continue
			}
			next, bad, ok := intersect(rules, eff[n])
			if !ok {
				return fmt.Errorf("gitlab: job %q: its rule (%s) and the rule (%s) of %q, which it needs, require different changed paths; one GitLab rule cannot require both, so give both rules the same changes",
					j.Name, bad[0], bad[1], n)
			}
			rules = next
		}
		if rules != nil && len(rules) == 0 {
			return fmt.Errorf("gitlab: job %q never runs: none of its rules matches a pipeline in which all the jobs it needs (%s) run",
				j.Name, strings.Join(j.Needs, ", "))
		}
		eff[j.Name] = rules
		done[j.Name] = true
		return nil
	}
	for _, j := range jobs {
		if err := visit(j); err != nil {
			return nil, err
		}
	}
	return eff, nil
}

// String describes an atom for error messages.
func (a atom) String() string {
	s := string(a.event)
	if len(a.refs) > 0 {
		s += " " + strings.Join(a.refs, " and ")
	}
	if len(a.except) > 0 {
		s += " except " + strings.Join(a.except, ", ")
	}
	if len(a.changes) > 0 {
		s += " changing " + strings.Join(a.changes, ", ")
	}
	for _, c := range a.conds {
		s += " if " + c.String()
	}
	return s
}

// Sources that a pipeline's workflow admits besides pushes and merge
// requests, and the events they carry.
const (
	sourceSchedule = "schedule"
	sourceWeb      = "web"
)

// ScheduleVariable is the variable each GitLab pipeline schedule sets to
// its name (pipeline.Cron), which OnSchedule(name) rules compare.
const ScheduleVariable = "SLIPWAY_SCHEDULE"

// triggeredSources are the pipeline sources of the Triggered event.
var triggeredSources = []string{"trigger", "pipeline", "api"}

// condition returns the `if:` expression of an atom. guardPush adds
// `$CI_PIPELINE_SOURCE == "push"` to branch and tag conditions: GitLab sets
// $CI_COMMIT_BRANCH in scheduled and hand-started pipelines too, so once the
// workflow admits those, a push rule would match them without the guard.
func condition(a atom, guardPush bool, vars map[string]string) (string, error) {
	var parts []string
	var refVar string
	switch a.event {
	case pipeline.Push:
		if guardPush {
			parts = append(parts, `$CI_PIPELINE_SOURCE == "push"`)
		}
		refVar = "$CI_COMMIT_BRANCH"
	case pipeline.TagPush:
		if guardPush {
			parts = append(parts, `$CI_PIPELINE_SOURCE == "push"`)
		}
		refVar = "$CI_COMMIT_TAG"
	case pipeline.MergeRequest:
		parts = append(parts, `$CI_PIPELINE_SOURCE == "merge_request_event"`)
		refVar = "$CI_MERGE_REQUEST_TARGET_BRANCH_NAME"
	case pipeline.MergeQueue:
		parts = append(parts, `$CI_PIPELINE_SOURCE == "merge_request_event"`, `$CI_MERGE_REQUEST_EVENT_TYPE == "merge_train"`)
		refVar = "$CI_MERGE_REQUEST_TARGET_BRANCH_NAME"
	case pipeline.Schedule:
		parts = append(parts, `$CI_PIPELINE_SOURCE == "`+sourceSchedule+`"`)
		refVar = "$CI_COMMIT_BRANCH"
		if len(a.schedules) > 0 {
			var names []string
			for _, s := range a.schedules {
				names = append(names, "$"+ScheduleVariable+` == "`+s+`"`)
			}
			parts = append(parts, group(names, " || "))
		}
	case pipeline.Dispatch:
		parts = append(parts, `$CI_PIPELINE_SOURCE == "`+sourceWeb+`"`)
		refVar = "$CI_COMMIT_BRANCH"
	case pipeline.Triggered:
		var srcs []string
		for _, s := range triggeredSources {
			srcs = append(srcs, `$CI_PIPELINE_SOURCE == "`+s+`"`)
		}
		parts = append(parts, "("+strings.Join(srcs, " || ")+")")
		refVar = "$CI_COMMIT_REF_NAME"
	default:
		return "", fmt.Errorf("unknown event %q", a.event)
	}
	refParts := 0
	for _, ref := range a.refs {
		c, err := refCondition(refVar, ref, false)
		if err != nil {
			return "", err
		}
		if c != "" {
			parts = append(parts, c)
			refParts++
		}
	}
	if refParts == 0 && (a.event == pipeline.Push || a.event == pipeline.TagPush) {
		// Any branch or any tag: GitLab sets the variable only for that
		// kind of ref, which tells branch and tag pipelines apart.
		parts = append(parts, refVar)
	}
	for _, ref := range a.except {
		c, err := refCondition(refVar, ref, true)
		if err != nil {
			return "", err
		}
		if c != "" {
			parts = append(parts, c)
		}
	}
	for _, c := range a.conds {
		e, err := expression(c, vars)
		if err != nil {
			return "", err
		}
		if c.Op == pipeline.OpOr {
			e = "(" + e + ")"
		}
		parts = append(parts, e)
	}
	return strings.Join(parts, " && "), nil
}

func group(parts []string, sep string) string {
	if len(parts) == 1 {
		return parts[0]
	}
	return "(" + strings.Join(parts, sep) + ")"
}

// refCondition compares refVar with a ref pattern: == for an exact name, a
// regular expression otherwise; negated for an exclusion. "" when the
// pattern matches any ref (and, negated, would match none: never asked).
func refCondition(refVar, pattern string, negate bool) (string, error) {
	if pattern == "" {
		return "", nil
	}
	pp, err := pipeline.ParsePattern(pattern)
	if err != nil {
		return "", err
	}
	if pp.Any() {
		if negate {
			return refVar + ` == "slipway-never"`, nil
		}
		return "", nil
	}
	if pp.Kind == pipeline.ExactPattern {
		lit, err := stringLiteral(pp.Parts[0], "ref")
		if err != nil {
			return "", err
		}
		if negate {
			return refVar + " != " + lit, nil
		}
		return refVar + " == " + lit, nil
	}
	var re string
	if pp.Kind == pipeline.PrefixPattern {
		// GitLab matches with RE2; "/" closes the literal unless escaped.
		re = "^" + regexp.QuoteMeta(pp.Parts[0]) + ".*$"
	} else {
		re = pp.Regexp()
	}
	op := " =~ "
	if negate {
		op = " !~ "
	}
	return refVar + op + "/" + escapeSlashes(re) + "/", nil
}

// expression renders a condition in GitLab's CI expression syntax. Env
// operands are $NAME, which a project variable sets and the file's
// variables: default; CIVar operands are GitLab's predefined variables.
func expression(c pipeline.Cond, vars map[string]string) (string, error) {
	operand := func(o pipeline.Operand) string {
		if v := o.Var(); v != "" {
			return "$" + v.GitLabName()
		}
		return "$" + o.Name()
	}
	switch c.Op {
	case pipeline.OpEquals, pipeline.OpNotEquals:
		lit, err := stringLiteral(c.Value, "value")
		if err != nil {
			return "", err
		}
		op := " == "
		if c.Op == pipeline.OpNotEquals {
			op = " != "
		}
		return operand(c.Operand) + op + lit, nil
	case pipeline.OpMatches, pipeline.OpNotMatches:
		op := " =~ "
		if c.Op == pipeline.OpNotMatches {
			op = " !~ "
		}
		return operand(c.Operand) + op + "/" + escapeSlashes(c.Value) + "/", nil
	case pipeline.OpSet:
		return operand(c.Operand), nil
	case pipeline.OpUnset:
		return "(" + operand(c.Operand) + ` == null || ` + operand(c.Operand) + ` == "")`, nil
	case pipeline.OpSameProject:
		return `($CI_MERGE_REQUEST_SOURCE_PROJECT_PATH == null || $CI_MERGE_REQUEST_SOURCE_PROJECT_PATH == $CI_PROJECT_PATH)`, nil
	case pipeline.OpFork:
		return `$CI_MERGE_REQUEST_SOURCE_PROJECT_PATH != null && $CI_MERGE_REQUEST_SOURCE_PROJECT_PATH != $CI_PROJECT_PATH`, nil
	case pipeline.OpAnd, pipeline.OpOr:
		sep := " && "
		if c.Op == pipeline.OpOr {
			sep = " || "
		}
		var parts []string
		for _, a := range c.Args {
			e, err := expression(a, vars)
			if err != nil {
				return "", err
			}
			if a.Op == pipeline.OpAnd || a.Op == pipeline.OpOr || a.Op == pipeline.OpFork {
				e = "(" + e + ")"
			}
			parts = append(parts, e)
		}
		return strings.Join(parts, sep), nil
	}
	return "", fmt.Errorf("condition %s cannot be written for GitLab", c)
}

// stringLiteral quotes s for a GitLab CI expression, which has no escapes:
// double quotes unless s holds one, then single quotes.
func stringLiteral(s, what string) (string, error) {
	switch {
	case !strings.Contains(s, `"`):
		return `"` + s + `"`, nil
	case !strings.Contains(s, `'`):
		return `'` + s + `'`, nil
	}
	return "", fmt.Errorf("the %s %q holds both kinds of quote, which a GitLab CI expression cannot compare with", what, s)
}
