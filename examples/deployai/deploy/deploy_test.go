package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/slipway-ci/slipway/examples/deployai/internal/metrics"
	"github.com/slipway-ci/slipway/examples/deployai/internal/server"
)

var digestRef = "registry.mts.ru/telecom/mts-deploy-ai@sha256:" + strings.Repeat("0123456789abcdef", 4)

func newBundle(t *testing.T, opts ...Option) *Bundle {
	t.Helper()
	b, err := New("telecom", digestRef, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

func TestDeployment(t *testing.T) {
	d := newBundle(t).Deployment
	if d.Name != "mts-deploy-ai" || d.Namespace != "telecom" || d.APIVersion != "apps/v1" || d.Kind != "Deployment" {
		t.Fatalf("deployment is %s %s %s/%s", d.APIVersion, d.Kind, d.Namespace, d.Name)
	}
	if *d.Spec.Replicas != 3 {
		t.Errorf("replicas = %d, want the seed's 3", *d.Spec.Replicas)
	}
	if d.Labels["version"] != "v1.0.0" || d.Labels["app"] != "mts-deploy-ai" {
		t.Errorf("labels = %v, want the seed's app and version", d.Labels)
	}
	if !labels.SelectorFromSet(d.Spec.Selector.MatchLabels).Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("selector %v does not select the pod labels %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
	}
	if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("rolling update %+v may take pods away before new ones are ready", ru)
	}
	ann := d.Spec.Template.Annotations
	if diff := cmp.Diff(map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "9090", "prometheus.io/path": "/metrics"}, ann); diff != "" {
		t.Errorf("scrape annotations (-want +got):\n%s", diff)
	}

	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Image != digestRef || c.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("image %q pulled %s, want %q IfNotPresent", c.Image, c.ImagePullPolicy, digestRef)
	}
	for _, tt := range []struct {
		name string
		got  resource.Quantity
		want string
	}{
		{"cpu request", c.Resources.Requests[corev1.ResourceCPU], "500m"},
		{"memory request", c.Resources.Requests[corev1.ResourceMemory], "512Mi"},
		{"cpu limit", c.Resources.Limits[corev1.ResourceCPU], "2"},
		{"memory limit", c.Resources.Limits[corev1.ResourceMemory], "2Gi"},
	} {
		if tt.got.Cmp(resource.MustParse(tt.want)) != 0 {
			t.Errorf("%s = %s, want the seed's %s", tt.name, tt.got.String(), tt.want)
		}
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if diff := cmp.Diff(map[string]int32{"http": 8080, "metrics": 9090}, ports); diff != "" {
		t.Errorf("container ports (-want +got):\n%s", diff)
	}
	if ports["metrics"] != mustAtoi(t, ann["prometheus.io/port"]) {
		t.Errorf("scrape port %s is not the metrics port %d", ann["prometheus.io/port"], ports["metrics"])
	}

	for _, tt := range []struct {
		name          string
		probe         *corev1.Probe
		path          string
		initial, peri int32
	}{
		{"liveness", c.LivenessProbe, server.PathHealth, 30, 10},
		{"readiness", c.ReadinessProbe, server.PathReady, 5, 5},
	} {
		if tt.probe == nil || tt.probe.HTTPGet == nil {
			t.Errorf("%s probe missing or not HTTP: %+v", tt.name, tt.probe)
			continue
		}
		g := tt.probe.HTTPGet
		if g.Path != tt.path || ports[g.Port.StrVal] != 8080 {
			t.Errorf("%s probe GETs %s on %s, want %s on the 8080 port", tt.name, g.Path, g.Port.String(), tt.path)
		}
		if tt.probe.InitialDelaySeconds != tt.initial || tt.probe.PeriodSeconds != tt.peri {
			t.Errorf("%s probe delay/period = %d/%d, want the seed's %d/%d", tt.name, tt.probe.InitialDelaySeconds, tt.probe.PeriodSeconds, tt.initial, tt.peri)
		}
	}
	if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "LOG_LEVEL" && e.Value == "INFO" }) {
		t.Errorf("env %v lacks the seed's LOG_LEVEL=INFO", c.Env)
	}

	// Security: non-root, read-only, no capabilities, RuntimeDefault.
	psc, sc := pod.SecurityContext, c.SecurityContext
	if psc == nil || sc == nil {
		t.Fatalf("security contexts missing: pod %+v, container %+v", psc, sc)
	}
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"pod runAsNonRoot", psc.RunAsNonRoot != nil && *psc.RunAsNonRoot},
		{"pod runAsUser non-zero", psc.RunAsUser != nil && *psc.RunAsUser != 0},
		{"pod seccomp RuntimeDefault", psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault},
		{"container runAsNonRoot", sc.RunAsNonRoot != nil && *sc.RunAsNonRoot},
		{"container readOnlyRootFilesystem", sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem},
		{"container no privilege escalation", sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation},
		{"container not privileged", sc.Privileged != nil && !*sc.Privileged},
		{"container drops ALL capabilities", sc.Capabilities != nil && slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) && len(sc.Capabilities.Add) == 0},
		{"container seccomp RuntimeDefault", sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault},
		{"no service account token", pod.AutomountServiceAccountToken != nil && !*pod.AutomountServiceAccountToken},
	} {
		if !tt.ok {
			t.Errorf("%s: not set", tt.name)
		}
	}
	// The grace period must cover the service's drain and shutdown.
	if grace := *pod.TerminationGracePeriodSeconds; float64(grace) <= (server.DefaultDrainDelay + server.DefaultShutdownTimeout).Seconds() {
		t.Errorf("termination grace %ds does not cover the %v drain + %v shutdown", grace, server.DefaultDrainDelay, server.DefaultShutdownTimeout)
	}
	if diff := cmp.Diff([]corev1.LocalObjectReference{{Name: "mts-registry-secret"}}, pod.ImagePullSecrets); diff != "" {
		t.Errorf("image pull secrets (-want +got):\n%s", diff)
	}
}

