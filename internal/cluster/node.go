package cluster

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

//go:embed node.sh
var nodeScript string

// The real node, as deploys and tests select it.
const (
	// NodeName is the real node's name (and its hostname inside its UTS
	// namespace).
	NodeName = "slipway-node"
	// NodeLabel is the label key of the real node; its value is
	// NodeLabelValue. A workload that must really run selects it with
	// nodeSelector {slipway.dev/node: real}.
	NodeLabel = "slipway.dev/node"
	// NodeLabelValue is NodeLabel's value on the real node.
	NodeLabelValue = "real"
	// KwokTaintKey is the NoSchedule taint on every kwok node while a real
	// node runs, so that an ordinary workload never lands on a node where
	// nothing runs. Scale tests tolerate it (operator Exists, effect
	// NoSchedule) and select the kwok nodes with nodeSelector {type: kwok}.
	KwokTaintKey = "kwok.x-k8s.io/node"
)

// DefaultNodeNetwork is the /16 the real node of the default instance
// uses: see NodeNetwork.
var DefaultNodeNetwork = netip.MustParsePrefix("10.89.0.0/16")

// NodeNetwork is the addressing of one real node, derived from a /16
// a.b.0.0/16: the host end of the node's veth is a.b.0.1, the node a.b.0.2
// (a /30), and pods get a.b.1.0/24 on the node's bridge (gateway a.b.1.1).
// The host routes a.b.1.0/24 through the veth, so the API server reaches
// the kubelet and pod IPs; the route goes when the veth does.
type NodeNetwork struct{ prefix netip.Prefix }

// ParseNodeNetwork checks that s is an IPv4 /16 such as 10.89.0.0/16.
func ParseNodeNetwork(s string) (NodeNetwork, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() || p.Bits() != 16 || p.Masked() != p {
		return NodeNetwork{}, fmt.Errorf("node network %q: want an IPv4 /16 such as 10.89.0.0/16 (the node uses a.b.0.0/30 and a.b.1.0/24 of it)", s)
	}
	return NodeNetwork{p}, nil
}

func (n NodeNetwork) octets() (byte, byte) {
	a := n.prefix.Addr().As4()
	return a[0], a[1]
}

func (n NodeNetwork) addr(c, d byte) netip.Addr {
	a, b := n.octets()
	return netip.AddrFrom4([4]byte{a, b, c, d})
}

// String is the /16.
func (n NodeNetwork) String() string { return n.prefix.String() }

// HostIP is the host's end of the node's link.
func (n NodeNetwork) HostIP() netip.Addr { return n.addr(0, 1) }

// NodeIP is the node's InternalIP: the kubelet listens there.
func (n NodeNetwork) NodeIP() netip.Addr { return n.addr(0, 2) }

// PodCIDR is the pods' subnet on the node's bridge.
func (n NodeNetwork) PodCIDR() netip.Prefix { return netip.PrefixFrom(n.addr(1, 0), 24) }

// PodGateway is the bridge's address, the pods' default gateway.
func (n NodeNetwork) PodGateway() netip.Addr { return n.addr(1, 1) }

// HostInterface is the name of the veth's host end: one per node network,
// so two instances with different networks never collide.
func (n NodeNetwork) HostInterface() string {
	a, b := n.octets()
	return fmt.Sprintf("slw-%d-%d", a, b)
}

// CgroupRoot is the kubelet's cgroupRoot: pods' cgroups live under it in
// every cgroup hierarchy, and Down removes it.
func (n NodeNetwork) CgroupRoot() string {
	a, b := n.octets()
	return fmt.Sprintf("/slipway-node-%d-%d", a, b)
}

