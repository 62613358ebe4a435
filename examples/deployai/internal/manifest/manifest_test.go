package manifest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

func newTemplate(t *testing.T) *Template {
	t.Helper()
	g, err := NewTemplate(DefaultCatalog())
	if err != nil {
		t.Fatalf("NewTemplate(DefaultCatalog()): %v", err)
	}
	return g
}

// decode splits a generated manifest into its Deployment and, when there
// is one, its Service, through the real k8s.io/api types, strictly (an
// unknown or misspelt field fails), and runs apimachinery's checks of their
// metadata and selector, with the name rules the API server applies to
// each kind.
func decode(t *testing.T, m Manifest) (*appsv1.Deployment, *corev1.Service) {
	t.Helper()
	docs := strings.Split(m.YAML, "---\n")
	if len(docs) != len(m.Objects) {
		t.Fatalf("%d YAML documents, %d objects listed", len(docs), len(m.Objects))
	}
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict([]byte(docs[0]), &d); err != nil {
		t.Fatalf("document 0 is not a Deployment: %v\n%s", err, docs[0])
	}
	meta := field.NewPath("metadata")
	errs := apivalidation.ValidateObjectMeta(&d.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, meta)
	errs = append(errs, metav1validation.ValidateLabelSelector(d.Spec.Selector, metav1validation.LabelSelectorValidationOptions{}, field.NewPath("spec", "selector"))...)
	errs = append(errs, metav1validation.ValidateLabels(d.Spec.Template.Labels, field.NewPath("spec", "template", "metadata", "labels"))...)
	if len(errs) > 0 {
		t.Errorf("the Deployment does not validate: %v", errs.ToAggregate())
	}
	if len(docs) == 1 {
		return &d, nil
	}
	var s corev1.Service
	if err := yaml.UnmarshalStrict([]byte(docs[1]), &s); err != nil {
		t.Fatalf("document 1 is not a Service: %v\n%s", err, docs[1])
	}
	if errs := apivalidation.ValidateObjectMeta(&s.ObjectMeta, true, apivalidation.NameIsDNS1035Label, meta); len(errs) > 0 {
		t.Errorf("the Service does not validate: %v", errs.ToAggregate())
	}
	return &d, &s
}

