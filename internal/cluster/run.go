package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// state is what a running instance leaves in state.json: enough for any
// process (make cluster-down, a test binary) to find, stop or restart the
// components another process started.
type state struct {
	Server  string    `json:"server"`
	Names   []string  `json:"tlsNames"`
	Ports   Ports     `json:"ports"`
	Started time.Time `json:"started"`
	Procs   []proc    `json:"procs"`
	// Node is set when the instance runs a real node ("node" in Procs).
	Node *nodeState `json:"node,omitempty"`
}

type proc struct {
	Name string   `json:"name"`
	PID  int      `json:"pid"`
	Args []string `json:"args"` // Args[0] is the binary
}

// Status says whether the instance runs, and why not.
type Status struct {
	Running    bool
	Reason     string // why it is not running
	Server     string
	Kubeconfig string
	PIDs       map[string]int
	// Node is the real node's name, or "" when the instance runs none.
	Node string
}

// Status checks the recorded processes and asks the API server /readyz.
func (c *Cluster) Status(ctx context.Context) Status {
	st := Status{Server: c.Server(), Kubeconfig: c.KubeconfigPath()}
	s, err := c.readState()
	if err != nil {
		st.Reason = fmt.Sprintf("no control plane runs from %s (run `make cluster`)", c.instance)
		return st
	}
	st.Server, st.PIDs = s.Server, map[string]int{}
	for _, p := range s.Procs {
		if !alive(p) {
			st.Reason = fmt.Sprintf("%s (pid %d) is not running; see %s", p.Name, p.PID, filepath.Join(c.LogDir(), p.Name+".log"))
			return st
		}
		st.PIDs[p.Name] = p.PID
	}
	want := len(components)
	if s.Node != nil {
		want++
		st.Node = NodeName
	}
	if len(s.Procs) < want {
		st.Reason = "the control plane was not fully started (an interrupted `make cluster`?)"
		return st
	}
	if err := c.readyz(ctx); err != nil {
		st.Reason = "the API server does not answer /readyz: " + err.Error()
		return st
	}
	st.Running = true
	return st
}

// allowPrivileged lets the API server admit privileged pods, as kubeadm's
// clusters do: the Dagger engine's DaemonSet (deploy/engine) mounts
// overlay file systems and runs runc.
const allowPrivileged = "--allow-privileged=true"

// runsWith reports whether process pid was started with the argument arg
// (false when its command line cannot be read).
func runsWith(pid int, arg string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	return slices.Contains(strings.Split(string(b), "\x00"), arg)
}

// components in start order; Down stops them in reverse. The real node
// ("node") comes last, when there is one.
var components = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

