package runnerse2e

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/slipway-ci/slipway/deploy/attest"
	"github.com/slipway-ci/slipway/internal/clustertest"
	"github.com/slipway-ci/slipway/internal/e2e"
	"github.com/slipway-ci/slipway/internal/engine"
	"github.com/slipway-ci/slipway/internal/enginetest"
	"github.com/slipway-ci/slipway/internal/hostport"
	"github.com/slipway-ci/slipway/internal/secretscan"
	"github.com/slipway-ci/slipway/internal/shimrun"
	"github.com/slipway-ci/slipway/pipeline/local"
)

// The reference pipeline's deploy namespaces: the CI files deploy to the
// functions' defaults, so the test uses them too (make demo does as well).
var namespaces = []string{"mts-deploy-ai-staging", "mts-deploy-ai"}

// deploymentName is the example service's Deployment.
const deploymentName = "mts-deploy-ai"

// The remote every test repository names: act derives the repository
// (and so github.repository) from it, gitlab-ci-local the project path.
const origin = "https://github.com/slipway-ci/slipway.git"

// run is what one way of running the pipeline produced.
type run struct {
	name string
	// output is everything it printed.
	output []byte
	// dirs hold what it wrote: work trees, artifacts, reports.
	dirs []string
	// results are what the run must agree on with the others.
	results results
}

