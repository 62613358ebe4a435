package backup_test

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	"github.com/slipway-ci/slipway/deploy/backup"
	"github.com/slipway-ci/slipway/internal/clustertest"
)

func u(o map[string]any) *unstructured.Unstructured { return &unstructured.Unstructured{Object: o} }

// service is the seed's service as it would run: Deployment, Service,
// ConfigMap, HPA, and a Secret that a default backup must leave out. Its
// pods run image on the control plane's real node (100m CPU each, as the
// reference's local layouts ask, so that they fit beside other tests').
func service(image string) []struct {
	gvr schema.GroupVersionResource
	obj *unstructured.Unstructured
} {
	type item = struct {
		gvr schema.GroupVersionResource
		obj *unstructured.Unstructured
	}
	return []item{
		{schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, u(map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "mts-deploy-ai-config", "labels": map[string]any{"app": "mts-deploy-ai"}},
			"data": map[string]any{"LOG_LEVEL": "INFO", "MCP_SERVER_NAME": "mts-deploy-ai"},
		})},
		{schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, u(map[string]any{
			"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "mts-deploy-ai-secrets"},
			"stringData": map[string]any{"anthropic-api-key": "sk-not-in-the-backup"},
		})},
		{schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, u(map[string]any{
			"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": "mts-deploy-ai", "labels": map[string]any{"app": "mts-deploy-ai", "version": "v1.0.0"}},
			"spec": map[string]any{
				"replicas": int64(3),
				"selector": map[string]any{"matchLabels": map[string]any{"app": "mts-deploy-ai"}},
				"template": map[string]any{
					"metadata": map[string]any{"labels": map[string]any{"app": "mts-deploy-ai"}, "annotations": map[string]any{"prometheus.io/scrape": "true"}},
					"spec": map[string]any{"containers": []any{map[string]any{
						"name": "mts-deploy-ai", "image": image,
						"ports":     []any{map[string]any{"containerPort": int64(8080), "name": "http"}},
						"envFrom":   []any{map[string]any{"configMapRef": map[string]any{"name": "mts-deploy-ai-config"}}},
						"resources": map[string]any{"requests": map[string]any{"cpu": "100m", "memory": "512Mi"}},
					}}, "nodeSelector": map[string]any{"slipway.dev/node": "real"}},
				},
			},
		})},
		{schema.GroupVersionResource{Version: "v1", Resource: "services"}, u(map[string]any{
			"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": "mts-deploy-ai"},
			"spec": map[string]any{"selector": map[string]any{"app": "mts-deploy-ai"}, "ports": []any{map[string]any{"name": "http", "port": int64(80), "targetPort": "http"}}},
		})},
		{schema.GroupVersionResource{Group: "autoscaling", Version: "v2", Resource: "horizontalpodautoscalers"}, u(map[string]any{
			"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": map[string]any{"name": "mts-deploy-ai-hpa"},
			"spec": map[string]any{
				"scaleTargetRef": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "mts-deploy-ai"},
				"minReplicas":    int64(3), "maxReplicas": int64(10),
				"metrics": []any{map[string]any{"type": "Resource", "resource": map[string]any{"name": "cpu", "target": map[string]any{"type": "Utilization", "averageUtilization": int64(70)}}}},
			},
		})},
	}
}

