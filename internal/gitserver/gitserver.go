// Package gitserver serves git repositories over smart HTTP for tests: the
// real `git http-backend` (Debian's git) behind net/http/cgi, with optional
// basic auth, on any listener, such as one inside the Dagger engine's
// network namespace (hostport.ListenIn) so that the engine clones from it.
package gitserver

import (
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Server serves the bare repositories under Root.
type Server struct {
	// Root holds the bare repositories, as NAME.git directories.
	Root string
	srv  *http.Server
	l    net.Listener
}

// Option configures Serve.
type Option func(*options)

type options struct{ user, password string }

// WithBasicAuth requires these credentials of every request, as a git
// host does for a private repository.
func WithBasicAuth(user, password string) Option {
	return func(o *options) { o.user, o.password = user, password }
}

// Serve serves the bare repositories under root on l until Close. Pushes
// are allowed (http.receivepack), so a test can push as a CI job does.
func Serve(l net.Listener, root string, opts ...Option) (*Server, error) {
	h, err := Handler(root, opts...)
	if err != nil {
		return nil, err
	}
	s := &Server{Root: root, srv: &http.Server{Handler: h}, l: l}
	go s.srv.Serve(l)
	return s, nil
}

// Handler is Serve's handler, for a caller that runs its own servers.
func Handler(root string, opts ...Option) (http.Handler, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return nil, fmt.Errorf("gitserver: git is not installed (apt-get install git): %w", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		return nil, fmt.Errorf("gitserver: %s: %w", backend, err)
	}
	var h http.Handler = &cgi.Handler{
		Path: backend,
		Dir:  root,
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "REMOTE_USER=slipway"},
	}
	if o.user != "" {
		next := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, p, ok := r.BasicAuth()
			if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(o.user)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(o.password)) != 1 {
				w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				http.Error(w, "authentication required", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	return h, nil
}

// URL returns the clone URL of the repository name (without .git) as
// clients reach host at the listener's port. Port 80 is left out: Dagger
// drops the port of a git module's address, so a server for the engine
// listens on 80.
func (s *Server) URL(host, name string) string {
	_, port, _ := net.SplitHostPort(s.l.Addr().String())
	if port != "80" {
		host = net.JoinHostPort(host, port)
	}
	return fmt.Sprintf("http://%s/%s.git", host, name)
}

// Close stops serving.
func (s *Server) Close() error { return s.srv.Close() }

// Publish makes root/NAME.git a bare copy of the repository at dir, with
// its commit rev (a commit, branch or tag) as branch. Publishing again
// updates the branch.
func Publish(root, name, dir, rev, branch string) error {
	bare := filepath.Join(root, name+".git")
	if _, err := os.Stat(bare); err != nil {
		if out, err := exec.Command("git", "init", "-q", "--bare", bare).CombinedOutput(); err != nil {
			return fmt.Errorf("gitserver: git init --bare: %v: %s", err, out)
		}
		// The engine clones over dumb-free smart HTTP; receive-pack lets
		// tests push.
		if out, err := exec.Command("git", "-C", bare, "config", "http.receivepack", "true").CombinedOutput(); err != nil {
			return fmt.Errorf("gitserver: %v: %s", err, out)
		}
	}
	cmd := exec.Command("git", "-C", dir, "push", "-q", "--force", bare, rev+":refs/heads/"+branch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("gitserver: pushing %s of %s: %v: %s", rev, dir, err, out)
	}
	if out, err := exec.Command("git", "-C", bare, "symbolic-ref", "HEAD", "refs/heads/"+branch).CombinedOutput(); err != nil {
		return fmt.Errorf("gitserver: %v: %s", err, out)
	}
	return nil
}

// Snapshot returns a commit of dir's working tree as it is now, committed
// or not (git stash create), or HEAD when nothing changed: what a test
// publishes so that the code under test is the code on disk.
func Snapshot(dir string) (string, error) {
	out, err := exec.Command("git", "-C", dir, "stash", "create", "slipway test snapshot").Output()
	if err != nil {
		return "", fmt.Errorf("gitserver: git stash create: %w", err)
	}
	if rev := strings.TrimSpace(string(out)); rev != "" {
		return rev, nil
	}
	out, err = exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return "", fmt.Errorf("gitserver: git rev-parse HEAD: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}
