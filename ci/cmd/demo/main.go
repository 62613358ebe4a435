// Command demo runs the reference pipeline on this machine, as CI would run
// it on a push: every job's own `dagger call` lines against the local
// engine, in the order the pipeline's needs and stages impose. It stops at
// the production gate and says how to approve it, prints a summary table
// and draws the pipeline with each job's outcome.
//
// `make demo` brings up the engine and runs it; `make demo APPROVE=deploy:production`
// approves the gate. `make demo DEPLOY=helm` (or gitops, or apply, the
// default) deploys from that source: the deploy jobs' DEPLOY_SOURCE.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/slipway-ci/slipway/ci/reference"
	"github.com/slipway-ci/slipway/deploy/attest"
	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/graph"
	"github.com/slipway-ci/slipway/pipeline/local"
	"github.com/slipway-ci/slipway/stage/govulncheck/vulndb"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		var failed errFailed
		if errors.As(err, &failed) {
			os.Exit(1)
		}
		os.Exit(2)
	}
}

// errFailed means the pipeline ran and a job failed.
type errFailed struct{ jobs []string }

func (e errFailed) Error() string { return "failed jobs: " + strings.Join(e.jobs, ", ") }

func run() error {
	ref := flag.String("ref", "main", "the branch (or, with -tag, the tag) the pipeline runs for")
	tag := flag.Bool("tag", false, "the ref is a tag")
	approve := flag.String("approve", "", "comma-separated jobs to approve, such as deploy:production")
	repo := flag.String("repo", "..", "the repository root, where the jobs run")
	out := flag.String("out", "../.slipway/demo", "where to write the pipeline drawing")
	registry := flag.String("registry", "10.87.0.1:5000", "the plain-HTTP registry the engine's containers reach: `make engine`'s mirror, where the demo pushes the image and finds the Trivy DB")
	kubeconfigPath := flag.String("kubeconfig", "../.slipway/cluster/kubeconfig", "the local cluster's kubeconfig, written by `make cluster`; the demo creates the deploy namespaces with it")
	source := flag.String("deploy", "apply", "the deploy source: apply (the kustomize overlays), helm (the chart) or gitops (promote commits into the local git server's repository, synced by Argo CD; make gitops)")
	engineKubeconfigPath := flag.String("engine-kubeconfig", "../.slipway/cluster/kubeconfig-engine", "the same cluster as the engine's containers reach it (https://10.87.0.1:16443), written by `make cluster`: the deploy jobs' KUBECONFIG_STAGING and KUBECONFIG_PRODUCTION")
	flag.Parse()

	switch *source {
	case "apply", "helm", "gitops":
	default:
		return fmt.Errorf("-deploy=%q: want apply, helm or gitops", *source)
	}
	if os.Getenv("_EXPERIMENTAL_DAGGER_RUNNER_HOST") == "" {
		return errors.New("no Dagger engine configured: run `make demo` (it starts the local engine), or `make engine` and `. .slipway/engine.env` first")
	}
	if _, err := exec.LookPath("dagger"); err != nil {
		return errors.New("the dagger CLI is not on PATH: `. .slipway/engine.env` puts the engine's own CLI there")
	}
	p, err := reference.Pipeline()
	if err != nil {
		return err
	}
	event := pipeline.Push
	if *tag {
		event = pipeline.TagPush
	}

	// Every job's full log, one file per job, in a directory per run.
	runID := time.Now().Format("20060102-150405")
	logDir := filepath.Join(*out, "logs", runID)
	opts := []local.Option{
		local.WithRunner(local.Shell{Dir: *repo}),
		local.WithProgress(os.Stderr),
		local.WithSummary("summary"),
		local.WithLogDir(logDir),
		// A module that failed to load ran nothing: one more attempt is
		// safe, and it outlives Dagger v0.19.10's known transient load
		// failures (pipeline/local.RetryModuleLoad).
		local.RetryModuleLoad(1),
		local.WithEnv("CI_COMMIT_SHA", gitHead(*repo)),
		local.WithEnv("CI_COMMIT_REF_NAME", *ref),
		local.WithEnv("CI_PIPELINE_ID", fmt.Sprint(time.Now().Unix())),
	}
	// The local registry and DB mirror, as a CI project would set them in
	// its CI/CD variables.
	opts = append(opts,
		local.WithEnv("IMAGE_REPOSITORY", *registry+"/telecom/mts-deploy-ai"),
		local.WithEnv("REGISTRY_INSECURE", "true"),
		local.WithEnv("TRIVY_DB_REPOSITORY", *registry+"/aquasecurity/trivy-db:2"),
		local.WithEnv("TRIVY_DB_INSECURE", "true"),
	)
	// The deploy jobs run their CI lines unchanged: the engine forwards the
	// local API server's port into its network (make engine), so the
	// kubeconfig naming 10.87.0.1 works from inside, as a CI runner's
	// cluster would.
	// The deploy jobs read DEPLOY_SOURCE, as a CI/CD variable would set it.
	opts = append(opts, local.WithEnv("DEPLOY_SOURCE", *source))
	set := map[string]string{}
	if kubeconfig, err := os.ReadFile(*kubeconfigPath); err == nil {
		if err := prepareCluster(kubeconfig, *source); err != nil {
			return err
		}
	}
	// The evidence is signed with a throwaway key pair made once for the
	// demo; production's gate trusts its public half.
	keys, err := demoKeys(*out)
	if err != nil {
		return err
	}
	for k, v := range keys {
		if _, own := os.LookupEnv(k); !own {
			set[k] = v
			opts = append(opts, local.WithEnv(k, v))
		}
	}
	// govulncheck reads the Go vulnerability database from the engine's
	// mirror, as an air-gapped CI would from its own registry.
	opts = append(opts, local.WithEnv("GOVULNDB_IMAGE", *registry+"/"+vulndb.ImageRepository+":"+vulndb.DefaultVersion))
	if *source == "gitops" {
		pw, err := prepareGitOps(*repo)
		if err != nil {
			return err
		}
		set["GIT_PASSWORD"] = pw
		opts = append(opts, local.WithEnv("GIT_PASSWORD", pw))
	}
	engineKubeconfig, _ := os.ReadFile(*engineKubeconfigPath)
	for _, s := range demoSecrets(p, engineKubeconfig, *engineKubeconfigPath, set) {
		opts = append(opts, s)
	}
	if *approve != "" {
		opts = append(opts, local.Approve(strings.Split(*approve, ",")...))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(os.Stderr, "== slipway demo: the reference pipeline for a %s of %q, on the local engine, deploying with %s\n", event, *ref, *source)
	start := time.Now()
	res, err := local.Run(ctx, p, event, *ref, opts...)
	if err != nil {
		return err
	}
	summary(os.Stdout, p, res, time.Since(start))
	failures(os.Stdout, res)
	latest := filepath.Join(*out, "logs", "latest")
	os.Remove(latest)
	if err := os.Symlink(runID, latest); err != nil {
		fmt.Fprintln(os.Stderr, "demo: linking the latest logs:", err)
	}
	fmt.Printf("Job logs: %s\n", logDir)
	if err := draw(p, res, *out); err != nil {
		fmt.Fprintln(os.Stderr, "demo: drawing the pipeline:", err)
	}
	for _, j := range res.Jobs {
		if j.Status == local.WaitingApproval {
			fmt.Printf("\n%s waits at its gate. Approve it with:\n\n    make demo APPROVE=%s\n\n", j.Name, j.Name)
		}
	}
	var failed []string
	for _, j := range res.Jobs {
		if j.Status == local.Failed {
			failed = append(failed, j.Name)
		}
	}
	if len(failed) > 0 {
		return errFailed{failed}
	}
	return nil
}

// demoSecrets gives the demo's secrets values when the environment has
// none: the local registry takes any password, and the local cluster's
// kubeconfig, when `make cluster` wrote one, stands for both clusters'.
func demoSecrets(p *pipeline.Pipeline, kubeconfig []byte, path string, given map[string]string) []local.Option {
	var out []local.Option
	for _, s := range p.Secrets() {
		if _, set := os.LookupEnv(s); set {
			continue
		}
		if _, set := given[s]; set {
			continue
		}
		switch {
		case strings.HasPrefix(s, "KUBECONFIG"):
			if len(kubeconfig) == 0 {
				// The deploy jobs will say that no cluster is reachable.
				fmt.Fprintf(os.Stderr, "demo: no local cluster kubeconfig at %s (make cluster writes it); %s is empty\n", path, s)
			}
			out = append(out, local.WithEnv(s, string(kubeconfig)))
		default:
			out = append(out, local.WithEnv(s, "slipway-demo-not-a-secret"))
		}
	}
	return out
}

// demoKeys returns the demo's signing key and trusted public key, as
// SIGNING_KEY and SLIPWAY_TRUSTED_KEYS: a key pair made on the first run
// and kept in dir (signing.key, trusted-keys.pub), never committed. A CI
// holds its own key in a secret instead.
func demoKeys(dir string) (map[string]string, error) {
	keyPath, pubPath := filepath.Join(dir, "signing.key"), filepath.Join(dir, "trusted-keys.pub")
	key, kerr := os.ReadFile(keyPath)
	pub, perr := os.ReadFile(pubPath)
	if kerr != nil || perr != nil {
		var err error
		if key, pub, err = attest.GenerateKeyPair(); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(keyPath, key, 0o600); err != nil {
			return nil, fmt.Errorf("writing the demo's signing key: %w", err)
		}
		if err := os.WriteFile(pubPath, pub, 0o644); err != nil {
			return nil, fmt.Errorf("writing the demo's trusted key: %w", err)
		}
		fmt.Fprintf(os.Stderr, "demo: made a throwaway signing key pair: %s (SIGNING_KEY), %s (SLIPWAY_TRUSTED_KEYS)\n", keyPath, pubPath)
	}
	return map[string]string{attest.SigningKeyEnv: string(key), attest.TrustedKeysEnv: string(pub)}, nil
}

func gitHead(dir string) string {
	out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return "0000000000000000000000000000000000000000"
	}
	return strings.TrimSpace(string(out))
}

