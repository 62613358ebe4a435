package github

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/slipway-ci/slipway/pipeline"
)

// ChangesJob is the id of the generated change-detection job: GitHub
// filters changed paths per workflow only, so when jobs filter by different
// paths a first job computes which filters match and the others read its
// outputs in their if:.
const ChangesJob = "changes"

// filterKey identifies one rule's path filter: its globs, sorted, and
// whether they are required (WithChanges) or ignored (IgnoringChanges).
func filterKey(r pipeline.Rule) string {
	switch {
	case len(r.Changes) > 0:
		return "paths:" + strings.Join(globSet(r.Changes), "\x00")
	case len(r.IgnoreChanges) > 0:
		return "ignore:" + strings.Join(globSet(r.IgnoreChanges), "\x00")
	}
	return ""
}

// workflowPaths returns the workflow's paths or paths-ignore filter: the
// globs every rule of every job shares. When rules differ, both are nil
// and the change-detection job decides per rule (see changeFilters).
func workflowPaths(jobs []pipeline.JobSpec) (paths, ignore []string) {
	key, first := "", true
	var rule pipeline.Rule
	for _, j := range jobs {
		if len(j.Rules) == 0 {
			return nil, nil
		}
		for _, r := range j.Rules {
			k := filterKey(r)
			if first {
				key, rule, first = k, r, false
			}
			if k != key {
				return nil, nil
			}
		}
	}
	if key == "" {
		return nil, nil
	}
	return globSet(rule.Changes), globSet(rule.IgnoreChanges)
}

// changeFilters returns the distinct path filters of the rules, in order,
// when the change-detection job is needed: some rule filters by changed
// paths, and not every rule the same way.
func changeFilters(jobs []pipeline.JobSpec) []pipeline.Rule {
	if p, i := workflowPaths(jobs); p != nil || i != nil {
		return nil
	}
	var out []pipeline.Rule
	seen := map[string]bool{}
	for _, j := range jobs {
		for _, r := range j.Rules {
			if k := filterKey(r); k != "" && !seen[k] {
				seen[k] = true
				out = append(out, r)
			}
		}
	}
	return out
}

// filterOutput returns the output of the change-detection job that says
// whether r's path filter matched, or "" when r has none.
func (g *generator) filterOutput(r pipeline.Rule) string {
	k := filterKey(r)
	if k == "" {
		return ""
	}
	for i, f := range g.filters {
		if filterKey(f) == k {
			return "paths_" + strconv.Itoa(i+1)
		}
	}
	return ""
}

// filtered reports whether some rule of j is gated by the detection job.
func (g *generator) filtered(j pipeline.JobSpec) bool {
	return slices.ContainsFunc(j.Rules, func(r pipeline.Rule) bool { return g.filterOutput(r) != "" })
}

// changesJob renders the change-detection job. It diffs the pushed commits
// (github.event.before), a pull request's or merge group's base against
// HEAD. Where there is nothing to compare with (a tag, a new branch, a
// schedule, a run by hand), every filter matches, as GitLab's
// rules:changes are true in such pipelines. A required filter matches
// when a changed path matches one of its globs; an ignoring one when a
// changed path matches none.
func (g *generator) changesJob() (*yaml.Node, error) {
	if _, clash := g.byID[ChangesJob]; clash {
		return nil, fmt.Errorf("github: job %q: its id is %q, the id of the job that detects changed paths for the jobs' path filters; rename the job", g.byID[ChangesJob].Name, ChangesJob)
	}
	lines := []string{
		`case "$GITHUB_EVENT_NAME" in`,
		`  pull_request) base="$PR_BASE" ;;`,
		`  merge_group) base="$MERGE_GROUP_BASE" ;;`,
		`  push) case "$GITHUB_REF" in refs/heads/*) base="$BEFORE" ;; *) base="" ;; esac ;;`,
		`  *) base="" ;;`,
		`esac`,
		`changed="$RUNNER_TEMP/slipway-changed"`,
		`if [ -n "$base" ] && [ "$base" != 0000000000000000000000000000000000000000 ] && git cat-file -e "$base^{commit}" 2>/dev/null; then`,
		`  git diff --name-only "$base" HEAD > "$changed"`,
		`  all=false`,
		`else`,
		`  all=true`,
		`fi`,
		`echo "changed paths (all: $all):"; cat "$changed" 2>/dev/null || true`,
	}
	outputs := mapping()
	for i, f := range g.filters {
		name := "paths_" + strconv.Itoa(i+1)
		var test string
		if len(f.Changes) > 0 {
			test = `grep -Eq '` + pipeline.GlobsRegexp(f.Changes) + `' "$changed"`
		} else {
			test = `grep -Evq '` + pipeline.GlobsRegexp(f.IgnoreChanges) + `' "$changed"`
		}
		lines = append(lines, `if [ "$all" = true ] || `+test+`; then v=true; else v=false; fi; echo "`+name+`=$v" >> "$GITHUB_OUTPUT"`)
		set(outputs, name, str("${{ steps.diff.outputs."+name+" }}"))
	}
	checkout := checkoutWith(&pipeline.Checkout{Depth: pipeline.FullHistory})
	env := mapping()
	set(env, "BEFORE", str("${{ github.event.before }}"))
	set(env, "PR_BASE", str("${{ github.event.pull_request.base.sha }}"))
	set(env, "MERGE_GROUP_BASE", str("${{ github.event.merge_group.base_sha }}"))
	diff := mapping()
	set(diff, "name", str("Changed paths"))
	set(diff, "id", str("diff"))
	set(diff, "env", env)
	set(diff, "run", script(lines...))

	n := mapping()
	runsOn := g.p.DefaultRunsOn()
	for i, l := range runsOn {
		runsOn[i] = literal(l)
	}
	if len(runsOn) == 1 {
		set(n, "runs-on", str(runsOn[0]))
	} else {
		set(n, "runs-on", strings2seq(runsOn))
	}
	p := mapping()
	set(p, "contents", str("read"))
	set(n, "permissions", p)
	set(n, "outputs", outputs)
	set(n, "steps", &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{checkout, diff}})
	return n, nil
}
