package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
)

// DefaultVerifyPaths are the liveness, readiness and metrics endpoints
// slipway's example services serve. They are not assumed of any other
// service: WithVerifyPaths given no paths checks what the Deployment's own
// HTTP probes and Prometheus annotations name (ProbePaths).
var DefaultVerifyPaths = []string{"/health", "/ready", "/metrics"}

// ProbePaths are the smoke test's paths that dep declares itself: the
// paths of its containers' HTTP readiness, liveness and startup probes,
// and the path of its pod template's prometheus.io/scrape annotation
// (prometheus.io/path, default MetricsPath), each once, in that order.
// A probe on another port than the first container port names its port.
func ProbePaths(dep *appsv1.Deployment) []string {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if p != "" && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	// The smoke test's unqualified paths go to the first container port,
	// so a probe on that port, by number or by name, needs no port prefix.
	var first int32
	var firstName string
	for _, ct := range dep.Spec.Template.Spec.Containers {
		if len(ct.Ports) > 0 && first == 0 {
			first, firstName = ct.Ports[0].ContainerPort, ct.Ports[0].Name
		}
	}
	for _, ct := range dep.Spec.Template.Spec.Containers {
		for _, pr := range []*corev1.Probe{ct.ReadinessProbe, ct.LivenessProbe, ct.StartupProbe} {
			if pr == nil || pr.HTTPGet == nil {
				continue
			}
			path := pr.HTTPGet.Path
			if path == "" {
				path = "/"
			}
			switch port := pr.HTTPGet.Port; {
			case port.Type == intstr.Int && (port.IntVal == first || port.IntVal == 0),
				port.Type == intstr.String && port.StrVal != "" && port.StrVal == firstName:
				add(path)
			default:
				add(port.String() + ":" + path)
			}
		}
	}
	if a := dep.Spec.Template.Annotations; a["prometheus.io/scrape"] == "true" {
		path := a["prometheus.io/path"]
		if path == "" {
			path = MetricsPath
		}
		add(path)
	}
	return out
}

// MetricsPath is the path whose body must also parse as the Prometheus
// text exposition format: a 200 with a broken body scrapes as a failed
// target, so it is a failed verification.
const MetricsPath = "/metrics"

// ErrVerification is the cause of a deploy whose rollout completed but
// whose smoke test failed (errors.Is on the deploy's error).
var ErrVerification = errors.New("verification failed")

// WithVerifyPaths turns on the smoke test: after a completed rollout,
// every path is fetched through the Service that selects the Deployment's
// pods (the API server's service proxy, so it works where no kube-proxy
// runs and from outside the cluster network), or from each new pod by
// the API server's pod proxy when no Service selects them or the service
// proxy cannot reach one. A path may name its port (metrics:/metrics;
// see check). Each must answer 2xx, and MetricsPath must
// parse as Prometheus text. No paths means ProbePaths of the Deployment
// (none there: no smoke test, and the result says so). A failed
// smoke test is a failed deploy: it is rolled back as a failed rollout is,
// so Recording records no evidence for it.
func WithVerifyPaths(paths ...string) Option {
	return func(o *options) {
		o.verifyFromProbes = len(paths) == 0
		o.verifyPaths = append([]string(nil), paths...)
	}
}

// WithVerifyWindow keeps repeating the smoke test for d after it first
// passes (a round every 2 seconds and one at the end; default 0: one
// round): a service that
// answers once and then fails, or fails only on some pods, fails the
// deploy.
func WithVerifyWindow(d time.Duration) Option { return func(o *options) { o.verifyWindow = d } }

// verifyRound is the pause between smoke test rounds within the window.
const verifyRound = 2 * time.Second

// A smoke test path is "/path", fetched on the default port, or
// "PORT:/path", fetched on the Service's port of that name or number (on a
// pod: its container port of that name or number). The default port is
// the Service's first port; for the path named by the pod template's
// prometheus.io/path annotation (default /metrics) it is the port of its
// prometheus.io/port annotation, where the service's metrics are.
type check struct{ port, path string }

func (k check) String() string {
	if k.port == "" {
		return k.path
	}
	return k.port + ":" + k.path
}

// CheckPaths refuses smoke test paths that are not absolute URL paths,
// optionally after a port: /health, metrics:/metrics, 9090:/metrics.
func CheckPaths(paths []string) error {
	_, err := parseChecks(paths)
	return err
}

func parseChecks(paths []string) ([]check, error) {
	var out []check
	for _, p := range paths {
		var k check
		if i := strings.Index(p, ":/"); i > 0 && !strings.Contains(p[:i], "/") {
			k.port, k.path = p[:i], p[i+1:]
		} else {
			k.path = p
		}
		if !strings.HasPrefix(k.path, "/") || strings.ContainsAny(p, " \t\n?#") {
			return nil, fmt.Errorf("verify path %q is not an absolute URL path, optionally after a port: /health, metrics:/metrics", p)
		}
		out = append(out, k)
	}
	return out, nil
}

