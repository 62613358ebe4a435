// Package deploy holds the deploy bundle of the example service
// (examples/deployai), as the seed describes it in sections 3 and 4: the
// Deployment, the Service and the HorizontalPodAutoscaler as typed
// k8s.io/api objects, the PrometheusRule with the seed's three alerts, the
// Grafana dashboard with its seven panels, and the Alertmanager routing.
//
// The rules, the dashboard and the Alertmanager config are files beside
// this one, embedded, so that promtool, amtool and Grafana read the very
// bytes the bundle ships. The PrometheusRule is an unstructured
// monitoring.coreos.com/v1 object built from the rules file, which spares
// every importer the prometheus-operator module.
//
// Where the bundle departs from the seed, it is on purpose:
//   - the image must be pinned by digest (the pipeline's publish stage
//     returns repo@sha256:…, and a tag such as the seed's :latest can change
//     under a running Deployment), so the pull policy is IfNotPresent;
//   - the pod runs non-root with a read-only root filesystem, no
//     capabilities and the RuntimeDefault seccomp profile;
//   - ANTHROPIC_API_KEY and MCP_SERVER_NAME are not set: the Go example's
//     generator is deterministic and reads neither.
package deploy

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// The seed's names and ports.
const (
	// Name names the Deployment, the Service and the container, and is the
	// prefix of the HPA's, the rule's and the dashboard ConfigMap's names.
	Name = "mts-deploy-ai"
	// HTTPPort serves the API and the probes; MetricsPort serves /metrics.
	HTTPPort    = 8080
	MetricsPort = 9090
	// DefaultReplicas is the seed's replica count and the HPA's minimum.
	DefaultReplicas = 3
	// MaxReplicas is the seed's HPA maximum.
	MaxReplicas = 10
	// CPUUtilization is the seed's HPA CPU target, in percent of requests.
	CPUUtilization = 70
	// DefaultVersion is the seed's version label.
	DefaultVersion = "v1.0.0"
	// DefaultImagePullSecret is the seed's registry secret.
	DefaultImagePullSecret = "mts-registry-secret" // #nosec G101 -- the name of a Secret, not a credential
	// RunAsUser is the pod's UID and GID: distroless' "nonroot".
	RunAsUser = 65532
	// DefaultCPURequest is the seed's CPU request per pod.
	DefaultCPURequest = "500m"
	// LocalCPURequest is the CPU request of the reference's local
	// environments (k8s/local under k8s/staging and k8s/production, the
	// chart's values-staging.yaml and values-production.yaml, the GitOps
	// overlays). slipway's local cluster runs both environments on its one
	// real node, which has 2 CPUs: at the seed's 500m, 3 replicas per
	// environment and a rollout's surge pod ask for 3.5 CPUs, and the
	// scheduler leaves pods Pending. At 100m both environments mid-rollout
	// ask for 0.7 CPU. The limit stays the seed's 2 CPUs; the HPA's 70%
	// target is of the request, so it scales out sooner. A team's real
	// cluster drops the override and keeps the seed's 500m.
	LocalCPURequest = "100m"
)

var (
	//go:embed alerts.rules.yaml
	alertRules []byte
	//go:embed grafana-dashboard.json
	dashboard []byte
	//go:embed alertmanager.yml
	alertmanagerConfig []byte
)

// AlertRules returns the Prometheus rule file (the seed's three alerts) that
// the PrometheusRule carries.
func AlertRules() []byte { return clone(alertRules) }

// Dashboard returns the Grafana dashboard JSON (the seed's seven panels).
func Dashboard() []byte { return clone(dashboard) }

// AlertmanagerConfig returns the Alertmanager configuration: critical
// alerts to Telegram, warnings to Slack, with placeholder secrets.
func AlertmanagerConfig() []byte { return clone(alertmanagerConfig) }

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// Object is what every bundle object is: typed or unstructured, it has
// metadata and a kind, which is what a client needs to apply it.
type Object interface {
	metav1.Object
	runtime.Object
}

