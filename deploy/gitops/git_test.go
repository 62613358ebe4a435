package gitops_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/slipway-ci/slipway/deploy"
	"github.com/slipway-ci/slipway/deploy/gitops"
	"github.com/slipway-ci/slipway/internal/e2e"
	"github.com/slipway-ci/slipway/internal/githost"
	"github.com/slipway-ci/slipway/pipeline"
)

var staging = deploy.Environment{Name: "staging", Tier: pipeline.Staging, Namespace: "web-staging"}

// host starts a real git host (Debian's git behind HTTP, HTTPS and SSH)
// with the GitOps layout in repository "deploy".
func host(t *testing.T) *githost.Host {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		e2e.Unavailable(t, fmt.Errorf("git is not installed (apt-get install git): %w", err))
	}
	h, err := githost.Start(t.TempDir(), "ci", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	if _, err := h.Create("deploy", "main", layout(image("web", "v0"))); err != nil {
		t.Fatal(err)
	}
	return h
}

func commitOnly(t *testing.T, repo gitops.Repository, target gitops.Target) *gitops.Promoter {
	t.Helper()
	p, err := gitops.New(context.Background(), staging, repo, target, gitops.Application{}, gitops.WithoutWait(), gitops.WithAttempts(20))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var overlay = gitops.Kustomize{Dir: "overlays/staging", Image: "web"}

// TestConcurrentPushesLoseNoWrite: promotions racing on one branch all
// land, each on top of the previous one: a refused push is redone on the
// new head, never forced.
func TestConcurrentPushesLoseNoWrite(t *testing.T) {
	h := host(t)
	const n = 5
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := commitOnly(t, gitops.Repository{URL: h.HTTPURL("deploy"), Auth: gitops.BasicAuth("ci", "s3cret")}, overlay)
			_, errs[i] = p.Deploy(context.Background(), deploy.Release{Image: image("web", fmt.Sprint("c", i))})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	log, err := h.Git("deploy", "log", "--first-parent", "--format=%b", "main")
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if !strings.Contains(log, "Image: "+image("web", fmt.Sprint("c", i))) {
			t.Errorf("the promotion of c%d was lost:\n%s", i, log)
		}
	}
	if merges, _ := h.Git("deploy", "rev-list", "--merges", "--count", "main"); strings.TrimSpace(merges) != "0" {
		t.Errorf("%s merges: want a linear history", merges)
	}
}