// smoke runs the smoke test against the rolled-out Deployment dep, whose
// Services are among objs, and returns what it checked and whether it
// probed anything (a Deployment with nothing to probe passes unprobed).
func (c *Client) smoke(ctx context.Context, dep *appsv1.Deployment, objs []*unstructured.Unstructured) (string, bool, error) {
	paths := c.opts.verifyPaths
	if c.opts.verifyFromProbes {
		if paths = ProbePaths(dep); len(paths) == 0 {
			return "no smoke test: the Deployment declares no HTTP probe or prometheus.io/scrape annotation, and no verify path was given", false, nil
		}
	}
	msg, err := c.probe(ctx, dep, objs, paths)
	return msg, err == nil, err
}

// probe GETs paths of the rolled-out Deployment dep through its Service.
func (c *Client) probe(ctx context.Context, dep *appsv1.Deployment, objs []*unstructured.Unstructured, paths []string) (string, error) {
	checks, err := parseChecks(paths)
	if err != nil {
		return "", err
	}
	svc := selectingService(dep, objs)
	start := time.Now()
	var via string
	for round := 0; ; round++ {
		v, err := c.smokeRound(ctx, dep, svc, checks)
		if err != nil {
			if round > 0 {
				err = fmt.Errorf("%w (round %d, %s after the first passed)", err, round+1, time.Since(start).Round(time.Second))
			}
			return "", err
		}
		via = v
		left := c.opts.verifyWindow - time.Since(start)
		if left <= 0 {
			break
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("smoke test: %w", ctx.Err())
		case <-time.After(min(left, verifyRound)):
		}
	}
	var names []string
	for _, k := range checks {
		names = append(names, k.String())
	}
	msg := fmt.Sprintf("smoke test passed: GET %s answered 2xx through %s", strings.Join(names, ", "), via)
	if c.opts.verifyWindow > 0 {
		msg += fmt.Sprintf(" for %s", c.opts.verifyWindow)
	}
	return msg, nil
}

// smokeRound checks every path once, through the Service when there is
// one, else (or when the service proxy itself fails) on every new pod.
func (c *Client) smokeRound(ctx context.Context, dep *appsv1.Deployment, svc *corev1.Service, checks []check) (string, error) {
	if svc != nil {
		proxyErr := error(nil)
		for _, k := range checks {
			code, body, err := c.proxyGet(ctx, "services", svc.Name, servicePort(svc, dep, k), k.path)
			if err != nil {
				proxyErr = fmt.Errorf("GET %s: %w", k, err)
				break
			}
			if err := judge(k.path, code, body); err != nil {
				return "", fmt.Errorf("GET %s through Service %s: %w", k, svc.Name, err)
			}
		}
		if proxyErr == nil {
			return "Service " + svc.Name, nil
		}
		pods, err := c.readyPods(ctx, dep)
		if err != nil || len(pods) == 0 {
			return "", fmt.Errorf("Service %s: the API server's service proxy failed (%v), and the pods cannot be reached instead: %v", svc.Name, proxyErr, err)
		}
		return c.smokePods(ctx, dep, pods, checks, fmt.Sprintf("(the service proxy to Service %s failed: %v)", svc.Name, proxyErr))
	}
	pods, err := c.readyPods(ctx, dep)
	if err != nil {
		return "", err
	}
	if len(pods) == 0 {
		return "", fmt.Errorf("no Service selects Deployment %s's pods, and it has no ready pods to check", dep.Name)
	}
	return c.smokePods(ctx, dep, pods, checks, "(no Service selects them)")
}

func (c *Client) smokePods(ctx context.Context, dep *appsv1.Deployment, pods []corev1.Pod, checks []check, why string) (string, error) {
	for i := range pods {
		pod := &pods[i]
		for _, k := range checks {
			port, err := podPort(pod, dep, k)
			if err != nil {
				return "", fmt.Errorf("GET %s on pod %s: %w", k, pod.Name, err)
			}
			code, body, err := c.proxyGet(ctx, "pods", pod.Name, port, k.path)
			if err != nil {
				return "", fmt.Errorf("GET %s on pod %s: %w", k, pod.Name, err)
			}
			if err := judge(k.path, code, body); err != nil {
				return "", fmt.Errorf("GET %s on pod %s: %w", k, pod.Name, err)
			}
		}
	}
	return fmt.Sprintf("each of %d pods %s", len(pods), why), nil
}

