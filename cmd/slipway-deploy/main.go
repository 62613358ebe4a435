// Command slipway-deploy is the work behind slipway's deploy stages: it
// deploys a team's Kubernetes objects (a directory of YAML, or a kustomize
// overlay) with the image set by digest in the named container, waits for
// the rollout as kubectl judges it, rolls back on failure, and reads and
// writes the evidence that promotes a digest to production (OCI referrers
// of the image).
//
// It runs in a tool container, not in a Dagger module: client-go, kustomize
// and go-containerregistry are hundreds of packages, and a module that
// linked them took three and a half minutes to load the first time on a
// fresh engine. stage/kube builds it from slipway's own source (embedded in
// the root package) in the Go image, once, with the Go caches as cache
// volumes, and runs it with the kubeconfig as a mounted secret file and the
// registry password as a secret variable.
//
//	slipway-deploy staging    --image=REPO@sha256:D --namespace=NS --kubeconfig=FILE SOURCE
//	                          [--container=NAME] [--deployment=NAME] [--environment=staging] [--tunnel=HOST:PORT] [--timeout=10m]
//	                          [--node-selector=KEY=VALUE]... [--verify-path=[PORT:]/PATH]... [--verify-window=5s] [--no-verify]
//	                          [--alert-rules=FILE... [--alert-window=30s] [--prometheus=prometheus]]
//	slipway-deploy production (the same flags) [--approve --approver=WHO] [--staging-environment=staging]
//	                          --source-repository=URL [--scanners=trivy,govulncheck] [--max-scan-age=24h] [--require-verification]
//	slipway-deploy notify     --environment=ci --result=passed|failed [--image=REPO@sha256:D] [--reason=TEXT]
//
// Every deploy, and notify, tells the team (notify.go) when SLACK_WEBHOOK_URL,
// TELEGRAM_BOT_TOKEN (with --telegram-chat-id or TELEGRAM_CHAT_ID) or
// NOTIFY_WEBHOOK_URL (signed with NOTIFY_WEBHOOK_SECRET if set) is set:
//
//	[--notify-link=URL (default CI_PIPELINE_URL)] [--notify-pipeline=NAME] [--notify-required]
//	[--telegram-api-url=URL] [--notify-timeout=10s]
//
// After the rollout (the apply, the Helm release's wait, or Argo CD's
// Synced and Healthy), every source's smoke test GETs each --verify-path
// (default: the paths of the Deployment's HTTP probes and its
// prometheus.io/scrape path) through the Service, by the API server's
// proxy, for --verify-window: 2xx, and /metrics in Prometheus text, or the
// deploy is rolled back (the release rolled back, the commit reverted) and
// records no evidence. With
// --alert-rules, a throwaway Prometheus then scrapes the new pods (through
// the API server's pod proxy) and evaluates the rules: every target must
// be up and no alert fire for --alert-window.
//
// SOURCE is where the objects come from (sources.go):
//
//	[--source=apply] --manifests=DIR                 the team's YAML or kustomize overlay, server-side applied
//	--source=helm    --chart=DIR|TGZ|oci://... [--values=FILE]... [--set=PATH=VALUE]... [--release=NAME]
//	                 [--image-repository-value=image.repository --image-digest-value=image.digest | --image-value=PATH]
//	                 [--history-max=10] [--chart-plain-http]
//	--source=gitops  --repo=URL --app=NAME (--overlay=DIR --image-name=NAME | --values-file=FILE [image values])
//	                 [--branch=main] [--app-namespace=argocd] [--git-user=U] [--ssh-key-file=F --ssh-host-key=K]
//	                 [--ca-file=F] [--pipeline-name= --pipeline-id= --pipeline-url= --source-commit=]
//
// The registry user and password come from REGISTRY_USERNAME and
// REGISTRY_PASSWORD, the git password or token from GIT_PASSWORD, an SSH
// key's passphrase from GIT_SSH_PASSPHRASE, an oci:// chart registry's
// credentials from HELM_REGISTRY_USERNAME and HELM_REGISTRY_PASSWORD
// (never flags: a flag shows in the process list and in Dagger's traces).
//
// Evidence is signed with the private key in SIGNING_KEY (its password in
// SIGNING_KEY_PASSWORD): staging's deploy records signed in-toto
// attestations, the format cosign verifies (publish and the scans record
// theirs with cmd/slipway-evidence); without a key it records unsigned
// evidence and says so. Production verifies with the
// trusted public keys in SLIPWAY_TRUSTED_KEYS (or the file
// SLIPWAY_TRUSTED_KEYS_FILE names; several, to rotate) and refuses
// without them.
//
// On success it prints one line on standard output; on
// failure one message on standard error, naming the problem and its fix,
// and exits 1 (2 for a usage error).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/slipway-ci/slipway/deploy"
	"github.com/slipway-ci/slipway/deploy/evidence"
	"github.com/slipway-ci/slipway/deploy/manifest"
	"github.com/slipway-ci/slipway/deploy/notify"
	"github.com/slipway-ci/slipway/pipeline"
)

