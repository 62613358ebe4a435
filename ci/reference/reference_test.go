package reference

import (
	"encoding/json"
	"flag"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/generate"
	"github.com/slipway-ci/slipway/pipeline/goservice"
)

var update = flag.Bool("update", false, "rewrite the generated CI files at the repository root")

// TestGeneratedFiles fails, printing a diff, when the committed CI files are
// not what ci/reference.go generates. `make generate` runs it with -update.
func TestGeneratedFiles(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := generate.Write("../..", files); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			t.Logf("wrote %s (%d bytes)", f.Path, len(f.Data))
		}
		return
	}
	if err := generate.Check("../..", files, "make generate"); err != nil {
		t.Fatal(err)
	}
}

// TestReferenceRefs pins which jobs run on which ref: the contract teams
// migrating from the seed rely on.
func TestReferenceRefs(t *testing.T) {
	p, err := Pipeline()
	if err != nil {
		t.Fatal(err)
	}
	checks := []string{"build", "sbom", "test:unit", "test:integration", "security:trivy", "security:govulncheck", "security:sast"}
	staging := append(slices.Clone(checks), "deploy:staging")
	all := append(slices.Clone(staging), "deploy:production")
	for _, tc := range []struct {
		event pipeline.Event
		ref   string
		want  []string
	}{
		{pipeline.Push, "develop", staging},
		{pipeline.Push, "main", all},
		{pipeline.TagPush, "v1.2.3", all},
		{pipeline.Push, "feature/login", checks},
		{pipeline.MergeRequest, "main", checks},
		{pipeline.TagPush, "nightly", nil},
	} {
		var got []string
		for _, j := range p.Plan(tc.event, tc.ref) {
			got = append(got, j.Name)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s %s: jobs %v, want %v", tc.event, tc.ref, got, tc.want)
		}
	}
	prod, _ := p.Job("deploy:production")
	if !prod.Approval || !slices.Contains(prod.Needs, "deploy:staging") {
		t.Errorf("deploy:production must be gated and need deploy:staging: %+v", prod)
	}
	sast, _ := p.Job("security:sast")
	trivy, _ := p.Job("security:trivy")
	if !sast.AllowFailure || trivy.AllowFailure {
		t.Errorf("security:sast must be allowed to fail and security:trivy must not (sast %v, trivy %v)", sast.AllowFailure, trivy.AllowFailure)
	}
}

// TestToolchainSettings checks ci/dagger.json: it installs slipway's
// module (the repository root) as the toolchain the jobs call, and each of
// its customizations names one of the module's settings.
func TestToolchainSettings(t *testing.T) {
	raw, err := os.ReadFile("../dagger.json")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Toolchains []struct {
			Name, Source   string
			Customizations []struct {
				Argument, Default, DefaultPath string
				Function                       []string
			}
		}
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Toolchains) != 1 || cfg.Toolchains[0].Name != goservice.DefaultToolchain || cfg.Toolchains[0].Source != ".." {
		t.Fatalf("ci/dagger.json must install the repository root as the toolchain %q: %+v", goservice.DefaultToolchain, cfg.Toolchains)
	}
	for _, c := range cfg.Toolchains[0].Customizations {
		if len(c.Function) > 0 {
			continue
		}
		s, ok := goservice.SettingNamed(c.Argument)
		if !ok {
			t.Errorf("ci/dagger.json customizes %q, which is not a setting of slipway's module", c.Argument)
			continue
		}
		if strings.HasPrefix(s.Type, "[]") && !strings.HasPrefix(c.Default, "[") {
			t.Errorf("%s is a list (%s): its default must be a JSON list, not %q", c.Argument, s.Type, c.Default)
		}
	}
}
