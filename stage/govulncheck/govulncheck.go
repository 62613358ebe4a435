// Package govulncheck runs govulncheck (golang.org/x/vuln) over a Go
// module's source, with Dagger, against an offline copy of the real Go
// vulnerability database (stage/govulncheck/vulndb). govulncheck reports
// only what the code can reach: a vulnerable function the call graph
// reaches fails the stage, naming the GO- ID and the call path; a
// vulnerable package that is imported but never reached, or a vulnerable
// module that is required, is listed and does not fail it.
//
// govulncheck itself is built in the Go image from the module proxy, at
// Version, and Dagger caches the build. Reports: govulncheck's JSON
// stream, its SARIF (GitHub code scanning), a GitLab dependency-scanning
// report and a readable summary. An ignore file with expiry dates, like
// Trivy's .trivyignore.yaml, accepts a reachable finding until a date.
package govulncheck

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"dagger.io/dagger"

	"github.com/slipway-ci/slipway/stage"
	"github.com/slipway-ci/slipway/stage/govulncheck/vulndb"
)

// Version is the govulncheck built by default: the newest golang.org/x/vuln
// whose go.mod asks for no more than the Go that Dagger v0.19.10 builds
// modules with (1.25.3); v1.8.0 asks for 1.26.
const Version = "v1.7.0"

// Report file names, in Result.Reports.
const (
	JSONFile    = "govulncheck.json"
	SARIFFile   = "govulncheck.sarif"
	GitLabFile  = "gl-dependency-scanning-report.json"
	SummaryFile = "govulncheck.txt"
)

// Option configures Scan.
type Option func(*config)

type config struct {
	stage.Settings
	version   string
	packages  []string
	db        *dagger.Directory
	dbImage   string
	dbVersion string
	ignore    *dagger.File
	now       func() time.Time
}

// WithVersion builds this version of golang.org/x/vuln's govulncheck.
func WithVersion(v string) Option { return func(c *config) { c.version = v } }

// WithPackages sets the package patterns to scan; the default is ./... .
func WithPackages(p ...string) Option {
	return func(c *config) { c.packages = append([]string(nil), p...) }
}

// WithDB scans against the database in dir (the layout vulndb writes).
func WithDB(dir *dagger.Directory) Option { return func(c *config) { c.db = dir } }

// WithDBImage scans against the database in an image made by vulndb.Image,
// such as the local engine's mirror's
// 127.0.0.1:5000/slipway-ci/govulndb:VERSION; the engine pulls it.
func WithDBImage(ref string) Option { return func(c *config) { c.dbImage = ref } }

// WithDBVersion builds the database from golang.org/x/vulndb at this
// version, fetched through the module proxy of WithGoEnv (the default,
// at vulndb.DefaultVersion).
func WithDBVersion(v string) Option { return func(c *config) { c.dbVersion = v } }

// WithIgnoreFile passes an ignore file (see ParseIgnore): a reachable
// vulnerability it names does not fail the scan until its expired_at date.
func WithIgnoreFile(f *dagger.File) Option { return func(c *config) { c.ignore = f } }

// WithEnv sets an environment variable of govulncheck's container.
func WithEnv(name, value string) Option {
	return func(c *config) { stage.WithEnv(name, value)(&c.Settings) }
}

// WithGoEnv sets one of Go's settings, such as GOPROXY, for building
// govulncheck and the database and for loading the scanned packages.
func WithGoEnv(name, value string) Option {
	return func(c *config) { stage.WithGoEnv(name, value)(&c.Settings) }
}

// WithGoImage sets the Go toolchain image (stage.GoImageFor picks it from
// go.mod). govulncheck checks the standard library of this Go.
func WithGoImage(ref string) Option { return func(c *config) { stage.WithGoImage(ref)(&c.Settings) } }

// WithInsecureRegistry is accepted for the shared vocabulary; the database
// image is pulled by the engine, whose own registry settings apply.
func WithInsecureRegistry(hosts ...string) Option {
	return func(c *config) { stage.WithInsecureRegistry(hosts...)(&c.Settings) }
}

// withNow sets the clock that decides which ignore entries have expired.
func withNow(now func() time.Time) Option { return func(c *config) { c.now = now } }

// Level says how far a vulnerability reaches into the scanned code.
type Level int

// The levels, from least to most reachable.
const (
	// Required: a required module has the vulnerability.
	Required Level = iota + 1
	// Imported: a package the code imports has it.
	Imported
	// Called: the code calls a vulnerable function.
	Called
)

