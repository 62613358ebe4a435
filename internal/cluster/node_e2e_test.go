package cluster_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/slipway-ci/slipway/internal/cluster"
	"github.com/slipway-ci/slipway/internal/clustertest"
	"github.com/slipway-ci/slipway/internal/e2e"
)

// appPod is the test app as a team's Deployment runs it: real HTTP
// readiness and liveness probes, placed with place.
func appPod(name, image string, place func(*corev1.PodSpec)) *corev1.Pod {
	probe := func(path string) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt32(clustertest.AppPort)}},
			PeriodSeconds: 1, FailureThreshold: 3,
		}
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "app", Image: image,
				Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: clustertest.AppPort}},
				ReadinessProbe: probe("/ready"),
				LivenessProbe:  probe("/health"),
			}},
			TerminationGracePeriodSeconds: new(int64),
		},
	}
	place(&p.Spec)
	return p
}

// waitPod polls the pod until cond holds (nil) and returns it, or fails
// with cond's last reason and the pod's events.
func waitPod(t *testing.T, cs kubernetes.Interface, ns, name string, timeout time.Duration, cond func(*corev1.Pod) error) *corev1.Pod {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	for {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			if last = cond(p); last == nil {
				return p
			}
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			evs, _ := cs.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
			var lines []string
			for _, e := range evs.Items {
				lines = append(lines, e.Reason+": "+e.Message)
			}
			t.Fatalf("pod %s/%s after %s: %v\nevents:\n  %s", ns, name, timeout, last, strings.Join(lines, "\n  "))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func ready(p *corev1.Pod) error {
	if p.Status.Phase != corev1.PodRunning {
		return fmt.Errorf("phase %s, container states %+v", p.Status.Phase, containerState(p))
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return nil
		}
	}
	return fmt.Errorf("Running but not Ready: %+v", containerState(p))
}

func containerState(p *corev1.Pod) string {
	var s []string
	for _, c := range p.Status.ContainerStatuses {
		switch {
		case c.State.Waiting != nil:
			s = append(s, fmt.Sprintf("%s waiting %s: %s", c.Name, c.State.Waiting.Reason, c.State.Waiting.Message))
		case c.State.Running != nil:
			s = append(s, fmt.Sprintf("%s running, ready=%v, restarts %d", c.Name, c.Ready, c.RestartCount))
		case c.State.Terminated != nil:
			s = append(s, fmt.Sprintf("%s terminated %s (exit %d)", c.Name, c.State.Terminated.Reason, c.State.Terminated.ExitCode))
		}
	}
	return strings.Join(s, "; ")
}

func waiting(reasons ...string) func(*corev1.Pod) error {
	return func(p *corev1.Pod) error {
		for _, c := range p.Status.ContainerStatuses {
			if c.State.Waiting != nil && slices.Contains(reasons, c.State.Waiting.Reason) {
				return nil
			}
		}
		return fmt.Errorf("want a container waiting with %v; have %s", reasons, containerState(p))
	}
}

// TestRealNodeRunsImagesFromTheRegistry runs the test app, pushed by digest
// to the engine's registry mirror (where the pipeline pushes), on the real
// node: a good image is Running and Ready through its HTTP readiness probe
// and answers from the host and through the API server; a binary that exits
// at start crash-loops; a digest the registry lacks fails to pull; a failing
// readiness probe keeps a running pod out of Ready.
func TestRealNodeRunsImagesFromTheRegistry(t *testing.T) {
	c := clustertest.RequireNode(t)
	ns := c.Namespace(t, "realnode")
	cs := c.Client
	ctx := context.Background()
	create := func(p *corev1.Pod) {
		t.Helper()
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	good := clustertest.PushApp(t, clustertest.AppServe)
	crash := clustertest.PushApp(t, clustertest.AppCrash)
	unready := clustertest.PushApp(t, clustertest.AppUnready)
	missing := clustertest.MissingImage()
	create(appPod("good", good, clustertest.RealNode))
	create(appPod("crash", crash, clustertest.RealNode))
	create(appPod("unready", unready, clustertest.RealNode))
	create(appPod("missing", missing, clustertest.RealNode))

	t.Run("good image is Running and Ready", func(t *testing.T) {
		start := time.Now()
		p := waitPod(t, cs, ns, "good", 2*time.Minute, ready)
		t.Logf("Ready in %s on %s at %s", time.Since(start).Round(time.Millisecond), p.Spec.NodeName, p.Status.PodIP)
		if p.Spec.NodeName != c.Node {
			t.Errorf("scheduled on %s, want the real node %s", p.Spec.NodeName, c.Node)
		}
		if id, digest := p.Status.ContainerStatuses[0].ImageID, good[strings.Index(good, "@")+1:]; !strings.Contains(id, digest) {
			t.Errorf("container image ID %q is not the pushed digest %s", id, good)
		}
		// The host routes the pod network: the API server's proxy (and a
		// smoke test on the host) reach the pod IP.
		resp, err := http.Get(fmt.Sprintf("http://%s/health", net.JoinHostPort(p.Status.PodIP, strconv.Itoa(clustertest.AppPort))))
		if err != nil {
			t.Fatalf("GET /health on the pod IP from the host: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "ok" {
			t.Errorf("GET /health from the host: %s %q", resp.Status, body)
		}
		out, err := cs.CoreV1().Pods(ns).ProxyGet("http", "good", strconv.Itoa(clustertest.AppPort), "/", nil).DoRaw(ctx)
		if err != nil || !strings.Contains(string(out), "slipway test app (serve) on good") {
			t.Errorf("GET / through the API server's pod proxy: %q, %v", out, err)
		}
		logs, err := cs.CoreV1().Pods(ns).GetLogs("good", &corev1.PodLogOptions{}).DoRaw(ctx)
		if err != nil || !strings.Contains(string(logs), "serving on :8080 in mode serve") {
			t.Errorf("logs through the kubelet: %q, %v", logs, err)
		}
	})

	t.Run("a binary that exits at start crash-loops", func(t *testing.T) {
		p := waitPod(t, cs, ns, "crash", 2*time.Minute, waiting("CrashLoopBackOff"))
		st := p.Status.ContainerStatuses[0]
		if st.LastTerminationState.Terminated == nil || st.LastTerminationState.Terminated.ExitCode != 3 || st.RestartCount < 1 {
			t.Errorf("crash loop without the app's exit code 3: %+v", st)
		}
	})

	t.Run("a digest the registry lacks fails to pull", func(t *testing.T) {
		waitPod(t, cs, ns, "missing", 2*time.Minute, waiting("ErrImagePull", "ImagePullBackOff"))
		// The registry's own answer, not a network error.
		evs, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=missing,reason=Failed"})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range evs.Items {
			found = found || strings.Contains(e.Message, "code = NotFound") && strings.Contains(e.Message, missing+": not found")
		}
		if !found {
			t.Errorf("no pull failure says the registry has no %s: %+v", missing, evs.Items)
		}
	})

	t.Run("a failing readiness probe keeps the pod out of Ready", func(t *testing.T) {
		waitPod(t, cs, ns, "unready", 2*time.Minute, func(p *corev1.Pod) error {
			if p.Status.Phase != corev1.PodRunning {
				return fmt.Errorf("phase %s", p.Status.Phase)
			}
			evs, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=unready"})
			if err != nil {
				return err
			}
			for _, e := range evs.Items {
				if e.Reason == "Unhealthy" && strings.Contains(e.Message, "Readiness probe failed: HTTP probe failed with statuscode: 503") {
					return nil
				}
			}
			return fmt.Errorf("no failed-readiness event yet (%s)", containerState(p))
		})
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "unready", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ready(p) == nil {
			t.Errorf("pod with a failing readiness probe is Ready")
		}
	})
}

// TestOrdinaryPodsStayOffKwok: kwok's nodes are tainted while a real node
// runs, so a pod without any placement lands on the real node, and only a
// pod that tolerates the taint (a scale test) lands on kwok.
func TestOrdinaryPodsStayOffKwok(t *testing.T) {
	c := clustertest.RequireNode(t)
	ns := c.Namespace(t, "placement")
	ctx := context.Background()
	pause := func(name string, place func(*corev1.PodSpec)) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{
			Containers:                    []corev1.Container{{Name: "c", Image: cluster.PauseImage, ImagePullPolicy: corev1.PullNever}},
			TerminationGracePeriodSeconds: new(int64),
		}}
		place(&p.Spec)
		return p
	}
	for _, p := range []*corev1.Pod{pause("plain", func(*corev1.PodSpec) {}), pause("scale", clustertest.Kwok)} {
		if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	plain := waitPod(t, c.Client, ns, "plain", time.Minute, ready)
	if plain.Spec.NodeName != c.Node {
		t.Errorf("a pod without placement went to %s, want the real node %s", plain.Spec.NodeName, c.Node)
	}
	scale := waitPod(t, c.Client, ns, "scale", time.Minute, ready)
	if !strings.HasPrefix(scale.Spec.NodeName, "kwok-node-") {
		t.Errorf("a pod tolerating kwok went to %s, want a kwok node", scale.Spec.NodeName)
	}
}

// hostSnapshot is what a node must not change on the host: the mount
// table, interfaces, routes, iptables rules, the kernel settings the kubelet
// cares about, and cgroups.
type hostSnapshot struct {
	mounts, links, routes, iptables, sysctls []string
}

func snapshot(t *testing.T) hostSnapshot {
	t.Helper()
	var s hostSnapshot
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		pre, post, _ := strings.Cut(line, " - ")
		pf, qf := strings.Fields(pre), strings.Fields(post)
		s.mounts = append(s.mounts, pf[4]+" "+strings.Join(qf[:2], " "))
	}
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		s.links = append(s.links, i.Name)
	}
	run := func(name string, args ...string) []string {
		if _, err := exec.LookPath(name); err != nil {
			return nil
		}
		out, err := exec.Command(name, args...).Output()
		if err != nil {
			t.Fatalf("%s %v: %v", name, args, err)
		}
		var lines []string
		for _, l := range strings.Split(string(out), "\n") {
			// Comments carry timestamps; counters move with traffic.
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				if i := strings.LastIndex(l, " ["); strings.HasPrefix(l, ":") && i > 0 {
					l = l[:i]
				}
				lines = append(lines, name+": "+l)
			}
		}
		return lines
	}
	s.routes = append(run("ip", "-4", "route", "show", "table", "all"), run("ip", "-6", "route", "show", "table", "all")...)
	for _, cmd := range []string{"iptables-save", "ip6tables-save", "iptables-legacy-save", "ip6tables-legacy-save"} {
		s.iptables = append(s.iptables, run(cmd)...)
	}
	s.iptables = append(s.iptables, run("nft", "list", "ruleset")...)
	for _, k := range []string{"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops", "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes", "net/ipv4/ip_forward"} {
		b, err := os.ReadFile("/proc/sys/" + k)
		if err != nil {
			t.Fatal(err)
		}
		s.sysctls = append(s.sysctls, k+"="+strings.TrimSpace(string(b)))
	}
	for _, l := range [][]string{s.mounts, s.links, s.routes, s.iptables, s.sysctls} {
		slices.Sort(l)
	}
	return s
}

