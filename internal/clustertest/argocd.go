package clustertest

import (
	"context"
	"slices"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/slipway-ci/slipway/deploy/gitops"
)

// ReleaseFromArgoCD deletes every Argo CD Application whose destination
// is one of namespaces, and waits until they are gone. A test that deploys
// into a fixed namespace (the reference pipeline's) calls it first: after
// `make demo DEPLOY=gitops` on the same cluster, Argo CD's selfHeal would
// otherwise put the demo's image back over the test's deploy. The
// Applications' finalizer-free deletion leaves the workloads in place.
func (c *Cluster) ReleaseFromArgoCD(t testing.TB, namespaces ...string) {
	t.Helper()
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	apps := dyn.Resource(gitops.ApplicationGVR)
	list, err := apps.Namespace(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
		return // no Argo CD on this cluster
	}
	if err != nil {
		t.Fatalf("listing Argo CD Applications: %v", err)
	}
	for _, app := range list.Items {
		dest, _, _ := unstructured.NestedString(app.Object, "spec", "destination", "namespace")
		if !slices.Contains(namespaces, dest) {
			continue
		}
		t.Logf("deleting the Argo CD Application %s/%s, which syncs namespace %s", app.GetNamespace(), app.GetName(), dest)
		// Without its finalizer, deleting the Application leaves what it
		// deployed; the test deploys over it.
		if len(app.GetFinalizers()) > 0 {
			patch := []byte(`{"metadata":{"finalizers":null}}`)
			if _, err := apps.Namespace(app.GetNamespace()).Patch(ctx, app.GetName(), "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
				t.Fatalf("removing the finalizers of Application %s/%s: %v", app.GetNamespace(), app.GetName(), err)
			}
		}
		if err := apps.Namespace(app.GetNamespace()).Delete(ctx, app.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Fatalf("deleting Application %s/%s: %v", app.GetNamespace(), app.GetName(), err)
		}
		for {
			_, err := apps.Namespace(app.GetNamespace()).Get(ctx, app.GetName(), metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("Application %s/%s is still there: %v", app.GetNamespace(), app.GetName(), ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}
