// Package gosec runs the gosec static analyser over Go source, in gosec's
// own container, with Dagger. Findings are typed with gosec's issue
// package; reports are gosec's JSON and SARIF and a GitLab SAST report.
//
// Findings are a result, not an error: whether they fail a pipeline is the
// caller's choice (slipway's reference pipeline lets the job fail without
// failing the pipeline, as the seed did).
package gosec

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"dagger.io/dagger"
	"github.com/securego/gosec/v2/cwe"
	"github.com/securego/gosec/v2/issue"

	"github.com/slipway-ci/slipway/stage"
)

// Defaults.
const (
	// DefaultImage is the gosec image; it carries the go command, which
	// gosec needs to load packages.
	DefaultImage = "securego/gosec:2.29.0"
	// Version is DefaultImage's gosec version, recorded in reports.
	Version = "2.29.0"
)

// Report file names, in Result.Reports.
const (
	JSONFile   = "gosec.json"
	SARIFFile  = "gosec.sarif"
	GitLabFile = "gl-sast-report.json"
)

// Option configures Scan.
type Option func(*config)

type config struct {
	stage.Settings
	image    string
	packages []string
	exclude  []string
	severity string
	now      func() time.Time
}

// WithImage sets the gosec image.
func WithImage(ref string) Option { return func(c *config) { c.image = ref } }

// WithPackages sets the package patterns to analyse; the default is ./... .
func WithPackages(p ...string) Option {
	return func(c *config) { c.packages = append([]string(nil), p...) }
}

// WithEnv sets an environment variable of gosec's container.
func WithEnv(name, value string) Option {
	return func(c *config) { stage.WithEnv(name, value)(&c.Settings) }
}

// WithGoEnv sets one of Go's settings for gosec's go command, which loads
// the packages, such as GOPROXY.
func WithGoEnv(name, value string) Option {
	return func(c *config) { stage.WithGoEnv(name, value)(&c.Settings) }
}

// WithGoImage runs gosec in this Go toolchain image instead of the one its
// own image carries, for a module that needs a newer Go (stage.GoImageFor):
// gosec type-checks the packages with the go command it finds.
func WithGoImage(ref string) Option { return func(c *config) { stage.WithGoImage(ref)(&c.Settings) } }

// WithExcludeRules skips rules by ID, such as "G104".
func WithExcludeRules(ids ...string) Option {
	return func(c *config) { c.exclude = append(c.exclude, ids...) }
}

// WithMinSeverity reports only findings of this severity or above: low,
// medium or high. The default is low (everything).
func WithMinSeverity(s string) Option { return func(c *config) { c.severity = strings.ToLower(s) } }

// Result is an analysis's outcome.
type Result struct {
	// Findings are gosec's issues, sorted by file and line.
	Findings []*issue.Issue
	// Errors are packages gosec could not load (file -> messages).
	Errors map[string][]string
	// Reports holds gosec.json, gosec.sarif and gl-sast-report.json.
	Reports *dagger.Directory
}

// Problem says in one line what was found, or "" when nothing was.
func (r *Result) Problem() string {
	var parts []string
	for _, f := range r.Findings {
		parts = append(parts, fmt.Sprintf("%s %s at %s:%s", f.RuleID, f.Severity, f.File, f.Line))
	}
	if len(parts) == 0 && len(r.Errors) == 0 {
		return ""
	}
	s := fmt.Sprintf("%d gosec findings", len(r.Findings))
	if len(parts) > 0 {
		if len(parts) > 10 {
			parts = append(parts[:10], fmt.Sprintf("and %d more", len(r.Findings)-10))
		}
		s += ": " + strings.Join(parts, "; ")
	}
	if len(r.Errors) > 0 {
		s += fmt.Sprintf(" (%d files not analysed)", len(r.Errors))
	}
	return s
}

// Verdict is the analysis's outcome: its reports, the findings in one line
// and their count.
func (r *Result) Verdict() stage.Verdict {
	return stage.Verdict{Reports: r.Reports, Problem: r.Problem(), Summary: fmt.Sprintf("%d gosec findings", len(r.Findings))}
}