// Up builds what is missing, then starts the control plane and the real
// node, or reuses the ones already running from this instance. It returns
// once the API server is ready, the kwok nodes and the real node are Ready
// and the default ServiceAccount exists. A running instance without a real
// node, when one is wanted, is restarted with one (its API server lacks
// the kubelet flags).
func (c *Cluster) Up(ctx context.Context) error {
	if err := os.MkdirAll(c.instance, 0o755); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	unlock, err := c.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if st := c.Status(ctx); st.Running && c.node && st.Node == "" {
		c.logf("the running control plane has no real node: restarting it with one")
	} else if st.Running && !runsWith(st.PIDs["kube-apiserver"], allowPrivileged) {
		c.logf("the running API server was started without %s (privileged pods, such as the Dagger engine's DaemonSet, are refused): restarting the control plane with it", allowPrivileged)
	} else if st.Running {
		c.logf("reusing the control plane at %s (pids %v)", st.Server, st.PIDs)
		// The running node keeps its network (and the kubelet its
		// certificate), whatever -node-net says now.
		if s, err := c.readState(); err == nil && s.Node != nil {
			if n, err := ParseNodeNetwork(s.Node.Network); err == nil {
				c.network = n
			}
		}
		// A new -san re-issues the serving certificate; the API server
		// reloads it from disk by itself, without a restart.
		if err := c.ensurePKI(); err != nil {
			return err
		}
		return c.writeKubeconfigs()
	}
	// Leftovers of a crashed or half-started instance hold ports and stale
	// etcd data: clear them first.
	if err := c.stopAll(); err != nil {
		return err
	}
	if err := c.Build(ctx); err != nil {
		return err
	}
	var errs []error
	for _, pc := range []struct {
		port int
		what string
	}{{c.ports.APIServer, "kube-apiserver"}, {c.ports.Etcd, "etcd"}, {c.ports.EtcdPeer, "etcd peer"}, {c.ports.ControllerManager, "kube-controller-manager"}, {c.ports.Scheduler, "kube-scheduler"}, {c.ports.Kwok, "kwok"}} {
		errs = append(errs, checkPort(c.bind, pc.port, pc.what))
	}
	errs = append(errs, checkDisk(c.instance, 512<<20))
	if c.node {
		// Before anything starts: a node that cannot start must not
		// leave a half-started control plane behind.
		errs = append(errs, c.checkNode(ctx))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := c.ensurePKI(); err != nil {
		return err
	}
	if err := c.writeKubeconfigs(); err != nil {
		return err
	}
	if err := os.MkdirAll(c.LogDir(), 0o755); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	start := time.Now()
	if err := c.start(ctx); err != nil {
		// Leave nothing half-started behind.
		if serr := c.stopAll(); serr != nil {
			err = errors.Join(err, serr)
		}
		return err
	}
	c.logf("control plane up in %s: export KUBECONFIG=%s", time.Since(start).Round(10*time.Millisecond), c.KubeconfigPath())
	return nil
}

func (c *Cluster) start(ctx context.Context) error {
	s := &state{Server: c.Server(), Names: c.ServerNames(), Ports: c.ports, Started: time.Now()}
	os.RemoveAll(c.path("etcd-data"))
	record := func(name string, p proc) error {
		s.Procs = append(s.Procs, p)
		return c.writeState(s)
	}
	run := func(name string, args ...string) error {
		p, err := c.spawn(name, args)
		if err != nil {
			return err
		}
		return record(name, p)
	}
	b, pki := c.bind, c.pkiDir()
	etcdURL := fmt.Sprintf("http://%s:%d", b, c.ports.Etcd)
	peerURL := fmt.Sprintf("http://%s:%d", b, c.ports.EtcdPeer)
	if err := run("etcd", "--name", "slipway", "--data-dir", c.path("etcd-data"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "slipway="+peerURL,
		// A throwaway test store: fsync buys nothing and costs seconds.
		"--unsafe-no-fsync"); err != nil {
		return err
	}
	if err := c.waitFor(ctx, "etcd", 30*time.Second, func(ctx context.Context) error { return httpOK(ctx, etcdURL+"/health") }); err != nil {
		return err
	}
	if err := run("kube-apiserver", c.apiserverArgs(etcdURL)...); err != nil {
		return err
	}
	if err := c.waitFor(ctx, "kube-apiserver", 60*time.Second, c.readyz); err != nil {
		return err
	}
	if err := run("kube-controller-manager",
		"--kubeconfig", filepath.Join(pki, "kcm.kubeconfig"),
		"--authentication-kubeconfig", filepath.Join(pki, "kcm.kubeconfig"),
		"--authorization-kubeconfig", filepath.Join(pki, "kcm.kubeconfig"),
		"--bind-address", b, "--secure-port", strconv.Itoa(c.ports.ControllerManager),
		"--service-account-private-key-file", filepath.Join(pki, "sa.key"),
		"--root-ca-file", filepath.Join(pki, "ca.crt"),
		"--use-service-account-credentials=true", "--leader-elect=false",
		"--cert-dir", c.path("kcm-certs")); err != nil {
		return err
	}
	if err := run("kube-scheduler",
		"--kubeconfig", filepath.Join(pki, "scheduler.kubeconfig"),
		"--authentication-kubeconfig", filepath.Join(pki, "scheduler.kubeconfig"),
		"--authorization-kubeconfig", filepath.Join(pki, "scheduler.kubeconfig"),
		"--bind-address", b, "--secure-port", strconv.Itoa(c.ports.Scheduler), "--leader-elect=false",
		"--cert-dir", c.path("scheduler-certs")); err != nil {
		return err
	}
	if err := run("kwok", "--kubeconfig", c.KubeconfigPath(),
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--config", c.stagesFile(), "--node-lease-duration-seconds=40",
		"--server-address", fmt.Sprintf("%s:%d", b, c.ports.Kwok), "--cidr=10.244.0.0/16", "--node-ip=10.1.0.1"); err != nil {
		return err
	}
	for _, hc := range []struct {
		name string
		port int
	}{{"kube-controller-manager", c.ports.ControllerManager}, {"kube-scheduler", c.ports.Scheduler}} {
		url := fmt.Sprintf("https://%s:%d/healthz", b, hc.port)
		if err := c.waitFor(ctx, hc.name, 30*time.Second, func(ctx context.Context) error { return httpOK(ctx, url) }); err != nil {
			return err
		}
	}
	if err := c.seed(ctx); err != nil {
		return err
	}
	if !c.node {
		return nil
	}
	return c.startNode(ctx, s, record)
}

func (c *Cluster) apiserverArgs(etcdURL string) []string {
	pki := c.pkiDir()
	return []string{
		"--etcd-servers", etcdURL,
		"--bind-address", c.bind, "--advertise-address", advertise(c.bind), "--secure-port", strconv.Itoa(c.ports.APIServer),
		"--tls-cert-file", filepath.Join(pki, "apiserver.crt"), "--tls-private-key-file", filepath.Join(pki, "apiserver.key"),
		"--client-ca-file", filepath.Join(pki, "ca.crt"),
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", filepath.Join(pki, "sa.pub"),
		"--service-account-signing-key-file", filepath.Join(pki, "sa.key"),
		"--service-cluster-ip-range", "10.0.0.0/24", "--authorization-mode", "Node,RBAC",
		// Privileged pods, as kubeadm's clusters allow them: the Dagger
		// engine's DaemonSet (deploy/engine) mounts and runs runc. Without
		// it the API server rejects the pod template ("privileged:
		// Forbidden: disallowed by cluster policy").
		allowPrivileged,
		// logs, exec, port-forward and the proxy to the real node: the
		// kubelet's serving certificate names its InternalIP (there is no
		// DNS for node names), and it accepts this client certificate.
		"--kubelet-client-certificate", filepath.Join(pki, "apiserver-kubelet-client.crt"),
		"--kubelet-client-key", filepath.Join(pki, "apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority", filepath.Join(pki, "ca.crt"),
		"--kubelet-preferred-address-types", "InternalIP",
		// Endpoints may not hold a loopback address: with the default
		// reconciler the API server fails to publish its own Endpoints.
		"--endpoint-reconciler-type", "none",
		"--cert-dir", c.path("apiserver-certs"),
	}
}

func advertise(bind string) string {
	if bind == "0.0.0.0" || bind == "" {
		return "127.0.0.1"
	}
	return bind
}

// seed creates the kwok nodes and waits for what a deploy needs: Ready
// nodes and the default ServiceAccount (pods cannot be created before it).
func (c *Cluster) seed(ctx context.Context) error {
	cs, err := c.clientset()
	if err != nil {
		return err
	}
	for i := range c.nodes {
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        fmt.Sprintf("kwok-node-%d", i),
				Annotations: map[string]string{"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"},
				Labels:      map[string]string{"kubernetes.io/hostname": fmt.Sprintf("kwok-node-%d", i), "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "type": "kwok"},
			},
			Spec: corev1.NodeSpec{Taints: c.kwokTaints()},
			Status: corev1.NodeStatus{
				Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("110")},
				Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("110")},
			},
		}
		if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("cluster: creating node %s: %w", node.Name, err)
		}
	}
	if err := c.waitFor(ctx, "kwok nodes", 30*time.Second, func(ctx context.Context) error {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		ready := 0
		for _, n := range nodes.Items {
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		if ready < c.nodes {
			return fmt.Errorf("%d of %d nodes Ready", ready, c.nodes)
		}
		return nil
	}); err != nil {
		return err
	}
	return c.waitFor(ctx, "default ServiceAccount", 30*time.Second, func(ctx context.Context) error {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err
	})
}

