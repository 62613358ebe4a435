package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/slipway-ci/slipway/examples/deployai/internal/manifest"
	"github.com/slipway-ci/slipway/examples/deployai/internal/metrics"
)

// fakeGen is a Generator whose answer the test chooses; it can block until
// released, to hold a request in flight.
type fakeGen struct {
	err     error
	release chan struct{}
	entered chan struct{}
}

func (f *fakeGen) Name() string { return "fake" }

func (f *fakeGen) Generate(ctx context.Context, r manifest.Request) (manifest.Manifest, error) {
	if f.entered != nil {
		f.entered <- struct{}{}
	}
	if f.release != nil {
		<-f.release
	}
	if f.err != nil {
		return manifest.Manifest{}, f.err
	}
	return manifest.Manifest{YAML: "kind: Deployment\n", Objects: []manifest.Object{{Kind: "Deployment", Name: r.Name}}}, nil
}

func template(t *testing.T) manifest.Generator {
	t.Helper()
	g, err := manifest.NewTemplate(manifest.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// readyServer returns a warmed-up server on gen.
func readyServer(t *testing.T, gen manifest.Generator) (*Server, *metrics.Metrics) {
	t.Helper()
	m := metrics.New()
	s := New(gen, m)
	if err := s.Warm(context.Background()); err != nil {
		t.Fatalf("Warm: %v", err)
	}
	return s, m
}

func do(t *testing.T, h http.Handler, method, path, contentType, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

const jsonCT = "application/json"

func TestRoutes(t *testing.T) {
	tests := []struct {
		name       string
		gen        manifest.Generator // nil: the real template generator
		method     string
		path       string
		ct         string
		body       string
		wantCode   int
		wantBody   string // substring
		wantRoute  string
		wantReason string // "" when no error is counted
		wantLLM    string // outcome counted, "" for no generator call
	}{
		{name: "health", method: "GET", path: "/health", wantCode: 200, wantBody: `"ok"`, wantRoute: "/health"},
		{name: "ready", method: "GET", path: "/ready", wantCode: 200, wantBody: `"ready"`, wantRoute: "/ready"},
		{name: "generate", method: "POST", path: "/api/v1/generate", ct: jsonCT,
			body:     `{"name":"web","image":"nginx:1.27","port":80}`,
			wantCode: 200, wantBody: `"objects":[{"kind":"Deployment","name":"web"},{"kind":"Service","name":"web"}]`,
			wantRoute: "/api/v1/generate", wantLLM: metrics.OutcomeSuccess},
		{name: "generate without content type", method: "POST", path: "/api/v1/generate",
			body: `{"name":"web","image":"nginx"}`, wantCode: 200, wantBody: `kind: Deployment`,
			wantRoute: "/api/v1/generate", wantLLM: metrics.OutcomeSuccess},
		{name: "generate with charset", method: "POST", path: "/api/v1/generate", ct: "application/json; charset=utf-8",
			body: `{"name":"web","image":"nginx"}`, wantCode: 200, wantRoute: "/api/v1/generate", wantLLM: metrics.OutcomeSuccess},
		{name: "invalid request", method: "POST", path: "/api/v1/generate", ct: jsonCT,
			body: `{"name":"Bad_Name","image":"nginx"}`, wantCode: 422, wantBody: `name \"Bad_Name\"`,
			wantRoute: "/api/v1/generate", wantReason: ReasonInvalidRequest, wantLLM: metrics.OutcomeRejected},
		{name: "malformed JSON", method: "POST", path: "/api/v1/generate", ct: jsonCT,
			body: `{"name":`, wantCode: 400, wantBody: "request body", wantRoute: "/api/v1/generate", wantReason: ReasonBadRequest},
		{name: "unknown field", method: "POST", path: "/api/v1/generate", ct: jsonCT,
			body: `{"name":"w","image":"x","prompt":"make it fast"}`, wantCode: 400, wantBody: `unknown field \"prompt\"`,
			wantRoute: "/api/v1/generate", wantReason: ReasonBadRequest},
		{name: "trailing data", method: "POST", path: "/api/v1/generate", ct: jsonCT,
			body: `{"name":"w","image":"x"} {}`, wantCode: 400, wantBody: "trailing data",
			wantRoute: "/api/v1/generate", wantReason: ReasonBadRequest},
		{name: "too large", method: "POST", path: "/api/v1/generate", ct: jsonCT,
			body: `{"name":"w","image":"` + strings.Repeat("x", MaxBodyBytes) + `"}`, wantCode: 413,
			wantRoute: "/api/v1/generate", wantReason: ReasonTooLarge},
		{name: "form content type", method: "POST", path: "/api/v1/generate", ct: "application/x-www-form-urlencoded",
			body: `name=w`, wantCode: 415, wantRoute: "/api/v1/generate", wantReason: ReasonUnsupportedMedia},
		{name: "GET generate", method: "GET", path: "/api/v1/generate", wantCode: 405, wantBody: "use POST",
			wantRoute: "/api/v1/generate", wantReason: ReasonMethodNotAllowed},
		{name: "generator failure", gen: &fakeGen{err: errors.New("upstream 529 overloaded")}, method: "POST", path: "/api/v1/generate", ct: jsonCT,
			body: `{"name":"w","image":"x"}`, wantCode: 502, wantBody: "the generator failed",
			wantRoute: "/api/v1/generate", wantReason: ReasonGenerator, wantLLM: metrics.OutcomeError},
		{name: "unknown path", method: "GET", path: "/admin", wantCode: 404, wantRoute: "unmatched", wantReason: ReasonNotFound},
		{name: "POST health", method: "POST", path: "/health", wantCode: 405, wantRoute: "unmatched", wantReason: ReasonMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gen := tt.gen
			if gen == nil {
				gen = template(t)
			}
			s, m := readyServer(t, gen)
			rec := do(t, s.Handler(), tt.method, tt.path, tt.ct, tt.body)
			if rec.Code != tt.wantCode {
				t.Fatalf("%s %s = %d, want %d; body %s", tt.method, tt.path, rec.Code, tt.wantCode, rec.Body)
			}
			if !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Errorf("body %s does not contain %s", rec.Body, tt.wantBody)
			}
			if got := testutil.ToFloat64(m.Requests.WithLabelValues(tt.wantRoute, tt.method, fmt.Sprint(tt.wantCode))); got != 1 {
				t.Errorf("requests_total{handler=%q,method=%q,code=%d} = %v, want 1", tt.wantRoute, tt.method, tt.wantCode, got)
			}
			if got := testutil.CollectAndCount(m.Duration); got != 1 {
				t.Errorf("request_duration_seconds has %d series, want 1", got)
			}
			wantErrs := 0
			if tt.wantReason != "" {
				wantErrs = 1
				if got := testutil.ToFloat64(m.Errors.WithLabelValues(tt.wantRoute, tt.wantReason)); got != 1 {
					t.Errorf("errors_total{handler=%q,reason=%q} = %v, want 1", tt.wantRoute, tt.wantReason, got)
				}
			}
			if got := testutil.CollectAndCount(m.Errors); got != wantErrs {
				t.Errorf("errors_total has %d series, want %d", got, wantErrs)
			}
			wantCalls := 0
			if tt.wantLLM != "" {
				wantCalls = 1
				if got := testutil.ToFloat64(m.LLMCalls.WithLabelValues(gen.Name(), tt.wantLLM)); got != 1 {
					t.Errorf("llm_api_calls_total{outcome=%q} = %v, want 1", tt.wantLLM, got)
				}
			}
			if got := testutil.CollectAndCount(m.LLMCalls); got != wantCalls {
				t.Errorf("llm_api_calls_total has %d series, want %d", got, wantCalls)
			}
			if tt.wantCode == 200 && tt.wantLLM == metrics.OutcomeSuccess {
				var got manifest.Manifest
				if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
					t.Fatalf("response is not a Manifest: %v", err)
				}
				for _, o := range got.Objects {
					if n := testutil.ToFloat64(m.Manifests.WithLabelValues(o.Kind)); n != 1 {
						t.Errorf("manifests_generated_total{kind=%q} = %v, want 1", o.Kind, n)
					}
				}
			} else if n := testutil.CollectAndCount(m.Manifests); n != 0 {
				t.Errorf("manifests_generated_total has %d series after a failed request", n)
			}
			if ct := rec.Header().Get("Content-Type"); tt.wantRoute != "unmatched" && ct != jsonCT {
				t.Errorf("Content-Type = %q, want %q", ct, jsonCT)
			}
		})
	}
}

