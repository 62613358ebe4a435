package deploy

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestParseNodeSelector(t *testing.T) {
	sel, err := ParseNodeSelector([]string{"slipway.dev/node=real", "zone=a", "zone=a"})
	if err != nil || fmt.Sprint(FormatNodeSelector(sel)) != "[slipway.dev/node=real zone=a]" {
		t.Fatalf("ParseNodeSelector: %v %v", sel, err)
	}
	if sel, err := ParseNodeSelector(nil); sel != nil || err != nil {
		t.Fatalf("no pairs: %v %v, want nil", sel, err)
	}
	for in, want := range map[string]string{
		"real":                  "want KEY=VALUE",
		"=real":                 "want KEY=VALUE",
		"bad key!=x":            `key "bad key!"`,
		"slipway.dev/node=a b":  `value "a b"`,
		"slipway.dev/node=-bad": `value "-bad"`,
	} {
		if _, err := ParseNodeSelector([]string{in}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseNodeSelector(%q): %v, want an error containing %q", in, err, want)
		}
	}
	if _, err := ParseNodeSelector([]string{"zone=a", "zone=b"}); err == nil || !strings.Contains(err.Error(), `key "zone" given twice`) {
		t.Errorf("conflicting keys: %v", err)
	}
}

func TestPlacePods(t *testing.T) {
	sel := map[string]string{"slipway.dev/node": "real"}
	dep := obj(t, deployment("web", map[string]any{"name": "app", "image": "x"}))
	unstructured.SetNestedStringMap(dep.Object, map[string]string{"disk": "ssd", "slipway.dev/node": "other"}, "spec", "template", "spec", "nodeSelector")
	cron := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "batch/v1", "kind": "CronJob", "metadata": map[string]any{"name": "c"},
		"spec": map[string]any{"jobTemplate": map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{}}}}}}}
	svc := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": "web"}, "spec": map[string]any{}}}
	for _, o := range []*unstructured.Unstructured{dep, cron, svc} {
		if err := PlacePods(o, sel); err != nil {
			t.Fatal(err)
		}
	}
	got, _, _ := unstructured.NestedStringMap(dep.Object, "spec", "template", "spec", "nodeSelector")
	if fmt.Sprint(got) != "map[disk:ssd slipway.dev/node:real]" {
		t.Errorf("Deployment nodeSelector %v: want the bundle's disk=ssd kept and the environment's node", got)
	}
	got, _, _ = unstructured.NestedStringMap(cron.Object, "spec", "jobTemplate", "spec", "template", "spec", "nodeSelector")
	if fmt.Sprint(got) != "map[slipway.dev/node:real]" {
		t.Errorf("CronJob nodeSelector %v", got)
	}
	if _, found, _ := unstructured.NestedFieldNoCopy(svc.Object, "spec", "nodeSelector"); found {
		t.Error("a Service got a nodeSelector")
	}

	// Through prepare: every workload of the bundle, the target included.
	c := &Client{env: Environment{Name: "staging", Namespace: "shop", NodeSelector: sel}}
	objs, _, err := c.prepare(Release{Bundle: []*unstructured.Unstructured{obj(t, deployment("web", map[string]any{"name": "app", "image": "x"})), svc}}, digestA)
	if err != nil {
		t.Fatal(err)
	}
	got, _, _ = unstructured.NestedStringMap(objs[0].Object, "spec", "template", "spec", "nodeSelector")
	if fmt.Sprint(got) != "map[slipway.dev/node:real]" {
		t.Errorf("prepared Deployment nodeSelector %v", got)
	}
}