// errUsage marks a command line that cannot run (exit status 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out, err := run(ctx, os.Args[1:], os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
	fmt.Println(out)
}

// run executes one subcommand and returns its one-line result.
func run(ctx context.Context, args []string, getenv func(string) string) (string, error) {
	if len(args) == 0 {
		return "", fmt.Errorf("slipway-deploy: no subcommand: staging, production or notify: %w", errUsage)
	}
	switch sub := args[0]; sub {
	case "staging", "production":
		return runDeploy(ctx, sub, args[1:], getenv)
	case "record-scan", "attest":
		return "", fmt.Errorf("slipway-deploy: %s moved to slipway-evidence (cmd/slipway-evidence), which builds without Kubernetes: %w", sub, errUsage)
	case "notify":
		return runNotify(ctx, args[1:], getenv, os.Stderr)
	default:
		return "", fmt.Errorf("slipway-deploy: unknown subcommand %q: staging, production or notify: %w", sub, errUsage)
	}
}

// deployFlags are the staging and production subcommands' settings.
type deployFlags struct {
	image, manifests, namespace, kubeconfig, tunnel, timeout string
	container, deployment, environment, stagingEnv, approver string
	sourceRepo, scanners, maxScanAge                         string
	approve, requireVerification                             bool
	src                                                      sourceFlags
	notify                                                   notifyFlags
	// nodeSelector is where the environment's pods run (apply and helm).
	nodeSelector map[string]string
	// verifyPaths are the smoke test's paths after the rollout (apply);
	// empty with noVerify.
	verifyPaths []string
	// verify turns the smoke test on (not --no-verify).
	verify       bool
	verifyWindow time.Duration
	noVerify     bool
	// alertRules, when set, add Prometheus (the prometheus binary) to the
	// verification: no alert may fire for alertWindow.
	alertRules              []string
	prometheus, alertWindow string
}

