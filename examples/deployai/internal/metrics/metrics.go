// Package metrics holds the service's Prometheus collectors, named as in the
// seed (section 4.1, "Application metrics"): mts_deploy_ai_requests_total,
// mts_deploy_ai_request_duration_seconds, mts_deploy_ai_errors_total,
// mts_deploy_ai_llm_api_calls_total and mts_deploy_ai_manifests_generated_total.
//
// The collectors live on their own registry rather than the process-global
// default, so tests can build as many services as they like and assert on
// exact values.
package metrics

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every application metric. The alert rules and the
// Grafana dashboard in examples/deployai/deploy query these names.
const Namespace = "mts_deploy_ai"

// Metric names, for the dashboard's and the tests' cross-checks.
const (
	RequestsTotal           = Namespace + "_requests_total"
	RequestDurationSeconds  = Namespace + "_request_duration_seconds"
	ErrorsTotal             = Namespace + "_errors_total"
	LLMAPICallsTotal        = Namespace + "_llm_api_calls_total"
	ManifestsGeneratedTotal = Namespace + "_manifests_generated_total"
)

// Outcomes of a generator call, the values of the "outcome" label:
// success, rejected (the request was at fault) or error (the generator was).
const (
	OutcomeSuccess  = "success"
	OutcomeRejected = "rejected"
	OutcomeError    = "error"
)

// Metrics is the service's set of collectors and the registry that serves
// them.
type Metrics struct {
	reg *prometheus.Registry

	// Requests counts HTTP requests by handler (the route pattern, so the
	// label's cardinality is bounded), method and status code.
	Requests *prometheus.CounterVec
	// Duration observes request latency by handler and method.
	Duration *prometheus.HistogramVec
	// Errors counts failed requests by handler and reason (for example
	// "invalid_request", "generator", "method_not_allowed").
	Errors *prometheus.CounterVec
	// LLMCalls counts calls to the manifest generator, which is the LLM in
	// the seed, by generator and outcome.
	LLMCalls *prometheus.CounterVec
	// Manifests counts generated Kubernetes objects by kind.
	Manifests *prometheus.CounterVec
}

// New registers the collectors, with the Go runtime and process collectors
// beside them (the dashboard's resource panel reads process_* when cAdvisor
// is not there), on a fresh registry.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "requests_total",
			Help: "HTTP requests handled, by route, method and status code.",
		}, []string{"handler", "method", "code"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "request_duration_seconds",
			Help: "HTTP request latency in seconds, by route and method.",
			// From 1 ms to 10 s: manifest generation is fast here, but the
			// seed's LLM calls take seconds, and P99 must stay readable.
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"handler", "method"}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "errors_total",
			Help: "Failed requests, by route and reason.",
		}, []string{"handler", "reason"}),
		LLMCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "llm_api_calls_total",
			Help: "Calls to the manifest generator (the LLM API in production), by generator and outcome.",
		}, []string{"generator", "outcome"}),
		Manifests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "manifests_generated_total",
			Help: "Kubernetes objects generated, by kind.",
		}, []string{"kind"}),
	}
	m.reg.MustRegister(
		m.Requests, m.Duration, m.Errors, m.LLMCalls, m.Manifests,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry returns the registry the collectors are on, for tests that
// gather from it.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ObserveRequest records one finished HTTP request.
func (m *Metrics) ObserveRequest(handler, method string, code int, seconds float64) {
	m.Requests.WithLabelValues(handler, method, strconv.Itoa(code)).Inc()
	m.Duration.WithLabelValues(handler, method).Observe(seconds)
}