func mustAtoi(t *testing.T, s string) int32 {
	t.Helper()
	var n int32
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return n
}

func TestService(t *testing.T) {
	b := newBundle(t)
	s := b.Service
	if s.Name != "mts-deploy-ai" || s.Namespace != "telecom" || s.Kind != "Service" || s.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Fatalf("service is %s %s/%s type %s", s.Kind, s.Namespace, s.Name, s.Spec.Type)
	}
	if !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(b.Deployment.Spec.Template.Labels)) {
		t.Errorf("service selector %v does not select the pods %v", s.Spec.Selector, b.Deployment.Spec.Template.Labels)
	}
	named := map[string]bool{}
	for _, p := range b.Deployment.Spec.Template.Spec.Containers[0].Ports {
		named[p.Name] = true
	}
	got := map[string]int32{}
	for _, p := range s.Spec.Ports {
		if !named[p.TargetPort.StrVal] {
			t.Errorf("service port %s targets %s, which the container does not name", p.Name, p.TargetPort.String())
		}
		got[p.Name] = p.Port
	}
	if diff := cmp.Diff(map[string]int32{"http": 80, "metrics": 9090}, got); diff != "" {
		t.Errorf("service ports (-want +got):\n%s", diff)
	}
}

func TestHPA(t *testing.T) {
	tests := []struct {
		name    string
		opts    []Option
		metrics map[corev1.ResourceName]int32
	}{
		{"the seed's: CPU only", nil, map[corev1.ResourceName]int32{corev1.ResourceCPU: 70}},
		{"with a memory target", []Option{WithMemoryUtilization(80)}, map[corev1.ResourceName]int32{corev1.ResourceCPU: 70, corev1.ResourceMemory: 80}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newBundle(t, tt.opts...).HPA
			if h.APIVersion != "autoscaling/v2" || h.Name != "mts-deploy-ai-hpa" || h.Namespace != "telecom" {
				t.Fatalf("hpa is %s %s/%s", h.APIVersion, h.Namespace, h.Name)
			}
			ref := h.Spec.ScaleTargetRef
			if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != "mts-deploy-ai" {
				t.Errorf("scale target = %+v", ref)
			}
			if *h.Spec.MinReplicas != 3 || h.Spec.MaxReplicas != 10 {
				t.Errorf("min/max = %d/%d, want the seed's 3/10", *h.Spec.MinReplicas, h.Spec.MaxReplicas)
			}
			got := map[corev1.ResourceName]int32{}
			for _, m := range h.Spec.Metrics {
				if m.Type != autoscalingv2.ResourceMetricSourceType || m.Resource.Target.Type != autoscalingv2.UtilizationMetricType {
					t.Errorf("metric %+v is not a resource utilization", m)
					continue
				}
				got[m.Resource.Name] = *m.Resource.Target.AverageUtilization
			}
			if diff := cmp.Diff(tt.metrics, got); diff != "" {
				t.Errorf("targets (-want +got):\n%s", diff)
			}
			want := &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp: &autoscalingv2.HPAScalingRules{
					StabilizationWindowSeconds: ptr(int32(0)),
					Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: "Percent", Value: 100, PeriodSeconds: 15}},
				},
				ScaleDown: &autoscalingv2.HPAScalingRules{
					StabilizationWindowSeconds: ptr(int32(300)),
					Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: "Pods", Value: 1, PeriodSeconds: 60}},
				},
			}
			if diff := cmp.Diff(want, h.Spec.Behavior); diff != "" {
				t.Errorf("behaviour differs from the seed's (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	b := newBundle(t, WithReplicas(5), WithVersion("v2.3.4"), WithImagePullSecret(""), WithRuleLabels(map[string]string{"release": "kube-prometheus-stack"}), WithCPURequest(LocalCPURequest))
	if *b.Deployment.Spec.Replicas != 5 {
		t.Errorf("replicas = %d, want 5", *b.Deployment.Spec.Replicas)
	}
	res := b.Deployment.Spec.Template.Spec.Containers[0].Resources
	if cpu := res.Requests[corev1.ResourceCPU]; cpu.String() != "100m" || res.Limits.Cpu().String() != "2" {
		t.Errorf("cpu request %s limit %s, want 100m and the seed's 2", cpu.String(), res.Limits.Cpu())
	}
	if b.Deployment.Labels["version"] != "v2.3.4" || b.Deployment.Spec.Template.Labels["version"] != "v2.3.4" {
		t.Errorf("version labels = %v / %v", b.Deployment.Labels, b.Deployment.Spec.Template.Labels)
	}
	if ps := b.Deployment.Spec.Template.Spec.ImagePullSecrets; len(ps) != 0 {
		t.Errorf("image pull secrets = %v, want none", ps)
	}
	if l := b.PrometheusRule.GetLabels(); l["release"] != "kube-prometheus-stack" || l["app"] != "mts-deploy-ai" {
		t.Errorf("rule labels = %v", l)
	}
	// Each New is a fresh copy: changing one bundle leaves the next alone.
	b.Deployment.Spec.Template.Spec.Containers[0].Image = "mutated"
	if got := newBundle(t).Deployment.Spec.Template.Spec.Containers[0].Image; got != digestRef {
		t.Errorf("a later bundle sees a change to an earlier one: image %q", got)
	}
}

func TestNewRejects(t *testing.T) {
	sha := "sha256:" + strings.Repeat("a", 64)
	tests := []struct {
		name, ns, image string
		opts            []Option
		want            string
	}{
		{"tag", "telecom", "registry.mts.ru/telecom/mts-deploy-ai:latest", nil, `must be pinned by digest (repo@sha256:<64 hex>), not a tag`},
		{"no tag at all", "telecom", "registry.mts.ru/telecom/mts-deploy-ai", nil, "must be pinned by digest"},
		{"short digest", "telecom", "r.example/app@sha256:abc", nil, "not a valid digest reference"},
		{"wrong algorithm", "telecom", "r.example/app@md5:" + strings.Repeat("a", 32), nil, "not a valid digest reference"},
		{"empty image", "telecom", "", nil, `image ""`},
		{"bad namespace", "Telecom_Prod", "r.example/app@" + sha, nil, `namespace "Telecom_Prod"`},
		{"empty namespace", "", "r.example/app@" + sha, nil, `namespace ""`},
		{"zero replicas", "telecom", "r.example/app@" + sha, []Option{WithReplicas(0)}, "replicas 0: want 1 to 10"},
		{"replicas over the HPA max", "telecom", "r.example/app@" + sha, []Option{WithReplicas(11)}, "replicas 11"},
		{"cpu request not a quantity", "telecom", "r.example/app@" + sha, []Option{WithCPURequest("lots")}, `cpu request "lots": want a positive quantity`},
		{"cpu request zero", "telecom", "r.example/app@" + sha, []Option{WithCPURequest("0")}, `cpu request "0"`},
		{"memory target", "telecom", "r.example/app@" + sha, []Option{WithMemoryUtilization(150)}, "memory utilization 150%"},
		{"version", "telecom", "r.example/app@" + sha, []Option{WithVersion("v1 final")}, `version "v1 final"`},
		{"pull secret", "telecom", "r.example/app@" + sha, []Option{WithImagePullSecret("Bad Secret")}, `image pull secret "Bad Secret"`},
		{"rule label", "telecom", "r.example/app@" + sha, []Option{WithRuleLabels(map[string]string{"release": "a b"})}, "rule label release=a b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := New(tt.ns, tt.image, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, %v; want an error containing %q", b, err, tt.want)
			}
		})
	}
	// A tag beside the digest is fine: the digest pins it.
	if _, err := New("telecom", "r.example/app:1.0@"+sha); err != nil {
		t.Errorf("tag@digest refused: %v", err)
	}
}