// metricsPort is the container port of the pod template's prometheus.io
// annotations when k is their metrics path: 0 otherwise.
func metricsPort(dep *appsv1.Deployment, k check) int {
	a := dep.Spec.Template.Annotations
	path := a["prometheus.io/path"]
	if path == "" {
		path = MetricsPath
	}
	n, err := strconv.Atoi(a["prometheus.io/port"])
	if k.port != "" || k.path != path || err != nil {
		return 0
	}
	return n
}

// servicePort is the port of svc that k is fetched on.
func servicePort(svc *corev1.Service, dep *appsv1.Deployment, k check) string {
	name := func(p corev1.ServicePort) string {
		if p.Name != "" {
			return p.Name
		}
		return strconv.Itoa(int(p.Port))
	}
	if k.port != "" {
		return k.port
	}
	if n := metricsPort(dep, k); n > 0 {
		named := map[string]int32{}
		for _, ct := range dep.Spec.Template.Spec.Containers {
			for _, cp := range ct.Ports {
				named[cp.Name] = cp.ContainerPort
			}
		}
		for _, p := range svc.Spec.Ports {
			tp := p.TargetPort
			if (tp.Type == intstr.Int && (tp.IntVal == int32(n) || (tp.IntVal == 0 && p.Port == int32(n)))) ||
				(tp.Type == intstr.String && tp.StrVal != "" && named[tp.StrVal] == int32(n)) {
				return name(p)
			}
		}
	}
	return name(svc.Spec.Ports[0])
}

// podPort is the container port of pod that k is fetched on, by number:
// the API server's pod proxy takes no port names.
func podPort(pod *corev1.Pod, dep *appsv1.Deployment, k check) (string, error) {
	var first int32
	for _, ct := range pod.Spec.Containers {
		for _, cp := range ct.Ports {
			if first == 0 {
				first = cp.ContainerPort
			}
			if k.port != "" && cp.Name == k.port {
				return strconv.Itoa(int(cp.ContainerPort)), nil
			}
		}
	}
	if k.port != "" {
		if _, err := strconv.Atoi(k.port); err == nil {
			return k.port, nil
		}
		return "", fmt.Errorf("the pod has no container port named %q", k.port)
	}
	if n := metricsPort(dep, k); n > 0 {
		return strconv.Itoa(n), nil
	}
	if first == 0 {
		return "", errors.New("the pod declares no container port to check")
	}
	return strconv.Itoa(int(first)), nil
}

// judge says what is wrong with one answer: a status other than 2xx, or
// metrics that do not parse.
func judge(path string, code int, body []byte) error {
	if code < 200 || code > 299 {
		return fmt.Errorf("%d %s: %q", code, http.StatusText(code), truncate(body, 200))
	}
	if path == MetricsPath {
		n, err := parseMetrics(body)
		if err != nil {
			return fmt.Errorf("%d, but not Prometheus text: %w", code, err)
		}
		if n == 0 {
			return fmt.Errorf("%d, but no metrics at all", code)
		}
	}
	return nil
}

// parseMetrics parses the Prometheus text format as Prometheus' own
// parser does and counts the metric families.
func parseMetrics(body []byte) (int, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	return len(fams), err
}

func truncate(b []byte, n int) string {
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}

// proxyGet GETs path from a Service or pod through the API server's
// proxy. The answer's status and body are returned when the service
// answered; an error means the proxy itself failed (no endpoint, dial
// error): the API server answers those with a JSON Status object, the
// service with its own body. The request goes through the client's own
// HTTP client (credentials, TLS, tunnel), not through client-go's result
// handling, which turns a service's 500 into an error that no longer
// says who answered.
func (c *Client) proxyGet(ctx context.Context, resource, name, port, path string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rc, ok := c.kube.CoreV1().RESTClient().(*rest.RESTClient)
	if !ok || rc == nil || rc.Client == nil {
		return 0, nil, errors.New("the Kubernetes client has no HTTP client to reach the API server's proxy with")
	}
	u := rc.Get().Namespace(c.env.Namespace).Resource(resource).Name(name + ":" + port).
		SubResource("proxy").Suffix(path).URL()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := rc.Client.Do(req)
	if err != nil {
		return 0, nil, c.explain(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode >= 400 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		var st metav1.Status
		if json.Unmarshal(body, &st) == nil && st.Kind == "Status" {
			return 0, nil, fmt.Errorf("%d from the API server's proxy: %s", resp.StatusCode, st.Message)
		}
	}
	return resp.StatusCode, body, nil
}

// selectingService finds, among the applied objects, the first Service
// (by name) whose selector picks the Deployment's pods.
func selectingService(dep *appsv1.Deployment, objs []*unstructured.Unstructured) *corev1.Service {
	podLabels := labels.Set(dep.Spec.Template.Labels)
	var found []*corev1.Service
	for _, o := range objs {
		if o.GetKind() != "Service" || o.GroupVersionKind().Group != "" {
			continue
		}
		var svc corev1.Service
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &svc); err != nil {
			continue
		}
		if len(svc.Spec.Selector) == 0 || len(svc.Spec.Ports) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
			continue
		}
		found = append(found, &svc)
	}
	if len(found) == 0 {
		return nil
	}
	sort.Slice(found, func(i, j int) bool { return found[i].Name < found[j].Name })
	return found[0]
}

