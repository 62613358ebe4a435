// Command slipway sets up and drives slipway in a Go service's repository.
//
//	slipway init [flags] [DIR]   write dagger.json (slipway's module as a toolchain, with the
//	                             settings it finds), the pipeline definition in Go (ci/), and the CI files
//	slipway generate             rewrite the CI files from the pipeline definition
//	slipway check                fail when the committed CI files drift from it; lint them
//	slipway graph [-dot]         print the pipeline as a graph
//	slipway run JOB              run one job's dagger call lines on this machine
//	slipway version              print slipway's version
//
// Install it with `go install github.com/slipway-ci/slipway/cmd/slipway@VERSION`,
// or run it once with `go run github.com/slipway-ci/slipway/cmd/slipway@VERSION init`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
)

// errUsage marks a command line that cannot run (exit status 2).
var errUsage = errors.New("usage")

const usage = `slipway: CI/CD pipelines as typed Go, run by Dagger.

usage:
  slipway init [flags] [DIR]   set up slipway in the Go module at DIR (default .)
  slipway generate             rewrite .gitlab-ci.yml and .github/workflows/ci.yml from the pipeline definition
  slipway check                fail when the committed CI files drift from the definition; lint them
  slipway graph [-dot]         print the pipeline as a Mermaid (or Graphviz) graph
  slipway run JOB [-ref REF]   run one job's dagger call lines on this machine
  slipway version              print slipway's version

generate, check, graph and run take -pipeline-dir DIR (default ci), where the definition is.
Run "slipway init -h" for init's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "slipway:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("no command: %w", errUsage)
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	case "version":
		fmt.Fprintln(stdout, version())
		return nil
	case "init":
		return runInit(ctx, args[1:], stdout, stderr)
	case "generate", "check", "graph", "run":
		return delegate(ctx, args, stdout, stderr)
	}
	return fmt.Errorf("unknown command %q: init, generate, check, graph, run or version: %w", args[0], errUsage)
}

// version is slipway's module version, as go install or go run recorded it.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "(devel)"
}

// delegate runs the pipeline definition's own command (pipeline/command)
// with the subcommand: the definition is the team's Go program, so the
// installed slipway runs it rather than guessing what it says.
func delegate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	dir := "ci"
	var rest []string
	for i := 1; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-pipeline-dir" || a == "--pipeline-dir":
			if i+1 >= len(args) {
				return fmt.Errorf("%s: -pipeline-dir needs a directory: %w", args[0], errUsage)
			}
			dir = args[i+1]
			i++
		case strings.HasPrefix(strings.TrimPrefix(a, "-"), "-pipeline-dir="):
			_, dir, _ = strings.Cut(a, "=")
		default:
			rest = append(rest, a)
		}
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(root, dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		return fmt.Errorf("no pipeline definition in %s (no go.mod): run `slipway init` first, or pass -pipeline-dir", dir)
	}
	cmd := exec.CommandContext(ctx, "go", append([]string{"run", ".", args[0], "-root", root}, rest...)...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr, cmd.Stdin = stdout, stderr, os.Stdin
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return fmt.Errorf("%s failed (the definition in %s)", args[0], dir)
		}
		return fmt.Errorf("running the pipeline definition in %s: %w", dir, err)
	}
	return nil
}

// repoRoot is the nearest directory above the working directory that
// holds .git or dagger.json.
func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		for _, marker := range []string{".git", "dagger.json"} {
			if _, err := os.Stat(filepath.Join(dir, marker)); err == nil {
				return dir, nil
			}
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no repository root above %s (no .git or dagger.json): run slipway in the repository", wd)
		}
	}
}