var _ stage.Outcome = (*Result)(nil)

// Scan analyses the Go module in source (its root holds go.mod). It returns
// an error only when gosec could not run.
func Scan(ctx context.Context, client *dagger.Client, source *dagger.Directory, opts ...Option) (*Result, error) {
	c := config{image: DefaultImage, packages: []string{"./..."}, severity: "low", now: time.Now}
	for _, o := range opts {
		o(&c)
	}
	start := c.now()
	const out = "/slipway-reports"
	img := client.Container().From(c.image)
	if c.GoImage != "" {
		img = client.Container().From(c.GoImage).WithFile("/bin/gosec", img.File("/bin/gosec"))
	}
	base := c.WithEnvOn(c.WithGoEnvOn(stage.GoCaches(client, img)))
	base = base.WithMountedDirectory("/src", source).WithWorkdir("/src").WithDirectory(out, client.Directory())
	run := func(ctr *dagger.Container, format, file string) *dagger.Container {
		// -no-fail: findings are data here; the caller decides.
		args := []string{"/bin/gosec", "-no-fail", "-fmt=" + format, "-out=" + out + "/" + file, "-severity=" + c.severity}
		if len(c.exclude) > 0 {
			args = append(args, "-exclude="+strings.Join(c.exclude, ","))
		}
		return ctr.WithExec(append(args, c.packages...))
	}
	// gosec writes one format a run, and its own SARIF is the one tools
	// expect. The second run finds the build cache warm: one after the
	// other costs less than both compiling the same packages at once.
	jsonRun := run(base, "json", JSONFile)
	sarifRun := run(jsonRun, "sarif", SARIFFile)
	raw, err := jsonRun.File(out + "/" + JSONFile).Contents(ctx)
	if err != nil {
		return nil, fmt.Errorf("gosec: analysing: %w", err)
	}
	res, err := decode([]byte(raw))
	if err != nil {
		return nil, err
	}
	gl, err := json.MarshalIndent(GitLabReport(res.Findings, start, c.now()), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("gosec: GitLab report: %w", err)
	}
	if res.Reports, err = stage.Quietly(ctx, "gosec: write the reports", client.Directory().
		WithFile(JSONFile, sarifRun.File(out+"/"+JSONFile)).
		WithFile(SARIFFile, sarifRun.File(out+"/"+SARIFFile)).
		WithNewFile(GitLabFile, string(gl)+"\n")); err != nil {
		return nil, fmt.Errorf("gosec: writing the reports: %w", err)
	}
	return res, nil
}

// rawIssue is issue.Issue as gosec's JSON writes it: scores as strings.
type rawIssue struct {
	issue.Issue
	Severity   string         `json:"severity"`
	Confidence string         `json:"confidence"`
	Cwe        *cwe.Weakness  `json:"cwe"`
	Extra      map[string]any `json:"-"`
}

// decode reads gosec's JSON report.
func decode(raw []byte) (*Result, error) {
	var doc struct {
		Errors map[string][]struct {
			Line   int    `json:"line"`
			Column int    `json:"column"`
			Error  string `json:"error"`
		} `json:"Golang errors"`
		Issues []rawIssue `json:"Issues"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("gosec: decoding the JSON report: %w", err)
	}
	res := &Result{Errors: map[string][]string{}}
	for file, errs := range doc.Errors {
		for _, e := range errs {
			res.Errors[file] = append(res.Errors[file], fmt.Sprintf("%d:%d: %s", e.Line, e.Column, e.Error))
		}
	}
	for _, ri := range doc.Issues {
		is := ri.Issue
		is.Severity, is.Confidence, is.Cwe = score(ri.Severity), score(ri.Confidence), ri.Cwe
		res.Findings = append(res.Findings, &is)
	}
	sort.SliceStable(res.Findings, func(i, j int) bool {
		a, b := res.Findings[i], res.Findings[j]
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	return res, nil
}

func score(s string) issue.Score {
	switch strings.ToUpper(s) {
	case "HIGH":
		return issue.High
	case "MEDIUM":
		return issue.Medium
	}
	return issue.Low
}