// Registry is how the real node's containerd reaches the registry that
// image references name. The registry listens in another network namespace
// (slipway's engine mirror, internal/mirror, inside the engine's namespace):
// the node proxy listens on the node's 127.0.0.1 at the same port and dials
// Addr inside the namespace of the process whose pid PIDFile holds, anew for
// each connection, so that an engine restart does not break the node.
type Registry struct {
	// Host is the registry as image references name it: 10.87.0.1:5000.
	Host string
	// PIDFile holds the pid of a process in the registry's network
	// namespace: internal/engine's run/unshare.pid.
	PIDFile string
	// Addr is where the registry listens in that namespace.
	Addr string
}

// DefaultRegistry is the default engine's mirror, as the pipeline pushes
// to it (10.87.0.1:5000/team/app@sha256:...). cache is the slipway cache;
// the pid file's path is internal/engine's layout (not imported: the
// cluster does not depend on the engine; a test checks they agree).
func DefaultRegistry(cache string) Registry {
	return Registry{Host: EngineBridgeIP + ":5000", PIDFile: filepath.Join(cache, "engine", "default", "run", "unshare.pid"), Addr: "127.0.0.1:5000"}
}

func (r Registry) port() string {
	_, p, _ := strings.Cut(r.Host, ":")
	if p == "" {
		return "80"
	}
	return p
}

// nodeState is what Down needs to undo a node, recorded when it starts so
// that a `cluster down` without flags cleans up what `up -node-net X` made.
type nodeState struct {
	Network    string `json:"network"`
	HostIf     string `json:"hostInterface"`
	CgroupRoot string `json:"cgroupRoot"`
}

func (c *Cluster) nodeDir(elem ...string) string {
	return c.path(append([]string{"node"}, elem...)...)
}

// nodePackages are the Debian packages the real node runs on.
var nodePackages = []string{"containerd", "runc", "containernetworking-plugins", "iptables", "iproute2", "util-linux"}

// cniPlugins are the CNI plugins the node's network uses (loopback is
// containerd's own call for every pod).
var cniPlugins = []string{"bridge", "host-local", "loopback", "portmap"}

const cniBinDir = "/usr/lib/cni"

// checkNodeHost checks what the node needs from the host, installing the
// Debian packages that are missing (like internal/engine does).
func (c *Cluster) checkNodeHost(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return &PrereqError{
			Problem: fmt.Sprintf("not root (uid %d): the real node needs root for its namespaces, cgroups and containers", os.Geteuid()),
			Fix:     "run it as root (`sudo make cluster`), or start the control plane without a node: `make cluster CLUSTER_FLAGS=-node=false`",
		}
	}
	if err := c.installPackages(ctx); err != nil {
		return err
	}
	var missing []string
	for _, p := range cniPlugins {
		if _, err := os.Stat(filepath.Join(cniBinDir, p)); err != nil {
			missing = append(missing, filepath.Join(cniBinDir, p))
		}
	}
	for _, b := range []string{"containerd", "containerd-shim-runc-v2", "ctr", "runc", "unshare", "nsenter", "ip", "iptables"} {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return &PrereqError{
			Problem: "the real node's programs are missing: " + strings.Join(missing, ", "),
			Fix:     "apt-get install --no-install-recommends " + strings.Join(nodePackages, " "),
		}
	}
	if _, err := os.Stat("/sys/fs/cgroup"); err != nil {
		return &PrereqError{Problem: "no /sys/fs/cgroup: the kubelet needs cgroups (v1 or v2)", Fix: "mount the cgroup file systems (a standard Linux host or VM has them)"}
	}
	return nil
}

// installPackages installs the missing nodePackages with apt-get (only
// those missing: an installed host is not touched).
func (c *Cluster) installPackages(ctx context.Context) error {
	var missing []string
	for _, p := range nodePackages {
		out, err := exec.CommandContext(ctx, "dpkg-query", "-W", "-f=${Status}", p).Output()
		if err != nil || !strings.Contains(string(out), "install ok installed") {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	fix := &PrereqError{
		Problem: "missing Debian packages for the real node: " + strings.Join(missing, " "),
		Fix:     "apt-get install --no-install-recommends " + strings.Join(missing, " "),
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fix
	}
	c.logf("installing Debian packages: %s", strings.Join(missing, " "))
	for _, args := range [][]string{{"update", "-qq"}, append([]string{"install", "-y", "-qq", "--no-install-recommends"}, missing...)} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			fix.Problem += fmt.Sprintf(" (apt-get %s: %v: %s)", args[0], err, tail(string(out), 10))
			return fix
		}
	}
	return nil
}

