package pipeline_test

import (
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/pipeline"
)

func TestThenVerify(t *testing.T) {
	c := pipeline.Fn("test-unit", pipeline.Dir("source", "."), pipeline.Secret("token", "API_TOKEN")).
		Then("reports").Export("out").ThenVerify("check")
	env := func(v pipeline.Variable) string { return v.GitLabName() }
	if got, want := c.Command("", env), "dagger call test-unit --source=. --token=env://API_TOKEN reports export --path=out"; got != want {
		t.Errorf("Command = %q, want %q", got, want)
	}
	if got, want := c.VerifyCommand("ci", env), "dagger -m ci call test-unit --source=. --token=env://API_TOKEN check"; got != want {
		t.Errorf("VerifyCommand = %q, want %q", got, want)
	}
	if got := pipeline.Fn("build").VerifyCommand("", env); got != "" {
		t.Errorf("VerifyCommand without Verify = %q, want empty", got)
	}
}

func TestVerifyWithOutputIsRefused(t *testing.T) {
	_, err := pipeline.New("p",
		pipeline.Stages("build"),
		pipeline.Job("build", pipeline.Stage("build"), pipeline.Outputs("IMAGE_REF"),
			pipeline.Calls(pipeline.Fn("publish").ThenVerify("check"))),
	)
	want := `job "build": both prints an output and has a verify call`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
}
