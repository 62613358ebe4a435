package backup_test

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/slipway-ci/slipway/deploy/backup"
)

func TestClean(t *testing.T) {
	svc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{
			"name": "web", "namespace": "shop", "uid": "u", "resourceVersion": "9", "creationTimestamp": "2026-01-01T00:00:00Z",
			"managedFields": []any{map[string]any{"manager": "slipway"}}, "labels": map[string]any{"app": "web"},
			"annotations": map[string]any{"kubectl.kubernetes.io/last-applied-configuration": "{}", "team": "shop"},
		},
		"spec":   map[string]any{"clusterIP": "10.0.0.7", "clusterIPs": []any{"10.0.0.7"}, "ports": []any{map[string]any{"port": int64(80)}}},
		"status": map[string]any{"loadBalancer": map[string]any{}},
	}}
	want := map[string]any{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": "web", "labels": map[string]any{"app": "web"}, "annotations": map[string]any{"team": "shop"}},
		"spec":     map[string]any{"ports": []any{map[string]any{"port": int64(80)}}},
	}
	if diff := cmp.Diff(want, backup.Clean(svc).Object); diff != "" {
		t.Fatalf("Clean (-want +got):\n%s", diff)
	}
	if svc.GetUID() != "u" {
		t.Fatal("Clean changed its input")
	}
}

func TestPushPull(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	ctx := context.Background()
	snap := &backup.Snapshot{Namespace: "shop", Taken: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Objects: []*unstructured.Unstructured{
		{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "cfg"}, "data": map[string]any{"a": "b"}}},
		{Object: map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "web"}, "spec": map[string]any{"replicas": int64(3), "ratio": 0.5}}},
	}}
	tag, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/backups/shop:2026-01-02")
	if err != nil {
		t.Fatal(err)
	}
	d, err := backup.Push(ctx, snap, tag)
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []name.Reference{tag, d} {
		got, err := backup.Pull(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		if got.Namespace != "shop" || !got.Taken.Equal(snap.Taken) {
			t.Errorf("%s: namespace %q taken %v", ref, got.Namespace, got.Taken)
		}
		if diff := cmp.Diff(objects(snap), objects(got)); diff != "" {
			t.Errorf("%s: objects (-pushed +pulled):\n%s", ref, diff)
		}
	}
	// Anything else at a reference is refused, not misread as a backup.
	other, _ := name.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/backups/shop:nope")
	if _, err := backup.Pull(ctx, other); err == nil {
		t.Fatal("Pull of a missing tag succeeded")
	}
}

func objects(s *backup.Snapshot) []map[string]any {
	var out []map[string]any
	for _, o := range s.Objects {
		out = append(out, o.Object)
	}
	return out
}