// CheckNodeNetwork fails when the host already has the node's interface or
// a route into its network: another instance (or anything else) uses it.
func CheckNodeNetwork(n NodeNetwork) error {
	if _, err := os.Stat(filepath.Join("/sys/class/net", n.HostInterface())); err == nil {
		return &PrereqError{
			Problem: fmt.Sprintf("the host already has interface %s: another cluster instance runs a node on %s", n.HostInterface(), n),
			Fix:     "stop that instance (`make cluster-down`, or `go run ./internal/cmd/cluster -instance DIR down`), or give this one another network: -node-net " + suggestNetwork(n),
		}
	}
	out, err := exec.Command("ip", "-4", "route", "show").Output()
	if err != nil {
		return fmt.Errorf("cluster: ip route: %w", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] == "default" {
			continue
		}
		dst := f[0]
		if !strings.Contains(dst, "/") {
			dst += "/32"
		}
		p, err := netip.ParsePrefix(dst)
		if err == nil && p.Overlaps(n.prefix) {
			return &PrereqError{
				Problem: fmt.Sprintf("the host routes %s (%q), which overlaps the node network %s", p, strings.TrimSpace(line), n),
				Fix:     "give the node another network: -node-net " + suggestNetwork(n) + " (any free IPv4 /16)",
			}
		}
	}
	return nil
}

// suggestNetwork is a /16 after n that the host does not use.
func suggestNetwork(n NodeNetwork) string {
	a, b := n.octets()
	for i := 1; i < 64; i++ {
		next := NodeNetwork{netip.PrefixFrom(netip.AddrFrom4([4]byte{a, b + byte(i), 0, 0}), 16)}
		if b+byte(i) != 0 && CheckNodeNetwork(next) == nil {
			return next.String()
		}
	}
	return "10.X.0.0/16"
}

// cgroupMounts lists the host's cgroup hierarchies: every cgroup v1 mount
// and the cgroup2 one (the unified hierarchy of a hybrid host, or the only
// one on a cgroup v2 host).
func cgroupMounts() ([]string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 1 || (qf[0] != "cgroup" && qf[0] != "cgroup2") {
			continue
		}
		dirs = append(dirs, pf[4])
	}
	sort.Strings(dirs)
	return dirs, nil
}

// makeCgroupRoot creates the kubelet's cgroupRoot in every hierarchy (the
// kubelet refuses a cgroupRoot that does not exist).
func makeCgroupRoot(root string) error {
	dirs, err := cgroupMounts()
	if err != nil {
		return fmt.Errorf("cluster: cgroups: %w", err)
	}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(d, root), 0o755); err != nil {
			return fmt.Errorf("cluster: creating cgroup %s: %w", filepath.Join(d, root), err)
		}
	}
	return nil
}

