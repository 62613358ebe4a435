// Package server is the deployai HTTP service: the API and probes on one
// listener, Prometheus metrics on another, a start-up warm-up that gates
// readiness, and a graceful shutdown that fails readiness before it drains.
//
// The order of the shutdown is what makes rolling updates lose no request
// on Kubernetes: on SIGTERM /ready turns 503 at once, the server keeps
// serving for the drain delay while the endpoints controller takes the pod
// out of its Service, and only then stops accepting and waits for the
// requests in flight.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/slipway-ci/slipway/examples/deployai/internal/manifest"
	"github.com/slipway-ci/slipway/examples/deployai/internal/metrics"
)

// State is where the server is in its life: starting (warming up), ready,
// or draining (shutting down). Only ready answers /ready with 200.
type State int32

// The states, in the order a server goes through them.
const (
	Starting State = iota
	Ready
	Draining
)

// String returns the state as /ready reports it.
func (s State) String() string {
	switch s {
	case Starting:
		return "starting"
	case Ready:
		return "ready"
	case Draining:
		return "draining"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// Warmer is implemented by generators with start-up work to do before the
// service may take traffic; Serve calls Warm before it reports ready.
type Warmer interface {
	Warm(ctx context.Context) error
}

// Defaults for the options. The drain delay and the shutdown timeout add up
// to less than Kubernetes' default 30 s termination grace period.
const (
	DefaultDrainDelay      = 5 * time.Second
	DefaultShutdownTimeout = 20 * time.Second
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes = 1 << 20
)

// Server is the service. Build it with New; it is safe for concurrent use.
type Server struct {
	gen     manifest.Generator
	met     *metrics.Metrics
	log     *slog.Logger
	warmup  func(context.Context) error
	drain   time.Duration
	timeout time.Duration

	state atomic.Int32
	api   http.Handler
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithDrainDelay sets how long the server keeps serving after readiness
// turns 503 and before it stops accepting connections.
func WithDrainDelay(d time.Duration) Option { return func(s *Server) { s.drain = d } }

// WithShutdownTimeout bounds the wait for requests in flight at shutdown.
func WithShutdownTimeout(d time.Duration) Option { return func(s *Server) { s.timeout = d } }

// WithWarmup replaces the start-up work (by default the generator's Warm,
// when it is a Warmer). Readiness waits for it; its error stops Serve.
func WithWarmup(f func(context.Context) error) Option { return func(s *Server) { s.warmup = f } }

// New returns a server generating with gen and recording into m.
func New(gen manifest.Generator, m *metrics.Metrics, opts ...Option) *Server {
	s := &Server{
		gen:     gen,
		met:     m,
		log:     slog.New(slog.DiscardHandler),
		drain:   DefaultDrainDelay,
		timeout: DefaultShutdownTimeout,
	}
	if w, ok := gen.(Warmer); ok {
		s.warmup = w.Warm
	}
	for _, o := range opts {
		o(s)
	}
	s.api = s.routes()
	return s
}

// State returns the server's current state.
func (s *Server) State() State { return State(s.state.Load()) }

// Handler returns the API and probe handler (the :8080 listener's).
func (s *Server) Handler() http.Handler { return s.api }

// MetricsHandler returns the Prometheus handler (the :9090 listener's).
func (s *Server) MetricsHandler() http.Handler { return s.met.Handler() }

// Warm runs the start-up work and marks the server ready. Serve calls it;
// tests that use Handler alone call it themselves.
func (s *Server) Warm(ctx context.Context) error {
	start := time.Now()
	if s.warmup != nil {
		if err := s.warmup(ctx); err != nil {
			return fmt.Errorf("server: warm-up: %w", err)
		}
	}
	if s.state.CompareAndSwap(int32(Starting), int32(Ready)) {
		s.log.Info("ready", "warmup", time.Since(start).String())
	}
	return nil
}

// ListenAndServe listens on the two addresses and calls Serve.
func (s *Server) ListenAndServe(ctx context.Context, apiAddr, metricsAddr string) error {
	var lc net.ListenConfig
	apiLn, err := lc.Listen(ctx, "tcp", apiAddr)
	if err != nil {
		return fmt.Errorf("server: api listener: %w", err)
	}
	metLn, err := lc.Listen(ctx, "tcp", metricsAddr)
	if err != nil {
		_ = apiLn.Close()
		return fmt.Errorf("server: metrics listener: %w", err)
	}
	return s.Serve(ctx, apiLn, metLn)
}

// Serve serves the API on apiLn and the metrics on metricsLn until ctx is
// done, then shuts down gracefully: readiness fails first, the drain delay
// passes, then both servers stop and in-flight requests finish (up to the
// shutdown timeout). The probes answer from the first moment, /ready with
// 503 until the warm-up is done. A warm-up or listener failure stops the
// servers at once and is returned.
func (s *Server) Serve(ctx context.Context, apiLn, metricsLn net.Listener) error {
	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)
	api := &http.Server{
		Handler:           s.api,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          errLog,
	}
	met := &http.Server{
		Handler:           s.met.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          errLog,
	}
	s.log.Info("listening", "api", apiLn.Addr().String(), "metrics", metricsLn.Addr().String())

	errc := make(chan error, 3)
	serve := func(name string, srv *http.Server, ln net.Listener) {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("server: %s: %w", name, err)
		}
	}
	go serve("api", api, apiLn)
	go serve("metrics", met, metricsLn)

	warmCtx, cancelWarm := context.WithCancel(ctx)
	defer cancelWarm()
	go func() {
		if err := s.Warm(warmCtx); err != nil && warmCtx.Err() == nil {
			errc <- err
		}
	}()

	var failed error
	select {
	case <-ctx.Done():
	case failed = <-errc:
	}
	cancelWarm()
	s.state.Store(int32(Draining))

	if failed == nil && s.drain > 0 {
		s.log.Info("draining: readiness is failing, still serving", "delay", s.drain.String())
		time.Sleep(s.drain)
	}
	s.log.Info("shutting down", "timeout", s.timeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	// The API first, so that a last scrape after it still sees its counts.
	errAPI := api.Shutdown(sctx)
	if errAPI != nil {
		errAPI = fmt.Errorf("server: api shutdown: %w", errAPI)
	}
	errMet := met.Shutdown(sctx)
	if errMet != nil {
		errMet = fmt.Errorf("server: metrics shutdown: %w", errMet)
	}
	if err := errors.Join(failed, errAPI, errMet); err != nil {
		return err
	}
	s.log.Info("stopped")
	return nil
}
