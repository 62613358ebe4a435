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
	"k8s.io/client-go/rest"
)

// DefaultVerifyPaths are the paths the smoke test checks when
// WithVerifyPaths is given none: the liveness, readiness and metrics
// endpoints every slipway service serves.
var DefaultVerifyPaths = []string{"/health", "/ready", "/metrics"}

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
// proxy cannot reach one. Each must answer 2xx, and MetricsPath must
// parse as Prometheus text. No paths means DefaultVerifyPaths. A failed
// smoke test is a failed deploy: it is rolled back as a failed rollout is,
// so Recording records no evidence for it.
func WithVerifyPaths(paths ...string) Option {
	return func(o *options) {
		if len(paths) == 0 {
			paths = DefaultVerifyPaths
		}
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

// CheckPaths refuses smoke test paths that are not absolute URL paths.
func CheckPaths(paths []string) error {
	for _, p := range paths {
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " \t\n?#") {
			return fmt.Errorf("verify path %q is not an absolute URL path such as /health", p)
		}
	}
	return nil
}

// smoke runs the smoke test against the rolled-out Deployment dep, whose
// Services are among objs, and returns what it checked.
func (c *Client) smoke(ctx context.Context, dep *appsv1.Deployment, objs []*unstructured.Unstructured) (string, error) {
	if err := CheckPaths(c.opts.verifyPaths); err != nil {
		return "", err
	}
	svc, port := c.selectingService(dep, objs)
	start := time.Now()
	var via string
	for round := 0; ; round++ {
		v, err := c.smokeRound(ctx, dep, svc, port)
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
	msg := fmt.Sprintf("smoke test passed: GET %s answered 2xx through %s", strings.Join(c.opts.verifyPaths, ", "), via)
	if c.opts.verifyWindow > 0 {
		msg += fmt.Sprintf(" for %s", c.opts.verifyWindow)
	}
	return msg, nil
}

// smokeRound checks every path once, through the Service when there is
// one, else (or when the service proxy itself fails) on every new pod.
func (c *Client) smokeRound(ctx context.Context, dep *appsv1.Deployment, svc, port string) (string, error) {
	if svc != "" {
		proxyErr := error(nil)
		for _, p := range c.opts.verifyPaths {
			code, body, err := c.proxyGet(ctx, "services", svc, port, p)
			if err != nil {
				proxyErr = err
				break
			}
			if err := judge(p, code, body); err != nil {
				return "", fmt.Errorf("GET %s through Service %s: %w", p, svc, err)
			}
		}
		if proxyErr == nil {
			return "Service " + svc, nil
		}
		pods, err := c.podsVia(ctx, dep)
		if err != nil || len(pods) == 0 {
			return "", fmt.Errorf("Service %s: the API server's service proxy failed (%v), and the pods cannot be reached instead: %v", svc, proxyErr, err)
		}
		return c.smokePods(ctx, pods, fmt.Sprintf("(the service proxy to Service %s failed: %v)", svc, proxyErr))
	}
	pods, err := c.podsVia(ctx, dep)
	if err != nil {
		return "", err
	}
	if len(pods) == 0 {
		return "", fmt.Errorf("no Service selects Deployment %s's pods, and it has no ready pods to check", dep.Name)
	}
	return c.smokePods(ctx, pods, "(no Service selects them)")
}

// podTarget is one new pod and the port the smoke test reaches it on.
type podTarget struct{ name, port string }

func (c *Client) smokePods(ctx context.Context, pods []podTarget, why string) (string, error) {
	for _, pod := range pods {
		for _, p := range c.opts.verifyPaths {
			code, body, err := c.proxyGet(ctx, "pods", pod.name, pod.port, p)
			if err != nil {
				return "", fmt.Errorf("GET %s on pod %s: %w", p, pod.name, err)
			}
			if err := judge(p, code, body); err != nil {
				return "", fmt.Errorf("GET %s on pod %s: %w", p, pod.name, err)
			}
		}
	}
	return fmt.Sprintf("each of %d pods %s", len(pods), why), nil
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
// (by name) whose selector picks the Deployment's pods, and the port to
// reach it on.
func (c *Client) selectingService(dep *appsv1.Deployment, objs []*unstructured.Unstructured) (string, string) {
	podLabels := labels.Set(dep.Spec.Template.Labels)
	var names []string
	ports := map[string]string{}
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
		port := strconv.Itoa(int(svc.Spec.Ports[0].Port))
		if svc.Spec.Ports[0].Name != "" {
			port = svc.Spec.Ports[0].Name
		}
		names = append(names, svc.Name)
		ports[svc.Name] = port
	}
	if len(names) == 0 {
		return "", ""
	}
	sort.Strings(names)
	return names[0], ports[names[0]]
}

// podsVia lists the ready pods of the Deployment's current revision and
// the port each is reached on: the first container port of the pod.
func (c *Client) podsVia(ctx context.Context, dep *appsv1.Deployment) ([]podTarget, error) {
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
	var out []podTarget
	for _, p := range list.Items {
		if p.DeletionTimestamp != nil || notReady(&p) != "" {
			continue
		}
		port := ""
		for _, ct := range p.Spec.Containers {
			if len(ct.Ports) > 0 {
				port = strconv.Itoa(int(ct.Ports[0].ContainerPort))
				break
			}
		}
		if port == "" {
			return nil, fmt.Errorf("pod %s declares no container port to check", p.Name)
		}
		out = append(out, podTarget{name: p.Name, port: port})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}
