package gitlab

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/slipway-ci/slipway/pipeline"
)

// atom is one rule with at most one ref pattern: the unit GitLab's `rules:`
// list is made of, since one `if:` cannot say "any of these patterns"
// without parentheses.
type atom struct {
	event   pipeline.Event
	ref     string // a ref pattern; "" matches any ref
	changes []string
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
			if ref == "*" {
				ref = "" // "*" matches everything: the same as no pattern
			}
			out = append(out, atom{event: r.Event, ref: ref, changes: slices.Clone(r.Changes)})
		}
	}
	return out
}

// covers reports whether every pipeline a matches is matched by b too.
func (b atom) covers(a atom) bool {
	if a.event != b.event {
		return false
	}
	// a's refs are within b's exactly when intersecting them gives a's.
	if ref, ok := intersectRefs(a.ref, b.ref); !ok || ref != a.ref {
		return false
	}
	return len(b.changes) == 0 || subset(b.changes, a.changes)
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
// match, and false when no ref matches both. Patterns are exact names or
// prefixes followed by "*"; "" is any ref.
func intersectRefs(a, b string) (string, bool) {
	if a == "" {
		return b, true
	}
	if b == "" {
		return a, true
	}
	pa, errA := pipeline.ParseRefPattern(a)
	pb, errB := pipeline.ParseRefPattern(b)
	if errA != nil || errB != nil {
		// New has validated every pattern; treat a bad one as disjoint.
		return "", false
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
// rule cannot express; bad then holds that pair.
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
			ref, overlap := intersectRefs(a.ref, b.ref)
			if !overlap {
				continue
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
			out = append(out, atom{event: a.event, ref: ref, changes: slices.Clone(changes)})
		}
	}
	return simplify(out), bad, true
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
// such a job. Intersecting the rules reproduces Plan.
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
	if a.ref != "" {
		s += " " + a.ref
	}
	if len(a.changes) > 0 {
		s += " changing " + strings.Join(a.changes, ", ")
	}
	return s
}

// Sources that a pipeline's workflow admits besides pushes and merge
// requests, and the events they carry.
const (
	sourceSchedule = "schedule"
	sourceWeb      = "web"
)

// condition returns the `if:` expression of an atom. guardPush adds
// `$CI_PIPELINE_SOURCE == "push"` to branch and tag conditions: GitLab sets
// $CI_COMMIT_BRANCH in scheduled and hand-started pipelines too, so once the
// workflow admits those, a push rule would match them without the guard.
func condition(a atom, guardPush bool) (string, error) {
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
	case pipeline.Schedule:
		parts = append(parts, `$CI_PIPELINE_SOURCE == "`+sourceSchedule+`"`)
		refVar = "$CI_COMMIT_BRANCH"
	case pipeline.Dispatch:
		parts = append(parts, `$CI_PIPELINE_SOURCE == "`+sourceWeb+`"`)
		refVar = "$CI_COMMIT_BRANCH"
	default:
		return "", fmt.Errorf("unknown event %q", a.event)
	}
	ref, err := refCondition(refVar, a.ref)
	if err != nil {
		return "", err
	}
	switch {
	case ref != "":
		parts = append(parts, ref)
	case a.event == pipeline.Push || a.event == pipeline.TagPush:
		// Any branch or any tag: GitLab sets the variable only for that
		// kind of ref, which tells branch and tag pipelines apart.
		parts = append(parts, refVar)
	}
	return strings.Join(parts, " && "), nil
}

// refCondition compares refVar with a ref pattern: == for an exact name, a
// regular expression anchored at the start for a prefix. "" when the
// pattern matches any ref.
func refCondition(refVar, pattern string) (string, error) {
	if pattern == "" {
		return "", nil
	}
	rp, err := pipeline.ParseRefPattern(pattern)
	if err != nil {
		return "", err
	}
	if rp.Wildcard {
		if rp.Prefix == "" {
			return "", nil
		}
		// GitLab matches with RE2; "/" closes the literal unless escaped.
		re := strings.ReplaceAll(regexp.QuoteMeta(rp.Prefix), "/", `\/`)
		return refVar + " =~ /^" + re + ".*$/", nil
	}
	lit, err := stringLiteral(rp.Prefix)
	if err != nil {
		return "", err
	}
	return refVar + " == " + lit, nil
}

// stringLiteral quotes s for a GitLab CI expression, which has no escapes:
// double quotes unless s holds one, then single quotes.
func stringLiteral(s string) (string, error) {
	switch {
	case !strings.Contains(s, `"`):
		return `"` + s + `"`, nil
	case !strings.Contains(s, `'`):
		return `'` + s + `'`, nil
	}
	return "", fmt.Errorf("the ref %q holds both kinds of quote, which a GitLab CI expression cannot compare with", s)
}
