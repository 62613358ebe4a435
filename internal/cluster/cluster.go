// Package cluster builds, starts and stops a real, loopback-only Kubernetes
// control plane for slipway's deploy tests and demos.
//
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler and the
// kubelet are the upstream code, built from the Go module proxy in small
// wrapper modules. One real node (kubelet, Debian's containerd and runc, CNI
// bridge) runs pods for real, in private mount, network, PID and UTS
// namespaces so that stopping it leaves the host as it was (see node.go);
// kwok plays any number of status-only nodes for scale tests. Nothing is
// downloaded from GitHub, GCS or a container registry; the node pulls from
// slipway's engine mirror. The control plane alone needs no root; the node
// does.
//
// Built binaries are cached by version under the user's cache directory;
// one running control plane with its certificates, etcd data, logs and
// process table is an instance directory.
package cluster

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/slipway-ci/slipway/internal/hostcache"
)

// Pinned versions. The build directory's name carries all of them, so
// changing one rebuilds instead of reusing a stale binary.
const (
	// KubernetesVersion is k8s.io/kubernetes; its staging modules are
	// taken at the matching v0.x.y.
	KubernetesVersion = "v1.32.9"
	// EtcdVersion is go.etcd.io/etcd/server/v3. Debian's etcd 3.4 breaks the
	// watch-list requests of newer clients, so it is not an alternative.
	EtcdVersion = "v3.5.24"
	// KwokVersion is sigs.k8s.io/kwok.
	KwokVersion = "v0.8.0"

	// stagesRevision is bumped when the kwok stage recipe changes.
	stagesRevision = "s2"
)

// Ports of one instance. All listen on the bind address (127.0.0.1 by
// default); the defaults stay clear of the usual 6443/2379/10257 so that
// a real cluster on the same host does not collide.
type Ports struct {
	APIServer, Etcd, EtcdPeer, ControllerManager, Scheduler, Kwok int
}

// DefaultPorts are the ports `make cluster` uses.
var DefaultPorts = Ports{APIServer: 16443, Etcd: 23791, EtcdPeer: 23801, ControllerManager: 20257, Scheduler: 20259, Kwok: 20247}

// Cluster is one control plane instance and the cache it is built from.
type Cluster struct {
	cache    string // versioned binaries, shared by instances
	instance string // this instance's pki, data, logs and state
	repo     string // where to copy the kubeconfig (.slipway/cluster/kubeconfig); may be empty
	ports    Ports
	bind     string
	sans     []string
	nodes    int
	log      io.Writer

	node     bool        // run the real node
	network  NodeNetwork // the real node's addresses
	registry Registry    // where the node pulls from
	src      string      // the slipway checkout the node proxy is built from
}

// Option configures a Cluster.
type Option func(*Cluster)

// WithCacheDir puts the build cache at dir instead of
// ${XDG_CACHE_HOME:-$HOME/.cache}/slipway.
func WithCacheDir(dir string) Option { return func(c *Cluster) { c.cache = dir } }

// WithInstanceDir keeps the instance's state in dir instead of
// CACHE/cluster/default.
func WithInstanceDir(dir string) Option { return func(c *Cluster) { c.instance = dir } }

// WithRepoDir also copies the admin kubeconfig to DIR/.slipway/cluster/kubeconfig.
func WithRepoDir(dir string) Option { return func(c *Cluster) { c.repo = dir } }

// WithPorts changes the ports (for a second instance beside the default one).
func WithPorts(p Ports) Option { return func(c *Cluster) { c.ports = p } }

// WithBindAddress makes every component listen on addr instead of
// 127.0.0.1, for example an address a tunnel or a container network reaches.
// The address is added to the API server certificate's names.
func WithBindAddress(addr string) Option { return func(c *Cluster) { c.bind = addr } }

// WithSANs adds names (DNS names or IP addresses) to the API server
// certificate, beside 127.0.0.1, localhost and the in-cluster names, so
// that a client reaching the server through a tunnel can verify it.
func WithSANs(names ...string) Option {
	return func(c *Cluster) { c.sans = append(c.sans, names...) }
}

// WithoutNode starts the control plane and kwok only, as before the real
// node existed: no root needed, and kwok's nodes take every pod (they are
// not tainted).
func WithoutNode() Option { return func(c *Cluster) { c.node = false } }

// WithNodeNetwork gives the real node another /16 (see NodeNetwork), for a
// second instance beside the default one (DefaultNodeNetwork).
func WithNodeNetwork(n NodeNetwork) Option { return func(c *Cluster) { c.network = n } }

// WithRegistry changes where the real node pulls images from (default
// DefaultRegistry: the default engine's mirror).
func WithRegistry(r Registry) Option { return func(c *Cluster) { c.registry = r } }

