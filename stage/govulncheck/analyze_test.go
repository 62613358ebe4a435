package govulncheck

import (
	"compress/gzip"
	"os"
	"strings"
	"testing"
	"time"
)

// realOutput reads what govulncheck v1.7.0 really wrote for a fixture,
// with the real database (testdata/govulncheck-v1.7.0-*.json.gz).
func realOutput(t *testing.T, fixture string) []Message {
	t.Helper()
	f, err := os.Open("testdata/govulncheck-v1.7.0-" + fixture + ".json.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := Decode(zr)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

var now = time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)

func TestAnalyzeCalled(t *testing.T) {
	res := Analyze(realOutput(t, "called"), Ignore{}, now)
	if got := strings.Join(res.IDs(), ","); got != "GO-2022-1059" {
		t.Fatalf("reachable = %s, want GO-2022-1059", got)
	}
	v := res.Reachable[0]
	if v.Module != "golang.org/x/text" || v.Version != "v0.3.7" || v.FixedVersion != "v0.3.8" || v.Level != Called ||
		v.Entry.Summary == "" || len(v.Traces) == 0 || v.Packages[0] != "golang.org/x/text/language" {
		t.Errorf("unexpected vulnerability: %+v", v)
	}
	wantPath := "main.go:14:23: example.com/called.main -> main.go:18:46: example.com/called.preferred -> golang.org/x/text/language.ParseAcceptLanguage"
	if got := CallPath(v.Traces[0]); got != wantPath {
		t.Errorf("call path\n %s\nwant\n %s", got, wantPath)
	}
	want := "1 reachable vulnerabilities: GO-2022-1059 in golang.org/x/text v0.3.7 (fixed in v0.3.8): " + wantPath
	if res.Problem() != want {
		t.Errorf("Problem()\n %s\nwant\n %s", res.Problem(), want)
	}
	if len(res.Unreached) == 0 {
		t.Error("the unreached vulnerabilities (the other x/text entries, the standard library's) are not listed")
	}
	for _, u := range res.Unreached {
		if u.Level == Called {
			t.Errorf("%s is called but listed as unreached", u.ID())
		}
	}
	txt := res.Text()
	for _, s := range []string{"GO-2022-1059", "CVE-2022-32149", "#1: " + wantPath, "Not called"} {
		if !strings.Contains(txt, s) {
			t.Errorf("the summary lacks %q:\n%s", s, txt)
		}
	}
	gl := GitLabReport(res, now, now)
	if len(gl.Vulnerabilities) != 1 || gl.Vulnerabilities[0].Location.Dependency.Version != "v0.3.7" ||
		gl.Vulnerabilities[0].Solution != "Upgrade golang.org/x/text to v0.3.8" || gl.Scan.Type != "dependency_scanning" ||
		len(gl.DependencyFiles) != 1 || gl.DependencyFiles[0].Dependencies[0].Package.Name != "golang.org/x/text" {
		t.Errorf("GitLab report: %+v", gl)
	}
}

func TestAnalyzeImported(t *testing.T) {
	res := Analyze(realOutput(t, "imported"), Ignore{}, now)
	if !res.Passed() || res.Problem() != "" {
		t.Fatalf("imported but never called must pass: %s", res.Problem())
	}
	var found bool
	for _, u := range res.Unreached {
		if u.ID() == "GO-2022-1059" {
			found = true
			if u.Level != Imported || len(u.Traces) != 0 {
				t.Errorf("GO-2022-1059: level %s, %d traces; want imported, none", u.Level, len(u.Traces))
			}
		}
	}
	if !found {
		t.Errorf("GO-2022-1059 is not listed as imported but unreached: %v", res.UnreachedIDs())
	}
}

func TestIgnore(t *testing.T) {
	msgs := realOutput(t, "called")
	for _, tt := range []struct {
		name, file      string
		reachable       int
		accepted        int
		problemContains string
	}{
		{"current entry by ID", "vulnerabilities:\n  - id: GO-2022-1059\n    statement: header length is capped\n    expired_at: 2027-01-01\n", 0, 1, ""},
		{"current entry by alias", "vulnerabilities:\n  - id: CVE-2022-32149\n    expired_at: 2027-01-01T00:00:00Z\n", 0, 1, ""},
		{"expired entry", "vulnerabilities:\n  - id: GO-2022-1059\n    expired_at: 2026-01-01\n", 1, 0, "[ignore entry expired 2026-01-01]"},
		{"another vulnerability", "vulnerabilities:\n  - id: GO-2021-0113\n    expired_at: 2027-01-01\n", 1, 0, "GO-2022-1059"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ig, err := ParseIgnore([]byte(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			res := Analyze(msgs, ig, now)
			if len(res.Reachable) != tt.reachable || len(res.Accepted) != tt.accepted {
				t.Fatalf("%d reachable, %d accepted; want %d, %d", len(res.Reachable), len(res.Accepted), tt.reachable, tt.accepted)
			}
			if !strings.Contains(res.Problem(), tt.problemContains) {
				t.Errorf("Problem() %q lacks %q", res.Problem(), tt.problemContains)
			}
		})
	}
}

func TestParseIgnoreErrors(t *testing.T) {
	for _, tt := range []struct{ file, err string }{
		{"vulnerabilities:\n  - statement: x\n    expired_at: 2027-01-01\n", "govulncheck: ignore entry 1 has no id; name a GO- ID or one of its aliases"},
		{"vulnerabilities:\n  - id: GO-2022-1059\n", "govulncheck: ignore entry GO-2022-1059 has no expired_at; give the date the acceptance ends (YYYY-MM-DD)"},
		{"vulnerabilities:\n  - id: GO-2022-1059\n    expired_at: next year\n", `govulncheck: ignore entry GO-2022-1059: expired_at "next year" is not a date (YYYY-MM-DD or RFC 3339)`},
		{"vulnerabilities:\n  - id: GO-2022-1059\n    expires: 2027-01-01\n", "govulncheck: the ignore file is not the expected YAML (vulnerabilities: [{id, statement, expired_at}]): yaml: unmarshal errors:\n  line 3: field expires not found in type struct { ID string \"yaml:\\\"id\\\"\"; Statement string \"yaml:\\\"statement\\\"\"; ExpiredAt string \"yaml:\\\"expired_at\\\"\" }"},
	} {
		_, err := ParseIgnore([]byte(tt.file))
		if err == nil || err.Error() != tt.err {
			t.Errorf("ParseIgnore(%q)\n err = %v\nwant %s", tt.file, err, tt.err)
		}
	}
	if ig, err := ParseIgnore(nil); err != nil || len(ig.Entries) != 0 {
		t.Errorf("an empty file: %v, %v", ig, err)
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"not json", "decoding the JSON output"},
		{`{"progress":{"message":"x"}}`, "does not start with its config"},
		{`{"config":{"protocol_version":"v2.0.0"}}`, `protocol "v2.0.0"`},
	} {
		if _, err := Decode(strings.NewReader(tt.in)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Decode(%q) = %v, want %q", tt.in, err, tt.want)
		}
	}
}
