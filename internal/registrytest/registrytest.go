// Package registrytest serves go-containerregistry's in-memory registry
// (pkg/registry) to tests: Serve and PushRandom give a test its own
// registry with the referrers API and a fresh image in it; New puts one
// behind HTTP basic auth, for tests of what a push with the wrong
// credentials leaves behind.
//
// Every request is recorded with whether it got through, so a test can
// assert that a refused push reached the registry (the failure is the
// credentials, not the network) and that nothing was written: no blob
// upload (POST, PATCH, PUT under /blobs/uploads/), no manifest or tag (PUT
// under /manifests/).
package registrytest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net/http"
	"sync"

	"github.com/google/go-containerregistry/pkg/registry"
)

// Realm is the realm of the Basic challenge the registry answers with.
const Realm = "slipway-test"

// Request is one request the registry received.
type Request struct {
	Method string
	Path   string
	// User is the basic-auth user the request named ("" without
	// credentials).
	User string
	// Authorized says whether the credentials were right, so that the
	// request reached the registry.
	Authorized bool
}

// Write reports whether the request changes the registry: an upload, a
// manifest or tag, or a deletion.
func (r Request) Write() bool {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

func (r Request) String() string {
	verdict := "refused"
	if r.Authorized {
		verdict = "served"
	}
	return fmt.Sprintf("%s %s (user %q, %s)", r.Method, r.Path, r.User, verdict)
}

// Registry is an http.Handler: go-containerregistry's registry for the one
// user it was made for, 401 with a Basic challenge for everyone else.
type Registry struct {
	user, password string
	next           http.Handler

	mu       sync.Mutex
	requests []Request
}

// New returns a registry that requires user and password. Its manifests
// and blobs live in memory for the Registry's lifetime.
func New(user, password string) *Registry {
	return &Registry{user: user, password: password, next: registry.New(
		// pkg/registry logs every request, which Requests already holds.
		registry.Logger(log.New(io.Discard, "", 0)))}
}

// RandomPassword returns a password no earlier run used, so that a Dagger
// secret made from it never hits a cached result.
func RandomPassword() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ServeHTTP records the request and serves it if its credentials are right.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	u, p, ok := req.BasicAuth()
	authorized := ok &&
		subtle.ConstantTimeCompare([]byte(u), []byte(r.user)) == 1 &&
		subtle.ConstantTimeCompare([]byte(p), []byte(r.password)) == 1
	r.mu.Lock()
	r.requests = append(r.requests, Request{Method: req.Method, Path: req.URL.Path, User: u, Authorized: authorized})
	r.mu.Unlock()
	if !authorized {
		// What a registry with htpasswd auth answers (distribution's
		// error format), so clients report it as they would in CI.
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", Realm))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
		return
	}
	r.next.ServeHTTP(w, req)
}

// Requests returns the requests received so far, in order.
func (r *Registry) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.requests...)
}

// Writes returns the requests so far that got through and change the
// registry.
func (r *Registry) Writes() []Request {
	var out []Request
	for _, req := range r.Requests() {
		if req.Authorized && req.Write() {
			out = append(out, req)
		}
	}
	return out
}