// kwokTaints keep ordinary workloads off kwok's nodes while a real node
// runs: only what tolerates KwokTaintKey (scale tests) lands there.
func (c *Cluster) kwokTaints() []corev1.Taint {
	if !c.node {
		return nil
	}
	return []corev1.Taint{{Key: KwokTaintKey, Value: "fake", Effect: corev1.TaintEffectNoSchedule}}
}

func (c *Cluster) clientset() (*kubernetes.Clientset, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.KubeconfigPath())
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	cfg.Timeout = 5 * time.Second
	return kubernetes.NewForConfig(cfg)
}

func (c *Cluster) readyz(ctx context.Context) error {
	cs, err := c.clientset()
	if err != nil {
		return err
	}
	_, err = cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	return err
}

// errGaveUp marks a check's error that waiting cannot cure (a component
// that exited): waitFor returns it at once.
type errGaveUp struct{ error }

func (e errGaveUp) Unwrap() error { return e.error }

// waitFor polls check until it succeeds: start-up has no event to watch.
func (c *Cluster) waitFor(ctx context.Context, what string, timeout time.Duration, check func(context.Context) error) error {
	start := time.Now()
	var last error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		last = check(ctx)
		var gu errGaveUp
		if errors.As(last, &gu) {
			return false, gu.error
		}
		return last == nil, nil
	})
	var gu errGaveUp
	if errors.As(last, &gu) {
		return fmt.Errorf("cluster: %s: %w", what, gu.error)
	}
	if err != nil {
		return fmt.Errorf("cluster: %s not ready after %s: %v (logs: %s)", what, timeout, last, c.LogDir())
	}
	c.logf("%s ready (+%s)", what, time.Since(start).Round(10*time.Millisecond))
	return nil
}

func httpOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	// The components' serving certificates are self-signed in their
	// cert-dirs; this only asks whether they are up.
	client := &http.Client{Timeout: 2 * time.Second, Transport: insecureTransport}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

// spawn starts one component in its own session, so that it outlives
// `make cluster` and a Ctrl-C in that terminal does not reach it.
func (c *Cluster) spawn(name string, args []string) (proc, error) {
	bin := c.Bin(name)
	logf, err := os.OpenFile(filepath.Join(c.LogDir(), name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return proc{}, fmt.Errorf("cluster: %w", err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "\n==== %s %s\n", time.Now().UTC().Format(time.RFC3339), strings.Join(append([]string{bin}, args...), " "))
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = c.instance
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return proc{}, fmt.Errorf("cluster: starting %s: %w", name, err)
	}
	// Reap it if it dies while this process lives; once this process
	// exits, init does.
	go cmd.Wait()
	c.logf("started %s (pid %d)", name, cmd.Process.Pid)
	return proc{Name: name, PID: cmd.Process.Pid, Args: append([]string{bin}, args...)}, nil
}

// alive reports whether p still runs the binary it was started as (a
// recycled pid running something else does not count).
func alive(p proc) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID))
	if err != nil {
		return false
	}
	if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && (stat[i+2] == 'Z' || stat[i+2] == 'X') {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.PID))
	if err != nil || len(p.Args) == 0 {
		return false
	}
	first, _, _ := bytes.Cut(cmdline, []byte{0})
	return string(first) == p.Args[0]
}

