package gosec

import (
	"fmt"
	"github.com/slipway-ci/slipway/stage/gitlabreport"
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
		Scan            gitlabreport.Scan     `json:"scan"`
	}
	// GitLabVulnerability is one finding.
	GitLabVulnerability struct {
		ID          string                    `json:"id"`
		Name        string                    `json:"name"`
		Description string                    `json:"description"`
		Severity    string                    `json:"severity"`
		Identifiers []gitlabreport.Identifier `json:"identifiers"`
		Location    GitLabLocation            `json:"location"`
	}
	// GitLabLocation is where the finding is.
	GitLabLocation struct {
		File      string `json:"file"`
		StartLine int    `json:"start_line"`
		EndLine   int    `json:"end_line,omitempty"`
	}
)

// GitLabReport converts gosec findings into GitLab's SAST report. File
// names stay as gosec wrote them, relative to the analysed directory when
// gosec ran there (/src is stripped).
func GitLabReport(findings []*issue.Issue, start, end time.Time) GitLab {
	tool := gitlabreport.Tool{ID: "gosec", Name: "gosec", Version: Version, Vendor: gitlabreport.Vendor{Name: "securego"}}
	out := GitLab{Version: gitlabreport.SchemaVersion, Vulnerabilities: []GitLabVulnerability{},
		Scan: gitlabreport.NewScan("sast", tool, start, end)}
	for _, f := range findings {
		file := strings.TrimPrefix(strings.TrimPrefix(f.File, "/src"), "/")
		start, end := lines(f.Line)
		v := GitLabVulnerability{
			ID:          fmt.Sprintf("%s:%s:%s", f.RuleID, file, f.Line),
			Name:        f.RuleID + ": " + f.What,
			Description: f.What,
			Severity:    gitlabSeverity(f.Severity),
			Identifiers: []gitlabreport.Identifier{{Type: "gosec_rule_id", Name: "gosec " + f.RuleID, Value: f.RuleID}},
			Location:    GitLabLocation{File: file, StartLine: start, EndLine: end},
		}
		if f.Cwe != nil && f.Cwe.ID != "" {
			v.Identifiers = append(v.Identifiers, gitlabreport.Identifier{Type: "cwe", Name: "CWE-" + f.Cwe.ID, Value: f.Cwe.ID, URL: f.Cwe.SprintURL()})
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