// summary prints the table the demo ends with: stage, job, result,
// duration, digest and findings.
func summary(out io.Writer, p *pipeline.Pipeline, res *local.Result, total time.Duration) {
	fmt.Fprintln(out)
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "STAGE\tJOB\tRESULT\tDURATION\tDIGEST\tFINDINGS / REASON")
	digest := ""
	for _, j := range res.Jobs {
		if j.Output != "" {
			digest = j.Output
		}
	}
	var verified [][2]string // job, what verified its deploy
	for _, j := range res.Jobs {
		spec, _ := p.Job(j.Name)
		d := "-"
		if j.Duration > 0 {
			d = j.Duration.Round(100 * time.Millisecond).String()
		}
		dg := "-"
		if j.Status == local.Passed && digest != "" && (j.Output != "" || len(spec.Call.Outputs()) > 0) {
			dg = shortDigest(digest)
		}
		note := j.Summary
		if note == "" && j.Output == "" && j.Status == local.Passed && !strings.Contains(j.Stdout, "\n") {
			// A deploy's one-line account: the verdict in the table, what
			// verified it below.
			var checked string
			note, checked = deployNote(j.Stdout)
			if checked != "" {
				verified = append(verified, [2]string{j.Name, checked})
			}
		}
		if j.Output != "" && j.Status == local.Passed {
			note = signedNote(j.Log) // publish's signature, provenance and SBOM
		}
		if j.Reason != "" && (note == "" || j.Status != local.Passed) {
			// The problem's line; the failure report below has the rest
			// (a failed test's output).
			note, _, _ = strings.Cut(j.Reason, "\n")
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", spec.Stage, j.Name, j.Status, d, dg, trim(note, 90))
	}
	w.Flush()
	if len(verified) > 0 {
		fmt.Fprintln(out, "\nverified by:")
		for _, v := range verified {
			fmt.Fprintf(out, "  %-18s %s\n", v[0], v[1])
		}
	}
	if digest != "" {
		fmt.Fprintf(out, "\nimage: %s\n", digest)
	}
	fmt.Fprintf(out, "%d jobs in %v\n", len(res.Jobs), total.Round(time.Second))
}

