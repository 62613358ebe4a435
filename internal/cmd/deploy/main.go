// Command deploy is the work behind the ci/ module's deploy-staging and
// deploy-production functions, and behind the scan evidence security-trivy
// and ci record: it deploys the example service's bundle (examples/deployai/
// deploy) by digest with deploy, and reads and writes the evidence
// that promotes a digest (OCI referrers of the image).
//
// It runs in a tool container, not in the module: client-go, k8s.io/api and
// go-containerregistry are hundreds of packages, and a module that linked
// them took three and a half minutes to load the first time on a fresh
// engine. The module builds this command from its own source (dagger.json's
// include lists it) in golang:1.25, with the Go caches as cache volumes, and
// runs it with the kubeconfig as a mounted secret file and the registry
// password as a secret variable.
//
//	deploy staging    --image=REPO@sha256:D --kubeconfig=FILE [--namespace=NS] [--tunnel=HOST:PORT] [--timeout=10m]
//	deploy production --image=REPO@sha256:D --kubeconfig=FILE [--approve --approver=WHO] [...]
//	deploy record-scan --image=REPO@sha256:D --findings=N [--scanner=trivy] [--threshold=HIGH,CRITICAL]
//
// The registry user and password come from REGISTRY_USERNAME and
// REGISTRY_PASSWORD (never flags: a flag shows in the process list and in
// Dagger's traces). On success it prints one line on standard output; on
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

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/slipway-ci/slipway/deploy"
	bundle "github.com/slipway-ci/slipway/examples/deployai/deploy"
	"github.com/slipway-ci/slipway/pipeline"
)

// The environments' names: production's gate asks for evidence from the
// environment named staging.
const (
	stagingName    = "staging"
	productionName = "production"
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
		return "", fmt.Errorf("deploy: no subcommand: staging, production or record-scan: %w", errUsage)
	}
	switch sub := args[0]; sub {
	case "staging", "production":
		return runDeploy(ctx, sub, args[1:], getenv)
	case "record-scan":
		return runRecordScan(ctx, args[1:], getenv)
	default:
		return "", fmt.Errorf("deploy: unknown subcommand %q: staging, production or record-scan: %w", sub, errUsage)
	}
}

// deployFlags are the staging and production subcommands' settings.
type deployFlags struct {
	image, kubeconfig, namespace, tunnel, timeout, approver string
	approve                                                 bool
}

func parseDeploy(stage, envName string, args []string) (deployFlags, error) {
	var f deployFlags
	fs := flag.NewFlagSet(stage, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	defNS := "mts-deploy-ai-staging"
	if envName == productionName {
		defNS = "mts-deploy-ai"
	}
	fs.StringVar(&f.image, "image", "", "the image to deploy, as repository@sha256:digest")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "the cluster's kubeconfig file")
	fs.StringVar(&f.namespace, "namespace", defNS, "the namespace to deploy into; it must exist")
	fs.StringVar(&f.tunnel, "tunnel", "", "HOST:PORT to send the API requests to instead of the kubeconfig's server (TLS is still checked against the server's name)")
	fs.StringVar(&f.timeout, "timeout", "10m", "how long to wait for the rollout before rolling back")
	fs.BoolVar(&f.approve, "approve", false, "a person approved this production deploy")
	fs.StringVar(&f.approver, "approver", "ci", "who approved it")
	if err := fs.Parse(args); err != nil {
		return f, fmt.Errorf("%s: %v: %w", stage, err, errUsage)
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("%s: unexpected arguments %q: %w", stage, fs.Args(), errUsage)
	}
	return f, nil
}

