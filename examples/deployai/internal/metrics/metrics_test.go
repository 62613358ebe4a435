package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestNames pins the seed's metric names and their types: the alert rules
// and the Grafana dashboard in examples/deployai/deploy query them by name.
func TestNames(t *testing.T) {
	m := New()
	m.ObserveRequest("/health", "GET", 200, 0.003)
	m.Errors.WithLabelValues("/api/v1/generate", "bad_request").Inc()
	m.LLMCalls.WithLabelValues("template", OutcomeSuccess).Inc()
	m.Manifests.WithLabelValues("Deployment").Inc()

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, tt := range []struct{ name, typ string }{
		{RequestsTotal, "counter"},
		{RequestDurationSeconds, "histogram"},
		{ErrorsTotal, "counter"},
		{LLMAPICallsTotal, "counter"},
		{ManifestsGeneratedTotal, "counter"},
		{"go_goroutines", "gauge"},
		{"process_cpu_seconds_total", "counter"},
	} {
		if want := "# TYPE " + tt.name + " " + tt.typ + "\n"; !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", strings.TrimSpace(want))
		}
	}
	if !strings.Contains(string(body), `mts_deploy_ai_requests_total{code="200",handler="/health",method="GET"} 1`) {
		t.Errorf("requests_total sample missing or mislabelled:\n%s", body)
	}
	for _, want := range []string{
		`mts_deploy_ai_request_duration_seconds_bucket{handler="/health",method="GET",le="0.0025"} 0`,
		`mts_deploy_ai_request_duration_seconds_bucket{handler="/health",method="GET",le="0.005"} 1`,
		`mts_deploy_ai_request_duration_seconds_count{handler="/health",method="GET"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if got := testutil.ToFloat64(m.LLMCalls.WithLabelValues("template", OutcomeSuccess)); got != 1 {
		t.Errorf("llm_api_calls_total{outcome=success} = %v, want 1", got)
	}
}
