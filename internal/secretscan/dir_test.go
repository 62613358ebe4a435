package secretscan_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/internal/secretscan"
)

type file struct {
	name string
	body []byte
	link string // a symlink when set
}

func tarOf(t testing.TB, files ...file) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg}
		if f.link != "" {
			h = &tar.Header{Name: f.name, Linkname: f.link, Typeflag: tar.TypeSymlink}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zipOf(t testing.TB, files ...file) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		w, err := zw.Create(f.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(f.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeTree(t testing.TB, root string, files ...file) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(root, f.name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if f.link != "" {
			err = os.Symlink(f.link, p)
		} else {
			err = os.WriteFile(p, f.body, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// places returns "where encoding" for each finding, where relative to root.
func places(root string, found secretscan.Findings) []string {
	var out []string
	for _, f := range found {
		out = append(out, strings.TrimPrefix(f.Where, root+string(filepath.Separator))+" "+f.Encoding)
	}
	return out
}

// TestDir plants the value in files, names and archives nested the way CI
// artifacts are (a GitLab artifacts zip holding a tarball, an act artifact
// .tar.gz holding a gzipped report), next to clean copies of each.
func TestDir(t *testing.T) {
	s := newScanner(t, secret)
	clean := []byte("all good\n")
	leakyConf := []byte("password=" + secret + "\n")
	innerTgz := gz(tarOf(t,
		file{name: "etc/clean.conf", body: clean},
		file{name: "etc/app.conf", body: leakyConf},
	))
	artifactsZip := zipOf(t,
		file{name: "reports/junit.xml", body: []byte(`<testsuite tests="3"/>`)},
		file{name: "bundle.tgz", body: innerTgz},
	)
	actTgz := gz(tarOf(t,
		file{name: "x/summary.json.gz", body: gz([]byte(`{"dump":"` + hex.EncodeToString([]byte(secret)) + `"}`))},
		file{name: "x/clean.txt", body: clean},
		file{name: "x/link", link: "/run/" + secret},
	))
	root := t.TempDir()
	writeTree(t, root,
		file{name: "logs/build.log", body: []byte("step 1/3\nstep 2/3\n")},
		file{name: "logs/deploy.log", body: []byte(jsonString(secret, true))},
		file{name: "artifacts/job.zip", body: artifactsZip},
		file{name: "artifacts/act.tar.gz", body: actTgz},
		file{name: "artifacts/plain.tar", body: tarOf(t, file{name: "a.txt", body: clean})},
		file{name: "out/" + secret + ".txt", body: clean},
		file{name: "out/current", link: "../" + secret},
	)

	found, err := s.Dir(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"artifacts/act.tar.gz!/x/link (link target) raw",
		"artifacts/act.tar.gz!/x/summary.json.gz hex",
		"artifacts/job.zip!/bundle.tgz!/etc/app.conf raw",
		"logs/deploy.log json-escaped",
		"out/<redacted>.txt (name) raw",
		"out/current (link target) raw",
	}
	if got := places(root, found); !slices.Equal(got, want) {
		t.Errorf("Dir found\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if err := found.Err(); err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("Err() = %v, want an error that does not show the secret", err)
	}

	// The same archives without the value: nothing.
	cleanRoot := t.TempDir()
	writeTree(t, cleanRoot,
		file{name: "logs/build.log", body: clean},
		file{name: "artifacts/job.zip", body: zipOf(t, file{name: "bundle.tgz", body: gz(tarOf(t, file{name: "etc/app.conf", body: clean}))})},
		file{name: "artifacts/act.tar.gz", body: gz(tarOf(t, file{name: "x/summary.json.gz", body: gz(clean)}))},
	)
	found, err = s.Dir(cleanRoot)
	if err != nil || len(found) != 0 {
		t.Errorf("clean tree: %v, %v; want nothing", found, err)
	}

	// A symlink to the tree as root: the same findings, named through it.
	link := filepath.Join(t.TempDir(), "latest")
	if err := os.Symlink(root, link); err != nil {
		t.Fatal(err)
	}
	found, err = s.Dir(link)
	if err != nil {
		t.Fatal(err)
	}
	if got := places(link, found); !slices.Equal(got, want) {
		t.Errorf("Dir(symlink) found %q, want %q", got, want)
	}

	// File searches one file the same way.
	found, err = s.File(filepath.Join(root, "artifacts/job.zip"))
	if err != nil || len(found) != 1 || !strings.HasSuffix(found[0].Where, "job.zip!/bundle.tgz!/etc/app.conf") {
		t.Errorf("File: %v, %v", found, err)
	}
}

// TestDirFailsClosed: a leak test must not pass because a file could not
// be read.
func TestDirFailsClosed(t *testing.T) {
	s := newScanner(t, secret)
	root := t.TempDir()
	writeTree(t, root, file{name: "a.zip", body: []byte("PK\x03\x04 truncated")})
	if _, err := s.Dir(root); err == nil || !strings.Contains(err.Error(), "a.zip") {
		t.Errorf("truncated zip: %v, want an error naming it", err)
	}
	// A gzipped log cut short far past its header.
	big := gz(bytes.Repeat([]byte("0123456789abcdef\n"), 1<<16))
	broken := t.TempDir()
	writeTree(t, broken, file{name: "job.log.gz", body: big[:len(big)/2]})
	if _, err := s.Dir(broken); err == nil || !strings.Contains(err.Error(), "job.log.gz") {
		t.Errorf("truncated gzip: %v, want an error naming it", err)
	}
	if _, err := s.Dir(filepath.Join(root, "missing")); err == nil {
		t.Error("missing root: no error")
	}
}

func TestDirSkip(t *testing.T) {
	s := newScanner(t, secret)
	leak := []byte("x " + secret)
	root := t.TempDir()
	writeTree(t, root,
		file{name: ".git/ORIG_HEAD", body: leak},
		file{name: "sub/.git/config", body: leak},
		file{name: "build/cache/a", body: leak},
		file{name: "other/build/cache/a", body: leak},
		file{name: "logs/job.log", body: leak},
	)
	for _, tc := range []struct {
		skip []string
		want []string
	}{
		{nil, []string{".git/ORIG_HEAD raw", "build/cache/a raw", "logs/job.log raw", "other/build/cache/a raw", "sub/.git/config raw"}},
		{[]string{".git", "build/cache"}, []string{"logs/job.log raw", "other/build/cache/a raw"}},
		{[]string{"*"}, nil},
	} {
		found, err := s.Dir(root, secretscan.Skip(tc.skip...))
		if err != nil {
			t.Fatal(err)
		}
		if got := places(root, found); !slices.Equal(got, tc.want) {
			t.Errorf("Skip(%q): found %q, want %q", tc.skip, got, tc.want)
		}
	}
	if _, err := s.Dir(root, secretscan.Skip("[")); err == nil {
		t.Error(`Skip("["): no error`)
	}
}
