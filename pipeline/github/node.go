package github

import (
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// The generator builds yaml.Node trees rather than marshalling structs or
// maps, so that key order is the order written here and scalars are always
// typed as the workflow schema expects (a branch called "true" stays a string).

func mapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode} }

// emptyMapping renders as {}, which GitHub reads as "this trigger, no filters".
func emptyMapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle} }

func set(m *yaml.Node, key string, value *yaml.Node) {
	k, ok := keys[key]
	if !ok {
		k = str(key)
	}
	m.Content = append(m.Content, k, value)
}

// keys holds one node for each key the generator writes in every job.
// Nodes are never changed once built, so jobs can share them; that saves
// thousands of allocations on a large pipeline.
var keys = func() map[string]*yaml.Node {
	m := map[string]*yaml.Node{}
	for _, k := range []string{"needs", "if", "runs-on", "permissions", "contents", "actions", "security-events",
		"environment", "name", "url", "concurrency", "group", "cancel-in-progress", "continue-on-error",
		"timeout-minutes", "outputs", "steps", "uses", "with", "run", "id", "env", "persist-credentials",
		"sarif_file", "category", "path", "retention-days", "if-no-files-found"} {
		m[k] = str(k)
	}
	return m
}()

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func integer(i int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(i)}
}

func boolean(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b)}
}

// script renders a shell script as a literal block, so the command reads in
// the file exactly as the shell receives it.
func script(lines ...string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Style: yaml.LiteralStyle, Value: strings.Join(lines, "\n") + "\n"}
}

func strings2seq(items []string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode}
	for _, s := range items {
		n.Content = append(n.Content, str(s))
	}
	return n
}

// literal keeps s from being read as a GitHub expression: GitHub evaluates
// "${{ ... }}" anywhere in a workflow value, run scripts included, before the
// shell sees them. Values from the model are literal text, so every "${{" in
// them becomes an expression that yields "${{".
func literal(s string) string {
	if !strings.Contains(s, "${{") {
		return s
	}
	return strings.ReplaceAll(s, "${{", "${{ '${{' }}")
}

// quote renders s as a string literal of GitHub's expression language.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// uses names a pinned action, with its release as a line comment, so a
// reader (and Dependabot) sees which version the SHA is.
func uses(action string) *yaml.Node {
	n := str(action)
	n.LineComment = "# " + actionVersions[action]
	return n
}
