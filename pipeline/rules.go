package pipeline

import (
	"fmt"
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
)

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

// OnSchedule returns a rule matching scheduled pipelines.
func OnSchedule() Rule { return Rule{Event: Schedule} }

// OnDispatch returns a rule matching pipelines started by hand.
func OnDispatch() Rule { return Rule{Event: Dispatch} }

// WithChanges returns a copy of r that also requires a change to a path
// matching one of globs.
func (r Rule) WithChanges(globs ...string) Rule {
	out := r.clone()
	out.Changes = append(out.Changes, globs...)
	return out
}

func (r Rule) clone() Rule {
	return Rule{Event: r.Event, Refs: append([]string(nil), r.Refs...), Changes: append([]string(nil), r.Changes...)}
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
// ref (the branch, tag or merge request target branch). Changed paths are not
// considered; the CI decides those.
func (r Rule) Matches(event Event, ref string) bool {
	if r.Event != event {
		return false
	}
	if len(r.Refs) == 0 {
		return true
	}
	for _, p := range r.Refs {
		rp, err := ParseRefPattern(p)
		if err == nil && rp.Match(ref) {
			return true
		}
	}
	return false
}
