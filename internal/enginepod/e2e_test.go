package enginepod_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	deployengine "github.com/slipway-ci/slipway/deploy/engine"
	"github.com/slipway-ci/slipway/internal/clustertest"
	"github.com/slipway-ci/slipway/internal/e2e"
	"github.com/slipway-ci/slipway/internal/engine"
	"github.com/slipway-ci/slipway/internal/enginepod"
	"github.com/slipway-ci/slipway/internal/enginetest"
)

// TestEngineOnKubernetes runs the engine that `make engine` built as a
// DaemonSet pod on the local cluster's real node, and a real `dagger` CLI
// call against it: once through kube-pod:// (kubectl exec ... buildctl
// dial-stdio), once through the socket in the run hostPath, as a GitLab job
// pod on the node would. The engine in the pod is air-gapped like the host
// one: it pulls only from the engine's registry mirror, which it reaches on
// the node's loopback (the node proxy).
func TestEngineOnKubernetes(t *testing.T) {
	shared := clustertest.RequireNode(t)
	eng := enginetest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	wd, _ := os.Getwd()
	repo, ok := engine.FindRepo(wd)
	if !ok {
		t.Fatal("not in the slipway checkout")
	}
	e, err := engine.New()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	img, err := (&enginepod.Builder{Engine: e, Repo: repo, Log: testLog{t}}).Build(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := enginepod.Push(ctx, eng.Env, img.Image, enginepod.DefaultRepository)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("engine image %s (built or found, and pushed, in %.1fs)", ref, time.Since(t0).Seconds())

	// The node shares the host's /tmp: the state and socket directories
	// are this test's, so nothing stays on the node, and the socket is
	// reachable from here as a job pod on the node would reach it.
	host := t.TempDir()
	stateDir, runDir := filepath.Join(host, "state"), filepath.Join(host, "run")
	render := func(ns string) []runtime.Object {
		objs, err := deployengine.Manifests(ref, append(enginepod.LocalClusterOptions(),
			deployengine.WithNamespace(ns), deployengine.WithoutNamespace(),
			deployengine.WithStateHostPath(stateDir), deployengine.WithRunHostPath(runDir),
			deployengine.WithTerminationGracePeriod(30))...)
		if err != nil {
			t.Fatal(err)
		}
		return objs
	}

	c := target{cs: shared.Client, kubeconfig: shared.KubeconfigPath, kubectl: shared.Kubectl(), node: shared.Node}
	ns := shared.Namespace(t, "enginepod")
	if err := admitsPrivileged(ctx, c.cs, render(ns)); err != nil {
		// A control plane started by an older checkout, before
		// internal/cluster passed --allow-privileged=true; `make cluster`
		// restarts it with the flag, which a test must not do to a
		// shared cluster.
		e2e.Unavailable(t, fmt.Errorf("the shared control plane refuses the engine's privileged pod (%v): run `make cluster`, which restarts an API server started without --allow-privileged=true", err))
	}
	apply(t, ctx, c.cs, render(ns))

	t1 := time.Now()
	pod := waitReady(t, ctx, c.cs, ns, c.node)
	t.Logf("engine pod %s Running and Ready on %s after %.1fs", pod, c.node, time.Since(t1).Seconds())

	kubectlDir := filepath.Dir(c.kubectl)
	dagger := func(runnerHost, word string) {
		t.Helper()
		t2 := time.Now()
		cmd := exec.CommandContext(ctx, eng.Env.CLIBin, "--progress=plain", "core", "container", "from", "--address=alpine:latest",
			"with-exec", "--args", "echo,"+word, "stdout")
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(),
			"_EXPERIMENTAL_DAGGER_RUNNER_HOST="+runnerHost,
			"KUBECONFIG="+c.kubeconfig,
			// The kube-pod driver runs `kubectl`: the control plane's.
			"PATH="+kubectlDir+":"+os.Getenv("PATH"),
			"DAGGER_NO_NAG=1", "DO_NOT_TRACK=1")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("dagger via %s: %v\n%s\n--- engine pod log ---\n%s", runnerHost, err, tail(stderr.String(), 4000), podLog(ctx, c.cs, ns, pod))
		}
		if got := strings.TrimSpace(stdout.String()); got != word {
			t.Fatalf("dagger via %s printed %q, want %q\n%s", runnerHost, got, word, tail(stderr.String(), 3000))
		}
		t.Logf("dagger call via %s: %q in %.1fs", runnerHost, word, time.Since(t2).Seconds())
	}
	dagger(deployengine.RunnerHostForPod(pod, ns), "hi-from-kube-pod")
	dagger("unix://"+filepath.Join(runDir, "engine.sock"), "hi-from-the-node-socket")
	// The calls ran in the pod's engine: its state is in the hostPath.
	if ents, err := os.ReadDir(stateDir); err != nil || len(ents) == 0 {
		t.Errorf("the pod engine's state directory %s is empty (%v): the calls did not run there", stateDir, err)
	}

	// Delete everything and check that nothing is left.
	if err := c.cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	gone := time.Now().Add(3 * time.Minute)
	for {
		_, err := c.cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(gone) {
			t.Fatalf("namespace %s still exists 3 minutes after its deletion (%v)", ns, err)
		}
		time.Sleep(time.Second)
	}
	pods, err := c.cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=slipway,app.kubernetes.io/name=dagger-engine"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Namespace == ns {
			t.Errorf("pod %s/%s is left", p.Namespace, p.Name)
		}
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil && strings.Contains(string(b), host) {
		t.Errorf("mounts under %s are left on the host", host)
	}
	// The engine leaves its socket file (it replaces it when it starts),
	// but nothing may answer there any more.
	if conn, err := net.DialTimeout("unix", filepath.Join(runDir, "engine.sock"), 2*time.Second); err == nil {
		conn.Close()
		t.Errorf("an engine still answers on %s after its namespace was deleted", filepath.Join(runDir, "engine.sock"))
	}
}

