// Hello is the Dagger module of an example team's repository: three stages
// (lint, test, build) as Dagger functions; test and build are slipway's stages, from its module installed as a dependency. The team's pipeline, defined in
// Go with slipway (package shims, in the repository's own Go module), calls
// them, and slipway generates the repository's GitLab CI file and GitHub
// workflow from it.
package main

import (
	"context"
	"fmt"
	"strings"

	"dagger/hello/internal/dagger"
)

// Hello is the module's main object.
type Hello struct{}

// golang is the Go toolchain image the stages run in.
const golang = "golang:1.25"

func goContainer(src *dagger.Directory) *dagger.Container {
	return dag.Container().From(golang).
		WithEnvVariable("GOTOOLCHAIN", "local").
		WithEnvVariable("GOFLAGS", "-mod=mod").
		WithEnvVariable("CGO_ENABLED", "0").
		WithMountedCache("/root/.cache/go-build", dag.CacheVolume("hello-go-build")).
		WithDirectory("/src", src).
		WithWorkdir("/src")
}

// Lint fails when a Go file is not gofmt-formatted, naming the files.
func (m *Hello) Lint(
	ctx context.Context,
	// The example's source.
	// +defaultPath="/examples/external"
	// +ignore=[".dagger"]
	source *dagger.Directory,
) (string, error) {
	out, err := goContainer(source).WithExec([]string{"gofmt", "-l", "hello", "cmd"}).Stdout(ctx)
	if err != nil {
		return "", err
	}
	if files := strings.TrimSpace(out); files != "" {
		return "", fmt.Errorf("gofmt would change: %s; run gofmt -w on them", strings.ReplaceAll(files, "\n", ", "))
	}
	return "gofmt: clean", nil
}

// Test runs the unit tests with slipway's test-unit stage (race detector,
// JUnit, coverage) and returns its summary and coverage line.
func (m *Hello) Test(
	ctx context.Context,
	// The example's source.
	// +defaultPath="/examples/external"
	// +ignore=[".dagger"]
	source *dagger.Directory,
) (string, error) {
	return slipway(source).TestUnit().Check(ctx)
}

// Build builds the hello binary with slipway's build stage (static,
// reproducible, on a distroless base) and returns it.
func (m *Hello) Build(
	// The example's source.
	// +defaultPath="/examples/external"
	// +ignore=[".dagger"]
	source *dagger.Directory,
) *dagger.File {
	return slipway(source).Build().File("/usr/local/bin/hello")
}

// slipway is slipway's module, installed as a dependency (dagger.json),
// configured for the example.
func slipway(source *dagger.Directory) *dagger.Slipway {
	return dag.Slipway(dagger.SlipwayOpts{
		Source:       source,
		Main:         []string{"./cmd/hello"},
		TestPackages: []string{"./hello/..."},
	})
}
