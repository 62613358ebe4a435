package manifest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// oddCatalog writes its quantities the ways resource.Quantity prints back
// differently ("0.5" as "500m", "1.5Ki" as "1536") or keeps as written
// ("+1", "01", "2e3").
func oddCatalog() Catalog {
	return Catalog{Default: "odd", Profiles: map[string]Profile{
		"odd":    {Replicas: 2, CPURequest: "0.5", MemoryRequest: "1.5Ki", CPULimit: "+1", MemoryLimit: "2e3"},
		"nano":   {Replicas: 1, CPURequest: "0.0000000001", MemoryRequest: "01", CPULimit: "1.500", MemoryLimit: "1024Ki"},
		"binary": {Replicas: 7, CPURequest: "1000m", MemoryRequest: "0.5Gi", CPULimit: "2000", MemoryLimit: "7Ei"},
	}}
}

// oddValues are strings a YAML emitter must quote, or may not.
var oddValues = []string{
	"", "x", "true", "false", "yes", "no", "on", "off", "null", "~", "0", "1", "-1", "0x10", "1e3", "0o17", "1.5", ".inf", "-.inf", ".nan",
	"a: b", "- x", "#x", "x #y", "&a", "*a", "!tag", "%x", "@x", "`x", "|", ">", "'", "\"", "{a}", "[a]", "a,b", "?", ":", "---", "...",
	" lead", "trail ", "two\nlines", "tab\there", "ünïcödé", "日本", "\x00\x01", "\u2028", "2026-11-26", "12:30", "<<",
	strings.Repeat("long ", 40),
}

// generateRequests are the table of TestGenerateMatchesK8sAPI.
func generateRequests() []Request {
	reqs := []Request{
		{Name: "web", Image: "nginx:1.27"},
		{Name: "api", Namespace: "telecom", Image: "r.example/api@sha256:" + strings.Repeat("a", 64), Replicas: 2, Port: 8080, Profile: "small"},
		{Name: "w", Image: "busybox", Profile: "large", Env: map[string]string{"ZED": "1", "ALPHA": "2", "MID": "3"}},
		{Name: "p", Image: "x", Port: 1}, {Name: "p", Image: "x", Port: 65535}, {Name: "r", Image: "x", Replicas: 100},
		{Name: strings.Repeat("a", 63), Namespace: strings.Repeat("b", 63), Image: "x"},
		// Refused, each for one reason or several.
		{Name: "Web_1", Image: "x"}, {Image: "x"}, {Name: "a.b", Image: "x"}, {Name: strings.Repeat("a", 64), Image: "x"},
		{Name: "w", Namespace: "Kube System", Image: "x"}, {Name: "w"}, {Name: "w", Image: "nginx latest"},
		{Name: "w", Image: "x", Replicas: -1}, {Name: "w", Image: "x", Replicas: 101}, {Name: "w", Image: "x", Port: 70000},
		{Name: "w", Image: "x", Port: -5}, {Name: "w", Image: "x", Profile: "huge"},
		{Name: "w", Image: "x", Env: map[string]string{"1BAD": "v", "..x": "v", ".": "v", "OK": "v"}},
		{Name: "-", Namespace: "-", Image: " ", Replicas: -3, Port: 99999, Profile: "?", Env: map[string]string{"=": ""}},
	}
	env := map[string]string{}
	for i, v := range oddValues {
		env["V"+strings.Repeat("_", i)] = v
		reqs = append(reqs, Request{Name: "odd", Image: "reg.example/odd:" + v, Port: 80, Env: map[string]string{"V": v}})
	}
	return append(reqs, Request{Name: "all", Image: "x", Env: env})
}

