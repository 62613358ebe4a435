package github

import (
	"bytes"

	"github.com/slipway-ci/slipway/pipeline"
)

// GenerateWithYAML is Generate with the whole document written by yaml/v3's
// encoder instead of the fast emitter, for tests that compare the two.
func GenerateWithYAML(p *pipeline.Pipeline, opts ...Option) ([]byte, error) {
	g, err := newGenerator(p, opts)
	if err != nil {
		return nil, err
	}
	root, err := g.document()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteString(g.header())
	if err := encodeDoc(&buf, root); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
