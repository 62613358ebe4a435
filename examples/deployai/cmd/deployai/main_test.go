package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    config
		wantErr string
	}{
		{name: "defaults", want: config{addr: ":8080", metricsAddr: ":9090", level: slog.LevelInfo, drain: 5 * time.Second, timeout: 20 * time.Second}},
		{name: "environment", env: map[string]string{
			"DEPLOYAI_ADDR": ":18080", "DEPLOYAI_METRICS_ADDR": ":19090", "DEPLOYAI_CONFIG": "/etc/c.json",
			"LOG_LEVEL": "DEBUG", "DEPLOYAI_DRAIN_DELAY": "0s", "DEPLOYAI_SHUTDOWN_TIMEOUT": "1m",
		}, want: config{addr: ":18080", metricsAddr: ":19090", catalog: "/etc/c.json", level: slog.LevelDebug, timeout: time.Minute}},
		{name: "flags win over the environment",
			args: []string{"-addr", ":1", "-metrics-addr", ":2", "-log-level", "error"},
			env:  map[string]string{"DEPLOYAI_ADDR": ":18080", "LOG_LEVEL": "debug"},
			want: config{addr: ":1", metricsAddr: ":2", level: slog.LevelError, drain: 5 * time.Second, timeout: 20 * time.Second}},
		{name: "the seed's INFO", env: map[string]string{"LOG_LEVEL": "INFO"},
			want: config{addr: ":8080", metricsAddr: ":9090", level: slog.LevelInfo, drain: 5 * time.Second, timeout: 20 * time.Second}},
		{name: "warning is warn", env: map[string]string{"LOG_LEVEL": "Warning"},
			want: config{addr: ":8080", metricsAddr: ":9090", level: slog.LevelWarn, drain: 5 * time.Second, timeout: 20 * time.Second}},
		{name: "invalid LOG_LEVEL", env: map[string]string{"LOG_LEVEL": "verbose"}, wantErr: `LOG_LEVEL "verbose": want debug, info, warn or error`},
		{name: "slog offsets are not accepted", env: map[string]string{"LOG_LEVEL": "INFO+2"}, wantErr: `LOG_LEVEL "INFO+2"`},
		{name: "negative drain", args: []string{"-drain-delay", "-1s"}, wantErr: `-drain-delay "-1s"`},
		{name: "bad timeout", env: map[string]string{"DEPLOYAI_SHUTDOWN_TIMEOUT": "soon"}, wantErr: `-shutdown-timeout "soon"`},
		{name: "stray argument", args: []string{"serve"}, wantErr: `unexpected arguments: ["serve"]`},
		{name: "unknown flag", args: []string{"-port", "80"}, wantErr: "flag provided but not defined: -port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			got, err := parseConfig(tt.args, envOf(tt.env), &stderr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseConfig error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseConfig: %v", err)
			}
			if got != tt.want {
				t.Errorf("parseConfig = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe to write from the server's goroutines
// while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunStartsAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-drain-delay", "0s"}, envOf(nil), &stderr)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(stderr.String(), `"msg":"ready"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no \"ready\" log line within 5s; log:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run = %v, want nil after a clean shutdown", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	if !strings.Contains(stderr.String(), `"msg":"stopped"`) {
		t.Errorf("no \"stopped\" log line:\n%s", stderr.String())
	}
}

func TestRunFailsFast(t *testing.T) {
	dir := t.TempDir()
	badCatalog := filepath.Join(dir, "catalog.json")
	if err := os.WriteFile(badCatalog, []byte(`{"default":"none","profiles":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"invalid LOG_LEVEL", nil, map[string]string{"LOG_LEVEL": "loud"}, `LOG_LEVEL "loud"`},
		{"missing catalog", []string{"-config", filepath.Join(dir, "none.json")}, nil, "no such file"},
		{"empty catalog", []string{"-config", badCatalog}, nil, "catalog has no profiles"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, envOf(tt.env), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestRunHelp(t *testing.T) {
	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, envOf(nil), &stderr); err != nil {
		t.Fatalf("run -h = %v, want nil", err)
	}
	for _, flag := range []string{"-addr", "-metrics-addr", "-log-level", "env LOG_LEVEL", "-drain-delay"} {
		if !strings.Contains(stderr.String(), flag) {
			t.Errorf("usage does not mention %s:\n%s", flag, stderr.String())
		}
	}
}
