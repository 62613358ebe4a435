package trivy

import (
	"fmt"
	"strings"
	"time"

	"github.com/aquasecurity/trivy/pkg/types"

	"github.com/slipway-ci/slipway/stage/gitlabreport"
)

// GitLab container-scanning report (security report schema 15.0.x).
type (
	// GitLab is the report.
	GitLab struct {
		Version         string                `json:"version"`
		Vulnerabilities []GitLabVulnerability `json:"vulnerabilities"`
		Remediations    []any                 `json:"remediations"`
		Scan            gitlabreport.Scan     `json:"scan"`
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
	// GitLabLocation is where a container finding is.
	GitLabLocation struct {
		Dependency      GitLabDependency `json:"dependency"`
		OperatingSystem string           `json:"operating_system"`
		Image           string           `json:"image"`
	}
	// GitLabDependency is the vulnerable package.
	GitLabDependency struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
		Version string `json:"version"`
	}
)

// GitLabReport converts a Trivy report into GitLab's container-scanning
// report.
func GitLabReport(rep types.Report, start, end time.Time) GitLab {
	tool := gitlabreport.Tool{ID: "trivy", Name: "Trivy", Version: Version, Vendor: gitlabreport.Vendor{Name: "Aqua Security"}}
	out := GitLab{Version: gitlabreport.SchemaVersion, Vulnerabilities: []GitLabVulnerability{}, Remediations: []any{},
		Scan: gitlabreport.NewScan("container_scanning", tool, start, end)}
	osName := ""
	if rep.Metadata.OS != nil {
		osName = strings.TrimSpace(string(rep.Metadata.OS.Family) + " " + rep.Metadata.OS.Name)
	}
	for _, r := range rep.Results {
		for _, v := range r.Vulnerabilities {
			gv := GitLabVulnerability{
				ID:          fmt.Sprintf("%s:%s:%s:%s", v.VulnerabilityID, r.Target, v.PkgName, v.InstalledVersion),
				Name:        v.VulnerabilityID,
				Description: firstNonEmpty(v.Description, v.Title),
				Severity:    gitlabSeverity(v.Severity),
				Identifiers: []gitlabreport.Identifier{{Type: identifierType(v.VulnerabilityID), Name: v.VulnerabilityID, Value: v.VulnerabilityID, URL: v.PrimaryURL}},
				Location:    GitLabLocation{OperatingSystem: osName, Image: rep.ArtifactName},
			}
			if v.Title != "" {
				gv.Name = v.VulnerabilityID + ": " + v.Title
			}
			if v.FixedVersion != "" {
				gv.Solution = fmt.Sprintf("Upgrade %s to %s", v.PkgName, v.FixedVersion)
			}
			gv.Location.Dependency.Package.Name = v.PkgName
			gv.Location.Dependency.Version = v.InstalledVersion
			for _, ref := range v.References {
				gv.Links = append(gv.Links, GitLabLink{URL: ref})
			}
			out.Vulnerabilities = append(out.Vulnerabilities, gv)
		}
	}
	return out
}

func gitlabSeverity(s string) string {
	switch strings.ToUpper(s) {
	case "CRITICAL":
		return "Critical"
	case "HIGH":
		return "High"
	case "MEDIUM":
		return "Medium"
	case "LOW":
		return "Low"
	}
	return "Unknown"
}

func identifierType(id string) string {
	switch {
	case strings.HasPrefix(id, "CVE-"):
		return "cve"
	case strings.HasPrefix(id, "GHSA-"):
		return "ghsa"
	}
	return "trivy"
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
