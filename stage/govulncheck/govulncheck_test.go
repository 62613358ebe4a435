package govulncheck_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/slipway-ci/slipway/internal/daggertest"
	"github.com/slipway-ci/slipway/internal/vulndbtest"
	"github.com/slipway-ci/slipway/stage/govulncheck"
	"github.com/slipway-ci/slipway/stage/govulncheck/vulndb"
)

// TestScan runs the real govulncheck, built in the Go image from the
// module proxy, against the real database, on the planted fixtures: the
// module that calls language.ParseAcceptLanguage at x/text v0.3.7 fails
// naming GO-2022-1059 and the call path; the same dependency imported but
// never called passes and is listed.
func TestScan(t *testing.T) {
	c := daggertest.Connect(t)
	daggertest.ModDownload(t, "testdata/tool", "testdata/called", "testdata/imported")
	dbDir, _ := vulndbtest.Dir(t)
	hostDB := govulncheck.WithDB(c.Host().Directory(dbDir))
	expired := c.Directory().WithNewFile("ignore.yaml", "vulnerabilities:\n  - id: GO-2022-1059\n    statement: accepted long ago\n    expired_at: 2020-01-01\n").File("ignore.yaml")
	current := c.Directory().WithNewFile("ignore.yaml", "vulnerabilities:\n  - id: CVE-2022-32149\n    statement: Accept-Language is capped at 64 bytes upstream\n    expired_at: 2999-01-01\n").File("ignore.yaml")
	wantPath := "main.go:14:23: example.com/called.main -> main.go:18:46: example.com/called.preferred -> golang.org/x/text/language.ParseAcceptLanguage"
	tests := []struct {
		name      string
		fixture   string
		opts      []govulncheck.Option
		reachable string
		accepted  int
	}{
		{"called fails", "called", []govulncheck.Option{hostDB}, "GO-2022-1059", 0},
		{"imported passes", "imported", []govulncheck.Option{hostDB}, "", 0},
		{"database built in Dagger from the proxy", "called", nil, "GO-2022-1059", 0},
		{"expired ignore entry counts again", "called", []govulncheck.Option{hostDB, govulncheck.WithIgnoreFile(expired)}, "GO-2022-1059", 0},
		{"current ignore entry accepts it", "called", []govulncheck.Option{hostDB, govulncheck.WithIgnoreFile(current)}, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
			defer cancel()
			opts := append([]govulncheck.Option{govulncheck.WithGoEnv("GOPROXY", daggertest.GoProxy), govulncheck.WithGoEnv("GOSUMDB", "off")}, tt.opts...)
			res, err := govulncheck.Scan(ctx, c, c.Host().Directory("testdata/"+tt.fixture), opts...)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(res.IDs(), ","); got != tt.reachable {
				t.Fatalf("reachable = %q, want %q\n%s", got, tt.reachable, res.Text())
			}
			if len(res.Accepted) != tt.accepted {
				t.Errorf("%d accepted, want %d", len(res.Accepted), tt.accepted)
			}
			if res.Config.ScannerVersion != govulncheck.Version || res.Config.ScanLevel != "symbol" || res.Config.DBLastModified == nil ||
				!res.Config.DBLastModified.Equal(time.Date(2026, 11, 5, 23, 49, 57, 0, time.UTC)) {
				t.Errorf("config: %+v", res.Config)
			}
			if tt.reachable != "" {
				if !strings.Contains(res.Problem(), "GO-2022-1059") || !strings.Contains(res.Problem(), wantPath) {
					t.Errorf("Problem() does not name the ID and the call path:\n%s", res.Problem())
				}
			} else if res.Problem() != "" {
				t.Errorf("Problem() = %q, want none", res.Problem())
			}
			if !strings.Contains(strings.Join(res.UnreachedIDs(), ","), "GO-2026-5970") {
				t.Errorf("the unreached x/text entry GO-2026-5970 is not listed: %v", res.UnreachedIDs())
			}
			checkReports(ctx, t, res, tt.reachable)
		})
	}
}

