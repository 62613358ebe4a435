package cluster

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"github.com/slipway-ci/slipway/internal/procfs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

//go:embed node.sh
var nodeScript string

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
		"SLIPWAY_PAUSE_IMAGE="+PauseImage,
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
			return errGaveUp{err}
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
				Problem: "the real node exited while starting:\n" + tailFile(filepath.Join(c.LogDir(), "node.log"), 8) + "\nkubelet.log ends:\n" + tailFile(filepath.Join(c.LogDir(), "kubelet.log"), 5),
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
	init := procfs.ChildOf(p.PID)
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
		if !waitUntil(30*time.Second, func() bool { return !alive(p) && len(procfs.ProcessesIn(pidns)) == 0 }) {
			c.logf("the node did not stop within 30s: killing its namespace")
			if init > 0 {
				syscall.Kill(init, syscall.SIGKILL)
			}
			syscall.Kill(p.PID, syscall.SIGKILL)
		}
	}
	if !waitUntil(15*time.Second, func() bool { return !alive(p) && len(procfs.ProcessesIn(pidns)) == 0 }) {
		return fmt.Errorf("cluster: node processes still running after SIGKILL: %v (pid namespace %s)", procfs.ProcessesIn(pidns), pidns)
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
