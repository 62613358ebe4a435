// Package gotest runs `go test` in a container with Dagger and turns its
// output into the reports CI systems read: JUnit XML (with
// github.com/jstemmer/go-junit-report/v2) and Cobertura XML, plus the
// coverage summary line that GitLab's `coverage:` regex reads.
//
// A failing test is a result, not an error: Run returns the reports and
// the names of the failed tests, so a CI job can publish the JUnit report
// of a failed run and then fail.
package gotest

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"dagger.io/dagger"
	"github.com/jstemmer/go-junit-report/v2/gtr"
	"github.com/jstemmer/go-junit-report/v2/junit"
	"github.com/jstemmer/go-junit-report/v2/parser/gotest"

	"github.com/slipway-ci/slipway/stage"
)

// DefaultImage is the Go toolchain image the tests run in when WithGoImage
// names none. It needs a C compiler for the race detector, as the official
// golang images have.
const DefaultImage = stage.DefaultGoImage

// Report file names, in Result.Reports.
const (
	JUnitFile     = "junit.xml"
	CoberturaFile = "coverage.xml"
	ProfileFile   = "coverage.out"
	EventsFile    = "test.json"
)

const reportsDir = "/slipway-reports"

// Option configures Run.
type Option func(*config)

type config struct {
	stage.Settings
	packages  []string
	tags      []string
	race      bool
	cover     bool
	services  map[string]*dagger.Service
	extraArgs []string
}

// WithPackages sets the package patterns to test; the default is ./... .
func WithPackages(p ...string) Option {
	return func(c *config) { c.packages = append([]string(nil), p...) }
}

// WithTags sets build tags, such as "integration".
func WithTags(tags ...string) Option {
	return func(c *config) { c.tags = append([]string(nil), tags...) }
}

// WithRace turns the race detector on or off; it is on by default and
// needs cgo (a C compiler in the image).
func WithRace(on bool) Option { return func(c *config) { c.race = on } }

// WithCoverage turns the coverage profile, the Cobertura report and the
// summary line on or off; on by default.
func WithCoverage(on bool) Option { return func(c *config) { c.cover = on } }

// WithGoImage sets the Go toolchain image (see stage.GoImageFor).
func WithGoImage(ref string) Option { return func(c *config) { stage.WithGoImage(ref)(&c.Settings) } }

// WithEnv sets an environment variable of the test run, such as the URL of
// a service under test.
func WithEnv(name, value string) Option {
	return func(c *config) { stage.WithEnv(name, value)(&c.Settings) }
}

// WithGoEnv sets one of Go's settings for the test run, such as GOPROXY.
func WithGoEnv(name, value string) Option {
	return func(c *config) { stage.WithGoEnv(name, value)(&c.Settings) }
}

// WithService binds a Dagger service under a host name the tests can dial,
// such as the built image run as a service.
func WithService(alias string, svc *dagger.Service) Option {
	return func(c *config) { c.services[alias] = svc }
}

// WithArgs appends `go test` flags, such as "-count=1" or "-run=TestX".
func WithArgs(args ...string) Option {
	return func(c *config) { c.extraArgs = append(c.extraArgs, args...) }
}

// Result is what a test run gives back, pass or fail.
type Result struct {
	// Reports holds junit.xml, test.json and, with coverage,
	// coverage.out, coverage.xml.
	Reports *dagger.Directory
	// ExitCode is go test's.
	ExitCode int
	// Failed names the failed tests ("package.TestName") and the packages
	// that failed to build or whose tests failed outside a test.
	Failed []string
	// Tests counts the tests run.
	Tests int
	// Coverage is the total statement coverage in percent, -1 without.
	Coverage float64
	// CoverageLine is `go tool cover -func`'s total line, which GitLab's
	// `total:\s+\(statements\)\s+(\d+\.\d+)%` regex reads.
	CoverageLine string
	// Detail shows why the run failed: the last output lines of the
	// first failed tests, or go test's error output when packages did not
	// build; empty when all passed.
	Detail string
}

// Passed reports whether every test passed.
func (r *Result) Passed() bool { return r.ExitCode == 0 && len(r.Failed) == 0 }

// Problem says in one line what failed, or "" when all passed.
func (r *Result) Problem() string {
	if r.Passed() {
		return ""
	}
	if len(r.Failed) == 0 {
		return fmt.Sprintf("go test exited with %d", r.ExitCode)
	}
	names := r.Failed
	more := ""
	if len(names) > 10 {
		names, more = names[:10], fmt.Sprintf(" and %d more", len(r.Failed)-10)
	}
	return fmt.Sprintf("%d failed: %s%s", len(r.Failed), strings.Join(names, ", "), more)
}

