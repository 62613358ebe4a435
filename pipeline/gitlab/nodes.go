package gitlab

import (
	"strconv"

	"go.yaml.in/yaml/v3"
)

// The YAML is built as nodes rather than from structs or maps so that key
// order is the order written here and never Go's map order or field order
// of some intermediate type.

func mapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"} }

func sequence(items ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: items}
}

// str is a string scalar. The encoder quotes it when it would otherwise read
// back as another type, such as "true" or "1.0".
func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func strs(ss []string) *yaml.Node {
	n := sequence()
	for _, s := range ss {
		n.Content = append(n.Content, str(s))
	}
	return n
}

func integer(i int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(i)}
}

func boolean(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b)}
}

// set appends key: value to the mapping m.
func set(m *yaml.Node, key string, value *yaml.Node) {
	m.Content = append(m.Content, str(key), value)
}

func ints(is []int) *yaml.Node {
	n := sequence()
	for _, i := range is {
		n.Content = append(n.Content, integer(i))
	}
	return n
}