// deployNote splits a deploy's one-line account (slipway-deploy's
// "ENV: namespace NS, VERDICT, revision N, DURATION, image REF, CHECKED,
// EVIDENCE") into the table's note (ENV: VERDICT, revision, duration) and
// what was checked (the smoke test's paths, Prometheus's targets and
// alerts), which is too long for the table. Other accounts (Helm, GitOps)
// are the note as they are.
func deployNote(line string) (note, checked string) {
	head, rest, ok := strings.Cut(line, ", image ")
	if !ok {
		return line, ""
	}
	if env, after, ok := strings.Cut(head, ": namespace "); ok {
		if _, verdict, ok := strings.Cut(after, ", "); ok {
			head = env + ": " + verdict
		}
	}
	// The image reference has no comma; what was checked follows it.
	_, rest, ok = strings.Cut(rest, ", ")
	if !ok {
		return head, ""
	}
	for _, end := range []string{", signed evidence", ", evidence recorded", "; skipped: "} {
		if i := strings.Index(rest, end); i >= 0 {
			rest = rest[:i]
		}
	}
	if strings.HasPrefix(rest, "signed evidence") || strings.HasPrefix(rest, "evidence recorded") {
		rest = ""
	}
	return head, rest
}

var (
	keyIDRE      = regexp.MustCompile(`with key ID ([A-Za-z0-9+/=]+)`)
	builderRE    = regexp.MustCompile(`provenance attached \(builder ([^)\s]+)\)`)
	componentsRE = regexp.MustCompile(`SBOM: (\d+) components`)
)

