// Package enginegit is a git server that the Dagger engine's containers
// and the processes of this host reach at the same URL, for GitOps on one
// machine: slipway's deploy tool pushes a promote commit from inside the
// engine, and Argo CD, running on the host, fetches that commit from the
// repository its Application names, which must be the very URL the tool
// pushed to (deploy/gitops checks that they match).
//
// The engine's containers live in the engine's network namespace and
// reach only it: the server listens there (hostport.ListenIn), on
// 0.0.0.0:PORT, which the containers reach at http://10.87.0.1:PORT. That
// address does not exist on the host, so the server also listens on the
// host's 127.0.0.1:PROXYPORT as an HTTP proxy for it: a host process whose
// proxy is http://127.0.0.1:PROXYPORT (Argo CD's repository secret has a
// `proxy` field) sends `GET http://10.87.0.1:PORT/NAME.git/...` there, and
// the server answers it from the same repositories. Both listeners serve
// Debian's `git http-backend` (internal/gitserver) with basic auth.
package enginegit

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-ci/slipway/internal/engine"
	"github.com/slipway-ci/slipway/internal/githost"
	"github.com/slipway-ci/slipway/internal/gitserver"
	"github.com/slipway-ci/slipway/internal/hostport"
)

// Server serves the bare repositories under Root.
type Server struct {
	// Root holds the repositories, as NAME.git.
	Root string
	// User and Password are the basic-auth credentials every request
	// needs.
	User, Password string
	// Port is the port in the engine's namespace; ProxyPort the host's.
	Port, ProxyPort int

	inEngine, onHost *http.Server
}

// Start serves root in the engine's network namespace ns on port (0: any
// free one) and on the host's 127.0.0.1:proxyPort (0: any free one).
// The calling process needs CAP_SYS_ADMIN.
func Start(ns *os.File, root string, port, proxyPort int, user, password string) (*Server, error) {
	if user == "" || password == "" {
		return nil, errors.New("enginegit: a user and a password are required: the repositories are writable")
	}
	h, err := gitserver.Handler(root, gitserver.WithBasicAuth(user, password))
	if err != nil {
		return nil, fmt.Errorf("enginegit: %w", err)
	}
	le, err := hostport.ListenIn(ns, "tcp", "0.0.0.0:"+strconv.Itoa(port))
	if err != nil {
		return nil, fmt.Errorf("enginegit: listening in the engine's network namespace on port %d: %w", port, err)
	}
	lh, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(proxyPort))
	if err != nil {
		le.Close()
		return nil, fmt.Errorf("enginegit: listening on 127.0.0.1:%d: %w", proxyPort, err)
	}
	s := &Server{Root: root, User: user, Password: password,
		Port: le.Addr().(*net.TCPAddr).Port, ProxyPort: lh.Addr().(*net.TCPAddr).Port}
	s.inEngine = &http.Server{Handler: h, ReadHeaderTimeout: time.Minute}
	s.onHost = &http.Server{Handler: proxyHandler(s.host(), h), ReadHeaderTimeout: time.Minute}
	go s.inEngine.Serve(le)
	go s.onHost.Serve(lh)
	return s, nil
}

// host is the address the engine's containers reach the server at.
func (s *Server) host() string { return net.JoinHostPort(engine.BridgeIP, strconv.Itoa(s.Port)) }

// URL is the clone URL of repository name (without .git), for the
// engine's containers and, through Proxy, for host processes.
func (s *Server) URL(name string) string { return "http://" + s.host() + "/" + name + ".git" }

// Proxy is the proxy URL host processes fetch URL through.
func (s *Server) Proxy() string { return "http://127.0.0.1:" + strconv.Itoa(s.ProxyPort) }

// Create makes the repository name (without .git) with one commit on
// branch holding files (path -> content), and returns that commit.
func (s *Server) Create(name, branch string, files map[string]string) (string, error) {
	return (&githost.Host{Root: s.Root}).Create(name, branch, files)
}

// Update commits files on branch of repository name (see githost's
// Host.Update) and returns the branch's commit and whether it changed.
func (s *Server) Update(name, branch, message string, files map[string]string) (string, bool, error) {
	return (&githost.Host{Root: s.Root}).Update(name, branch, message, files)
}

// Head is the commit branch of repository name points at.
func (s *Server) Head(name, branch string) (string, error) {
	return (&githost.Host{Root: s.Root}).Head(name, branch)
}

// Git runs git in the bare repository name and returns its output.
func (s *Server) Git(name string, args ...string) (string, error) {
	return (&githost.Host{Root: s.Root}).Git(name, args...)
}

// Close stops both listeners.
func (s *Server) Close() error {
	return errors.Join(s.inEngine.Close(), s.onHost.Close())
}

// proxyHandler is the host listener's handler: it answers direct requests
// and proxy requests (the absolute-form `GET http://HOST/...` a client
// sends its proxy) for the server's own host; CONNECT and other hosts get
// 502 Bad Gateway instead of a git answer that looks right but is not
// theirs.
func proxyHandler(host string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodConnect || r.URL.Host != "" && !strings.EqualFold(r.URL.Host, host) {
			http.Error(w, "enginegit: this proxy reaches only http://"+host, http.StatusBadGateway)
			return
		}
		next.ServeHTTP(w, r)
	})
}