// TestYAML renders the bundle and reads every document back into its type,
// strictly, so a field the API server would drop fails here.
func TestYAML(t *testing.T) {
	b := newBundle(t)
	out, err := b.YAML()
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(out), "---\n")
	targets := []any{&corev1.ConfigMap{}, &corev1.Service{}, &appsv1.Deployment{}, &autoscalingv2.HorizontalPodAutoscaler{}, &map[string]any{}}
	kinds := []string{"ConfigMap", "Service", "Deployment", "HorizontalPodAutoscaler", "PrometheusRule"}
	if len(docs) != len(kinds) {
		t.Fatalf("%d documents, want %d", len(docs), len(kinds))
	}
	for i, doc := range docs {
		if err := yaml.UnmarshalStrict([]byte(doc), targets[i]); err != nil {
			t.Errorf("document %d does not decode as a %s: %v", i, kinds[i], err)
		}
		var head struct{ APIVersion, Kind string }
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil || head.Kind != kinds[i] || head.APIVersion == "" {
			t.Errorf("document %d is %q %q, want a %s", i, head.APIVersion, head.Kind, kinds[i])
		}
		if strings.Contains(doc, "\nstatus:") {
			t.Errorf("document %d carries a status", i)
		}
	}
	if d := targets[2].(*appsv1.Deployment); d.Spec.Template.Spec.Containers[0].Image != digestRef {
		t.Errorf("rendered image = %q", d.Spec.Template.Spec.Containers[0].Image)
	}
	if again, _ := newBundle(t).YAML(); !bytes.Equal(out, again) {
		t.Error("two renders of the same bundle differ")
	}
}

