package gitlab

import (
	"bytes"
	"errors"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Why a printer: yaml.v3's emitter keeps every event of a document in a
// growing queue until the document ends, so encoding a 300-job file costs
// about 15 MB of allocations and tens of milliseconds, mostly for scalars
// such as the Dagger set-up that repeat in every job. The generated files
// only hold block mappings, block sequences and one-line scalars, whose
// layout does not depend on yaml.v3's choices; only a scalar's quoting does.
// So yaml.v3 still decides the quoting, once per distinct scalar, and the
// printer lays the tree out the way yaml.v3 would with a 2-space indent.
// A test checks that both give the same bytes.

// errNotPrintable says the tree holds something the printer leaves to
// yaml.v3: a multi-line scalar, whose block style depends on indentation, or
// a key too long to be a simple key.
var errNotPrintable = errors.New("not printable by the fast printer")

// scalarKey identifies a scalar's rendering: same value, tag and style, same
// text.
type scalarKey struct {
	value, tag string
	style      yaml.Style
}

// maxSimpleKey is the length from which yaml.v3 writes a key in the
// explicit "? key" form.
const maxSimpleKey = 128

// printEntries writes each top-level key of root as its own paragraph.
func printEntries(root *yaml.Node) ([]byte, error) {
	scalars, size, err := renderScalars(root)
	if err != nil {
		return nil, err
	}
	p := &printer{scalars: scalars, out: make([]byte, 0, size)}
	for i := 0; i < len(root.Content); i += 2 {
		if i > 0 {
			p.out = append(p.out, '\n')
		}
		p.pair(root.Content[i], root.Content[i+1], 0, false)
	}
	return p.out, nil
}

// renderScalars returns yaml.v3's rendering of every distinct scalar in the
// tree, encoding them all as the items of one block sequence: a one-line
// scalar is written the same as an item and as a mapping value or key. size
// is a generous estimate of the printed tree's length.
func renderScalars(root *yaml.Node) (_ map[scalarKey]string, size int, _ error) {
	seen := map[scalarKey]string{}
	list := sequence()
	var walk func(n *yaml.Node, isKey bool) error
	walk = func(n *yaml.Node, isKey bool) error {
		switch n.Kind {
		case yaml.ScalarNode:
			if strings.ContainsAny(n.Value, "\n\r") || n.Value == "" || (isKey && len(n.Value) >= maxSimpleKey) {
				return errNotPrintable
			}
			size += len(n.Value) + 16 // indentation, quotes, ": " or "- "
			k := scalarKey{n.Value, n.Tag, n.Style}
			if _, ok := seen[k]; !ok {
				seen[k] = ""
				list.Content = append(list.Content, n)
			}
		case yaml.MappingNode:
			for i := 0; i < len(n.Content); i += 2 {
				if err := walk(n.Content[i], true); err != nil {
					return err
				}
				if err := walk(n.Content[i+1], false); err != nil {
					return err
				}
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				if err := walk(c, false); err != nil {
					return err
				}
			}
		default:
			return errNotPrintable
		}
		return nil
	}
	if err := walk(root, false); err != nil {
		return nil, 0, err
	}
	out, err := encode(list)
	if err != nil {
		return nil, 0, err
	}
	lines := bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n"))
	if len(lines) != len(list.Content) {
		return nil, 0, errNotPrintable
	}
	for i, l := range lines {
		text, ok := bytes.CutPrefix(l, []byte("- "))
		if !ok {
			return nil, 0, errNotPrintable
		}
		n := list.Content[i]
		seen[scalarKey{n.Value, n.Tag, n.Style}] = string(text)
	}
	return seen, size, nil
}

type printer struct {
	out     []byte
	scalars map[scalarKey]string
}

func (p *printer) scalar(n *yaml.Node) {
	p.out = append(p.out, p.scalars[scalarKey{n.Value, n.Tag, n.Style}]...)
}

func (p *printer) indent(n int) {
	for range n {
		p.out = append(p.out, ' ')
	}
}

// pair writes key: value at indent. inItem says the line's indentation is
// already written, as "- " of a sequence item.
func (p *printer) pair(k, v *yaml.Node, indent int, inItem bool) {
	if !inItem {
		p.indent(indent)
	}
	p.scalar(k)
	p.out = append(p.out, ':')
	if v.Kind == yaml.ScalarNode || len(v.Content) == 0 {
		p.out = append(p.out, ' ')
		p.value(v)
		p.out = append(p.out, '\n')
		return
	}
	p.out = append(p.out, '\n')
	p.block(v, indent+2, false)
}

// value writes a scalar, or an empty collection in flow style as yaml.v3
// does.
func (p *printer) value(v *yaml.Node) {
	switch {
	case v.Kind == yaml.ScalarNode:
		p.scalar(v)
	case v.Kind == yaml.MappingNode:
		p.out = append(p.out, "{}"...)
	default:
		p.out = append(p.out, "[]"...)
	}
}

// block writes a non-empty mapping or sequence whose lines start at indent.
func (p *printer) block(n *yaml.Node, indent int, inItem bool) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i < len(n.Content); i += 2 {
			p.pair(n.Content[i], n.Content[i+1], indent, inItem && i == 0)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			if !(inItem && i == 0) {
				p.indent(indent)
			}
			p.out = append(p.out, '-', ' ')
			if item.Kind == yaml.ScalarNode || len(item.Content) == 0 {
				p.value(item)
				p.out = append(p.out, '\n')
				continue
			}
			p.block(item, indent+2, true)
		}
	}
}
