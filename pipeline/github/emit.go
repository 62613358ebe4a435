package github

import (
	"bytes"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// The workflow is built as yaml.Node trees and written by go.yaml.in/yaml/v3
// rules, but yaml/v3's encoder is slow for large documents: it keeps every
// event of a document and allocates for each scalar, which makes a 300-job
// workflow take tens of milliseconds. emitter writes the few node shapes the
// generator builds (block mappings and sequences, empty flow mappings, and
// scalars that are plain, quoted or literal blocks) itself, byte for byte as
// yaml/v3 would, and hands anything else to yaml/v3: a scalar it cannot
// prove plain is quoted by yaml/v3 (and remembered), and a top-level entry
// or job with a shape it does not know is encoded by yaml/v3 as a whole.
// TestEmitterMatchesYAML compares both on every workflow the tests build.
type emitter struct {
	quoted map[string]string // scalar value -> yaml/v3's rendering
}

// encode writes root, a mapping, as a YAML document with a two-space indent.
func (e *emitter) encode(buf *bytes.Buffer, root *yaml.Node) error {
	var scratch bytes.Buffer
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value == "jobs" && v.Kind == yaml.MappingNode && len(v.Content) > 0 && k.Tag == "!!str" {
			buf.WriteString("jobs:\n")
			for j := 0; j+1 < len(v.Content); j += 2 {
				if err := e.pair(buf, &scratch, v.Content[j], v.Content[j+1], 2); err != nil {
					return err
				}
			}
			continue
		}
		if err := e.pair(buf, &scratch, k, v, 0); err != nil {
			return err
		}
	}
	return nil
}

// pair writes one mapping entry at indent, with yaml/v3 when the fast path
// does not handle it.
func (e *emitter) pair(buf, scratch *bytes.Buffer, k, v *yaml.Node, indent int) error {
	scratch.Reset()
	if e.entry(scratch, k, v, indent, false) {
		buf.Write(scratch.Bytes())
		return nil
	}
	scratch.Reset()
	if err := encodeDoc(scratch, &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{k, v}}); err != nil {
		return err
	}
	pad := strings.Repeat(" ", indent)
	for line := range bytes.Lines(scratch.Bytes()) {
		if len(line) > 1 {
			// Block scalar indentation is relative to the key that holds
			// the scalar, so indenting every line keeps it intact.
			buf.WriteString(pad)
		}
		buf.Write(line)
	}
	return nil
}

func encodeDoc(buf *bytes.Buffer, n *yaml.Node) error {
	enc := yaml.NewEncoder(buf)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{n}}); err != nil {
		return err
	}
	return enc.Close()
}

func hasComments(n *yaml.Node) bool {
	return n.HeadComment != "" || n.FootComment != "" || n.Anchor != "" || n.Style&yaml.TaggedStyle != 0
}

// entry writes "key: value" for a block mapping whose keys are at indent.
// inline says the key follows a sequence item's "- " on the same line.
func (e *emitter) entry(buf *bytes.Buffer, k, v *yaml.Node, indent int, inline bool) bool {
	if k.Kind != yaml.ScalarNode || k.Value == "" || k.Style != 0 || k.LineComment != "" || hasComments(k) || hasComments(v) {
		return false
	}
	key, ok := e.scalar(k)
	if !ok {
		return false
	}
	if !inline {
		writeIndent(buf, indent)
	}
	buf.WriteString(key)
	buf.WriteByte(':')
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Style == yaml.LiteralStyle {
			return v.LineComment == "" && literalBlock(buf, v, indent+2)
		}
		s, ok := e.scalar(v)
		if !ok {
			return false
		}
		buf.WriteByte(' ')
		buf.WriteString(s)
		if v.LineComment != "" {
			buf.WriteByte(' ')
			buf.WriteString(v.LineComment)
		}
		buf.WriteByte('\n')
		return true
	case yaml.MappingNode:
		if v.LineComment != "" || (v.Tag != "" && v.Tag != "!!map") {
			return false
		}
		if len(v.Content) == 0 {
			buf.WriteString(" {}\n")
			return true
		}
		if v.Style != 0 {
			return false
		}
		buf.WriteByte('\n')
		return e.mapping(buf, v, indent+2, false)
	case yaml.SequenceNode:
		if len(v.Content) == 0 || v.Style != 0 || v.LineComment != "" || (v.Tag != "" && v.Tag != "!!seq") {
			return false
		}
		buf.WriteByte('\n')
		return e.sequence(buf, v, indent+2)
	}
	return false
}

