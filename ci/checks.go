package main

import (
	"context"
	"fmt"

	"github.com/slipway-ci/slipway/ci/internal/dagger"
	"github.com/slipway-ci/slipway/ci/reference"
)

// UnitTests is a check for `dagger check`: the example service's unit tests
// pass.
// +check
func (m *Slipway) UnitTests(
	ctx context.Context,
	// The repository root.
	// +defaultPath="/"
	// +ignore=[".git", ".slipway", "reports", "bin"]
	source *dagger.Directory,
) error {
	v, err := m.TestUnit(ctx, source, nil)
	if err != nil {
		return err
	}
	_, err = v.Check()
	return err
}

// GeneratedFiles is a check for `dagger check`: the committed CI files are
// the ones the reference pipeline generates.
// +check
func (m *Slipway) GeneratedFiles(
	ctx context.Context,
	// The repository root.
	// +defaultPath="/"
	// +ignore=[".git", ".slipway", "reports", "bin"]
	source *dagger.Directory,
) error {
	files, err := reference.Files(moduleSource)
	if err != nil {
		return err
	}
	for _, f := range files {
		got, err := source.File(f.Path).Contents(ctx)
		if err != nil {
			return fmt.Errorf("generated-files: %s: %w", f.Path, err)
		}
		if got != string(f.Data) {
			return fmt.Errorf("generated-files: %s differs from what ci/reference/reference.go generates; run `make generate`", f.Path)
		}
	}
	return nil
}

// moduleSource is the module's embedded Go source, under a name that the
// functions' source parameters do not shadow.
var moduleSource = source
