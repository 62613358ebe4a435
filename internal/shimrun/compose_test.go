package shimrun_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/slipway-ci/slipway/internal/e2e"
	"github.com/slipway-ci/slipway/internal/githost"
	"github.com/slipway-ci/slipway/internal/shimrun"
	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/github"
	"github.com/slipway-ci/slipway/pipeline/gitlab"
)

// TestGitLabIncludesFetched runs a generated .gitlab-ci.yml whose includes
// gitlab-ci-local really fetches, with their typed inputs: a remote file
// over HTTPS (pinned by Integrity), a file of another project at a commit,
// and a CI/CD component at a release, both from a real git server (git
// http-backend), which is where gitlab-ci-local looks for projects and
// components: the host of the repository's origin. Each included job
// prints the inputs it got, so the test sees that the generated include
// passed them. GitLab's own templates are the one kind left out: they come
// from gitlab.com, which the tests do not reach (the includes feature's
// golden file and lint cover them).
func TestGitLabIncludesFetched(t *testing.T) {
	tool := requireTool(t, shimrun.FindGitLabCILocal)
	// The git server: a templates project and a component project.
	host, root := gitHost(t)
	hostURL, err := url.Parse(host.HTTPURL("x"))
	if err != nil {
		t.Fatal(err)
	}
	templates := publish(t, root, "acme/ci-templates", map[string]string{
		"go.gitlab-ci.yml": `spec:
  inputs:
    go-version:
      description: The Go release the lint job runs.
---
go-lint:
  stage: test
  script:
    - echo "included job $CI_JOB_NAME ran with go $[[ inputs.go-version ]]"
`,
	})
	// gitlab-ci-local clones a project include with `git clone --branch
	// REF`, which takes ref names only, where GitLab resolves a commit SHA
	// itself: a branch named after the commit lets it find the commit the
	// include pins.
	gitIn(t, filepath.Join(root, "acme/ci-templates.git"), "branch", templates, templates)
	component := publish(t, root, "components/lint", map[string]string{
		"templates/vet/template.yml": `spec:
  inputs:
    root_dir:
      default: .
    stage:
      default: test
---
vet:
  stage: $[[ inputs.stage ]]
  script:
    - echo "included job $CI_JOB_NAME ran in $[[ inputs.root_dir ]]"
`,
	})
	gitIn(t, filepath.Join(root, "components/lint.git"), "tag", "1.2.3", component)

	// The remote file, over HTTPS, trusted by gitlab-ci-local (Node) through
	// NODE_EXTRA_CA_CERTS.
	scan := []byte(`spec:
  inputs:
    severity:
      options: [HIGH, CRITICAL]
---
scan:
  stage: test
  script:
    - echo "included job $CI_JOB_NAME ran with severity $[[ inputs.severity ]]"
`)
	var fetched atomic.Int32
	web := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ci/scan.yml" {
			http.NotFound(w, r)
			return
		}
		fetched.Add(1)
		w.Write(scan)
	}))
	t.Cleanup(web.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: web.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(scan)

	p, err := pipeline.New("includes-fetched",
		pipeline.Stages("build", "test"),
		pipeline.Includes(
			pipeline.Include{Remote: web.URL + "/ci/scan.yml", Integrity: "sha256-" + base64.StdEncoding.EncodeToString(sum[:]),
				Inputs: map[string]string{"severity": "CRITICAL"}},
			pipeline.Include{Project: "acme/ci-templates", File: "/go.gitlab-ci.yml", Ref: templates,
				Inputs: map[string]string{"go-version": "1.26"}},
			pipeline.Include{Component: hostURL.Host + "/components/lint/vet@1.2.3",
				Inputs: map[string]string{"root_dir": "infra"},
				Interface: &pipeline.Interface{Inputs: []pipeline.InputSpec{
					{Name: "root_dir", Default: "."}, {Name: "stage", Default: "test"}}}},
		),
		pipeline.Job("build", pipeline.Stage("build"), pipeline.When(pipeline.OnBranches()),
			pipeline.Calls(pipeline.Fn("build", pipeline.Dir("source", ".")))))
	if err != nil {
		t.Fatal(err)
	}
	yml, err := gitlab.Generate(p)
	if err != nil {
		t.Fatal(err)
	}
	// The origin is the git server: gitlab-ci-local fetches projects and
	// components from its host.
	remote := host.HTTPURL("team/app")
	res, _ := runOnce(t, shimrun.GitLab{Tool: tool}, map[string][]byte{".gitlab-ci.yml": yml}, remote, shimrun.Branch("main"),
		shimrun.Run{Env: []string{"NODE_EXTRA_CA_CERTS=" + ca}})
	out := string(res.Output)
	if res.ExitCode != 0 {
		t.Fatalf("gitlab-ci-local exited %d, want the pipeline with its includes to pass\n%s", res.ExitCode, outputTail(res.Output))
	}
	for _, want := range []string{
		"included job scan ran with severity CRITICAL",
		"included job go-lint ran with go 1.26",
		"included job vet ran in infra",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q: the include was not fetched or its inputs did not reach it\n%s", want, outputTail(res.Output))
		}
	}
	if fetched.Load() == 0 {
		t.Error("gitlab-ci-local never fetched the remote include from the HTTPS server")
	}
	calls := observed(t, res.Invocations, nil)
	if len(calls) != 1 || calls[0].job != "build" {
		t.Errorf("dagger calls = %v, want the build job's one", calls)
	}
}