func checkReports(ctx context.Context, t *testing.T, res *govulncheck.Result, reachable string) {
	t.Helper()
	sarif, err := res.Reports.File(govulncheck.SARIFFile).Contents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name string `json:"name"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID string `json:"ruleId"`
				Level  string `json:"level"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(sarif), &s); err != nil || s.Version != "2.1.0" || len(s.Runs) != 1 || s.Runs[0].Tool.Driver.Name != "govulncheck" {
		t.Fatalf("govulncheck.sarif is not govulncheck's SARIF 2.1.0 (%v):\n%.300s", err, sarif)
	}
	var errors []string
	for _, r := range s.Runs[0].Results {
		if r.Level == "error" {
			errors = append(errors, r.RuleID)
		}
	}
	// govulncheck's SARIF marks called vulnerabilities as errors.
	if strings.Join(errors, ",") != reachable && !(reachable == "" && len(errors) == 0) {
		if !strings.Contains(strings.Join(errors, ","), reachable) {
			t.Errorf("SARIF errors %v, want %s", errors, reachable)
		}
	}
	glText, err := res.Reports.File(govulncheck.GitLabFile).Contents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var gl govulncheck.GitLab
	if err := json.Unmarshal([]byte(glText), &gl); err != nil {
		t.Fatal(err)
	}
	if len(gl.Vulnerabilities) != len(res.Reachable) || gl.Scan.Type != "dependency_scanning" {
		t.Errorf("GitLab report: %d vulnerabilities (scan %q), want %d", len(gl.Vulnerabilities), gl.Scan.Type, len(res.Reachable))
	}
	txt, err := res.Reports.File(govulncheck.SummaryFile).Contents(ctx)
	if err != nil || txt != res.Text() {
		t.Errorf("govulncheck.txt differs from Text() (%v)", err)
	}
	raw, err := res.Reports.File(govulncheck.JSONFile).Contents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := govulncheck.Decode(strings.NewReader(raw)); err != nil {
		t.Error(err)
	}
}

// TestDBImage: the database as an image (what the engine's mirror
// serves) scans like the directory: the image's layer is loaded by the
// engine, and, where the local engine's mirror already serves it, pulled
// from there.
func TestDBImage(t *testing.T) {
	c := daggertest.Connect(t)
	daggertest.ModDownload(t, "testdata/tool", "testdata/called")
	dbDir, _ := vulndbtest.Dir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	img, err := vulndb.PlatformImage(dbDir, vulndb.DefaultVersion, runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(t.TempDir(), "govulndb.tar")
	if err := tarball.WriteToFile(tarPath, name.MustParseReference("slipway.local/govulndb:test"), img); err != nil {
		t.Fatal(err)
	}
	sources := map[string]govulncheck.Option{
		"image tarball": govulncheck.WithDB(c.Container().Import(c.Host().File(tarPath)).Directory(vulndb.ImageDir)),
	}
	ref := daggertest.EngineRegistry + "/" + vulndb.ImageRepository + ":" + vulndb.DefaultVersion
	if _, err := c.Container().From(ref).Sync(ctx); err == nil {
		sources["engine mirror"] = govulncheck.WithDBImage(ref)
	} else {
		t.Logf("the engine's mirror does not serve %s yet (make engine seeds it): %v", ref, err)
	}
	for what, db := range sources {
		t.Run(what, func(t *testing.T) {
			res, err := govulncheck.Scan(ctx, c, c.Host().Directory("testdata/called"),
				govulncheck.WithGoEnv("GOPROXY", daggertest.GoProxy), govulncheck.WithGoEnv("GOSUMDB", "off"), db)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(res.IDs(), ","); got != "GO-2022-1059" {
				t.Fatalf("reachable = %q, want GO-2022-1059", got)
			}
		})
	}
}
