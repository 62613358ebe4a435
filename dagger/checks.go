package main

import (
	"context"
	"fmt"

	"github.com/slipway-ci/slipway/dagger/internal/dagger"
	"github.com/slipway-ci/slipway/pipeline/generate"
	"github.com/slipway-ci/slipway/pipeline/goservice"
	"github.com/slipway-ci/slipway/stage/handover"
)

// UnitTests is a check for `dagger check`: the unit tests pass.
//
// +check
func (m *Slipway) UnitTests(ctx context.Context) error {
	v, err := m.TestUnit(ctx)
	if err != nil {
		return err
	}
	_, err = v.Check()
	return err
}

// IntegrationTests is a check for `dagger check`: the image builds, and
// its integration tests (or smoke probes) pass against it.
//
// +check
func (m *Slipway) IntegrationTests(ctx context.Context) error {
	c, err := handover.Client(ctx)
	if err != nil {
		return err
	}
	s, err := m.resolve(ctx)
	if err != nil {
		return fmt.Errorf("integration-tests: %w", err)
	}
	imgs, err := m.images(ctx, c, s, "", "", nil)
	if err != nil {
		return err
	}
	v, err := m.integration(ctx, c, s, imgs[0], s.name+" (built)")
	if err != nil {
		return err
	}
	_, err = v.Check()
	return err
}

// Generate returns the CI files of the service's pipeline
// (.gitlab-ci.yml and .github/workflows/ci.yml), whose jobs call this
// module's functions through the toolchain named toolchain. Write them
// into the repository with `dagger call slipway generate export --path=.`;
// a team that defines its pipeline in Go runs `slipway generate` instead.
func (m *Slipway) Generate(
	ctx context.Context,
	// The name slipway is installed under in dagger.json.
	// +default="slipway"
	toolchain string,
) (*dagger.Directory, error) {
	s, err := m.resolve(ctx)
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	opts := []goservice.Option{goservice.Toolchain(toolchain),
		goservice.GeneratedFrom("dagger.json (slipway's settings)", "dagger call "+toolchain+" generate export --path=.")}
	if m.Repository != "" {
		opts = append(opts, goservice.Registry(m.Repository))
	}
	p, err := goservice.Pipeline(s.name, opts...)
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	files, err := generate.Files(p)
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	dir := dag.Directory()
	for _, f := range files {
		dir = dir.WithNewFile(f.Path, string(f.Data))
	}
	return dir, nil
}