func (l Level) String() string {
	switch l {
	case Required:
		return "required"
	case Imported:
		return "imported"
	case Called:
		return "called"
	}
	return "unknown"
}

// Vulnerability is one OSV entry found in the scanned code, at the most
// reachable level found.
type Vulnerability struct {
	// Entry is the OSV entry.
	Entry *Entry
	// Level is how far it reaches.
	Level Level
	// Module and Version are the vulnerable module ("stdlib" for the
	// standard library) and the version found.
	Module, Version string
	// FixedVersion is the version that fixes it, if any.
	FixedVersion string
	// Packages are the vulnerable packages imported (Imported, Called).
	Packages []string
	// Traces are the call paths for Called, each from the scanned code's
	// entry point to the vulnerable function.
	Traces [][]*Frame
	// Ignore is the ignore entry that names it, if any; Expired says
	// whether that entry has expired (the vulnerability then counts).
	Ignore  *IgnoreEntry
	Expired bool
}

// ID is the GO- ID.
func (v Vulnerability) ID() string { return v.Entry.ID }

// Result is a scan's outcome.
type Result struct {
	// Config is govulncheck's description of the scan.
	Config Config
	// Reachable are the called vulnerabilities no current ignore entry
	// accepts: they fail the scan.
	Reachable []Vulnerability
	// Accepted are called vulnerabilities a current ignore entry accepts.
	Accepted []Vulnerability
	// Unreached are vulnerabilities in imported packages or required
	// modules that the code does not call.
	Unreached []Vulnerability
	// Messages are govulncheck's JSON messages.
	Messages []Message
	// Reports holds govulncheck.json, govulncheck.sarif,
	// gl-dependency-scanning-report.json and govulncheck.txt.
	Reports *dagger.Directory
}

// Passed reports whether no reachable vulnerability was found.
func (r *Result) Passed() bool { return len(r.Reachable) == 0 }

// IDs returns the GO- IDs of the reachable vulnerabilities, sorted.
func (r *Result) IDs() []string { return ids(r.Reachable) }

// UnreachedIDs returns the GO- IDs of the unreached vulnerabilities.
func (r *Result) UnreachedIDs() []string { return ids(r.Unreached) }

func ids(vs []Vulnerability) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		out = append(out, v.ID())
	}
	return out
}

// Problem says in one line which vulnerabilities the code reaches and
// how, or "" when it reaches none.
func (r *Result) Problem() string {
	if r.Passed() {
		return ""
	}
	var parts []string
	for _, v := range r.Reachable {
		s := fmt.Sprintf("%s in %s %s", v.ID(), v.Module, v.Version)
		if v.FixedVersion != "" {
			s += " (fixed in " + v.FixedVersion + ")"
		}
		if len(v.Traces) > 0 {
			s += ": " + CallPath(v.Traces[0])
		}
		if v.Expired {
			s += fmt.Sprintf(" [ignore entry expired %s]", v.Ignore.ExpiredAt.Format(time.DateOnly))
		}
		parts = append(parts, s)
	}
	return fmt.Sprintf("%d reachable vulnerabilities: %s", len(r.Reachable), strings.Join(parts, "; "))
}

// Summary says in one line what was found.
func (r *Result) Summary() string {
	s := fmt.Sprintf("%d reachable vulnerabilities, %d in imported or required code not called", len(r.Reachable), len(r.Unreached))
	if len(r.Accepted) > 0 {
		s += fmt.Sprintf(", %d accepted until their ignore entries expire", len(r.Accepted))
	}
	return s
}

// Verdict is the scan's outcome.
func (r *Result) Verdict() stage.Verdict {
	return stage.Verdict{Reports: r.Reports, Problem: r.Problem(), Summary: r.Summary()}
}

var _ stage.Outcome = (*Result)(nil)

