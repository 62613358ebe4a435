package kube

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"io"
	"slices"
	"testing"
)

// TestToolSourceArchive: the archive holds what the tool is built from,
// stays small enough for one API call, and is the same bytes every time
// (so Dagger's cache keys on the source).
func TestToolSourceArchive(t *testing.T) {
	a := toolSourceArchive()
	raw, err := base64.StdEncoding.DecodeString(a)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) > 4<<20 {
		t.Errorf("the archive is %d bytes of base64; keep the embedded source small", len(a))
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.IsZero() && h.ModTime.Unix() != 0 {
			t.Errorf("%s has a modification time %v: the archive would differ between builds", h.Name, h.ModTime)
		}
		names = append(names, h.Name)
	}
	for _, want := range []string{"go.mod", "go.sum", "cmd/slipway-deploy/main.go", "cmd/slipway-deploy/sources.go", "cmd/slipway-evidence/main.go", "deploy/evidence/evidence.go", "deploy/apply.go", "deploy/helm/helm.go", "deploy/gitops/gitops.go", "deploy/manifest/manifest.go", "pipeline/pipeline.go"} {
		if !slices.Contains(names, want) {
			t.Errorf("the archive lacks %s", want)
		}
	}
	if !slices.IsSorted(names) {
		t.Error("the archive's entries are not sorted")
	}
	t.Logf("%d files, %d bytes of base64", len(names), len(a))
}

// TestTargetNamesOneSource: a target deploys from exactly one source, said
// before any container is built.
func TestTargetNamesOneSource(t *testing.T) {
	tests := []struct {
		name   string
		target Target
		want   string
	}{
		{"none", Target{}, "deploy-staging: nothing to deploy: name the manifests (a directory of YAML or a kustomize overlay in the source), a Helm chart or a GitOps repository"},
		{"two", Target{Manifests: "k8s", Helm: &Helm{Chart: "chart"}}, "deploy-staging: the target names more than one of manifests, a Helm chart and a GitOps repository: deploy from one source"},
		{"manifests without source", Target{Manifests: "k8s"}, "deploy-staging: no source directory: the manifests is a path in it"},
		{"helm without chart", Target{Helm: &Helm{}}, "deploy-staging: no Helm chart: name a chart directory or .tgz in the source, or oci://HOST/REPO/NAME:VERSION"},
		{"chart without source", Target{Helm: &Helm{Chart: "chart"}}, "deploy-staging: no source directory: the chart is a path in it"},
		{"gitops without repository", Target{GitOps: &GitOps{Application: "app"}}, "deploy-staging: no GitOps repository: name its clone URL (https://, http:// or ssh://)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := tt.target.source(context.Background(), "deploy-staging", nil)
			if err == nil || err.Error() != tt.want {
				t.Errorf("source() = %v, want %q", err, tt.want)
			}
		})
	}
}
