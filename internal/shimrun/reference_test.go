package shimrun_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/internal/shimrun"
)

// The committed CI files of the reference pipeline (ci/reference), relative
// to the repository root. The runner tests run exactly these bytes.
const (
	referenceGitLab = ".gitlab-ci.yml"
	referenceGitHub = ".github/workflows/ci.yml"
)

// referenceFile reads a committed CI file from the repository root.
func referenceFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(path)))
	if err != nil {
		t.Fatalf("the committed reference CI file: %v (make generate writes it)", err)
	}
	return data
}

// referenceSecrets are the secrets the reference pipeline's jobs read.
var referenceSecrets = secretValues("REGISTRY_PASSWORD", "KUBECONFIG_STAGING", "KUBECONFIG_PRODUCTION", "GIT_PASSWORD", "SIGNING_KEY", "SLIPWAY_TRUSTED_KEYS")

// referenceNames are the GitHub job ids of the reference pipeline's GitLab
// job names.
var referenceNames = githubNames("build", "sbom", "test:unit", "test:integration", "security:trivy", "security:govulncheck", "security:sast", "deploy:staging", "deploy:production")

// referenceCalls are the calls every job of the reference pipeline makes,
// written out from ci/reference/reference.go: the image is pushed once and
// every later job gets its digest; the pipeline variables IMAGE_REPOSITORY
// and REGISTRY_USERNAME and the commit reach publish; secrets only as env://.
func referenceCalls(v vals) []call {
	return []call{
		{"build", []string{"publish", "--repository=registry.example.com/telecom/mts-deploy-ai", "--username=slipway",
			"--password=env://REGISTRY_PASSWORD", "--revision=" + v.SHA, "--insecure=false", "--signing-key=env://SIGNING_KEY", "--source-url=" + anySourceURL}},
		{"sbom", []string{"sbom", "--image=" + v.Image, "reports", "export", "--path=reports/sbom"}},
		{"sbom", []string{"sbom", "--image=" + v.Image, "check"}},
		// Stages with a verdict: the reports are exported first, whatever the
		// outcome, then check decides the job.
		{"test:unit", []string{"test-unit", "reports", "export", "--path=reports/unit"}},
		{"test:unit", []string{"test-unit", "check"}},
		{"test:integration", []string{"test-integration", "--image=" + v.Image, "reports", "export", "--path=reports/integration"}},
		{"test:integration", []string{"test-integration", "--image=" + v.Image, "check"}},
		{"security:trivy", []string{"security-trivy", "--image=" + v.Image, "--db-repository=ghcr.io/aquasecurity/trivy-db:2", "--insecure=false",
			"--registry-username=slipway", "--registry-password=env://REGISTRY_PASSWORD", "--signing-key=env://SIGNING_KEY", "reports", "export", "--path=reports/trivy"}},
		{"security:trivy", []string{"security-trivy", "--image=" + v.Image, "--db-repository=ghcr.io/aquasecurity/trivy-db:2", "--insecure=false",
			"--registry-username=slipway", "--registry-password=env://REGISTRY_PASSWORD", "--signing-key=env://SIGNING_KEY", "check"}},
		{"security:govulncheck", []string{"security-govulncheck", "--image=" + v.Image, "--db-image=",
			"--registry-username=slipway", "--registry-password=env://REGISTRY_PASSWORD", "--signing-key=env://SIGNING_KEY", "reports", "export", "--path=reports/govulncheck"}},
		{"security:govulncheck", []string{"security-govulncheck", "--image=" + v.Image, "--db-image=",
			"--registry-username=slipway", "--registry-password=env://REGISTRY_PASSWORD", "--signing-key=env://SIGNING_KEY", "check"}},
		{"security:sast", []string{"security-sast", "reports", "export", "--path=reports/sast"}},
		{"security:sast", []string{"security-sast", "check"}},
		// The deploys: DEPLOY_SOURCE (empty: the module's setting), the
		// commit and run a GitOps promote commit names, and the git
		// password, only as env://.
		{"deploy:staging", []string{"deploy-staging", "--image=" + v.Image, "--kubeconfig=env://KUBECONFIG_STAGING",
			"--registry-username=slipway", "--registry-password=env://REGISTRY_PASSWORD",
			"--source=" + v.Source, "--revision=" + v.SHA, "--pipeline-id=" + anyPipelineID, "--git-password=env://GIT_PASSWORD",
			"--signing-key=env://SIGNING_KEY"}},
		{"deploy:production", []string{"deploy-production", "--image=" + v.Image, "--kubeconfig=env://KUBECONFIG_PRODUCTION",
			"--registry-username=slipway", "--registry-password=env://REGISTRY_PASSWORD", "--approve=true",
			"--source=" + v.Source, "--revision=" + v.SHA, "--pipeline-id=" + anyPipelineID, "--git-password=env://GIT_PASSWORD",
			"--trusted-keys=env://SLIPWAY_TRUSTED_KEYS", "--require-verification=true", "--signing-key=env://SIGNING_KEY", "--source-url=" + anySourceURL}},
	}
}

