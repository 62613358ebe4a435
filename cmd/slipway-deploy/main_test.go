package main

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// pushRandom serves an in-process registry with the referrers API and
// pushes a random image to it, returning repository@sha256:digest.
func pushRandom(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/svc:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return ref.Context().Digest(d.String()).String()
}

// kubeconfig writes a kubeconfig for a server nothing listens on: the
// tests below must fail before any request reaches it.
func kubeconfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	const cfg = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:1
contexts:
- name: c
  context: {cluster: c, user: u}
current-context: c
users:
- name: u
  user: {token: t}
`
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func noEnv(string) string { return "" }

// manifests writes a directory with files (name -> content).
func manifests(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const webDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: web}
      - {name: proxy, image: envoy@sha256:0000000000000000000000000000000000000000000000000000000000000000}
`

func TestRunRefuses(t *testing.T) {
	image := pushRandom(t)
	kc := kubeconfig(t)
	good := manifests(t, map[string]string{"web.yaml": webDeployment})
	base := func(extra ...string) []string {
		return append([]string{"--image=" + image, "--manifests=" + good, "--namespace=web", "--kubeconfig=" + kc, "--container=web"}, extra...)
	}
	staging := func(extra ...string) []string { return append([]string{"staging"}, base(extra...)...) }
	with := func(dir string) []string {
		return []string{"staging", "--image=" + image, "--manifests=" + dir, "--namespace=web", "--kubeconfig=" + kc, "--container=web"}
	}
	tests := []struct {
		name  string
		args  []string
		usage bool
		want  []string
	}{
		{"no subcommand", nil, true, []string{"no subcommand", "staging, production, record-scan or notify"}},
		{"unknown subcommand", []string{"canary"}, true, []string{`unknown subcommand "canary"`}},
		{"unknown flag", staging("--colour=red"), true, []string{"deploy-staging", "colour"}},
		{"stray argument", staging("extra"), true, []string{"unexpected arguments"}},
		{"no kubeconfig", []string{"staging", "--image=" + image, "--manifests=" + good, "--namespace=web"}, true, []string{"deploy-staging: no --kubeconfig"}},
		{"no manifests", []string{"staging", "--image=" + image, "--namespace=web", "--kubeconfig=" + kc}, true, []string{"deploy-staging: no --manifests"}},
		{"no namespace", []string{"staging", "--image=" + image, "--manifests=" + good, "--kubeconfig=" + kc}, true, []string{"deploy-staging: no --namespace"}},
		{"bad timeout", staging("--timeout=soon"), false, []string{`timeout "soon" is not a positive Go duration`}},
		{"tag, not digest", []string{"staging", "--image=registry.example/svc:v1", "--manifests=" + good, "--namespace=web", "--kubeconfig=" + kc}, false, []string{"deploy-staging", "is a tag, not a digest"}},
		{"no Deployment", with(manifests(t, map[string]string{"svc.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"})), false,
			[]string{"deploy-staging: manifests", "the bundle has no Deployment to roll out"}},
		{"no such container", staging("--container=api"), false, []string{`no container "api" (it has [web proxy])`}},
		{"two containers, none named", []string{"staging", "--image=" + image, "--manifests=" + good, "--namespace=web", "--kubeconfig=" + kc}, false,
			[]string{"2 containers [web proxy]: name the one that gets the image"}},
		{"kustomize error", with(manifests(t, map[string]string{"kustomization.yaml": "resources: [gone.yaml]\n"})), false,
			[]string{"deploy-staging: manifests", "kustomize could not render kustomization.yaml"}},
		{"another namespace", with(manifests(t, map[string]string{"web.yaml": strings.Replace(webDeployment, "{name: web}", "{name: web, namespace: prod}", 1)})), false,
			[]string{`the manifests put Deployment web in namespace "prod", but the deploy targets "web"`}},
		{"unreadable kubeconfig", []string{"staging", "--image=" + image, "--manifests=" + good, "--namespace=web", "--container=web", "--kubeconfig=" + filepath.Join(t.TempDir(), "none")}, false, []string{"deploy-staging", "kubeconfig"}},
		{"bad tunnel", staging("--tunnel=cluster"), false, []string{"deploy-staging", "tunnel", "HOST:PORT"}},
		{"bad node selector", staging("--node-selector=real"), true, []string{`deploy-staging: --node-selector: node selector "real": want KEY=VALUE`}},
		{"bad verify path", staging("--verify-path=health"), true,
			[]string{`deploy-staging: --verify-path: verify path "health" is not an absolute URL path, optionally after a port: /health, metrics:/metrics`}},
		{"no-verify with a verify path", staging("--no-verify", "--verify-path=/ready"), true,
			[]string{"deploy-staging: --no-verify turns the smoke test off, but --verify-path or --verify-window was given: drop one"}},
		{"no-verify with alert rules", staging("--no-verify", "--alert-rules=a.yaml"), true,
			[]string{"deploy-staging: --no-verify turns verification off, but --alert-rules was given: drop one"}},
		{"bad alert window", staging("--alert-rules=a.yaml", "--alert-window=soon"), false,
			[]string{`deploy-staging: --alert-window "soon" is not a positive Go duration such as 30s`}},
		{"negative verify window", staging("--verify-window=-1s"), true, []string{"deploy-staging: --verify-window -1s is negative"}},
		{"verify path with helm", []string{"staging", "--image=" + image, "--namespace=web", "--kubeconfig=" + kc, "--source=helm", "--chart=x", "--verify-path=/ready"}, true,
			[]string{"--verify-path"}},
		// Nothing recorded for the digest: the gate names every check and
		// the flag that approves, before any request reaches the cluster.
		{"production without evidence", append([]string{"production"}, base()...), false,
			[]string{"deploy-production", "not deployed and verified in staging", "not scanned clean", "not approved", "--approve"}},
		{"record-scan without findings", []string{"record-scan", "--image=" + image}, true, []string{"--findings is required"}},
		{"record-scan of a tag", []string{"record-scan", "--image=registry.example/svc:v1", "--findings=0"}, false, []string{"record-scan", "not a digest"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(context.Background(), tt.args, noEnv)
			if err == nil {
				t.Fatalf("run(%q) = %q, want an error", tt.args, out)
			}
			if got := errors.Is(err, errUsage); got != tt.usage {
				t.Errorf("usage error = %v, want %v: %v", got, tt.usage, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
}

// TestRecordScanFeedsTheGate: a clean scan recorded by record-scan is what
// production's gate reads; only the staging check and the approval remain.
func TestRecordScanFeedsTheGate(t *testing.T) {
	image := pushRandom(t)
	out, err := run(context.Background(), []string{"record-scan", "--image=" + image, "--findings=0"}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if out != "scan evidence recorded" {
		t.Errorf("record-scan = %q, want %q", out, "scan evidence recorded")
	}
	dir := manifests(t, map[string]string{"web.yaml": webDeployment})
	_, err = run(context.Background(), []string{"production", "--image=" + image, "--manifests=" + dir, "--namespace=web", "--container=web", "--kubeconfig=" + kubeconfig(t)}, noEnv)
	if err == nil {
		t.Fatal("production deployed without staging evidence or approval")
	}
	for _, w := range []string{"not deployed and verified in staging", "not approved"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("refusal lacks %q: %v", w, err)
		}
	}
	if strings.Contains(err.Error(), "not scanned clean") {
		t.Errorf("refusal says the scan is missing after record-scan: %v", err)
	}
}

func TestRegistryOptions(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want int
	}{
		{map[string]string{}, 0},
		{map[string]string{"REGISTRY_USERNAME": "ci"}, 1},
		{map[string]string{"REGISTRY_PASSWORD": "token"}, 1},
		{map[string]string{"REGISTRY_USERNAME": "ci", "REGISTRY_PASSWORD": "token"}, 1},
	}
	for _, tt := range tests {
		if got := len(registryOptions(func(k string) string { return tt.env[k] })); got != tt.want {
			t.Errorf("registryOptions(%v): %d options, want %d", tt.env, got, tt.want)
		}
	}
}
