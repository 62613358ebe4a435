package daggermod_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/daggermod"
)

func TestParse(t *testing.T) {
	mod, err := daggermod.Parse("testdata/mod", "Demo")
	if err != nil {
		t.Fatal(err)
	}
	want := []daggermod.Function{
		{Name: "build", GoName: "Build", Doc: "Build builds the source.", Args: []daggermod.Arg{
			{Name: "source", GoName: "source", Type: "*Directory"},
		}},
		{Name: "test-unit", GoName: "TestUnit", Doc: "TestUnit runs the unit tests.", Args: []daggermod.Arg{
			{Name: "source", GoName: "source", Type: "*Directory"},
			{Name: "packages", GoName: "packages", Type: "string", Optional: true, Default: "./..."},
			{Name: "race", GoName: "race", Type: "bool", Optional: true},
		}},
	}
	if diff := cmp.Diff(want, mod.Functions); diff != "" {
		t.Errorf("functions (-want +got):\n%s", diff)
	}
	wantNew := &daggermod.Function{Name: "new", GoName: "New", Doc: "New configures the demo.", Args: []daggermod.Arg{
		{Name: "registry-url", GoName: "registryUrl", Type: "string", Optional: true},
	}}
	if diff := cmp.Diff(wantNew, mod.Constructor); diff != "" {
		t.Errorf("constructor (-want +got):\n%s", diff)
	}
	sigs := mod.Signatures()
	wantSigs := []pipeline.Signature{{Name: "build", Args: []string{"source"}}, {Name: "test-unit", Args: []string{"source", "packages", "race"}}}
	if diff := cmp.Diff(wantSigs, sigs); diff != "" {
		t.Errorf("signatures (-want +got):\n%s", diff)
	}
}

func TestParseMissingObject(t *testing.T) {
	_, err := daggermod.Parse("testdata/mod", "Nope")
	if err == nil || !strings.Contains(err.Error(), "no type Nope; the main object's name is the module name in PascalCase (in testdata/mod)") {
		t.Fatalf("err = %v, want a message naming the missing type", err)
	}
}

func TestSignaturesCatchUnknownFunction(t *testing.T) {
	mod, err := daggermod.Parse("testdata/mod", "Demo")
	if err != nil {
		t.Fatal(err)
	}
	_, err = pipeline.New("p",
		pipeline.Functions(mod.Signatures()...),
		pipeline.Stages("build"),
		pipeline.Job("build", pipeline.Stage("build"), pipeline.Calls(pipeline.Fn("biuld", pipeline.Dir("source", ".")))),
	)
	want := `job "build": calls the Dagger function "biuld", which the module does not have (it has: build, test-unit)`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
}