// Bundle is the service's deploy bundle for one namespace and one image.
// New builds a fresh one each call; changing it changes only that copy.
type Bundle struct {
	Deployment *appsv1.Deployment
	Service    *corev1.Service
	HPA        *autoscalingv2.HorizontalPodAutoscaler
	// PrometheusRule is a monitoring.coreos.com/v1 PrometheusRule.
	PrometheusRule *unstructured.Unstructured
	// Dashboard is a ConfigMap labelled grafana_dashboard=1, the label
	// Grafana's dashboard sidecar (kube-prometheus-stack) picks up.
	Dashboard *corev1.ConfigMap
}

// Objects returns the bundle's objects in apply order: what the Deployment
// refers to before it, what refers to the Deployment after it.
func (b *Bundle) Objects() []Object {
	return []Object{b.Dashboard, b.Service, b.Deployment, b.HPA, b.PrometheusRule}
}

// YAML renders the objects as one multi-document manifest, for kubectl
// apply -f or a GitOps repository.
func (b *Bundle) YAML() ([]byte, error) {
	var out []byte
	for i, o := range b.Objects() {
		doc, err := encode(o)
		if err != nil {
			return nil, fmt.Errorf("deploy: encoding %s %s: %w", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
		}
		if i > 0 {
			out = append(out, "---\n"...)
		}
		out = append(out, doc...)
	}
	return out, nil
}

// encode renders an object without the empty "status" the typed objects
// would print: a manifest never sets it.
func encode(o any) ([]byte, error) {
	j, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		return nil, err
	}
	delete(m, "status")
	return yaml.Marshal(m)
}

type config struct {
	replicas    int32
	cpuRequest  resource.Quantity
	version     string
	pullSecret  string
	memoryUtil  int32
	ruleLabels  map[string]string
	dashLabels  map[string]string
	optionError error
}

// Option configures New.
type Option func(*config)

// WithReplicas sets the Deployment's replicas (default 3, the seed's). The
// HPA's minimum stays the seed's 3: it takes over once it runs.
func WithReplicas(n int32) Option {
	return func(c *config) {
		if n < 1 || n > MaxReplicas {
			c.optionError = errors.Join(c.optionError, fmt.Errorf("replicas %d: want 1 to %d", n, MaxReplicas))
		}
		c.replicas = n
	}
}

// WithCPURequest sets the CPU request per pod (default the seed's 500m),
// as a Kubernetes quantity: an environment whose nodes are smaller, such
// as LocalCPURequest on slipway's local cluster.
func WithCPURequest(q string) Option {
	return func(c *config) {
		v, err := resource.ParseQuantity(q)
		if err != nil || v.Sign() <= 0 {
			c.optionError = errors.Join(c.optionError, fmt.Errorf("cpu request %q: want a positive quantity such as 250m", q))
			return
		}
		c.cpuRequest = v
	}
}

// WithVersion sets the version label (default "v1.0.0", the seed's).
func WithVersion(v string) Option { return func(c *config) { c.version = v } }

// WithImagePullSecret names the registry secret (default the seed's
// "mts-registry-secret"); "" for none, as for a public or node-trusted
// registry.
func WithImagePullSecret(s string) Option { return func(c *config) { c.pullSecret = s } }

// WithMemoryUtilization adds a memory target, in percent of requests, to
// the HPA. The seed's HPA scales on CPU only, so by default there is none.
func WithMemoryUtilization(pct int32) Option {
	return func(c *config) {
		if pct < 1 || pct > 100 {
			c.optionError = errors.Join(c.optionError, fmt.Errorf("memory utilization %d%%: want 1 to 100", pct))
		}
		c.memoryUtil = pct
	}
}

// WithRuleLabels adds labels to the PrometheusRule, for the Prometheus
// operator's ruleSelector (kube-prometheus-stack selects release=<name>).
func WithRuleLabels(l map[string]string) Option {
	return func(c *config) { maps.Copy(c.ruleLabels, l) }
}

