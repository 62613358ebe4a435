package pipeline

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Event is what starts a pipeline.
type Event string

// The events a Rule can match.
const (
	// Push is a push to a branch.
	Push Event = "push"
	// TagPush is a pushed tag.
	TagPush Event = "tag"
	// MergeRequest is a merge request on GitLab or a pull request on GitHub.
	MergeRequest Event = "merge-request"
	// Schedule is a scheduled pipeline.
	Schedule Event = "schedule"
	// Dispatch is a pipeline started by hand (GitLab "Run pipeline",
	// GitHub workflow_dispatch).
	Dispatch Event = "dispatch"
	// Triggered is a pipeline another pipeline or an API call started:
	// GitLab's trigger, pipeline and api sources (multi-project and
	// downstream pipelines, trigger tokens), GitHub's repository_dispatch.
	Triggered Event = "triggered"
	// MergeQueue is a merge train pipeline on GitLab, a merge queue run
	// (merge_group) on GitHub.
	MergeQueue Event = "merge-queue"
	// Release is a published GitHub release. GitLab has no release event
	// (a release is made from a tag): use OnTags there.
	Release Event = "release"
)

// Events lists every event, in a stable order.
func Events() []Event {
	return []Event{Push, TagPush, MergeRequest, Schedule, Dispatch, Triggered, MergeQueue, Release}
}

// Rule says when a job runs. A job runs when any of its rules matches; a job
// without rules runs on every event the pipeline runs for.
type Rule struct {
	// Event is the event that must have started the pipeline.
	Event Event
	// Refs are ref patterns the branch (Push, Schedule, Dispatch), the tag
	// (TagPush) or the target branch (MergeRequest) must match. A pattern is
	// an exact name or a prefix followed by one "*", which matches any rest,
	// slashes included; "*" alone matches everything. Empty means any.
	Refs []string
	// Changes, when not empty, further requires a change to a path matching
	// one of these globs.
	Changes []string
	// IgnoreChanges, when not empty, further requires a change to a path
	// that matches none of these globs: GitHub's paths-ignore. GitLab's
	// rules:changes cannot exclude paths.
	IgnoreChanges []string
	// ExceptRefs are ref patterns (of any kind Refs takes) the ref must not
	// match: GitLab's != and !~, GitHub's branches-ignore.
	ExceptRefs []string
	// Cond, when not zero, must hold too (see Cond).
	Cond Cond
	// Types, for MergeRequest, Release and Triggered, are the activity
	// types that start the job, such as "opened" or "labeled"; empty means
	// the CI's default (for pull requests: opened, synchronize, reopened).
	// Only GitHub has them.
	Types []string
	// Schedules, for Schedule, names the schedules (see pipeline.Schedule)
	// that start the job; empty means any.
	Schedules []string
	// Manual makes the job wait for a person when this rule matches, and
	// only then (GitLab's when: manual on one rule).
	Manual bool
}

// OnBranches returns a rule matching pushes to branches that match one of
// patterns, or to any branch when none is given.
func OnBranches(patterns ...string) Rule { return Rule{Event: Push, Refs: patterns} }

// OnTags returns a rule matching pushed tags that match one of patterns, or
// any tag when none is given.
func OnTags(patterns ...string) Rule { return Rule{Event: TagPush, Refs: patterns} }

// OnMergeRequests returns a rule matching merge and pull requests whose
// target branch matches one of patterns, or any when none is given.
func OnMergeRequests(targets ...string) Rule { return Rule{Event: MergeRequest, Refs: targets} }

// OnSchedule returns a rule matching scheduled pipelines of the named
// schedules (declared with pipeline.Schedule), or of any when none is named.
func OnSchedule(names ...string) Rule { return Rule{Event: Schedule, Schedules: names} }

// OnTriggered returns a rule matching pipelines another pipeline or an API
// call started; types filter GitHub's repository_dispatch event types.
func OnTriggered(types ...string) Rule { return Rule{Event: Triggered, Types: types} }

// OnMergeQueue returns a rule matching merge train (GitLab) and merge queue
// (GitHub) pipelines for target branches matching patterns, or any.
func OnMergeQueue(targets ...string) Rule { return Rule{Event: MergeQueue, Refs: targets} }

// OnRelease returns a rule matching GitHub releases of the given activity
// types (default: published). GitLab has no release event.
func OnRelease(types ...string) Rule {
	if len(types) == 0 {
		types = []string{"published"}
	}
	return Rule{Event: Release, Types: types}
}