// TestGitHubReusableWorkflowFetched runs a generated workflow whose deploy
// job calls a reusable workflow of another repository, pinned to a commit
// SHA, with inputs and a secret: act fetches that workflow with git from a
// real git server (GITHUB_SERVER_URL, as on GitHub Enterprise Server, read
// from the repository's .env as act reads it), runs its job, and the job
// prints what it got. The server allows fetching a commit by SHA, as
// GitHub does.
func TestGitHubReusableWorkflowFetched(t *testing.T) {
	tool := requireTool(t, shimrun.FindAct)
	host, root := gitHost(t)
	server := strings.TrimSuffix(host.HTTPURL("x"), "/x.git")
	sha := publish(t, root, "acme/deploy", map[string]string{
		".github/workflows/deploy.yml": `name: deploy
on:
  workflow_call:
    inputs:
      environment:
        type: string
        required: true
      dry-run:
        type: boolean
        default: false
    secrets:
      kubeconfig:
        required: true
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - env:
          KUBECONFIG_SET: ${{ secrets.kubeconfig != '' }}
        run: echo "called workflow ran for ${{ inputs.environment }}, dry run ${{ inputs.dry-run }}, kubeconfig given $KUBECONFIG_SET"
`,
	})
	gitIn(t, filepath.Join(root, "acme/deploy.git"), "config", "uploadpack.allowAnySHA1InWant", "true")

	p, err := pipeline.New("reusable-fetched",
		pipeline.Stages("build", "deploy"),
		pipeline.Job("build", pipeline.Stage("build"), pipeline.When(pipeline.OnBranches()),
			pipeline.Calls(pipeline.Fn("build", pipeline.Dir("source", ".")))),
		pipeline.Job("deploy", pipeline.Stage("deploy"), pipeline.Needs("build"), pipeline.When(pipeline.OnBranches("main")),
			pipeline.CallsWorkflow(pipeline.Workflow{
				Uses:    "acme/deploy/.github/workflows/deploy.yml@" + sha,
				With:    map[string]string{"environment": "staging", "dry-run": "true"},
				Secrets: map[string]string{"kubeconfig": "STAGING_KUBECONFIG"},
				Interface: &pipeline.Interface{
					Inputs: []pipeline.InputSpec{
						{Name: "environment", Required: true},
						{Name: "dry-run", Type: pipeline.BooleanInput, Default: "false"},
					},
					Secrets: []string{"kubeconfig"},
				},
			})))
	if err != nil {
		t.Fatal(err)
	}
	yml, err := github.Generate(p)
	if err != nil {
		t.Fatal(err)
	}
	const path = ".github/workflows/ci.yml"
	files := map[string][]byte{path: yml, ".env": []byte("GITHUB_SERVER_URL=" + server + "\n")}
	res, _ := runOnce(t, shimrun.GitHub{Tool: tool, Workflow: path}, files, githubRemote, shimrun.Branch("main"),
		shimrun.Run{Secrets: map[string]string{"STAGING_KUBECONFIG": "apiVersion: v1", "GITHUB_TOKEN": "job-token"}})
	out := string(res.Output)
	if res.ExitCode != 0 {
		t.Fatalf("act exited %d, want the workflow and the one it calls to pass\n%s", res.ExitCode, outputTail(res.Output))
	}
	if want := "called workflow ran for staging, dry run true, kubeconfig given true"; !strings.Contains(out, want) {
		t.Errorf("the output lacks %q: the called workflow was not fetched, or its inputs and secret did not reach it\n%s", want, outputTail(res.Output))
	}
	if !strings.Contains(out, server+"/acme/deploy") {
		t.Errorf("act did not fetch the called workflow from the git server %s\n%s", server, outputTail(res.Output))
	}
	calls := observed(t, res.Invocations, githubNames("build", "deploy"))
	if len(calls) != 1 || calls[0].job != "build" {
		t.Errorf("dagger calls = %v, want the build job's one", calls)
	}
}

// gitHost serves the bare repositories under a temporary root over HTTP
// with the real git http-backend, until the test ends; without git the
// component is unavailable (a failure with SLIPWAY_REQUIRE_E2E=1).
func gitHost(t *testing.T) (*githost.Host, string) {
	t.Helper()
	root := t.TempDir()
	host, err := githost.Start(root, "", "")
	if err != nil {
		e2e.Unavailable(t, err)
	}
	t.Cleanup(host.Close)
	return host, root
}

// publish makes a bare repository NAME.git under root holding files in one
// commit on main, and returns the commit's SHA.
func publish(t *testing.T, root, name string, files map[string]string) string {
	t.Helper()
	work := t.TempDir()
	gitIn(t, work, "init", "-q", "-b", "main")
	for path, data := range files {
		if err := os.MkdirAll(filepath.Join(work, filepath.Dir(path)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, path), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitIn(t, work, "add", ".")
	gitIn(t, work, "-c", "user.name=slipway", "-c", "user.email=slipway@example.com", "commit", "-q", "-m", "publish "+name)
	bare := filepath.Join(root, name+".git")
	if err := os.MkdirAll(filepath.Dir(bare), 0o755); err != nil {
		t.Fatal(err)
	}
	gitIn(t, "", "clone", "-q", "--bare", work, bare)
	return strings.TrimSpace(gitIn(t, work, "rev-parse", "HEAD"))
}

// gitIn runs git in dir (the current directory when empty).
func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	if dir != "" {
		args = append([]string{"-C", dir}, args...)
	}
	cmd := exec.Command("git", args...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}
