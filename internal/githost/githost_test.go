package githost_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/internal/githost"
)

func git(t *testing.T, env []string, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestHTTPAndSSH: the git CLI clones over HTTP with the right password
// only, over HTTPS trusting CACert, and pushes over SSH with the client
// key; the push lands in the bare repository.
func TestHTTPAndSSH(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	h, err := githost.Start(t.TempDir(), "ci", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	first, err := h.Create("deploy", "main", map[string]string{"README": "hi\n"})
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	wrong := strings.Replace(h.HTTPURL("deploy"), "http://", "http://ci:wrong@", 1)
	if out, err := git(t, nil, tmp, "clone", "-q", wrong, "x"); err == nil || !strings.Contains(out, "Authentication failed") {
		t.Fatalf("a wrong password cloned: %v %s", err, out)
	}
	right := strings.Replace(h.HTTPURL("deploy"), "http://", "http://ci:s3cret@", 1)
	if out, err := git(t, nil, tmp, "clone", "-q", right, "http"); err != nil {
		t.Fatalf("clone over HTTP: %v %s", err, out)
	}
	ca := filepath.Join(tmp, "ca.pem")
	os.WriteFile(ca, h.CACert(), 0o644)
	httpsURL := strings.Replace(h.HTTPSURL("deploy"), "https://", "https://ci:s3cret@", 1)
	if out, err := git(t, []string{"GIT_SSL_CAINFO=" + ca}, tmp, "clone", "-q", httpsURL, "https"); err != nil {
		t.Fatalf("clone over HTTPS: %v %s", err, out)
	}
	key := filepath.Join(tmp, "id")
	os.WriteFile(key, h.SSHClientKey(), 0o600)
	kh := filepath.Join(tmp, "known_hosts")
	host := strings.TrimPrefix(strings.TrimSuffix(h.SSHURL("deploy"), "/deploy.git"), "ssh://git@")
	hostname, port, _ := strings.Cut(host, ":")
	os.WriteFile(kh, []byte("["+hostname+"]:"+port+" "+string(h.SSHHostKey())), 0o644)
	sshEnv := []string{"GIT_SSH_COMMAND=ssh -i " + key + " -o UserKnownHostsFile=" + kh + " -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes"}
	if _, err := exec.LookPath("ssh"); err == nil {
		if out, err := git(t, sshEnv, tmp, "clone", "-q", h.SSHURL("deploy"), "ssh"); err != nil {
			t.Fatalf("clone over SSH: %v %s", err, out)
		}
		work := filepath.Join(tmp, "ssh")
		os.WriteFile(filepath.Join(work, "README"), []byte("changed\n"), 0o644)
		for _, args := range [][]string{{"-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qam", "change"}, {"push", "-q", "origin", "main"}} {
			if out, err := git(t, sshEnv, work, args...); err != nil {
				t.Fatalf("git %v: %v %s", args, err, out)
			}
		}
		head, _ := h.Head("deploy", "main")
		if head == first || h.Pushes() != 1 {
			t.Fatalf("the SSH push did not land: head %s (first %s), pushes %d", head, first, h.Pushes())
		}
	} else {
		t.Log("no ssh client: the SSH transport is covered by deploy/gitops's go-git test")
	}
}

// TestUpdate: Update commits only what changed, on top of the branch, and
// leaves other paths as they were.
func TestUpdate(t *testing.T) {
	h := &githost.Host{Root: t.TempDir()}
	first, err := h.Create("r", "main", map[string]string{"a": "1\n", "b": "2\n"})
	if err != nil {
		t.Fatal(err)
	}
	if head, changed, err := h.Update("r", "main", "same", map[string]string{"a": "1\n"}); err != nil || changed || head != first {
		t.Fatalf("the same content: %s, %v, %v; want no commit on %s", head, changed, err, first)
	}
	head, changed, err := h.Update("r", "main", "new a", map[string]string{"a": "3\n"})
	if err != nil || !changed || head == first {
		t.Fatalf("new content: %s, %v, %v; want a new commit", head, changed, err)
	}
	for file, want := range map[string]string{"a": "3\n", "b": "2\n"} {
		if got, err := h.Git("r", "show", "main:"+file); err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", file, got, err, want)
		}
	}
	if parent, err := h.Git("r", "rev-parse", "main^"); err != nil || strings.TrimSpace(parent) != first {
		t.Errorf("the update's parent %q (%v), want %s", parent, err, first)
	}
}
