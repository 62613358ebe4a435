// Package manifest turns a deployment request into Kubernetes manifests.
//
// The seed's service asks an LLM (Claude) to write the manifests. The
// example keeps the shape of that design, a Generator interface the HTTP
// layer calls once per request and counts as one "LLM API call", but its
// only implementation, Template, is deterministic: the same Request always
// gives the same bytes. That keeps the example's tests exact and its CI
// free of network and secrets, while the metrics and the failure paths stay
// those of the real service.
//
// The objects are written with types of the package's own (objects.go),
// checked as Kubernetes checks them (validation.go, quantity.go), rather
// than with k8s.io/api and apimachinery, which made up a third of the
// service's binary. The tests hold every output to those libraries: strict
// decoding into the k8s.io/api types, apimachinery's validation, and the
// same bytes as the generator written with k8s.io/api (k8s_oracle_test.go).
package manifest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.yaml.in/yaml/v2"
)

// Request is what a client asks for: one workload, optionally exposed by a
// Service. It is the JSON body of POST /api/v1/generate.
type Request struct {
	// Name names the Deployment and the Service (a DNS-1123 label).
	Name string `json:"name"`
	// Namespace is where the objects go; empty means "default".
	Namespace string `json:"namespace,omitempty"`
	// Image is the container image reference.
	Image string `json:"image"`
	// Replicas is the Deployment's replica count; 0 means the profile's.
	Replicas int32 `json:"replicas,omitempty"`
	// Port is the container port; 0 means no port and no Service.
	Port int32 `json:"port,omitempty"`
	// Profile picks requests and limits from the catalog; empty means the
	// catalog's default.
	Profile string `json:"profile,omitempty"`
	// Env is set on the container, sorted by name in the output.
	Env map[string]string `json:"env,omitempty"`
}

// Object names one object of a generated manifest.
type Object struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// Manifest is a generated multi-document YAML manifest and what it holds.
type Manifest struct {
	// YAML is the manifest, documents separated by "---".
	YAML string `json:"manifest"`
	// Objects lists the documents' objects, in order.
	Objects []Object `json:"objects"`
}

// Generator writes manifests. The HTTP layer calls Generate once per
// request; in the seed this is the LLM call.
type Generator interface {
	// Name identifies the generator in metrics and logs.
	Name() string
	// Generate returns the manifest for r. An error wrapping ErrInvalid
	// means the request is at fault (a client error); any other error is
	// the generator's.
	Generate(ctx context.Context, r Request) (Manifest, error)
}

// ErrInvalid marks a request the generator refuses because of its content.
var ErrInvalid = errors.New("invalid request")

// Profile is a set of resource requests and limits with a default replica
// count, so clients say "small" instead of spelling out quantities.
type Profile struct {
	Replicas      int32  `json:"replicas"`
	CPURequest    string `json:"cpuRequest"`
	MemoryRequest string `json:"memoryRequest"`
	CPULimit      string `json:"cpuLimit"`
	MemoryLimit   string `json:"memoryLimit"`
}

// Catalog is the generator's configuration: the profiles and the default
// one. It is the service's start-up config.
type Catalog struct {
	Default  string             `json:"default"`
	Profiles map[string]Profile `json:"profiles"`
}

// DefaultCatalog returns the catalog used when no config file is given. The
// "standard" profile is the seed's own sizing for mts-deploy-ai.
func DefaultCatalog() Catalog {
	return Catalog{
		Default: "standard",
		Profiles: map[string]Profile{
			"small":    {Replicas: 1, CPURequest: "100m", MemoryRequest: "128Mi", CPULimit: "500m", MemoryLimit: "256Mi"},
			"standard": {Replicas: 3, CPURequest: "500m", MemoryRequest: "512Mi", CPULimit: "2", MemoryLimit: "2Gi"},
			"large":    {Replicas: 5, CPURequest: "2", MemoryRequest: "4Gi", CPULimit: "4", MemoryLimit: "8Gi"},
		},
	}
}

