// Package argocd runs Argo CD itself against slipway's local control plane
// (internal/cluster): the application controller and the repo-server, built
// from the Go module proxy (internal/gotool, cached by version), with
// Debian's Redis, and the kustomize and helm CLIs the repo-server renders
// sources with. It installs Argo CD's own CRDs and configuration (taken
// from the Argo CD module) into the namespace "argocd", as its install
// manifests would, so that an Application under automated sync, prune and
// selfHeal (the seed's 3.3) really syncs from a git server.
//
// The processes run on the host in their own sessions and outlive the
// command that started them, like the control plane; Down stops them.
// The controller reaches the cluster as Argo CD's own local development
// setup does (ARGOCD_FAKE_IN_CLUSTER with the admin kubeconfig): the
// Application's destination https://kubernetes.default.svc is the local
// control plane.
package argocd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/slipway-ci/slipway/internal/gotool"
	"github.com/slipway-ci/slipway/internal/hostcache"
)

// Version is the Argo CD release built. v3.2.12, the newest v3.2 patch
// the proxy serves, does not compile from its module zip
// (controller/cache/info.go calls settings.ValidateExternalURL, which the
// zip's util/settings lacks); v3.3.x replaces gitops-engine with a
// ./gitops-engine directory that a module zip cannot carry.
const Version = "v3.2.11"

// Namespace is where Argo CD's configuration and Applications live.
const Namespace = "argocd"

// mainGo is the wrapper's command: Argo CD's own main dispatches on the
// binary name to every component (API server, UI, dex, notifications...);
// this one links only the controller, the repo-server and the git
// credential helper the repo-server runs, a much smaller build.
const mainGo = `// Command argocd runs the Argo CD components slipway's GitOps tests need,
// chosen by ARGOCD_BINARY_NAME as Argo CD's own main chooses them.
package main

import (
	"fmt"
	"os"

	appcontroller "github.com/argoproj/argo-cd/v3/cmd/argocd-application-controller/commands"
	gitaskpass "github.com/argoproj/argo-cd/v3/cmd/argocd-git-ask-pass/commands"
	reposerver "github.com/argoproj/argo-cd/v3/cmd/argocd-repo-server/commands"
	"github.com/argoproj/argo-cd/v3/util/log"
	"k8s.io/klog/v2"
)

func init() { klog.SetLogger(log.NewLogrusLogger(log.NewWithCurrentConfig())) }

func main() {
	switch os.Getenv("ARGOCD_BINARY_NAME") {
	case "argocd-application-controller":
		if err := appcontroller.NewCommand().Execute(); err != nil {
			os.Exit(1)
		}
	case "argocd-repo-server":
		if err := reposerver.NewCommand().Execute(); err != nil {
			os.Exit(1)
		}
	case "argocd-git-ask-pass":
		// git runs "argocd" as GIT_ASKPASS for repository credentials.
		if err := gitaskpass.NewCommand().Execute(); err != nil {
			os.Exit(1)
		}
	default:
		fmt.Fprintln(os.Stderr, "set ARGOCD_BINARY_NAME to argocd-application-controller, argocd-repo-server or argocd-git-ask-pass")
		os.Exit(2)
	}
}
`

// Tool is Argo CD's controller and repo-server as one binary.
var Tool = gotool.Tool{
	Name: "argocd", Module: "github.com/argoproj/argo-cd/v3", Version: Version,
	Main: mainGo, CopyReplaces: true, Revision: "r2",
	LDFlags: "-X github.com/argoproj/argo-cd/v3/common.version=" + strings.TrimPrefix(Version, "v"),
}

// redisServer is Debian's Redis: package redis-tools ships the server
// binary as redis-check-rdb (redis-server is a symlink to it that only
// the redis-server package, with its init script, adds).
const redisServer = "/usr/bin/redis-check-rdb"

// Ports of one instance, all on 127.0.0.1.
type Ports struct {
	Redis, RepoServer, RepoServerMetrics, ControllerMetrics int
}

// DefaultPorts stay clear of Argo CD's usual 6379/8081/8082/8084.
var DefaultPorts = Ports{Redis: 16379, RepoServer: 18081, RepoServerMetrics: 18084, ControllerMetrics: 18082}

// Instance is one Argo CD on one cluster.
type Instance struct {
	dir        string
	kubeconfig string
	ports      Ports
	log        io.Writer
}

// Option configures an Instance.
type Option func(*Instance)

// WithInstanceDir keeps state, logs and the repo-server's clones in dir
// (default CACHE/argocd/default).
func WithInstanceDir(dir string) Option { return func(i *Instance) { i.dir = dir } }

// WithPorts changes the ports.
func WithPorts(p Ports) Option { return func(i *Instance) { i.ports = p } }

