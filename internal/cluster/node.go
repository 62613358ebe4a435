package cluster

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
)

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
