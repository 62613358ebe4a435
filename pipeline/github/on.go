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
	patterns []pipeline.RefPattern
}

// add records refs; no refs, or the pattern "*", means every ref.
func (s *patternSet) add(refs []string) error {
	if len(refs) == 0 {
		s.any = true
		return nil
	}
	for _, r := range refs {
		rp, err := pipeline.ParseRefPattern(r)
		if err != nil {
			return err
		}
		if rp.Wildcard && rp.Prefix == "" {
			s.any = true
		}
		s.patterns = append(s.patterns, rp)
	}
	return nil
}

// filters returns the GitHub filter patterns, sorted, without duplicates and
// without patterns that another one already covers.
func (s *patternSet) filters() []string {
	if s.any {
		return []string{"**"}
	}
	var keep []string
	for i, p := range s.patterns {
		covered := false
		for k, q := range s.patterns {
			if !q.Wildcard || !strings.HasPrefix(p.Prefix, q.Prefix) {
				continue
			}
			// q covers p; of two equal wildcards keep the first.
			if !p.Wildcard || len(q.Prefix) < len(p.Prefix) || k < i {
				covered = true
				break
			}
		}
		if !covered {
			keep = append(keep, filterPattern(p))
		}
	}
	slices.Sort(keep)
	return slices.Compact(keep)
}

// filterPattern turns a model ref pattern into a GitHub branch or tag filter.
// The model's trailing "*" matches slashes too, which is GitHub's "**".
// Characters that GitHub's filters treat specially and git allows in ref
// names are escaped with a backslash.
func filterPattern(rp pipeline.RefPattern) string {
	var b strings.Builder
	for i, r := range rp.Prefix {
		if r == '+' || r == ']' || (r == '!' && i == 0) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	if rp.Wildcard {
		b.WriteString("**")
	}
	return b.String()
}

// triggers is the workflow's `on:`, the union of what every job's rules match.
type triggers struct {
	branches, tags, pullRequests patternSet
	push, tagPush, pullRequest   bool
	schedule                     bool
	paths                        []string
}

func collectTriggers(jobs []pipeline.JobSpec) (*triggers, error) {
	t := &triggers{}
	for _, j := range jobs {
		if len(j.Rules) == 0 {
			// A job without rules runs for every event, as on GitLab, whose
			// workflow runs for branches, tags and merge requests.
			t.push, t.tagPush, t.pullRequest = true, true, true
			t.branches.any, t.tags.any, t.pullRequests.any = true, true, true
			continue
		}
		for _, r := range j.Rules {
			var err error
			switch r.Event {
			case pipeline.Push:
				t.push = true
				err = t.branches.add(r.Refs)
			case pipeline.TagPush:
				t.tagPush = true
				err = t.tags.add(r.Refs)
			case pipeline.MergeRequest:
				t.pullRequest = true
				err = t.pullRequests.add(r.Refs)
			case pipeline.Schedule:
				t.schedule = true
			case pipeline.Dispatch:
				// workflow_dispatch is always a trigger.
			default:
				err = fmt.Errorf("unknown event %q", r.Event)
			}
			if err != nil {
				return nil, fmt.Errorf("github: job %q: %w", j.Name, err)
			}
		}
	}
	paths, err := workflowPaths(jobs)
	if err != nil {
		return nil, err
	}
	t.paths = paths
	return t, nil
}

// workflowPaths returns the changed-path filter of the whole workflow.
// GitHub filters changed paths only per workflow, never per job, so a filter
// is exact only when every rule of every job names the same globs; anything
// else is an error rather than a workflow that runs jobs the definition
// excludes (or skips jobs it includes).
func workflowPaths(jobs []pipeline.JobSpec) ([]string, error) {
	var ref []string
	var refJob string
	for _, j := range jobs {
		for _, r := range j.Rules {
			if len(r.Changes) > 0 {
				ref, refJob = globSet(r.Changes), j.Name
				break
			}
		}
		if refJob != "" {
			break
		}
	}
	if refJob == "" {
		return nil, nil
	}
	fail := func(j pipeline.JobSpec, what string) error {
		named, other := refJob, j.Name
		if hasChanges(j) {
			named, other = j.Name, refJob
		}
		if named == other {
			return fmt.Errorf("github: job %q: GitHub cannot filter single jobs by changed paths, only the whole workflow; give every rule the same changes (%s)", named, what)
		}
		return fmt.Errorf("github: job %q: GitHub cannot filter single jobs by changed paths, only the whole workflow, and job %q %s", named, other, what)
	}
	for _, j := range jobs {
		if len(j.Rules) == 0 {
			return nil, fail(j, fmt.Sprintf("has no rules, so it does not filter by the changes %s", strings.Join(ref, ", ")))
		}
		for _, r := range j.Rules {
			if got := globSet(r.Changes); !slices.Equal(got, ref) {
				what := "has a rule without changes"
				if len(got) > 0 {
					what = fmt.Sprintf("filters by %s instead of %s", strings.Join(got, ", "), strings.Join(ref, ", "))
				}
				if j.Name == refJob {
					what = fmt.Sprintf("its rules differ: %s", what)
				}
				return nil, fail(j, what)
			}
		}
	}
	return ref, nil
}

func hasChanges(j pipeline.JobSpec) bool {
	for _, r := range j.Rules {
		if len(r.Changes) > 0 {
			return true
		}
	}
	return false
}

func globSet(globs []string) []string {
	out := slices.Clone(globs)
	slices.Sort(out)
	return slices.Compact(out)
}

func (t *triggers) node(cron string) *yaml.Node {
	on := mapping()
	if t.push || t.tagPush {
		push := mapping()
		if t.push {
			set(push, "branches", strings2seq(t.branches.filters()))
		}
		if t.tagPush {
			set(push, "tags", strings2seq(t.tags.filters()))
		}
		if len(t.paths) > 0 {
			// GitHub does not evaluate paths for tag pushes, as GitLab
			// treats changes as true for tag pipelines.
			set(push, "paths", strings2seq(t.paths))
		}
		set(on, "push", push)
	}
	if t.pullRequest {
		pr := mapping()
		if !t.pullRequests.any {
			set(pr, "branches", strings2seq(t.pullRequests.filters()))
		}
		if len(t.paths) > 0 {
			set(pr, "paths", strings2seq(t.paths))
		}
		if len(pr.Content) == 0 {
			pr = emptyMapping()
		}
		set(on, "pull_request", pr)
	}
	if t.schedule {
		entry := mapping()
		set(entry, "cron", str(cron))
		set(on, "schedule", &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{entry}})
	}
	// Always runnable by hand, so a person can rerun the pipeline on a ref.
	set(on, "workflow_dispatch", emptyMapping())
	return on
}

