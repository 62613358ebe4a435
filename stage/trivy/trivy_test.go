package trivy_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"dagger.io/dagger"
	dbtypes "github.com/aquasecurity/trivy-db/pkg/types"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	"github.com/aquasecurity/trivy/pkg/types"

	"github.com/slipway-ci/slipway/internal/daggertest"
	"github.com/slipway-ci/slipway/stage/goimage"
	"github.com/slipway-ci/slipway/stage/trivy"
)

func TestScanRefusesATag(t *testing.T) {
	_, err := trivy.Scan(context.Background(), nil, "registry.example.com/app:latest")
	if err == nil || !strings.Contains(err.Error(), "digest") {
		t.Fatalf("err = %v, want a refusal of an image not pinned by digest", err)
	}
}

func TestGitLabReport(t *testing.T) {
	rep := types.Report{ArtifactName: "r@sha256:1", Metadata: types.Metadata{OS: &ftypes.OS{Family: "debian", Name: "12"}},
		Results: types.Results{{Target: "bin", Vulnerabilities: []types.DetectedVulnerability{{
			VulnerabilityID: "CVE-2022-32149", PkgName: "golang.org/x/text", InstalledVersion: "v0.3.5",
			FixedVersion: "0.3.8", PrimaryURL: "https://avd.aquasec.com/nvd/cve-2022-32149",
			Vulnerability: dbtypes.Vulnerability{Severity: "HIGH", Title: "DoS"},
		}}}}}
	gl := trivy.GitLabReport(rep, time.Unix(0, 0), time.Unix(1, 0))
	if len(gl.Vulnerabilities) != 1 {
		t.Fatalf("%d vulnerabilities, want 1", len(gl.Vulnerabilities))
	}
	v := gl.Vulnerabilities[0]
	if v.Severity != "High" || v.Identifiers[0].Type != "cve" || v.Location.Dependency.Version != "v0.3.5" ||
		v.Location.OperatingSystem != "debian 12" || v.Solution != "Upgrade golang.org/x/text to 0.3.8" {
		t.Errorf("unexpected vulnerability: %+v", v)
	}
	if gl.Scan.Type != "container_scanning" || gl.Scan.StartTime != "1970-01-01T00:00:00" {
		t.Errorf("unexpected scan: %+v", gl.Scan)
	}
}

// TestDecodeReport decodes what the scanner of DefaultImage really writes
// (testdata/trivy-0.74.0-vulnerable.json, the planted-vulnerability
// image's report) with the older pkg/types that slipway links, so a field
// whose JSON form changed between the two would show here.
func TestDecodeReport(t *testing.T) {
	real, err := os.ReadFile("testdata/trivy-0.74.0-vulnerable.json")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := trivy.DecodeReport(real)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ArtifactType != ftypes.TypeContainerImage || len(rep.Metadata.DiffIDs) != 2 || rep.Metadata.ImageConfig.Config.User != "65532:65532" {
		t.Errorf("metadata not decoded: type %q, %d diff IDs, user %q", rep.ArtifactType, len(rep.Metadata.DiffIDs), rep.Metadata.ImageConfig.Config.User)
	}
	if len(rep.Results) != 1 || rep.Results[0].Class != types.ClassLangPkg || rep.Results[0].Type != ftypes.GoBinary || len(rep.Results[0].Packages) != 3 {
		t.Fatalf("results not decoded: %+v", rep.Results)
	}
	res := trivy.Result{Image: "r@sha256:1", Report: rep, Findings: trivy.Findings(rep)}
	if got := strings.Join(res.IDs(), ","); got != "CVE-2021-38561,CVE-2022-32149" {
		t.Errorf("IDs = %s", got)
	}
	f := res.Findings[1]
	if f.Target != "usr/local/bin/vulnerable" || f.VulnerabilityID != "CVE-2022-32149" || f.PkgName != "golang.org/x/text" ||
		f.InstalledVersion != "v0.3.5" || f.FixedVersion != "0.3.8" || f.Status != dbtypes.StatusFixed ||
		f.Severity != "HIGH" || f.SeveritySource != "ghsa" || f.CVSS["nvd"].V3Score != 7.5 || len(f.References) != 3 ||
		f.PublishedDate == nil || f.Layer.DiffID == "" {
		t.Errorf("finding not decoded as Trivy wrote it: %+v", f)
	}
	want := "2 vulnerabilities in r@sha256:1: HIGH CVE-2021-38561 in golang.org/x/text v0.3.5 (fixed in 0.3.7); HIGH CVE-2022-32149 in golang.org/x/text v0.3.5 (fixed in 0.3.8)"
	if res.Passed() || res.Problem() != want {
		t.Errorf("Passed() = %v, Problem() = %q, want %q", res.Passed(), res.Problem(), want)
	}
	gl := trivy.GitLabReport(rep, time.Unix(0, 0), time.Unix(1, 0))
	if len(gl.Vulnerabilities) != 2 || gl.Vulnerabilities[1].Name != "CVE-2022-32149: "+f.Title {
		t.Errorf("GitLab report from the decoded report: %+v", gl.Vulnerabilities)
	}

	for _, tt := range []struct{ name, json, want string }{
		{"not JSON", "trivy: no such image", "decoding"},
		{"another schema", `{"SchemaVersion": 3, "Results": []}`, "schema 3"},
		{"no schema", `{}`, "schema 0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := trivy.DecodeReport([]byte(tt.json)); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one saying %q", err, tt.want)
			}
		})
	}
}

