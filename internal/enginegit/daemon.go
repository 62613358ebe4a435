package enginegit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/slipway-ci/slipway/internal/engine"
	"github.com/slipway-ci/slipway/internal/hostcache"
)

// DefaultPort is the daemon's port, in the engine's namespace and on the
// host's loopback (clear of Argo CD's 16379, 18081, 18082 and 18084).
const DefaultPort = 18090

// User is the daemon's basic-auth user; its password is generated once
// and kept in the daemon's directory.
const User = "slipway"

// Daemon is the git server `make gitops` leaves running for the demo: a
// process of its own, like Argo CD's, serving the repositories under
// DIR/repos in the default engine's network namespace and on the host.
// It belongs to one engine: when the engine restarts (a new network
// namespace), Status says so and Up starts it again.
type Daemon struct {
	dir    string
	port   int
	engine *engine.Engine
	log    io.Writer
}

// Info is what a client of the running daemon needs.
type Info struct {
	// Base is http://10.87.0.1:PORT: a repository's URL is Base/NAME.git.
	Base string
	// Proxy is the proxy host processes (Argo CD) reach Base through.
	Proxy string
	// User and Password are the credentials every request needs.
	User, Password string
	// Root holds the repositories, as NAME.git.
	Root string
}

// URL is the clone URL of the repository name (without .git).
func (i Info) URL(name string) string { return i.Base + "/" + name + ".git" }

// ErrNoEngine is the cause when the engine, whose containers the daemon
// serves, does not run.
var ErrNoEngine = errors.New("the engine does not run (make engine)")

type daemonState struct {
	PID   int    `json:"pid"`
	Exe   string `json:"exe"`
	NetNS string `json:"netns"` // the engine's network namespace, as readlink shows it
	Port  int    `json:"port"`
}

// NewDaemon returns the daemon of the default engine, in
// CACHE/enginegit/default. It touches nothing.
func NewDaemon(log io.Writer) (*Daemon, error) {
	cache, err := hostcache.Dir()
	if err != nil {
		return nil, err
	}
	e, err := engine.New()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = io.Discard
	}
	return &Daemon{dir: filepath.Join(cache, "enginegit", "default"), port: DefaultPort, engine: e, log: log}, nil
}

// Dir is the daemon's directory.
func (d *Daemon) Dir() string { return d.dir }

func (d *Daemon) statePath() string { return filepath.Join(d.dir, "state.json") }
func (d *Daemon) logPath() string   { return filepath.Join(d.dir, "git.log") }

// engineNetNS is the running engine's network namespace, as readlink
// shows it (net:[INODE]).
func (d *Daemon) engineNetNS() (string, error) {
	ns, err := engine.Namespace(d.engine.Env())
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoEngine, err)
	}
	defer ns.Close()
	return os.Readlink(ns.Name())
}

// Status says whether the daemon serves the running engine, and why not.
func (d *Daemon) Status() (running bool, reason string) {
	var s daemonState
	if b, err := os.ReadFile(d.statePath()); err != nil || json.Unmarshal(b, &s) != nil {
		return false, "not started (make gitops starts it)"
	}
	if !alive(s.PID, s.Exe) {
		return false, fmt.Sprintf("its process %d is gone; see %s", s.PID, d.logPath())
	}
	ns, err := d.engineNetNS()
	if err != nil {
		return false, err.Error()
	}
	if ns != s.NetNS {
		return false, "it serves an engine that was restarted since (make gitops starts it again)"
	}
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.Port), 2*time.Second)
	if err != nil {
		return false, fmt.Sprintf("it does not answer on 127.0.0.1:%d: %v", s.Port, err)
	}
	c.Close()
	return true, ""
}

// Info describes the running daemon.
func (d *Daemon) Info() (Info, error) {
	if ok, why := d.Status(); !ok {
		return Info{}, fmt.Errorf("enginegit: the git server is not running: %s", why)
	}
	pw, err := os.ReadFile(filepath.Join(d.dir, "password"))
	if err != nil {
		return Info{}, fmt.Errorf("enginegit: %w", err)
	}
	return Info{
		Base:  "http://" + net.JoinHostPort(engine.BridgeIP, strconv.Itoa(d.port)),
		Proxy: "http://127.0.0.1:" + strconv.Itoa(d.port),
		User:  User, Password: strings.TrimSpace(string(pw)), Root: filepath.Join(d.dir, "repos"),
	}, nil
}