// readyPods lists the ready pods of the Deployment's current revision.
func (c *Client) readyPods(ctx context.Context, dep *appsv1.Deployment) ([]corev1.Pod, error) {
	d, rss, err := c.revisions(ctx, dep.Name)
	if err != nil {
		return nil, c.explain(err)
	}
	cur := currentRS(d, rss)
	if cur == nil {
		return nil, fmt.Errorf("Deployment %s has no current ReplicaSet", dep.Name)
	}
	sel := labels.SelectorFromSet(labels.Set{appsv1.DefaultDeploymentUniqueLabelKey: cur.Labels[appsv1.DefaultDeploymentUniqueLabelKey]})
	list, err := c.kube.CoreV1().Pods(c.env.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, c.explain(err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && notReady(&p) == "" {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Verifying reports whether c runs a post-deploy check: a smoke test
// (WithVerifyPaths), alerts (WithAlerts) or a WithVerify hook. Deployers
// that roll out by other means (a Helm release, a GitOps sync) call Verify
// only then, so that a deploy configured without checks costs no request.
func (c *Client) Verifying() bool {
	return len(c.opts.verifyPaths) > 0 || c.opts.verifyFromProbes || c.opts.alerts != nil || c.verify != nil
}

// Verify runs the post-deploy checks c is configured with against the
// rolled-out Deployment res.Deployment in the environment's namespace,
// exactly as Deploy runs them after its own rollout: the smoke test, then
// the alerts, then the WithVerify hook. It records what was checked in
// res.Verification and res.Verified. objs are the objects the deploy
// applied, among which the smoke test finds the Service in front of the
// pods; nil reads the namespace's Services from the cluster (a GitOps
// controller applied them). A failed check is an error wrapping
// ErrVerification: the caller rolls back, as it would a failed rollout,
// so that nothing unverified stays and no evidence is recorded for it.
func (c *Client) Verify(ctx context.Context, res *Result, objs []*unstructured.Unstructured) error {
	if res == nil || res.Deployment == "" {
		return errors.New("verify: no Deployment named: say which Deployment the deploy rolled out (Release.Deployment)")
	}
	dep, err := c.kube.AppsV1().Deployments(c.env.Namespace).Get(ctx, res.Deployment, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("verify: reading Deployment %s/%s: %w", c.env.Namespace, res.Deployment, c.explain(err))
	}
	if objs == nil && (len(c.opts.verifyPaths) > 0 || c.opts.verifyFromProbes) {
		svcs, err := c.kube.CoreV1().Services(c.env.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("verify: listing the Services of namespace %s: %w", c.env.Namespace, c.explain(err))
		}
		for i := range svcs.Items {
			u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&svcs.Items[i])
			if err != nil {
				continue
			}
			o := &unstructured.Unstructured{Object: u}
			o.SetAPIVersion("v1")
			o.SetKind("Service")
			objs = append(objs, o)
		}
	}
	return c.verifyRollout(ctx, dep, objs, res)
}

// verifyRollout runs the configured checks on the rolled-out Deployment
// done and records them in res; see Verify.
func (c *Client) verifyRollout(ctx context.Context, done *appsv1.Deployment, objs []*unstructured.Unstructured, res *Result) error {
	if len(c.opts.verifyPaths) > 0 || c.opts.verifyFromProbes {
		msg, probed, err := c.smoke(ctx, done, objs)
		if err != nil {
			return fmt.Errorf("%w: smoke test: %w", ErrVerification, err)
		}
		res.Verification, res.Verified = msg, probed
	}
	if c.opts.alerts != nil {
		msg, err := c.checkAlerts(ctx, done)
		res.Verification = strings.TrimPrefix(res.Verification+"; "+msg, "; ")
		if err != nil {
			return fmt.Errorf("%w: alerts: %w", ErrVerification, err)
		}
		res.Verified = true
	}
	if c.verify != nil {
		if err := c.verify(ctx, c.env, res); err != nil {
			return fmt.Errorf("%w: %w", ErrVerification, err)
		}
		res.Verified = true
	}
	return nil
}
