package reference

import (
	"flag"
	"os"
	"slices"
	"testing"

	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/daggermod"
	"github.com/slipway-ci/slipway/pipeline/generate"
)

var update = flag.Bool("update", false, "rewrite the generated CI files at the repository root")

// module is the ci module's source, one directory up.
var module = os.DirFS("..")

// TestGeneratedFiles fails, printing a diff, when the committed CI files are
// not what ci/reference.go generates. `make generate` runs it with -update.
func TestGeneratedFiles(t *testing.T) {
	files, err := Files(module)
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
	p, err := Pipeline(module)
	if err != nil {
		t.Fatal(err)
	}
	checks := []string{"build", "test:unit", "test:integration", "security:trivy", "security:sast"}
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

// TestModuleFunctions pins the Dagger functions the module exposes.
func TestModuleFunctions(t *testing.T) {
	mod, err := daggermod.ParseFS(module, Object)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range mod.Functions {
		got = append(got, f.Name)
		if f.Doc == "" {
			t.Errorf("function %s has no doc comment: `dagger call --help` would show nothing", f.Name)
		}
	}
	want := []string{"build", "ci", "deploy-production", "deploy-staging", "generate", "generated-files", "publish",
		"security-sast", "security-trivy", "test-integration", "test-unit", "unit-tests"}
	if !slices.Equal(got, want) {
		t.Errorf("module functions %v, want %v", got, want)
	}
}
