// Command ociregistry is the tool container of pipeline/ociregistry:
//
//	ociregistry serve :5000            go-containerregistry's registry, with
//	                                   basic auth when REGISTRY_USERNAME and
//	                                   REGISTRY_PASSWORD are set
//	ociregistry push IMAGE.tar REF     push an OCI tarball, print REF@sha256:...
//	ociregistry list REGISTRY          print the registry's repositories
//
// push and list read REGISTRY_USERNAME and REGISTRY_PASSWORD, and talk plain
// HTTP to hosts listed in REGISTRY_INSECURE (comma-separated).
package main

import (
	"context"
	"crypto/subtle"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ociregistry:", err)
		os.Exit(1)
	}
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
		// remote.Write authenticates before it uploads a blob: a wrong
		// password stops the push before anything reaches the registry.
		if err := remote.Write(ref, img, remote.WithAuth(auth(user, pass))); err != nil {
			return fmt.Errorf("pushing %s: %w", ref, err)
		}
		d, err := img.Digest()
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
	return fmt.Errorf("usage: ociregistry serve ADDR | push IMAGE.tar REF | list REGISTRY")
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
