package pipeline_test

import (
	"context"
	"fmt"
	"github.com/slipway-ci/slipway/internal/e2e"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/pipeline"
)

// fakeModule stands for a Dagger module's main object: its methods are what
// FuncOf turns into function names.
type fakeModule struct{}

func (*fakeModule) Build(context.Context) error        { return nil }
func (*fakeModule) TestUnit(context.Context) error     { return nil }
func (*fakeModule) SecuritySAST(context.Context) error { return nil }
func (m fakeModule) DeployProduction() error           { return nil }
func (*fakeModule) Publish(string) (string, error)     { return "", nil }

func TestKebab(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Build", "build"},
		{"build", "build"},
		{"TestUnit", "test-unit"},
		{"TestIntegration", "test-integration"},
		{"SecuritySAST", "security-sast"},
		{"SecurityTrivy", "security-trivy"},
		{"DeployProduction", "deploy-production"},
		{"GetURL", "get-url"},
		{"MyID", "my-id"},
		{"ID", "id"},
		{"SBOM", "sbom"},
		{"test_unit", "test-unit"},
		{"testUnit", "test-unit"},
	} {
		if got := pipeline.Kebab(tc.in); got != tc.want {
			t.Errorf("Kebab(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFunctionName(t *testing.T) {
	m := &fakeModule{}
	for _, tc := range []struct {
		name   string
		method any
		want   string
	}{
		{"method expression", (*fakeModule).TestUnit, "test-unit"},
		{"method expression, initialism", (*fakeModule).SecuritySAST, "security-sast"},
		{"method expression, value receiver", fakeModule.DeployProduction, "deploy-production"},
		{"method expression, value receiver via pointer", (*fakeModule).DeployProduction, "deploy-production"},
		{"method value", m.TestUnit, "test-unit"},
		{"method value, initialism", m.SecuritySAST, "security-sast"},
		{"method value with arguments", m.Publish, "publish"},
		{"method value, value receiver", fakeModule{}.DeployProduction, "deploy-production"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := pipeline.FunctionName(tc.method); got != tc.want {
				t.Errorf("FunctionName = %q, want %q", got, tc.want)
			}
			if got := pipeline.FuncOf(tc.method).Function; got != tc.want {
				t.Errorf("FuncOf(...).Function = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFunctionNamePanicsOnNonFunction(t *testing.T) {
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("FunctionName(\"build\") did not panic")
		}
		if msg, _ := r.(string); !strings.Contains(msg, "string is not a method expression") {
			t.Errorf("panic = %v, want it to say the string is not a method expression", r)
		}
	}()
	pipeline.FunctionName("build")
}

func TestCommand(t *testing.T) {
	gitlab := func(v pipeline.Variable) string { return v.GitLabName() }
	for _, tc := range []struct {
		name   string
		call   pipeline.Call
		module string
		want   string
	}{{
		name: "no arguments",
		call: pipeline.Fn("test-unit"),
		want: "dagger call test-unit",
	}, {
		name:   "module",
		call:   pipeline.Fn("build", pipeline.Dir("source", ".")),
		module: "ci",
		want:   "dagger -m ci call build --source=.",
	}, {
		name:   "module path with a space",
		call:   pipeline.Fn("build"),
		module: "my ci",
		want:   "dagger -m 'my ci' call build",
	}, {
		name: "value with a space and a single quote",
		call: pipeline.Fn("notify", pipeline.String("message", "it's done now")),
		want: `dagger call notify --message='it'\''s done now'`,
	}, {
		name: "value with shell syntax",
		call: pipeline.Fn("notify", pipeline.String("message", "$HOME `id` $(id) *;|&")),
		want: "dagger call notify --message='$HOME `id` $(id) *;|&'",
	}, {
		name: "empty value",
		call: pipeline.Fn("notify", pipeline.String("message", "")),
		want: "dagger call notify --message=''",
	}, {
		name: "secret as env://",
		call: pipeline.Fn("deploy", pipeline.Secret("token", "DEPLOY_TOKEN")),
		want: "dagger call deploy --token=env://DEPLOY_TOKEN",
	}, {
		name: "every kind",
		call: pipeline.Fn("deploy",
			pipeline.String("region", "eu-west-1"),
			pipeline.Bool("dry-run", false),
			pipeline.Int("replicas", 3),
			pipeline.Dir("source", "."),
			pipeline.File("config", "deploy/app config.yaml"),
			pipeline.Secret("token", "DEPLOY_TOKEN"),
			pipeline.FromVar("commit", pipeline.CommitSHA),
			pipeline.FromEnv("go-version", "GO_VERSION"),
			pipeline.FromJob("image", "build", "IMAGE_REF"),
		),
		want: `dagger call deploy --region=eu-west-1 --dry-run=false --replicas=3 --source=. ` +
			`--config='deploy/app config.yaml' --token=env://DEPLOY_TOKEN --commit="$CI_COMMIT_SHA" ` +
			`--go-version="$GO_VERSION" --image="$IMAGE_REF"`,
	}, {
		name: "chain",
		call: pipeline.Fn("build", pipeline.Dir("source", ".")).
			Then("publish", pipeline.Secret("password", "REGISTRY_PASSWORD"), pipeline.String("address", "registry.example.com/app:latest")),
		want: "dagger call build --source=. publish --password=env://REGISTRY_PASSWORD --address=registry.example.com/app:latest",
	}, {
		name: "export",
		call: pipeline.Fn("build").Export("out dir"),
		want: "dagger call build export --path='out dir'",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.call.Command(tc.module, gitlab); got != tc.want {
				t.Errorf("Command:\n got: %s\nwant: %s", got, tc.want)
			}
		})
	}
}

// TestCommandShellRoundTrip runs the rendered command in a real POSIX shell
// with `dagger` defined as a function that prints its arguments, so the
// quoting is checked by the shell that runs it in CI rather than by eye.
func TestCommandShellRoundTrip(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		e2e.Unavailable(t, fmt.Errorf("no POSIX shell: %w", err))
	}
	awkward := "it's \"quoted\" $HOME `id` $(id) \\ * ; | & \n second line"
	call := pipeline.Fn("deploy",
		pipeline.String("message", awkward),
		pipeline.Secret("token", "DEPLOY_TOKEN"),
		pipeline.FromVar("ref", pipeline.RefName),
		pipeline.FromEnv("region", "REGION"),
		pipeline.FromJob("image", "build", "IMAGE_REF"),
	).Export("out dir")
	cmd := call.Command("ci mod", func(v pipeline.Variable) string { return v.GitHubName() })
	script := "dagger() { for a in \"$@\"; do printf '%s\\0' \"$a\"; done; }\n" + cmd
	c := exec.Command(sh, "-c", script)
	c.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"DEPLOY_TOKEN=s3cret",
		"GITHUB_REF_NAME=feature/a b",
		"REGION=eu west",
		"IMAGE_REF=registry/app@sha256:abc",
	}
	out, err := c.Output()
	if err != nil {
		t.Fatalf("sh -c %q: %v", script, err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	want := []string{
		"-m", "ci mod", "call", "deploy",
		"--message=" + awkward,
		// The secret reaches Dagger by name: its value is not on the command line.
		"--token=env://DEPLOY_TOKEN",
		"--ref=feature/a b",
		"--region=eu west",
		"--image=registry/app@sha256:abc",
		"export", "--path=out dir",
	}
	if !slices.Equal(got, want) {
		t.Errorf("arguments dagger received:\n got: %q\nwant: %q", got, want)
	}
	if strings.Contains(cmd, "s3cret") {
		t.Errorf("command %q holds the secret's value", cmd)
	}
}

func TestCallReaders(t *testing.T) {
	call := pipeline.Fn("deploy",
		pipeline.Secret("token", "DEPLOY_TOKEN"),
		pipeline.FromVar("sha", pipeline.CommitSHA),
		pipeline.FromJob("image", "build", "IMAGE_REF"),
	).Then("notify",
		pipeline.Secret("webhook", "SLACK_WEBHOOK"),
		pipeline.FromVar("sha", pipeline.CommitSHA),
		pipeline.FromVar("ref", pipeline.RefName),
		pipeline.FromJob("digest", "scan", "REPORT"),
	)
	if got, want := call.Secrets(), []string{"DEPLOY_TOKEN", "SLACK_WEBHOOK"}; !slices.Equal(got, want) {
		t.Errorf("Secrets() = %q, want %q", got, want)
	}
	if got, want := call.Variables(), []pipeline.Variable{pipeline.CommitSHA, pipeline.RefName}; !slices.Equal(got, want) {
		t.Errorf("Variables() = %q, want %q", got, want)
	}
	want := []pipeline.OutputRef{{Job: "build", Name: "IMAGE_REF"}, {Job: "scan", Name: "REPORT"}}
	if got := call.Outputs(); !slices.Equal(got, want) {
		t.Errorf("Outputs() = %+v, want %+v", got, want)
	}
}

// TestThenDoesNotShareChains guards against two calls built from one base
// sharing a backing array: appending to one chain must not change the other.
func TestThenDoesNotShareChains(t *testing.T) {
	base := pipeline.Fn("build").Then("a").Then("b")
	x := base.Then("x")
	y := base.Then("y")
	if got := x.Command("", nil); got != "dagger call build a b x" {
		t.Errorf("x = %q", got)
	}
	if got := y.Command("", nil); got != "dagger call build a b y" {
		t.Errorf("y = %q", got)
	}
	if got := base.Command("", nil); got != "dagger call build a b" {
		t.Errorf("base = %q", got)
	}
}

func TestVariableNames(t *testing.T) {
	for _, tc := range []struct {
		v              pipeline.Variable
		gitlab, github string
	}{
		{pipeline.CommitSHA, "CI_COMMIT_SHA", "GITHUB_SHA"},
		{pipeline.RefName, "CI_COMMIT_REF_NAME", "GITHUB_REF_NAME"},
		{pipeline.PipelineID, "CI_PIPELINE_ID", "GITHUB_RUN_ID"},
		{pipeline.RepositoryURL, "CI_PROJECT_URL", "SLIPWAY_REPOSITORY_URL"},
		{pipeline.ProjectPath, "CI_PROJECT_PATH", "GITHUB_REPOSITORY"},
		{pipeline.Registry, "CI_REGISTRY", "SLIPWAY_REGISTRY"},
		{pipeline.RegistryUser, "CI_REGISTRY_USER", "GITHUB_ACTOR"},
		{pipeline.RefSlug, "CI_COMMIT_REF_SLUG", "SLIPWAY_REF_SLUG"},
		{pipeline.JobToken, "CI_JOB_TOKEN", "GITHUB_TOKEN"},
		{pipeline.RegistryPassword, "CI_REGISTRY_PASSWORD", "GITHUB_TOKEN"},
		{"nope", "", ""},
	} {
		if got := tc.v.GitLabName(); got != tc.gitlab {
			t.Errorf("%q.GitLabName() = %q, want %q", tc.v, got, tc.gitlab)
		}
		if got := tc.v.GitHubName(); got != tc.github {
			t.Errorf("%q.GitHubName() = %q, want %q", tc.v, got, tc.github)
		}
	}
	if got := len(pipeline.Variables()); got != 8 {
		t.Errorf("len(Variables()) = %d, want 8", got)
	}
	for _, v := range pipeline.Variables() {
		if v.Secret() {
			t.Errorf("Variables() lists the credential %q", v)
		}
	}
	for _, v := range pipeline.Credentials() {
		if !v.Secret() {
			t.Errorf("Credentials() lists %q, which is not a secret", v)
		}
	}
}