// Run runs `go test -json` over the Go module in source (its root holds
// go.mod) with the module and build caches as cache volumes. It returns an
// error only when the tests could not be run at all.
func Run(ctx context.Context, client *dagger.Client, source *dagger.Directory, opts ...Option) (*Result, error) {
	c := config{packages: []string{"./..."}, race: true, cover: true, services: map[string]*dagger.Service{}}
	for _, o := range opts {
		o(&c)
	}
	args := []string{"go", "test", "-json"}
	if c.race {
		args = append(args, "-race")
	}
	if c.cover {
		args = append(args, "-covermode=atomic", "-coverprofile="+reportsDir+"/"+ProfileFile)
	}
	if len(c.tags) > 0 {
		args = append(args, "-tags="+strings.Join(c.tags, ","))
	}
	args = append(args, c.extraArgs...)
	args = append(args, c.packages...)

	ctr := stage.GoCaches(client, client.Container().From(c.GoImageOr(DefaultImage)))
	ctr = c.WithEnvOn(c.WithGoEnvOn(ctr))
	if c.race {
		ctr = ctr.WithEnvVariable("CGO_ENABLED", "1")
	}
	for _, alias := range sortedKeys(c.services) {
		ctr = ctr.WithServiceBinding(alias, c.services[alias])
	}
	ctr = ctr.WithMountedDirectory("/src", source).
		WithWorkdir("/src").
		WithDirectory(reportsDir, client.Directory()).
		WithExec(args, dagger.ContainerWithExecOpts{
			RedirectStdout: reportsDir + "/" + EventsFile,
			Expect:         dagger.ReturnTypeAny,
		})
	// go test -json's event stream is for the reports, not for a person:
	// the Verdict's Detail shows the failed tests' output instead.
	ctr, err := stage.Quietly(ctx, "gotest: go test -json", ctr)
	if err != nil {
		return nil, fmt.Errorf("gotest: running go test: %w", err)
	}
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		return nil, fmt.Errorf("gotest: running go test: %w", err)
	}
	res := &Result{ExitCode: code, Coverage: -1}

	events, err := ctr.File(reportsDir + "/" + EventsFile).Contents(ctx)
	if err != nil {
		return nil, fmt.Errorf("gotest: reading go test's output: %w", err)
	}
	if code != 0 && strings.TrimSpace(events) == "" {
		stderr, _ := ctr.Stderr(ctx)
		return nil, fmt.Errorf("gotest: go test exited with %d and printed no test event: %s", code, tail(stderr, 2000))
	}
	report, err := gotest.NewJSONParser().Parse(strings.NewReader(events))
	if err != nil {
		return nil, fmt.Errorf("gotest: parsing go test -json: %w", err)
	}
	res.Failed, res.Tests = failures(report)
	res.Detail = failureOutput(report)
	if code != 0 && len(res.Failed) == 0 {
		// Build failures print no test event of their own: name them from
		// go test's stderr.
		if stderr, err := ctr.Stderr(ctx); err == nil {
			res.Failed = buildFailures(stderr)
			res.Detail = tailLines(stderr, detailLines)
		}
	}
	suites := junit.CreateFromReport(report, "")
	var junitXML bytes.Buffer
	if err := suites.WriteXML(&junitXML); err != nil {
		return nil, fmt.Errorf("gotest: writing JUnit XML: %w", err)
	}
	reports := ctr.Directory(reportsDir).WithNewFile(JUnitFile, junitXML.String())

	if c.cover {
		profile, err := ctr.File(reportsDir + "/" + ProfileFile).Contents(ctx)
		if err == nil && strings.TrimSpace(profile) != "" {
			modPath, err := modulePath(ctx, source)
			if err != nil {
				return nil, err
			}
			blocks, err := ParseProfile(strings.NewReader(profile))
			if err != nil {
				return nil, fmt.Errorf("gotest: %w", err)
			}
			cob := Cobertura(blocks, modPath)
			res.Coverage = cob.LineRate * 100
			xmlText, err := cob.XML()
			if err != nil {
				return nil, fmt.Errorf("gotest: writing Cobertura XML: %w", err)
			}
			reports = reports.WithNewFile(CoberturaFile, xmlText)
			// The statement total, computed the way `go tool cover -func`
			// does, in its format.
			pct := StatementCoverage(blocks)
			res.Coverage = pct
			res.CoverageLine = fmt.Sprintf("total:\t\t\t\t\t\t\t(statements)\t\t%.1f%%", pct)
		}
	}
	if res.Reports, err = stage.Quietly(ctx, "gotest: write the reports", reports); err != nil {
		return nil, fmt.Errorf("gotest: writing the reports: %w", err)
	}
	return res, nil
}