// WithLog sends progress messages to w.
func WithLog(w io.Writer) Option { return func(i *Instance) { i.log = w } }

// New returns an instance for the cluster of kubeconfig (an admin
// kubeconfig file). It touches nothing.
func New(kubeconfig string, opts ...Option) (*Instance, error) {
	i := &Instance{kubeconfig: kubeconfig, ports: DefaultPorts, log: io.Discard}
	for _, o := range opts {
		o(i)
	}
	if i.dir == "" {
		cache, err := hostcache.Dir()
		if err != nil {
			return nil, err
		}
		i.dir = filepath.Join(cache, "argocd", "default")
	}
	abs, err := filepath.Abs(i.dir)
	if err != nil {
		return nil, err
	}
	i.dir = abs
	return i, nil
}

// Dir is the instance directory.
func (i *Instance) Dir() string { return i.dir }

// LogDir holds one log per process.
func (i *Instance) LogDir() string { return filepath.Join(i.dir, "logs") }

// Prerequisites says what is missing on this host before a build or a
// start: git (the repo-server clones with it) and Debian's Redis.
func Prerequisites() error {
	var errs []error
	if _, err := exec.LookPath("git"); err != nil {
		errs = append(errs, errors.New("git is not installed (apt-get install git)"))
	}
	if _, err := os.Stat(redisServer); err != nil {
		errs = append(errs, fmt.Errorf("Redis is not installed: %s is missing (apt-get install redis-tools)", redisServer))
	}
	return errors.Join(errs...)
}

// Built reports whether argocd, kustomize and helm are in the cache.
func Built() bool { return Tool.Built() && gotool.Kustomize.Built() && gotool.Helm.Built() }

// Build builds what is missing (cold: several minutes for Argo CD).
func Build(ctx context.Context) error {
	for _, t := range []gotool.Tool{Tool, gotool.Kustomize, gotool.Helm} {
		if _, err := t.Build(ctx); err != nil {
			return err
		}
	}
	return nil
}

type proc struct {
	Name string   `json:"name"`
	PID  int      `json:"pid"`
	Args []string `json:"args"`
	// Exe is the binary the process runs, symlinks resolved: Redis
	// rewrites its command line, so that is what identifies it.
	Exe string `json:"exe"`
}

type state struct {
	Kubeconfig string    `json:"kubeconfig"`
	Ports      Ports     `json:"ports"`
	Started    time.Time `json:"started"`
	Procs      []proc    `json:"procs"`
}

// Status says whether the instance runs, and why not.
type Status struct {
	Running bool
	Reason  string
}

var components = []string{"redis", "repo-server", "application-controller"}

// Status checks the recorded processes and their health endpoints.
func (i *Instance) Status(ctx context.Context) Status {
	s, err := i.readState()
	if err != nil {
		return Status{Reason: fmt.Sprintf("no Argo CD runs from %s (run `make gitops`)", i.dir)}
	}
	if len(s.Procs) < len(components) {
		return Status{Reason: "Argo CD was not fully started (an interrupted `make gitops`?)"}
	}
	for _, p := range s.Procs {
		if !alive(p) {
			return Status{Reason: fmt.Sprintf("%s (pid %d) is not running; see %s", p.Name, p.PID, filepath.Join(i.LogDir(), p.Name+".log"))}
		}
	}
	if s.Kubeconfig != i.kubeconfig {
		return Status{Reason: fmt.Sprintf("the running Argo CD manages the cluster of %s, not %s", s.Kubeconfig, i.kubeconfig)}
	}
	if err := i.healthy(ctx, s.Ports); err != nil {
		return Status{Reason: err.Error()}
	}
	// A control plane started afresh (make cluster-down, make cluster)
	// has lost Argo CD's CRDs and configuration: then Up installs them
	// again and restarts the processes, whose caches are of the old one.
	if err := i.installed(ctx); err != nil {
		return Status{Reason: err.Error()}
	}
	return Status{Running: true}
}

func (i *Instance) healthy(ctx context.Context, p Ports) error {
	for _, hc := range []struct {
		what string
		url  string
	}{
		{"the repo-server", fmt.Sprintf("http://127.0.0.1:%d/healthz?full=true", p.RepoServerMetrics)},
		{"the application controller", fmt.Sprintf("http://127.0.0.1:%d/healthz", p.ControllerMetrics)},
	} {
		if err := httpOK(ctx, hc.url); err != nil {
			return fmt.Errorf("%s is not healthy: %v (logs: %s)", hc.what, err, i.LogDir())
		}
	}
	return nil
}