func parseDeploy(stage, tier string, args []string) (deployFlags, error) {
	var f deployFlags
	fs := flag.NewFlagSet(stage, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.image, "image", "", "the image to deploy, as repository@sha256:digest")
	fs.StringVar(&f.manifests, "manifests", "", "the directory of Kubernetes YAML or the kustomize overlay to deploy")
	fs.StringVar(&f.namespace, "namespace", "", "the namespace to deploy into; it must exist")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "the cluster's kubeconfig file")
	fs.StringVar(&f.container, "container", "", "the container that gets the image (default: the Deployment's only container)")
	fs.StringVar(&f.deployment, "deployment", "", "the Deployment whose rollout is the release (default: the only one)")
	fs.StringVar(&f.environment, "environment", tier, "the environment's name, under which evidence is recorded")
	fs.StringVar(&f.stagingEnv, "staging-environment", "staging", "production: the environment whose verified deploy the gate asks for")
	fs.StringVar(&f.tunnel, "tunnel", "", "HOST:PORT to send the API requests to instead of the kubeconfig's server (TLS is still checked against the server's name)")
	fs.StringVar(&f.timeout, "timeout", "10m", "how long to wait for the rollout before rolling back")
	fs.BoolVar(&f.approve, "approve", false, "a person approved this production deploy")
	fs.StringVar(&f.approver, "approver", "ci", "who approved it")
	fs.StringVar(&f.sourceRepo, "source-repository", "", "production: the source repository the signed provenance must name")
	fs.StringVar(&f.scanners, "scanners", "", "production: comma-separated scanners that must each have a signed clean scan (default: each scanner recorded, at least one)")
	fs.StringVar(&f.maxScanAge, "max-scan-age", deploy.DefaultMaxScanAge.String(), "production: how old the latest clean scan may be")
	fs.BoolVar(&f.requireVerification, "require-verification", false, "production: count staging evidence only when a post-deploy check (smoke test, alerts) ran there, not the rollout alone")
	var selector []string
	fs.Func("node-selector", "KEY=VALUE added to every pod template's nodeSelector (repeatable), such as slipway.dev/node=real", func(v string) error {
		selector = append(selector, v)
		return nil
	})
	var paths multi
	fs.Var(&paths, "verify-path", "a path the smoke test GETs after the rollout (every source), [PORT:]/PATH (repeatable; default: the paths of the Deployment's HTTP probes and its prometheus.io/scrape path)")
	fs.DurationVar(&f.verifyWindow, "verify-window", 5*time.Second, "how long the smoke test keeps passing before the deploy counts as verified")
	fs.BoolVar(&f.noVerify, "no-verify", false, "no smoke test: the deploy is verified by its rollout alone")
	var rules multi
	fs.Var(&rules, "alert-rules", "a Prometheus rule file (repeatable): a throwaway Prometheus scrapes the new pods, and none of the alerts may fire for --alert-window")
	fs.StringVar(&f.prometheus, "prometheus", "prometheus", "the prometheus binary that evaluates --alert-rules")
	fs.StringVar(&f.alertWindow, "alert-window", "30s", "how long no alert of --alert-rules may fire")
	f.src.register(fs)
	f.notify.register(fs)
	if err := fs.Parse(args); err != nil {
		return f, fmt.Errorf("%s: %v: %w", stage, err, errUsage)
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("%s: unexpected arguments %q: %w", stage, fs.Args(), errUsage)
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if err := f.src.check(stage, set); err != nil {
		return f, err
	}
	sel, err := deploy.ParseNodeSelector(selector)
	if err != nil {
		return f, fmt.Errorf("%s: --node-selector: %w: %w", stage, err, errUsage)
	}
	f.nodeSelector = sel
	switch {
	case f.noVerify && (set["verify-path"] || set["verify-window"]):
		return f, fmt.Errorf("%s: --no-verify turns the smoke test off, but --verify-path or --verify-window was given: drop one: %w", stage, errUsage)
	case f.verifyWindow < 0:
		return f, fmt.Errorf("%s: --verify-window %s is negative: %w", stage, f.verifyWindow, errUsage)
	case f.noVerify && len(rules) > 0:
		return f, fmt.Errorf("%s: --no-verify turns verification off, but --alert-rules was given: drop one: %w", stage, errUsage)
	case !f.noVerify:
		f.alertRules = rules
		f.verifyPaths = paths
		f.verify = true
		if err := deploy.CheckPaths(f.verifyPaths); err != nil {
			return f, fmt.Errorf("%s: --verify-path: %w: %w", stage, err, errUsage)
		}
	}
	required := []struct{ name, value, hint string }{
		{"image", f.image, "the repository@sha256:digest the publish stage printed"},
		{"manifests", f.manifests, "the directory of YAML or the kustomize overlay"},
		{"namespace", f.namespace, "the namespace to deploy into"},
		{"kubeconfig", f.kubeconfig, "the cluster's kubeconfig file"},
	}
	for _, req := range required {
		if req.name == "manifests" && f.src.source != sourceApply {
			continue // the chart, or the GitOps repository, holds the objects
		}
		if req.value == "" {
			return f, fmt.Errorf("%s: no --%s: pass %s: %w", stage, req.name, req.hint, errUsage)
		}
	}
	return f, nil
}