// quantities is a Profile with its quantities parsed once, at start-up, so
// a bad catalog fails the warm-up rather than a request.
type quantities struct {
	replicas int32
	requests map[string]quantity // by resource name: "cpu", "memory"
	limits   map[string]quantity
}

// Template is the deterministic Generator. Build it with NewTemplate.
type Template struct {
	def      string
	profiles map[string]quantities
}

// NewTemplate validates the catalog and returns a generator for it.
func NewTemplate(c Catalog) (*Template, error) {
	if len(c.Profiles) == 0 {
		return nil, errors.New("manifest: catalog has no profiles")
	}
	if _, ok := c.Profiles[c.Default]; !ok {
		return nil, fmt.Errorf("manifest: default profile %q is not in the catalog (have %s)", c.Default, strings.Join(slices.Sorted(maps.Keys(c.Profiles)), ", "))
	}
	t := &Template{def: c.Default, profiles: make(map[string]quantities, len(c.Profiles))}
	for _, name := range slices.Sorted(maps.Keys(c.Profiles)) {
		p := c.Profiles[name]
		if p.Replicas < 1 {
			return nil, fmt.Errorf("manifest: profile %q: replicas must be at least 1, got %d", name, p.Replicas)
		}
		q := quantities{replicas: p.Replicas, requests: map[string]quantity{}, limits: map[string]quantity{}}
		for _, f := range []struct {
			field, value string
			into         map[string]quantity
			res          string
		}{
			{"cpuRequest", p.CPURequest, q.requests, "cpu"},
			{"memoryRequest", p.MemoryRequest, q.requests, "memory"},
			{"cpuLimit", p.CPULimit, q.limits, "cpu"},
			{"memoryLimit", p.MemoryLimit, q.limits, "memory"},
		} {
			v, err := parseQuantity(f.value)
			if err != nil {
				return nil, fmt.Errorf("manifest: profile %q: %s %q: %w", name, f.field, f.value, err)
			}
			f.into[f.res] = v
		}
		for _, res := range []string{"cpu", "memory"} {
			req, lim := q.requests[res], q.limits[res]
			if req.Cmp(lim) > 0 {
				return nil, fmt.Errorf("manifest: profile %q: %s request %s exceeds its limit %s", name, res, req.String(), lim.String())
			}
		}
		t.profiles[name] = q
	}
	return t, nil
}

// Name implements Generator.
func (t *Template) Name() string { return "template" }

