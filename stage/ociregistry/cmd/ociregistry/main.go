// Command ociregistry is the tool container of stage/ociregistry:
//
//	ociregistry serve :5000            go-containerregistry's registry, with
//	                                   basic auth when REGISTRY_USERNAME and
//	                                   REGISTRY_PASSWORD are set
//	ociregistry push IMAGE.tar REF     push an OCI tarball, print REF@sha256:...
//	ociregistry list REGISTRY          print the registry's repositories
//
// push and list read REGISTRY_USERNAME and REGISTRY_PASSWORD, and talk plain
// HTTP to hosts listed in REGISTRY_INSECURE (comma-separated).
//
// When the registry answers 401 or 403, the tool exits with one of the
// exit codes below and prints only the registry's own error messages, if
// any, so that the library can say what went wrong without guessing from
// text, and whether the registry had accepted uploads before it refused.
package main

import (
	"archive/tar"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The exit codes stage/ociregistry's Push reads (keep them in step).
const (
	exitUnauthorized = 3 // 401 before any upload: the credentials are missing or wrong
	exitDenied       = 4 // 403 before any upload: valid credentials without the permission
	// The same refusals after the registry had accepted uploads: blobs
	// may be stored, but no manifest or tag was written.
	exitUnauthorizedAfterUploads = 5
	exitDeniedAfterUploads       = 6
)

// writes counts the requests the registry accepted that change it.
var writes countingTransport

func main() {
	err := run(os.Args[1:])
	if err == nil {
		return
	}
	if code, says, ok := refusal(err, writes.n.Load()); ok {
		fmt.Fprintln(os.Stderr, says)
		os.Exit(code)
	}
	fmt.Fprintln(os.Stderr, "ociregistry:", err)
	os.Exit(1)
}

// refusal returns the exit code and the registry's own messages when err is
// the registry's 401 or 403, given how many writes it had accepted.
func refusal(err error, accepted int64) (code int, says string, ok bool) {
	var terr *transport.Error
	if !errors.As(err, &terr) || (terr.StatusCode != http.StatusUnauthorized && terr.StatusCode != http.StatusForbidden) {
		return 0, "", false
	}
	var msgs []string
	for _, d := range terr.Errors {
		msgs = append(msgs, d.String())
	}
	code = exitUnauthorized
	if terr.StatusCode == http.StatusForbidden {
		code = exitDenied
	}
	if accepted > 0 {
		code += exitUnauthorizedAfterUploads - exitUnauthorized
	}
	return code, strings.Join(msgs, "; "), true
}

func run(args []string) error {
	user, pass := os.Getenv("REGISTRY_USERNAME"), os.Getenv("REGISTRY_PASSWORD")
	switch {
	case len(args) == 2 && args[0] == "serve":
		var h http.Handler = registry.New(registry.Logger(log.New(os.Stderr, "", 0)))
		if user != "" {
			h = basicAuth(h, user, pass)
		}
		return http.ListenAndServe(args[1], h)
	case len(args) == 3 && args[0] == "push":
		ref, err := name.ParseReference(args[2], nameOpts(args[2])...)
		if err != nil {
			return err
		}
		img, err := tarball.ImageFromPath(args[1], nil)
		if err != nil {
			return fmt.Errorf("reading %s: %w", args[1], err)
		}
		// remote.Write's first request with credentials is a manifest
		// HEAD: a wrong password stops the push before any upload. writes
		// tells apart a registry that refuses only later, such as on the
		// manifest's PUT.
		writes.base = remote.DefaultTransport
		if err := remote.Write(ref, img, remote.WithAuth(auth(user, pass)), remote.WithTransport(&writes)); err != nil {
			return fmt.Errorf("pushing %s: %w", ref, err)
		}
		d, err := img.Digest()
		if err != nil {
			return err
		}
		fmt.Println(ref.Context().Name() + "@" + d.String())
		return nil
	case len(args) == 3 && args[0] == "push-index":
		ref, err := name.ParseReference(args[2], nameOpts(args[2])...)
		if err != nil {
			return err
		}
		idx, err := indexFromTarball(args[1])
		if err != nil {
			return fmt.Errorf("reading %s: %w", args[1], err)
		}
		writes.base = remote.DefaultTransport
		if err := remote.WriteIndex(ref, idx, remote.WithAuth(auth(user, pass)), remote.WithTransport(&writes)); err != nil {
			return fmt.Errorf("pushing %s: %w", ref, err)
		}
		d, err := idx.Digest()
		if err != nil {
			return err
		}
		fmt.Println(ref.Context().Name() + "@" + d.String())
		return nil
	case len(args) == 2 && args[0] == "list":
		reg, err := name.NewRegistry(args[1], nameOpts(args[1])...)
		if err != nil {
			return err
		}
		repos, err := remote.Catalog(context.Background(), reg, remote.WithAuth(auth(user, pass)))
		if err != nil {
			return err
		}
		for _, r := range repos {
			fmt.Println(r)
		}
		return nil
	}
	return fmt.Errorf("usage: ociregistry serve ADDR | push IMAGE.tar REF | push-index LAYOUT.tar REF | list REGISTRY")
}

// indexFromTarball reads the multi-platform index of an OCI layout in a
// tarball, as Dagger's Container.asTarball writes one with platform
// variants: the layout's index.json names the image index, or the
// platforms' manifests directly.
func indexFromTarball(path string) (v1.ImageIndex, error) {
	dir, err := os.MkdirTemp("", "layout")
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		target := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return nil, err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return nil, err
			}
			out, err := os.Create(target)
			if err != nil {
				return nil, err
			}
			if _, err := io.Copy(out, tr); err != nil {
				out.Close()
				return nil, err
			}
			if err := out.Close(); err != nil {
				return nil, err
			}
		}
	}
	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, err
	}
	man, err := top.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(man.Manifests) == 1 && man.Manifests[0].MediaType.IsIndex() {
		return top.ImageIndex(man.Manifests[0].Digest)
	}
	return top, nil
}

func auth(user, pass string) authn.Authenticator {
	if user == "" {
		return authn.Anonymous
	}
	return &authn.Basic{Username: user, Password: pass}
}

func nameOpts(ref string) []name.Option {
	host, _, _ := strings.Cut(ref, "/")
	for _, h := range strings.Split(os.Getenv("REGISTRY_INSECURE"), ",") {
		if h != "" && h == host {
			return []name.Option{name.Insecure}
		}
	}
	return nil
}

// countingTransport counts the requests that a registry accepted and that
// change it (a 2xx answer to POST, PATCH or PUT: an upload, a blob, a
// manifest). It sits under go-containerregistry's auth transport, so it
// sees every request as sent.
type countingTransport struct {
	base http.RoundTripper
	n    atomic.Int64
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err == nil && resp.StatusCode/100 == 2 {
		switch r.Method {
		case http.MethodPost, http.MethodPatch, http.MethodPut:
			t.n.Add(1)
		}
	}
	return resp, err
}

// basicAuth answers 401 with a Basic challenge to every request without
// the right credentials, the way a registry with htpasswd auth does.
func basicAuth(next http.Handler, user, pass string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(user)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(pass)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="slipway"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		next.ServeHTTP(w, r)
	})
}
