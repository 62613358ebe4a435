package lint_test

import (
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/pipeline/lint"
)

// fns are the functions of the module the testdata files call.
var fns = []string{"publish", "test-unit", "test-integration", "security-sast", "deploy-production"}

func TestGoodFiles(t *testing.T) {
	for _, tc := range []struct {
		file  string
		check func([]byte, ...lint.Option) error
	}{
		{"testdata/good.gitlab-ci.yml", lint.GitLab},
		{"testdata/good.github.yml", lint.GitHub},
	} {
		data, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		if err := tc.check(data, lint.WithFunctions(fns...)); err != nil {
			t.Errorf("%s: %v", tc.file, err)
		}
	}
}

// problems returns the problems of err as strings, failing the test when err
// is not a *lint.Error.
func problems(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var lerr *lint.Error
	if !errors.As(err, &lerr) {
		t.Fatalf("error is %T (%v), want *lint.Error", err, err)
	}
	out := make([]string, len(lerr.Problems))
	for i, p := range lerr.Problems {
		out[i] = p.String()
	}
	return out
}

// A GitLab job that passes every check, to build the bad cases from.
const gitlabJob = `
  stage: build
  script:
    - dagger call publish --source=.
`

func TestGitLabProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		opts []lint.Option
		want []string
	}{{
		name: "good",
		yaml: "stages: [build]\nbuild:" + gitlabJob,
		want: nil,
	}, {
		name: "not YAML",
		yaml: "stages: [build\n",
		want: []string{`not valid YAML: yaml: line 1: did not find expected ',' or ']' (hint: write the file with a YAML library)`},
	}, {
		name: "two documents",
		yaml: "stages: [build]\n---\nbuild:" + gitlabJob,
		want: []string{`the file holds 2 YAML documents; a CI file is one (hint: write the file with a YAML library)`},
	}, {
		name: "duplicate key",
		yaml: "stages: [build]\nbuild:" + gitlabJob + "build:" + gitlabJob,
		want: []string{`line 6: the key "build" appears twice in one mapping (hint: write the file with a YAML library)`},
	}, {
		name: "schema: unknown keyword",
		yaml: "stages: [build]\nbuild:" + gitlabJob + "  scripts: [x]\n",
		want: []string{`line 2: job "build": does not match the GitLab CI schema at /build: additional properties 'scripts' not allowed (hint: fix the value at /build; the keywords are described at https://docs.gitlab.com/ci/yaml/)`},
	}, {
		name: "schema: retry out of range",
		yaml: "stages: [build]\nbuild:" + gitlabJob + "  retry: 3\n",
		want: []string{`line 2: job "build": does not match the GitLab CI schema at /build/retry: maximum: got 3, want 2 (hint: fix the value at /build/retry; the keywords are described at https://docs.gitlab.com/ci/yaml/)`},
	}, {
		name: "schema: when",
		yaml: "stages: [build]\nbuild:" + gitlabJob + "  when: later\n",
		want: []string{`line 2: job "build": does not match the GitLab CI schema at /build/when: value must be one of 'on_success', 'on_failure', 'always', 'never', 'manual', 'delayed' (hint: fix the value at /build/when; the keywords are described at https://docs.gitlab.com/ci/yaml/)`},
	}, {
		name: "undeclared stage",
		yaml: "stages: [build, test]\nbuild:" + gitlabJob + "lint:\n  stage: check\n  script: [dagger call lint]\n",
		want: []string{`line 6: job "lint": stage "check" is not declared in stages (hint: add "check" to the top-level stages:, or move the job to one of: build, test)`},
	}, {
		name: "default stage is test",
		yaml: "stages: [build]\nbuild:" + gitlabJob + "lint:\n  script: [dagger call lint]\n",
		want: []string{`line 6: job "lint": stage "test" is not declared in stages (hint: add "test" to the top-level stages:, or move the job to one of: build)`},
	}, {
		name: "default stages",
		yaml: "build:" + gitlabJob + "lint:\n  needs: [build]\n  script: [dagger call lint]\n",
		want: nil,
	}, {
		name: "unknown needs",
		yaml: "stages: [build, test]\nbuild:" + gitlabJob + "test:\n  stage: test\n  needs: [compile, {job: build}, {job: lint, optional: true}]\n  script: [dagger call test]\n",
		want: []string{`line 6: job "test": needs "compile", which is not a job in this file (hint: name an existing job, or remove the entry)`},
	}, {
		name: "needs itself",
		yaml: "stages: [build]\nbuild:" + gitlabJob + "  needs: [build]\n",
		want: []string{`line 2: job "build": needs itself (hint: remove the job from its own needs)`},
	}, {
		name: "needs a later stage",
		yaml: "stages: [build, test]\nbuild:" + gitlabJob + "  needs: [test]\ntest:\n  stage: test\n  script: [dagger call test]\n",
		want: []string{`line 2: job "build": needs "test", which runs in the later stage "test" (hint: move "test" to stage "build" or earlier, or drop the need)`},
	}, {
		name: "unknown dependency",
		yaml: "stages: [build]\nbuild:" + gitlabJob + "  dependencies: [setup]\n",
		want: []string{`line 2: job "build": depends on "setup", which is not a job in this file (hint: name an existing job, or remove the entry)`},
	}, {
		name: "no dagger call",
		yaml: "stages: [build]\nbuild:\n  stage: build\n  script:\n    - go build ./...\n    - dagger version\n",
		want: []string{"line 2: job \"build\": runs no `dagger call <function>` in its script (hint: a slipway job only sets up the Dagger CLI and runs one `dagger call <function>`; regenerate the file)"},
	}, {
		name: "two dagger calls",
		yaml: "stages: [build]\nbuild:\n  stage: build\n  script:\n    - dagger call build\n    - dagger -m ci call publish --source=.\n",
		want: []string{"line 2: job \"build\": runs 2 different Dagger functions in its script (build, publish); a slipway job runs one (hint: give each Dagger function its own job, or compose them in one Dagger function)"},
	}, {
		name: "call without a function",
		yaml: "stages: [build]\nbuild:\n  stage: build\n  script: [dagger -m ci call --progress plain]\n",
		want: []string{"line 2: job \"build\": `dagger -m ci call --progress plain` names no function (hint: put the function name right after `call` and its flags)"},
	}, {
		name: "function not kebab-case",
		yaml: "stages: [build]\nbuild:\n  stage: build\n  script: [dagger call testUnit]\n",
		want: []string{`line 2: job "build": calls "testUnit", which is not a kebab-case function name (hint: ` + "`dagger call`" + ` spells functions in kebab-case, such as test-unit for TestUnit)`},
	}, {
		name: "function the module does not have",
		yaml: "stages: [build]\nbuild:\n  stage: build\n  script: [\"IMAGE_REF=\\\"$(dagger -m 'my ci' call build --source=.)\\\"\"]\n",
		opts: []lint.Option{lint.WithFunctions("test-unit", "publish")},
		want: []string{`line 2: job "build": calls the Dagger function "build", which the module does not have (it has: publish, test-unit) (hint: rename the call or add the function to the module, then regenerate)`},
	}, {
		name: "script from a template",
		yaml: "stages: [build]\n.call: &call\n  script: [dagger call publish]\nbuild:\n  extends: .call\n  stage: build\nlint:\n  <<: *call\n  stage: build\n",
		opts: []lint.Option{lint.WithFunctions("publish")},
		want: nil,
	}, {
		name: "every problem, in order",
		yaml: "stages: [build]\nbuild:\n  stage: deploy\n  needs: [nope]\n  script: [make]\n  when: later\n",
		opts: []lint.Option{lint.WithFilename("ci.yml")},
		want: []string{
			`line 2: job "build": does not match the GitLab CI schema at /build/when: value must be one of 'on_success', 'on_failure', 'always', 'never', 'manual', 'delayed' (hint: fix the value at /build/when; the keywords are described at https://docs.gitlab.com/ci/yaml/)`,
			`line 2: job "build": stage "deploy" is not declared in stages (hint: add "deploy" to the top-level stages:, or move the job to one of: build)`,
			`line 2: job "build": needs "nope", which is not a job in this file (hint: name an existing job, or remove the entry)`,
			"line 2: job \"build\": runs no `dagger call <function>` in its script (hint: a slipway job only sets up the Dagger CLI and runs one `dagger call <function>`; regenerate the file)",
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := problems(t, lint.GitLab([]byte(tc.yaml), tc.opts...))
			if !slices.Equal(got, tc.want) {
				t.Errorf("problems:\n got: %q\nwant: %q", got, tc.want)
			}
		})
	}
}