// TestPushOverHTTPSAndSSH: the same promotion over HTTPS (the server's CA
// given) and over SSH (a deploy key, the host key pinned); a wrong host
// key is refused before anything is sent.
func TestPushOverHTTPSAndSSH(t *testing.T) {
	h := host(t)
	ctx := context.Background()
	https := commitOnly(t, gitops.Repository{URL: h.HTTPSURL("deploy"), Auth: gitops.BasicAuth("ci", "s3cret"), CABundle: h.CACert()}, overlay)
	res, err := https.Deploy(ctx, deploy.Release{Image: image("web", "https")})
	if err != nil {
		t.Fatal(err)
	}
	if head, _ := h.Head("deploy", "main"); res.Revision != head {
		t.Fatalf("HTTPS: revision %s, head %s", res.Revision, head)
	}
	ssh := commitOnly(t, gitops.Repository{URL: h.SSHURL("deploy"), Auth: gitops.SSHKey("git", h.SSHClientKey(), "", h.SSHHostKey())}, overlay)
	if res, err = ssh.Deploy(ctx, deploy.Release{Image: image("web", "ssh")}); err != nil {
		t.Fatal(err)
	}
	if head, _ := h.Head("deploy", "main"); res.Revision != head {
		t.Fatalf("SSH: revision %s, head %s", res.Revision, head)
	}
	if show, _ := h.Git("deploy", "show", "main:overlays/staging/kustomization.yaml"); !strings.Contains(show, strings.Split(image("web", "ssh"), "@")[1]) {
		t.Fatalf("the SSH promotion is not on main:\n%s", show)
	}
	pushes := h.Pushes()
	other, err := githost.Start(t.TempDir(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	wrongHost := commitOnly(t, gitops.Repository{URL: h.SSHURL("deploy"), Auth: gitops.SSHKey("git", h.SSHClientKey(), "", other.SSHHostKey())}, overlay)
	if _, err := wrongHost.Deploy(ctx, deploy.Release{Image: image("web", "mitm")}); err == nil || !strings.Contains(err.Error(), "ssh: host key mismatch") {
		t.Fatalf("an unknown host key: %v", err)
	}
	if h.Pushes() != pushes {
		t.Fatal("a push reached a host with the wrong key")
	}
}

// TestBadInputChangesNothing: an images entry no container uses, a
// missing overlay and a tag instead of a digest are refused before any
// commit, with what to fix.
func TestBadInputChangesNothing(t *testing.T) {
	h := host(t)
	repo := gitops.Repository{URL: h.HTTPURL("deploy"), Auth: gitops.BasicAuth("ci", "s3cret")}
	p := `gitops: environment "staging": `
	for _, tc := range []struct {
		name   string
		target gitops.Target
		image  string
		want   string
	}{
		{"entry matches no container", gitops.Kustomize{Dir: "overlays/staging", Image: "webapp"}, image("web", "v1"),
			p + `the kustomize images entry "webapp" in overlays/staging/kustomization.yaml: the images entry "webapp" reaches no container of kustomize build overlays/staging (containers: web/app: registry.local/web@sha256:` +
				strings.Split(image("web", "v0"), "@sha256:")[1] + `): set Kustomize.Image to the image name the base's containers use`},
		{"no overlay", gitops.Kustomize{Dir: "overlays/qa", Image: "web"}, image("web", "v1"),
			p + `the kustomize images entry "web" in overlays/qa/kustomization.yaml: overlays/qa/kustomization.yaml: open `},
		{"a tag", overlay, "registry.local/web:v1",
			p + `image "registry.local/web:v1" is a tag, not a digest`},
		{"helm values path missing", gitops.HelmValues{Path: "overlays/staging/kustomization.yaml", Repository: "image.repository", Digest: "image.digest"}, image("web", "v1"),
			p + `the values image.repository and image.digest in overlays/staging/kustomization.yaml: values file overlays/staging/kustomization.yaml has no value image.repository: add it (with the value the chart reads) or fix the path in HelmValues`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := commitOnly(t, repo, tc.target).Deploy(context.Background(), deploy.Release{Image: tc.image})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error\n got: %v\nwant: %s...", err, tc.want)
			}
		})
	}
	if n, _ := h.Git("deploy", "rev-list", "--count", "main"); strings.TrimSpace(n) != "1" || h.Pushes() != 0 {
		t.Fatalf("bad input pushed: %s commits, %d pushes", n, h.Pushes())
	}
}