// referenceCases are the runs of the reference pipeline, as the issue
// states them: develop deploys to staging only; main and v* tags deploy to
// staging, then to production behind a manual gate; other branches and
// merge requests build, test and scan only. security:sast may fail without
// failing the pipeline; security:trivy may not, and blocks the deploys.
func referenceCases(tr traits) []refCase {
	all := referenceCalls
	staging := func(v vals) []call { return without(referenceCalls(v), "deploy:production") }
	checks := func(v vals) []call { return without(referenceCalls(v), "deploy:staging", "deploy:production") }
	cases := []refCase{{name: "develop", ref: shimrun.Branch("develop"), want: staging}}
	if tr.manualJobs {
		cases = append(cases,
			refCase{name: "main", ref: shimrun.Branch("main"), want: staging},
			refCase{name: "main with production started", ref: shimrun.Branch("main"), manual: []string{"deploy:production"}, want: all},
			refCase{name: "tag", ref: shimrun.Tag("v1.2.3"), want: staging},
			refCase{name: "tag with production started", ref: shimrun.Tag("v1.2.3"), manual: []string{"deploy:production"}, want: all},
		)
	} else {
		cases = append(cases,
			refCase{name: "main", ref: shimrun.Branch("main"), want: all},
			refCase{name: "tag", ref: shimrun.Tag("v1.2.3"), want: all},
		)
	}
	return append(cases, []refCase{
		{
			// One file serves every registry: the CI's own variables
			// replace the file's defaults.
			name: "variables override the defaults", ref: shimrun.Branch("develop"),
			vars: map[string]string{"IMAGE_REPOSITORY": "registry.internal/team/app", "TRIVY_DB_REPOSITORY": "mirror.internal/trivy-db:2"},
			want: func(v vals) []call {
				calls := staging(v)
				for i := range calls {
					for k, a := range calls[i].args {
						calls[i].args[k] = strings.NewReplacer(
							"--repository=registry.example.com/telecom/mts-deploy-ai", "--repository=registry.internal/team/app",
							"--db-repository=ghcr.io/aquasecurity/trivy-db:2", "--db-repository=mirror.internal/trivy-db:2").Replace(a)
					}
				}
				return calls
			},
		},
		{
			// A CI variable switches the deploy source.
			name: "DEPLOY_SOURCE picks the deploy source", ref: shimrun.Branch("develop"),
			vars: map[string]string{"DEPLOY_SOURCE": "helm"},
			want: func(v vals) []call { v.Source = "helm"; return staging(v) },
		},
		{name: "feature branch", ref: shimrun.Branch("feature/x"), want: checks},
		{name: "merge request", ref: shimrun.MergeRequest("feature/x", "main"), want: checks},
		{name: "sast may fail", ref: shimrun.Branch("develop"), fail: []string{"security-sast"}, want: staging, wantFail: tr.allowedFailureFails},
		{
			name: "trivy blocks the deploys", ref: shimrun.Branch("main"), manual: []string{"deploy:production"},
			fail: []string{"security-trivy"}, wantFail: true, want: checks,
		},
		{
			name: "govulncheck blocks the deploys", ref: shimrun.Branch("main"), manual: []string{"deploy:production"},
			fail: []string{"security-govulncheck"}, wantFail: true, want: checks,
		},
	}...)
}