// signedNote sums up what publish printed of the evidence it attached:
// the signature's key ID, the provenance's builder and the SBOM's
// components, short enough for the table; or that the image is not
// signed.
func signedNote(log string) string {
	if strings.Contains(log, "publish: not signed") {
		return "NOT signed: no SIGNING_KEY"
	}
	m := keyIDRE.FindStringSubmatch(log)
	if m == nil {
		return ""
	}
	id := m[1]
	if len(id) > 8 {
		id = id[:8] + "…"
	}
	parts := []string{"key ID " + id}
	if m := builderRE.FindStringSubmatch(log); m != nil {
		parts = append(parts, "provenance "+strings.TrimPrefix(m[1], "https://"))
	}
	if m := componentsRE.FindStringSubmatch(log); m != nil {
		parts = append(parts, "SBOM "+m[1]+" components")
	}
	return strings.Join(parts, ", ")
}

// failures prints, for each failed job, the error Dagger reported (the
// function's error chain), the failing command and its last words on
// stderr, and where the job's full log is.
func failures(out io.Writer, res *local.Result) {
	for _, j := range res.Jobs {
		if j.Status != local.Failed && j.Status != local.AllowedFailure {
			continue
		}
		fmt.Fprintf(out, "\n%s %s", j.Name, j.Status)
		if j.Attempts > 1 {
			fmt.Fprintf(out, " (after %d attempts)", j.Attempts)
		}
		if f := j.Failure; f != nil {
			fmt.Fprintf(out, ": %s\n", f.Error)
			if f.Exec != "" {
				fmt.Fprintf(out, "  in: withExec %s\n", f.Exec)
			}
			if len(f.Stderr) > 0 {
				fmt.Fprintln(out, "  stderr (last lines):")
				for _, l := range f.Stderr {
					fmt.Fprintln(out, "    "+l)
				}
			}
		} else {
			fmt.Fprintf(out, ": %s\n", j.Reason)
		}
		if j.LogFile != "" {
			fmt.Fprintf(out, "  full log: %s\n", j.LogFile)
		}
	}
}

// draw writes the pipeline with each job's outcome as DOT and, when
// Graphviz is installed, as SVG.
func draw(p *pipeline.Pipeline, res *local.Result, dir string) error {
	colors := map[local.Status]string{
		local.Passed: "palegreen", local.Failed: "salmon", local.AllowedFailure: "khaki",
		local.Skipped: "lightgrey", local.WaitingApproval: "lightblue",
	}
	dot := graph.DOT(p, graph.WithStatus(func(job string) (string, string) {
		j, ok := res.Job(job)
		if !ok {
			return "not in this run", "white"
		}
		return string(j.Status), colors[j.Status]
	}))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	dotPath := filepath.Join(dir, "pipeline.dot")
	if err := os.WriteFile(dotPath, dot, 0o644); err != nil {
		return err
	}
	if _, err := exec.LookPath("dot"); err != nil {
		fmt.Printf("Pipeline graph: %s (install Graphviz for an SVG: apt-get install graphviz)\n", dotPath)
		return nil
	}
	svgPath := filepath.Join(dir, "pipeline.svg")
	if out, err := exec.Command("dot", "-Tsvg", "-o", svgPath, dotPath).CombinedOutput(); err != nil {
		return fmt.Errorf("dot: %v: %s", err, out)
	}
	abs, _ := filepath.Abs(svgPath)
	fmt.Printf("Pipeline graph: %s\n", abs)
	return nil
}