// TestTypesVersion: TypesVersion names the trivy module that slipway's
// go.mod requires. (A test binary records no dependencies in its build
// info, so the test reads go.mod.)
func TestTypesVersion(t *testing.T) {
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(string(mod), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "github.com/aquasecurity/trivy" {
			got = append(got, f[1])
		}
	}
	if len(got) != 1 || got[0] != trivy.TypesVersion {
		t.Errorf("go.mod requires github.com/aquasecurity/trivy %v, TypesVersion says %s", got, trivy.TypesVersion)
	}
}

// image builds a fixture into an image and publishes it to the engine's
// registry, returning repository@sha256:digest.
func image(t *testing.T, c *dagger.Client, fixture string) string {
	t.Helper()
	daggertest.ModDownload(t, "testdata/"+fixture)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	imgs, err := goimage.Build(ctx, c, c.Host().Directory("testdata/"+fixture),
		goimage.WithBinaryName(fixture), goimage.WithGoEnv("GOPROXY", daggertest.GoProxy))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := imgs[0].Publish(ctx, daggertest.EngineRegistry+"/slipway-test/"+fixture+":latest")
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestScan(t *testing.T) {
	c := daggertest.Connect(t)
	db := trivy.WithDBRepository(daggertest.Registry + "/aquasecurity/trivy-db:2")
	expired := c.Directory().WithNewFile("ignore.yaml", `vulnerabilities:
  - id: CVE-2022-32149
    statement: accepted long ago; the acceptance has expired
    expired_at: 2020-01-01
`).File("ignore.yaml")
	current := c.Directory().WithNewFile("ignore.yaml", `vulnerabilities:
  - id: CVE-2022-32149
    statement: accepted until a fix ships
    expired_at: 2999-01-01
`).File("ignore.yaml")
	tests := []struct {
		name    string
		fixture string
		opts    []trivy.Option
		wantIDs []string
	}{
		{"clean", "clean", nil, nil},
		{"planted vulnerable dependency", "vulnerable", nil, []string{"CVE-2021-38561", "CVE-2022-32149"}},
		{"expired ignore entry counts again", "vulnerable", []trivy.Option{trivy.WithIgnoreFile(expired)}, []string{"CVE-2021-38561", "CVE-2022-32149"}},
		{"current ignore entry", "vulnerable", []trivy.Option{trivy.WithIgnoreFile(current)}, []string{"CVE-2021-38561"}},
	}
	refs := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if refs[tt.fixture] == "" {
				refs[tt.fixture] = image(t, c, tt.fixture)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			res, err := trivy.Scan(ctx, c, refs[tt.fixture], append([]trivy.Option{db, trivy.WithInsecureRegistry(daggertest.Registry)}, tt.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(res.IDs(), ","); got != strings.Join(tt.wantIDs, ",") {
				t.Fatalf("IDs = %s, want %s\n%s", got, strings.Join(tt.wantIDs, ","), res.Problem())
			}
			if res.Report.ArtifactType != ftypes.TypeContainerImage || len(res.Report.Metadata.DiffIDs) == 0 {
				t.Errorf("Report not decoded: artifact type %q, %d diff IDs", res.Report.ArtifactType, len(res.Report.Metadata.DiffIDs))
			}
			for _, f := range res.Findings {
				if f.Target == "" || f.Status == dbtypes.StatusUnknown || f.Severity == "" {
					t.Errorf("finding %s lacks its target, status or severity: %+v", f.VulnerabilityID, f)
				}
			}
			if res.Passed() != (len(tt.wantIDs) == 0) {
				t.Errorf("Passed() = %v with findings %v", res.Passed(), res.IDs())
			}
			for _, id := range tt.wantIDs {
				if !strings.Contains(res.Problem(), id) {
					t.Errorf("Problem() %q does not name %s", res.Problem(), id)
				}
			}
			sarif, err := res.Reports.File(trivy.SARIFFile).Contents(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var s struct {
				Version string `json:"version"`
				Runs    []struct {
					Results []struct {
						RuleID string `json:"ruleId"`
					} `json:"results"`
				} `json:"runs"`
			}
			if err := json.Unmarshal([]byte(sarif), &s); err != nil || s.Version != "2.1.0" || len(s.Runs) != 1 {
				t.Fatalf("SARIF is not a SARIF 2.1.0 log (%v):\n%.400s", err, sarif)
			}
			if len(s.Runs[0].Results) < len(tt.wantIDs) {
				t.Errorf("SARIF has %d results, want at least %d", len(s.Runs[0].Results), len(tt.wantIDs))
			}
			glText, err := res.Reports.File(trivy.GitLabFile).Contents(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var gl trivy.GitLab
			if err := json.Unmarshal([]byte(glText), &gl); err != nil {
				t.Fatal(err)
			}
			if len(gl.Vulnerabilities) != len(res.Findings) {
				t.Errorf("GitLab report has %d vulnerabilities, the scan %d", len(gl.Vulnerabilities), len(res.Findings))
			}
		})
	}
}
