// Package clustertest finds or starts slipway's local Kubernetes control
// plane (internal/cluster) for end-to-end tests.
//
// A test calls Require. Where no control plane can be had (a laptop where
// `make cluster` never ran, so nothing is built) the test is skipped with
// the reason; with SLIPWAY_REQUIRE_E2E=1 (as in CI) it fails with the
// reason instead, so a broken cluster can never pass as "skipped".
//
// A control plane started here keeps running after the tests, like one
// started by `make cluster`; `make cluster-down` stops either.
//
// The control plane runs one real node (NodeName, label
// slipway.dev/node=real: a kubelet with containerd) beside kwok's
// status-only nodes, which are tainted so that only what tolerates them
// lands there. RealNode and Kwok give a pod spec the placement; RequireNode
// is for tests whose containers must really run. A real node that is not
// Ready stops every test like a missing cluster does.
//
// SLIPWAY_CLUSTER_INSTANCE=DIR points the tests at another running
// instance (one started with `go run ./internal/cmd/cluster -instance DIR
// -ports ... up`) instead of the default one; it is never started here.
package clustertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/slipway-ci/slipway/internal/cluster"
	"github.com/slipway-ci/slipway/internal/e2e"
)

// Cluster is a running control plane, as a test sees it.
type Cluster struct {
	// Kubeconfig is the admin (system:masters) kubeconfig.
	Kubeconfig []byte
	// KubeconfigPath is the file holding Kubeconfig.
	KubeconfigPath string
	// EngineKubeconfig is Kubeconfig naming the server as the local Dagger
	// engine's containers reach it (https://10.87.0.1:16443): what the CI
	// files' deploy jobs get when a runner runs them on the local engine.
	EngineKubeconfig []byte
	// Config and Client are built from Kubeconfig.
	Config *rest.Config
	Client kubernetes.Interface
	// Node is the real node's name, or "" when the instance runs none
	// (started with -node=false).
	Node string

	c *cluster.Cluster
}

var (
	once   sync.Once
	shared *Cluster
	errShd error
)

// Require returns the running control plane or stops the test: Skip with
// the reason, or Fatal with the reason when e2e.RequireEnv=1. The lookup (and a
// start, when the binaries are built) happens once per test binary. The
// test shares the cluster with other tests until it ends.
func Require(t testing.TB) *Cluster {
	t.Helper()
	return require(t, syscall.LOCK_SH)
}

// RequireExclusive is Require for a test that disturbs the cluster (it
// restarts the API server): it waits until no other test, in any test
// binary, uses the cluster, and keeps them out until it ends.
func RequireExclusive(t testing.TB) *Cluster {
	t.Helper()
	return require(t, syscall.LOCK_EX)
}

// RequireNode is Require for a test whose pods must really run: it also
// stops the test when the instance has no real node.
func RequireNode(t testing.TB) *Cluster {
	t.Helper()
	return needNode(t, require(t, syscall.LOCK_SH))
}

// RequireExclusiveNode is RequireExclusive for a test whose pods must
// really run.
func RequireExclusiveNode(t testing.TB) *Cluster {
	t.Helper()
	return needNode(t, require(t, syscall.LOCK_EX))
}

// needNode stops the test when c runs no real node.
func needNode(t testing.TB, c *Cluster) *Cluster {
	t.Helper()
	if c.Node == "" {
		e2e.Unavailable(t, fmt.Errorf("the control plane at %s runs no real node (started with -node=false, or by a slipway from before the real node): restart it with `make cluster-down cluster`", c.Server()))
	}
	return c
}

func require(t testing.TB, how int) *Cluster {
	t.Helper()
	once.Do(func() { shared, errShd = FindOrStart(context.Background()) })
	if errShd != nil {
		e2e.Unavailable(t, errShd)
	}
	if err := shared.nodeReady(context.Background()); err != nil {
		e2e.Unavailable(t, err)
	}
	f, err := os.OpenFile(filepath.Join(shared.c.InstanceDir(), "use.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("clustertest: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		t.Fatalf("clustertest: locking the cluster: %v", err)
	}
	t.Cleanup(func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() })
	return shared
}

// InstanceEnv names another running instance for the tests.
const InstanceEnv = "SLIPWAY_CLUSTER_INSTANCE"

