package lint

import (
	"fmt"
	"strings"
)

// gitlabKeywords are the top-level keys of a .gitlab-ci.yml that are not
// jobs. Keys starting with "." are hidden (template) jobs.
var gitlabKeywords = map[string]bool{
	"$schema": true, "spec": true, "image": true, "services": true, "before_script": true,
	"after_script": true, "variables": true, "cache": true, "!reference": true, "default": true,
	"stages": true, "include": true, "workflow": true, "types": true,
}

// gitlabDefaultStages are the stages GitLab uses when a file declares none.
var gitlabDefaultStages = []string{".pre", "build", "test", "deploy", ".post"}

// GitLab checks a .gitlab-ci.yml: it parses, matches GitLab's CI schema,
// every job's stage is declared, every `needs` and `dependencies` entry names
// a job of the same or an earlier stage, and every job's script runs exactly
// one `dagger call <function>` (of a function WithFunctions lists, if given).
// It returns nil or an *Error listing every problem.
func GitLab(data []byte, opts ...Option) error {
	r := &report{cfg: newConfig(opts, ".gitlab-ci.yml")}
	header, data := splitSpecHeader(data)
	if header != nil {
		// A component or an included file with inputs: the spec: header
		// is its own YAML document, checked against the same schema.
		hdoc, err := parse(header)
		if err != nil {
			r.add("", 0, "write the spec: header with a YAML library", "%v", err)
			return r.err()
		}
		s, err := gitlabSchema()
		if err != nil {
			return fmt.Errorf("lint: %w", err)
		}
		r.validateSchema(s, hdoc.value, "GitLab CI", "https://docs.gitlab.com/ci/inputs/",
			func([]string) string { return "" }, func([]string) int { return 0 })
	}
	doc, err := parse(data)
	if err != nil {
		r.add("", 0, "write the file with a YAML library", "%v", err)
		return r.err()
	}
	lines := keyLines(doc.root)
	jobOf := func(loc []string) string {
		if len(loc) > 0 && isGitLabJob(loc[0], doc.value[loc[0]]) {
			return loc[0]
		}
		return ""
	}
	lineOf := func(loc []string) int {
		if len(loc) == 0 {
			return 0
		}
		return lines[loc[0]]
	}
	s, err := gitlabSchema()
	if err != nil {
		return fmt.Errorf("lint: %w", err)
	}
	r.validateSchema(s, doc.value, "GitLab CI", "https://docs.gitlab.com/ci/yaml/", jobOf, lineOf)

	stages := gitlabDefaultStages
	if v, ok := doc.value["stages"]; ok {
		stages = append([]string{".pre"}, append(stringList(v), ".post")...)
	}
	stageIndex := map[string]int{}
	for i, s := range stages {
		if _, dup := stageIndex[s]; !dup {
			stageIndex[s] = i
		}
	}

	var jobs []string
	jobStage := map[string]string{}
	for _, k := range keyOrder(doc.root) {
		if !isGitLabJob(k, doc.value[k]) {
			continue
		}
		jobs = append(jobs, k)
		stage := "test" // GitLab's default stage
		if s, ok := doc.value[k].(map[string]any)["stage"].(string); ok {
			stage = s
		}
		jobStage[k] = stage
	}

	for _, name := range jobs {
		job := doc.value[name].(map[string]any)
		line := lines[name]
		stage := jobStage[name]
		if _, ok := stageIndex[stage]; !ok {
			r.add(name, line, fmt.Sprintf("add %q to the top-level stages:, or move the job to one of: %s", stage, strings.Join(stages[1:len(stages)-1], ", ")),
				"stage %q is not declared in stages", stage)
		}
		for _, n := range gitlabNeeds(job["needs"]) {
			if n.optional {
				continue
			}
			dstage, exists := jobStage[n.job]
			switch {
			case n.job == name:
				r.add(name, line, "remove the job from its own needs", "needs itself")
			case !exists:
				r.add(name, line, "name an existing job, or remove the entry", "needs %q, which is not a job in this file", n.job)
			case stageIndex[dstage] > stageIndex[stage]:
				r.add(name, line, fmt.Sprintf("move %q to stage %q or earlier, or drop the need", n.job, stage),
					"needs %q, which runs in the later stage %q", n.job, dstage)
			}
		}
		for _, d := range stringList(job["dependencies"]) {
			if _, exists := jobStage[d]; !exists {
				r.add(name, line, "name an existing job, or remove the entry", "depends on %q, which is not a job in this file", d)
			}
		}
		if t, ok := job["trigger"]; ok {
			// A trigger job runs no script: GitLab starts the downstream
			// pipeline itself.
			r.checkTrigger(name, line, t, job)
			continue
		}
		script := gitlabScript(doc.value, name, 0)
		var calls []daggerCall
		for _, cmd := range script {
			calls = append(calls, findCalls(cmd)...)
		}
		r.checkCalls(name, line, calls, "its script")
	}
	return r.err()
}