// diff lists what after has that before lacks (+) and the reverse (-).
func diff(before, after []string) []string {
	var d []string
	for _, a := range after {
		if !slices.Contains(before, a) {
			d = append(d, "+ "+a)
		}
	}
	for _, b := range before {
		if !slices.Contains(after, b) {
			d = append(d, "- "+b)
		}
	}
	return d
}

// compare fails on any difference, except that a link in allowedLinks may
// appear with its routes (the node's veth end while the node runs).
func (s hostSnapshot) compare(t *testing.T, when string, after hostSnapshot, allowedLinks ...string) {
	t.Helper()
	routes := slices.DeleteFunc(slices.Clone(after.routes), func(r string) bool {
		return slices.ContainsFunc(allowedLinks, func(l string) bool { return strings.Contains(r, " dev "+l+" ") || strings.HasSuffix(r, " dev "+l) })
	})
	for _, c := range []struct {
		what          string
		before, after []string
	}{{"mounts", s.mounts, after.mounts}, {"routes", s.routes, routes}, {"iptables rules", s.iptables, after.iptables}, {"kernel settings", s.sysctls, after.sysctls}} {
		if d := diff(c.before, c.after); len(d) > 0 {
			t.Errorf("%s, the host's %s changed:\n  %s", when, c.what, strings.Join(d, "\n  "))
		}
	}
	d := diff(s.links, after.links)
	d = slices.DeleteFunc(d, func(l string) bool { return slices.Contains(allowedLinks, strings.TrimPrefix(l, "+ ")) })
	if len(d) > 0 {
		t.Errorf("%s, the host's interfaces changed:\n  %s", when, strings.Join(d, "\n  "))
	}
}

