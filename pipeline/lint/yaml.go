package lint

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// document is a parsed YAML file: the plain value the schemas validate,
// and the node tree for line numbers.
type document struct {
	root  *yaml.Node // the top-level mapping
	value map[string]any
}

// parse reads exactly one YAML document whose top level is a mapping.
func parse(data []byte) (*document, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not valid YAML: %v", err)
		}
		docs = append(docs, &n)
	}
	switch len(docs) {
	case 0:
		return nil, fmt.Errorf("the file is empty")
	case 1:
	default:
		return nil, fmt.Errorf("the file holds %d YAML documents; a CI file is one", len(docs))
	}
	root := docs[0]
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("the top level is not a mapping")
	}
	v, err := plain(root, 0)
	if err != nil {
		return nil, err
	}
	return &document{root: root, value: v.(map[string]any)}, nil
}

// plain converts a node to the values encoding/json would produce, so the
// JSON schemas see what the CI sees. It resolves aliases and merge keys
// itself and keeps timestamps as text: YAML-to-JSON conversions that turn
// "2026-01-01" into a time value change what a schema validates.
func plain(n *yaml.Node, depth int) (any, error) {
	if depth > 100 {
		return nil, fmt.Errorf("line %d: YAML nested too deeply (an alias loop?)", n.Line)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return plain(n.Content[0], depth+1)
	case yaml.AliasNode:
		return plain(n.Alias, depth+1)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := plain(c, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		return plainMap(n, depth)
	case yaml.ScalarNode:
		return scalar(n)
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
}

func plainMap(n *yaml.Node, depth int) (map[string]any, error) {
	out := map[string]any{}
	explicit := map[string]bool{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: a mapping key is not a scalar", k.Line)
		}
		if explicit[k.Value] {
			return nil, fmt.Errorf("line %d: the key %q appears twice in one mapping", k.Line, k.Value)
		}
		explicit[k.Value] = true
		pv, err := plain(v, depth+1)
		if err != nil {
			return nil, err
		}
		out[k.Value] = pv
	}
	// Merge keys (<<: *anchor) fill in keys the mapping does not set; among
	// several merged mappings the first one wins.
	for _, m := range merges {
		srcs := []*yaml.Node{m}
		if deref(m).Kind == yaml.SequenceNode {
			srcs = deref(m).Content
		}
		for _, s := range srcs {
			v, err := plain(s, depth+1)
			if err != nil {
				return nil, err
			}
			mm, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("line %d: a merge key (<<) must refer to a mapping", s.Line)
			}
			for k, val := range mm {
				if _, set := out[k]; !set {
					out[k] = val
				}
			}
		}
	}
	return out, nil
}

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func scalar(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, fmt.Errorf("line %d: %v", n.Line, err)
		}
		return b, nil
	case "!!int":
		var i int64
		if err := n.Decode(&i); err == nil {
			return i, nil
		}
		var u uint64
		if err := n.Decode(&u); err == nil {
			return u, nil
		}
		return nil, fmt.Errorf("line %d: %q is not an integer", n.Line, n.Value)
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, fmt.Errorf("line %d: %v", n.Line, err)
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			// JSON has no infinities; the CI would see the text.
			return n.Value, nil
		}
		return f, nil
	case "!!binary":
		var s string
		if err := n.Decode(&s); err != nil {
			return nil, fmt.Errorf("line %d: %v", n.Line, err)
		}
		return s, nil
	}
	// Strings, timestamps and custom tags such as GitLab's !reference.
	return n.Value, nil
}

// lookup returns the value node for key in mapping n, or nil.
func lookup(n *yaml.Node, key string) *yaml.Node {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return deref(n.Content[i+1])
		}
	}
	return nil
}

// keyLines returns the line of every key of mapping n.
func keyLines(n *yaml.Node) map[string]int {
	out := map[string]int{}
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		out[n.Content[i].Value] = n.Content[i].Line
	}
	return out
}

// keyOrder returns the keys of mapping n in file order.
func keyOrder(n *yaml.Node) []string {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	var out []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].ShortTag() != "!!merge" {
			out = append(out, n.Content[i].Value)
		}
	}
	return out
}

// strings returns v as a list of strings: a string alone, or the strings of
// a (possibly nested, as GitLab's !reference makes) list.
func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, stringList(e)...)
		}
		return out
	case nil:
		return nil
	case bool:
		return []string{strconv.FormatBool(v)}
	default:
		return []string{fmt.Sprint(v)}
	}
}
