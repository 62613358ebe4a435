package kube

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
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
	for _, want := range []string{"go.mod", "go.sum", "cmd/slipway-deploy/main.go", "deploy/apply.go", "deploy/manifest/manifest.go", "pipeline/pipeline.go"} {
		if !slices.Contains(names, want) {
			t.Errorf("the archive lacks %s", want)
		}
	}
	if !slices.IsSorted(names) {
		t.Error("the archive's entries are not sorted")
	}
	t.Logf("%d files, %d bytes of base64", len(names), len(a))
}
