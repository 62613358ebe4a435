package govulncheck

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/slipway-ci/slipway/stage/gitlabreport"
)

// GitLab dependency-scanning report (security report schema 15.0.x).
type (
	// GitLab is the report.
	GitLab struct {
		Version         string                 `json:"version"`
		Vulnerabilities []GitLabVulnerability  `json:"vulnerabilities"`
		DependencyFiles []GitLabDependencyFile `json:"dependency_files"`
		Scan            gitlabreport.Scan      `json:"scan"`
	}
	// GitLabVulnerability is one finding.
	GitLabVulnerability struct {
		ID          string                    `json:"id"`
		Name        string                    `json:"name"`
		Description string                    `json:"description,omitempty"`
		Severity    string                    `json:"severity"`
		Solution    string                    `json:"solution,omitempty"`
		Identifiers []gitlabreport.Identifier `json:"identifiers"`
		Links       []GitLabLink              `json:"links,omitempty"`
		Location    GitLabLocation            `json:"location"`
	}
	// GitLabLink is a reference.
	GitLabLink struct {
		URL string `json:"url"`
	}
	// GitLabLocation is the dependency, in the file that requires it.
	GitLabLocation struct {
		File       string           `json:"file"`
		Dependency GitLabDependency `json:"dependency"`
	}
	// GitLabDependency is a module and its version.
	GitLabDependency struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
		Version string `json:"version"`
	}
	// GitLabDependencyFile lists the dependencies of one file.
	GitLabDependencyFile struct {
		Path           string             `json:"path"`
		PackageManager string             `json:"package_manager"`
		Dependencies   []GitLabDependency `json:"dependencies"`
	}
)

// GitLabReport converts a Result into GitLab's dependency-scanning report.
// Only reachable vulnerabilities are reported, so that the merge request
// widget shows what fails the job; govulncheck gives no severity, so each
// is "Unknown" (govulncheck's point is reachability, not scores).
func GitLabReport(r *Result, start, end time.Time) GitLab {
	tool := gitlabreport.Tool{ID: "govulncheck", Name: "govulncheck", Version: r.Config.ScannerVersion, Vendor: gitlabreport.Vendor{Name: "Go"}}
	if tool.Version == "" {
		tool.Version = Version
	}
	out := GitLab{Version: gitlabreport.SchemaVersion, Vulnerabilities: []GitLabVulnerability{}, DependencyFiles: []GitLabDependencyFile{},
		Scan: gitlabreport.NewScan("dependency_scanning", tool, start, end)}
	deps := map[string]string{}
	for _, m := range r.Messages {
		if m.SBOM != nil {
			for _, mod := range m.SBOM.Modules {
				if mod.Version != "" && mod.Path != "stdlib" {
					deps[mod.Path] = mod.Version
				}
			}
		}
	}
	if len(deps) > 0 {
		f := GitLabDependencyFile{Path: "go.sum", PackageManager: "go"}
		paths := make([]string, 0, len(deps))
		for p := range deps {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		for _, p := range paths {
			var d GitLabDependency
			d.Package.Name, d.Version = p, deps[p]
			f.Dependencies = append(f.Dependencies, d)
		}
		out.DependencyFiles = append(out.DependencyFiles, f)
	}
	for _, v := range r.Reachable {
		file := "go.sum"
		if v.Module == "stdlib" || v.Module == "toolchain" {
			file = "go.mod"
		}
		gv := GitLabVulnerability{
			ID:          fmt.Sprintf("%s:%s:%s", v.ID(), v.Module, v.Version),
			Name:        v.ID(),
			Description: strings.TrimSpace(v.Entry.Details),
			Severity:    "Unknown",
			Identifiers: []gitlabreport.Identifier{{Type: "go_vuln", Name: v.ID(), Value: v.ID(), URL: v.Entry.URL()}},
			Location:    GitLabLocation{File: file},
			Links:       []GitLabLink{{URL: v.Entry.URL()}},
		}
		if v.Entry.Summary != "" {
			gv.Name = v.ID() + ": " + v.Entry.Summary
		}
		if len(v.Traces) > 0 {
			gv.Description = strings.TrimSpace(gv.Description + "\n\nReached by: " + CallPath(v.Traces[0]))
		}
		for _, a := range v.Entry.Aliases {
			typ := "go_vuln"
			switch {
			case strings.HasPrefix(a, "CVE-"):
				typ = "cve"
			case strings.HasPrefix(a, "GHSA-"):
				typ = "ghsa"
			}
			gv.Identifiers = append(gv.Identifiers, gitlabreport.Identifier{Type: typ, Name: a, Value: a})
		}
		if v.FixedVersion != "" {
			gv.Solution = fmt.Sprintf("Upgrade %s to %s", v.Module, v.FixedVersion)
		}
		gv.Location.Dependency.Package.Name = v.Module
		gv.Location.Dependency.Version = v.Version
		for _, ref := range v.Entry.References {
			gv.Links = append(gv.Links, GitLabLink{URL: ref.URL})
		}
		out.Vulnerabilities = append(out.Vulnerabilities, gv)
	}
	return out
}
