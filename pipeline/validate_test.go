package pipeline_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/pipeline"
)

// valid is the smallest pipeline the validation cases start from: every case
// adds what it breaks, so a case that fails names exactly one problem.
func valid(extra ...pipeline.Option) []pipeline.Option {
	return append([]pipeline.Option{
		pipeline.Stages("build", "test", "deploy"),
		pipeline.Job("build",
			pipeline.Stage("build"),
			pipeline.Calls(pipeline.Fn("build", pipeline.Dir("source", "."))),
			pipeline.Outputs("IMAGE_REF"),
		),
	}, extra...)
}

// job is a job in stage that calls function fn with no arguments.
func job(name, stage string, opts ...pipeline.JobOption) pipeline.Option {
	return pipeline.Job(name, append([]pipeline.JobOption{
		pipeline.Stage(stage),
		pipeline.Calls(pipeline.Fn("check")),
	}, opts...)...)
}

func TestNewValid(t *testing.T) {
	p, err := pipeline.New("service", valid(
		job("test", "test", pipeline.Needs("build")),
	)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if got, want := p.Name(), "service"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	if got, want := p.DaggerVersion(), pipeline.DefaultDaggerVersion; got != want {
		t.Errorf("DaggerVersion() = %q, want %q", got, want)
	}
	if got, want := p.DefaultRunsOn(), []string{"ubuntu-latest"}; !slices.Equal(got, want) {
		t.Errorf("DefaultRunsOn() = %q, want %q", got, want)
	}
}

// TestValidationMessages asserts the exact message for every problem New
// must catch before a CI file is written.
func TestValidationMessages(t *testing.T) {
	prod := pipeline.Environment{Name: "production", URL: "https://example.com", Tier: pipeline.Production}
	sigs := pipeline.Functions(
		pipeline.Signature{Name: "build", Args: []string{"source"}},
		pipeline.Signature{Name: "check"},
		pipeline.Signature{Name: "test", Args: []string{"source", "image"}},
	)
	secretJob := func(secret string) pipeline.Option {
		return pipeline.Job("deploy",
			pipeline.Stage("deploy"),
			pipeline.Calls(pipeline.Fn("deploy", pipeline.Secret("token", secret))),
		)
	}
	branchJob := func(rule pipeline.Rule) pipeline.Option {
		return job("test", "test", pipeline.When(rule))
	}

	for _, tc := range []struct {
		name string
		opts []pipeline.Option
		want []string
	}{{
		name: "duplicate job",
		opts: valid(job("build", "build")),
		want: []string{`job "build" is defined twice`},
	}, {
		name: "two names, one GitHub id",
		opts: valid(job("test:unit", "test"), job("test-unit", "test")),
		want: []string{`jobs "test:unit" and "test-unit" both become the GitHub job id "test-unit"; rename one`},
	}, {
		name: "unknown needs",
		opts: valid(job("test", "test", pipeline.Needs("compile"))),
		want: []string{`job "test": needs "compile", which is not a job`},
	}, {
		name: "needs on a later stage",
		opts: valid(job("test", "test"), job("lint", "build", pipeline.Needs("test"))),
		want: []string{`job "lint": needs "test", which runs in the later stage "test"`},
	}, {
		name: "needs itself",
		opts: valid(job("test", "test", pipeline.Needs("test"))),
		want: []string{`job "test": needs itself`},
	}, {
		name: "cycle of two",
		opts: valid(job("a", "test", pipeline.Needs("b")), job("b", "test", pipeline.Needs("a"))),
		want: []string{`the needs form a cycle: a -> b -> a`},
	}, {
		name: "cycle of three",
		opts: valid(
			job("a", "test", pipeline.Needs("build", "c")),
			job("b", "test", pipeline.Needs("a")),
			job("c", "test", pipeline.Needs("b")),
		),
		want: []string{`the needs form a cycle: a -> c -> b -> a`},
	}, {
		name: "undeclared stage",
		opts: valid(job("test", "qa")),
		want: []string{`job "test": stage "qa" is not declared; declare it in pipeline.Stages(...)`},
	}, {
		name: "no stage",
		opts: valid(pipeline.Job("test", pipeline.Calls(pipeline.Fn("check")))),
		want: []string{`job "test": no stage; add pipeline.Stage(...)`},
	}, {
		name: "stage declared twice",
		opts: valid(pipeline.Stages("test")),
		want: []string{`stage "test" is declared twice`},
	}, {
		name: "no stages, no jobs",
		opts: nil,
		want: []string{"no stages are declared; add pipeline.Stages(...)", "no jobs are defined; add pipeline.Job(...)"},
	}, {
		name: "production without a gate",
		opts: valid(job("deploy", "deploy", pipeline.Deploys(prod))),
		want: []string{`job "deploy": deploys to the production environment "production" without a gate; add pipeline.Approval() (a manual job on GitLab, environment reviewers on GitHub), or say why not with pipeline.DangerouslyDeployToProductionWithoutApproval(reason)`},
	}, {
		name: "environment without tier",
		opts: valid(job("deploy", "deploy", pipeline.Deploys(pipeline.Environment{Name: "staging"}))),
		want: []string{`job "deploy": environment "staging" has no tier; set Tier`},
	}, {
		name: "environment URL without scheme",
		opts: valid(job("deploy", "deploy", pipeline.Deploys(pipeline.Environment{Name: "staging", Tier: pipeline.Staging, URL: "staging.example.com"}))),
		want: []string{`job "deploy": environment "staging": URL "staging.example.com" must start with https:// or http://`},
	}, {
		name: "secret with the GITHUB_ prefix",
		opts: valid(secretJob("GITHUB_TOKEN")),
		want: []string{`job "deploy": secret "GITHUB_TOKEN" is the CI's own credential; read it with pipeline.CISecret(name, pipeline.JobToken), which both CIs provide`},
	}, {
		name: "secret with a lower-case github_ prefix",
		opts: valid(secretJob("github_pat")),
		want: []string{`job "deploy": secret "github_pat": GitHub rejects secret names that start with GITHUB_`},
	}, {
		name: "secret with a leading digit",
		opts: valid(secretJob("1PASSWORD_TOKEN")),
		want: []string{`job "deploy": secret "1PASSWORD_TOKEN": a CI secret name may hold only letters, digits and _ and must not start with a digit`},
	}, {
		name: "secret with a dash",
		opts: valid(secretJob("REGISTRY-TOKEN")),
		want: []string{`job "deploy": secret "REGISTRY-TOKEN": a CI secret name may hold only letters, digits and _ and must not start with a digit`},
	}, {
		name: "secret named like a GitLab predefined variable",
		opts: valid(secretJob("CI_JOB_TOKEN")),
		want: []string{`job "deploy": secret "CI_JOB_TOKEN" is the CI's own credential; read it with pipeline.CISecret(name, pipeline.JobToken), which both CIs provide`},
	}, {
		name: "secret named like GitLab's registry password",
		opts: valid(secretJob("CI_REGISTRY_PASSWORD")),
		want: []string{`job "deploy": secret "CI_REGISTRY_PASSWORD" is the CI's own credential; read it with pipeline.CISecret(name, pipeline.RegistryPassword), which both CIs provide`},
	}, {
		name: "secret named like another GitLab predefined variable",
		opts: valid(secretJob("CI_DEPLOY_PASSWORD")),
		want: []string{`job "deploy": secret "CI_DEPLOY_PASSWORD": names starting with CI_ or GITLAB_ are GitLab's predefined variables; choose another name`},
	}, {
		name: "secret in a chained call",
		opts: valid(pipeline.Job("deploy", pipeline.Stage("deploy"), pipeline.Calls(
			pipeline.Fn("image").Then("publish", pipeline.Secret("password", "REGISTRY PASSWORD")),
		))),
		want: []string{`job "deploy": secret "REGISTRY PASSWORD": a CI secret name may hold only letters, digits and _ and must not start with a digit`},
	}, {
		name: "variable with a leading digit",
		opts: valid(pipeline.Var("2FA_MODE", "on")),
		want: []string{`variable "2FA_MODE": the name must hold only letters, digits and _ and not start with a digit`},
	}, {
		name: "variable with a dash",
		opts: valid(pipeline.Var("GO-VERSION", "1.25")),
		want: []string{`variable "GO-VERSION": the name must hold only letters, digits and _ and not start with a digit`},
	}, {
		name: "output with a dash",
		opts: valid(job("test", "test", pipeline.Outputs("IMAGE-REF"))),
		want: []string{`job "test": output name "IMAGE-REF" must hold only letters, digits and _ and not start with a digit`},
	}, {
		name: "branch pattern with a space",
		opts: valid(branchJob(pipeline.OnBranches("feature branch"))),
		want: []string{`job "test": invalid branch pattern: "feature branch" is not a valid git ref pattern: it has ' ', which git does not allow in ref names`},
	}, {
		name: "branch pattern with ..",
		opts: valid(branchJob(pipeline.OnBranches("release/../main"))),
		want: []string{`job "test": invalid branch pattern: "release/../main" is not a valid git ref pattern: it has ".."`},
	}, {
		name: "branch glob with an invalid part",
		opts: valid(branchJob(pipeline.OnBranches("release/*/.hotfix"))),
		want: []string{`job "test": invalid branch pattern: "release/*/.hotfix" is not a valid git ref pattern: a component starts with "."`},
	}, {
		name: "branch pattern **",
		opts: valid(branchJob(pipeline.OnBranches("**"))),
		want: []string{`job "test": invalid branch pattern: "**" has "**"; one "*" already matches any characters, slashes included`},
	}, {
		name: "branch pattern ending in .lock",
		opts: valid(branchJob(pipeline.OnBranches("main.lock"))),
		want: []string{`job "test": invalid branch pattern: "main.lock" is not a valid git ref pattern: it ends with ".lock"`},
	}, {
		name: "empty branch pattern",
		opts: valid(branchJob(pipeline.OnBranches(""))),
		want: []string{`job "test": invalid branch pattern: empty pattern`},
	}, {
		name: "merge request target with a colon",
		opts: valid(branchJob(pipeline.OnMergeRequests("main:dev"))),
		want: []string{`job "test": invalid branch pattern: "main:dev" is not a valid git ref pattern: it has ':', which git does not allow in ref names`},
	}, {
		name: "tag pattern with a leading dot",
		opts: valid(branchJob(pipeline.OnTags(".v1"))),
		want: []string{`job "test": invalid tag pattern: ".v1" is not a valid git ref pattern: it starts with "."`},
	}, {
		name: "absolute changed path",
		opts: valid(branchJob(pipeline.OnBranches().WithChanges("/src/**"))),
		want: []string{`job "test": changed-path glob "/src/**" must be a non-empty path relative to the repository root`},
	}, {
		name: "changed path with an unclosed brace",
		opts: valid(branchJob(pipeline.OnBranches().WithChanges("{api,web/**"))),
		want: []string{`job "test": changed-path glob "{api,web/**" has an unclosed {: close the alternatives, as in "{a,b}/**"`},
	}, {
		name: "unknown event",
		opts: valid(branchJob(pipeline.Rule{Event: "deployment"})),
		want: []string{`job "test": rule has the unknown event "deployment"`},
	}, {
		name: "function the module does not have",
		opts: valid(sigs, job("deploy", "deploy", pipeline.Calls(pipeline.Fn("deploy-staging")))),
		want: []string{`job "deploy": calls the Dagger function "deploy-staging", which the module does not have (it has: build, check, test)`},
	}, {
		name: "argument the function does not take",
		opts: valid(sigs, job("test", "test", pipeline.Calls(pipeline.Fn("test", pipeline.Dir("src", "."))))),
		want: []string{`job "test": passes --src to "test", which takes no such argument (it takes: source, image)`},
	}, {
		name: "no function",
		opts: valid(pipeline.Job("test", pipeline.Stage("test"))),
		want: []string{`job "test": calls no Dagger function; add pipeline.Calls(...)`},
	}, {
		name: "function not kebab-case",
		opts: valid(job("test", "test", pipeline.Calls(pipeline.Fn("TestUnit")))),
		want: []string{`job "test": function name "TestUnit" is not kebab-case as ` + "`dagger call`" + ` spells it`},
	}, {
		name: "argument passed twice",
		opts: valid(job("test", "test", pipeline.Calls(pipeline.Fn("test", pipeline.Dir("source", "."), pipeline.Dir("source", "src"))))),
		want: []string{`job "test": passes --source twice`},
	}, {
		name: "output read without needs",
		opts: valid(job("test", "test", pipeline.Calls(pipeline.Fn("test", pipeline.FromJob("image", "build", "IMAGE_REF"))))),
		want: []string{`job "test": argument --image reads an output of "build" but does not need it; add pipeline.Needs("build")`},
	}, {
		name: "output the job does not declare",
		opts: valid(job("test", "test", pipeline.Needs("build"), pipeline.Calls(pipeline.Fn("test", pipeline.FromJob("image", "build", "DIGEST"))))),
		want: []string{`job "test": argument --image reads the output "DIGEST" of "build", which declares no such output; add pipeline.Outputs("DIGEST") to it`},
	}, {
		name: "output of a job that does not exist",
		opts: valid(job("test", "test", pipeline.Calls(pipeline.Fn("test", pipeline.FromJob("image", "publish", "IMAGE_REF"))))),
		want: []string{`job "test": argument --image reads an output of "publish", which is not a job`},
	}, {
		name: "undeclared pipeline variable",
		opts: valid(job("test", "test", pipeline.Calls(pipeline.Fn("test", pipeline.FromEnv("go-version", "GO_VERSION"))))),
		want: []string{`job "test": argument --go-version reads the variable "GO_VERSION", which is not declared; add pipeline.Var("GO_VERSION", ...)`},
	}, {
		name: "unknown CI variable",
		opts: valid(job("test", "test", pipeline.Calls(pipeline.Fn("test", pipeline.FromVar("actor", "actor"))))),
		want: []string{`job "test": argument --actor reads the unknown CI variable "actor"`},
	}, {
		name: "three retries",
		opts: valid(job("test", "test", pipeline.Retry(3))),
		want: []string{`job "test": retries must be 0, 1 or 2 (GitLab's limit), not 3`},
	}, {
		name: "timeout not in whole minutes",
		opts: valid(job("test", "test", pipeline.Timeout(90*time.Second))),
		want: []string{`job "test": timeout 1m30s must be whole minutes (GitHub's timeout-minutes)`},
	}, {
		name: "unknown report kind",
		opts: valid(job("test", "test", pipeline.Reports(pipeline.Report{Kind: "tap", Path: "out.tap"}))),
		want: []string{`job "test": report "out.tap" has the unknown kind "tap"`},
	}, {
		name: "report outside the repository",
		opts: valid(job("test", "test", pipeline.Reports(pipeline.Report{Kind: pipeline.JUnit, Path: "../junit.xml"}))),
		want: []string{`job "test": report path "../junit.xml" must be a relative path inside the repository`},
	}, {
		name: "coverage regexp that does not compile",
		opts: valid(job("test", "test", pipeline.Coverage(`total: (\d+`))),
		want: []string{"job \"test\": coverage regexp \"total: (\\\\d+\" does not compile: error parsing regexp: missing closing ): `total: (\\d+`"},
	}, {
		name: "every problem is listed, in definition order",
		opts: valid(
			pipeline.Var("MY-VAR", "x"),
			job("test", "qa", pipeline.Needs("nope")),
			job("deploy", "deploy", pipeline.Deploys(prod), pipeline.Retry(5)),
		),
		want: []string{
			`variable "MY-VAR": the name must hold only letters, digits and _ and not start with a digit`,
			`job "test": stage "qa" is not declared; declare it in pipeline.Stages(...)`,
			`job "test": needs "nope", which is not a job`,
			`job "deploy": deploys to the production environment "production" without a gate; add pipeline.Approval() (a manual job on GitLab, environment reviewers on GitHub), or say why not with pipeline.DangerouslyDeployToProductionWithoutApproval(reason)`,
			`job "deploy": retries must be 0, 1 or 2 (GitLab's limit), not 5`,
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := pipeline.New("service", tc.opts...)
			if err == nil {
				t.Fatalf("New returned a pipeline (%d jobs), want the problems %q", len(p.Jobs()), tc.want)
			}
			var verr *pipeline.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("New error is %T (%v), want *pipeline.ValidationError", err, err)
			}
			if verr.Pipeline != "service" {
				t.Errorf("ValidationError.Pipeline = %q, want %q", verr.Pipeline, "service")
			}
			if !slices.Equal(verr.Problems, tc.want) {
				t.Errorf("problems:\n got: %q\nwant: %q", verr.Problems, tc.want)
			}
		})
	}
}

func TestValidationErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		problems []string
		want     string
	}{{
		problems: []string{`job "a": needs itself`},
		want:     `pipeline "svc" is invalid: job "a": needs itself`,
	}, {
		problems: []string{`job "a": needs itself`, `job "b" is defined twice`},
		want:     "pipeline \"svc\" is invalid:\n  - job \"a\": needs itself\n  - job \"b\" is defined twice",
	}} {
		err := &pipeline.ValidationError{Pipeline: "svc", Problems: tc.problems}
		if got := err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

// TestValidationAcceptsFunctions checks the positive side of
// pipeline.Functions: a job calling a declared function with declared
// arguments, and chained calls whose arguments belong to the returned
// object, not to the function.
func TestValidationAcceptsFunctions(t *testing.T) {
	_, err := pipeline.New("service",
		pipeline.Stages("build"),
		pipeline.Functions(pipeline.Signature{Name: "build", Args: []string{"source"}}),
		pipeline.Job("build",
			pipeline.Stage("build"),
			pipeline.Calls(pipeline.FuncOf((*fakeModule).Build, pipeline.Dir("source", ".")).Export("dist")),
		),
	)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
}

func TestValidationAcceptsRefPatterns(t *testing.T) {
	for _, ref := range []string{"main", "release/*", "*", "v*", "feature/JIRA-123_x", "renovate/*", "hotfix.lock*", "users/a.b"} {
		_, err := pipeline.New("service",
			pipeline.Stages("test"),
			job("test", "test", pipeline.When(pipeline.OnBranches(ref), pipeline.OnTags(ref), pipeline.OnMergeRequests(ref))),
		)
		if err != nil {
			t.Errorf("pattern %q: %v", ref, err)
		}
	}
}

func TestValidationNamesThePipeline(t *testing.T) {
	_, err := pipeline.New("my service", pipeline.Stages("build"), job("build", "build", pipeline.Needs("x")))
	if err == nil || !strings.HasPrefix(err.Error(), `pipeline "my service" is invalid: `) {
		t.Fatalf("New error = %v, want it to name the pipeline", err)
	}
}