// Except returns a copy of r that does not match refs matching patterns.
func (r Rule) Except(patterns ...string) Rule {
	out := r.clone()
	out.ExceptRefs = append(out.ExceptRefs, patterns...)
	return out
}

// If returns a copy of r that also requires c (and any condition r has).
func (r Rule) If(c Cond) Rule {
	out := r.clone()
	if out.Cond.IsZero() {
		out.Cond = c.clone()
	} else {
		out.Cond = And(out.Cond, c)
	}
	return out
}

// OfTypes returns a copy of r limited to the activity types, such as
// "opened" and "labeled" for pull requests (GitHub only).
func (r Rule) OfTypes(types ...string) Rule {
	out := r.clone()
	out.Types = append(out.Types, types...)
	return out
}

// Manually returns a copy of r that makes the job wait for a person when
// r matches, and only then (GitLab only; GitHub gates jobs per
// environment, see Approval).
func (r Rule) Manually() Rule {
	out := r.clone()
	out.Manual = true
	return out
}

// OnDispatch returns a rule matching pipelines started by hand.
func OnDispatch() Rule { return Rule{Event: Dispatch} }

// WithChanges returns a copy of r that also requires a change to a path
// matching one of globs.
func (r Rule) WithChanges(globs ...string) Rule {
	out := r.clone()
	out.Changes = append(out.Changes, globs...)
	return out
}

// IgnoringChanges returns a copy of r that also requires a change to a path
// matching none of globs, such as "docs/**" and "*.md" (GitHub's
// paths-ignore; GitHub only).
func (r Rule) IgnoringChanges(globs ...string) Rule {
	out := r.clone()
	out.IgnoreChanges = append(out.IgnoreChanges, globs...)
	return out
}

func (r Rule) clone() Rule {
	out := r
	out.Refs = append([]string(nil), r.Refs...)
	out.Changes = append([]string(nil), r.Changes...)
	out.IgnoreChanges = append([]string(nil), r.IgnoreChanges...)
	out.ExceptRefs = append([]string(nil), r.ExceptRefs...)
	out.Types = append([]string(nil), r.Types...)
	out.Schedules = append([]string(nil), r.Schedules...)
	out.Cond = r.Cond.clone()
	return out
}

// RefPattern is a parsed ref pattern.
type RefPattern struct {
	// Prefix is the fixed part of the pattern.
	Prefix string
	// Wildcard is true when the pattern ends in "*", matching any rest.
	Wildcard bool
}

// ParseRefPattern parses a ref pattern as Rule.Refs describes it, and says
// what is wrong with an invalid one: characters git forbids in ref names, or
// a "*" anywhere but at the end, which neither GitLab rules nor GitHub job
// conditions can express the same way.
func ParseRefPattern(p string) (RefPattern, error) {
	if p == "" {
		return RefPattern{}, fmt.Errorf("empty pattern")
	}
	rp := RefPattern{Prefix: p}
	if strings.HasSuffix(p, "*") {
		rp = RefPattern{Prefix: strings.TrimSuffix(p, "*"), Wildcard: true}
	}
	if strings.Contains(rp.Prefix, "*") {
		return RefPattern{}, fmt.Errorf("%q has a \"*\" before its end; use an exact name or a prefix followed by one \"*\", such as \"release/*\"", p)
	}
	if err := checkRefChars(rp.Prefix, rp.Wildcard); err != nil {
		return RefPattern{}, fmt.Errorf("%q is not a valid git ref pattern: %v", p, err)
	}
	return rp, nil
}

// Match reports whether ref matches the pattern.
func (rp RefPattern) Match(ref string) bool {
	if rp.Wildcard {
		return strings.HasPrefix(ref, rp.Prefix)
	}
	return ref == rp.Prefix
}

// checkRefChars applies git check-ref-format's rules to the fixed part of a
// pattern. A prefix may end in "/" or "." when a wildcard follows it.
func checkRefChars(s string, wildcard bool) error {
	for _, r := range s {
		switch {
		case r < 0x20 || r == 0x7f:
			return fmt.Errorf("it has a control character")
		case strings.ContainsRune(" ~^:?[\\", r):
			return fmt.Errorf("it has %q, which git does not allow in ref names", r)
		}
	}
	switch {
	case strings.Contains(s, ".."):
		return fmt.Errorf("it has \"..\"")
	case strings.Contains(s, "@{"):
		return fmt.Errorf("it has \"@{\"")
	case strings.Contains(s, "//"):
		return fmt.Errorf("it has \"//\"")
	case strings.HasPrefix(s, "/") || strings.HasPrefix(s, "."):
		return fmt.Errorf("it starts with %q", s[:1])
	case s == "@":
		return fmt.Errorf("\"@\" alone is not a ref")
	}
	if !wildcard {
		switch {
		case strings.HasSuffix(s, "/") || strings.HasSuffix(s, "."):
			return fmt.Errorf("it ends with %q", s[len(s)-1:])
		case strings.HasSuffix(s, ".lock"):
			return fmt.Errorf("it ends with \".lock\"")
		}
	}
	parts := strings.Split(s, "/")
	for i, part := range parts {
		if strings.HasPrefix(part, ".") {
			return fmt.Errorf("a component starts with \".\"")
		}
		// The last component of a wildcard pattern is continued by the
		// wildcard, so only the ones before it are complete.
		if strings.HasSuffix(part, ".lock") && (i < len(parts)-1 || !wildcard) {
			return fmt.Errorf("a component ends with \".lock\"")
		}
	}
	return nil
}

