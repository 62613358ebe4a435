package pipeline_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/slipway-ci/slipway/pipeline"
)

// release is a fake Dagger release served the way dl.dagger.io serves
// one: /dagger/releases/<version>/<archive> and .../checksums.txt.
type release struct {
	mu       sync.Mutex
	requests []string
	files    map[string][]byte
}

func (r *release) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.requests = append(r.requests, req.URL.Path)
	r.mu.Unlock()
	data, ok := r.files[req.URL.Path]
	if !ok {
		http.NotFound(w, req)
		return
	}
	w.Write(data)
}

// daggerArchive returns a tar.gz holding an executable "dagger" that prints
// version, as the release archives do.
func daggerArchive(t *testing.T, version string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	body := []byte("#!/bin/sh\necho \"dagger " + version + " (test release) linux/amd64\"\n")
	for _, f := range []struct {
		name string
		data []byte
	}{{"LICENSE", []byte("Apache-2.0\n")}, {"dagger", body}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o755, Size: int64(len(f.data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sha(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// toolDir returns a directory of symbolic links to the named host programs,
// so a script sees exactly these on PATH (no real dagger, and curl or not).
func toolDir(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		p, err := exec.LookPath(n)
		if err != nil {
			t.Skipf("%s is not installed: %v", n, err)
		}
		if err := os.Symlink(p, filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestDaggerInstall runs the generated install lines with a POSIX shell
// against a local copy of a release: they must install the CLI only when
// the archive matches the published checksum, and not download anything
// when the pinned version is already on PATH.
func TestDaggerInstall(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the install lines are for Linux runners")
	}
	const version = "v0.19.10"
	arch := map[string]string{"amd64": "amd64", "arm64": "arm64"}[runtime.GOARCH]
	if arch == "" {
		t.Skipf("no Dagger release for %s", runtime.GOARCH)
	}
	archiveName := "dagger_" + version + "_linux_" + arch + ".tar.gz"
	good := daggerArchive(t, version)
	base := []string{"sh", "grep", "sha256sum", "tar", "gzip", "mkdir", "rm", "mktemp", "uname", "cat"}

	for _, tc := range []struct {
		name      string
		archive   []byte
		checksums string
		fetcher   string
		preset    bool // the pinned version is already on PATH
		wantOK    bool
		wantFetch bool
	}{
		{name: "curl, good archive", archive: good, checksums: sha(good) + "  " + archiveName + "\n", fetcher: "curl", wantOK: true, wantFetch: true},
		{name: "wget, good archive", archive: good, checksums: "0000  dagger_" + version + "_windows_amd64.zip\n" + sha(good) + "  " + archiveName + "\n", fetcher: "wget", wantOK: true, wantFetch: true},
		{name: "tampered archive", archive: append(bytes.Clone(good), 0), checksums: sha(good) + "  " + archiveName + "\n", fetcher: "curl", wantFetch: true},
		{name: "archive missing from the checksums", archive: good, checksums: sha(good) + "  dagger_" + version + "_darwin_" + arch + ".tar.gz\n", fetcher: "curl", wantFetch: true},
		{name: "empty checksums", archive: good, checksums: "", fetcher: "curl", wantFetch: true},
		{name: "already installed", preset: true, fetcher: "curl", wantOK: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rel := &release{files: map[string][]byte{
				"/dagger/releases/0.19.10/" + archiveName: tc.archive,
				"/dagger/releases/0.19.10/checksums.txt":  []byte(tc.checksums),
			}}
			srv := httptest.NewServer(rel)
			defer srv.Close()
			home := t.TempDir()
			tools := toolDir(t, append(base, tc.fetcher)...)
			if tc.preset {
				bin := filepath.Join(home, ".local", "bin")
				if err := os.MkdirAll(bin, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(bin, "dagger"), []byte("#!/bin/sh\necho \"dagger "+version+" (preinstalled)\"\n"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			lines := pipeline.DaggerInstall(version)
			script := strings.ReplaceAll(strings.Join(lines, "\n"), "https://dl.dagger.io", srv.URL) + "\ndagger version\n"
			if strings.Contains(script, "dl.dagger.io") {
				t.Fatal("the test did not redirect every download")
			}
			cmd := exec.Command("sh", "-ec", script)
			cmd.Env = []string{"HOME=" + home, "PATH=" + tools}
			out, err := cmd.CombinedOutput()
			if ok := err == nil; ok != tc.wantOK {
				t.Fatalf("install succeeded: %v, want %v\n%s", ok, tc.wantOK, out)
			}
			_, statErr := os.Stat(filepath.Join(home, ".local", "bin", "dagger"))
			if installed := statErr == nil; installed != (tc.wantOK || tc.preset) {
				t.Errorf("dagger in $HOME/.local/bin: %v, want %v", installed, tc.wantOK || tc.preset)
			}
			if tc.wantOK && !strings.Contains(string(out), "dagger "+version+" (") {
				t.Errorf("dagger version printed %q", out)
			}
			if fetched := len(rel.requests) > 0; fetched != tc.wantFetch {
				t.Errorf("downloads %q, want some: %v", rel.requests, tc.wantFetch)
			}
			if strings.Contains(string(out), "| sh") {
				t.Errorf("the install pipes into a shell:\n%s", out)
			}
		})
	}
	for _, line := range pipeline.DaggerInstall(version) {
		if strings.Contains(line, "install.sh") || strings.Contains(line, "| sh") || strings.Contains(line, "| bash") {
			t.Errorf("install line runs a downloaded script: %s", line)
		}
	}
}
