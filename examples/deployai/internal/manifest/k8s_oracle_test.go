package manifest

// The oracle: the generator as it was written with k8s.io/api and
// apimachinery, before the service stopped linking them. Template must
// write the same bytes and refuse the same requests with the same messages
// (TestGenerateMatchesK8sAPI, FuzzGenerateMatchesK8sAPI).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// k8sQuantities is a Profile with its k8sQuantities parsed once, at start-up, so
// a bad catalog fails the warm-up rather than a request.
type k8sQuantities struct {
	replicas int32
	requests corev1.ResourceList
	limits   corev1.ResourceList
}

// k8sTemplate is Template as it was written with k8s.io/api: the oracle.
type k8sTemplate struct {
	def      string
	profiles map[string]k8sQuantities
}

// newK8sTemplate is NewTemplate as it was.
func newK8sTemplate(c Catalog) (*k8sTemplate, error) {
	if len(c.Profiles) == 0 {
		return nil, errors.New("manifest: catalog has no profiles")
	}
	if _, ok := c.Profiles[c.Default]; !ok {
		return nil, fmt.Errorf("manifest: default profile %q is not in the catalog (have %s)", c.Default, strings.Join(slices.Sorted(maps.Keys(c.Profiles)), ", "))
	}
	t := &k8sTemplate{def: c.Default, profiles: make(map[string]k8sQuantities, len(c.Profiles))}
	for _, name := range slices.Sorted(maps.Keys(c.Profiles)) {
		p := c.Profiles[name]
		if p.Replicas < 1 {
			return nil, fmt.Errorf("manifest: profile %q: replicas must be at least 1, got %d", name, p.Replicas)
		}
		q := k8sQuantities{replicas: p.Replicas, requests: corev1.ResourceList{}, limits: corev1.ResourceList{}}
		for _, f := range []struct {
			field, value string
			into         corev1.ResourceList
			res          corev1.ResourceName
		}{
			{"cpuRequest", p.CPURequest, q.requests, corev1.ResourceCPU},
			{"memoryRequest", p.MemoryRequest, q.requests, corev1.ResourceMemory},
			{"cpuLimit", p.CPULimit, q.limits, corev1.ResourceCPU},
			{"memoryLimit", p.MemoryLimit, q.limits, corev1.ResourceMemory},
		} {
			v, err := resource.ParseQuantity(f.value)
			if err != nil {
				return nil, fmt.Errorf("manifest: profile %q: %s %q: %w", name, f.field, f.value, err)
			}
			f.into[f.res] = v
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, lim := q.requests[res], q.limits[res]
			if req.Cmp(lim) > 0 {
				return nil, fmt.Errorf("manifest: profile %q: %s request %s exceeds its limit %s", name, res, req.String(), lim.String())
			}
		}
		t.profiles[name] = q
	}
	return t, nil
}

// Generate is Template.Generate as it was.
func (t *k8sTemplate) Generate(ctx context.Context, r Request) (Manifest, error) {
	if err := ctx.Err(); err != nil {
		return Manifest{}, fmt.Errorf("manifest: %w", err)
	}
	if err := t.validate(&r); err != nil {
		return Manifest{}, err
	}
	prof := t.profiles[r.Profile]
	replicas := r.Replicas
	if replicas == 0 {
		replicas = prof.replicas
	}
	labels := map[string]string{
		"app.kubernetes.io/name":       r.Name,
		"app.kubernetes.io/managed-by": "mts-deploy-ai",
	}
	selector := map[string]string{"app.kubernetes.io/name": r.Name}

	container := corev1.Container{
		Name:  r.Name,
		Image: r.Image,
		Resources: corev1.ResourceRequirements{
			Requests: prof.requests.DeepCopy(),
			Limits:   prof.limits.DeepCopy(),
		},
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr(false),
			ReadOnlyRootFilesystem:   ptr(true),
			RunAsNonRoot:             ptr(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}
	for _, k := range slices.Sorted(maps.Keys(r.Env)) {
		container.Env = append(container.Env, corev1.EnvVar{Name: k, Value: r.Env[k]})
	}
	if r.Port != 0 {
		container.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: r.Port, Protocol: corev1.ProtocolTCP}}
	}

	objs := []any{&appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: r.Name, Namespace: r.Namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr(true),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{container},
				},
			},
		},
	}}
	list := []Object{{Kind: "Deployment", Name: r.Name}}
	if r.Port != 0 {
		objs = append(objs, &corev1.Service{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
			ObjectMeta: metav1.ObjectMeta{Name: r.Name, Namespace: r.Namespace, Labels: labels},
			Spec: corev1.ServiceSpec{
				Selector: selector,
				Ports: []corev1.ServicePort{{
					Name: "http", Port: r.Port, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP,
				}},
			},
		})
		list = append(list, Object{Kind: "Service", Name: r.Name})
	}

	var b strings.Builder
	for i, o := range objs {
		doc, err := k8sEncode(o)
		if err != nil {
			return Manifest{}, fmt.Errorf("manifest: encoding %s/%s: %w", list[i].Kind, list[i].Name, err)
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(doc)
	}
	return Manifest{YAML: b.String(), Objects: list}, nil
}

// validate fills the defaults into r and rejects what Kubernetes would.
func (t *k8sTemplate) validate(r *Request) error {
	var errs []string
	if msgs := validation.IsDNS1123Label(r.Name); len(msgs) > 0 {
		errs = append(errs, fmt.Sprintf("name %q: %s", r.Name, strings.Join(msgs, "; ")))
	}
	if r.Namespace == "" {
		r.Namespace = "default"
	} else if msgs := validation.IsDNS1123Label(r.Namespace); len(msgs) > 0 {
		errs = append(errs, fmt.Sprintf("namespace %q: %s", r.Namespace, strings.Join(msgs, "; ")))
	}
	if strings.TrimSpace(r.Image) == "" || strings.ContainsAny(r.Image, " \t\n") {
		errs = append(errs, fmt.Sprintf("image %q: must be a non-empty image reference without spaces", r.Image))
	}
	if r.Replicas < 0 || r.Replicas > 100 {
		errs = append(errs, fmt.Sprintf("replicas %d: must be between 0 (profile default) and 100", r.Replicas))
	}
	if r.Port != 0 {
		if msgs := validation.IsValidPortNum(int(r.Port)); len(msgs) > 0 {
			errs = append(errs, fmt.Sprintf("port %d: %s", r.Port, strings.Join(msgs, "; ")))
		}
	}
	if r.Profile == "" {
		r.Profile = t.def
	} else if _, ok := t.profiles[r.Profile]; !ok {
		errs = append(errs, fmt.Sprintf("profile %q: unknown (have %s)", r.Profile, strings.Join(slices.Sorted(maps.Keys(t.profiles)), ", ")))
	}
	for _, k := range slices.Sorted(maps.Keys(r.Env)) {
		if msgs := validation.IsEnvVarName(k); len(msgs) > 0 {
			errs = append(errs, fmt.Sprintf("env %q: %s", k, strings.Join(msgs, "; ")))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(errs, "; "))
	}
	return nil
}

// encode renders one object as YAML without its empty "status" (and the
// empty "strategy" k8s.io/api would print), which a manifest never sets.
func k8sEncode(o any) ([]byte, error) {
	j, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		return nil, err
	}
	delete(m, "status")
	if spec, ok := m["spec"].(map[string]any); ok {
		if st, ok := spec["strategy"].(map[string]any); ok && len(st) == 0 {
			delete(spec, "strategy")
		}
	}
	return yaml.Marshal(m)
}