// TestNewRefusesBadInput: what New can see without git or a cluster.
func TestNewRefusesBadInput(t *testing.T) {
	p := `gitops: environment "staging": `
	for _, tc := range []struct {
		name   string
		repo   gitops.Repository
		target gitops.Target
		app    gitops.Application
		opts   []gitops.Option
		want   string
	}{
		{"no URL", gitops.Repository{}, overlay, gitops.Application{Name: "a"}, nil,
			p + "no repository URL: set Repository.URL (https://host/org/repo.git or ssh://git@host/org/repo.git)"},
		{"password in URL", gitops.Repository{URL: "https://ci:s3cret@git.example.com/deploy.git"}, overlay, gitops.Application{Name: "a"}, nil,
			p + "repository URL https://ci:xxxxx@git.example.com/deploy.git holds a password: pass it as Repository.Auth (from a secret), never in the URL"},
		{"file URL", gitops.Repository{URL: "file:///srv/deploy.git"}, overlay, gitops.Application{Name: "a"}, nil,
			p + `repository URL "file:///srv/deploy.git": scheme "file" is not supported: use https://, http:// or ssh://`},
		{"no target", gitops.Repository{URL: "https://git.example.com/deploy.git"}, nil, gitops.Application{Name: "a"}, nil,
			p + "no target: say where the digest goes (gitops.Kustomize or gitops.HelmValues)"},
		{"absolute overlay", gitops.Repository{URL: "https://git.example.com/deploy.git"}, gitops.Kustomize{Dir: "/overlays/staging", Image: "web"}, gitops.Application{Name: "a"}, nil,
			p + `Kustomize.Dir "/overlays/staging": want the overlay's directory relative to the repository root (overlays/staging)`},
		{"no image name", gitops.Repository{URL: "https://git.example.com/deploy.git"}, gitops.Kustomize{Dir: "overlays/staging"}, gitops.Application{Name: "a"}, nil,
			p + "Kustomize.Image is empty: name the image the base's containers use, which the images entry replaces"},
		{"helm values half", gitops.Repository{URL: "https://git.example.com/deploy.git"}, gitops.HelmValues{Path: "values.yaml", Digest: "image.digest"}, gitops.Application{Name: "a"}, nil,
			p + "HelmValues: set Repository and Digest (image.repository, image.digest), or Reference alone"},
		{"no application", gitops.Repository{URL: "https://git.example.com/deploy.git"}, overlay, gitops.Application{}, nil,
			p + "no Argo CD Application: name the one that deploys the repository (gitops.Application), or use WithoutWait"},
		{"ssh without host key", gitops.Repository{URL: "ssh://git@git.example.com/deploy.git", Auth: gitops.SSHKey("git", []byte("k"), "", nil)}, overlay, gitops.Application{Name: "a"}, nil,
			p + "SSHKey: no valid host key given: pass the server's public host key (a line of known_hosts without the host name, e.g. `ssh-ed25519 AAAA...`)"},
		{"attempts", gitops.Repository{URL: "https://git.example.com/deploy.git"}, overlay, gitops.Application{Name: "a"}, []gitops.Option{gitops.WithAttempts(0)},
			p + "attempts 0: want 1 or more"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := gitops.New(context.Background(), staging, tc.repo, tc.target, tc.app, tc.opts...)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error\n got: %v\nwant: %s", err, tc.want)
			}
		})
	}
	t.Run("node selector", func(t *testing.T) {
		env := staging
		env.NodeSelector = map[string]string{"slipway.dev/node": "real"}
		_, err := gitops.New(context.Background(), env, gitops.Repository{URL: "https://git.example.com/deploy.git"}, overlay, gitops.Application{Name: "a"})
		want := p + "node selector [slipway.dev/node=real]: a GitOps promotion cannot place pods, Argo CD renders the repository: set the nodeSelector in the environment's overlay or values there"
		if err == nil || err.Error() != want {
			t.Fatalf("error\n got: %v\nwant: %s", err, want)
		}
	})
}

// TestHelmValuesTarget: the digest goes into a Helm values file at the
// named paths; comments and other values stay as they were.
func TestHelmValuesTarget(t *testing.T) {
	h := host(t)
	target := gitops.HelmValues{Path: "helm/values-staging.yaml", Repository: "image.repository", Digest: "image.digest"}
	p := commitOnly(t, gitops.Repository{URL: h.HTTPURL("deploy"), Auth: gitops.BasicAuth("ci", "s3cret")}, target)
	v1 := "registry.local/shop/web@sha256:" + strings.Split(image("web", "v1"), "@sha256:")[1]
	if _, err := p.Deploy(context.Background(), deploy.Release{Image: v1}); err != nil {
		t.Fatal(err)
	}
	got, _ := h.Git("deploy", "show", "main:helm/values-staging.yaml")
	want := "# Staging values: slipway writes the digest.\nreplicaCount: 2\nimage:\n  repository: registry.local/shop/web\n  digest: sha256:" + strings.Split(v1, "@sha256:")[1] + " # pinned by the pipeline\n"
	if got != want {
		t.Fatalf("values file\n got: %q\nwant: %q", got, want)
	}
}

// image returns a digest reference for a label: for the tests here, which
// only commit it and never run it.
func image(repo, label string) string {
	sum := sha256.Sum256([]byte(label))
	return "registry.local/" + repo + "@sha256:" + hex.EncodeToString(sum[:])
}