// TestReferencePipelineOnEveryRunner runs the reference pipeline for a push
// to main three ways: gitlab-ci-local (with the manual production job
// started), act, and `dagger call ci`. The two runners must succeed through
// the production deploy, and all three must agree on the image digest, the
// test counts and the Trivy and gosec findings. Then every log, work tree,
// artifact and report of the three, the committed CI files and the pushed
// image with everything attached to it are searched for the secret values
// the runs were given.
func TestReferencePipelineOnEveryRunner(t *testing.T) {
	eng := enginetest.Require(t)
	cl := clustertest.Require(t)
	gitlab := requireTool(t, shimrun.FindGitLabCILocal)
	act := requireTool(t, shimrun.FindAct)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()

	root := repoRoot(t)
	files := committedFiles(t, root)
	// gitlab-ci-local cannot start the docker:dind service that gives
	// DockerEngine jobs their engine on GitLab.com: those jobs use the local
	// engine instead, as on runners that provide one (the runs' Env names
	// it). Nothing else in the file changes; see shimrun.StandInDockerEngine.
	gl, dind, err := shimrun.StandInDockerEngine(files[".gitlab-ci.yml"])
	if err != nil {
		t.Fatal(err)
	}
	if dind != nil {
		t.Logf("the dind jobs %v run with the local engine", dind)
		files[".gitlab-ci.yml"] = gl
	}
	tmp := t.TempDir()

	// The secrets: a password no one could guess, and the cluster's
	// private key as the kubeconfig carries it.
	password := "slipway-canary-" + randomHex(t, 12)
	keyData, keyLine := clientKey(t, cl.EngineKubeconfig)
	// The signing key, which signs the image, its SBOM and provenance and
	// the evidence, must not leak either: its PEM and its first line of
	// key material. The gate trusts its public half.
	signingKey, trustedKey, err := attest.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	signingLine := strings.Split(string(signingKey), "\n")[1]
	scanner, err := secretscan.New(password, keyData, keyLine, string(signingKey), signingLine)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{
		"REGISTRY_PASSWORD":     password,
		"KUBECONFIG_STAGING":    string(cl.EngineKubeconfig),
		"KUBECONFIG_PRODUCTION": string(cl.EngineKubeconfig),
		"SIGNING_KEY":           string(signingKey),
		"SLIPWAY_TRUSTED_KEYS":  string(trustedKey),
	}
	// Each run pushes to a repository of its own: the digests must agree
	// although nothing is shared but the engine's cache.
	runID := randomHex(t, 4)
	repository := func(who string) string {
		return engine.BridgeIP + ":5000/slipway-e2e-" + runID + "/" + who
	}
	variables := func(who string) map[string]string {
		return map[string]string{
			"IMAGE_REPOSITORY":    repository(who),
			"REGISTRY_INSECURE":   "true",
			"TRIVY_DB_REPOSITORY": engine.MirrorBridgeAddr + "/aquasecurity/trivy-db:2",
			"TRIVY_DB_INSECURE":   "true",
			"GOVULNDB_IMAGE":      engine.MirrorBridgeAddr + "/" + engine.VulnDBRef,
		}
	}
	// A `make demo DEPLOY=gitops` on this cluster leaves Argo CD syncing
	// these namespaces; its selfHeal would undo the runners' deploys.
	cl.ReleaseFromArgoCD(t, namespaces...)
	ensureNamespaces(t, cl)

	// Production starts empty, so that only an approved job can put the
	// service there.
	deleteDeployment(t, cl, namespaces[1])

	var runs []*run
	var sha string
	for _, r := range []struct {
		runner shimrun.Runner
		// gated: production waits for a person (GitLab's manual job), who
		// then starts it in a second run.
		gated bool
	}{
		{runner: shimrun.GitLab{Tool: gitlab}, gated: true},
		{runner: shimrun.GitHub{Tool: act, Workflow: ".github/workflows/ci.yml"}},
	} {
		who := r.runner.Name()
		dir := filepath.Join(tmp, who)
		repo, err := shimrun.NewRepo(ctx, filepath.Join(dir, "repo"), origin, files, shimrun.Branch("main"))
		if err != nil {
			t.Fatal(err)
		}
		sha = repo.SHA
		spec := shimrun.Run{
			Repo:      repo,
			DaggerDir: eng.Env.BinDir,
			Env:       engineVars(eng),
			Secrets:   secrets,
			Variables: variables(who),
			TempDir:   dir,
		}
		res := runPipeline(t, ctx, r.runner, spec)
		ran := &run{name: who, output: res.Output, dirs: []string{dir}}
		ran.results = collect(t, who, dir, repository(who), res.Output)
		assertDeployed(t, cl, namespaces[0], ran.results.image)
		if r.gated {
			// GitLab read the coverage from the job's log, also when the
			// stage came from Dagger's cache (the earlier runs of the same
			// source make that likely).
			if m := regexp.MustCompile(`test:unit\s+(\d+\.\d+)% coverage`).FindSubmatch(res.Output); m == nil || string(m[1]) == "0.0" {
				t.Errorf("%s: test:unit shows no coverage (the job log lacks the total line GitLab's regex reads):\n%s", who, tail(res.Output))
			}
			// The push stops at the gate: nothing reached production.
			if strings.Contains(string(res.Output), "namespace "+namespaces[1]+",") {
				t.Errorf("%s: production deployed without its manual job being started", who)
			}
			assertNotDeployed(t, cl, namespaces[1])
			// A person starts the manual job; it takes IMAGE_REF from the
			// build job's artifacts of the run above.
			spec.Manual, spec.Jobs = []string{"deploy:production"}, []string{"deploy:production"}
			res = runPipeline(t, ctx, r.runner, spec)
			ran.output = append(ran.output, res.Output...)
		}
		// Both deploys ran, with the digest the build job pushed.
		for _, ns := range namespaces {
			if !strings.Contains(string(ran.output), "namespace "+ns+",") {
				t.Errorf("%s: no deploy to namespace %s in the output:\n%s", who, ns, tail(ran.output))
			}
			assertDeployed(t, cl, ns, ran.results.image)
		}
		runs = append(runs, ran)
	}

	// The command line: `dagger call ci` on a third copy of the same commit.
	cli := &run{name: "dagger -m ci call slipway ci", dirs: []string{filepath.Join(tmp, "cli")}}
	repo, err := shimrun.NewRepo(ctx, filepath.Join(tmp, "cli", "repo"), origin, files, shimrun.Branch("main"))
	if err != nil {
		t.Fatal(err)
	}
	if repo.SHA != sha {
		t.Fatalf("the same files gave commits %s and %s: the runs would build different revisions", sha, repo.SHA)
	}
	args := []string{"-m", "ci", "call", "slipway", "ci", "--revision=" + sha, "--repository=" + repository("cli"), "--insecure",
		"--username=slipway", "--password=env://REGISTRY_PASSWORD",
		"--db-repository=" + engine.MirrorBridgeAddr + "/aquasecurity/trivy-db:2", "--db-insecure",
		"--govuln-db-image=" + engine.MirrorBridgeAddr + "/" + engine.VulnDBRef}
	reportsDir := filepath.Join(tmp, "cli", "reports")
	for _, chain := range [][]string{{"summary"}, {"reports", "export", "--path=" + reportsDir}} {
		cmd := eng.Command(ctx, repo.Dir, append(append([]string{"--progress=plain"}, args...), chain...)...)
		cmd.Env = append(cmd.Env, "REGISTRY_PASSWORD="+password)
		out, err := cmd.CombinedOutput()
		cli.output = append(cli.output, out...)
		if err != nil {
			reported := "no Dagger error in the output"
			if f, ok := local.ParseFailure(string(out)); ok {
				reported = f.String()
			}
			t.Fatalf("dagger %s: %v\nDagger reported: %s\n%s", strings.Join(append(args, chain...), " "), err, reported, tail(out))
		}
	}
	cli.results = collect(t, cli.name, filepath.Join(tmp, "cli"), repository("cli"), cli.output)
	runs = append(runs, cli)

	compare(t, runs)
	t.Logf("all three agree: image digest %s; unit tests %s; integration tests %s; trivy %v; gosec %v",
		cli.results.digest, cli.results.unit, cli.results.integration, cli.results.trivy, cli.results.gosec)

	// The scanner is armed: each secret, as the runs got it, is found.
	for name, v := range map[string]string{"password": password, "kubeconfig": secrets["KUBECONFIG_STAGING"]} {
		if f, err := scanner.Bytes("control", []byte("log line: "+v+"\n")); err != nil || len(f) == 0 {
			t.Fatalf("the scanner does not find the %s it must look for (%v)", name, err)
		}
	}

	// No secret anywhere: logs, work trees (with the CI files the runners
	// read and their artifacts), reports, and every pushed image with its
	// referrers (scan and deploy evidence).
	var found secretscan.Findings
	for _, r := range runs {
		f, err := scanner.Bytes(r.name+" output", r.output)
		if err != nil {
			t.Fatal(err)
		}
		found = append(found, f...)
		for _, d := range r.dirs {
			f, err := scanner.Dir(d, secretscan.Skip(".git"))
			if err != nil {
				t.Fatal(err)
			}
			found = append(found, f...)
		}
	}
	for _, p := range []string{".gitlab-ci.yml", ".github/workflows/ci.yml"} {
		f, err := scanner.File(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		found = append(found, f...)
	}
	images := scanImages(t, ctx, eng, scanner, runs)
	found = append(found, images...)
	// A leak planted where the runs wrote must be the one finding the
	// walk adds: the search reaches those trees.
	planted := filepath.Join(runs[0].dirs[0], "planted-leak.log")
	if err := os.WriteFile(planted, []byte("token="+password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withPlant, err := scanner.Dir(runs[0].dirs[0], secretscan.Skip(".git"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(withPlant, func(f secretscan.Finding) bool { return strings.HasSuffix(f.Where, "planted-leak.log") }) {
		t.Errorf("a password planted in %s was not found: the search does not reach the runs' files", planted)
	}
	if err := found.Err(); err != nil {
		t.Error(err)
	}
}

// scanImages searches each run's pushed image, its manifests, config,
// layers and referrers, in the engine's mirror, which the host reaches
// through the engine's network namespace.
func scanImages(t *testing.T, ctx context.Context, eng *enginetest.Engine, s *secretscan.Scanner, runs []*run) secretscan.Findings {
	t.Helper()
	ns, err := engine.Namespace(eng.Env)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = hostport.DialerIn(ns)
	var out secretscan.Findings
	for _, r := range runs {
		// As the engine sees its mirror: the same repository on 127.0.0.1.
		ref, err := name.ParseReference(strings.Replace(r.results.image, engine.BridgeIP+":5000", engine.MirrorAddr, 1), name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		f, err := s.Image(ctx, ref, remote.WithTransport(tr), remote.WithContext(ctx))
		if err != nil {
			t.Fatalf("scanning %s: %v", ref, err)
		}
		out = append(out, f...)
	}
	return out
}

// compare fails unless every run agrees with the first on the digest, the
// test counts and the findings.
func compare(t *testing.T, runs []*run) {
	t.Helper()
	want := runs[0]
	for _, r := range runs[1:] {
		a, b := want.results, r.results
		if a.digest != b.digest {
			t.Errorf("image digest: %s %s, %s %s", want.name, a.digest, r.name, b.digest)
		}
		if a.unit != b.unit {
			t.Errorf("unit tests: %s %s, %s %s", want.name, a.unit, r.name, b.unit)
		}
		if a.integration != b.integration {
			t.Errorf("integration tests: %s %s, %s %s", want.name, a.integration, r.name, b.integration)
		}
		if !slices.Equal(a.trivy, b.trivy) {
			t.Errorf("trivy findings: %s %v, %s %v", want.name, a.trivy, r.name, b.trivy)
		}
		if !slices.Equal(a.gosec, b.gosec) {
			t.Errorf("gosec findings: %s %v, %s %v", want.name, a.gosec, r.name, b.gosec)
		}
	}
	// Agreement on nothing proves nothing.
	for _, r := range runs {
		if r.results.unit.Tests == 0 || r.results.integration.Tests == 0 {
			t.Errorf("%s: no tests counted (unit %s, integration %s)", r.name, r.results.unit, r.results.integration)
		}
	}
}

// engineVars are the variables that point a dagger CLI at the engine; PATH
// is left out, the runner's DaggerDir puts this CLI first.
func engineVars(eng *enginetest.Engine) []string {
	return slices.DeleteFunc(eng.Env.Environ(nil), func(kv string) bool { return strings.HasPrefix(kv, "PATH=") })
}

// ensureNamespaces creates the deploy namespaces when missing (the deploy
// functions refuse a namespace that does not exist).
func ensureNamespaces(t *testing.T, cl *clustertest.Cluster) {
	t.Helper()
	for _, ns := range namespaces {
		_, err := cl.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("namespace %s: %v", ns, err)
		}
	}
}

// runPipeline runs spec on r and fails the test unless the pipeline
// succeeded.
func runPipeline(t *testing.T, ctx context.Context, r shimrun.Runner, spec shimrun.Run) *shimrun.Result {
	t.Helper()
	res, err := r.Run(ctx, spec)
	if err != nil {
		t.Fatalf("%s: %v", r.Name(), err)
	}
	what := "the pipeline"
	if len(spec.Jobs) > 0 {
		what = strings.Join(spec.Jobs, ", ")
	}
	t.Logf("%s, %s: exit %d in %s", r.Name(), what, res.ExitCode, res.Duration.Round(time.Second))
	if res.ExitCode != 0 {
		t.Fatalf("%s: %s failed (exit %d):\n%s", r.Name(), what, res.ExitCode, shimrun.FailureReport(r.Name(), res))
	}
	return res
}

// deleteDeployment removes the service from ns, if it is there.
func deleteDeployment(t *testing.T, cl *clustertest.Cluster, ns string) {
	t.Helper()
	err := cl.Client.AppsV1().Deployments(ns).Delete(context.Background(), deploymentName, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("deleting Deployment %s/%s: %v", ns, deploymentName, err)
	}
}

// assertNotDeployed checks that the service is not in ns.
func assertNotDeployed(t *testing.T, cl *clustertest.Cluster, ns string) {
	t.Helper()
	_, err := cl.Client.AppsV1().Deployments(ns).Get(context.Background(), deploymentName, metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("Deployment %s/%s: want none before approval, got err=%v", ns, deploymentName, err)
	}
}

// assertDeployed checks that the service's Deployment in ns runs image.
func assertDeployed(t *testing.T, cl *clustertest.Cluster, ns, image string) {
	t.Helper()
	d, err := cl.Client.AppsV1().Deployments(ns).Get(context.Background(), deploymentName, metav1.GetOptions{})
	if err != nil {
		t.Errorf("Deployment %s/%s: %v", ns, deploymentName, err)
		return
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Image == image {
			return
		}
	}
	t.Errorf("Deployment %s/%s does not run %s: %v", ns, deploymentName, image, d.Spec.Template.Spec.Containers)
}

// clientKey returns the kubeconfig's client key as it stands there
// (base64) and one line of its PEM body: either in a log or a layer would
// be a leak.
func clientKey(t *testing.T, kubeconfig []byte) (data, line string) {
	t.Helper()
	cfg, err := clientcmd.Load(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range cfg.AuthInfos {
		// client-key-data is the PEM in standard base64.
		if lines := strings.Split(string(a.ClientKeyData), "\n"); len(lines) >= 3 {
			return base64.StdEncoding.EncodeToString(a.ClientKeyData), lines[1]
		}
	}
	t.Fatal("the kubeconfig has no PEM client key")
	return "", ""
}

// repoRoot is the slipway checkout the test runs in.
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, _ := os.Getwd()
	root, ok := engine.FindRepo(wd)
	if !ok {
		t.Fatal("not in the slipway checkout")
	}
	return root
}

// committedFiles reads the files of the checkout's HEAD commit: what a
// clone of it holds, and what CI runs (work in progress beside it, in a
// shared work tree, stays out).
func committedFiles(t *testing.T, root string) map[string][]byte {
	t.Helper()
	cmd := exec.Command("git", "-C", root, "archive", "--format=tar", "HEAD")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("git archive: %v", err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("git archive: %v", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = b
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("git archive: %v", err)
	}
	return files
}

func requireTool(t *testing.T, find func() (shimrun.Tool, error)) shimrun.Tool {
	t.Helper()
	tool, err := find()
	if err != nil {
		e2e.Unavailable(t, err)
	}
	return tool
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// tail is the end of a long output, for failure messages.
func tail(b []byte) string {
	const max = 8000
	if len(b) > max {
		return "...\n" + string(b[len(b)-max:])
	}
	return string(b)
}

// results are the outcomes the runs must agree on.
type results struct {
	// image is the pushed reference, repository@sha256:..., and digest its
	// digest: the repositories differ per run, the digests must not.
	image, digest string
	unit          counts
	integration   counts
	// trivy lists "target: vulnerability ID" (empty for a clean image) and
	// the targets scanned; gosec lists "rule file:line" and its stats.
	trivy []string
	gosec []string
}

// counts are a JUnit report's totals.
type counts struct{ Tests, Failures, Errors, Skipped int }

func (c counts) String() string {
	return fmt.Sprintf("%d tests, %d failures, %d errors, %d skipped", c.Tests, c.Failures, c.Errors, c.Skipped)
}

// collect reads a run's results: the digest from its output, and the
// reports it exported, found anywhere under dir (gitlab-ci-local keeps
// artifacts in .gitlab-ci-local, act leaves them in its work tree).
func collect(t *testing.T, who, dir, repository string, output []byte) results {
	t.Helper()
	var r results
	digests := map[string]bool{}
	for _, m := range regexp.MustCompile(regexp.QuoteMeta(repository)+`@(sha256:[0-9a-f]{64})`).FindAllSubmatch(output, -1) {
		digests[string(m[1])] = true
	}
	// The deploy functions print "<env>: namespace <ns>, <digest>, ...".
	for _, m := range regexp.MustCompile(`namespace mts-deploy-ai\S*[^\n]*?(sha256:[0-9a-f]{64})`).FindAllSubmatch(output, -1) {
		digests[string(m[1])] = true
	}
	switch len(digests) {
	case 0:
		t.Fatalf("%s: no digest of %s in the output:\n%s", who, repository, tail(output))
	case 1:
	default:
		t.Fatalf("%s: more than one digest in the output: %v", who, digests)
	}
	for d := range digests {
		r.digest = d
	}
	r.image = repository + "@" + r.digest
	r.unit = junitCounts(t, findReport(t, who, dir, "reports/unit/junit.xml"))
	r.integration = junitCounts(t, findReport(t, who, dir, "reports/integration/junit.xml"))
	r.trivy = trivyFindings(t, findReport(t, who, dir, "reports/trivy/trivy.json"))
	r.gosec = gosecFindings(t, findReport(t, who, dir, "reports/sast/gosec.json"))
	return r
}

// findReport returns the first file under dir whose path ends in suffix.
func findReport(t *testing.T, who, dir, suffix string) string {
	t.Helper()
	var found []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(filepath.ToSlash(p), "/"+suffix) {
			found = append(found, p)
		}
		return nil
	})
	if len(found) == 0 {
		t.Fatalf("%s: no %s under %s", who, suffix, dir)
	}
	slices.Sort(found)
	return found[0]
}