// FindOrStart returns the default instance (or InstanceEnv's): running
// already, or, for the default one, started now if its binaries are built.
// A cold build (minutes) is `make cluster`'s job, not a test's.
func FindOrStart(ctx context.Context) (*Cluster, error) {
	var opts []cluster.Option
	dir := os.Getenv(InstanceEnv)
	if dir != "" {
		opts = append(opts, cluster.WithInstanceDir(dir))
	}
	c, err := cluster.New(opts...)
	if err != nil {
		return nil, err
	}
	st := c.Status(ctx)
	if !st.Running && dir != "" {
		return nil, fmt.Errorf("%s=%s: %s", InstanceEnv, dir, st.Reason)
	}
	if !st.Running {
		if !c.Built() {
			return nil, fmt.Errorf("no control plane runs (%s), and its binaries are not built in %s: run `make cluster` once (cold build ~15 min)", st.Reason, c.BinDir())
		}
		ctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
		defer cancel()
		if err := c.Up(ctx); err != nil {
			return nil, fmt.Errorf("starting the control plane: %w", err)
		}
		st = c.Status(ctx)
	}
	kc, err := os.ReadFile(c.KubeconfigPath())
	if err != nil {
		return nil, err
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kc)
	if err != nil {
		return nil, fmt.Errorf("clustertest: %s: %w", c.KubeconfigPath(), err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	ekc, err := os.ReadFile(c.EngineKubeconfigPath())
	if err != nil {
		return nil, fmt.Errorf("clustertest: %w (a control plane started before slipway wrote it: run `make cluster` once more)", err)
	}
	return &Cluster{Kubeconfig: kc, KubeconfigPath: c.KubeconfigPath(), EngineKubeconfig: ekc, Config: cfg, Client: cs, Node: st.Node, c: c}, nil
}

// nodeReady waits a little for the real node to be Ready (it may have just
// started, or missed a heartbeat on a loaded machine).
func (c *Cluster) nodeReady(ctx context.Context) error {
	if c.Node == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var last error
	for {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, c.Node, metav1.GetOptions{})
		if err == nil {
			err = cluster.NodeReady(n)
		}
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("the real node is not Ready: %v (logs: %s; restart with `make cluster-down cluster`)", last, c.c.LogDir())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// RealNode places a pod on the real node, where its containers really run:
// what deploys set (nodeSelector slipway.dev/node=real).
func RealNode(spec *corev1.PodSpec) {
	if spec.NodeSelector == nil {
		spec.NodeSelector = map[string]string{}
	}
	spec.NodeSelector[cluster.NodeLabel] = cluster.NodeLabelValue
}

// NodeSelector is the real node's label as a node selector: what an
// environment sets (deploy.Environment.NodeSelector, the deploy tool's
// --node-selector) so that its pods really run.
func NodeSelector() map[string]string {
	return map[string]string{cluster.NodeLabel: cluster.NodeLabelValue}
}

// Kwok places a pod on kwok's status-only nodes (scale tests: many
// replicas, HPA): it tolerates their taint and selects them.
func Kwok(spec *corev1.PodSpec) {
	if spec.NodeSelector == nil {
		spec.NodeSelector = map[string]string{}
	}
	spec.NodeSelector["type"] = "kwok"
	spec.Tolerations = append(spec.Tolerations, corev1.Toleration{Key: cluster.KwokTaintKey, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
}

// Namespace creates a fresh namespace named prefix-<random> and deletes it
// when the test ends.
func (c *Cluster) Namespace(t testing.TB, prefix string) string {
	t.Helper()
	b := make([]byte, 3)
	rand.Read(b)
	name := prefix + "-" + hex.EncodeToString(b)
	ctx := context.Background()
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("clustertest: creating namespace %s: %v", name, err)
	}
	t.Cleanup(func() { c.Client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	return name
}

// RestartAPIServer stops the API server for downFor and starts it again;
// only a test holding RequireExclusive may call it.
func (c *Cluster) RestartAPIServer(ctx context.Context, downFor time.Duration) error {
	return c.c.RestartAPIServer(ctx, downFor)
}

// Kubectl is the kubectl built with the control plane (same version).
func (c *Cluster) Kubectl() string { return c.c.Bin("kubectl") }

// Server is the API server URL.
func (c *Cluster) Server() string { return c.Config.Host }
