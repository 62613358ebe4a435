package server

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/slipway-ci/slipway/examples/deployai/internal/manifest"
	"github.com/slipway-ci/slipway/examples/deployai/internal/metrics"
)

// Routes of the API listener.
const (
	PathHealth   = "/health"
	PathReady    = "/ready"
	PathGenerate = "/api/v1/generate"
)

// unmatched is the handler label of requests no route matched, so that
// scanners probing random paths cannot grow the metrics without bound.
const unmatched = "unmatched"

// Reasons of mts_deploy_ai_errors_total.
const (
	ReasonNotFound         = "not_found"
	ReasonMethodNotAllowed = "method_not_allowed"
	ReasonUnsupportedMedia = "unsupported_media_type"
	ReasonTooLarge         = "too_large"
	ReasonBadRequest       = "bad_request"
	ReasonInvalidRequest   = "invalid_request"
	ReasonNotReady         = "not_ready"
	ReasonGenerator        = "generator"
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathHealth, s.health)
	mux.HandleFunc("GET "+PathReady, s.ready)
	// No method in the pattern: the handler answers 405 itself, so the
	// error is counted under its own route rather than as unmatched.
	mux.HandleFunc(PathGenerate, s.generate)
	return s.instrument(mux)
}

// instrument records every request's count and latency under its route.
func (s *Server) instrument(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		route := unmatched
		if _, pattern := mux.Handler(r); pattern != "" {
			// "GET /health" -> "/health": the method has its own label.
			route = pattern[strings.LastIndexByte(pattern, ' ')+1:]
		}
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		mux.ServeHTTP(rec, r)
		if route == unmatched {
			reason := ReasonNotFound
			if rec.code == http.StatusMethodNotAllowed {
				reason = ReasonMethodNotAllowed
			}
			s.met.Errors.WithLabelValues(unmatched, reason).Inc()
		}
		elapsed := time.Since(start)
		s.met.ObserveRequest(route, r.Method, rec.code, elapsed.Seconds())
		s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "route", route, "code", rec.code, "duration", elapsed.String())
	})
}

// health is the liveness probe: the process serves HTTP. It stays 200 while
// draining, so Kubernetes does not restart a pod that is shutting down.
func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// ready is the readiness probe: 200 only between warm-up and shutdown.
func (s *Server) ready(w http.ResponseWriter, _ *http.Request) {
	st := s.State()
	code := http.StatusOK
	if st != Ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]string{"status": st.String()})
}

// generate is POST /api/v1/generate: a manifest.Request in, a
// manifest.Manifest out, one generator ("LLM") call in between.
func (s *Server) generate(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.fail(w, r, PathGenerate, http.StatusMethodNotAllowed, ReasonMethodNotAllowed, "use POST")
		return
	}
	if s.State() == Starting {
		s.fail(w, r, PathGenerate, http.StatusServiceUnavailable, ReasonNotReady, "warming up, retry shortly")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			s.fail(w, r, PathGenerate, http.StatusUnsupportedMediaType, ReasonUnsupportedMedia, "content type must be application/json, got "+ct)
			return
		}
	}
	var req manifest.Request
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(&req)
	if err == nil && dec.Decode(new(json.RawMessage)) != io.EOF {
		err = errors.New("trailing data after the JSON object")
	}
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.fail(w, r, PathGenerate, http.StatusRequestEntityTooLarge, ReasonTooLarge, err.Error())
			return
		}
		s.fail(w, r, PathGenerate, http.StatusBadRequest, ReasonBadRequest, "request body: "+err.Error())
		return
	}

	m, err := s.gen.Generate(r.Context(), req)
	switch {
	case errors.Is(err, manifest.ErrInvalid):
		s.met.LLMCalls.WithLabelValues(s.gen.Name(), metrics.OutcomeRejected).Inc()
		s.fail(w, r, PathGenerate, http.StatusUnprocessableEntity, ReasonInvalidRequest, err.Error())
		return
	case err != nil:
		s.met.LLMCalls.WithLabelValues(s.gen.Name(), metrics.OutcomeError).Inc()
		s.log.Error("generator failed", "generator", s.gen.Name(), "name", req.Name, "err", err)
		s.fail(w, r, PathGenerate, http.StatusBadGateway, ReasonGenerator, "the generator failed")
		return
	}
	s.met.LLMCalls.WithLabelValues(s.gen.Name(), metrics.OutcomeSuccess).Inc()
	for _, o := range m.Objects {
		s.met.Manifests.WithLabelValues(o.Kind).Inc()
	}
	s.log.Info("manifest generated", "name", req.Name, "namespace", req.Namespace, "objects", len(m.Objects))
	writeJSON(w, http.StatusOK, m)
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error string `json:"error"`
}

// fail answers with an error and counts it.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, route string, code int, reason, msg string) {
	s.met.Errors.WithLabelValues(route, reason).Inc()
	level := slog.LevelWarn
	if code >= 500 {
		level = slog.LevelError
	}
	s.log.Log(r.Context(), level, "request failed", "route", route, "code", code, "reason", reason, "msg", msg)
	writeJSON(w, code, ErrorBody{Error: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the client may be gone; nothing to do about it
}

// statusRecorder remembers the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	code    int
	written bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.written {
		r.code, r.written = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.written = true
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