// Generate implements Generator: a Deployment, and a Service when the
// request has a port. Output is byte-for-byte deterministic.
func (t *Template) Generate(ctx context.Context, r Request) (Manifest, error) {
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

	c := container{
		Name:  r.Name,
		Image: r.Image,
		Resources: resources{
			Requests: prof.requests,
			Limits:   prof.limits,
		},
		SecurityContext: &securityContext{
			AllowPrivilegeEscalation: ptr(false),
			ReadOnlyRootFilesystem:   ptr(true),
			RunAsNonRoot:             ptr(true),
			Capabilities:             &capabilities{Drop: []string{"ALL"}},
		},
	}
	for _, k := range slices.Sorted(maps.Keys(r.Env)) {
		c.Env = append(c.Env, envVar{Name: k, Value: r.Env[k]})
	}
	if r.Port != 0 {
		c.Ports = []containerPort{{Name: "http", ContainerPort: r.Port, Protocol: "TCP"}}
	}

	objs := []any{&deployment{
		typeMeta:   typeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: objectMeta{Name: r.Name, Namespace: r.Namespace, Labels: labels},
		Spec: deploymentSpec{
			Replicas: ptr(replicas),
			Selector: labelSelector{MatchLabels: selector},
			Template: podTemplateSpec{
				ObjectMeta: objectMeta{Labels: labels},
				Spec: podSpec{
					SecurityContext: &podSecurityContext{
						RunAsNonRoot:   ptr(true),
						SeccompProfile: &seccompProfile{Type: "RuntimeDefault"},
					},
					Containers: []container{c},
				},
			},
		},
	}}
	list := []Object{{Kind: "Deployment", Name: r.Name}}
	if r.Port != 0 {
		objs = append(objs, &service{
			typeMeta:   typeMeta{APIVersion: "v1", Kind: "Service"},
			ObjectMeta: objectMeta{Name: r.Name, Namespace: r.Namespace, Labels: labels},
			Spec: serviceSpec{
				Selector: selector,
				Ports:    []servicePort{{Name: "http", Port: r.Port, TargetPort: "http", Protocol: "TCP"}},
			},
		})
		list = append(list, Object{Kind: "Service", Name: r.Name})
	}

	var b strings.Builder
	for i, o := range objs {
		doc, err := encode(o)
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
func (t *Template) validate(r *Request) error {
	var errs []string
	if msgs := isDNS1123Label(r.Name); len(msgs) > 0 {
		errs = append(errs, fmt.Sprintf("name %q: %s", r.Name, strings.Join(msgs, "; ")))
	}
	if r.Namespace == "" {
		r.Namespace = "default"
	} else if msgs := isDNS1123Label(r.Namespace); len(msgs) > 0 {
		errs = append(errs, fmt.Sprintf("namespace %q: %s", r.Namespace, strings.Join(msgs, "; ")))
	}
	if strings.TrimSpace(r.Image) == "" || strings.ContainsAny(r.Image, " \t\n") {
		errs = append(errs, fmt.Sprintf("image %q: must be a non-empty image reference without spaces", r.Image))
	}
	if r.Replicas < 0 || r.Replicas > 100 {
		errs = append(errs, fmt.Sprintf("replicas %d: must be between 0 (profile default) and 100", r.Replicas))
	}
	if r.Port != 0 {
		if msgs := isValidPortNum(int(r.Port)); len(msgs) > 0 {
			errs = append(errs, fmt.Sprintf("port %d: %s", r.Port, strings.Join(msgs, "; ")))
		}
	}
	if r.Profile == "" {
		r.Profile = t.def
	} else if _, ok := t.profiles[r.Profile]; !ok {
		errs = append(errs, fmt.Sprintf("profile %q: unknown (have %s)", r.Profile, strings.Join(slices.Sorted(maps.Keys(t.profiles)), ", ")))
	}
	for _, k := range slices.Sorted(maps.Keys(r.Env)) {
		if msgs := isEnvVarName(k); len(msgs) > 0 {
			errs = append(errs, fmt.Sprintf("env %q: %s", k, strings.Join(msgs, "; ")))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(errs, "; "))
	}
	return nil
}

// Warm is the generator's start-up self-check: one canary request through
// every profile, each output parsed back as YAML. The service reports ready
// only after it passes, so a broken catalog never takes traffic.
func (t *Template) Warm(ctx context.Context) error {
	for _, name := range slices.Sorted(maps.Keys(t.profiles)) {
		m, err := t.Generate(ctx, Request{Name: "warmup", Image: "registry.invalid/warmup:0", Port: 8080, Profile: name})
		if err != nil {
			return fmt.Errorf("manifest: warm-up with profile %q: %w", name, err)
		}
		for i, doc := range strings.Split(m.YAML, "---\n") {
			var v map[string]any
			if err := yaml.Unmarshal([]byte(doc), &v); err != nil {
				return fmt.Errorf("manifest: warm-up with profile %q: document %d does not parse: %w", name, i, err)
			}
			if v["kind"] != m.Objects[i].Kind {
				return fmt.Errorf("manifest: warm-up with profile %q: document %d is %v, want %s", name, i, v["kind"], m.Objects[i].Kind)
			}
		}
	}
	return nil
}

// encode renders one object as YAML the way sigs.k8s.io/yaml does (JSON
// first, so the json tags decide the keys, then YAML with sorted keys): the
// bytes the service returned when it built the objects with k8s.io/api.
func encode(o any) ([]byte, error) {
	j, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	var v any
	if err := yaml.Unmarshal(j, &v); err != nil {
		return nil, err
	}
	return yaml.Marshal(v)
}

func ptr[T any](v T) *T { return &v }