// runDeploy rolls the service's bundle out to staging or production.
// Production goes through the promotion gate first; every verified deploy
// records its evidence next to the image.
func runDeploy(ctx context.Context, envName string, args []string, getenv func(string) string) (string, error) {
	stage := "deploy-" + envName
	f, err := parseDeploy(stage, envName, args)
	if err != nil {
		return "", err
	}
	wait, err := time.ParseDuration(f.timeout)
	if err != nil || wait <= 0 {
		return "", fmt.Errorf("%s: timeout %q is not a positive Go duration such as 10m", stage, f.timeout)
	}
	if f.kubeconfig == "" {
		return "", fmt.Errorf("%s: no kubeconfig: pass --kubeconfig=FILE: %w", stage, errUsage)
	}
	env := deploy.Environment{Name: envName, Tier: pipeline.Staging, Namespace: f.namespace, Kubeconfig: deploy.KubeconfigFile(f.kubeconfig)}
	var approval *deploy.Approval
	if envName == productionName {
		env.Tier = pipeline.Production
		if f.approve {
			approval = &deploy.Approval{By: f.approver, Reason: "deploy-production --approve"}
		}
	}
	opts := []deploy.Option{deploy.WithRolloutTimeout(wait)}
	if f.tunnel != "" {
		opts = append(opts, deploy.WithTunnel(f.tunnel))
	}
	store := deploy.NewReferrers(registryOptions(getenv)...)

	b, err := bundle.New(env.Namespace, f.image)
	if err != nil {
		return "", fmt.Errorf("%s: %w", stage, err)
	}
	objs := make([]runtime.Object, 0, len(b.Objects()))
	for _, o := range b.Objects() {
		objs = append(objs, o)
	}
	all, err := deploy.Objects(objs...)
	if err != nil {
		return "", fmt.Errorf("%s: %w", stage, err)
	}
	c, err := deploy.New(ctx, env, opts...)
	if err != nil {
		return "", fmt.Errorf("%s: %w", stage, err)
	}
	// The gate comes before discovery: a refused release touches nothing.
	if env.Tier == pipeline.Production {
		gate := &deploy.PromotionGate{Store: store, Staging: stagingName}
		if err := gate.Allow(ctx, env, deploy.Release{Bundle: all, Image: f.image, Approval: approval}); err != nil {
			if errors.Is(err, deploy.ErrNotApproved) {
				err = fmt.Errorf("%w (approve with --approve)", err)
			}
			return "", fmt.Errorf("%s: %w", stage, err)
		}
	}
	served, skipped, err := c.Served(ctx, all)
	if err != nil {
		return "", fmt.Errorf("%s: %w", stage, err)
	}
	d := deploy.Recording(c, env, store)
	res, err := d.Deploy(ctx, deploy.Release{Bundle: served, Image: f.image, Deployment: bundle.Name, Approval: approval})
	if err != nil {
		return "", fmt.Errorf("%s: %w", stage, err)
	}
	line := fmt.Sprintf("%s: namespace %s, image %s, revision %s, %s, evidence recorded",
		env.Name, res.Namespace, res.Image, res.Revision, res.Duration.Round(10*time.Millisecond))
	if len(skipped) > 0 {
		line += "; skipped: " + strings.Join(skipped, ", ")
	}
	return line, nil
}

// runRecordScan records a scan's outcome as evidence next to the image, for
// production's gate (the latest scan decides there, clean or not).
func runRecordScan(ctx context.Context, args []string, getenv func(string) string) (string, error) {
	const stage = "record-scan"
	fs := flag.NewFlagSet(stage, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	image := fs.String("image", "", "the scanned image, as repository@sha256:digest")
	scanner := fs.String("scanner", "trivy", "the scanner")
	threshold := fs.String("threshold", "HIGH,CRITICAL", "the severities that count as findings")
	findings := fs.Int("findings", -1, "how many findings at or above the threshold")
	if err := fs.Parse(args); err != nil {
		return "", fmt.Errorf("%s: %v: %w", stage, err, errUsage)
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("%s: unexpected arguments %q: %w", stage, fs.Args(), errUsage)
	}
	if *findings < 0 {
		return "", fmt.Errorf("%s: --findings is required (0 or more): %w", stage, errUsage)
	}
	store := deploy.NewReferrers(registryOptions(getenv)...)
	if err := deploy.RecordScan(ctx, store, *image, *scanner, *threshold, *findings); err != nil {
		return "", fmt.Errorf("%s: %w", stage, err)
	}
	return "scan evidence recorded", nil
}

// registryOptions authenticates to the image's registry, where evidence is
// read and written; without a user or password, anonymous access.
func registryOptions(getenv func(string) string) []remote.Option {
	user, pw := getenv("REGISTRY_USERNAME"), getenv("REGISTRY_PASSWORD")
	if user == "" && pw == "" {
		return nil
	}
	return []remote.Option{remote.WithAuth(&authn.Basic{Username: user, Password: pw})}
}