// WithSourceDir is the slipway checkout the node proxy is built from
// (default: the module root above the working directory).
func WithSourceDir(dir string) Option { return func(c *Cluster) { c.src = dir } }

// WithNodes sets how many kwok nodes to create (default 2).
func WithNodes(n int) Option { return func(c *Cluster) { c.nodes = n } }

// WithLog sends progress messages to w (default: discarded).
func WithLog(w io.Writer) Option { return func(c *Cluster) { c.log = w } }

// New returns a Cluster with the default cache and instance directories,
// changed by opts. It touches nothing on disk.
func New(opts ...Option) (*Cluster, error) {
	c := &Cluster{ports: DefaultPorts, bind: "127.0.0.1", nodes: 2, log: io.Discard, node: true, network: NodeNetwork{DefaultNodeNetwork}}
	for _, o := range opts {
		o(c)
	}
	if c.cache == "" {
		dir, err := hostcache.Dir()
		if err != nil {
			return nil, err
		}
		c.cache = dir
	}

	if c.instance == "" {
		c.instance = filepath.Join(c.cache, "cluster", "default")
	}
	for _, p := range []*string{&c.cache, &c.instance} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return nil, fmt.Errorf("cluster: resolving %s: %w", *p, err)
		}
		*p = abs
	}
	if c.registry == (Registry{}) {
		c.registry = DefaultRegistry(c.cache)
	}
	if env := os.Getenv("SLIPWAY_CLUSTER_SANS"); env != "" {
		for _, s := range strings.Split(env, ",") {
			if s = strings.TrimSpace(s); s != "" {
				c.sans = append(c.sans, s)
			}
		}
	}
	return c, nil
}

// BuildDir holds the wrapper modules and binaries of the pinned versions.
func (c *Cluster) BuildDir() string {
	return filepath.Join(c.cache, "cluster", "k8s-"+KubernetesVersion+"_etcd-"+EtcdVersion+"_kwok-"+KwokVersion)
}

// BinDir holds etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, kwok and kubectl.
func (c *Cluster) BinDir() string { return filepath.Join(c.BuildDir(), "bin") }

// Bin is the path of one built binary.
func (c *Cluster) Bin(name string) string { return filepath.Join(c.BinDir(), name) }

// InstanceDir is where this control plane's state lives.
func (c *Cluster) InstanceDir() string { return c.instance }

// KubeconfigPath is the admin kubeconfig (system:masters) of the instance.
func (c *Cluster) KubeconfigPath() string { return c.path("kubeconfig") }

// RepoKubeconfigPath is the copy in the checkout, or "" without a repo.
func (c *Cluster) RepoKubeconfigPath() string {
	if c.repo == "" {
		return ""
	}
	return filepath.Join(c.repo, ".slipway", "cluster", "kubeconfig")
}

// EngineServer is the API server's URL as containers of slipway's local
// Dagger engine reach it (see EngineBridgeIP).
func (c *Cluster) EngineServer() string {
	return fmt.Sprintf("https://%s:%d", EngineBridgeIP, c.ports.APIServer)
}

// EngineKubeconfigPath is the admin kubeconfig naming EngineServer: the
// value for the CI files' KUBECONFIG_STAGING and KUBECONFIG_PRODUCTION when
// gitlab-ci-local or act run them on the local engine.
func (c *Cluster) EngineKubeconfigPath() string { return c.path("kubeconfig-engine") }

// RepoEngineKubeconfigPath is the copy of EngineKubeconfigPath in the
// checkout, or "" without a repo.
func (c *Cluster) RepoEngineKubeconfigPath() string {
	if c.repo == "" {
		return ""
	}
	return filepath.Join(c.repo, ".slipway", "cluster", "kubeconfig-engine")
}

// Server is the API server URL the kubeconfig names.
func (c *Cluster) Server() string {
	host := c.bind
	if host == "0.0.0.0" || host == "" {
		host = "127.0.0.1"
	}
	return fmt.Sprintf("https://%s:%d", host, c.ports.APIServer)
}

// LogDir holds one log file per component.
func (c *Cluster) LogDir() string { return c.path("logs") }

func (c *Cluster) path(elem ...string) string {
	return filepath.Join(append([]string{c.instance}, elem...)...)
}

func (c *Cluster) pkiDir() string    { return c.path("pki") }
func (c *Cluster) stateFile() string { return c.path("state.json") }
func (c *Cluster) lockFile() string  { return c.path("lock") }
func (c *Cluster) stagesFile() string {
	return filepath.Join(c.BuildDir(), "kwok-stages-"+stagesRevision+".yaml")
}

func (c *Cluster) logf(format string, args ...any) {
	fmt.Fprintf(c.log, "cluster: "+format+"\n", args...)
}
