// Package generate writes a pipeline's CI files and checks committed ones
// for drift. It is the friendly face over pipeline/gitlab and
// pipeline/github, the way crane is over go-containerregistry's pkg/v1.
package generate

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/github"
	"github.com/slipway-ci/slipway/pipeline/gitlab"
)

// The paths of the generated files, relative to the repository root.
const (
	GitLabPath = ".gitlab-ci.yml"
	GitHubPath = ".github/workflows/ci.yml"
)

// File is one generated file.
type File struct {
	// Path is relative to the repository root, with forward slashes.
	Path string
	// Data is the file's content.
	Data []byte
}

type options struct {
	gitlab     bool
	github     bool
	githubPath string
}

// Option configures Files.
type Option func(*options)

// WithoutGitLab leaves out the GitLab CI file.
func WithoutGitLab() Option { return func(o *options) { o.gitlab = false } }

// WithoutGitHub leaves out the GitHub Actions workflow.
func WithoutGitHub() Option { return func(o *options) { o.github = false } }

// WithGitHubPath writes the workflow to path instead of GitHubPath.
func WithGitHubPath(path string) Option { return func(o *options) { o.githubPath = path } }

// Files generates the CI files for p, in a stable order.
func Files(p *pipeline.Pipeline, opts ...Option) ([]File, error) {
	o := options{gitlab: true, github: true, githubPath: GitHubPath}
	for _, opt := range opts {
		opt(&o)
	}
	var out []File
	if o.gitlab {
		data, err := gitlab.Generate(p)
		if err != nil {
			return nil, fmt.Errorf("generating %s: %w", GitLabPath, err)
		}
		out = append(out, File{Path: GitLabPath, Data: data})
	}
	if o.github {
		data, err := github.Generate(p)
		if err != nil {
			return nil, fmt.Errorf("generating %s: %w", o.githubPath, err)
		}
		out = append(out, File{Path: o.githubPath, Data: data})
	}
	return out, nil
}

// Write writes files under dir, creating directories as needed. It writes
// each file whole through a temporary file and a rename, so an interrupted
// run never leaves a half-written CI file behind.
func Write(dir string, files []File) error {
	for _, f := range files {
		path := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("writing %s: %w", f.Path, err)
		}
		tmp, err := os.CreateTemp(filepath.Dir(path), ".slipway-*")
		if err != nil {
			return fmt.Errorf("writing %s: %w", f.Path, err)
		}
		_, werr := tmp.Write(f.Data)
		cerr := tmp.Close()
		if err := errors.Join(werr, cerr); err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("writing %s: %w", f.Path, err)
		}
		if err := os.Chmod(tmp.Name(), 0o644); err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("writing %s: %w", f.Path, err)
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("writing %s: %w", f.Path, err)
		}
	}
	return nil
}

// DriftError says that committed CI files differ from what the definition
// generates. Its message holds a unified diff per file and the command
// that fixes it.
type DriftError struct {
	// Diffs maps each drifted path to its unified diff (committed -> generated).
	Diffs map[string]string
	// Order lists the drifted paths in a stable order.
	Order []string
	// Regenerate is the command that rewrites the files, if known.
	Regenerate string
}

func (e *DriftError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d generated CI file(s) differ from the pipeline definition: %s", len(e.Order), strings.Join(e.Order, ", "))
	if e.Regenerate != "" {
		fmt.Fprintf(&b, "\nrun `%s` and commit the result; never edit them by hand", e.Regenerate)
	}
	for _, p := range e.Order {
		b.WriteString("\n\n")
		b.WriteString(e.Diffs[p])
	}
	return b.String()
}

// Check compares files with the files under dir and returns a *DriftError
// when any differs or is missing. regenerate is the command to name in the
// error.
func Check(dir string, files []File, regenerate string) error {
	drift := &DriftError{Diffs: map[string]string{}, Regenerate: regenerate}
	for _, f := range files {
		have, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("reading %s: %w", f.Path, err)
		}
		if bytes.Equal(have, f.Data) {
			continue
		}
		from := "a/" + f.Path
		if err != nil {
			from = "/dev/null (missing)"
		}
		diff, derr := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A:        difflib.SplitLines(string(have)),
			B:        difflib.SplitLines(string(f.Data)),
			FromFile: from,
			ToFile:   "b/" + f.Path + " (generated)",
			Context:  3,
		})
		if derr != nil {
			return fmt.Errorf("diffing %s: %w", f.Path, derr)
		}
		drift.Diffs[f.Path] = diff
		drift.Order = append(drift.Order, f.Path)
	}
	if len(drift.Order) > 0 {
		return drift
	}
	return nil
}