// Up installs Argo CD's CRDs and configuration into the cluster and starts
// Redis, the repo-server and the application controller, or reuses the
// running ones. It returns once both components answer their health
// checks and the controller has registered the cluster.
func (i *Instance) Up(ctx context.Context) error {
	if err := Prerequisites(); err != nil {
		return fmt.Errorf("argocd: %w", err)
	}
	if err := os.MkdirAll(i.LogDir(), 0o755); err != nil {
		return fmt.Errorf("argocd: %w", err)
	}
	unlock, err := lock(ctx, filepath.Join(i.dir, "lock"))
	if err != nil {
		return err
	}
	defer unlock()
	if st := i.Status(ctx); st.Running {
		fmt.Fprintf(i.log, "argocd: reusing the running instance (%s)\n", i.dir)
		return nil
	}
	if err := i.stopAll(); err != nil {
		return err
	}
	if err := Build(ctx); err != nil {
		return err
	}
	if err := i.install(ctx); err != nil {
		return err
	}
	for _, p := range []int{i.ports.Redis, i.ports.RepoServer, i.ports.RepoServerMetrics, i.ports.ControllerMetrics} {
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err != nil {
			return fmt.Errorf("argocd: port %d is taken: %w (another Argo CD? `make gitops-down`, or WithPorts)", p, err)
		} else {
			l.Close()
		}
	}
	start := time.Now()
	if err := i.start(ctx); err != nil {
		if serr := i.stopAll(); serr != nil {
			err = errors.Join(err, serr)
		}
		return err
	}
	fmt.Fprintf(i.log, "argocd: Argo CD %s up in %s (logs: %s)\n", Version, time.Since(start).Round(100*time.Millisecond), i.LogDir())
	return nil
}

func (i *Instance) start(ctx context.Context) error {
	argocd, err := Tool.Path()
	if err != nil {
		return err
	}
	kustomize, _ := gotool.Kustomize.Path()
	helm, _ := gotool.Helm.Path()
	// The repo-server finds kustomize, helm and git on PATH.
	binDir := filepath.Join(i.dir, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return fmt.Errorf("argocd: %w", err)
	}
	// git asks "argocd" (as argocd-git-ask-pass) for credentials.
	for name, target := range map[string]string{"kustomize": kustomize, "helm": helm, "redis-server": redisServer, "argocd": argocd} {
		link := filepath.Join(binDir, name)
		os.Remove(link)
		if err := os.Symlink(target, link); err != nil {
			return fmt.Errorf("argocd: %w", err)
		}
	}
	tmp := filepath.Join(i.dir, "tmp")
	for _, d := range []string{tmp, filepath.Join(i.dir, "tls"), filepath.Join(i.dir, "ssh"), filepath.Join(i.dir, "gpg"), filepath.Join(i.dir, "redis")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("argocd: %w", err)
		}
	}
	s := &state{Kubeconfig: i.kubeconfig, Ports: i.ports, Started: time.Now()}
	env := append(os.Environ(),
		"PATH="+binDir+":"+os.Getenv("PATH"),
		"TMPDIR="+tmp,
		"KUBECONFIG="+i.kubeconfig,
		"ARGOCD_FAKE_IN_CLUSTER=true",
		"ARGOCD_TLS_DATA_PATH="+filepath.Join(i.dir, "tls"),
		"ARGOCD_SSH_DATA_PATH="+filepath.Join(i.dir, "ssh"),
		"ARGOCD_GNUPGHOME="+filepath.Join(i.dir, "gpg"),
		"ARGOCD_GPG_ENABLED=false",
		// The credential helper's socket, instead of a fixed /tmp path.
		"ARGOCD_ASK_PASS_SOCK="+filepath.Join(i.dir, "ask-pass.sock"),
	)
	run := func(name string, extraEnv []string, bin string, args ...string) error {
		p, err := spawn(i.LogDir(), i.dir, name, append(env, extraEnv...), bin, args)
		if err != nil {
			return err
		}
		s.Procs = append(s.Procs, p)
		return i.writeState(s)
	}
	redisAddr := fmt.Sprintf("127.0.0.1:%d", i.ports.Redis)
	if err := run("redis", nil, filepath.Join(binDir, "redis-server"), "--bind", "127.0.0.1", "--port", strconv.Itoa(i.ports.Redis),
		"--save", "", "--appendonly", "no", "--dir", filepath.Join(i.dir, "redis")); err != nil {
		return err
	}
	if err := waitFor(ctx, 20*time.Second, func(ctx context.Context) error {
		c, err := net.DialTimeout("tcp", redisAddr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}); err != nil {
		return fmt.Errorf("argocd: Redis did not listen on %s: %v (log: %s)", redisAddr, err, filepath.Join(i.LogDir(), "redis.log"))
	}
	if err := run("repo-server", []string{"ARGOCD_BINARY_NAME=argocd-repo-server"}, argocd,
		"--address", "127.0.0.1", "--port", strconv.Itoa(i.ports.RepoServer),
		"--metrics-address", "127.0.0.1", "--metrics-port", strconv.Itoa(i.ports.RepoServerMetrics),
		"--redis", redisAddr, "--disable-tls", "--loglevel", "info", "--logformat", "text"); err != nil {
		return err
	}
	if err := run("application-controller", []string{"ARGOCD_BINARY_NAME=argocd-application-controller", "HOSTNAME=argocd-application-controller-0"}, argocd,
		"--kubeconfig", i.kubeconfig, "--namespace", Namespace,
		"--repo-server", fmt.Sprintf("127.0.0.1:%d", i.ports.RepoServer), "--repo-server-plaintext",
		"--redis", redisAddr, "--metrics-port", strconv.Itoa(i.ports.ControllerMetrics),
		// Two processors of each kind are plenty for tests on two cores.
		"--status-processors", "4", "--operation-processors", "4",
		// A degraded sync is retried by selfHeal soon, not after 5 min.
		"--self-heal-timeout-seconds", "2",
		"--loglevel", "info", "--logformat", "text"); err != nil {
		return err
	}
	return waitFor(ctx, 90*time.Second, func(ctx context.Context) error { return i.healthy(ctx, i.ports) })
}

