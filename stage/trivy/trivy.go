// Package trivy scans a container image for vulnerabilities with Trivy,
// in Trivy's own container, with Dagger. The image is handed to Trivy as an
// OCI tarball that the engine pulled by digest, so the scanned bytes are
// the digest's, and no registry credentials reach the scanner.
//
// The vulnerability DB comes from a configurable OCI repository: air-gapped
// users point it at their mirror. Reports: Trivy's JSON (decoded into
// Trivy's own types.Report, from github.com/aquasecurity/trivy/pkg/types),
// SARIF (Trivy's own converter) and a GitLab container-scanning report.
package trivy

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"dagger.io/dagger"
	"github.com/aquasecurity/trivy/pkg/types"

	"github.com/slipway-ci/slipway/stage"
)

// Defaults.
const (
	// DefaultImage is the Trivy CLI image.
	DefaultImage = "aquasec/trivy:0.74.0"
	// DefaultDBRepository is where Trivy's vulnerability DB is published.
	DefaultDBRepository = "ghcr.io/aquasecurity/trivy-db:2"
	// Version is the Trivy version of DefaultImage, recorded in reports.
	Version = "0.74.0"
	// TypesVersion is the version of Trivy's Go module whose pkg/types
	// decodes the JSON report. It trails Version because Dagger v0.19.10
	// builds modules with Go 1.25.3, and later modules need more: v0.69.0
	// Go 1.25.5, v0.70.0 Go 1.25.8, v0.71.0 and later Go 1.26. The JSON
	// schema is the same (SchemaVersion 2); what the newer scanner adds is
	// dropped when decoding.
	TypesVersion = "v0.68.2"
)

// Report file names, in Result.Reports.
const (
	JSONFile   = "trivy.json"
	SARIFFile  = "trivy.sarif"
	GitLabFile = "gl-container-scanning-report.json"
)

// Option configures Scan.
type Option func(*config)

type config struct {
	stage.Settings
	image, dbRepo string
	severities    []string
	ignore        *dagger.File
	now           func() time.Time
	rescanAfter   time.Duration
}

// DefaultRescanAfter is how long a scan of the same image with the same
// settings is reused by default; see WithRescanAfter.
const DefaultRescanAfter = time.Hour

// WithImage sets the Trivy image.
func WithImage(ref string) Option { return func(c *config) { c.image = ref } }

// WithDBRepository sets the OCI repository of the vulnerability DB, such as
// an internal mirror's copy of ghcr.io/aquasecurity/trivy-db:2.
func WithDBRepository(repo string) Option { return func(c *config) { c.dbRepo = repo } }

// WithInsecureRegistry lets Trivy fetch the DB from these registry hosts
// over plain HTTP or without verifying TLS, for a mirror without a
// certificate. Trivy's --insecure is all or nothing: it applies when the
// DB repository's host is one of them.
func WithInsecureRegistry(hosts ...string) Option {
	return func(c *config) { stage.WithInsecureRegistry(hosts...)(&c.Settings) }
}

// WithEnv sets an environment variable of Trivy's container, such as
// TRIVY_USERNAME for a private DB mirror.
func WithEnv(name, value string) Option {
	return func(c *config) { stage.WithEnv(name, value)(&c.Settings) }
}

// WithSeverities sets the severities that are reported and fail the scan;
// the default is HIGH and CRITICAL.
func WithSeverities(s ...string) Option {
	return func(c *config) { c.severities = append([]string(nil), s...) }
}

// WithIgnoreFile passes a Trivy ignore file. The YAML form
// (.trivyignore.yaml) gives each entry an expired_at date, after which the
// finding counts again: an accepted risk cannot be forgotten.
func WithIgnoreFile(f *dagger.File) Option { return func(c *config) { c.ignore = f } }

