package gosec

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/securego/gosec/v2/issue"
)

// GitLab SAST report (security report schema 15.0.x).
type (
	// GitLab is the report.
	GitLab struct {
		Version         string                `json:"version"`
		Vulnerabilities []GitLabVulnerability `json:"vulnerabilities"`
		Scan            GitLabScan            `json:"scan"`
	}
	// GitLabVulnerability is one finding.
	GitLabVulnerability struct {
		ID          string             `json:"id"`
		Name        string             `json:"name"`
		Description string             `json:"description"`
		Severity    string             `json:"severity"`
		Identifiers []GitLabIdentifier `json:"identifiers"`
		Location    GitLabLocation     `json:"location"`
	}
	// GitLabIdentifier names the rule or weakness.
	GitLabIdentifier struct {
		Type  string `json:"type"`
		Name  string `json:"name"`
		Value string `json:"value"`
		URL   string `json:"url,omitempty"`
	}
	// GitLabLocation is where the finding is.
	GitLabLocation struct {
		File      string `json:"file"`
		StartLine int    `json:"start_line"`
		EndLine   int    `json:"end_line,omitempty"`
	}
	// GitLabScan describes the scan.
	GitLabScan struct {
		Analyzer  GitLabTool `json:"analyzer"`
		Scanner   GitLabTool `json:"scanner"`
		Type      string     `json:"type"`
		StartTime string     `json:"start_time"`
		EndTime   string     `json:"end_time"`
		Status    string     `json:"status"`
	}
	// GitLabTool is the analyzer or scanner.
	GitLabTool struct {
		ID      string `json:"id"`
		Name    string `json:"name"`
		Version string `json:"version"`
		Vendor  struct {
			Name string `json:"name"`
		} `json:"vendor"`
	}
)

const gitlabTime = "2006-01-02T15:04:05"

// GitLabReport converts gosec findings into GitLab's SAST report. File
// names stay as gosec wrote them, relative to the analysed directory when
// gosec ran there (/src is stripped).
func GitLabReport(findings []*issue.Issue, start, end time.Time) GitLab {
	tool := GitLabTool{ID: "gosec", Name: "gosec", Version: Version}
	tool.Vendor.Name = "securego"
	out := GitLab{Version: "15.0.7", Vulnerabilities: []GitLabVulnerability{},
		Scan: GitLabScan{Analyzer: tool, Scanner: tool, Type: "sast",
			StartTime: start.UTC().Format(gitlabTime), EndTime: end.UTC().Format(gitlabTime), Status: "success"}}
	for _, f := range findings {
		file := strings.TrimPrefix(strings.TrimPrefix(f.File, "/src"), "/")
		start, end := lines(f.Line)
		v := GitLabVulnerability{
			ID:          fmt.Sprintf("%s:%s:%s", f.RuleID, file, f.Line),
			Name:        f.RuleID + ": " + f.What,
			Description: f.What,
			Severity:    gitlabSeverity(f.Severity),
			Identifiers: []GitLabIdentifier{{Type: "gosec_rule_id", Name: "gosec " + f.RuleID, Value: f.RuleID}},
			Location:    GitLabLocation{File: file, StartLine: start, EndLine: end},
		}
		if f.Cwe != nil && f.Cwe.ID != "" {
			v.Identifiers = append(v.Identifiers, GitLabIdentifier{Type: "cwe", Name: "CWE-" + f.Cwe.ID, Value: f.Cwe.ID, URL: f.Cwe.SprintURL()})
		}
		out.Vulnerabilities = append(out.Vulnerabilities, v)
	}
	return out
}

// lines reads gosec's "12" or "12-14".
func lines(s string) (start, end int) {
	a, b, ok := strings.Cut(s, "-")
	start, _ = strconv.Atoi(a)
	if ok {
		end, _ = strconv.Atoi(b)
	}
	return start, end
}

func gitlabSeverity(s issue.Score) string {
	switch s {
	case issue.High:
		return "High"
	case issue.Medium:
		return "Medium"
	}
	return "Low"
}
