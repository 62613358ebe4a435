package enginegit

import (
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/internal/engine"
	"github.com/slipway-ci/slipway/internal/enginetest"
	"github.com/slipway-ci/slipway/internal/hostport"
)

// TestOneURLForEngineAndHost: a commit pushed to the URL the engine's
// containers use (here through the engine's namespace, as they reach it)
// is what a host process fetches by the same URL through the proxy, with
// git itself, as Argo CD's repo-server does. A wrong password and
// requests for other hosts are refused.
func TestOneURLForEngineAndHost(t *testing.T) {
	e := enginetest.Require(t)
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	ns, err := engine.Namespace(e.Env)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	s, err := Start(ns, t.TempDir(), 0, 0, "ci", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	first, err := s.Create("deploy", "main", map[string]string{"overlays/staging/kustomization.yaml": "resources: []\n"})
	if err != nil {
		t.Fatal(err)
	}
	u := s.URL("deploy")
	if !strings.HasPrefix(u, "http://10.87.0.1:") {
		t.Fatalf("URL = %s, want the engine's bridge address", u)
	}

	// In the engine's namespace, as a container: a push to the URL.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = hostport.DialerIn(ns)
	resp, err := (&http.Client{Transport: tr}).Do(authed(t, u+"/info/refs?service=git-receive-pack", "ci", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("receive-pack advertisement in the engine's namespace: %s", resp.Status)
	}
	work := t.TempDir()
	withCreds := strings.Replace(u, "http://", "http://ci:s3cret@", 1)
	proxyEnv := append(os.Environ(), "http_proxy="+s.Proxy(), "HTTP_PROXY="+s.Proxy(), "GIT_TERMINAL_PROMPT=0")
	git := func(dir string, env []string, args ...string) (string, error) {
		cmd := exec.Command("git", args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// On the host, through the proxy, by the same URL: clone, commit, push.
	if out, err := git("", proxyEnv, "clone", "-q", withCreds, work); err != nil {
		t.Fatalf("git clone %s through %s: %v\n%s", u, s.Proxy(), err, out)
	}
	os.WriteFile(filepath.Join(work, "promoted"), []byte("sha256:1\n"), 0o644)
	for _, args := range [][]string{{"add", "-A"}, {"-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "promote"}, {"push", "-q", "origin", "main"}} {
		if out, err := git(work, proxyEnv, args...); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	head, err := s.Head("deploy", "main")
	if err != nil {
		t.Fatal(err)
	}
	if head == first {
		t.Fatal("the push through the proxy did not move main")
	}
	if out, err := git("", proxyEnv, "ls-remote", withCreds, "refs/heads/main"); err != nil || !strings.HasPrefix(out, head) {
		t.Errorf("ls-remote through the proxy = %q, %v; want %s", out, err, head)
	}

	wrong := strings.Replace(u, "http://", "http://ci:wrong@", 1)
	if out, err := git("", proxyEnv, "ls-remote", wrong); err == nil {
		t.Errorf("ls-remote with a wrong password succeeded: %s", out)
	}
	proxy, _ := url.Parse(s.Proxy())
	viaProxy := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}
	resp, err = viaProxy.Get("http://example.com/deploy.git/info/refs?service=git-upload-pack")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("a proxy request for another host: %s, want 502", resp.Status)
	}
}

func authed(t *testing.T, u, user, password string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, password)
	return req
}
