package main

// The deploy stages: the example service's bundle, by digest, into a
// namespace of a cluster named by a kubeconfig secret, with the evidence
// that promotes a digest from staging to production stored next to the
// image (OCI referrers, see deploy).
//
// The work runs in a tool container, not in this module: internal/cmd/deploy
// (client-go, k8s.io/api, go-containerregistry) is built from the module's
// own source in golang:1.25 and run with the kubeconfig as a mounted secret
// file and the registry password as a secret variable. Linking that code
// into the module made its first load on a fresh engine take three and a
// half minutes instead of about one (see the README's benchmarks).
//
// Reaching a cluster from inside the engine: in CI the kubeconfig's server
// is reachable from the tool's container as it is. On a laptop the local
// control plane listens on the host's loopback, which the engine's
// containers cannot see; the CLI then passes a host service,
// --cluster=tcp://localhost:16443, which the tool's container reaches as the
// host "cluster", sending its requests through that tunnel while still
// checking TLS against the kubeconfig's server name (deploy.WithTunnel).

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	sdk "dagger.io/dagger"

	"github.com/slipway-ci/slipway/ci/internal/dagger"
	"github.com/slipway-ci/slipway/stage/goimage"
)

// The environments' names, as the tool's subcommands name them.
const (
	stagingName    = "staging"
	productionName = "production"
)

// DeployStaging deploys the image by digest to the staging namespace, waits
// for the rollout and rolls back on failure. After a verified rollout it
// records "deployed and verified in staging" for the digest as an OCI
// referrer of the image, which production's gate asks for. Returns one
// line: namespace, digest, revision and duration. Never cached: the same
// arguments deploy again (Dagger would otherwise replay the first result for
// seven days, deploying nothing).
//
// +cache="never"
func (m *Slipway) DeployStaging(
	ctx context.Context,
	// The image to deploy, as repository@sha256:digest.
	image string,
	// The staging cluster's kubeconfig.
	kubeconfig *dagger.Secret,
	// The namespace to deploy into; it must exist.
	// +default="mts-deploy-ai-staging"
	namespace string,
	// A tunnel to the API server, when the kubeconfig's server is not
	// reachable from the engine: the local control plane is
	// --cluster=tcp://localhost:16443. TLS is still checked against the
	// kubeconfig's server name.
	// +optional
	cluster *dagger.Service,
	// The user for the image registry, where the evidence is stored.
	// +optional
	registryUsername string,
	// The password or token for the image registry.
	// +optional
	registryPassword *dagger.Secret,
	// How long to wait for the rollout before rolling back, as a Go
	// duration.
	// +default="10m"
	timeout string,
) (string, error) {
	return m.deploy(ctx, stagingName, []string{"--image=" + image, "--namespace=" + namespace, "--timeout=" + timeout},
		kubeconfig, cluster, registryUsername, registryPassword)
}

// DeployProduction deploys to production an image that staging has verified
// and the scan found clean, after an explicit approval; a refusal names
// every check that failed. Returns one line: namespace, digest, revision
// and duration. Never cached, like deploy-staging.
//
// +cache="never"
func (m *Slipway) DeployProduction(
	ctx context.Context,
	// The image to deploy, as repository@sha256:digest.
	image string,
	// The production cluster's kubeconfig.
	kubeconfig *dagger.Secret,
	// Confirms that a person approved this deploy.
	// +optional
	approve bool,
	// Who approved it, recorded with the deploy (GitLab's GITLAB_USER_LOGIN,
	// GitHub's github.actor).
	// +default="ci"
	approver string,
	// The namespace to deploy into; it must exist.
	// +default="mts-deploy-ai"
	namespace string,
	// A tunnel to the API server; see deploy-staging.
	// +optional
	cluster *dagger.Service,
	// The user for the image registry, where the evidence is read.
	// +optional
	registryUsername string,
	// The password or token for the image registry.
	// +optional
	registryPassword *dagger.Secret,
	// How long to wait for the rollout before rolling back, as a Go
	// duration.
	// +default="10m"
	timeout string,
) (string, error) {
	args := []string{"--image=" + image, "--namespace=" + namespace, "--timeout=" + timeout}
	if approve {
		args = append(args, "--approve", "--approver="+approver)
	}
	return m.deploy(ctx, productionName, args, kubeconfig, cluster, registryUsername, registryPassword)
}