// Matches reports whether the rule matches a pipeline started by event for
// ref (the branch, tag or merge request target branch), with no variables
// set and not from a fork. Changed paths are not considered; the CI
// decides those.
func (r Rule) Matches(event Event, ref string) bool {
	return r.MatchesStart(Start{Event: event, Ref: ref}, nil)
}

// Start is what starts a pipeline, for Plan: the event, the ref, and what
// conditions read.
type Start struct {
	// Event started the pipeline.
	Event Event
	// Ref is the branch, the tag, or a merge request's target branch.
	Ref string
	// Vars are the project's CI/CD variables (and the CI's, by their GitLab
	// names), as Env conditions read them.
	Vars map[string]string
	// Project is the project's path, such as "acme/app".
	Project string
	// Fork says a merge request comes from a fork.
	Fork bool
	// Type is the event's activity type, such as "opened"; "" matches any.
	Type string
	// Schedule names the schedule that started a scheduled pipeline; ""
	// matches any.
	Schedule string
	// Changed are the paths the start changed (slash-separated, relative
	// to the repository's root): a merge request's against its target
	// branch, a push's against the branch before it. nil means unknown:
	// rules with path filters (WithChanges, IgnoringChanges) match, and
	// the CI decides. An empty, non-nil slice is a start that changed
	// nothing, which no path filter matches.
	Changed []string
}

// defaultPRTypes are the pull request activity types GitHub starts a
// workflow for when none is named.
var defaultPRTypes = []string{"opened", "synchronize", "reopened"}

// MatchesStart reports whether the rule matches the pipeline start s;
// defaults are the pipeline's variables, which Env conditions fall back to.
func (r Rule) MatchesStart(s Start, defaults map[string]string) bool {
	if r.Event != s.Event {
		return false
	}
	if !r.refsMatch(s.Ref) {
		return false
	}
	if s.Type != "" {
		types := r.Types
		if len(types) == 0 && r.Event == MergeRequest {
			types = defaultPRTypes
		}
		if len(types) > 0 && !containsString(types, s.Type) {
			return false
		}
	}
	if s.Schedule != "" && len(r.Schedules) > 0 && !containsString(r.Schedules, s.Schedule) {
		return false
	}
	if s.Changed != nil && !r.changesMatch(s.Changed) {
		return false
	}
	return r.Cond.Eval(s, defaults)
}

// changesMatch reports whether changed passes the rule's path filters, as
// both CIs read them: Changes wants a changed path matching one of its
// globs (GitLab's rules:changes, GitHub's paths), IgnoreChanges a changed
// path matching none of its globs (GitHub's paths-ignore: a start that
// changed only ignored paths does not run).
func (r Rule) changesMatch(changed []string) bool {
	// New refuses malformed globs; a rule that was never validated and
	// holds one is left to the CI, like an unknown change set.
	if len(r.Changes) > 0 {
		re, err := regexp.Compile(GlobsRegexp(r.Changes))
		if err == nil && !slices.ContainsFunc(changed, re.MatchString) {
			return false
		}
	}
	if len(r.IgnoreChanges) > 0 {
		re, err := regexp.Compile(GlobsRegexp(r.IgnoreChanges))
		if err == nil && !slices.ContainsFunc(changed, func(p string) bool { return !re.MatchString(p) }) {
			return false
		}
	}
	return true
}

func (r Rule) refsMatch(ref string) bool {
	for _, p := range r.ExceptRefs {
		if pp, err := ParsePattern(p); err == nil && pp.Match(ref) {
			return false
		}
	}
	if len(r.Refs) == 0 {
		return true
	}
	for _, p := range r.Refs {
		if pp, err := ParsePattern(p); err == nil && pp.Match(ref) {
			return true
		}
	}
	return false
}
