package deploy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/slipway-ci/slipway/deploy"
)

// faultyAPIServer is a fake API server for fault injection: it answers
// the namespace check and the APIService list, and answers discovery as
// the test says (an error status, a hang, or a group whose aggregated
// server is down). It records every write, so a test can check that a
// failed discovery applied nothing.
type faultyAPIServer struct {
	discovery func(w http.ResponseWriter, r *http.Request) // nil: a healthy discovery
	down      string                                       // a group version path whose aggregated server answers 503
	release   chan struct{}                                // closed at the end of the test: ends hung requests

	mu     sync.Mutex
	writes []string
}

func (f *faultyAPIServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		f.mu.Lock()
		f.writes = append(f.writes, r.Method+" "+r.URL.Path)
		f.mu.Unlock()
		status(w, http.StatusForbidden, "writes are not expected")
		return
	}
	switch p := r.URL.Path; {
	case p == "/api/v1/namespaces/shop":
		reply(w, map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "shop"}})
	case p == "/apis/apiregistration.k8s.io/v1/apiservices":
		reply(w, map[string]any{"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIServiceList", "items": []any{
			apiService("v1.apps", "", "", "True", "Local", "Local APIServices are always available"),
			apiService("v1beta1.metrics.k8s.io", "kube-system", "metrics-server", "False", "FailedDiscoveryCheck", "failing or missing response from https://10.96.0.7:443/apis/metrics.k8s.io/v1beta1: context deadline exceeded"),
		}})
	case f.discovery != nil:
		f.discovery(w, r)
	case p == f.down:
		status(w, http.StatusServiceUnavailable, "service unavailable")
	case p == "/api":
		reply(w, map[string]any{"kind": "APIVersions", "versions": []string{"v1"}})
	case p == "/apis":
		reply(w, map[string]any{"kind": "APIGroupList", "apiVersion": "v1", "groups": []any{
			map[string]any{"name": "example.com", "versions": []any{map[string]any{"groupVersion": "example.com/v1", "version": "v1"}},
				"preferredVersion": map[string]any{"groupVersion": "example.com/v1", "version": "v1"}},
		}})
	case p == "/apis/example.com/v1":
		reply(w, map[string]any{"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "example.com/v1", "resources": []any{
			map[string]any{"name": "widgets", "singularName": "widget", "namespaced": true, "kind": "Widget", "verbs": []string{"get", "patch"}},
		}})
	default:
		status(w, http.StatusNotFound, "not found")
	}
}

func apiService(name, ns, svc, available, reason, msg string) map[string]any {
	spec := map[string]any{}
	if svc != "" {
		spec["service"] = map[string]any{"namespace": ns, "name": svc}
	}
	return map[string]any{"metadata": map[string]any{"name": name}, "spec": spec, "status": map[string]any{"conditions": []any{
		map[string]any{"type": "Available", "status": available, "reason": reason, "message": msg},
	}}}
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func status(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": msg, "code": code})
}

// hang holds a request until the client gives up or the test ends.
func (f *faultyAPIServer) hang(w http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-f.release:
	}
}

func (f *faultyAPIServer) start(t *testing.T) []byte {
	t.Helper()
	f.release = make(chan struct{})
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(f.release) }) // runs first: hung handlers return, so Close does not wait
	return []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: %q}}]
users: [{name: fake, user: {token: t}}]
contexts: [{name: fake, context: {cluster: fake, user: fake}}]
current-context: fake
`, srv.URL))
}

func TestDiscoveryFaults(t *testing.T) {
	widget := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "example.com/v1", "kind": "Widget", "metadata": map[string]any{"name": "w"},
	}}
	for _, tc := range []struct {
		name      string
		discovery func(f *faultyAPIServer) func(http.ResponseWriter, *http.Request)
		down      string
		ctxTime   time.Duration // the caller's deadline; 0: none
		want      []string
		maxTime   time.Duration
	}{
		{
			name: "discovery answers 503",
			discovery: func(*faultyAPIServer) func(http.ResponseWriter, *http.Request) {
				return func(w http.ResponseWriter, _ *http.Request) {
					status(w, http.StatusServiceUnavailable, "the server is currently unable to handle the request")
				}
			},
			want:    []string{"the API server's discovery failed while looking up kind Widget (example.com/v1)", "unable to handle the request", "APIService v1beta1.metrics.k8s.io is not Available (FailedDiscoveryCheck", "Service kube-system/metrics-server", "kubectl get apiservices"},
			maxTime: 3 * time.Second,
		},
		{
			name:      "discovery hangs",
			discovery: func(f *faultyAPIServer) func(http.ResponseWriter, *http.Request) { return f.hang },
			want:      []string{"the API server's discovery did not answer within 500ms while looking up kind Widget (example.com/v1)", "APIService v1beta1.metrics.k8s.io is not Available", "raise deploy.WithDiscoveryTimeout"},
			maxTime:   3 * time.Second,
		},
		{
			name:      "the caller's context ends first",
			discovery: func(f *faultyAPIServer) func(http.ResponseWriter, *http.Request) { return f.hang },
			ctxTime:   300 * time.Millisecond,
			want:      []string{"the API server's discovery had not answered when the deploy was stopped (context deadline exceeded)"},
			maxTime:   2 * time.Second,
		},
		{
			name:    "the kind's aggregated API server is down",
			down:    "/apis/example.com/v1",
			want:    []string{"discovery of example.com/v1 (for kind Widget) failed", "the aggregated API server behind it is down or broken", "APIService v1beta1.metrics.k8s.io is not Available"},
			maxTime: 3 * time.Second,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &faultyAPIServer{down: tc.down}
			if tc.discovery != nil {
				f.discovery = tc.discovery(f)
			}
			kubeconfig := f.start(t)
			env := deploy.Environment{Name: "staging", Namespace: "shop", Kubeconfig: deploy.KubeconfigBytes(kubeconfig)}
			c, err := deploy.New(context.Background(), env, deploy.WithDiscoveryTimeout(500*time.Millisecond), deploy.WithApplyRetry(0))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if tc.ctxTime > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.ctxTime)
				defer cancel()
			}
			start := time.Now()
			_, err = c.Deploy(ctx, deploy.Release{Bundle: append(bundle(bundleOpts{}), widget), Image: fakeImage("v1")})
			took := time.Since(start)
			t.Logf("failed after %s: %v", took, err)
			if !errors.Is(err, deploy.ErrDiscovery) {
				t.Fatalf("deploy: %v, want deploy.ErrDiscovery", err)
			}
			for _, w := range append(tc.want, `environment "staging"`, "Widget w") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q", w)
				}
			}
			if took > tc.maxTime {
				t.Errorf("took %s to fail, want at most %s", took, tc.maxTime)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.writes) != 0 {
				t.Errorf("a deploy with a broken discovery wrote %v: nothing may be applied before every kind is mapped", f.writes)
			}
		})
	}
}
