package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

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
// does not trip (absolute: 1% of a large disk is gigabytes, and an
// eviction spell deletes unused images, the sandbox image among them).
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
  nodefs.available: 256Mi
  nodefs.inodesFree: 1%%
  imagefs.available: 256Mi
nodeStatusUpdateFrequency: 5s
maxPods: 110
`, filepath.Join(c.pkiDir(), "kubelet.crt"), filepath.Join(c.pkiDir(), "kubelet.key"), filepath.Join(c.pkiDir(), "ca.crt"),
		n.CgroupRoot(), c.nodeDir("kubelet", "volume-plugins"))
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