// Up starts the daemon, or keeps the one that serves the running engine.
// self is the command to run it with: a program whose ServeArgs
// subcommand calls Serve (internal/cmd/gitops).
func (d *Daemon) Up(self string, serveArgs ...string) error {
	if ok, _ := d.Status(); ok {
		fmt.Fprintf(d.log, "enginegit: reusing the running git server (%s)\n", d.dir)
		return nil
	}
	if _, err := d.engineNetNS(); err != nil {
		return fmt.Errorf("enginegit: %w", err)
	}
	if err := d.Down(); err != nil {
		return err
	}
	for _, sub := range []string{"repos", "bin"} {
		if err := os.MkdirAll(filepath.Join(d.dir, sub), 0o755); err != nil {
			return fmt.Errorf("enginegit: %w", err)
		}
	}
	pwPath := filepath.Join(d.dir, "password")
	if _, err := os.Stat(pwPath); err != nil {
		b := make([]byte, 16)
		rand.Read(b)
		if err := os.WriteFile(pwPath, []byte(hex.EncodeToString(b)+"\n"), 0o600); err != nil {
			return fmt.Errorf("enginegit: %w", err)
		}
	}
	// A copy of the program, so that the daemon outlives a `go run` whose
	// build directory is removed when it exits.
	exe := filepath.Join(d.dir, "bin", "enginegit")
	if err := copyFile(self, exe); err != nil {
		return fmt.Errorf("enginegit: %w", err)
	}
	logf, err := os.OpenFile(d.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("enginegit: %w", err)
	}
	defer logf.Close()
	args := append(serveArgs, "-dir", d.dir, "-port", strconv.Itoa(d.port))
	fmt.Fprintf(logf, "\n==== %s %s %s\n", time.Now().UTC().Format(time.RFC3339), exe, strings.Join(args, " "))
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("enginegit: starting the git server: %w", err)
	}
	go cmd.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, why := d.Status()
		if ok {
			fmt.Fprintf(d.log, "enginegit: git server up at http://%s:%d (engine) and http://127.0.0.1:%d (host, proxy) (log: %s)\n", engine.BridgeIP, d.port, d.port, d.logPath())
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("enginegit: the git server did not come up: %s (log: %s)", why, d.logPath())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Down stops the daemon, if it runs.
func (d *Daemon) Down() error {
	var s daemonState
	b, err := os.ReadFile(d.statePath())
	if err != nil || json.Unmarshal(b, &s) != nil {
		return nil
	}
	if alive(s.PID, s.Exe) {
		syscall.Kill(s.PID, syscall.SIGTERM)
		for i := 0; alive(s.PID, s.Exe); i++ {
			if i == 100 {
				syscall.Kill(s.PID, syscall.SIGKILL)
			}
			if i > 200 {
				return fmt.Errorf("enginegit: the git server (pid %d) does not stop", s.PID)
			}
			time.Sleep(50 * time.Millisecond)
		}
		fmt.Fprintf(d.log, "enginegit: stopped the git server (pid %d)\n", s.PID)
	}
	return os.Remove(d.statePath())
}

// Serve is the daemon's process: it serves dir/repos on port until
// SIGTERM, after recording itself in dir/state.json.
func Serve(dir string, port int) error {
	e, err := engine.New()
	if err != nil {
		return err
	}
	ns, err := engine.Namespace(e.Env())
	if err != nil {
		return fmt.Errorf("enginegit: the engine's network namespace: %w", err)
	}
	defer ns.Close()
	netns, err := os.Readlink(ns.Name())
	if err != nil {
		return err
	}
	pw, err := os.ReadFile(filepath.Join(dir, "password"))
	if err != nil {
		return err
	}
	s, err := Start(ns, filepath.Join(dir, "repos"), port, port, User, strings.TrimSpace(string(pw)))
	if err != nil {
		return err
	}
	defer s.Close()
	exe, _ := os.Executable()
	b, _ := json.Marshal(daemonState{PID: os.Getpid(), Exe: exe, NetNS: netns, Port: port})
	if err := os.WriteFile(filepath.Join(dir, "state.json"), b, 0o644); err != nil {
		return err
	}
	fmt.Printf("serving %s at %s and %s (proxy)\n", s.Root, s.URL("NAME"), s.Proxy())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	<-ctx.Done()
	return nil
}

// alive reports whether pid runs exe.
func alive(pid int, exe string) bool {
	if pid <= 0 {
		return false
	}
	got, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return err == nil && got == exe
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp := to + ".tmp"
	dst, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Close(); err != nil {
		return err
	}
	return errors.Join(os.Rename(tmp, to))
}
