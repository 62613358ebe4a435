// Package githost is a real git host for tests: Debian's git serving bare
// repositories over smart HTTP(S) (`git http-backend` behind net/http/cgi,
// with basic auth) and over SSH (`git-upload-pack` / `git-receive-pack`
// behind an SSH server from golang.org/x/crypto/ssh, with a public key).
// What a test pushes is what Argo CD's repo-server, or any git client,
// fetches: the same repository on disk.
package githost

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
)

// Host serves the bare repositories under Root.
type Host struct {
	// Root holds the repositories, as NAME.git.
	Root string
	// User and Password are the HTTP basic-auth credentials ("" for none).
	User, Password string

	http  *httptest.Server
	https *httptest.Server

	sshL       net.Listener
	sshUser    string
	sshHostKey ssh.Signer
	clientKey  ed25519.PrivateKey
	wg         sync.WaitGroup
	mu         sync.Mutex
	pushes     int
}

// Start serves root over HTTP and HTTPS on 127.0.0.1 with the given basic
// auth (user "" for none), and over SSH for user "git" with a generated
// client key. Close stops everything.
func Start(root, user, password string) (*Host, error) {
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return nil, fmt.Errorf("githost: git is not installed (apt-get install git): %w", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		return nil, fmt.Errorf("githost: %w", err)
	}
	h := &Host{Root: root, User: user, Password: password, sshUser: "git"}
	var handler http.Handler = &cgi.Handler{
		Path: backend,
		Dir:  root,
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
		// A refused concurrent push ("cannot lock ref") is the client's
		// to report; the server's stderr would only clutter test output.
		Stderr: io.Discard,
	}
	next := handler
	handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user != "" {
			u, p, ok := r.BasicAuth()
			if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(user)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(password)) != 1 {
				w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				http.Error(w, "authentication required", http.StatusUnauthorized)
				return
			}
			// http-backend only accepts pushes from an authenticated user.
			r.Header.Set("Remote-User", u)
		}
		if r.URL.Query().Get("service") == "git-receive-pack" || strings.HasSuffix(r.URL.Path, "/git-receive-pack") {
			if r.Method == http.MethodPost {
				h.mu.Lock()
				h.pushes++
				h.mu.Unlock()
			}
		}
		next.ServeHTTP(w, r)
	})
	h.http = httptest.NewServer(handler)
	h.https = httptest.NewTLSServer(handler)
	if err := h.startSSH(); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// Pushes counts the push requests that reached git (authenticated).
func (h *Host) Pushes() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pushes
}

// HTTPURL is the http:// clone URL of repository name (without .git).
func (h *Host) HTTPURL(name string) string { return h.http.URL + "/" + name + ".git" }

// HTTPSURL is the https:// clone URL; its certificate is CACert.
func (h *Host) HTTPSURL(name string) string { return h.https.URL + "/" + name + ".git" }

// CACert is the PEM certificate the HTTPS server presents (self-signed):
// what a client adds to its CA bundle.
func (h *Host) CACert() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: h.https.Certificate().Raw})
}

// TLSConfig trusts the HTTPS server.
func (h *Host) TLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(h.https.Certificate())
	return &tls.Config{RootCAs: pool}
}

// SSHURL is the ssh:// clone URL of repository name.
func (h *Host) SSHURL(name string) string {
	return fmt.Sprintf("ssh://%s@%s/%s.git", h.sshUser, h.sshL.Addr(), name)
}

// SSHClientKey is the private key (OpenSSH PEM) the SSH server accepts.
func (h *Host) SSHClientKey() []byte {
	b, err := ssh.MarshalPrivateKey(h.clientKey, "")
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(b)
}

// SSHHostKey is the server's public host key in authorized_keys format.
func (h *Host) SSHHostKey() []byte { return ssh.MarshalAuthorizedKey(h.sshHostKey.PublicKey()) }

// Close stops serving.
func (h *Host) Close() {
	if h.http != nil {
		h.http.Close()
	}
	if h.https != nil {
		h.https.Close()
	}
	if h.sshL != nil {
		h.sshL.Close()
	}
	h.wg.Wait()
}

// Create makes root/NAME.git a bare repository with one commit on branch
// holding files (path -> content), and returns that commit.
func (h *Host) Create(name, branch string, files map[string]string) (string, error) {
	bare := filepath.Join(h.Root, name+".git")
	if err := run("", "git", "init", "-q", "--bare", "-b", branch, bare); err != nil {
		return "", err
	}
	if err := run(bare, "git", "config", "http.receivepack", "true"); err != nil {
		return "", err
	}
	head, _, err := h.commit(name, branch, "initial layout", files, true)
	return head, err
}