// removeCgroupRoot removes root and everything below it from every
// hierarchy, deepest first. A cgroup can only be removed once its last
// task is gone, which the kernel finishes shortly after the processes
// exit: it retries for a while.
func removeCgroupRoot(root string, wait time.Duration) error {
	if root == "" || root == "/" {
		return nil
	}
	dirs, err := cgroupMounts()
	if err != nil {
		return fmt.Errorf("cluster: cgroups: %w", err)
	}
	deadline := time.Now().Add(wait)
	for {
		var left []string
		for _, d := range dirs {
			top := filepath.Join(d, root)
			var tree []string
			filepath.WalkDir(top, func(p string, e os.DirEntry, err error) error {
				if err == nil && e.IsDir() {
					tree = append(tree, p)
				}
				return nil
			})
			for i := len(tree) - 1; i >= 0; i-- {
				if err := syscall.Rmdir(tree[i]); err != nil && !errors.Is(err, syscall.ENOENT) {
					left = append(left, tree[i])
				}
			}
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster: cgroups still in use after the node stopped: %s", strings.Join(left, ", "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kernelDefaults are the settings the kubelet insists on (see node.sh):
// the node's mount namespace shows these values over /proc/sys.
var kernelDefaults = map[string]string{
	"vm.overcommit_memory":      "1",
	"vm.panic_on_oom":           "0",
	"kernel.panic":              "10",
	"kernel.panic_on_oops":      "1",
	"kernel.keys.root_maxkeys":  "1000000",
	"kernel.keys.root_maxbytes": "25000000",
}

// writeNodeConfig lays out the node directory: configuration, certificates
// and the empty directories node.sh mounts.
func (c *Cluster) writeNodeConfig(n NodeNetwork) error {
	nd := c.nodeDir
	for _, d := range []string{nd("etc", "cni"), nd("etc", "sysctl"), nd("bin"), nd("run"), nd("log"), nd("mnt", "cg"), nd("mnt", "hostproc"),
		nd("mnt", "varlib-upper"), nd("mnt", "varlib-work"), nd("containerd"), nd("kubelet", "volume-plugins")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("cluster: node: %w", err)
		}
	}
	for k, v := range kernelDefaults {
		if err := os.WriteFile(nd("etc", "sysctl", k), []byte(v+"\n"), 0o644); err != nil {
			return fmt.Errorf("cluster: node: %w", err)
		}
	}
	reg := c.registry
	files := map[string]string{
		nd("etc", "containerd.toml"):                 containerdConfig(nd(), !hasCapability(capSysResource)),
		nd("etc", "cni", "10-slipway.conflist"):      cniConfig(n),
		nd("etc", "certs.d", reg.Host, "hosts.toml"): hostsToml(reg.Host, "127.0.0.1:"+reg.port()),
		nd("etc", "kubelet.yaml"):                    kubeletConfig(c, n),
	}
	for p, body := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("cluster: node: %w", err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return fmt.Errorf("cluster: node: %w", err)
		}
	}
	return nil
}

// capSysResource is CAP_SYS_RESOURCE: needed to lower a process's
// oom_score_adj below 0.
const capSysResource = 24

// hasCapability reports whether this process has capability bit in its
// effective set. Some sandboxed hosts (VMs of CI services) drop
// CAP_SYS_RESOURCE even for root.
func hasCapability(bit uint) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<bit) != 0
		}
	}
	return false
}

// containerdConfig runs containerd's CRI with runc under cgroupfs (no
// systemd), CNI from Debian's plugins, the pause image node.sh imports, and
// per-registry hosts.toml files (for the engine's mirror). Without
// CAP_SYS_RESOURCE, runc cannot give a sandbox the oom_score_adj of -998
// that containerd asks for (the container fails to start with "can't get
// final child's PID from pipe: EOF"): restrictOOM keeps every container's
// oom_score_adj at or above containerd's own.
func containerdConfig(dir string, restrictOOM bool) string {
	return fmt.Sprintf(`# written by slipway's internal/cluster: the real node's containerd
version = 2
root = %q
state = "/run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "/run/containerd/containerd.sock"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = %t
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = %q
`, filepath.Join(dir, "containerd"), PauseImage, restrictOOM, cniBinDir, filepath.Join(dir, "etc", "cni"), filepath.Join(dir, "etc", "certs.d"))
}

// cniConfig puts pods on a bridge with addresses from host-local; portmap
// serves hostPort. No masquerading: pods talk to the node and the host
// only, and the host routes their subnet.
func cniConfig(n NodeNetwork) string {
	return fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "slipway",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": %q, "gateway": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": %q
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, n.PodCIDR(), n.PodGateway(), "/run/cni-ipam")
}