// stop sends SIGTERM, then SIGKILL after grace, and waits until p is gone.
func stop(p proc, grace time.Duration) error {
	if !alive(p) {
		return nil
	}
	syscall.Kill(p.PID, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for alive(p) {
		if time.Now().After(deadline) {
			syscall.Kill(p.PID, syscall.SIGKILL)
			deadline = time.Now().Add(5 * time.Second)
			grace = -1
		}
		if grace < 0 && time.Now().After(deadline) {
			return fmt.Errorf("cluster: %s (pid %d) survives SIGKILL", p.Name, p.PID)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// Down stops every process the instance started, in reverse order, and
// removes the etcd data; the certificates stay, so kubeconfigs handed out
// before keep working after the next Up.
func (c *Cluster) Down(ctx context.Context) error {
	if err := os.MkdirAll(c.instance, 0o755); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	unlock, err := c.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return c.stopAll()
}

func (c *Cluster) stopAll() error {
	s, err := c.readState()
	if err != nil {
		return nil // nothing recorded, nothing started by us
	}
	var errs []error
	for i := len(s.Procs) - 1; i >= 0; i-- {
		p := s.Procs[i]
		var err error
		if p.Name == "node" {
			err = c.stopNode(p, s.Node)
		} else {
			err = stop(p, 10*time.Second)
		}
		if err != nil {
			errs = append(errs, err)
		} else {
			c.logf("stopped %s (pid %d)", p.Name, p.PID)
		}
	}
	// A node that crashed before its process was recorded still left its
	// cgroups and files behind.
	if s.Node != nil && !slices.ContainsFunc(s.Procs, func(p proc) bool { return p.Name == "node" }) {
		errs = append(errs, c.stopNode(proc{Name: "node"}, s.Node))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	os.RemoveAll(c.path("etcd-data"))
	if err := os.Remove(c.stateFile()); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("cluster: %w", err)
	}
	return nil
}

// RestartAPIServer stops kube-apiserver, keeps it down for downFor, starts
// it again with the same arguments and waits until it is ready: the other
// components and every client must ride through it. Tests use it to break a
// deploy midway.
func (c *Cluster) RestartAPIServer(ctx context.Context, downFor time.Duration) error {
	unlock, err := c.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	s, err := c.readState()
	if err != nil {
		return fmt.Errorf("cluster: restart kube-apiserver: %w", err)
	}
	for i, p := range s.Procs {
		if p.Name != "kube-apiserver" {
			continue
		}
		// A short grace: the API server otherwise drains its watches for
		// ~10 s, and the restart is meant to be an outage, not a handover.
		if err := stop(p, 2*time.Second); err != nil {
			return err
		}
		c.logf("stopped kube-apiserver (pid %d) for %s", p.PID, downFor)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(downFor):
		}
		np, err := c.spawn(p.Name, p.Args[1:])
		if err != nil {
			return err
		}
		s.Procs[i] = np
		if err := c.writeState(s); err != nil {
			return err
		}
		return c.waitFor(ctx, "kube-apiserver", 60*time.Second, c.readyz)
	}
	return errors.New("cluster: restart kube-apiserver: not in the process table")
}

func (c *Cluster) readState() (*state, error) {
	b, err := os.ReadFile(c.stateFile())
	if err != nil {
		return nil, err
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("cluster: %s: %w", c.stateFile(), err)
	}
	return &s, nil
}

func (c *Cluster) writeState(s *state) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := c.stateFile() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	return os.Rename(tmp, c.stateFile())
}

// lock serialises Up, Down and restarts across processes: two test
// binaries that both find no cluster must not both start one.
func (c *Cluster) lock(ctx context.Context) (func(), error) {
	f, err := os.OpenFile(c.lockFile(), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("cluster: locking %s: %w", c.lockFile(), err)
		}
		return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
	case <-ctx.Done():
		f.Close() // the blocked flock returns once the holder lets go
		return nil, fmt.Errorf("cluster: waiting for %s: %w", c.lockFile(), ctx.Err())
	}
}