// alert is the part of a Prometheus alerting rule the tests look at.
type alert struct {
	Alert       string
	Expr        string
	For         string
	Labels      map[string]string
	Annotations map[string]string
}

func TestPrometheusRule(t *testing.T) {
	r := newBundle(t).PrometheusRule
	if r.GetAPIVersion() != "monitoring.coreos.com/v1" || r.GetKind() != "PrometheusRule" || r.GetName() != "mts-deploy-ai-alerts" || r.GetNamespace() != "telecom" {
		t.Fatalf("rule is %s %s %s/%s", r.GetAPIVersion(), r.GetKind(), r.GetNamespace(), r.GetName())
	}
	// A client deep-copies what it applies: every value must be JSON-typed.
	if cp := r.DeepCopy(); !cmp.Equal(cp.Object, r.Object) {
		t.Error("DeepCopy of the PrometheusRule differs from it")
	}
	raw, err := json.Marshal(r.Object["spec"])
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Groups []struct {
			Name, Interval string
			Rules          []alert
		}
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	var fromFile struct{ Groups json.RawMessage }
	if err := yaml.Unmarshal(AlertRules(), &fromFile); err != nil {
		t.Fatal(err)
	}
	var specGroups struct{ Groups json.RawMessage }
	_ = json.Unmarshal(raw, &specGroups)
	if !jsonEqual(t, fromFile.Groups, specGroups.Groups) {
		t.Error("the PrometheusRule's groups are not the rule file's")
	}
	if len(spec.Groups) != 1 || spec.Groups[0].Name != "mts-deploy-ai" || spec.Groups[0].Interval != "30s" {
		t.Fatalf("groups = %+v, want the seed's one group mts-deploy-ai every 30s", spec.Groups)
	}
	got := map[string]alert{}
	for _, a := range spec.Groups[0].Rules {
		got[a.Alert] = a
	}
	for _, tt := range []struct{ name, severity, exprHas string }{
		{"HighCPUUsage", "warning", `rate(container_cpu_usage_seconds_total{pod=~"mts-deploy-ai-.*"}[5m]) > 0.8`},
		{"HighMemoryUsage", "warning", `container_spec_memory_limit_bytes{pod=~"mts-deploy-ai-.*"} > 0.9`},
		{"PodNotReady", "critical", `kube_pod_status_ready{pod=~"mts-deploy-ai-.*", condition="false"} == 1`},
	} {
		a, ok := got[tt.name]
		if !ok {
			t.Errorf("no alert %s", tt.name)
			continue
		}
		if a.For != "5m" || a.Labels["severity"] != tt.severity || a.Annotations["summary"] == "" {
			t.Errorf("%s: for %q severity %q summary %q; want 5m, %s, a summary", tt.name, a.For, a.Labels["severity"], a.Annotations["summary"], tt.severity)
		}
		if !strings.Contains(a.Expr, tt.exprHas) {
			t.Errorf("%s: expr %q lacks the seed's %q", tt.name, a.Expr, tt.exprHas)
		}
	}
	if len(got) != 3 {
		t.Errorf("%d alerts, want the seed's 3", len(got))
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return cmp.Equal(x, y)
}

// dashboardModel is the part of a Grafana dashboard the tests check.
type dashboardModel struct {
	UID, Title string
	Panels     []struct {
		ID      int
		Type    string
		Title   string
		GridPos struct{ H, W, X, Y int }
		Targets []struct{ RefID, Expr string }
	}
}

func parseDashboard(t *testing.T) dashboardModel {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(Dashboard()))
	var d dashboardModel
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("grafana-dashboard.json does not parse: %v", err)
	}
	return d
}