// target is the control plane the engine runs on.
type target struct {
	cs         kubernetes.Interface
	kubeconfig string
	kubectl    string
	node       string
}

// admitsPrivileged asks the API server, in a server-side dry run, whether
// it admits the engine's DaemonSet.
func admitsPrivileged(ctx context.Context, cs kubernetes.Interface, objs []runtime.Object) error {
	for _, o := range objs {
		if ds, ok := o.(*appsv1.DaemonSet); ok {
			_, err := cs.AppsV1().DaemonSets(ds.Namespace).Create(ctx, ds, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			if err != nil && strings.Contains(err.Error(), "privileged") {
				return err
			}
		}
	}
	return nil
}

// apply creates the rendered objects, namespaced ones in the test's
// namespace.
func apply(t *testing.T, ctx context.Context, cs kubernetes.Interface, objs []runtime.Object) {
	t.Helper()
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.ServiceAccount:
			_, err = cs.CoreV1().ServiceAccounts(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *corev1.ConfigMap:
			_, err = cs.CoreV1().ConfigMaps(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *appsv1.DaemonSet:
			_, err = cs.AppsV1().DaemonSets(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		default:
			t.Fatalf("the engine manifests have a %T, which this test does not apply", o)
		}
		if err != nil {
			t.Fatalf("creating %T: %v", o, err)
		}
	}
}

// waitReady waits for the DaemonSet's pod to run and be Ready on node,
// and otherwise fails with what the pod reports: the exact reason.
func waitReady(t *testing.T, ctx context.Context, cs kubernetes.Interface, ns, node string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	last := "no pod yet"
	for time.Now().Before(deadline) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "name=" + deployengine.DefaultName})
		if err == nil && len(pods.Items) > 0 {
			p := pods.Items[0]
			last = describe(&p)
			if p.Spec.NodeName != "" && p.Spec.NodeName != node {
				t.Fatalf("engine pod %s landed on %s, not the real node %s", p.Name, p.Spec.NodeName, node)
			}
			if p.Status.Phase == corev1.PodRunning && ready(&p) {
				return p.Name
			}
			for _, st := range p.Status.ContainerStatuses {
				if st.RestartCount > 0 || (st.State.Waiting != nil && st.State.Waiting.Reason == "CrashLoopBackOff") {
					t.Fatalf("the engine container fails in the pod: %s\n--- its log ---\n%s", last, podLogPrevious(ctx, cs, ns, p.Name))
				}
			}
		}
		time.Sleep(2 * time.Second)
	}
	t.Fatalf("the engine pod is not Running and Ready after 5 minutes: %s\nevents:\n%s", last, events(ctx, cs, ns))
	return ""
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func describe(p *corev1.Pod) string {
	s := fmt.Sprintf("pod %s on %q: phase %s", p.Name, p.Spec.NodeName, p.Status.Phase)
	for _, st := range p.Status.ContainerStatuses {
		switch {
		case st.State.Waiting != nil:
			s += fmt.Sprintf("; %s waiting: %s %s", st.Name, st.State.Waiting.Reason, st.State.Waiting.Message)
		case st.State.Terminated != nil:
			s += fmt.Sprintf("; %s terminated: exit %d %s %s", st.Name, st.State.Terminated.ExitCode, st.State.Terminated.Reason, st.State.Terminated.Message)
		case st.State.Running != nil:
			s += fmt.Sprintf("; %s running, ready=%v, restarts %d", st.Name, st.Ready, st.RestartCount)
		}
		if lt := st.LastTerminationState.Terminated; lt != nil {
			s += fmt.Sprintf(" (last exit %d %s %s)", lt.ExitCode, lt.Reason, lt.Message)
		}
	}
	return s
}

func events(ctx context.Context, cs kubernetes.Interface, ns string) string {
	evs, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, e := range evs.Items {
		fmt.Fprintf(&b, "  %s %s/%s: %s %s\n", e.Type, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message)
	}
	return b.String()
}

func podLog(ctx context.Context, cs kubernetes.Interface, ns, pod string) string {
	return logOf(ctx, cs, ns, pod, false)
}

func podLogPrevious(ctx context.Context, cs kubernetes.Interface, ns, pod string) string {
	if s := logOf(ctx, cs, ns, pod, true); s != "" {
		return s
	}
	return logOf(ctx, cs, ns, pod, false)
}

func logOf(ctx context.Context, cs kubernetes.Interface, ns, pod string, previous bool) string {
	lines := int64(60)
	b, err := cs.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: deployengine.ContainerName, TailLines: &lines, Previous: previous}).DoRaw(ctx)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return string(b)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
