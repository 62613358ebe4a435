package command_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/command"
	"github.com/slipway-ci/slipway/pipeline/goservice"
)

func define() (*pipeline.Pipeline, error) {
	return goservice.Pipeline("shop", goservice.Registry("registry.example.com/shop"))
}

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := command.Run(context.Background(), args, define, &out, &out)
	return out.String(), err
}

func TestGenerateThenCheck(t *testing.T) {
	root := t.TempDir()
	if _, err := run(t, "check", "-root", root); err == nil || !strings.Contains(err.Error(), "slipway generate") {
		t.Fatalf("check before generate: err = %v, want the drift naming slipway generate", err)
	}
	out, err := run(t, "generate", "-root", root)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "wrote .gitlab-ci.yml") || !strings.Contains(out, "wrote .github/workflows/ci.yml") {
		t.Errorf("generate printed %q", out)
	}
	out, err = run(t, "check", "-root", root)
	if err != nil {
		t.Fatalf("check after generate: %v", err)
	}
	if !strings.Contains(out, ".gitlab-ci.yml: up to date, lint clean") {
		t.Errorf("check printed %q", out)
	}
	// A hand edit is drift.
	p := filepath.Join(root, ".gitlab-ci.yml")
	data, _ := os.ReadFile(p)
	os.WriteFile(p, append(data, "# edited\n"...), 0o644)
	if _, err := run(t, "check", "-root", root); err == nil {
		t.Error("check passed a hand-edited file")
	}
}

func TestGraph(t *testing.T) {
	out, err := run(t, "graph", "-root", t.TempDir())
	if err != nil || !strings.Contains(out, "flowchart") || !strings.Contains(out, "deploy_production") {
		t.Errorf("graph = %q, %v", out, err)
	}
	out, err = run(t, "graph", "-dot", "-root", t.TempDir())
	if err != nil || !strings.Contains(out, "digraph") {
		t.Errorf("graph -dot = %q, %v", out, err)
	}
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no command"},
		{[]string{"deploy"}, `unknown command "deploy": generate, check, graph or run`},
		{[]string{"run", "-root", "."}, "run: name the job to run (it has: build, sbom, test:unit, test:integration, security:trivy, security:govulncheck, security:sast, deploy:staging, deploy:production)"},
		{[]string{"run", "lint", "-root", "."}, `run: the pipeline has no job "lint"`},
		{[]string{"graph", "-colour", "-root", "."}, "graph: flag provided but not defined: -colour"},
	} {
		_, err := run(t, tc.args...)
		if err == nil || !errors.Is(err, command.ErrUsage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want a usage error containing %q", tc.args, err, tc.want)
		}
	}
}
