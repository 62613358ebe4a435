package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
)

// TestJudge: what the smoke test accepts from one endpoint, with the exact
// message for what it refuses.
func TestJudge(t *testing.T) {
	for _, tc := range []struct {
		path, body string
		code       int
		want       string
	}{
		{"/health", "ok\n", 200, ""},
		{"/ready", "", 204, ""},
		{"/ready", "not ready\n", 503, `503 Service Unavailable: "not ready"`},
		{"/health", "moved", 301, `301 Moved Permanently: "moved"`},
		{"/metrics", "# TYPE x counter\nx 1\n", 200, ""},
		{"/metrics", "<html>hello</html>", 200, `200, but not Prometheus text: text format parsing error in line 1: invalid metric name`},
		{"/metrics", "", 200, "200, but no metrics at all"},
		{"/metrics", "boom", 500, `500 Internal Server Error: "boom"`},
	} {
		err := judge(tc.path, tc.code, []byte(tc.body))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("judge(%s, %d, %q) = %q, want %q", tc.path, tc.code, tc.body, got, tc.want)
		}
	}
}

func TestCheckPaths(t *testing.T) {
	if err := CheckPaths(append(DefaultVerifyPaths, "metrics:/metrics", "9090:/metrics", "/a:/b")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"health", "/a b", "/x?y=1", "", "metrics:", "a/b:/c"} {
		if err := CheckPaths([]string{p}); err == nil || err.Error() != `verify path "`+p+`" is not an absolute URL path, optionally after a port: /health, metrics:/metrics` {
			t.Errorf("CheckPaths(%q) = %v", p, err)
		}
	}
}

// TestPorts: which port each path is fetched on, for a service laid out
// as the reference is (the API on "http", /metrics on "metrics" 9090, with
// the prometheus.io annotations).
func TestPorts(t *testing.T) {
	dep := &appsv1.Deployment{}
	dep.Spec.Template.Annotations = map[string]string{"prometheus.io/port": "9090", "prometheus.io/path": "/metrics"}
	ports := []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "metrics", ContainerPort: 9090}}
	dep.Spec.Template.Spec.Containers = []corev1.Container{{Name: "app", Ports: ports}}
	svc := &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{
		{Name: "http", Port: 80, TargetPort: intstr.FromString("http")},
		{Name: "metrics", Port: 9090, TargetPort: intstr.FromString("metrics")},
	}}}
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Ports: ports}}}}
	checks, err := parseChecks([]string{"/health", "/metrics", "http:/metrics", "9091:/x", "metrics:/y"})
	if err != nil {
		t.Fatal(err)
	}
	var gotSvc, gotPod []string
	for _, k := range checks {
		gotSvc = append(gotSvc, servicePort(svc, dep, k))
		p, err := podPort(pod, dep, k)
		if err != nil {
			p = err.Error()
		}
		gotPod = append(gotPod, p)
	}
	if want := "[http metrics http 9091 metrics]"; fmt.Sprint(gotSvc) != want {
		t.Errorf("service ports %v, want %s", gotSvc, want)
	}
	if want := "[8080 9090 8080 9091 9090]"; fmt.Sprint(gotPod) != want {
		t.Errorf("pod ports %v, want %s", gotPod, want)
	}
	delete(dep.Spec.Template.Annotations, "prometheus.io/port")
	if got := servicePort(svc, dep, checks[1]); got != "http" {
		t.Errorf("without the annotation, /metrics on %s, want the first port", got)
	}
	if _, err := podPort(pod, dep, check{port: "nope", path: "/"}); err == nil || err.Error() != `the pod has no container port named "nope"` {
		t.Errorf("unknown port name: %v", err)
	}
}