func (e *emitter) mapping(buf *bytes.Buffer, m *yaml.Node, indent int, inline bool) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if !e.entry(buf, m.Content[i], m.Content[i+1], indent, inline && i == 0) {
			return false
		}
	}
	return true
}

func (e *emitter) sequence(buf *bytes.Buffer, s *yaml.Node, indent int) bool {
	for _, item := range s.Content {
		if hasComments(item) || item.LineComment != "" {
			return false
		}
		writeIndent(buf, indent)
		buf.WriteString("- ")
		switch {
		case item.Kind == yaml.ScalarNode && item.Style == 0:
			v, ok := e.scalar(item)
			if !ok {
				return false
			}
			buf.WriteString(v)
			buf.WriteByte('\n')
		case item.Kind == yaml.MappingNode && item.Style == 0 && len(item.Content) > 0 && (item.Tag == "" || item.Tag == "!!map"):
			if !e.mapping(buf, item, indent+2, true) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func writeIndent(buf *bytes.Buffer, n int) {
	const spaces = "                                                                "
	for n > len(spaces) {
		buf.WriteString(spaces)
		n -= len(spaces)
	}
	buf.WriteString(spaces[:n])
}

// scalar renders a single-line scalar of the styles the generator uses.
func (e *emitter) scalar(n *yaml.Node) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Style != 0 {
		return "", false
	}
	switch n.Tag {
	case "!!str":
		if plainString(n.Value) {
			return n.Value, true
		}
	case "!!int":
		if isDigits(n.Value) {
			return n.Value, true
		}
		return "", false
	case "!!bool":
		if n.Value == "true" || n.Value == "false" {
			return n.Value, true
		}
		return "", false
	default:
		return "", false
	}
	if s, ok := e.quoted[n.Value]; ok {
		return s, s != ""
	}
	var buf bytes.Buffer
	s := ""
	if err := encodeDoc(&buf, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: n.Value}); err == nil {
		out := strings.TrimSuffix(buf.String(), "\n")
		if !strings.Contains(out, "\n") && (out == n.Value || out[0] == '\'' || out[0] == '"') {
			s = out
		}
	}
	if e.quoted == nil {
		e.quoted = map[string]string{}
	}
	e.quoted[n.Value] = s // "" remembers that the fast path cannot write it
	return s, s != ""
}

func isDigits(s string) bool {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// plainString reports whether yaml/v3 certainly writes s as a plain scalar
// in block context: printable ASCII, no indicator where YAML gives it a
// meaning, and nothing a YAML reader would resolve to another type. It errs
// towards false; those strings go to yaml/v3.
func plainString(s string) bool {
	if s == "" || s[0] == ' ' || s[len(s)-1] == ' ' || s[len(s)-1] == ':' {
		return false
	}
	switch s[0] {
	case '#', ',', '[', ']', '{', '}', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`', '?', ':', '-', '+', '.', '~', '<', '=':
		return false
	}
	if s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return false
		}
		if c == ' ' && i+1 < len(s) && s[i+1] == '#' || c == ':' && i+1 < len(s) && s[i+1] == ' ' {
			return false
		}
	}
	switch strings.ToLower(s) {
	case "true", "false", "null", "yes", "no", "on", "off", "y", "n":
		return false
	}
	return true
}

// literalBlock writes a "|" block scalar whose lines are at indent, for
// values that yaml/v3 writes the same way: printable ASCII lines, none
// empty, none with trailing spaces, the first not starting with a space, and
// one final line break.
func literalBlock(buf *bytes.Buffer, v *yaml.Node, indent int) bool {
	s := v.Value
	if v.Tag != "!!str" && v.Tag != "" || len(s) < 2 || s[0] == ' ' || s[0] == '\n' || s[len(s)-1] != '\n' || s[len(s)-2] == '\n' || s[len(s)-2] == ' ' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\n':
			if s[i-1] == ' ' || i+1 < len(s) && s[i+1] == '\n' {
				return false
			}
		case c < 0x20 || c > 0x7e:
			return false
		}
	}
	buf.WriteString(" |\n")
	for line := range strings.Lines(s) {
		writeIndent(buf, indent)
		buf.WriteString(line)
	}
	return true
}