// deploy runs the tool's staging or production subcommand with args. The
// tool rolls the service's bundle out; production goes through the
// promotion gate first, and every verified deploy records its evidence.
func (m *Slipway) deploy(ctx context.Context, envName string, args []string, kubeconfig *dagger.Secret,
	cluster *dagger.Service, username string, password *dagger.Secret) (string, error) {
	stage := "deploy-" + envName
	if kubeconfig == nil {
		return "", fmt.Errorf("%s: no kubeconfig: pass --kubeconfig=env://KUBECONFIG_%s", stage, strings.ToUpper(envName))
	}
	// Read once here, and thrown away, so that a secret the CLI cannot
	// resolve (an unset variable) is named with its fix instead of failing
	// the tool's container with the engine's bare message.
	if _, err := kubeconfig.Plaintext(ctx); err != nil {
		// %v, not %w: the module runtime reports a wrapped engine error
		// as the engine's bare message, which would lose what to fix.
		return "", fmt.Errorf("%s: the kubeconfig secret cannot be read (pass the %s cluster's kubeconfig, e.g. --kubeconfig=env://KUBECONFIG_%s with that variable set, or --kubeconfig=file://PATH): %v",
			stage, envName, strings.ToUpper(envName), err)
	}
	c, err := client(ctx)
	if err != nil {
		return "", err
	}
	kc, err := toSecret(ctx, c, kubeconfig)
	if err != nil {
		return "", err
	}
	ctr, err := deployTool(ctx, c)
	if err != nil {
		return "", fmt.Errorf("%s: %w", stage, err)
	}
	const kubeconfigPath = "/run/secrets/kubeconfig"
	ctr = ctr.WithMountedSecret(kubeconfigPath, kc, sdk.ContainerWithMountedSecretOpts{Owner: goimage.DefaultUser, Mode: 0o400})
	args = append([]string{"deploy", envName, "--kubeconfig=" + kubeconfigPath}, args...)
	if cluster != nil {
		svc, port, err := tunnel(ctx, c, cluster)
		if err != nil {
			return "", fmt.Errorf("%s: --cluster: %w", stage, err)
		}
		ctr = ctr.WithServiceBinding(clusterHost, svc)
		args = append(args, "--tunnel="+clusterHost+":"+strconv.Itoa(port))
	}
	if ctr, err = withRegistryAuth(ctx, c, ctr, username, password); err != nil {
		return "", fmt.Errorf("%s: %w", stage, err)
	}
	// The function is never cached (+cache="never"), but the exec inside it
	// would be: same tool, same arguments, same secrets. The clock makes
	// every call a new exec, so every call reaches the cluster.
	ctr = ctr.WithEnvVariable("SLIPWAY_DEPLOY_AT", time.Now().UTC().Format(time.RFC3339Nano))
	return runTool(ctx, stage, ctr, args)
}

// clusterHost is the tunnel's host name in the tool's container.
const clusterHost = "cluster"

// tunnel hands the --cluster service to the SDK and returns the port the
// tool's container reaches it on (the host service's first port).
func tunnel(ctx context.Context, c *sdk.Client, svc *dagger.Service) (*sdk.Service, int, error) {
	ports, err := svc.Ports(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("the tunnel's ports: %v", err)
	}
	if len(ports) == 0 {
		return nil, 0, fmt.Errorf("the service exposes no port: pass a host service such as tcp://localhost:16443")
	}
	port, err := ports[0].Port(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("the tunnel's port: %v", err)
	}
	id, err := svc.ID(ctx)
	if err != nil {
		return nil, 0, err
	}
	return c.LoadServiceFromID(sdk.ServiceID(id)), port, nil
}

// withRegistryAuth gives the tool the registry credentials, where evidence
// is read and written: the user as a variable, the password as a secret
// variable. Without either, the tool goes anonymous.
func withRegistryAuth(ctx context.Context, c *sdk.Client, ctr *sdk.Container, username string, password *dagger.Secret) (*sdk.Container, error) {
	if username != "" {
		ctr = ctr.WithEnvVariable("REGISTRY_USERNAME", username)
	}
	if password != nil {
		pw, err := toSecret(ctx, c, password)
		if err != nil {
			return nil, fmt.Errorf("the registry password secret: %w", err)
		}
		ctr = ctr.WithSecretVariable("REGISTRY_PASSWORD", pw)
	}
	return ctr, nil
}