func TestReadinessFollowsTheWarmup(t *testing.T) {
	release := make(chan struct{})
	s := New(template(t), metrics.New(), WithWarmup(func(ctx context.Context) error {
		<-release
		return nil
	}))
	ready := func() int { return do(t, s.Handler(), "GET", "/ready", "", "").Code }
	if got := ready(); got != 503 || s.State() != Starting {
		t.Fatalf("before warm-up: /ready = %d, state %v; want 503, starting", got, s.State())
	}
	if got := do(t, s.Handler(), "GET", "/health", "", "").Code; got != 200 {
		t.Errorf("before warm-up: /health = %d, want 200", got)
	}
	if got := do(t, s.Handler(), "POST", "/api/v1/generate", jsonCT, `{"name":"w","image":"x"}`).Code; got != 503 {
		t.Errorf("before warm-up: generate = %d, want 503", got)
	}
	done := make(chan error)
	go func() { done <- s.Warm(context.Background()) }()
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := ready(); got != 200 {
		t.Fatalf("after warm-up: /ready = %d, want 200", got)
	}
}

func TestWarmFailure(t *testing.T) {
	s := New(template(t), metrics.New(), WithWarmup(func(context.Context) error { return errors.New("catalog unreadable") }))
	err := s.Warm(context.Background())
	if err == nil || !strings.Contains(err.Error(), "warm-up: catalog unreadable") {
		t.Fatalf("Warm = %v, want the warm-up's error", err)
	}
	if s.State() != Starting {
		t.Errorf("state after a failed warm-up = %v, want starting", s.State())
	}
}