func TestDashboard(t *testing.T) {
	d := parseDashboard(t)
	if d.UID == "" || d.Title != "MTS Deploy AI" {
		t.Errorf("uid %q title %q", d.UID, d.Title)
	}
	// The seed's seven panels, in its order, and the metrics each reads.
	want := []struct {
		title   string
		metrics []string
	}{
		{"Availability", []string{"up", metrics.RequestsTotal}},
		{"Request Rate", []string{metrics.RequestsTotal}},
		{"Response Time", []string{metrics.RequestDurationSeconds + "_bucket"}},
		{"Error Rate", []string{metrics.ErrorsTotal}},
		{"Resource Usage", []string{"container_cpu_usage_seconds_total", "container_memory_working_set_bytes", "container_fs_usage_bytes"}},
		{"LLM API Calls", []string{metrics.LLMAPICallsTotal}},
		{"Manifests Generated", []string{metrics.ManifestsGeneratedTotal}},
	}
	if len(d.Panels) != len(want) {
		t.Fatalf("%d panels, want the seed's %d", len(d.Panels), len(want))
	}
	ids := map[int]bool{}
	var cells [][4]int
	for i, p := range d.Panels {
		if p.Title != want[i].title {
			t.Errorf("panel %d is %q, want %q", i, p.Title, want[i].title)
		}
		if ids[p.ID] || p.ID == 0 {
			t.Errorf("panel %q: id %d is zero or repeated", p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.Type != "stat" && p.Type != "timeseries" {
			t.Errorf("panel %q: type %q", p.Title, p.Type)
		}
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, g)
		}
		for _, c := range cells {
			if g.X < c[0]+c[2] && c[0] < g.X+g.W && g.Y < c[1]+c[3] && c[1] < g.Y+g.H {
				t.Errorf("panel %q overlaps another at %+v", p.Title, g)
			}
		}
		cells = append(cells, [4]int{g.X, g.Y, g.W, g.H})
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no queries", p.Title)
		}
		var exprs []string
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.Expr == "" || tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("panel %q: query %+v lacks an expr or a unique refId", p.Title, tg)
			}
			refs[tg.RefID] = true
			exprs = append(exprs, tg.Expr)
		}
		all := strings.Join(exprs, "\n")
		for _, m := range want[i].metrics {
			if !strings.Contains(all, m+"{") && !strings.Contains(all, m+"[") {
				t.Errorf("panel %q does not query %s: %s", p.Title, m, all)
			}
		}
	}
	rt := d.Panels[2]
	for i, q := range []string{"0.50", "0.95", "0.99"} {
		if i >= len(rt.Targets) || !strings.Contains(rt.Targets[i].Expr, "histogram_quantile("+q) {
			t.Errorf("Response Time query %d is not the P%s quantile", i, strings.TrimPrefix(q, "0."))
		}
	}
	if cm := newBundle(t).Dashboard; cm.Labels["grafana_dashboard"] != "1" || cm.Data["mts-deploy-ai.json"] != string(Dashboard()) {
		t.Errorf("dashboard ConfigMap %s: labels %v, data does not hold the dashboard", cm.Name, cm.Labels)
	}
}

