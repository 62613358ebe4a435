// Package shims defines the external example's pipeline with slipway's
// pipeline package, and generates its GitLab CI file and GitHub workflow.
// It is what a team that imports slipway as a library writes.
package shims

import (
	"fmt"
	"io/fs"
	"time"

	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/daggermod"
	"github.com/slipway-ci/slipway/pipeline/generate"
)

// Pipeline returns the example's three-stage pipeline. module is the Dagger
// module's source (.dagger); every job is checked against the functions it
// declares, so a job calling a missing or renamed function is refused.
func Pipeline(module fs.FS) (*pipeline.Pipeline, error) {
	mod, err := daggermod.ParseFS(module, "Hello")
	if err != nil {
		return nil, fmt.Errorf("reading the module's functions: %w", err)
	}
	source := pipeline.Dir("source", ".")
	always := pipeline.When(pipeline.OnBranches(), pipeline.OnMergeRequests())
	// The example stands for a team's own repository, whose root holds the
	// Dagger module and these CI files.
	return pipeline.New("hello",
		pipeline.GeneratedFrom("examples/external/shims/shims.go", "go test ./shims -run TestGeneratedFiles -update"),
		pipeline.Functions(mod.Signatures()...),
		pipeline.Stages("lint", "test", "build"),
		pipeline.Job("lint", pipeline.Stage("lint"), always, pipeline.Timeout(10*time.Minute),
			pipeline.Calls(pipeline.Fn("lint", source))),
		pipeline.Job("test", pipeline.Stage("test"), always, pipeline.Timeout(10*time.Minute),
			pipeline.Calls(pipeline.Fn("test", source))),
		pipeline.Job("build", pipeline.Stage("build"), pipeline.Needs("test"), always, pipeline.Timeout(10*time.Minute),
			pipeline.Calls(pipeline.Fn("build", source).Export("dist/hello")),
			pipeline.KeepArtifacts(24*time.Hour, "dist/")),
	)
}

// Files returns the example's generated CI files.
func Files(module fs.FS) ([]generate.File, error) {
	p, err := Pipeline(module)
	if err != nil {
		return nil, err
	}
	return generate.Files(p)
}
