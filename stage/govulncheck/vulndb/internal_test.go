package vulndb

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSemverCompare(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"0.3.7", "0.3.8", -1}, {"0.3.10", "0.3.9", 1}, {"1.0.0", "1.0.0", 0},
		{"1.0.0-rc.1", "1.0.0", -1}, {"1.0.0-alpha", "1.0.0-alpha.1", -1},
		{"1.0.0-alpha.1", "1.0.0-alpha.beta", -1}, {"1.0.0-beta.11", "1.0.0-beta.2", 1},
		{"0.0.0-20220101000000-abcdef", "0.0.1", -1}, {"2.0.0+incompatible", "2.0.0", 0},
	} {
		if got := semverCompare(tt.a, tt.b); got != tt.want {
			t.Errorf("semverCompare(%s, %s) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
	if !semverLess("", "0.0.1") || semverLess("0.0.1", "") {
		t.Error(`"" must sort first`)
	}
}

func TestPseudoVersionTime(t *testing.T) {
	if got := pseudoVersionTime(DefaultVersion); !got.Equal(time.Date(2026, 11, 5, 23, 49, 57, 0, time.UTC)) {
		t.Errorf("got %s", got)
	}
	if got := pseudoVersionTime("v1.2.3"); !got.IsZero() {
		t.Errorf("a release has no time, got %s", got)
	}
}

// TestWriteLayout: the fixes and reintroductions the index records, on a
// small directory of entries.
func TestWriteLayout(t *testing.T) {
	src := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("GO-1.json", `{"id":"GO-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"name":"m"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.2.0"},{"introduced":"1.3.0"},{"fixed":"1.3.4"}]}]}]}`)
	write("GO-2.json", `{"id":"GO-2","modified":"0001-01-01T00:00:00Z","affected":[{"package":{"name":"m"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.0"},{"introduced":"2.0.0"}]}]}]}`)
	write("README.md", "not an entry")
	dst := t.TempDir()
	fallback := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	st, err := writeLayout(src, dst, fallback)
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries != 2 || st.Modules != 1 || !st.Modified.Equal(fallback) {
		t.Errorf("stats %+v", st)
	}
	b, _ := os.ReadFile(filepath.Join(dst, "index", "modules.json"))
	want := `[{"path":"m","vulns":[{"id":"GO-1","modified":"2024-01-01T00:00:00Z","fixed":"1.3.4"},{"id":"GO-2","modified":"2025-01-01T00:00:00Z"}]}]`
	if string(b) != want {
		t.Errorf("modules.json:\n%s\nwant\n%s", b, want)
	}
	write("GO-3.json", `{"id":"GO-4"}`)
	if _, err := writeLayout(src, t.TempDir(), fallback); err == nil || !strings.Contains(err.Error(), `GO-3.json holds entry "GO-4"`) {
		t.Errorf("a misnamed entry: err = %v", err)
	}
	if _, err := writeLayout(t.TempDir(), t.TempDir(), fallback); err == nil || !strings.Contains(err.Error(), "holds no OSV entries") {
		t.Errorf("an empty directory: err = %v", err)
	}
}

// TestEmbeddedProgram: the source Directory compiles in a Go container
// builds here too, as package main with only the standard library.
func TestEmbeddedProgram(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":    "module vulndblayout\n\ngo 1.22\n",
		"layout.go": strings.Replace(layoutSource, "package vulndb", "package main", 1),
		"main.go":   mainSource,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "build", "-o", os.DevNull, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the embedded program does not build: %v\n%s", err, out)
	}
}