// WithRescanAfter bounds how long Dagger may reuse a scan of the same image
// with the same settings (default DefaultRescanAfter). Without a bound the
// scan's exec, whose inputs never change for a digest, would be replayed
// from Dagger's cache for as long as the cache keeps it: a CVE published
// tomorrow, or an ignore entry past its expired_at, would never fail the
// stage. The exec is keyed on the clock truncated to d, so a new window
// scans again with the DB Trivy then fetches. d <= 0 scans on every call.
func WithRescanAfter(d time.Duration) Option { return func(c *config) { c.rescanAfter = d } }

// scanWindow names the window the scan belongs to: the same for every call
// within it, a new one after it.
func (c config) scanWindow() string {
	now := c.now().UTC()
	if c.rescanAfter <= 0 {
		return now.Format(time.RFC3339Nano)
	}
	return now.Truncate(c.rescanAfter).Format(time.RFC3339)
}

// Finding is one vulnerability at or above the threshold: Trivy's own
// DetectedVulnerability (VulnerabilityID, PkgName, InstalledVersion,
// FixedVersion, Severity, Title, ...), with the target it was found in,
// which Trivy keeps one level up, in types.Result.
type Finding struct {
	// Target is where Trivy found the package: the OS, or a binary's or
	// lock file's path in the image.
	Target string
	types.DetectedVulnerability
}

// Result is a scan's outcome.
type Result struct {
	// Image is the scanned image, as given (repository@sha256:...).
	Image string
	// Report is Trivy's JSON report, decoded into Trivy's own type.
	// The scanner may be newer than the types (see TypesVersion): fields
	// it added since are dropped, the rest decode as Trivy wrote them.
	Report types.Report
	// Findings are the vulnerabilities at or above the threshold, sorted.
	Findings []Finding
	// Reports holds trivy.json, trivy.sarif and
	// gl-container-scanning-report.json.
	Reports *dagger.Directory
}

// Passed reports whether nothing at or above the threshold was found.
func (r *Result) Passed() bool { return len(r.Findings) == 0 }

// IDs returns the distinct vulnerability IDs found, sorted.
func (r *Result) IDs() []string {
	seen := map[string]bool{}
	var ids []string
	for _, f := range r.Findings {
		if !seen[f.VulnerabilityID] {
			seen[f.VulnerabilityID] = true
			ids = append(ids, f.VulnerabilityID)
		}
	}
	sort.Strings(ids)
	return ids
}

// Problem says in one line what was found, or "" when nothing was.
func (r *Result) Problem() string {
	if r.Passed() {
		return ""
	}
	var parts []string
	for _, f := range r.Findings {
		s := fmt.Sprintf("%s %s in %s %s", f.Severity, f.VulnerabilityID, f.PkgName, f.InstalledVersion)
		if f.FixedVersion != "" {
			s += " (fixed in " + f.FixedVersion + ")"
		}
		parts = append(parts, s)
	}
	return fmt.Sprintf("%d vulnerabilities in %s: %s", len(r.Findings), r.Image, strings.Join(parts, "; "))
}

// Scan scans image, a reference pinned by digest (repository@sha256:...),
// which the engine pulls. It returns an error only when the scan could not
// run; vulnerabilities are in the Result.
func Scan(ctx context.Context, client *dagger.Client, image string, opts ...Option) (*Result, error) {
	if !strings.Contains(image, "@sha256:") {
		return nil, fmt.Errorf("trivy: image %q is not pinned by digest (repository@sha256:...)", image)
	}
	return ScanContainer(ctx, client, client.Container().From(image), image, opts...)
}

