package deploy

import (
	"context"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
)

func kindObj(apiVersion, kind, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetName(name)
	return u
}

func TestServed(t *testing.T) {
	rule := kindObj("monitoring.coreos.com/v1", "PrometheusRule", "alerts")
	dep := kindObj("apps/v1", "Deployment", "web")
	svc := kindObj("v1", "Service", "web")
	monitoring := &metav1.APIResourceList{GroupVersion: "monitoring.coreos.com/v1", APIResources: []metav1.APIResource{
		{Name: "prometheusrules", Kind: "PrometheusRule", Namespaced: true, Verbs: []string{"get", "patch"}},
	}}
	// A cluster always serves some API; one that answers with none at all
	// once made client-go's deferred mapper reset and ask again without
	// end: now the kind is simply not served.
	apps := &metav1.APIResourceList{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
		{Name: "deployments", Kind: "Deployment", Namespaced: true, Verbs: []string{"get", "patch"}},
	}}
	for _, tc := range []struct {
		name        string
		resources   []*metav1.APIResourceList
		wantServed  []string
		wantSkipped []string
		wantErr     string
	}{
		{name: "CRD not installed", resources: []*metav1.APIResourceList{apps}, wantServed: []string{"web", "web"}, wantSkipped: []string{"PrometheusRule alerts (monitoring.coreos.com/v1 not served by the cluster)"}},
		{name: "no API groups at all", wantServed: []string{"web", "web"}, wantSkipped: []string{"PrometheusRule alerts (monitoring.coreos.com/v1 not served by the cluster)"}},
		{name: "CRD installed", resources: []*metav1.APIResourceList{apps, monitoring}, wantServed: []string{"web", "alerts", "web"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kube := fake.NewClientset()
			disc := kube.Discovery().(*fakediscovery.FakeDiscovery)
			disc.Resources = tc.resources
			c, err := New(context.Background(), Environment{Name: "staging", Namespace: "shop"},
				WithClients(kube, dynamicfake.NewSimpleDynamicClient(runtime.NewScheme())), WithApplyRetry(0))
			if err != nil {
				t.Fatal(err)
			}
			served, skipped, err := c.Served(context.Background(), []*unstructured.Unstructured{dep, rule, svc})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, o := range served {
				names = append(names, o.GetName())
			}
			if !reflect.DeepEqual(names, tc.wantServed) {
				t.Errorf("served %v, want %v", names, tc.wantServed)
			}
			if !reflect.DeepEqual(skipped, tc.wantSkipped) {
				t.Errorf("skipped %q, want %q", skipped, tc.wantSkipped)
			}
		})
	}
}