func TestGenerate(t *testing.T) {
	g := newTemplate(t)
	tests := []struct {
		name         string
		req          Request
		wantObjects  []Object
		wantReplicas int32
		wantNS       string
		wantCPULimit string
		wantEnv      []string
	}{
		{
			name:         "defaults from the standard profile, no port means no Service",
			req:          Request{Name: "web", Image: "nginx:1.27"},
			wantObjects:  []Object{{"Deployment", "web"}},
			wantReplicas: 3, wantNS: "default", wantCPULimit: "2",
		},
		{
			name:         "port adds a Service; explicit replicas and profile win",
			req:          Request{Name: "api", Namespace: "telecom", Image: "r.example/api@sha256:" + strings.Repeat("a", 64), Replicas: 2, Port: 8080, Profile: "small"},
			wantObjects:  []Object{{"Deployment", "api"}, {"Service", "api"}},
			wantReplicas: 2, wantNS: "telecom", wantCPULimit: "500m",
		},
		{
			name:         "env is sorted by name",
			req:          Request{Name: "w", Image: "busybox", Profile: "large", Env: map[string]string{"ZED": "1", "ALPHA": "2", "MID": "3"}},
			wantObjects:  []Object{{"Deployment", "w"}},
			wantReplicas: 5, wantNS: "default", wantCPULimit: "4",
			wantEnv: []string{"ALPHA=2", "MID=3", "ZED=1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := g.Generate(context.Background(), tt.req)
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			if diff := cmp.Diff(tt.wantObjects, m.Objects); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
			d, s := decode(t, m)
			if got := *d.Spec.Replicas; got != tt.wantReplicas {
				t.Errorf("replicas = %d, want %d", got, tt.wantReplicas)
			}
			if d.Namespace != tt.wantNS {
				t.Errorf("namespace = %q, want %q", d.Namespace, tt.wantNS)
			}
			c := d.Spec.Template.Spec.Containers[0]
			if c.Image != tt.req.Image {
				t.Errorf("image = %q, want %q", c.Image, tt.req.Image)
			}
			if got := c.Resources.Limits.Cpu().String(); got != tt.wantCPULimit {
				t.Errorf("cpu limit = %s, want %s", got, tt.wantCPULimit)
			}
			var env []string
			for _, e := range c.Env {
				env = append(env, e.Name+"="+e.Value)
			}
			if diff := cmp.Diff(tt.wantEnv, env); diff != "" {
				t.Errorf("env (-want +got):\n%s", diff)
			}
			if sc := c.SecurityContext; sc == nil || !*sc.RunAsNonRoot || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation {
				t.Errorf("container security context is not locked down: %+v", sc)
			}
			if !labels.SelectorFromSet(d.Spec.Selector.MatchLabels).Matches(labels.Set(d.Spec.Template.Labels)) {
				t.Errorf("selector %v does not select the template's labels %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
			}
			if tt.req.Port != 0 {
				if s == nil {
					t.Fatal("no Service for a request with a port")
				}
				if s.Spec.Ports[0].Port != tt.req.Port || s.Spec.Ports[0].TargetPort.StrVal != "http" || c.Ports[0].Name != "http" {
					t.Errorf("service port %+v does not reach container port %+v", s.Spec.Ports[0], c.Ports)
				}
				if diff := cmp.Diff(d.Spec.Selector.MatchLabels, s.Spec.Selector); diff != "" {
					t.Errorf("service selector differs from the deployment's (-dep +svc):\n%s", diff)
				}
			}
			if strings.Contains(m.YAML, "status:") {
				t.Errorf("manifest carries a status:\n%s", m.YAML)
			}
		})
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	g := newTemplate(t)
	req := Request{Name: "web", Image: "nginx", Port: 80, Env: map[string]string{"B": "1", "A": "2", "C": "3", "D": "4"}}
	first, err := g.Generate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		again, err := g.Generate(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if again.YAML != first.YAML {
			t.Fatalf("run %d differs:\n%s", i, cmp.Diff(first.YAML, again.YAML))
		}
	}
}

func TestGenerateRejects(t *testing.T) {
	g := newTemplate(t)
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{"bad name", Request{Name: "Web_1", Image: "x"}, `name "Web_1"`},
		{"empty name", Request{Image: "x"}, `name ""`},
		{"bad namespace", Request{Name: "w", Namespace: "Kube System", Image: "x"}, `namespace "Kube System"`},
		{"empty image", Request{Name: "w"}, `image ""`},
		{"image with space", Request{Name: "w", Image: "nginx latest"}, `image "nginx latest"`},
		{"negative replicas", Request{Name: "w", Image: "x", Replicas: -1}, "replicas -1"},
		{"too many replicas", Request{Name: "w", Image: "x", Replicas: 101}, "replicas 101"},
		{"port out of range", Request{Name: "w", Image: "x", Port: 70000}, "port 70000"},
		{"unknown profile", Request{Name: "w", Image: "x", Profile: "huge"}, `profile "huge": unknown (have large, small, standard)`},
		{"bad env name", Request{Name: "w", Image: "x", Env: map[string]string{"1BAD": "v"}}, `env "1BAD"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := g.Generate(context.Background(), tt.req)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Generate error = %v, want one wrapping ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestGenerateCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := newTemplate(t).Generate(ctx, Request{Name: "w", Image: "x"})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrInvalid) {
		t.Fatalf("error = %v, want context.Canceled and not ErrInvalid", err)
	}
}

func TestNewTemplateRejectsBadCatalogs(t *testing.T) {
	ok := Profile{Replicas: 1, CPURequest: "100m", MemoryRequest: "64Mi", CPULimit: "1", MemoryLimit: "128Mi"}
	with := func(f func(*Profile)) Catalog {
		p := ok
		f(&p)
		return Catalog{Default: "p", Profiles: map[string]Profile{"p": p}}
	}
	tests := []struct {
		name string
		c    Catalog
		want string
	}{
		{"no profiles", Catalog{Default: "p"}, "no profiles"},
		{"default missing", Catalog{Default: "q", Profiles: map[string]Profile{"p": ok}}, `default profile "q" is not in the catalog (have p)`},
		{"zero replicas", with(func(p *Profile) { p.Replicas = 0 }), "replicas must be at least 1"},
		{"bad quantity", with(func(p *Profile) { p.MemoryLimit = "lots" }), `memoryLimit "lots"`},
		{"request over limit", with(func(p *Profile) { p.CPURequest = "2" }), "cpu request 2 exceeds its limit 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewTemplate(tt.c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewTemplate error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestWarm(t *testing.T) {
	if err := newTemplate(t).Warm(context.Background()); err != nil {
		t.Fatalf("Warm on the default catalog: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := newTemplate(t).Warm(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Warm on a cancelled context = %v, want context.Canceled", err)
	}
}

func TestLoadCatalog(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", `{"default":"s","profiles":{"s":{"replicas":2,"cpuRequest":"1","memoryRequest":"1Gi","cpuLimit":"1","memoryLimit":"1Gi"}}}`)
	c, err := LoadCatalog(good)
	if err != nil {
		t.Fatalf("LoadCatalog(good): %v", err)
	}
	if c.Default != "s" || c.Profiles["s"].Replicas != 2 {
		t.Errorf("LoadCatalog(good) = %+v", c)
	}
	for _, tt := range []struct{ name, path, want string }{
		{"missing file", filepath.Join(dir, "none.json"), "no such file"},
		{"unknown field", write("typo.json", `{"defualt":"s"}`), `unknown field "defualt"`},
		{"not JSON", write("bad.json", `default: s`), "invalid character"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadCatalog(tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("LoadCatalog error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
