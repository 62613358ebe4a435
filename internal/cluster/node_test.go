package cluster

import (
	"crypto/x509"
	"fmt"
	"strings"
	"testing"
)

func TestParseNodeNetwork(t *testing.T) {
	const want = `want an IPv4 /16 such as 10.89.0.0/16 (the node uses a.b.0.0/30 and a.b.1.0/24 of it)`
	for _, tc := range []struct{ in, err string }{
		{in: "10.89.0.0/16"},
		{in: "10.89.0.0/24", err: `node network "10.89.0.0/24": ` + want},
		{in: "10.89.3.0/16", err: `node network "10.89.3.0/16": ` + want},
		{in: "fd00::/16", err: `node network "fd00::/16": ` + want},
		{in: "10.89", err: `node network "10.89": ` + want},
	} {
		_, err := ParseNodeNetwork(tc.in)
		if got := errString(err); got != tc.err {
			t.Errorf("ParseNodeNetwork(%q) = %q, want %q", tc.in, got, tc.err)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestNodeNetworkAddresses(t *testing.T) {
	n, err := ParseNodeNetwork("10.91.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ got, want string }{
		{n.HostIP().String(), "10.91.0.1"},
		{n.NodeIP().String(), "10.91.0.2"},
		{n.PodCIDR().String(), "10.91.1.0/24"},
		{n.PodGateway().String(), "10.91.1.1"},
		{n.HostInterface(), "slw-10-91"},
		{n.CgroupRoot(), "/slipway-node-10-91"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %s, want %s", tc.got, tc.want)
		}
	}
	if len("slw-255-255") > 15 {
		t.Error("interface names can exceed IFNAMSIZ")
	}
}

// containerd 1.6 refuses a hosts.toml without a [host] table ("invalid
// `host` tree") and then silently pulls from the registry named in the
// image reference, which the node cannot reach.
func TestHostsToml(t *testing.T) {
	got := hostsToml("10.87.0.1:5000", "127.0.0.1:5000")
	for _, want := range []string{"\nserver = \"http://127.0.0.1:5000\"\n", "\n[host.\"http://127.0.0.1:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("hosts.toml lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "server = \"http://10.87.0.1") {
		t.Errorf("hosts.toml falls back to the unreachable registry:\n%s", got)
	}
}

func TestContainerdAndKubeletConfig(t *testing.T) {
	for _, restrict := range []bool{true, false} {
		got := containerdConfig("/n", restrict)
		for _, want := range []string{"sandbox_image = \"" + PauseImage + "\"\n", fmt.Sprintf("restrict_oom_score_adj = %t\n", restrict),
			"config_path = \"/n/etc/certs.d\"\n", "conf_dir = \"/n/etc/cni\"\n", "SystemdCgroup = false\n", "root = \"/n/containerd\"\n"} {
			if !strings.Contains(got, want) {
				t.Errorf("containerd config lacks %q:\n%s", want, got)
			}
		}
	}
	c, err := New(WithCacheDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	k := kubeletConfig(c, c.network)
	for _, want := range []string{"cgroupDriver: cgroupfs\n", "cgroupRoot: \"/slipway-node-10-89\"\n", "protectKernelDefaults: true\n", "failSwapOn: false\n", "makeIPTablesUtilChains: false\n", "anonymous: {enabled: false}", "nodefs.available: 256Mi\n"} {
		if !strings.Contains(k, want) {
			t.Errorf("kubelet config lacks %q:\n%s", want, k)
		}
	}
	cni := cniConfig(c.network)
	for _, want := range []string{`"subnet": "10.89.1.0/24"`, `"gateway": "10.89.1.1"`, `"type": "portmap"`, `"ipMasq": false`} {
		if !strings.Contains(cni, want) {
			t.Errorf("CNI config lacks %q:\n%s", want, cni)
		}
	}
}

func TestNodeScriptMountsKernelDefaults(t *testing.T) {
	// node.sh binds one file per setting over /proc/sys: the names must
	// map to existing paths.
	for k := range kernelDefaults {
		if strings.Count(k, ".") < 1 || strings.ContainsAny(k, "/ ") {
			t.Errorf("kernel setting %q", k)
		}
	}
	for _, want := range []string{"mount -t proc proc /proc", "protectKernelDefaults", "ip link add eth0 type veth peer name \"$SLIPWAY_HOST_IF\" netns /proc/self/fd/3", "exec 3<&-"} {
		if !strings.Contains(nodeScript, want) {
			t.Errorf("node.sh lacks %q", want)
		}
	}
}

func TestNodePKI(t *testing.T) {
	n, _ := ParseNodeNetwork("10.92.0.0/16")
	c, err := New(WithCacheDir(t.TempDir()), WithNodeNetwork(n))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ensurePKI(); err != nil {
		t.Fatal(err)
	}
	ca, _, err := loadPair(c.pkiDir(), "ca")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	kubelet, _, err := loadPair(c.pkiDir(), "kubelet")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kubelet.Verify(x509.VerifyOptions{Roots: pool, DNSName: "10.92.0.2"}); err != nil {
		t.Errorf("kubelet serving certificate not valid for the node IP: %v", err)
	}
	for id, want := range map[string][2]string{"node": {"system:node:" + NodeName, "system:nodes"}, "apiserver-kubelet-client": {"kube-apiserver-kubelet-client", "system:masters"}} {
		cert, _, err := loadPair(c.pkiDir(), id)
		if err != nil {
			t.Fatal(err)
		}
		if cert.Subject.CommonName != want[0] || len(cert.Subject.Organization) != 1 || cert.Subject.Organization[0] != want[1] {
			t.Errorf("%s certificate subject %v, want CN=%s O=%s", id, cert.Subject, want[0], want[1])
		}
	}
	// Another node network re-issues the kubelet's certificate from the same CA.
	n2, _ := ParseNodeNetwork("10.93.0.0/16")
	c2, _ := New(WithCacheDir(c.cache), WithNodeNetwork(n2))
	if err := c2.ensurePKI(); err != nil {
		t.Fatal(err)
	}
	kubelet2, _, _ := loadPair(c.pkiDir(), "kubelet")
	if _, err := kubelet2.Verify(x509.VerifyOptions{Roots: pool, DNSName: "10.93.0.2"}); err != nil {
		t.Errorf("kubelet certificate not re-issued for the new node IP: %v", err)
	}
}
