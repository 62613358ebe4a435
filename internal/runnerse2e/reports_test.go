package runnerse2e

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"slices"
	"testing"
)

// junitCounts totals a JUnit report: the root's totals when it has them
// (go-junit-report writes tests and skipped there), else the suites' sum.
func junitCounts(t *testing.T, path string) counts {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type attrs struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Errors   int `xml:"errors,attr"`
		Skipped  int `xml:"skipped,attr"`
	}
	var doc struct {
		attrs
		Suites []attrs `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var sum attrs
	for _, s := range doc.Suites {
		sum.Tests += s.Tests
		sum.Failures += s.Failures
		sum.Errors += s.Errors
		sum.Skipped += s.Skipped
	}
	c := counts{Tests: sum.Tests, Failures: sum.Failures, Errors: sum.Errors, Skipped: max(sum.Skipped, doc.Skipped)}
	if doc.Tests > 0 {
		c.Tests = doc.Tests
	}
	return c
}

// trivyFindings lists every target Trivy scanned and every vulnerability
// it found, sorted.
func trivyFindings(t *testing.T, path string) []string {
	t.Helper()
	var doc struct {
		ArtifactType string
		Results      []struct {
			Target, Class, Type string
			Vulnerabilities     []struct{ VulnerabilityID, PkgName, Severity string }
		}
	}
	readJSON(t, path, &doc)
	var out []string
	for _, r := range doc.Results {
		out = append(out, fmt.Sprintf("target %s (%s %s)", r.Target, r.Class, r.Type))
		for _, v := range r.Vulnerabilities {
			out = append(out, fmt.Sprintf("%s: %s %s %s", r.Target, v.VulnerabilityID, v.PkgName, v.Severity))
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: trivy scanned no target", path)
	}
	slices.Sort(out)
	return out
}

// gosecFindings lists gosec's statistics and every issue, sorted.
func gosecFindings(t *testing.T, path string) []string {
	t.Helper()
	var doc struct {
		Issues []struct {
			RuleID string `json:"rule_id"`
			File   string `json:"file"`
			Line   string `json:"line"`
		}
		Stats struct {
			Files int `json:"files"`
			Lines int `json:"lines"`
			Nosec int `json:"nosec"`
			Found int `json:"found"`
		}
	}
	readJSON(t, path, &doc)
	if doc.Stats.Files == 0 {
		t.Fatalf("%s: gosec scanned no file", path)
	}
	out := []string{fmt.Sprintf("stats: %d files, %d lines, %d nosec, %d found", doc.Stats.Files, doc.Stats.Lines, doc.Stats.Nosec, doc.Stats.Found)}
	for _, i := range doc.Issues {
		out = append(out, fmt.Sprintf("%s %s:%s", i.RuleID, i.File, i.Line))
	}
	slices.Sort(out)
	return out
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
