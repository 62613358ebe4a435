package shims

import (
	"flag"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/pipeline/generate"
)

var update = flag.Bool("update", false, "rewrite the example's generated CI files")

// module is the Dagger module's source, in ../.dagger.
var module = os.DirFS("../.dagger")

// TestGeneratedFiles fails, with a diff, when the example's committed CI
// files drift from Pipeline; -update rewrites them.
func TestGeneratedFiles(t *testing.T) {
	files, err := Files(module)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := generate.Write("..", files); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := generate.Check("..", files, "go test ./shims -run TestGeneratedFiles -update"); err != nil {
		t.Fatal(err)
	}
}

// TestPipelineChecksTheModule shows the link between the pipeline and the
// module: a job calling a function the module lacks is refused.
func TestPipelineChecksTheModule(t *testing.T) {
	p, err := Pipeline(module)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, j := range p.Jobs() {
		names = append(names, j.Name+"="+j.Call.Function)
	}
	if want := []string{"lint=lint", "test=test", "build=build"}; !slices.Equal(names, want) {
		t.Errorf("jobs %v, want %v", names, want)
	}
	// A module without Build: the pipeline no longer validates.
	broken := os.DirFS(t.TempDir())
	if _, err := Pipeline(broken); err == nil || !strings.Contains(err.Error(), "no type Hello") {
		t.Errorf("Pipeline on an empty module: err = %v", err)
	}
}
