package vulndb_test

import (
	"archive/tar"
	"io"

	"encoding/json"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/vulndbtest"
	"github.com/slipway-ci/slipway/stage/govulncheck/vulndb"
)

// TestRealDatabase builds the layout from the real golang.org/x/vulndb
// module (the proxy's copy at DefaultVersion) and checks it against the
// module's own data: every entry, the modules index and a known entry.
func TestRealDatabase(t *testing.T) {
	dir, st := vulndbtest.Dir(t)
	if st.Entries != 4789 {
		t.Errorf("%d entries, want the 4,789 of %s", st.Entries, vulndb.DefaultVersion)
	}
	want := time.Date(2026, 11, 5, 23, 49, 57, 0, time.UTC)
	if !st.Modified.Equal(want) {
		t.Errorf("modified %s, want the vulndb revision's time %s", st.Modified, want)
	}
	if st.Modules < 1000 {
		t.Errorf("only %d modules", st.Modules)
	}
	if _, err := os.Stat(filepath.Join(dir, "ID", "GO-2026-6917.json")); err != nil {
		t.Errorf("the newest entry is missing: %v", err)
	}
	e, err := vulndb.ReadEntry(dir, "GO-2022-1059")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(e.Aliases, "CVE-2022-32149") || len(e.Affected) != 1 || e.Affected[0].Package.Name != "golang.org/x/text" ||
		!slices.Contains(e.Affected[0].EcosystemSpecific.Imports[0].Symbols, "ParseAcceptLanguage") {
		t.Errorf("GO-2022-1059 is not the x/text ParseAcceptLanguage entry: %+v", e)
	}
	var mods []struct {
		Path  string `json:"path"`
		Vulns []struct {
			ID    string `json:"id"`
			Fixed string `json:"fixed"`
		} `json:"vulns"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "index", "modules.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &mods); err != nil {
		t.Fatal(err)
	}
	fixed := map[string]string{}
	for _, m := range mods {
		if m.Path == "golang.org/x/text" {
			for _, v := range m.Vulns {
				fixed[v.ID] = v.Fixed
			}
		}
	}
	if fixed["GO-2022-1059"] != "0.3.8" || fixed["GO-2021-0113"] != "0.3.7" {
		t.Errorf("golang.org/x/text's fixes in index/modules.json: %v", fixed)
	}
	var vulns []struct {
		ID string `json:"id"`
	}
	b, err = os.ReadFile(filepath.Join(dir, "index", "vulns.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &vulns); err != nil || len(vulns) != st.Entries {
		t.Errorf("index/vulns.json: %d entries (%v), want %d", len(vulns), err, st.Entries)
	}
}

func TestCheckVersion(t *testing.T) {
	for _, tt := range []struct{ version, err string }{
		{vulndb.DefaultVersion, ""},
		{"v0.0.0-20240101000000-abcdefabcdef", ""},
		{"latest", `vulndb: "latest" is not a version of golang.org/x/vulndb; pin one, such as ` + vulndb.DefaultVersion},
		{"master", `vulndb: "master" is not a version of golang.org/x/vulndb; pin one, such as ` + vulndb.DefaultVersion},
		{"v1.0.0/../x", `vulndb: "v1.0.0/../x" is not a version of golang.org/x/vulndb; pin one, such as ` + vulndb.DefaultVersion},
	} {
		err := vulndb.CheckVersion(tt.version)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.err {
			t.Errorf("CheckVersion(%q) = %q, want %q", tt.version, got, tt.err)
		}
	}
}

func TestImage(t *testing.T) {
	dir, st := vulndbtest.Dir(t)
	idx, err := vulndb.Image(dir, vulndb.DefaultVersion)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 2 || im.Annotations[vulndb.VersionAnnotation] != vulndb.DefaultVersion {
		t.Fatalf("index: %d manifests, annotations %v", len(im.Manifests), im.Annotations)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%d layers (%v), want 1", len(layers), err)
	}
	names := tarNames(t, layers[0])
	if names["vulndb/index/modules.json"] == 0 || names["vulndb/ID/GO-2022-1059.json"] == 0 {
		t.Errorf("the layer lacks the layout: %d files", len(names))
	}
	n := 0
	for name := range names {
		if strings.HasPrefix(name, "vulndb/ID/") && strings.HasSuffix(name, ".json") {
			n++
		}
	}
	if n != st.Entries {
		t.Errorf("the layer holds %d entries, the directory %d", n, st.Entries)
	}
	// The same directory gives the same digest: the mirror is not
	// reseeded for nothing.
	again, err := vulndb.Image(dir, vulndb.DefaultVersion)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := idx.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("digests differ: %s, %s", d1, d2)
	}
}

func tarNames(t *testing.T, l v1.Layer) map[string]int64 {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	out := map[string]int64{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = h.Size + 1
	}
}