// Down stops what Up started, in reverse order.
func (i *Instance) Down(ctx context.Context) error {
	if err := os.MkdirAll(i.dir, 0o755); err != nil {
		return fmt.Errorf("argocd: %w", err)
	}
	unlock, err := lock(ctx, filepath.Join(i.dir, "lock"))
	if err != nil {
		return err
	}
	defer unlock()
	return i.stopAll()
}

func (i *Instance) stopAll() error {
	s, err := i.readState()
	if err != nil {
		return nil
	}
	var errs []error
	for j := len(s.Procs) - 1; j >= 0; j-- {
		if err := stop(s.Procs[j], 10*time.Second); err != nil {
			errs = append(errs, err)
		} else {
			fmt.Fprintf(i.log, "argocd: stopped %s (pid %d)\n", s.Procs[j].Name, s.Procs[j].PID)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	os.RemoveAll(filepath.Join(i.dir, "tmp"))
	return os.Remove(filepath.Join(i.dir, "state.json"))
}

func (i *Instance) readState() (*state, error) {
	b, err := os.ReadFile(filepath.Join(i.dir, "state.json"))
	if err != nil {
		return nil, err
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("argocd: %w", err)
	}
	return &s, nil
}

func (i *Instance) writeState(s *state) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(i.dir, "state.json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("argocd: %w", err)
	}
	return os.Rename(tmp, filepath.Join(i.dir, "state.json"))
}

// spawn starts a process in its own session, so that it outlives the
// command that started it and a Ctrl-C there does not reach it.
func spawn(logDir, dir, name string, env []string, bin string, args []string) (proc, error) {
	logf, err := os.OpenFile(filepath.Join(logDir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return proc{}, fmt.Errorf("argocd: %w", err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "\n==== %s %s %s\n", time.Now().UTC().Format(time.RFC3339), bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Dir = env, dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return proc{}, fmt.Errorf("argocd: starting %s: %w", name, err)
	}
	go cmd.Wait()
	exe, err := filepath.EvalSymlinks(bin)
	if err != nil {
		exe = bin
	}
	return proc{Name: name, PID: cmd.Process.Pid, Args: append([]string{bin}, args...), Exe: exe}, nil
}

// alive reports whether p still runs the binary it was started as.
func alive(p proc) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID))
	if err != nil {
		return false
	}
	if k := bytes.LastIndexByte(stat, ')'); k > 0 && len(stat) > k+2 && (stat[k+2] == 'Z' || stat[k+2] == 'X') {
		return false
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.PID))
	return err == nil && exe == p.Exe
}

func stop(p proc, grace time.Duration) error {
	if !alive(p) {
		return nil
	}
	syscall.Kill(p.PID, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	killed := false
	for alive(p) {
		if time.Now().After(deadline) {
			if killed {
				return fmt.Errorf("argocd: %s (pid %d) survives SIGKILL", p.Name, p.PID)
			}
			syscall.Kill(p.PID, syscall.SIGKILL)
			killed, deadline = true, time.Now().Add(5*time.Second)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func waitFor(ctx context.Context, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if last = check(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %w", timeout, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func httpOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

func lock(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("argocd: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("argocd: locking %s: %w", path, err)
		}
		return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
	case <-ctx.Done():
		f.Close()
		return nil, fmt.Errorf("argocd: waiting for %s: %w", path, ctx.Err())
	}
}