// jobCondition returns the job's `if:` expression for its rules, or "" for a
// job that runs on every event. Changed paths are not part of it: they are
// the workflow's paths filter.
func jobCondition(rules []pipeline.Rule) (string, error) {
	var terms []string
	for _, r := range rules {
		c, err := ruleCondition(r)
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

func ruleCondition(r pipeline.Rule) (string, error) {
	var event, refs string
	var err error
	switch r.Event {
	case pipeline.Push:
		event = "push"
		refs, err = refCondition("github.ref", "refs/heads/", r.Refs, true)
	case pipeline.TagPush:
		event = "push"
		refs, err = refCondition("github.ref", "refs/tags/", r.Refs, true)
	case pipeline.MergeRequest:
		event = "pull_request"
		refs, err = refCondition("github.base_ref", "", r.Refs, false)
	case pipeline.Schedule:
		event = "schedule"
		refs, err = refCondition("github.ref", "refs/heads/", r.Refs, false)
	case pipeline.Dispatch:
		event = "workflow_dispatch"
		refs, err = refCondition("github.ref", "refs/heads/", r.Refs, false)
	default:
		return "", fmt.Errorf("unknown event %q", r.Event)
	}
	if err != nil {
		return "", err
	}
	c := "github.event_name == " + quote(event)
	if refs != "" {
		c += " && " + refs
	}
	return c, nil
}

// refCondition matches the context value expr against patterns, each
// prefixed with refPrefix. anyNeedsCheck says whether "any ref" must still
// be checked against refPrefix, as for push events, which carry both branch
// and tag refs.
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
		rp, err := pipeline.ParseRefPattern(r)
		if err != nil {
			return "", err
		}
		var t string
		switch {
		case rp.Wildcard && rp.Prefix == "":
			return anyRef, nil
		case rp.Wildcard:
			t = "startsWith(" + expr + ", " + quote(refPrefix+rp.Prefix) + ")"
		default:
			t = expr + " == " + quote(refPrefix+rp.Prefix)
		}
		if !slices.Contains(terms, t) {
			terms = append(terms, t)
		}
	}
	if len(terms) == 1 {
		return terms[0], nil
	}
	return "(" + strings.Join(terms, " || ") + ")", nil
}