// CallPath renders a trace from the entry point to the vulnerable
// function: "main.go:14:23: called.main -> main.go:18:46: called.preferred
// -> golang.org/x/text/language.ParseAcceptLanguage".
func CallPath(trace []*Frame) string {
	parts := make([]string, 0, len(trace))
	for i := len(trace) - 1; i >= 0; i-- {
		f := trace[i]
		s := funcName(f)
		if i > 0 && f.Position != nil && f.Position.Filename != "" {
			s = fmt.Sprintf("%s:%d:%d: %s", f.Position.Filename, f.Position.Line, f.Position.Column, s)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " -> ")
}

func funcName(f *Frame) string {
	name := f.Function
	if f.Receiver != "" {
		name = strings.TrimPrefix(f.Receiver, "*") + "." + name
	}
	if f.Package != "" {
		return f.Package + "." + name
	}
	return name
}

// Scan scans the Go module in source (its root holds go.mod). It returns an
// error only when the scan could not run (the packages do not load, the
// database is missing); vulnerabilities are in the Result.
func Scan(ctx context.Context, client *dagger.Client, source *dagger.Directory, opts ...Option) (*Result, error) {
	c := config{version: Version, packages: []string{"./..."}, dbVersion: vulndb.DefaultVersion, now: time.Now}
	for _, o := range opts {
		o(&c)
	}
	if !strings.HasPrefix(c.version, "v") {
		return nil, fmt.Errorf("govulncheck: version %q is not a golang.org/x/vuln version such as %s", c.version, Version)
	}
	var ignore Ignore
	if c.ignore != nil {
		raw, err := c.ignore.Contents(ctx)
		if err != nil {
			return nil, fmt.Errorf("govulncheck: reading the ignore file: %w", err)
		}
		if ignore, err = ParseIgnore([]byte(raw)); err != nil {
			return nil, err
		}
	}
	db := c.db
	switch {
	case db != nil:
	case c.dbImage != "":
		db = vulndb.FromImage(client, c.dbImage)
	default:
		var err error
		if db, err = vulndb.Directory(client, c.dbVersion, c.settingsOpts()...); err != nil {
			return nil, fmt.Errorf("govulncheck: %w", err)
		}
	}
	start := c.now()
	goImage := c.GoImageOr(stage.DefaultGoImage)
	tool := c.WithGoEnvOn(stage.GoCaches(client, client.Container().From(goImage))).
		WithoutEnvVariable("GOFLAGS"). // `go install pkg@version` refuses -mod and friends
		WithEnvVariable("CGO_ENABLED", "0").
		WithEnvVariable("GOBIN", "/out").
		WithExec([]string{"go", "install", "golang.org/x/vuln/cmd/govulncheck@" + c.version}).
		File("/out/govulncheck")
	const out = "/slipway-reports"
	base := c.WithEnvOn(c.WithGoEnvOn(stage.GoCaches(client, client.Container().From(goImage)))).
		WithFile("/usr/local/bin/govulncheck", tool).
		WithMountedDirectory("/vulndb", db).
		WithMountedDirectory("/src", source).WithWorkdir("/src").
		WithDirectory(out, client.Directory())
	run := func(ctr *dagger.Container, format, file string) *dagger.Container {
		args := append([]string{"govulncheck", "-db", "file:///vulndb", "-format", format}, c.packages...)
		return ctr.WithExec(args, dagger.ContainerWithExecOpts{RedirectStdout: out + "/" + file})
	}
	// One run a format; the second finds the build cache warm.
	jsonRun := run(base, "json", JSONFile)
	sarifRun := run(jsonRun, "sarif", SARIFFile)
	// Both runs print their reports, which the Verdict sums up: hide them.
	sarifRun, err := stage.Quietly(ctx, "govulncheck: scan", sarifRun)
	if err != nil {
		return nil, fmt.Errorf("govulncheck: scanning: %w", err)
	}
	raw, err := jsonRun.File(out + "/" + JSONFile).Contents(ctx)
	if err != nil {
		return nil, fmt.Errorf("govulncheck: scanning: %w", err)
	}
	msgs, err := Decode(strings.NewReader(raw))
	if err != nil {
		return nil, err
	}
	res := Analyze(msgs, ignore, c.now())
	gl, err := json.MarshalIndent(GitLabReport(res, start, c.now()), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("govulncheck: GitLab report: %w", err)
	}
	if res.Reports, err = stage.Quietly(ctx, "govulncheck: write the reports", client.Directory().
		WithFile(JSONFile, sarifRun.File(out+"/"+JSONFile)).
		WithFile(SARIFFile, sarifRun.File(out+"/"+SARIFFile)).
		WithNewFile(GitLabFile, string(gl)+"\n").
		WithNewFile(SummaryFile, res.Text())); err != nil {
		return nil, fmt.Errorf("govulncheck: writing the reports: %w", err)
	}
	return res, nil
}

func (c config) settingsOpts() []stage.Option {
	var opts []stage.Option
	for k, v := range c.GoEnv {
		opts = append(opts, stage.WithGoEnv(k, v))
	}
	if c.GoImage != "" {
		opts = append(opts, stage.WithGoImage(c.GoImage))
	}
	return opts
}

// Analyze turns govulncheck's messages into a Result: each entry at the
// most reachable level any finding shows, called ones split by the ignore
// entries current at now.
func Analyze(msgs []Message, ignore Ignore, now time.Time) *Result {
	res := &Result{Messages: msgs}
	entries := map[string]*Entry{}
	vulns := map[string]*Vulnerability{}
	var order []string
	for _, m := range msgs {
		switch {
		case m.Config != nil:
			res.Config = *m.Config
		case m.OSV != nil:
			entries[m.OSV.ID] = m.OSV
		case m.Finding != nil && len(m.Finding.Trace) > 0:
			f := m.Finding
			v := vulns[f.OSV]
			if v == nil {
				v = &Vulnerability{Module: f.Trace[0].Module, Version: f.Trace[0].Version, FixedVersion: f.FixedVersion}
				vulns[f.OSV] = v
				order = append(order, f.OSV)
			}
			top := f.Trace[0]
			lvl := Required
			switch {
			case top.Function != "":
				lvl = Called
				v.Traces = append(v.Traces, f.Trace)
			case top.Package != "":
				lvl = Imported
			}
			if top.Package != "" && !contains(v.Packages, top.Package) {
				v.Packages = append(v.Packages, top.Package)
			}
			if lvl > v.Level {
				v.Level = lvl
			}
		}
	}
	sort.Strings(order)
	for _, id := range order {
		v := vulns[id]
		v.Entry = entries[id]
		if v.Entry == nil {
			v.Entry = &Entry{ID: id}
		}
		sort.SliceStable(v.Traces, func(i, j int) bool { return len(v.Traces[i]) < len(v.Traces[j]) })
		if v.Level != Called {
			res.Unreached = append(res.Unreached, *v)
			continue
		}
		if e := ignore.Match(v.Entry); e != nil {
			v.Ignore = e
			if now.Before(e.ExpiredAt) {
				res.Accepted = append(res.Accepted, *v)
				continue
			}
			v.Expired = true
		}
		res.Reachable = append(res.Reachable, *v)
	}
	return res
}

func contains(s []string, x string) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

// Text is the readable summary: each reachable vulnerability with its call
// paths, then the accepted and the unreached ones.
func (r *Result) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "govulncheck %s, database %s", r.Config.ScannerVersion, r.Config.DB)
	if r.Config.DBLastModified != nil {
		fmt.Fprintf(&b, " (modified %s)", r.Config.DBLastModified.UTC().Format(time.DateOnly))
	}
	fmt.Fprintf(&b, ", %s, scan level %s\n\n", r.Config.GoVersion, r.Config.ScanLevel)
	section := func(title string, vs []Vulnerability, traces bool) {
		if len(vs) == 0 {
			return
		}
		fmt.Fprintf(&b, "%s (%d):\n", title, len(vs))
		for _, v := range vs {
			fmt.Fprintf(&b, "  %s: %s\n", v.ID(), v.Entry.Summary)
			fmt.Fprintf(&b, "    found in %s@%s", v.Module, v.Version)
			if v.FixedVersion != "" {
				fmt.Fprintf(&b, ", fixed in %s@%s", v.Module, v.FixedVersion)
			}
			fmt.Fprintf(&b, "; %s\n", v.Entry.URL())
			if len(v.Entry.Aliases) > 0 {
				fmt.Fprintf(&b, "    aliases: %s\n", strings.Join(v.Entry.Aliases, ", "))
			}
			if v.Ignore != nil {
				state := "accepted until"
				if v.Expired {
					state = "ignore entry expired"
				}
				fmt.Fprintf(&b, "    %s %s: %s\n", state, v.Ignore.ExpiredAt.Format(time.DateOnly), v.Ignore.Statement)
			}
			if traces {
				for i, t := range v.Traces {
					fmt.Fprintf(&b, "    #%d: %s\n", i+1, CallPath(t))
				}
			} else if len(v.Packages) > 0 {
				fmt.Fprintf(&b, "    imported: %s\n", strings.Join(v.Packages, ", "))
			}
		}
		b.WriteString("\n")
	}
	section("Reachable vulnerabilities: the code calls them", r.Reachable, true)
	section("Accepted reachable vulnerabilities", r.Accepted, true)
	section("Not called: in imported packages or required modules", r.Unreached, false)
	b.WriteString(r.Summary() + "\n")
	return b.String()
}