// TestE2ENamespaceLossAndRestore is the seed's "complete namespace loss":
// back the namespace up into a registry, delete the namespace, restore
// the backup into a new namespace of the same name, and compare.
func TestE2ENamespaceLossAndRestore(t *testing.T) {
	c := clustertest.RequireNode(t)
	image := clustertest.PushApp(t, clustertest.AppServe)
	ctx := context.Background()
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	ns := c.Namespace(t, "telecom")
	for _, it := range service(image) {
		if _, err := dyn.Resource(it.gvr).Namespace(ns).Apply(ctx, it.obj.GetName(), it.obj, metav1.ApplyOptions{FieldManager: "test"}); err != nil {
			t.Fatalf("creating %s: %v", it.obj.GetName(), err)
		}
	}
	before, err := backup.Take(ctx, dyn, ns)
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(before); got != "ConfigMap/mts-deploy-ai-config Deployment/mts-deploy-ai HorizontalPodAutoscaler/mts-deploy-ai-hpa Service/mts-deploy-ai" {
		t.Fatalf("snapshot holds %s (Secrets must be left out by default)", got)
	}

	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	tag, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/backups/" + ns + ":" + before.Taken.Format("20060102-150405"))
	if err != nil {
		t.Fatal(err)
	}
	digest, err := backup.Push(ctx, before, tag)
	if err != nil {
		t.Fatal(err)
	}

	// Lose the namespace.
	start := time.Now()
	if err := c.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}); err != nil {
		t.Fatalf("namespace %s not gone after 60s", ns)
	}
	t.Logf("namespace deleted in %s", time.Since(start))

	// Restore by digest into a new, empty namespace of the same name.
	start = time.Now()
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	snap, err := backup.Pull(ctx, digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := backup.Restore(ctx, dyn, snap, ns); err != nil {
		t.Fatal(err)
	}
	t.Logf("restored in %s", time.Since(start))
	after, err := backup.Take(ctx, dyn, ns)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sorted(before), sorted(after)); diff != "" {
		t.Fatalf("restored objects differ from the originals (-before +after):\n%s", diff)
	}
	// The restored Deployment rolls out again.
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "mts-deploy-ai", metav1.GetOptions{})
		return err == nil && d.Status.AvailableReplicas == 3, nil
	}); err != nil {
		t.Fatal("the restored Deployment did not become available")
	}
	// A second restore into the now populated namespace is refused.
	if err := backup.Restore(ctx, dyn, snap, ns); err == nil || !strings.Contains(err.Error(), "the namespace is not empty") {
		t.Fatalf("restore over live objects: %v", err)
	}
}

func kinds(s *backup.Snapshot) string {
	var out []string
	for _, o := range s.Objects {
		out = append(out, o.GetKind()+"/"+o.GetName())
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// sorted returns the objects in kind/name order, without managedFields'
// owner names (the test's applier versus slipway-restore) that Clean
// already strips.
func sorted(s *backup.Snapshot) []map[string]any {
	objs := append([]*unstructured.Unstructured{}, s.Objects...)
	sort.Slice(objs, func(i, j int) bool {
		return objs[i].GetKind()+"/"+objs[i].GetName() < objs[j].GetKind()+"/"+objs[j].GetName()
	})
	var out []map[string]any
	for _, o := range objs {
		out = append(out, o.Object)
	}
	return out
}

// TestE2EEncryptedSecrets: with a key, Secrets go into the backup sealed
// (the registry never sees the value), and come back only with that key.
func TestE2EEncryptedSecrets(t *testing.T) {
	c := clustertest.Require(t)
	ctx := context.Background()
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	ns := c.Namespace(t, "sealed")
	secrets := schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	for _, it := range service(clustertest.MissingImage()) { // no pod needs to run here
		if it.gvr == secrets {
			if _, err := dyn.Resource(it.gvr).Namespace(ns).Apply(ctx, it.obj.GetName(), it.obj, metav1.ApplyOptions{FieldManager: "test"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	key := []byte(strings.Repeat("k", 32))
	snap, err := backup.Take(ctx, dyn, ns, backup.WithEncryptedSecrets(key))
	if err != nil {
		t.Fatal(err)
	}
	if kinds(snap) != "Secret/mts-deploy-ai-secrets" {
		t.Fatalf("snapshot holds %s", kinds(snap))
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	ref, _ := name.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/backups/sealed:1")
	d, err := backup.Push(ctx, snap, ref)
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := backup.Pull(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := pulled.Objects[0].MarshalJSON()
	if strings.Contains(string(raw), "sk-not-in-the-backup") || strings.Contains(string(raw), "c2stbm90LWluLXRoZS1iYWNrdXA") {
		t.Fatalf("the secret value is readable in the registry: %s", raw)
	}
	target := c.Namespace(t, "unsealed")
	for _, tc := range []struct {
		name    string
		opts    []backup.RestoreOption
		wantErr string
	}{
		{"no key", nil, "is encrypted in the snapshot: pass backup.WithKey"},
		{"wrong key", []backup.RestoreOption{backup.WithKey([]byte(strings.Repeat("x", 32)))}, "cannot decrypt (wrong key?)"},
	} {
		if err := backup.Restore(ctx, dyn, pulled, target, tc.opts...); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.wantErr)
		}
	}
	if err := backup.Restore(ctx, dyn, pulled, target, backup.WithKey(key)); err != nil {
		t.Fatal(err)
	}
	got, err := c.Client.CoreV1().Secrets(target).Get(ctx, "mts-deploy-ai-secrets", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v := string(got.Data["anthropic-api-key"]); v != "sk-not-in-the-backup" {
		t.Fatalf("restored secret value %q", v)
	}
}