func TestProbePaths(t *testing.T) {
	httpProbe := func(path string, port intstr.IntOrString) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: port}}}
	}
	dep := func(ann map[string]string, cts ...corev1.Container) *appsv1.Deployment {
		d := &appsv1.Deployment{}
		d.Spec.Template.Annotations = ann
		d.Spec.Template.Spec.Containers = cts
		return d
	}
	for _, tc := range []struct {
		name string
		dep  *appsv1.Deployment
		want []string
	}{
		{"pushgateway's probes", dep(nil, corev1.Container{Ports: []corev1.ContainerPort{{ContainerPort: 9091}},
			ReadinessProbe: httpProbe("/-/ready", intstr.FromInt32(9091)), LivenessProbe: httpProbe("/-/healthy", intstr.FromInt32(9091))}),
			[]string{"/-/ready", "/-/healthy"}},
		{"a probe on another port, a named port, metrics annotation", dep(map[string]string{"prometheus.io/scrape": "true", "prometheus.io/path": "/stats"},
			corev1.Container{Ports: []corev1.ContainerPort{{ContainerPort: 8080}, {Name: "admin", ContainerPort: 9000}},
				ReadinessProbe: httpProbe("/ready", intstr.FromString("admin")), LivenessProbe: httpProbe("/health", intstr.FromInt32(8081)),
				StartupProbe: httpProbe("/ready", intstr.FromString("admin"))}),
			[]string{"admin:/ready", "8081:/health", "/stats"}},
		{"probes on the first port by its name", dep(nil, corev1.Container{Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
			ReadinessProbe: httpProbe("/ready", intstr.FromString("http")), LivenessProbe: httpProbe("/health", intstr.FromString("http"))}),
			[]string{"/ready", "/health"}},
		{"exec probes only, no annotation", dep(nil, corev1.Container{ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}}), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ProbePaths(tc.dep); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("ProbePaths = %q, want %q", got, tc.want)
			}
			if err := CheckPaths(ProbePaths(tc.dep)); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestVerifyAfterAnotherRollout: Verify, which the Helm and GitOps
// sources call after their own rollout, runs what the client is
// configured with on the named Deployment, and says what is missing.
func TestVerifyAfterAnotherRollout(t *testing.T) {
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}}}}
	newC := func(opts ...Option) *Client {
		t.Helper()
		c, err := New(context.Background(), Environment{Name: "staging", Namespace: "shop"},
			append([]Option{WithClients(fake.NewClientset(dep), dynamicfake.NewSimpleDynamicClient(runtime.NewScheme()))}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if newC().Verifying() {
		t.Error("a client without checks says it verifies")
	}
	c := newC(WithVerifyPaths())
	if !c.Verifying() {
		t.Error("a client with WithVerifyPaths says it does not verify")
	}
	if err := c.Verify(context.Background(), &Result{}, nil); err == nil || err.Error() != "verify: no Deployment named: say which Deployment the deploy rolled out (Release.Deployment)" {
		t.Errorf("no Deployment: %v", err)
	}
	if err := c.Verify(context.Background(), &Result{Deployment: "api"}, nil); err == nil || !strings.HasPrefix(err.Error(), "verify: reading Deployment shop/api: ") {
		t.Errorf("a missing Deployment: %v", err)
	}
	// Nothing to probe: verified by the rollout only, and said so.
	res := &Result{Deployment: "web"}
	if err := c.Verify(context.Background(), res, nil); err != nil {
		t.Fatal(err)
	}
	if res.Verified || !strings.HasPrefix(res.Verification, "no smoke test: the Deployment declares no HTTP probe") {
		t.Errorf("nothing to probe: verified %v, %q", res.Verified, res.Verification)
	}
	// A failing hook is a verification failure, for the caller to undo.
	hooked := newC().WithVerify(func(ctx context.Context, env Environment, r *Result) error { return errors.New("checkout flow 502") })
	if !hooked.Verifying() {
		t.Error("a client with a WithVerify hook says it does not verify")
	}
	err := hooked.Verify(context.Background(), &Result{Deployment: "web"}, nil)
	if !errors.Is(err, ErrVerification) || err.Error() != "verification failed: checkout flow 502" {
		t.Errorf("a failing hook: %v, want ErrVerification", err)
	}
}
