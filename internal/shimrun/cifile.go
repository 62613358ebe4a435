package shimrun

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Waits maps each job of a CI file to the jobs it waits for, as the file
// says: its needs or, on GitLab, every job of the earlier stages when it
// has no needs. CheckOrder holds a run to it.
type Waits map[string][]string

// gitlabKeywords are the top-level keys of .gitlab-ci.yml that are not jobs.
var gitlabKeywords = []string{"default", "include", "stages", "variables", "workflow",
	"image", "services", "cache", "before_script", "after_script", "spec"}

// GitLabWaits reads the order a .gitlab-ci.yml imposes on its jobs.
func GitLabWaits(file []byte) (Waits, error) {
	var doc map[string]yaml.Node
	if err := yaml.Unmarshal(file, &doc); err != nil {
		return nil, fmt.Errorf("gitlab: %w", err)
	}
	var stages []string
	if n, ok := doc["stages"]; ok {
		if err := n.Decode(&stages); err != nil {
			return nil, fmt.Errorf("gitlab: stages: %w", err)
		}
	} else {
		stages = []string{"build", "test", "deploy"}
	}
	type job struct {
		Stage string    `yaml:"stage"`
		Needs yaml.Node `yaml:"needs"`
	}
	jobs := map[string]job{}
	for name, n := range doc {
		if slices.Contains(gitlabKeywords, name) || strings.HasPrefix(name, ".") || n.Kind != yaml.MappingNode {
			continue
		}
		var j job
		if err := n.Decode(&j); err != nil {
			return nil, fmt.Errorf("gitlab: job %q: %w", name, err)
		}
		if j.Stage == "" {
			j.Stage = "test"
		}
		jobs[name] = j
	}
	w := Waits{}
	for name, j := range jobs {
		if j.Needs.Kind != 0 {
			needs, err := needNames(j.Needs)
			if err != nil {
				return nil, fmt.Errorf("gitlab: job %q: needs: %w", name, err)
			}
			w[name] = needs
			continue
		}
		stage := slices.Index(stages, j.Stage)
		if stage < 0 {
			return nil, fmt.Errorf("gitlab: job %q: stage %q is not declared", name, j.Stage)
		}
		w[name] = []string{}
		for other, o := range jobs {
			if s := slices.Index(stages, o.Stage); s >= 0 && s < stage {
				w[name] = append(w[name], other)
			}
		}
		slices.Sort(w[name])
	}
	return w, nil
}

// needNames reads GitLab needs: names, or maps with a job key.
func needNames(n yaml.Node) ([]string, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("line %d: not a list", n.Line)
	}
	out := []string{}
	for _, item := range n.Content {
		switch item.Kind {
		case yaml.ScalarNode:
			out = append(out, item.Value)
		case yaml.MappingNode:
			var m struct {
				Job string `yaml:"job"`
			}
			if err := item.Decode(&m); err != nil || m.Job == "" {
				return nil, fmt.Errorf("line %d: a need without a job", item.Line)
			}
			out = append(out, m.Job)
		default:
			return nil, fmt.Errorf("line %d: unexpected need", item.Line)
		}
	}
	return out, nil
}

// workflow is the part of a GitHub workflow the runner tests read.
type workflow struct {
	Jobs map[string]struct {
		Needs  yaml.Node `yaml:"needs"`
		RunsOn yaml.Node `yaml:"runs-on"`
		Steps  []struct {
			Uses string `yaml:"uses"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

func parseWorkflow(file []byte) (*workflow, error) {
	var w workflow
	if err := yaml.Unmarshal(file, &w); err != nil {
		return nil, fmt.Errorf("github: %w", err)
	}
	return &w, nil
}

// scalars returns a string or a list of strings.
func scalars(n yaml.Node) []string {
	switch n.Kind {
	case yaml.ScalarNode:
		return []string{n.Value}
	case yaml.SequenceNode:
		var out []string
		for _, c := range n.Content {
			if c.Kind == yaml.ScalarNode {
				out = append(out, c.Value)
			}
		}
		return out
	}
	return nil
}

// GitHubWaits reads the order a GitHub workflow imposes on its jobs: their
// needs. Jobs without needs start at once.
func GitHubWaits(file []byte) (Waits, error) {
	wf, err := parseWorkflow(file)
	if err != nil {
		return nil, err
	}
	w := Waits{}
	for id, j := range wf.Jobs {
		w[id] = append([]string{}, scalars(j.Needs)...)
	}
	return w, nil
}

// CheckOrder reports an error when a job made a call before a job it waits
// for made its calls. Jobs that did not run impose nothing.
func (w Waits) CheckOrder(invs []Invocation) error {
	first := map[string]int{}
	last := map[string]int{}
	for i, inv := range invs {
		if _, ok := first[inv.Job]; !ok {
			first[inv.Job] = i
		}
		last[inv.Job] = i
	}
	var errs []string
	for i, inv := range invs {
		if first[inv.Job] != i {
			continue
		}
		if _, known := w[inv.Job]; !known {
			errs = append(errs, fmt.Sprintf("job %q is not in the CI file", inv.Job))
			continue
		}
		for _, p := range w[inv.Job] {
			if l, ran := last[p]; ran && l > i {
				errs = append(errs, fmt.Sprintf("job %q called dagger (call %d) before %q, which it waits for, finished (call %d)", inv.Job, i+1, p, l+1))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("order: %s", strings.Join(errs, "; "))
	}
	return nil
}
