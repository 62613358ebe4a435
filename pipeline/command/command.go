// Package command turns a pipeline definition into the command a team
// runs: its main package is a few lines,
//
//	func main() {
//		command.Main(func() (*pipeline.Pipeline, error) {
//			return goservice.Pipeline("billing", goservice.Registry("registry.example.com/team/billing"))
//		})
//	}
//
// and `go run ./ci generate` (or `slipway generate`, which runs it) writes
// the CI files. Its subcommands:
//
//	generate          write .gitlab-ci.yml and .github/workflows/ci.yml
//	check             fail, with a diff, when the committed files drift; lint them
//	graph [-dot]      print the pipeline as a Mermaid (or Graphviz) graph
//	run JOB [-ref R]  run one job's `dagger call` lines on this machine
//
// Every subcommand takes -root, the repository root (default: the nearest
// directory above the working directory that holds .git or dagger.json).
package command

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/generate"
	"github.com/slipway-ci/slipway/pipeline/graph"
	"github.com/slipway-ci/slipway/pipeline/lint"
	"github.com/slipway-ci/slipway/pipeline/local"
)

// ErrUsage marks a command line that cannot run (exit status 2).
var ErrUsage = errors.New("usage")

const usage = `usage: %s <command> [flags]

commands:
  generate            write the CI files from the pipeline definition
  check               fail when the committed CI files drift from the definition; lint them
  graph [-dot]        print the pipeline as a Mermaid graph (-dot: Graphviz)
  run JOB [-ref REF]  run one job's dagger call lines on this machine (a push to REF)

flags (every command):
  -root DIR           the repository root (default: the nearest directory above holding .git or dagger.json)
`

// Main runs the command line of a pipeline definition and exits: 0 on
// success, 1 when the work failed, 2 for a usage error.
func Main(define func() (*pipeline.Pipeline, error)) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, os.Args[1:], define, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		if errors.Is(err, ErrUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// Run runs one subcommand with args.
func Run(ctx context.Context, args []string, define func() (*pipeline.Pipeline, error), stdout, stderr io.Writer) error {
	name := filepath.Base(os.Args[0])
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(stderr, usage, name)
		if len(args) == 0 {
			return fmt.Errorf("no command: %w", ErrUsage)
		}
		return nil
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet(sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	root := fs.String("root", "", "the repository root")
	dot := fs.Bool("dot", false, "graph: Graphviz instead of Mermaid")
	ref := fs.String("ref", "", "run: the branch the job runs for (default: the current branch)")
	var job string
	if sub == "run" && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		job, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return fmt.Errorf("%s: %v: %w", sub, err, ErrUsage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %q: %w", sub, fs.Args(), ErrUsage)
	}
	dir := *root
	if dir == "" {
		var err error
		if dir, err = findRoot(); err != nil {
			return err
		}
	}
	p, err := define()
	if err != nil {
		return fmt.Errorf("the pipeline definition: %w", err)
	}
	switch sub {
	case "generate":
		files, err := generate.Files(p)
		if err != nil {
			return err
		}
		if err := generate.Write(dir, files); err != nil {
			return err
		}
		for _, f := range files {
			fmt.Fprintf(stdout, "wrote %s\n", f.Path)
		}
		return nil
	case "check":
		return check(dir, p, stdout)
	case "graph":
		var out []byte
		if *dot {
			out = graph.DOT(p)
		} else {
			out = []byte(graph.Mermaid(p))
		}
		_, err := stdout.Write(out)
		return err
	case "run":
		if job == "" {
			return fmt.Errorf("run: name the job to run (it has: %s): %w", strings.Join(jobNames(p), ", "), ErrUsage)
		}
		return runJob(ctx, dir, p, job, *ref, stdout, stderr)
	}
	return fmt.Errorf("unknown command %q: generate, check, graph or run: %w", sub, ErrUsage)
}

// check fails when the committed files drift from the definition, and
// lints them: the schemas, the cross-references, actionlint.
func check(dir string, p *pipeline.Pipeline, stdout io.Writer) error {
	files, err := generate.Files(p)
	if err != nil {
		return err
	}
	if err := generate.Check(dir, files, "slipway generate"); err != nil {
		return err
	}
	var fns []string
	for _, s := range p.Functions() {
		fns = append(fns, s.Name)
	}
	for _, f := range files {
		opts := []lint.Option{lint.WithFilename(f.Path)}
		if len(fns) > 0 {
			opts = append(opts, lint.WithFunctions(fns...))
		}
		if tc := p.Toolchain(); tc != "" {
			opts = append(opts, lint.WithToolchain(tc))
		}
		var err error
		if f.Path == generate.GitLabPath {
			err = lint.GitLab(f.Data, opts...)
		} else {
			err = lint.GitHub(f.Data, opts...)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: up to date, lint clean\n", f.Path)
	}
	return nil
}

// runJob runs job's calls on this machine, with the CI variables a push to
// ref would set, through pipeline/local.
func runJob(ctx context.Context, dir string, p *pipeline.Pipeline, job, ref string, stdout, stderr io.Writer) error {
	j, ok := p.Job(job)
	if !ok {
		return fmt.Errorf("run: the pipeline has no job %q (it has: %s): %w", job, strings.Join(jobNames(p), ", "), ErrUsage)
	}
	if ref == "" {
		ref = git(dir, "rev-parse", "--abbrev-ref", "HEAD")
	}
	res, err := local.Run(ctx, p, pipeline.Push, ref,
		local.OnlyJobs(j.Name),
		local.WithRunner(local.Shell{Dir: dir}),
		local.WithProgress(stderr),
		local.WithEnv("CI_COMMIT_SHA", git(dir, "rev-parse", "HEAD")),
		local.WithEnv("CI_COMMIT_REF_NAME", ref),
		local.Approve(j.Name),
	)
	if err != nil {
		return err
	}
	for _, r := range res.Jobs {
		fmt.Fprintf(stdout, "%s: %s", r.Name, r.Status)
		if r.Reason != "" {
			fmt.Fprintf(stdout, " (%s)", r.Reason)
		}
		fmt.Fprintln(stdout)
		if r.Stdout != "" {
			fmt.Fprintln(stdout, r.Stdout)
		}
		if r.Status == local.Failed {
			return fmt.Errorf("run: %s failed: %s", r.Name, r.Reason)
		}
	}
	return nil
}

func jobNames(p *pipeline.Pipeline) []string {
	var out []string
	for _, j := range p.Jobs() {
		out = append(out, j.Name)
	}
	return out
}

func git(dir string, args ...string) string {
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// findRoot returns the nearest directory above the working directory that
// holds .git or dagger.json.
func findRoot() (string, error) {
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
			return "", fmt.Errorf("no repository root above %s (no .git or dagger.json): pass -root", wd)
		}
	}
}