func TestStateString(t *testing.T) {
	for st, want := range map[State]string{Starting: "starting", Ready: "ready", Draining: "draining", State(7): "State(7)"} {
		if got := st.String(); got != want {
			t.Errorf("State(%d).String() = %q, want %q", int32(st), got, want)
		}
	}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGracefulShutdown drives Serve over real sockets: readiness turns 503
// first while the server still serves, a request in flight finishes, and
// only then the listeners close.
func TestGracefulShutdown(t *testing.T) {
	gen := &fakeGen{release: make(chan struct{}), entered: make(chan struct{}, 1)}
	const drain = 300 * time.Millisecond
	s := New(gen, metrics.New(), WithDrainDelay(drain), WithShutdownTimeout(5*time.Second))
	apiLn, metLn := listen(t), listen(t)
	base, metURL := "http://"+apiLn.Addr().String(), "http://"+metLn.Addr().String()+"/metrics"

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, apiLn, metLn) }()
	waitFor(t, "ready", func() bool { c, _ := get(t, base+"/ready"); return c == 200 })

	// A request in flight when the shutdown starts.
	var wg sync.WaitGroup
	var inflightCode int
	wg.Add(1)
	go func() {
		defer wg.Done()
		resp, err := http.Post(base+"/api/v1/generate", jsonCT, strings.NewReader(`{"name":"slow","image":"x"}`))
		if err != nil {
			t.Errorf("in-flight request: %v", err)
			return
		}
		resp.Body.Close()
		inflightCode = resp.StatusCode
	}()
	<-gen.entered

	start := time.Now()
	cancel()
	waitFor(t, "readiness to fail", func() bool { return s.State() == Draining })
	if c, body := get(t, base+"/ready"); c != 503 || !strings.Contains(body, "draining") {
		t.Errorf("while draining: /ready = %d %s, want 503 draining", c, body)
	}
	if c, _ := get(t, base+"/health"); c != 200 {
		t.Errorf("while draining: /health = %d, want 200 (a draining pod must not be restarted)", c)
	}
	if c, body := get(t, metURL); c != 200 || !strings.Contains(body, metrics.RequestsTotal) {
		t.Errorf("while draining: /metrics = %d, want 200 with %s", c, metrics.RequestsTotal)
	}
	close(gen.release)

	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve returned %v, want nil after a clean shutdown", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	wg.Wait()
	if inflightCode != 200 {
		t.Errorf("in-flight request finished with %d, want 200", inflightCode)
	}
	if elapsed := time.Since(start); elapsed < drain {
		t.Errorf("shut down after %v, before the %v drain delay", elapsed, drain)
	}
	if c, _ := get(t, base+"/health"); c != 0 {
		t.Errorf("after Serve returned, /health still answers %d", c)
	}
}

func TestServeStopsOnWarmupFailure(t *testing.T) {
	s := New(template(t), metrics.New(), WithDrainDelay(time.Hour),
		WithWarmup(func(context.Context) error { return errors.New("no catalog") }))
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background(), listen(t), listen(t)) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "no catalog") {
			t.Fatalf("Serve = %v, want the warm-up error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve kept running after its warm-up failed (or waited out the drain delay)")
	}
}

func TestListenAndServeBadAddress(t *testing.T) {
	s := New(template(t), metrics.New())
	taken := listen(t)
	defer taken.Close()
	for _, tt := range []struct{ name, api, met, want string }{
		{"api port taken", taken.Addr().String(), "127.0.0.1:0", "api listener"},
		{"metrics port taken", "127.0.0.1:0", taken.Addr().String(), "metrics listener"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := s.ListenAndServe(context.Background(), tt.api, tt.met)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ListenAndServe = %v, want an error about the %s", err, tt.want)
			}
		})
	}
}