// hostsToml sends pulls of host (as image references name it) to mirror on
// the node's loopback, over plain HTTP, by digest or tag. The mirror is the
// only endpoint, as the [host] entry and as the fallback "server" (which
// containerd 1.6 needs a [host] entry beside): with host itself as the
// fallback, a failed pull would report "network is unreachable" instead of
// the registry's answer (a missing digest's "not found").
func hostsToml(host, mirror string) string {
	return fmt.Sprintf(`# written by slipway's internal/cluster: pulls of %s go to the node proxy
server = "http://%s"

[host."http://%s"]
  capabilities = ["pull", "resolve"]
`, host, mirror, mirror)
}

// kubeletConfig is for cgroup v1 (or v2) without systemd: the cgroupfs
// driver, a cgroupRoot of the node's own, no swap check, no kernel or
// iptables changes, and eviction thresholds that a busy developer disk
// does not trip.
func kubeletConfig(c *Cluster, n NodeNetwork) string {
	return fmt.Sprintf(`# written by slipway's internal/cluster: the real node's kubelet
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 0.0.0.0
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: %[1]q
tlsPrivateKeyFile: %[2]q
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %[3]q}
authorization:
  mode: Webhook
cgroupDriver: cgroupfs
cgroupRoot: %[4]q
cgroupsPerQOS: true
enforceNodeAllocatable: [pods]
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
failSwapOn: false
protectKernelDefaults: true
makeIPTablesUtilChains: false
volumePluginDir: %[5]q
resolvConf: /etc/resolv.conf
clusterDomain: cluster.local
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%%
  nodefs.inodesFree: 1%%
  imagefs.available: 1%%
nodeStatusUpdateFrequency: 5s
maxPods: 110
`, filepath.Join(c.pkiDir(), "kubelet.crt"), filepath.Join(c.pkiDir(), "kubelet.key"), filepath.Join(c.pkiDir(), "ca.crt"),
		n.CgroupRoot(), c.nodeDir("kubelet", "volume-plugins"))
}

// checkNode checks everything the real node needs before anything starts:
// root, packages (installing missing ones), a free node network and the
// checkout its proxy is built from.
func (c *Cluster) checkNode(ctx context.Context) error {
	if err := c.checkNodeHost(ctx); err != nil {
		return err
	}
	_, err := c.sourceDir()
	return errors.Join(CheckNodeNetwork(c.network), err)
}

// buildNodeProxy builds internal/cmd/nodeproxy from the slipway checkout
// into the node directory (warm: a second or two).
func (c *Cluster) buildNodeProxy(ctx context.Context) error {
	src, err := c.sourceDir()
	if err != nil {
		return err
	}
	return c.goCmd(ctx, src, "build", "-o", c.nodeDir("bin", "nodeproxy"), "./internal/cmd/nodeproxy")
}