// A GitHub job that passes every check, to build the bad cases from.
const githubJob = `
    runs-on: ubuntu-latest
    steps:
      - run: dagger call publish --source=.
`

func TestGitHubProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		opts []lint.Option
		want []string
	}{{
		name: "good",
		yaml: "on: push\njobs:\n  build:" + githubJob,
		want: nil,
	}, {
		name: "not a mapping",
		yaml: "- on: push\n",
		want: []string{`the top level is not a mapping (hint: write the file with a YAML library)`},
	}, {
		name: "schema: unknown event",
		yaml: "on: pushed\njobs:\n  build:" + githubJob,
		want: []string{
			`line 1: does not match the GitHub workflow schema at /on: value must be one of 'branch_protection_rule', 'check_run', 'check_suite', 'create', 'delete', 'deployment', 'deployment_status', 'discussion', 'discussion_comment', 'fork', 'gollum', 'issue_comment', 'issues', 'label', 'merge_group', 'milestone', 'page_build', 'project', 'project_card', 'project_column', 'public', 'pull_request', 'pull_request_review', 'pull_request_review_comment', 'pull_request_target', 'push', 'registry_package', 'release', 'status', 'watch', 'workflow_call', 'workflow_dispatch', 'workflow_run', 'repository_dispatch' (hint: fix the value at /on; the keywords are described at https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax)`,
			`line 1: actionlint: unknown Webhook event "pushed". see https://docs.github.com/en/actions/reference/workflows-and-actions/events-that-trigger-workflows#webhook-events for list of all Webhook event names (hint: actionlint rule "events"; see https://github.com/rhysd/actionlint/blob/v1.7.12/docs/checks.md)`,
		},
	}, {
		name: "schema: timeout is not a number",
		yaml: "on: push\njobs:\n  build:" + githubJob + "    timeout-minutes: soon\n",
		want: []string{
			`line 3: job "build": does not match the GitHub workflow schema at /jobs/build/timeout-minutes: got string, want number (hint: fix the value at /jobs/build/timeout-minutes; the keywords are described at https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax)`,
			`line 7: job "build": actionlint: expecting a single ${{...}} expression or float number literal, but found plain text node (hint: actionlint rule "syntax-check"; see https://github.com/rhysd/actionlint/blob/v1.7.12/docs/checks.md)`,
		},
	}, {
		name: "unknown needs",
		yaml: "on: push\njobs:\n  build:" + githubJob + "  test:\n    needs: [build, test-unit]\n" + strings.TrimPrefix(githubJob, "\n"),
		want: []string{
			`line 7: job "test": needs "test-unit", which is not a job in this workflow (hint: name an existing job id (GitHub ids have "-" where GitLab names have ":"))`,
			`line 7: job "test": actionlint: job "test" needs job "test-unit" which does not exist in this workflow (hint: actionlint rule "job-needs"; see https://github.com/rhysd/actionlint/blob/v1.7.12/docs/checks.md)`,
		},
	}, {
		name: "no dagger call",
		yaml: "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2\n      - run: make\n",
		want: []string{"line 3: job \"build\": runs no `dagger call <function>` in its run steps (hint: a slipway job only sets up the Dagger CLI and runs one `dagger call <function>`; regenerate the file)"},
	}, {
		name: "function the module does not have",
		yaml: "on: push\njobs:\n  build:" + githubJob,
		opts: []lint.Option{lint.WithFunctions("build")},
		want: []string{`line 3: job "build": calls the Dagger function "publish", which the module does not have (it has: build) (hint: rename the call or add the function to the module, then regenerate)`},
	}, {
		name: "script injection",
		yaml: "on: pull_request\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: dagger call publish --title=\"${{ github.event.pull_request.title }}\"\n",
		want: []string{`line 6: job "build": actionlint: "github.event.pull_request.title" is potentially untrusted. avoid using it directly in inline scripts. instead, pass it through an environment variable. see https://docs.github.com/en/actions/reference/security/secure-use#good-practices-for-mitigating-script-injection-attacks for more details (hint: actionlint rule "expression"; see https://github.com/rhysd/actionlint/blob/v1.7.12/docs/checks.md)`},
	}, {
		name: "output of a job not needed",
		yaml: "on: push\njobs:\n  build:" + githubJob + "  test:\n    runs-on: ubuntu-latest\n    steps:\n      - env:\n          IMAGE_REF: ${{ needs.build.outputs.IMAGE_REF }}\n        run: dagger call test --image=\"$IMAGE_REF\"\n",
		want: []string{`line 11: job "test": actionlint: property "build" is not defined in object type {} (hint: actionlint rule "expression"; see https://github.com/rhysd/actionlint/blob/v1.7.12/docs/checks.md)`},
	}, {
		name: "self-hosted label without WithRunnerLabels",
		yaml: "on: push\njobs:\n  build:\n    runs-on: [self-hosted, dagger]\n    steps:\n      - run: dagger call publish\n",
		want: []string{`line 4: job "build": actionlint: label "dagger" is unknown. available labels are "windows-latest", "windows-latest-8-cores", "windows-2025", "windows-2025-vs2026", "windows-2022", "windows-11-arm", "ubuntu-slim", "ubuntu-latest", "ubuntu-latest-4-cores", "ubuntu-latest-8-cores", "ubuntu-latest-16-cores", "ubuntu-24.04", "ubuntu-24.04-arm", "ubuntu-22.04", "ubuntu-22.04-arm", "macos-latest", "macos-latest-xlarge", "macos-latest-large", "macos-26-intel", "macos-26-xlarge", "macos-26-large", "macos-26", "macos-15-intel", "macos-15-xlarge", "macos-15-large", "macos-15", "macos-14-xlarge", "macos-14-large", "macos-14", "self-hosted", "x64", "arm", "arm64", "linux", "macos", "windows". if it is a custom label for self-hosted runner, set list of labels in actionlint.yaml config file (hint: actionlint rule "runner-label"; see https://github.com/rhysd/actionlint/blob/v1.7.12/docs/checks.md)`},
	}, {
		name: "self-hosted label with WithRunnerLabels",
		yaml: "on: push\njobs:\n  build:\n    runs-on: [self-hosted, dagger]\n    steps:\n      - run: dagger call publish\n",
		opts: []lint.Option{lint.WithRunnerLabels("dagger")},
		want: nil,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := problems(t, lint.GitHub([]byte(tc.yaml), tc.opts...))
			if !slices.Equal(got, tc.want) {
				t.Errorf("problems:\n got: %q\nwant: %q", got, tc.want)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	one := &lint.Error{File: ".gitlab-ci.yml", Problems: []lint.Problem{{Job: "build", Line: 3, Message: "needs itself", Hint: "remove it"}}}
	if got, want := one.Error(), `.gitlab-ci.yml: line 3: job "build": needs itself (hint: remove it)`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	two := &lint.Error{File: "ci.yml", Problems: []lint.Problem{{Message: "empty"}, {Job: "a", Message: "b"}}}
	if got, want := two.Error(), "ci.yml: 2 problems:\n  - empty\n  - job \"a\": b"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	err := lint.GitLab([]byte("a: [\n"), lint.WithFilename("x.yml"))
	if err == nil || !strings.HasPrefix(err.Error(), "x.yml: ") {
		t.Errorf("GitLab(...) = %v, want an error naming x.yml", err)
	}
}

// TestWithShellcheck runs shellcheck through actionlint when it is on PATH,
// and otherwise checks that asking for it is reported rather than ignored.
func TestWithShellcheck(t *testing.T) {
	yaml := "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: |\n          echo $1\n          dagger call publish\n"
	got := problems(t, lint.GitHub([]byte(yaml), lint.WithShellcheck()))
	if _, err := exec.LookPath("shellcheck"); err != nil {
		want := []string{`shellcheck was asked for but is not on PATH: exec: "shellcheck": executable file not found in $PATH (hint: install shellcheck, or drop lint.WithShellcheck)`}
		if !slices.Equal(got, want) {
			t.Errorf("without shellcheck:\n got: %q\nwant: %q", got, want)
		}
		return
	}
	if len(got) != 1 || !strings.Contains(got[0], "SC2086") {
		t.Errorf("shellcheck problems = %q, want one SC2086 (unquoted $1)", got)
	}
	if got := problems(t, lint.GitHub([]byte(yaml))); got != nil {
		t.Errorf("without WithShellcheck: %q, want no problems", got)
	}
}

func TestToolchainCalls(t *testing.T) {
	const file = `stages: [build]
build:
  stage: build
  script:
    - dagger call slipway publish --source=.
`
	if err := lint.GitLab([]byte(file), lint.WithToolchain("slipway"), lint.WithFunctions("publish")); err != nil {
		t.Errorf("a toolchain call: %v", err)
	}
	err := lint.GitLab([]byte(file), lint.WithToolchain("slipway"), lint.WithFunctions("build"))
	if want := `calls the Dagger function "publish", which the module does not have (it has: build)`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("an unknown toolchain function: err = %v, want %q", err, want)
	}
	err = lint.GitLab([]byte(strings.Replace(file, "slipway publish", "publish", 1)), lint.WithToolchain("slipway"))
	if want := `calls "publish", not a function of the toolchain "slipway"`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("a call outside the toolchain: err = %v, want %q", err, want)
	}
}