// Update commits files (path -> content; other paths stay as they are) on
// branch of root/NAME.git with message, and returns the branch's commit
// and whether it changed: files that hold what the branch has already
// make no commit.
func (h *Host) Update(name, branch, message string, files map[string]string) (string, bool, error) {
	return h.commit(name, branch, message, files, false)
}

// commit writes files into a clone of root/NAME.git and pushes them to
// branch as one commit; empty is a repository without commits yet, whose
// branch the commit starts.
func (h *Host) commit(name, branch, message string, files map[string]string, empty bool) (string, bool, error) {
	bare := filepath.Join(h.Root, name+".git")
	work, err := os.MkdirTemp("", "githost-")
	if err != nil {
		return "", false, err
	}
	defer os.RemoveAll(work)
	clone := []string{"clone", "-q", bare, work}
	if !empty {
		clone = []string{"clone", "-q", "-b", branch, bare, work}
	}
	if err := run("", "git", clone...); err != nil {
		return "", false, err
	}
	for p, content := range files {
		full := filepath.Join(work, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return "", false, err
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			return "", false, err
		}
	}
	if empty {
		if err := run(work, "git", "checkout", "-q", "-b", branch); err != nil {
			return "", false, err
		}
	}
	if err := run(work, "git", "add", "-A"); err != nil {
		return "", false, err
	}
	if !empty {
		if err := run(work, "git", "diff", "--cached", "--quiet"); err == nil {
			head, err := h.Head(name, branch)
			return head, false, err
		}
	}
	for _, args := range [][]string{
		{"-c", "user.name=githost", "-c", "user.email=githost@localhost", "commit", "-qm", message},
		{"push", "-q", "origin", branch},
	} {
		if err := run(work, "git", args...); err != nil {
			return "", false, err
		}
	}
	head, err := h.Head(name, branch)
	return head, true, err
}

// Head is the commit branch points at.
func (h *Host) Head(name, branch string) (string, error) {
	out, err := exec.Command("git", "-C", filepath.Join(h.Root, name+".git"), "rev-parse", "refs/heads/"+branch).Output()
	if err != nil {
		return "", fmt.Errorf("githost: rev-parse %s: %w", branch, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Git runs git in the bare repository name and returns its output.
func (h *Host) Git(name string, args ...string) (string, error) {
	out, err := exec.Command("git", append([]string{"-C", filepath.Join(h.Root, name+".git")}, args...)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("githost: git %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func run(dir, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("githost: %s %s: %w: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// startSSH serves git over SSH: public-key auth for the generated client
// key, and "exec" requests running git-upload-pack or git-receive-pack on
// a repository under Root, as a git host's SSH daemon does.
func (h *Host) startSSH() error {
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	if h.sshHostKey, err = ssh.NewSignerFromKey(hostPriv); err != nil {
		return err
	}
	clientPub, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	h.clientKey = clientPriv
	allowed, err := ssh.NewPublicKey(clientPub)
	if err != nil {
		return err
	}
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(c ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if c.User() == h.sshUser && subtle.ConstantTimeCompare(k.Marshal(), allowed.Marshal()) == 1 {
			return nil, nil
		}
		return nil, errors.New("unknown key")
	}}
	cfg.AddHostKey(h.sshHostKey)
	if h.sshL, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return err
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			c, err := h.sshL.Accept()
			if err != nil {
				return
			}
			h.wg.Add(1)
			go func() { defer h.wg.Done(); h.serveSSH(c, cfg) }()
		}
	}()
	return nil
}

func (h *Host) serveSSH(c net.Conn, cfg *ssh.ServerConfig) {
	defer c.Close()
	_, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, reqs, err := nc.Accept()
		if err != nil {
			return
		}
		go h.session(ch, reqs)
	}
}

func (h *Host) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			req.Reply(false, nil)
			continue
		}
		var payload struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
			req.Reply(false, nil)
			return
		}
		// "git-receive-pack '/name.git'"
		verb, arg, _ := strings.Cut(payload.Command, " ")
		repo := filepath.Join(h.Root, filepath.Clean("/"+strings.Trim(arg, `'"`)))
		if verb != "git-upload-pack" && verb != "git-receive-pack" || !strings.HasPrefix(repo, filepath.Clean(h.Root)+string(filepath.Separator)) {
			req.Reply(false, nil)
			return
		}
		req.Reply(true, nil)
		if verb == "git-receive-pack" {
			h.mu.Lock()
			h.pushes++
			h.mu.Unlock()
		}
		cmd := exec.Command(verb, repo)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
		status := uint32(0)
		if err := cmd.Run(); err != nil {
			status = 1
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				status = uint32(ee.ExitCode())
			}
		}
		ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
		return
	}
}