// sourceDir is the slipway checkout: WithSourceDir, or the module root
// above the working directory.
func (c *Cluster) sourceDir() (string, error) {
	if c.src != "" {
		return c.src, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.HasPrefix(string(b), "module github.com/slipway-ci/slipway\n") {
			return d, nil
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	return "", &PrereqError{
		Problem: fmt.Sprintf("not inside the slipway checkout (%s): the real node's proxy (internal/cmd/nodeproxy) is built from it", dir),
		Fix:     "run from the checkout (`make cluster`), or start without a node: -node=false",
	}
}

// startNode starts the real node in its namespaces and waits until it is
// Ready. s gets the node's process and what Down must undo.
func (c *Cluster) startNode(ctx context.Context, s *state, run func(name string, p proc) error) error {
	n := c.network
	// Leftovers of a crashed node (its namespaces are gone; files and
	// cgroups are not).
	if err := removeCgroupRoot(n.CgroupRoot(), 5*time.Second); err != nil {
		return err
	}
	if err := os.RemoveAll(c.nodeDir()); err != nil {
		return fmt.Errorf("cluster: node: %w", err)
	}
	if err := c.writeNodeConfig(n); err != nil {
		return err
	}
	if err := c.buildNodeProxy(ctx); err != nil {
		return err
	}
	s.Node = &nodeState{Network: n.String(), HostIf: n.HostInterface(), CgroupRoot: n.CgroupRoot()}
	if err := c.writeState(s); err != nil {
		return err
	}
	if err := makeCgroupRoot(n.CgroupRoot()); err != nil {
		return err
	}
	p, err := c.spawnNode(n)
	if err != nil {
		return err
	}
	if err := run("node", p); err != nil {
		return err
	}
	return c.waitNodeReady(ctx, 3*time.Minute)
}

func (c *Cluster) spawnNode(n NodeNetwork) (proc, error) {
	logf, err := os.OpenFile(filepath.Join(c.LogDir(), "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return proc{}, fmt.Errorf("cluster: %w", err)
	}
	defer logf.Close()
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		return proc{}, fmt.Errorf("cluster: %w", err)
	}
	kubelet := []string{
		"--config", c.nodeDir("etc", "kubelet.yaml"),
		"--kubeconfig", filepath.Join(c.pkiDir(), "node.kubeconfig"),
		"--root-dir", c.nodeDir("kubelet"),
		"--hostname-override", NodeName,
		"--node-ip", n.NodeIP().String(),
		"--node-labels", NodeLabel + "=" + NodeLabelValue,
		"--v", "1",
	}
	ns := []string{unshare, "--mount", "--net", "--pid", "--uts", "--fork", "--propagation", "private", "--kill-child=SIGTERM", "--"}
	args := append(append(ns, "/bin/bash", "-c", nodeScript, "node.sh"), kubelet...)
	fmt.Fprintf(logf, "\n==== %s %s node.sh %s\n", time.Now().UTC().Format(time.RFC3339), strings.Join(ns, " "), strings.Join(kubelet, " "))
	hostNet, err := os.Open("/proc/self/ns/net")
	if err != nil {
		return proc{}, fmt.Errorf("cluster: opening the host's network namespace: %w", err)
	}
	defer hostNet.Close()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = c.instance
	cmd.ExtraFiles = []*os.File{hostNet}
	apiHost := advertise(c.bind)
	cmd.Env = append(os.Environ(),
		"SLIPWAY_NODE_DIR="+c.nodeDir(),
		"SLIPWAY_NODE_NAME="+NodeName,
		"SLIPWAY_LOG_DIR="+c.LogDir(),
		"SLIPWAY_HOST_IF="+n.HostInterface(),
		"SLIPWAY_HOST_IP="+n.HostIP().String(),
		"SLIPWAY_NODE_IP="+n.NodeIP().String(),
		"SLIPWAY_POD_CIDR="+n.PodCIDR().String(),
		"SLIPWAY_API_FORWARD="+fmt.Sprintf("127.0.0.1:%d=%s:%d", c.ports.APIServer, apiHost, c.ports.APIServer),
		"SLIPWAY_REGISTRY_FORWARD=127.0.0.1:"+c.registry.port()+"="+c.registry.Addr,
		"SLIPWAY_REGISTRY_PIDFILE="+c.registry.PIDFile,
		"SLIPWAY_PAUSE_TAR="+c.pauseImageFile(),
		"SLIPWAY_KUBELET="+c.Bin("kubelet"),
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return proc{}, fmt.Errorf("cluster: starting the node: %w", err)
	}
	go cmd.Wait()
	c.logf("started the real node %s (pid %d; network %s, host interface %s)", NodeName, cmd.Process.Pid, n, n.HostInterface())
	return proc{Name: "node", PID: cmd.Process.Pid, Args: args}, nil
}

// waitNodeReady waits until the real node is registered and Ready.
func (c *Cluster) waitNodeReady(ctx context.Context, timeout time.Duration) error {
	cs, err := c.clientset()
	if err != nil {
		return err
	}
	return c.waitFor(ctx, "real node "+NodeName, timeout, func(ctx context.Context) error {
		if err := c.nodeAlive(); err != nil {
			return err
		}
		node, err := cs.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		return NodeReady(node)
	})
}

// NodeReady returns nil for a Ready node, else why it is not.
func NodeReady(n *corev1.Node) error {
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			if cond.Status == corev1.ConditionTrue {
				return nil
			}
			return fmt.Errorf("node %s is not Ready: %s: %s", n.Name, cond.Reason, cond.Message)
		}
	}
	return fmt.Errorf("node %s reports no Ready condition yet", n.Name)
}