// ScanContainer scans a container's image, named name in the reports.
func ScanContainer(ctx context.Context, client *dagger.Client, img *dagger.Container, name string, opts ...Option) (*Result, error) {
	c := config{image: DefaultImage, dbRepo: DefaultDBRepository, severities: []string{"HIGH", "CRITICAL"}, now: time.Now, rescanAfter: DefaultRescanAfter}
	for _, o := range opts {
		o(&c)
	}
	start := c.now()
	const out = "/slipway-reports"
	args := []string{"trivy", "image",
		"--cache-dir", "/trivy-cache",
		"--db-repository", c.dbRepo,
		// Only the vulnerability DB is fetched, and nothing else is asked
		// of the network: the scan works where only the DB's mirror is
		// reachable.
		"--skip-java-db-update", "--offline-scan", "--skip-version-check", "--disable-telemetry",
		"--scanners", "vuln",
		"--severity", strings.Join(c.severities, ","),
		"--format", "json", "--output", out + "/" + JSONFile,
		"--input", "/image.tar",
	}
	if c.IsInsecure(c.dbRepo) {
		args = append(args, "--insecure")
	}
	ctr := c.WithEnvOn(client.Container().From(c.image)).
		WithMountedCache("/trivy-cache", client.CacheVolume("slipway-trivy-cache")).
		WithMountedFile("/image.tar", img.AsTarball()).
		WithDirectory(out, client.Directory()).
		WithEnvVariable("SLIPWAY_TRIVY_SCAN_WINDOW", c.scanWindow())
	if c.ignore != nil {
		ctr = ctr.WithMountedFile("/trivyignore.yaml", c.ignore)
		args = append(args, "--ignorefile", "/trivyignore.yaml")
	}
	ctr = ctr.WithExec(args).
		WithExec([]string{"trivy", "convert", "--format", "sarif", "--output", out + "/" + SARIFFile, out + "/" + JSONFile})
	raw, err := ctr.File(out + "/" + JSONFile).Contents(ctx)
	if err != nil {
		return nil, fmt.Errorf("trivy: scanning %s: %w", name, err)
	}
	rep, err := DecodeReport([]byte(raw))
	if err != nil {
		return nil, err
	}
	res := &Result{Image: name, Report: rep, Findings: Findings(rep)}
	gl, err := json.MarshalIndent(GitLabReport(rep, start, c.now()), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("trivy: GitLab report: %w", err)
	}
	if res.Reports, err = stage.Quietly(ctx, "trivy: write the reports", ctr.Directory(out).WithNewFile(GitLabFile, string(gl)+"\n")); err != nil {
		return nil, fmt.Errorf("trivy: writing the reports: %w", err)
	}
	return res, nil
}

// Verdict is the scan's outcome: its reports, the vulnerabilities found in
// one line, and their count.
func (r *Result) Verdict() stage.Verdict {
	return stage.Verdict{Reports: r.Reports, Problem: r.Problem(),
		Summary: fmt.Sprintf("%d HIGH/CRITICAL vulnerabilities in %s", len(r.Findings), r.Image)}
}

var _ stage.Outcome = (*Result)(nil)

// DecodeReport decodes Trivy's JSON report (`--format json`, schema 2).
func DecodeReport(raw []byte) (types.Report, error) {
	var rep types.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		return types.Report{}, fmt.Errorf("trivy: decoding the JSON report: %w", err)
	}
	if rep.SchemaVersion != reportSchema {
		return types.Report{}, fmt.Errorf("trivy: the JSON report has schema %d, want %d", rep.SchemaVersion, reportSchema)
	}
	return rep, nil
}

// reportSchema is the JSON report's SchemaVersion that types.Report
// describes (Trivy's report.SchemaVersion, which pkg/types does not hold).
const reportSchema = 2

// Findings flattens a report's vulnerabilities, sorted by ID, then
// package, then target.
func Findings(rep types.Report) []Finding {
	var out []Finding
	for _, r := range rep.Results {
		for _, v := range r.Vulnerabilities {
			out = append(out, Finding{Target: r.Target, DetectedVulnerability: v})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.VulnerabilityID != b.VulnerabilityID {
			return a.VulnerabilityID < b.VulnerabilityID
		}
		if a.PkgName != b.PkgName {
			return a.PkgName < b.PkgName
		}
		return a.Target < b.Target
	})
	return out
}
