package cluster

import (
	"context"
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
)

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