// freeNodeNetwork is a /16 no interface or route of the host uses.
func freeNodeNetwork(t *testing.T) cluster.NodeNetwork {
	for b := 150; b < 250; b++ {
		n, err := cluster.ParseNodeNetwork(fmt.Sprintf("10.%d.0.0/16", b))
		if err != nil {
			t.Fatal(err)
		}
		if cluster.CheckNodeNetwork(n) == nil {
			return n
		}
	}
	t.Fatal("no free 10.x.0.0/16 for a node")
	return cluster.NodeNetwork{}
}

func freePorts(t *testing.T) cluster.Ports {
	var p [6]int
	for i := range p {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		p[i] = l.Addr().(*net.TCPAddr).Port
	}
	return cluster.Ports{APIServer: p[0], Etcd: p[1], EtcdPeer: p[2], ControllerManager: p[3], Scheduler: p[4], Kwok: p[5]}
}

// processesOf lists the host's processes whose command line names dir, or
// that live in the PID namespace pidns.
func processesOf(dir, pidns string) []string {
	ents, _ := os.ReadDir("/proc")
	var found []string
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid))
		stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			continue
		}
		if strings.Contains(string(cmd), dir) || (pidns != "" && ns == pidns) {
			found = append(found, fmt.Sprintf("%d %s", pid, strings.ReplaceAll(string(cmd), "\x00", " ")))
		}
	}
	return found
}