// shortDigest returns the first 12 hex digits of a reference's digest, as
// the table's column; the full reference is printed above the table.
func shortDigest(ref string) string {
	if i := strings.Index(ref, "@sha256:"); i >= 0 && len(ref) > i+8+12 {
		return "sha256:" + ref[i+8:i+8+12]
	}
	return ref
}

func trim(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// demoNamespaces are the namespaces the reference deploys go to; the
// Argo CD Applications of the GitOps layout bear the same names.
var demoNamespaces = []string{"mts-deploy-ai-staging", "mts-deploy-ai"}

// sourceAnnotation records on each demo namespace the deploy source that
// fills it.
const sourceAnnotation = "slipway.dev/demo-deploy-source"

var applications = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}

// prepareCluster creates the deploys' namespaces in the local cluster when
// they are missing (a real cluster's platform team would have). When the
// demo switches deploy source, it starts them afresh: a Helm release does
// not adopt objects another source applied, and Argo CD's selfHeal would
// undo any other source's deploy, so leaving gitops also removes the
// demo's Applications.
func prepareCluster(kubeconfig []byte, source string) error {
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return fmt.Errorf("reading the local cluster's kubeconfig: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, name := range demoNamespaces {
		ns, err := cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return fmt.Errorf("reading namespace %s in the local cluster (is it running? make cluster): %w", name, err)
		default:
			was := ns.Annotations[sourceAnnotation]
			if was == "" {
				was = "apply" // the demo's only source before it recorded one
			}
			if was == source && ns.DeletionTimestamp == nil {
				continue
			}
			fmt.Fprintf(os.Stderr, "demo: %s held the %s deploy; starting it afresh for %s\n", name, was, source)
			if source != "gitops" {
				err := dyn.Resource(applications).Namespace("argocd").Delete(ctx, name, metav1.DeleteOptions{})
				if err != nil && !apierrors.IsNotFound(err) && !meta.IsNoMatchError(err) && !isNoResource(err) {
					return fmt.Errorf("removing the Argo CD Application %s (it would undo the %s deploy): %w", name, source, err)
				}
			}
			if err := cs.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("deleting namespace %s: %w", name, err)
			}
			for {
				if _, err := cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
					break
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("namespace %s is still being deleted: %w", name, ctx.Err())
				case <-time.After(500 * time.Millisecond):
				}
			}
		}
		nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{sourceAnnotation: source}}}
		if _, err := cs.CoreV1().Namespaces().Create(ctx, nsObj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating namespace %s in the local cluster (is it running? make cluster): %w", name, err)
		}
	}
	return nil
}

// isNoResource reports a cluster without Argo CD's CRDs.
func isNoResource(err error) bool {
	return strings.Contains(err.Error(), "the server could not find the requested resource")
}

// prepareGitOps runs `go run ./internal/cmd/gitops demo` in the
// repository: the demo's GitOps repository on the git server `make
// gitops` runs, Argo CD's repository secret and the layout's Applications.
// It returns the git server's password, the deploy jobs' GIT_PASSWORD.
func prepareGitOps(repo string) (string, error) {
	envFile := filepath.Join(".slipway", "gitops.env")
	cmd := exec.Command("go", "run", "./internal/cmd/gitops", "demo", "-env-file", envFile)
	cmd.Dir, cmd.Stdout, cmd.Stderr = repo, os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("preparing the GitOps repository and Argo CD (make gitops starts them): %w", err)
	}
	raw, err := os.ReadFile(filepath.Join(repo, envFile))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if pw, ok := strings.CutPrefix(line, "GIT_PASSWORD="); ok {
			return strings.TrimSpace(pw), nil
		}
	}
	return "", fmt.Errorf("%s has no GIT_PASSWORD", envFile)
}