// runDeploy deploys (deployParsed) and notifies the team of the outcome
// (notify.go). The notifications' settings are checked first, so a typo
// in them refuses the deploy instead of losing its notification.
func runDeploy(ctx context.Context, tier string, args []string, getenv func(string) string) (string, error) {
	stage := "deploy-" + tier
	f, err := parseDeploy(stage, tier, args)
	if err != nil {
		return "", err
	}
	stage = "deploy-" + f.environment
	notifiers, services, err := f.notify.notifiers(stage, getenv)
	if err != nil {
		return "", err
	}
	line, err := deployParsed(ctx, stage, tier, f, getenv)
	e := notify.Event{Environment: f.environment, Image: f.image, Link: f.notify.link, Pipeline: f.notify.pipeline}
	return notifyAfter(ctx, stage, notifiers, services, f.notify, e, line, err, getenv, os.Stderr)
}

// deployParsed rolls the team's objects out to a staging or production
// environment. Production goes through the promotion gate first; every
// verified deploy records its evidence next to the image. Everything that
// can be checked without the cluster is checked before the first request.
func deployParsed(ctx context.Context, stage, tier string, f deployFlags, getenv func(string) string) (string, error) {
	wait, err := time.ParseDuration(f.timeout)
	if err != nil || wait <= 0 {
		return "", fmt.Errorf("%s: timeout %q is not a positive Go duration such as 10m", stage, f.timeout)
	}
	if _, err := deploy.ParseDigest(f.image); err != nil {
		return "", fmt.Errorf("%s: %w", stage, err)
	}
	// The evidence's keys are checked before anything is read: a deploy
	// that could not record, or a gate that could not verify, fails now.
	store, note, err := evidence.StoreFromEnv(getenv)
	if err != nil {
		return "", fmt.Errorf("%s: %w", stage, err)
	}
	var gate *deploy.PromotionGate
	if tier == "production" {
		if gate, err = promotionGate(stage, f, getenv); err != nil {
			return "", err
		}
	}
	if f.src.source != sourceApply {
		return runSource(ctx, stage, tier, f, wait, getenv, store, note, gate)
	}
	objs, err := manifest.Load(f.manifests)
	if err != nil {
		return "", fmt.Errorf("%s: %w", stage, err)
	}
	if err := sameNamespace(objs, f.namespace); err != nil {
		return "", fmt.Errorf("%s: %w", stage, err)
	}
	env, rel := environment(tier, f)
	rel.Bundle = objs
	if err := deploy.Check(rel); err != nil {
		return "", fmt.Errorf("%s: manifests %s: %w", stage, f.manifests, err)
	}
	vopts, err := verifyOptions(stage, f)
	if err != nil {
		return "", err
	}
	opts := append(clientOptions(f, wait), vopts...)
	c, err := deploy.New(ctx, env, opts...)
	if err != nil {
		return "", fmt.Errorf("%s: %w", stage, err)
	}
	// The gate comes before discovery: a refused release touches nothing.
	if env.Tier == pipeline.Production {
		if err := gate.Allow(ctx, env, rel); err != nil {
			return "", fmt.Errorf("%s: %w", stage, approveHint(err))
		}
	}
	served, skipped, err := c.Served(ctx, objs)
	if err != nil {
		return "", fmt.Errorf("%s: %w", stage, err)
	}
	rel.Bundle = served
	res, err := deploy.Recording(c, env, store).Deploy(ctx, rel)
	if err != nil {
		return "", fmt.Errorf("%s: %w", stage, err)
	}
	// The verdict comes before the long image reference, which the
	// demo's summary table trims; what was checked comes after it.
	verdict, verified := verdict(f, res)
	line := fmt.Sprintf("%s: namespace %s, %s, revision %s, %s, image %s, %s, %s",
		env.Name, res.Namespace, verdict, res.Revision, res.Duration.Round(10*time.Millisecond), res.Image, verified, note)
	if len(skipped) > 0 {
		line += "; skipped: " + strings.Join(skipped, ", ")
	}
	return line, nil
}

// environment is the deploy's environment and release (without objects).
func environment(tier string, f deployFlags) (deploy.Environment, deploy.Release) {
	env := deploy.Environment{Name: f.environment, Tier: pipeline.Staging, Namespace: f.namespace, Kubeconfig: deploy.KubeconfigFile(f.kubeconfig), NodeSelector: f.nodeSelector}
	var approval *deploy.Approval
	if tier == "production" {
		env.Tier = pipeline.Production
		if f.approve {
			approval = &deploy.Approval{By: f.approver, Reason: "deploy-production --approve"}
		}
	}
	return env, deploy.Release{Image: f.image, Deployment: f.deployment, Container: f.container, Approval: approval}
}