// TestNodeLeavesTheHostAsItWas starts a throwaway instance (its own
// directory, ports and node network), runs a pod with a host port and a
// volume on its real node, and checks that while it runs the host gained
// only the node's veth end, and that after Down the host's mounts,
// interfaces, routes, iptables rules, kernel settings, cgroups and
// processes are exactly as before.
func TestNodeLeavesTheHostAsItWas(t *testing.T) {
	if os.Geteuid() != 0 {
		e2e.Unavailable(t, fmt.Errorf("the real node needs root"))
	}
	probe, err := cluster.New()
	if err != nil {
		t.Fatal(err)
	}
	if !probe.Built() {
		e2e.Unavailable(t, fmt.Errorf("the cluster's binaries are not built in %s: run `make cluster` once", probe.BinDir()))
	}
	dir := t.TempDir()
	n := freeNodeNetwork(t)
	c, err := cluster.New(cluster.WithInstanceDir(dir), cluster.WithPorts(freePorts(t)), cluster.WithNodeNetwork(n), cluster.WithNodes(1), cluster.WithLog(testWriter{t}))
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := c.Up(ctx); err != nil {
		c.Down(context.Background())
		t.Fatal(err)
	}
	downed := false
	t.Cleanup(func() {
		if !downed {
			c.Down(context.Background())
		}
	})

	cfg, err := clientcmd.BuildConfigFromFlags("", c.KubeconfigPath())
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// A container with a host port (portmap's iptables rules), an emptyDir
	// and a service-account token (tmpfs mounts), and an overlay rootfs.
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "probe"}, Spec: corev1.PodSpec{
		NodeSelector: map[string]string{cluster.NodeLabel: cluster.NodeLabelValue},
		Containers: []corev1.Container{{Name: "c", Image: cluster.PauseImage, ImagePullPolicy: corev1.PullNever,
			Ports:        []corev1.ContainerPort{{ContainerPort: 80, HostPort: 18080}},
			VolumeMounts: []corev1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}}}},
		Volumes:                       []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}}},
		TerminationGracePeriodSeconds: new(int64),
	}}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPod(t, cs, "default", "probe", 2*time.Minute, ready)

	during := snapshot(t)
	before.compare(t, "while the node runs", during, n.HostInterface())
	if !slices.Contains(during.links, n.HostInterface()) {
		t.Errorf("the host has no interface %s while the node runs: %v", n.HostInterface(), during.links)
	}
	// The node's processes, found by the kubelet's pid namespace.
	var pidns string
	for _, p := range processesOf(dir, "") {
		if pid, cmd, _ := strings.Cut(p, " "); strings.HasSuffix(strings.Fields(cmd)[0], "/kubelet") {
			pidns, _ = os.Readlink("/proc/" + pid + "/ns/pid")
		}
	}
	if self, _ := os.Readlink("/proc/self/ns/pid"); pidns == self {
		t.Fatalf("the kubelet runs in the host's pid namespace %s", pidns)
	}
	if pidns == "" {
		t.Fatalf("no kubelet process of %s found", dir)
	}
	if procs := processesOf("containerd-shim", pidns); len(procs) == 0 {
		t.Errorf("no containerd shim in the node's pid namespace while a pod runs")
	}

	if err := c.Down(context.Background()); err != nil {
		t.Fatalf("down: %v", err)
	}
	downed = true
	after := snapshot(t)
	before.compare(t, "after Down", after)
	if left := processesOf(dir, pidns); len(left) > 0 {
		t.Errorf("processes left after Down:\n  %s", strings.Join(left, "\n  "))
	}
	cg, _ := filepath.Glob("/sys/fs/cgroup/*" + n.CgroupRoot())
	cg2, _ := filepath.Glob("/sys/fs/cgroup" + n.CgroupRoot())
	if left := append(cg, cg2...); len(left) > 0 {
		t.Errorf("cgroups left after Down: %v", left)
	}
	if _, err := os.Stat(filepath.Join(dir, "node")); err == nil {
		t.Errorf("the node's runtime directory %s is left after Down", filepath.Join(dir, "node"))
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