// runTool runs the tool with args and returns its one line of output; when
// it fails, its message (which names the problem and its fix), not the
// exec's exit status.
func runTool(ctx context.Context, stage string, ctr *sdk.Container, args []string) (string, error) {
	ctr = ctr.WithExec(args, sdk.ContainerWithExecOpts{Expect: sdk.ReturnTypeAny})
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		// The exec never ran: a secret or a service could not be
		// provided. %v, not %w: see deploy.
		return "", fmt.Errorf("%s: running the deploy tool: %v", stage, err)
	}
	if code != 0 {
		stderr, err := ctr.Stderr(ctx)
		if msg := strings.TrimSpace(stderr); err == nil && msg != "" {
			return "", fmt.Errorf("%s", msg)
		}
		return "", fmt.Errorf("%s: the deploy tool failed with exit status %d and no message", stage, code)
	}
	out, err := ctr.Stdout(ctx)
	if err != nil {
		return "", fmt.Errorf("%s: reading the deploy tool's output: %v", stage, err)
	}
	return strings.TrimSpace(out), nil
}

// deployTool returns the runtime base with internal/cmd/deploy at
// /usr/local/bin/deploy, built from the module's own source in golang:1.25
// with the Go caches every stage shares. Dagger caches the build: the first
// call compiles it, later calls and other stages reuse the binary until its
// source changes.
func deployTool(ctx context.Context, c *sdk.Client) (*sdk.Container, error) {
	// The module's source is ci/ inside its context directory, the
	// repository filtered by dagger.json's include; its parent is that
	// context. Only the tool's own inputs go into the build, so a change
	// to the module's functions does not rebuild it.
	root, err := toDir(ctx, c, dag.CurrentModule().Source().Directory(".."))
	if err != nil {
		return nil, fmt.Errorf("the module's source: %w", err)
	}
	src := c.Directory().WithDirectory("/", root, sdk.DirectoryWithDirectoryOpts{Include: deployToolSource})
	b := goimage.GoCaches(c, c.Container().From(goimage.DefaultBuilder))
	for k, v := range goEnv() {
		b = b.WithEnvVariable(k, v)
	}
	bin := b.WithEnvVariable("CGO_ENABLED", "0").
		WithEnvVariable("GOFLAGS", "-buildvcs=false").
		WithMountedDirectory("/src", src).WithWorkdir("/src").
		WithExec([]string{"go", "build", "-trimpath", "-ldflags=-s -w", "-o", "/out/deploy", "./internal/cmd/deploy"}).
		File("/out/deploy")
	// distroless: CA certificates for registries and API servers, a
	// nonroot user, nothing else.
	return c.Container().From(goimage.DefaultBase).
		WithFile("/usr/local/bin/deploy", bin, sdk.ContainerWithFileOpts{Permissions: 0o755}).
		WithUser(goimage.DefaultUser), nil
}

// deployToolSource is what internal/cmd/deploy is built from; dagger.json's
// include must list it too.
var deployToolSource = []string{
	"go.mod", "go.sum",
	"internal/cmd/deploy/*.go",
	"pipeline/**/*.go", "stage/**/*.go", "deploy/**/*.go",
	"examples/deployai/deploy/*.go",
	"examples/deployai/deploy/*.yaml",
	"examples/deployai/deploy/*.yml",
	"examples/deployai/deploy/*.json",
}

// recordScan records the scan's outcome as evidence next to the image, for
// production's gate (the latest scan decides there, clean or not), with the
// deploy tool's record-scan. The scan itself stands without it: an image in
// a registry this session cannot write to is still scanned, and the gate
// then says the evidence is missing. Returns what happened, for the summary.
func recordScan(ctx context.Context, image string, findings int, username string, password *dagger.Secret) string {
	line, err := func() (string, error) {
		c, err := client(ctx)
		if err != nil {
			return "", err
		}
		ctr, err := deployTool(ctx, c)
		if err != nil {
			return "", err
		}
		if ctr, err = withRegistryAuth(ctx, c, ctr, username, password); err != nil {
			return "", err
		}
		// Not cached across calls: each scan is a new fact to record.
		ctr = ctr.WithEnvVariable("SLIPWAY_SCANNED_AT", time.Now().UTC().Format(time.RFC3339Nano))
		return runTool(ctx, "record-scan", ctr, []string{"deploy", "record-scan", "--image=" + image, "--scanner=trivy",
			"--threshold=HIGH,CRITICAL", "--findings=" + strconv.Itoa(findings)})
	}()
	if err != nil {
		fmt.Println("security-trivy: the scan evidence was not recorded:", err)
		return "scan evidence not recorded: " + err.Error()
	}
	return line
}
