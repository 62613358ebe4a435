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

func TestToolchainTarget(t *testing.T) {
	c := pipeline.Fn("test-unit", pipeline.Dir("source", ".")).Then("reports").Export("out").ThenVerify("check")
	env := func(v pipeline.Variable) string { return v.GitLabName() }
	tc := pipeline.Target{Toolchain: "slipway"}
	if got, want := c.CommandIn(tc, env), "dagger call slipway test-unit --source=. reports export --path=out"; got != want {
		t.Errorf("CommandIn = %q, want %q", got, want)
	}
	if got, want := c.VerifyCommandIn(pipeline.Target{Module: "ci", Toolchain: "slipway"}, env), "dagger -m ci call slipway test-unit --source=. check"; got != want {
		t.Errorf("VerifyCommandIn = %q, want %q", got, want)
	}
	p, err := pipeline.New("p", pipeline.Toolchain("slipway"), pipeline.Stages("test"),
		pipeline.Job("unit", pipeline.Stage("test"), pipeline.Calls(c)))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Target(); got != tc {
		t.Errorf("Target = %+v, want %+v", got, tc)
	}
	_, err = pipeline.New("p", pipeline.Toolchain("Slip way"), pipeline.Stages("test"),
		pipeline.Job("unit", pipeline.Stage("test"), pipeline.Calls(c)))
	want := `pipeline "p" is invalid: toolchain "Slip way": the name must be kebab-case, as ` + "`dagger call`" + ` spells it (such as slipway)`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
}

func TestVerifyWithOutputIsRefused(t *testing.T) {
	_, err := pipeline.New("p",
		pipeline.Stages("build"),
		pipeline.Job("build", pipeline.Stage("build"), pipeline.Outputs("IMAGE_REF"),
			pipeline.Calls(pipeline.Fn("publish").ThenVerify("check"))),
	)
	want := `job "build": has a verify call and takes the whole output of a call as IMAGE_REF; declare it with pipeline.LineOutputs("IMAGE_REF")`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
}