// New returns the bundle for namespace, running image. The image must be a
// digest reference, repo@sha256:<64 hex>; a tag alone is refused.
func New(namespace, image string, opts ...Option) (*Bundle, error) {
	c := config{
		replicas:   DefaultReplicas,
		cpuRequest: resource.MustParse(DefaultCPURequest),
		version:    DefaultVersion,
		pullSecret: DefaultImagePullSecret,
		ruleLabels: map[string]string{},
	}
	for _, o := range opts {
		o(&c)
	}
	var errs []error
	if c.optionError != nil {
		errs = append(errs, c.optionError)
	}
	if msgs := validation.IsDNS1123Label(namespace); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("namespace %q: %s", namespace, strings.Join(msgs, "; ")))
	}
	if err := CheckImage(image); err != nil {
		errs = append(errs, err)
	}
	if msgs := validation.IsValidLabelValue(c.version); len(msgs) > 0 || c.version == "" {
		errs = append(errs, fmt.Errorf("version %q: not a valid label value", c.version))
	}
	if c.pullSecret != "" {
		if msgs := validation.IsDNS1123Subdomain(c.pullSecret); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("image pull secret %q: %s", c.pullSecret, strings.Join(msgs, "; ")))
		}
	}
	for k, v := range c.ruleLabels {
		if msgs := append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("rule label %s=%s: %s", k, v, strings.Join(msgs, "; ")))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("deploy: %w", errors.Join(errs...))
	}
	rule, err := prometheusRule(namespace, c.ruleLabels)
	if err != nil {
		return nil, err
	}
	return &Bundle{
		Deployment:     deployment(namespace, image, c),
		Service:        service(namespace),
		HPA:            hpa(namespace, c),
		PrometheusRule: rule,
		Dashboard:      dashboardConfigMap(namespace),
	}, nil
}

// CheckImage reports whether ref is pinned by digest, the only kind of
// reference the bundle deploys: the same digest that was scanned.
func CheckImage(ref string) error {
	if !strings.Contains(ref, "@") {
		return fmt.Errorf("image %q: must be pinned by digest (repo@sha256:<64 hex>), not a tag: deploy the digest the publish stage returned", ref)
	}
	if _, err := name.NewDigest(ref, name.StrictValidation); err != nil {
		return fmt.Errorf("image %q: not a valid digest reference (repo@sha256:<64 hex>): %w", ref, err)
	}
	return nil
}

func selectorLabels() map[string]string { return map[string]string{"app": Name} }

func podLabels(version string) map[string]string {
	return map[string]string{
		"app":                          Name,
		"version":                      version,
		"app.kubernetes.io/name":       Name,
		"app.kubernetes.io/version":    version,
		"app.kubernetes.io/managed-by": "slipway",
	}
}

func deployment(namespace, image string, c config) *appsv1.Deployment {
	lbl := podLabels(c.version)
	var pullSecrets []corev1.LocalObjectReference
	if c.pullSecret != "" {
		pullSecrets = []corev1.LocalObjectReference{{Name: c.pullSecret}}
	}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: namespace, Labels: lbl},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(c.replicas),
			// The selector is immutable once applied: only the stable label.
			Selector: &metav1.LabelSelector{MatchLabels: selectorLabels()},
			// Zero downtime: a new pod must be ready before an old one goes.
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr(intstr.FromInt32(0)),
					MaxSurge:       ptr(intstr.FromInt32(1)),
				},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels: lbl,
					Annotations: map[string]string{
						"prometheus.io/scrape": "true",
						"prometheus.io/port":   fmt.Sprint(MetricsPort),
						"prometheus.io/path":   "/metrics",
					},
				},
				Spec: corev1.PodSpec{
					// The service drains for 5 s and waits up to 20 s for
					// requests in flight: both fit in 30 s.
					TerminationGracePeriodSeconds: ptr(int64(30)),
					AutomountServiceAccountToken:  ptr(false),
					ImagePullSecrets:              pullSecrets,
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr(true),
						RunAsUser:      ptr(int64(RunAsUser)),
						RunAsGroup:     ptr(int64(RunAsUser)),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:            Name,
						Image:           image,
						ImagePullPolicy: corev1.PullIfNotPresent,
						Ports: []corev1.ContainerPort{
							{Name: "http", ContainerPort: HTTPPort, Protocol: corev1.ProtocolTCP},
							{Name: "metrics", ContainerPort: MetricsPort, Protocol: corev1.ProtocolTCP},
						},
						Env: []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "INFO"}},
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{
								corev1.ResourceCPU:    c.cpuRequest,
								corev1.ResourceMemory: resource.MustParse("512Mi"),
							},
							Limits: corev1.ResourceList{
								corev1.ResourceCPU:    resource.MustParse("2"),
								corev1.ResourceMemory: resource.MustParse("2Gi"),
							},
						},
						LivenessProbe: &corev1.Probe{
							ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/health", Port: intstr.FromString("http")}},
							InitialDelaySeconds: 30,
							PeriodSeconds:       10,
						},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromString("http")}},
							InitialDelaySeconds: 5,
							PeriodSeconds:       5,
						},
						SecurityContext: &corev1.SecurityContext{
							RunAsNonRoot:             ptr(true),
							ReadOnlyRootFilesystem:   ptr(true),
							AllowPrivilegeEscalation: ptr(false),
							Privileged:               ptr(false),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
							SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
						},
					}},
				},
			},
		},
	}
}