// nodeAlive fails fast when the node's namespace died while starting.
func (c *Cluster) nodeAlive() error {
	s, err := c.readState()
	if err != nil {
		return err
	}
	for _, p := range s.Procs {
		if p.Name == "node" && !alive(p) {
			return &PrereqError{
				Problem: "the real node exited while starting:\n" + tailFile(filepath.Join(c.LogDir(), "node.log"), 15),
				Fix:     "see " + filepath.Join(c.LogDir(), "kubelet.log") + " and containerd.log beside it",
			}
		}
	}
	return nil
}

func tailFile(path string, lines int) string {
	b, _ := os.ReadFile(path)
	return tail(string(b), lines)
}

// stopNode stops the node's namespaces: node.sh stops the kubelet and
// containerd, the kernel kills what is left (shims, containers) with the
// PID namespace. Then it waits until the veth's host end is gone (the
// kernel tears a network namespace down asynchronously), removes the
// node's cgroups and its runtime files.
func (c *Cluster) stopNode(p proc, ns *nodeState) error {
	init := childOf(p.PID)
	pidns := ""
	if init > 0 {
		pidns, _ = os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", init))
	}
	if alive(p) {
		target := p.PID
		if init > 0 {
			target = init
		}
		syscall.Kill(target, syscall.SIGTERM)
		if !waitUntil(30*time.Second, func() bool { return !alive(p) && len(processesIn(pidns)) == 0 }) {
			c.logf("the node did not stop within 30s: killing its namespace")
			if init > 0 {
				syscall.Kill(init, syscall.SIGKILL)
			}
			syscall.Kill(p.PID, syscall.SIGKILL)
		}
	}
	if !waitUntil(15*time.Second, func() bool { return !alive(p) && len(processesIn(pidns)) == 0 }) {
		return fmt.Errorf("cluster: node processes still running after SIGKILL: %v (pid namespace %s)", processesIn(pidns), pidns)
	}
	if ns == nil {
		return nil
	}
	var errs []error
	if ns.HostIf != "" {
		link := filepath.Join("/sys/class/net", ns.HostIf)
		if !waitUntil(10*time.Second, func() bool { _, err := os.Stat(link); return err != nil }) {
			// Normally gone with the namespace; never leave it behind.
			if out, err := exec.Command("ip", "link", "del", ns.HostIf).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("cluster: removing interface %s: %v: %s", ns.HostIf, err, out))
			}
		}
	}
	errs = append(errs, removeCgroupRoot(ns.CgroupRoot, 10*time.Second))
	if err := os.RemoveAll(c.nodeDir()); err != nil {
		errs = append(errs, fmt.Errorf("cluster: node: %w", err))
	}
	return errors.Join(errs...)
}

func waitUntil(d time.Duration, done func() bool) bool {
	deadline := time.Now().Add(d)
	for !done() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// childOf is the first child of pid, or 0.
func childOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	child, _ := strconv.Atoi(f[0])
	return child
}

// processesIn lists live processes in the pid namespace ns ("pid:[N]").
func processesIn(ns string) []int {
	if ns == "" {
		return nil
	}
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); err == nil && l == ns && !zombie(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && (s[i+2] == 'Z' || s[i+2] == 'X')
}
