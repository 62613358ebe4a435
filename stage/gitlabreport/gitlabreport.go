// Package gitlabreport holds what GitLab's security reports (schema
// 15.0.x) share, whatever found the problems: the scan's description, the
// tool that ran, and the identifiers of a finding. The stage packages
// (stage/gosec for SAST, stage/trivy for container scanning) add
// their own kind of vulnerability and location.
package gitlabreport

import "time"

// SchemaVersion is the version of GitLab's security report schemas written.
const SchemaVersion = "15.0.7"

// timeFormat is the schemas' date-time: no zone, no fraction.
const timeFormat = "2006-01-02T15:04:05"

// Scan describes the scan that made a report.
type Scan struct {
	Analyzer  Tool   `json:"analyzer"`
	Scanner   Tool   `json:"scanner"`
	Type      string `json:"type"`
	StartTime string `json:"start_time"`
	EndTime   string `json:"end_time"`
	Status    string `json:"status"`
}

// Tool is the analyzer or scanner.
type Tool struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version string `json:"version"`
	Vendor  Vendor `json:"vendor"`
}

// Vendor is who makes a Tool.
type Vendor struct {
	Name string `json:"name"`
}

// Identifier names a finding: a rule, a CWE, a CVE.
type Identifier struct {
	Type  string `json:"type"`
	Name  string `json:"name"`
	Value string `json:"value"`
	URL   string `json:"url,omitempty"`
}

// NewScan returns a successful scan of kind (such as "sast" or
// "container_scanning") by tool, the same tool as analyzer and scanner.
func NewScan(kind string, tool Tool, start, end time.Time) Scan {
	return Scan{
		Analyzer: tool, Scanner: tool, Type: kind,
		StartTime: start.UTC().Format(timeFormat), EndTime: end.UTC().Format(timeFormat),
		Status: "success",
	}
}
