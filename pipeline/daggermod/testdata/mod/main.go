// A small Dagger module's source, for the parser's tests.
package main

import "context"

type Demo struct{ registryURL string }

// New configures the demo.
func New(
	// +optional
	registryUrl string,
) *Demo {
	return &Demo{registryURL: registryUrl}
}

// Build builds the source.
func (m *Demo) Build(ctx context.Context, source *Directory) (*Container, error) { return nil, nil }

// TestUnit runs the unit tests.
func (m *Demo) TestUnit(
	ctx context.Context,
	source *Directory,
	// +optional
	// +default="./..."
	packages string,
	race bool, // +optional
) (*Directory, error) {
	return nil, nil
}

func (m *Demo) helper() {}

type Directory struct{}
type Container struct{}
