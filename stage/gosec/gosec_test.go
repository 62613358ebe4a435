package gosec_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/securego/gosec/v2/issue"

	"github.com/slipway-ci/slipway/internal/daggertest"
	"github.com/slipway-ci/slipway/stage/gosec"
)

func TestScan(t *testing.T) {
	c := daggertest.Connect(t)
	tests := []struct {
		name      string
		fixture   string
		opts      []gosec.Option
		wantRules []string
	}{
		{"clean", "clean", nil, nil},
		{"planted weak hash", "finding", nil, []string{"G401", "G501"}},
		{"excluded rules", "finding", []gosec.Option{gosec.WithExcludeRules("G401", "G501")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			res, err := gosec.Scan(ctx, c, c.Host().Directory("testdata/"+tt.fixture),
				append([]gosec.Option{gosec.WithGoEnv("GOPROXY", daggertest.GoProxy)}, tt.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			var rules []string
			for _, f := range res.Findings {
				rules = append(rules, f.RuleID)
				if f.File == "" || f.Line == "" || f.Severity < issue.Low {
					t.Errorf("finding without a place: %+v", f)
				}
			}
			if strings.Join(rules, ",") != strings.Join(tt.wantRules, ",") {
				t.Fatalf("rules = %v, want %v (errors %v)", rules, tt.wantRules, res.Errors)
			}
			if (res.Problem() == "") != (len(tt.wantRules) == 0) {
				t.Errorf("Problem() = %q with findings %v", res.Problem(), rules)
			}
			sarif, err := res.Reports.File(gosec.SARIFFile).Contents(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(sarif, `"version": "2.1.0"`) && !strings.Contains(sarif, `"version":"2.1.0"`) {
				t.Errorf("gosec.sarif is not SARIF 2.1.0:\n%.300s", sarif)
			}
			for _, r := range tt.wantRules {
				if !strings.Contains(sarif, r) {
					t.Errorf("SARIF does not name %s", r)
				}
			}
			glText, err := res.Reports.File(gosec.GitLabFile).Contents(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var gl gosec.GitLab
			if err := json.Unmarshal([]byte(glText), &gl); err != nil {
				t.Fatal(err)
			}
			if len(gl.Vulnerabilities) != len(tt.wantRules) || gl.Scan.Type != "sast" {
				t.Errorf("GitLab report: %d vulnerabilities, type %q", len(gl.Vulnerabilities), gl.Scan.Type)
			}
			for _, v := range gl.Vulnerabilities {
				if v.Location.File != "main.go" || v.Location.StartLine == 0 {
					t.Errorf("GitLab location %+v, want main.go and a line", v.Location)
				}
			}
		})
	}
}