// Verdict is the run's outcome: its reports, the failed tests, the count
// and coverage, and the coverage total line GitLab reads from the log.
func (r *Result) Verdict() stage.Verdict {
	v := stage.Verdict{Reports: r.Reports, Problem: r.Problem(), Summary: fmt.Sprintf("%d tests", r.Tests), Log: r.CoverageLine}
	if !r.Passed() {
		v.Detail = r.Detail
	}
	if r.Coverage >= 0 {
		v.Summary += fmt.Sprintf(", %.1f%% of statements", r.Coverage)
	}
	return v
}

var _ stage.Outcome = (*Result)(nil)

// failures lists the failed tests and packages of a report.
func failures(r gtr.Report) (failed []string, tests int) {
	for _, p := range r.Packages {
		tests += len(p.Tests)
		pkgFailed := false
		for _, t := range p.Tests {
			if t.Result == gtr.Fail {
				failed = append(failed, p.Name+"."+t.Name)
				pkgFailed = true
			}
		}
		if p.BuildError.Name != "" {
			failed = append(failed, p.Name+" (build failed)")
		} else if p.RunError.Name != "" && !pkgFailed {
			failed = append(failed, p.Name+" (failed outside a test)")
		}
	}
	sort.Strings(failed)
	return failed, tests
}

const (
	// detailTests is how many failed tests' output the Detail shows.
	detailTests = 3
	// detailLines is how many of a failed test's last output lines it shows.
	detailLines = 30
)

// failureOutput returns the last output lines of the first failed tests
// that have no failed subtest (the parent's output only repeats its
// subtests' verdicts), each under a "--- FAIL: package.Test" header, as
// go test prints them.
func failureOutput(r gtr.Report) string {
	var b strings.Builder
	shown := 0
	for _, p := range r.Packages {
		failed := map[string]bool{}
		for _, t := range p.Tests {
			if t.Result == gtr.Fail {
				failed[t.Name] = true
			}
		}
		show := func(header string, output []string) {
			if shown == detailTests {
				return
			}
			shown++
			b.WriteString(header + "\n")
			if out := tailLines(strings.Join(output, "\n"), detailLines); out != "" {
				b.WriteString(out)
				b.WriteString("\n")
			}
		}
		for _, t := range p.Tests {
			if t.Result == gtr.Fail && !hasFailedSubtest(t.Name, failed) {
				show(fmt.Sprintf("--- FAIL: %s.%s", p.Name, t.Name), t.Output)
			}
		}
		// A package that did not build, or failed outside any test (a
		// panic in init, a test binary killed by -timeout).
		switch {
		case p.BuildError.Name != "":
			show(fmt.Sprintf("--- FAIL: %s (build failed)", p.Name), p.BuildError.Output)
		case p.RunError.Name != "" && len(failed) == 0:
			show(fmt.Sprintf("--- FAIL: %s (failed outside a test)", p.Name), p.RunError.Output)
		}
	}
	return b.String()
}

// hasFailedSubtest reports whether a test named name/... failed.
func hasFailedSubtest(name string, failed map[string]bool) bool {
	for f := range failed {
		if strings.HasPrefix(f, name+"/") {
			return true
		}
	}
	return false
}

// tailLines returns the last n lines of s (trailing newlines dropped),
// each indented, after a line saying how many were left out; "" for an
// empty s. The full output is in the reports (test.json), or go test's
// stderr for packages that did not build.
func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) == 1 && strings.TrimSpace(lines[0]) == "" {
		return ""
	}
	var b strings.Builder
	if len(lines) > n {
		fmt.Fprintf(&b, "    (%d earlier lines not shown)\n", len(lines)-n)
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString("    " + strings.TrimRight(l, " \t"))
	}
	return b.String()
}

var buildFailRE = regexp.MustCompile(`(?m)^FAIL\s+(\S+)\s+\[(build failed|setup failed)\]`)

// buildFailures names the packages go test's stderr reports as not built.
func buildFailures(stderr string) []string {
	var out []string
	for _, m := range buildFailRE.FindAllStringSubmatch(stderr, -1) {
		out = append(out, m[1]+" ("+m[2]+")")
	}
	if len(out) == 0 && strings.TrimSpace(stderr) != "" {
		out = append(out, "go test: "+firstLine(stderr))
	}
	return out
}

// modulePath reads the module path from source's go.mod.
func modulePath(ctx context.Context, source *dagger.Directory) (string, error) {
	gomod, err := source.File("go.mod").Contents(ctx)
	if err != nil {
		return "", fmt.Errorf("gotest: reading go.mod: %w", err)
	}
	for _, line := range strings.Split(gomod, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "module" {
			if strings.HasPrefix(f[1], `"`) {
				return strconv.Unquote(f[1])
			}
			return f[1], nil
		}
	}
	return "", fmt.Errorf("gotest: go.mod has no module line")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
