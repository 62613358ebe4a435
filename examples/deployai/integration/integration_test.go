//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"sigs.k8s.io/yaml"

	"github.com/slipway-ci/slipway/examples/deployai/internal/manifest"
	"github.com/slipway-ci/slipway/examples/deployai/internal/metrics"
	"github.com/slipway-ci/slipway/examples/deployai/internal/server"
)

// Environment naming the service under test.
const (
	EnvURL          = "DEPLOYAI_URL"
	EnvMetricsURL   = "DEPLOYAI_METRICS_URL"
	EnvReadyTimeout = "DEPLOYAI_READY_TIMEOUT" // a Go duration; default 60s
)

var (
	apiURL, metricsURL string
	client             = &http.Client{Timeout: 10 * time.Second}
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	apiURL = strings.TrimSuffix(os.Getenv(EnvURL), "/")
	metricsURL = strings.TrimSuffix(os.Getenv(EnvMetricsURL), "/")
	switch {
	case apiURL != "" && metricsURL != "":
		fmt.Fprintf(os.Stderr, "integration: testing the service at %s (metrics %s)\n", apiURL, metricsURL)
	case apiURL != "" || metricsURL != "":
		fmt.Fprintf(os.Stderr, "integration: set both %s and %s, or neither to start the service in-process\n", EnvURL, EnvMetricsURL)
		return 2
	default:
		stop, err := startInProcess()
		if err != nil {
			fmt.Fprintln(os.Stderr, "integration:", err)
			return 1
		}
		defer stop()
		fmt.Fprintf(os.Stderr, "integration: %s unset; testing an in-process service at %s (metrics %s)\n", EnvURL, apiURL, metricsURL)
	}
	timeout := 60 * time.Second
	if v := os.Getenv(EnvReadyTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			fmt.Fprintf(os.Stderr, "integration: %s=%q: %v\n", EnvReadyTimeout, v, err)
			return 2
		}
		timeout = d
	}
	if err := waitReady(timeout); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	return m.Run()
}

// startInProcess serves the real service on two free loopback ports.
func startInProcess() (stop func(), err error) {
	gen, err := manifest.NewTemplate(manifest.DefaultCatalog())
	if err != nil {
		return nil, err
	}
	apiLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	metLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		apiLn.Close()
		return nil, err
	}
	apiURL, metricsURL = "http://"+apiLn.Addr().String(), "http://"+metLn.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	srv := server.New(gen, metrics.New(), server.WithDrainDelay(0))
	go func() { done <- srv.Serve(ctx, apiLn, metLn) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "integration: in-process service:", err)
		}
	}, nil
}

// waitReady polls /ready: a fresh container is still warming up.
func waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for time.Now().Before(deadline) {
		resp, err := client.Get(apiURL + "/ready")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("%s/ready did not answer 200 within %v (last: %s)", apiURL, timeout, last)
}

func call(t *testing.T, method, url, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return resp.StatusCode, resp.Header, b
}

func TestProbes(t *testing.T) {
	for _, tt := range []struct{ path, status string }{
		{"/health", "ok"},
		{"/ready", "ready"},
	} {
		t.Run(tt.path, func(t *testing.T) {
			code, hdr, body := call(t, "GET", apiURL+tt.path, "")
			if code != http.StatusOK {
				t.Fatalf("GET %s = %d %s, want 200", tt.path, code, body)
			}
			if ct := hdr.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var got struct{ Status string }
			if err := json.Unmarshal(body, &got); err != nil || got.Status != tt.status {
				t.Errorf("GET %s body = %s, want status %q", tt.path, body, tt.status)
			}
		})
	}
}

// scrape reads /metrics as Prometheus would.
func scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	code, hdr, body := call(t, "GET", metricsURL+"/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", code)
	}
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("/metrics Content-Type = %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// value is the sample of family name whose labels include want, 0 when
// there is none yet (a counter vector shows a series only once used).
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	var sum float64
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			if got[k] != v {
				match = false
				break
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		}
	}
	return sum
}

// TestGenerateIsCounted calls the API and checks both the answer and what
// the metrics say about it, by the difference between two scrapes (the
// service may have served others before).
func TestGenerateIsCounted(t *testing.T) {
	before := scrape(t)

	code, _, body := call(t, "POST", apiURL+"/api/v1/generate",
		`{"name":"checkout","namespace":"shop","image":"registry.example/checkout:1.4.2","port":8080,"replicas":2}`)
	if code != http.StatusOK {
		t.Fatalf("generate = %d %s, want 200", code, body)
	}
	var m manifest.Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("generate answer is not a manifest: %v", err)
	}
	docs := strings.Split(m.YAML, "---\n")
	if len(docs) != 2 || len(m.Objects) != 2 {
		t.Fatalf("got %d documents and objects %v, want a Deployment and a Service", len(docs), m.Objects)
	}
	for i, kind := range []string{"Deployment", "Service"} {
		var obj struct {
			Kind     string
			Metadata struct{ Name, Namespace string }
		}
		if err := yaml.Unmarshal([]byte(docs[i]), &obj); err != nil {
			t.Fatalf("document %d does not parse: %v", i, err)
		}
		if obj.Kind != kind || obj.Metadata.Name != "checkout" || obj.Metadata.Namespace != "shop" {
			t.Errorf("document %d = %s %s/%s, want %s shop/checkout", i, obj.Kind, obj.Metadata.Namespace, obj.Metadata.Name, kind)
		}
	}

	code, _, body = call(t, "POST", apiURL+"/api/v1/generate", `{"name":"Not A Name","image":"x"}`)
	if code != http.StatusUnprocessableEntity || !strings.Contains(string(body), "Not A Name") {
		t.Fatalf("invalid request = %d %s, want 422 naming the field", code, body)
	}

	after := scrape(t)
	for _, name := range []string{
		metrics.RequestsTotal, metrics.RequestDurationSeconds, metrics.ErrorsTotal,
		metrics.LLMAPICallsTotal, metrics.ManifestsGeneratedTotal,
	} {
		if after[name] == nil {
			t.Errorf("/metrics has no %s", name)
		}
	}
	route := map[string]string{"handler": "/api/v1/generate"}
	for _, tt := range []struct {
		name   string
		labels map[string]string
		delta  float64
	}{
		{metrics.RequestsTotal, map[string]string{"handler": "/api/v1/generate", "code": "200"}, 1},
		{metrics.RequestsTotal, map[string]string{"handler": "/api/v1/generate", "code": "422"}, 1},
		{metrics.RequestDurationSeconds, route, 2},
		{metrics.ErrorsTotal, map[string]string{"handler": "/api/v1/generate", "reason": "invalid_request"}, 1},
		{metrics.LLMAPICallsTotal, map[string]string{"outcome": metrics.OutcomeSuccess}, 1},
		{metrics.LLMAPICallsTotal, map[string]string{"outcome": metrics.OutcomeRejected}, 1},
		{metrics.ManifestsGeneratedTotal, map[string]string{"kind": "Deployment"}, 1},
		{metrics.ManifestsGeneratedTotal, map[string]string{"kind": "Service"}, 1},
	} {
		if got := value(after, tt.name, tt.labels) - value(before, tt.name, tt.labels); got != tt.delta {
			t.Errorf("%s%v grew by %v, want %v", tt.name, tt.labels, got, tt.delta)
		}
	}
}

func TestUnknownPath(t *testing.T) {
	code, _, _ := call(t, "GET", apiURL+"/admin", "")
	if code != http.StatusNotFound {
		t.Fatalf("GET /admin = %d, want 404", code)
	}
}
