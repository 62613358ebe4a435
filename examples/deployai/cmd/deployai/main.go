// Command deployai is the example service of slipway's reference pipeline:
// a Go rendition of the seed's MTS Deploy AI, which turns a deployment
// request into Kubernetes manifests.
//
// It serves the API and the probes on -addr (default :8080; /health,
// /ready, POST /api/v1/generate) and Prometheus metrics on -metrics-addr
// (default :9090, /metrics). Every flag can also be set by the environment
// variable named in its help; the flag wins. LOG_LEVEL is debug, info, warn
// or error (any case). SIGTERM or SIGINT starts a graceful shutdown.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/slipway-ci/slipway/examples/deployai/internal/manifest"
	"github.com/slipway-ci/slipway/examples/deployai/internal/metrics"
	"github.com/slipway-ci/slipway/examples/deployai/internal/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	go func() {
		// A second signal kills at once, as an impatient operator expects.
		<-ctx.Done()
		stop()
	}()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "deployai:", err)
		os.Exit(1)
	}
}

// config is the service's configuration after flags and environment.
type config struct {
	addr, metricsAddr string
	catalog           string
	level             slog.Level
	drain, timeout    time.Duration
}

// parseLevel reads LOG_LEVEL. It accepts only the four names, so that a
// typo stops the start instead of silently logging at the wrong level.
func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("LOG_LEVEL %q: want debug, info, warn or error", s)
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("deployai", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	var level, drain, timeout string
	fs.StringVar(&c.addr, "addr", env("DEPLOYAI_ADDR", ":8080"), "API and probes listen address (env DEPLOYAI_ADDR)")
	fs.StringVar(&c.metricsAddr, "metrics-addr", env("DEPLOYAI_METRICS_ADDR", ":9090"), "Prometheus metrics listen address (env DEPLOYAI_METRICS_ADDR)")
	fs.StringVar(&c.catalog, "config", env("DEPLOYAI_CONFIG", ""), "profile catalog JSON file; empty for the built-in one (env DEPLOYAI_CONFIG)")
	fs.StringVar(&level, "log-level", env("LOG_LEVEL", "info"), "debug, info, warn or error (env LOG_LEVEL)")
	fs.StringVar(&drain, "drain-delay", env("DEPLOYAI_DRAIN_DELAY", server.DefaultDrainDelay.String()), "how long to keep serving after readiness fails on shutdown (env DEPLOYAI_DRAIN_DELAY)")
	fs.StringVar(&timeout, "shutdown-timeout", env("DEPLOYAI_SHUTDOWN_TIMEOUT", server.DefaultShutdownTimeout.String()), "how long to wait for requests in flight on shutdown (env DEPLOYAI_SHUTDOWN_TIMEOUT)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	var err error
	if c.level, err = parseLevel(level); err != nil {
		return config{}, err
	}
	for _, d := range []struct {
		name string
		in   string
		out  *time.Duration
	}{{"drain-delay", drain, &c.drain}, {"shutdown-timeout", timeout, &c.timeout}} {
		v, err := time.ParseDuration(d.in)
		if err != nil || v < 0 {
			return config{}, fmt.Errorf("-%s %q: want a non-negative duration such as 5s", d.name, d.in)
		}
		*d.out = v
	}
	return c, nil
}

// run is main without the process: it returns instead of exiting, so the
// tests can drive it.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	c, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: c.level}))

	catalog := manifest.DefaultCatalog()
	if c.catalog != "" {
		if catalog, err = manifest.LoadCatalog(c.catalog); err != nil {
			return err
		}
	}
	gen, err := manifest.NewTemplate(catalog)
	if err != nil {
		return err
	}
	srv := server.New(gen, metrics.New(),
		server.WithLogger(log),
		server.WithDrainDelay(c.drain),
		server.WithShutdownTimeout(c.timeout),
	)
	log.Info("starting", "addr", c.addr, "metrics_addr", c.metricsAddr, "generator", gen.Name(), "log_level", c.level.String())
	return srv.ListenAndServe(ctx, c.addr, c.metricsAddr)
}
