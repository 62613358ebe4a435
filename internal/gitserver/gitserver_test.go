package gitserver_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/internal/gitserver"
)

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestCloneAndPush: a published repository clones over HTTP, with the
// right password only, and takes a push.
func TestCloneAndPush(t *testing.T) {
	src := t.TempDir()
	git(t, src, "init", "-q")
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("one\n"), 0o644)
	git(t, src, "add", "a.txt")
	git(t, src, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "one")
	root := t.TempDir()
	if err := gitserver.Publish(root, "repo", src, "HEAD", "main"); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := gitserver.Serve(l, root, gitserver.WithBasicAuth("ci", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	url := s.URL("127.0.0.1", "repo")
	clone := filepath.Join(t.TempDir(), "clone")
	if out, err := exec.Command("git", "clone", "-q", strings.Replace(url, "http://", "http://ci:wrong@", 1), clone).CombinedOutput(); err == nil {
		t.Fatalf("a wrong password cloned: %s", out)
	}
	authed := strings.Replace(url, "http://", "http://ci:s3cret@", 1)
	if out, err := exec.Command("git", "clone", "-q", authed, clone).CombinedOutput(); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(clone, "a.txt")); string(b) != "one\n" {
		t.Errorf("cloned a.txt = %q", b)
	}
	os.WriteFile(filepath.Join(clone, "b.txt"), []byte("two\n"), 0o644)
	git(t, clone, "add", "b.txt")
	git(t, clone, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "two")
	git(t, clone, "push", "-q", "origin", "HEAD:main")
	if got := git(t, filepath.Join(root, "repo.git"), "log", "--format=%s", "-1", "main"); got != "two" {
		t.Errorf("the server's main is at %q after the push, want two", got)
	}
}