func TestAlertmanagerConfigRoutes(t *testing.T) {
	var c struct {
		Route struct {
			Receiver string
			GroupBy  []string `json:"group_by"`
			Routes   []struct {
				Matchers []string
				Receiver string
			}
		}
		Receivers []struct {
			Name            string
			TelegramConfigs []map[string]any `json:"telegram_configs"`
			SlackConfigs    []map[string]any `json:"slack_configs"`
		}
	}
	if err := yaml.Unmarshal(AlertmanagerConfig(), &c); err != nil {
		t.Fatalf("alertmanager.yml does not parse: %v", err)
	}
	routes := map[string]string{}
	for _, r := range c.Route.Routes {
		for _, m := range r.Matchers {
			routes[m] = r.Receiver
		}
	}
	if diff := cmp.Diff(map[string]string{`severity="warning"`: "slack-warnings", `severity="critical"`: "telegram-critical"}, routes); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
	if c.Route.Receiver != "telegram-critical" || !slices.Equal(c.Route.GroupBy, []string{"alertname", "cluster"}) {
		t.Errorf("root route = %+v, want the seed's", c.Route)
	}
	kinds := map[string]string{}
	for _, r := range c.Receivers {
		switch {
		case len(r.TelegramConfigs) > 0:
			kinds[r.Name] = "telegram"
		case len(r.SlackConfigs) > 0:
			kinds[r.Name] = "slack"
		}
	}
	if diff := cmp.Diff(map[string]string{"telegram-critical": "telegram", "slack-warnings": "slack"}, kinds); diff != "" {
		t.Errorf("receivers (-want +got):\n%s", diff)
	}
}