// clientOptions are the client-go settings every source shares.
func clientOptions(f deployFlags, wait time.Duration) []deploy.Option {
	opts := []deploy.Option{deploy.WithRolloutTimeout(wait)}
	if f.tunnel != "" {
		opts = append(opts, deploy.WithTunnel(f.tunnel))
	}
	return opts
}

// approveHint names the flag that approves, when approval is missing.
func approveHint(err error) error {
	if errors.Is(err, deploy.ErrNotApproved) {
		return fmt.Errorf("%w (approve with --approve)", err)
	}
	return err
}

// runSource deploys from a Helm chart or a GitOps repository: the source
// checks its input first, then production's gate decides before the
// source touches the cluster or the repository, and a verified deploy
// records its evidence, as for the apply source.
func runSource(ctx context.Context, stage, tier string, f deployFlags, wait time.Duration, getenv func(string) string,
	store deploy.EvidenceStore, note string, gate *deploy.PromotionGate) (string, error) {
	env, rel := environment(tier, f)
	if f.src.source != sourceApply {
		rel.Container = "" // the chart's image template, or the images entry, says which container
	}
	vopts, err := verifyOptions(stage, f)
	if err != nil {
		return "", err
	}
	src, err := newSource(ctx, f.src, env, wait, append(clientOptions(f, wait), vopts...), getenv)
	if err != nil {
		return "", fmt.Errorf("%s: %w", stage, err)
	}
	var d deploy.Deployer = deploy.Recording(src, env, store)
	if gate != nil {
		d = deploy.Gated(d, env, gate)
	}
	res, err := d.Deploy(ctx, rel)
	if err != nil {
		return "", fmt.Errorf("%s: %w", stage, approveHint(err))
	}
	return sourceLine(f, env, res, note), nil
}

// verifyOptions are the post-deploy checks the flags ask for, the same for
// every source: the smoke test (unless --no-verify; its paths default to
// the Deployment's own probes) and the alerts of --alert-rules.
func verifyOptions(stage string, f deployFlags) ([]deploy.Option, error) {
	var opts []deploy.Option
	if f.verify {
		opts = append(opts, deploy.WithVerifyPaths(f.verifyPaths...), deploy.WithVerifyWindow(f.verifyWindow))
	}
	if len(f.alertRules) > 0 {
		w, err := time.ParseDuration(f.alertWindow)
		if err != nil || w <= 0 {
			return nil, fmt.Errorf("%s: --alert-window %q is not a positive Go duration such as 30s", stage, f.alertWindow)
		}
		opts = append(opts, deploy.WithAlerts(deploy.Alerts{Prometheus: f.prometheus, Rules: f.alertRules, Window: w}))
	}
	return opts, nil
}

// verdict says how a deploy was verified, and what was checked.
func verdict(f deployFlags, res *deploy.Result) (verdict, checked string) {
	switch checked = res.Verification; {
	case checked == "":
		return "not verified (--no-verify)", "no smoke test"
	case strings.HasPrefix(checked, "no smoke test") && len(f.alertRules) == 0:
		return "verified by its rollout only", checked
	case len(f.alertRules) > 0:
		return "verified by smoke test and alerts", checked
	}
	return "verified by smoke test", checked
}

// sameNamespace refuses objects that name a namespace other than the one
// the deploy targets: moving them silently would deploy a kustomize overlay
// meant for another environment.
func sameNamespace(objs []*unstructured.Unstructured, namespace string) error {
	for _, o := range objs {
		if ns := o.GetNamespace(); ns != "" && ns != namespace {
			return fmt.Errorf("the manifests put %s %s in namespace %q, but the deploy targets %q: deploy the overlay of this environment, pass --namespace=%s, or drop the namespace from the manifests",
				o.GetKind(), o.GetName(), ns, namespace, ns)
		}
	}
	return nil
}