func service(namespace string) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: namespace, Labels: map[string]string{"app": Name}},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: selectorLabels(),
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP},
				{Name: "metrics", Port: MetricsPort, TargetPort: intstr.FromString("metrics"), Protocol: corev1.ProtocolTCP},
			},
		},
	}
}

func hpa(namespace string, c config) *autoscalingv2.HorizontalPodAutoscaler {
	target := func(res corev1.ResourceName, pct int32) autoscalingv2.MetricSpec {
		return autoscalingv2.MetricSpec{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{
				Name:   res,
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr(pct)},
			},
		}
	}
	metrics := []autoscalingv2.MetricSpec{target(corev1.ResourceCPU, CPUUtilization)}
	if c.memoryUtil > 0 {
		metrics = append(metrics, target(corev1.ResourceMemory, c.memoryUtil))
	}
	return &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: metav1.ObjectMeta{Name: Name + "-hpa", Namespace: namespace, Labels: map[string]string{"app": Name}},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: Name},
			MinReplicas:    ptr(int32(DefaultReplicas)),
			MaxReplicas:    MaxReplicas,
			Metrics:        metrics,
			// The seed's behaviour: scale up at once, doubling every 15 s;
			// scale down after 5 min of calm, one pod a minute.
			Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp: &autoscalingv2.HPAScalingRules{
					StabilizationWindowSeconds: ptr(int32(0)),
					Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}},
				},
				ScaleDown: &autoscalingv2.HPAScalingRules{
					StabilizationWindowSeconds: ptr(int32(300)),
					Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 60}},
				},
			},
		},
	}
}

// prometheusRule wraps the rule file's groups into a PrometheusRule.
func prometheusRule(namespace string, extra map[string]string) (*unstructured.Unstructured, error) {
	var rules map[string]any
	if err := yaml.Unmarshal(alertRules, &rules); err != nil {
		return nil, fmt.Errorf("deploy: alerts.rules.yaml: %w", err)
	}
	groups, ok := rules["groups"].([]any)
	if !ok || len(groups) == 0 {
		return nil, errors.New("deploy: alerts.rules.yaml: no groups")
	}
	lbl := map[string]any{"app": Name}
	for k, v := range extra {
		lbl[k] = v
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "monitoring.coreos.com/v1",
		"kind":       "PrometheusRule",
		"metadata": map[string]any{
			"name":      Name + "-alerts",
			"namespace": namespace,
			"labels":    lbl,
		},
		"spec": map[string]any{"groups": groups},
	}}, nil
}

func dashboardConfigMap(namespace string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      Name + "-dashboard",
			Namespace: namespace,
			Labels:    map[string]string{"app": Name, "grafana_dashboard": "1"},
		},
		Data: map[string]string{Name + ".json": string(dashboard)},
	}
}

func ptr[T any](v T) *T { return &v }