// checkGenerateMatchesK8sAPI holds Template to the k8s.io/api oracle for
// one request: the same bytes and objects, or the same refusal.
func checkGenerateMatchesK8sAPI(t *testing.T, g *Template, k *k8sTemplate, r Request) {
	t.Helper()
	got, gotErr := g.Generate(context.Background(), r)
	want, wantErr := k.Generate(context.Background(), r)
	if wantErr != nil {
		if gotErr == nil || gotErr.Error() != wantErr.Error() || errors.Is(gotErr, ErrInvalid) != errors.Is(wantErr, ErrInvalid) {
			t.Errorf("Generate(%+v) error = %v, k8s.io/api version: %v", r, gotErr, wantErr)
		}
		return
	}
	if gotErr != nil {
		t.Errorf("Generate(%+v) error = %v, the k8s.io/api version generates it", r, gotErr)
		return
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Generate(%+v) differs from the k8s.io/api version (-k8s +got):\n%s", r, diff)
	}
}

func TestGenerateMatchesK8sAPI(t *testing.T) {
	for _, c := range []struct {
		name string
		cat  Catalog
	}{{"default catalog", DefaultCatalog()}, {"odd catalog", oddCatalog()}} {
		t.Run(c.name, func(t *testing.T) {
			g, err := NewTemplate(c.cat)
			if err != nil {
				t.Fatalf("NewTemplate: %v", err)
			}
			k, err := newK8sTemplate(c.cat)
			if err != nil {
				t.Fatalf("newK8sTemplate: %v", err)
			}
			for _, r := range generateRequests() {
				checkGenerateMatchesK8sAPI(t, g, k, r)
				if c.name == "odd catalog" && r.Name == "web" {
					for p := range c.cat.Profiles {
						r.Profile = p
						checkGenerateMatchesK8sAPI(t, g, k, r)
					}
				}
			}
		})
	}
}

func TestNewTemplateMatchesK8sAPI(t *testing.T) {
	ok := Profile{Replicas: 1, CPURequest: "100m", MemoryRequest: "64Mi", CPULimit: "1", MemoryLimit: "128Mi"}
	with := func(f func(*Profile)) Catalog {
		p := ok
		f(&p)
		return Catalog{Default: "p", Profiles: map[string]Profile{"p": p}}
	}
	for _, c := range []Catalog{
		{Default: "p"},
		{Default: "q", Profiles: map[string]Profile{"p": ok, "r": ok}},
		with(func(p *Profile) { p.Replicas = 0 }),
		with(func(p *Profile) { p.MemoryLimit = "lots" }),
		with(func(p *Profile) { p.MemoryLimit = "1mi" }),
		with(func(p *Profile) { p.CPULimit = "" }),
		with(func(p *Profile) { p.CPURequest = "2" }),
		with(func(p *Profile) { p.MemoryRequest = "129Mi" }),
		with(func(p *Profile) { p.MemoryRequest = "0.5Gi"; p.MemoryLimit = "512Mi" }), // equal: accepted
		with(func(p *Profile) { p.CPURequest = "1001m" }),
		oddCatalog(),
	} {
		_, gotErr := NewTemplate(c)
		_, wantErr := newK8sTemplate(c)
		if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
			t.Errorf("NewTemplate(%+v) error = %v, the k8s.io/api version: %v", c, gotErr, wantErr)
		}
	}
}

// FuzzGenerateMatchesK8sAPI: go test -run '^$' -fuzz FuzzGenerate ./examples/deployai/internal/manifest
func FuzzGenerateMatchesK8sAPI(f *testing.F) {
	for _, r := range generateRequests() {
		var k, v string
		for k, v = range r.Env {
			break
		}
		f.Add(r.Name, r.Namespace, r.Image, r.Replicas, r.Port, r.Profile, k, v)
	}
	g, err := NewTemplate(DefaultCatalog())
	if err != nil {
		f.Fatal(err)
	}
	k, err := newK8sTemplate(DefaultCatalog())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name, namespace, image string, replicas, port int32, profile, envName, envValue string) {
		r := Request{Name: name, Namespace: namespace, Image: image, Replicas: replicas, Port: port, Profile: profile}
		if envName != "" || envValue != "" {
			r.Env = map[string]string{envName: envValue}
		}
		checkGenerateMatchesK8sAPI(t, g, k, r)
	})
}