// splitSpecHeader splits a file that opens with a spec: header document
// (GitLab's inputs of a component or an included file) into the header and
// the configuration, whose lines keep their numbers: the header's lines are
// blanked. Other files come back whole, with a nil header.
func splitSpecHeader(data []byte) (header, config []byte) {
	lines := strings.SplitAfter(string(data), "\n")
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if !strings.HasPrefix(l, "spec:") {
			return nil, data
		}
		for k := i + 1; k < len(lines); k++ {
			if strings.TrimRight(lines[k], "\r\n") == "---" {
				header = []byte(strings.Join(lines[:k], ""))
				blank := strings.Repeat("\n", k+1)
				return header, []byte(blank + strings.Join(lines[k+1:], ""))
			}
		}
		return nil, data
	}
	return nil, data
}

// checkTrigger checks a trigger job: it starts a project's pipeline or a
// child pipeline from a file, and has no script beside it.
func (r *report) checkTrigger(name string, line int, t any, job map[string]any) {
	if _, ok := job["script"]; ok {
		r.add(name, line, "a trigger job runs no script; drop it or make it a job of its own", "has both trigger: and script:")
	}
	if m, ok := t.(map[string]any); ok {
		_, project := m["project"]
		_, include := m["include"]
		if project == include {
			r.add(name, line, "set trigger:project for a multi-project pipeline or trigger:include for a child pipeline",
				"its trigger names neither or both of project and include")
		}
	}
}

func isGitLabJob(key string, v any) bool {
	if gitlabKeywords[key] || strings.HasPrefix(key, ".") {
		return false
	}
	_, ok := v.(map[string]any)
	return ok
}

type gitlabNeed struct {
	job      string
	optional bool
}

// gitlabNeeds reads `needs:` entries naming jobs of this pipeline; entries
// naming other pipelines or projects are left out.
func gitlabNeeds(v any) []gitlabNeed {
	list, _ := v.([]any)
	var out []gitlabNeed
	for _, e := range list {
		switch e := e.(type) {
		case string:
			out = append(out, gitlabNeed{job: e})
		case map[string]any:
			if _, other := e["pipeline"]; other {
				continue
			}
			if _, other := e["project"]; other {
				continue
			}
			if j, ok := e["job"].(string); ok {
				opt, _ := e["optional"].(bool)
				out = append(out, gitlabNeed{job: j, optional: opt})
			}
		}
	}
	return out
}

// gitlabScript returns a job's script, following `extends` to the template
// that sets it when the job does not.
func gitlabScript(file map[string]any, name string, depth int) []string {
	job, _ := file[name].(map[string]any)
	if job == nil || depth > 10 {
		return nil
	}
	if s, ok := job["script"]; ok {
		return stringList(s)
	}
	ext := stringList(job["extends"])
	// The last template listed wins, as in GitLab's merge.
	for i := len(ext) - 1; i >= 0; i-- {
		if s := gitlabScript(file, ext[i], depth+1); s != nil {
			return s
		}
	}
	return nil
}
