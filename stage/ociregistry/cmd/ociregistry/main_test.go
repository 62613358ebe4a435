package main

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// push refuses with the exit code the library reads: a wrong password
// before anything is written, and a registry that checks only the
// manifest after it accepted the blobs.
func TestPushRefusals(t *testing.T) {
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	tar := filepath.Join(t.TempDir(), "image.tar")
	if err := tarball.WriteToFile(tar, name.MustParseReference("example.com/app:v1"), img); err != nil {
		t.Fatal(err)
	}
	// requireAuth wraps the registry, asking for ci:right on the requests
	// guarded says.
	requireAuth := func(guarded func(*http.Request) bool) http.Handler {
		reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, _ := r.BasicAuth(); guarded(r) && (u != "ci" || p != "right") {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
				return
			}
			reg.ServeHTTP(w, r)
		})
	}
	every := func(*http.Request) bool { return true }
	manifestPut := func(r *http.Request) bool {
		return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/")
	}

	for _, tc := range []struct {
		name     string
		guarded  func(*http.Request) bool
		password string
		want     int // 0: success
	}{
		{"right password", every, "right", 0},
		{"wrong password", every, "wrong", exitUnauthorized},
		{"no password", every, "", exitUnauthorized},
		{"refused at the manifest", manifestPut, "wrong", exitUnauthorizedAfterUploads},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(requireAuth(tc.guarded))
			defer srv.Close()
			host := strings.TrimPrefix(srv.URL, "http://")
			t.Setenv("REGISTRY_USERNAME", "ci")
			t.Setenv("REGISTRY_PASSWORD", tc.password)
			t.Setenv("REGISTRY_INSECURE", host)
			writes.n.Store(0)
			err := run([]string{"push", tar, host + "/team/app:v1"})
			code, says, ok := refusal(err, writes.n.Load())
			switch {
			case tc.want == 0 && err != nil:
				t.Fatalf("push: %v", err)
			case tc.want != 0 && (!ok || code != tc.want):
				t.Fatalf("push: err = %v, exit code %d (refusal %v), want %d", err, code, ok, tc.want)
			case tc.want != 0 && strings.Contains(says, tc.password) && tc.password != "":
				t.Errorf("the refusal repeats the password: %q", says)
			}
		})
	}

	// Any other failure is not a refusal.
	if _, _, ok := refusal(run([]string{"push", tar, "127.0.0.1:1/team/app:v1"}), 0); ok {
		t.Error("a connection failure was taken for a refusal")
	}
}
