// Hello is an example of a team's own Dagger module that imports slipway as
// a Go library: three stages (lint, test, build) as Dagger functions, and a
// pipeline defined in Go (package shims) from which slipway generates this
// example's own GitLab CI file and GitHub workflow.
package main

import (
	"context"
	"embed"
	"fmt"
	"strings"

	"github.com/slipway-ci/slipway/examples/external/internal/dagger"
	"github.com/slipway-ci/slipway/examples/external/shims"
)

// source is this module's own Go source, which the pipeline is checked
// against when it is generated inside the engine.
//
//go:embed *.go
var source embed.FS

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
	// +ignore=["internal", "dagger.gen.go"]
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

// Test runs the unit tests and returns their output.
func (m *Hello) Test(
	ctx context.Context,
	// The example's source.
	// +defaultPath="/examples/external"
	// +ignore=["internal", "dagger.gen.go"]
	source *dagger.Directory,
) (string, error) {
	return goContainer(source).WithExec([]string{"go", "test", "-count=1", "./hello/..."}).Stdout(ctx)
}

// Build compiles the hello binary, statically and reproducibly.
func (m *Hello) Build(
	// The example's source.
	// +defaultPath="/examples/external"
	// +ignore=["internal", "dagger.gen.go"]
	source *dagger.Directory,
) *dagger.File {
	return goContainer(source).
		WithExec([]string{"go", "build", "-trimpath", "-ldflags=-s -w", "-o", "/out/hello", "./cmd/hello"}).
		File("/out/hello")
}

// Generate returns this example's CI files, generated from package shims:
// write them with `dagger call generate export --path=.`.
func (m *Hello) Generate() (*dagger.Directory, error) {
	files, err := shims.Files(source)
	if err != nil {
		return nil, err
	}
	dir := dag.Directory()
	for _, f := range files {
		dir = dir.WithNewFile(f.Path, string(f.Data))
	}
	return dir, nil
}
