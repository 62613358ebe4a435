package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/slipway-ci/slipway/internal/e2e"
)

// tool returns the path of a binary the test needs: promtool comes from
// Debian's "prometheus" package, amtool from "prometheus-alertmanager";
// `make examples-tools` installs both.
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	e2e.Unavailable(t, fmt.Errorf("%s not found (Debian package %s; run `make examples-tools`): %w", name, pkg, err))
	return ""
}

func promtool(t *testing.T) string { return tool(t, "promtool", "prometheus") }
func amtool(t *testing.T) string   { return tool(t, "amtool", "prometheus-alertmanager") }

// run runs a tool and returns its combined output and error.
func run(t *testing.T, dir, bin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPromtoolCheckRules checks the rule file, and the rules as the
// PrometheusRule ships them (its spec is a rule file too); a broken file
// shows the check can fail.
func TestPromtoolCheckRules(t *testing.T) {
	bin := promtool(t)
	spec, err := yaml.Marshal(newBundle(t).PrometheusRule.Object["spec"])
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		file   string
		wantOK bool
		want   string
	}{
		{"rule file", "alerts.rules.yaml", true, "SUCCESS: 3 rules found"},
		{"PrometheusRule spec", writeTemp(t, "spec.yaml", spec), true, "SUCCESS: 3 rules found"},
		{"broken expression", writeTemp(t, "broken.yaml", []byte("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: rate(x[5m] > 1\n")), false, "FAILED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(t, ".", bin, "check", "rules", tt.file)
			if (err == nil) != tt.wantOK || !strings.Contains(out, tt.want) {
				t.Fatalf("promtool check rules %s: err %v, want ok=%v and %q in:\n%s", tt.name, err, tt.wantOK, tt.want, out)
			}
		})
	}
}

// TestPromtoolTestRules runs the alert unit tests in testdata: each alert
// fires after its 5m, for mts-deploy-ai pods only.
func TestPromtoolTestRules(t *testing.T) {
	bin := promtool(t)
	out, err := run(t, ".", bin, "test", "rules", filepath.Join("testdata", "alerts_test.yaml"))
	if err != nil || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}

	// The same tests against a rule file whose PodNotReady waits 10m must
	// fail: the unit tests really look at the alert.
	slow := bytes.Replace(AlertRules(), []byte("      - alert: PodNotReady\n        expr: |\n          kube_pod_status_ready{pod=~\"mts-deploy-ai-.*\", condition=\"false\"} == 1\n        for: 5m"),
		[]byte("      - alert: PodNotReady\n        expr: |\n          kube_pod_status_ready{pod=~\"mts-deploy-ai-.*\", condition=\"false\"} == 1\n        for: 10m"), 1)
	if bytes.Equal(slow, AlertRules()) {
		t.Fatal("could not plant the slower PodNotReady: alerts.rules.yaml changed shape")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "alerts.rules.yaml"), slow, 0o600); err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join("testdata", "alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts_test.yaml"), bytes.ReplaceAll(tests, []byte("../alerts.rules.yaml"), []byte("alerts.rules.yaml")), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, dir, bin, "test", "rules", "alerts_test.yaml")
	if err == nil || !strings.Contains(out, "alertname: PodNotReady") {
		t.Fatalf("promtool test rules passed a PodNotReady that waits 10m (err %v):\n%s", err, out)
	}
}

// TestDashboardQueriesParse hands every dashboard query to promtool as a
// recording rule, so a PromQL typo in a panel fails here rather than as an
// empty graph. Grafana's $__range becomes a literal range first.
func TestDashboardQueriesParse(t *testing.T) {
	bin := promtool(t)
	d := parseDashboard(t)
	var rules []map[string]string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			rules = append(rules, map[string]string{
				"record": fmt.Sprintf("dashboard:panel%d:%s", p.ID, strings.ToLower(tg.RefID)),
				"expr":   strings.ReplaceAll(tg.Expr, "$__range", "1h"),
			})
		}
	}
	file, err := json.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := run(t, ".", bin, "check", "rules", writeTemp(t, "dashboard.rules.json", file))
	if want := fmt.Sprintf("SUCCESS: %d rules found", len(rules)); err != nil || !strings.Contains(out, want) {
		t.Fatalf("dashboard queries do not all parse (want %q): %v\n%s", want, err, out)
	}
}

func TestAmtoolCheckConfig(t *testing.T) {
	bin := amtool(t)
	out, err := run(t, ".", bin, "check-config", "alertmanager.yml")
	if err != nil || !strings.Contains(out, "SUCCESS") || !strings.Contains(out, "2 receivers") {
		t.Fatalf("amtool check-config: %v\n%s", err, out)
	}
	// The seed's own Slack placeholder is not a URL: amtool refuses it,
	// which is why the file carries a URL-shaped one.
	seed := bytes.Replace(AlertmanagerConfig(), []byte("https://hooks.slack.com/services/REPLACE/WITH/WEBHOOK"), []byte("<slack-webhook-url>"), 1)
	if out, err := run(t, ".", bin, "check-config", writeTemp(t, "seed.yml", seed)); err == nil {
		t.Fatalf("amtool accepted the seed's '<slack-webhook-url>':\n%s", out)
	}
}

// TestAmtoolRoutes asks Alertmanager's own router where each severity goes.
func TestAmtoolRoutes(t *testing.T) {
	bin := amtool(t)
	tests := []struct{ labels, receiver string }{
		{"severity=critical", "telegram-critical"},
		{"severity=warning", "slack-warnings"},
		{"severity=info", "telegram-critical"}, // the root route's default, as in the seed
	}
	for _, tt := range tests {
		t.Run(tt.labels, func(t *testing.T) {
			out, err := run(t, ".", bin, "config", "routes", "test", "--config.file=alertmanager.yml",
				"--verify.receivers="+tt.receiver, "alertname=PodNotReady", tt.labels)
			if err != nil {
				t.Fatalf("%s routes elsewhere than %s: %v\n%s", tt.labels, tt.receiver, err, out)
			}
		})
	}
	// A wrong expectation fails, so the checks above can fail too.
	if out, err := run(t, ".", bin, "config", "routes", "test", "--config.file=alertmanager.yml",
		"--verify.receivers=slack-warnings", "severity=critical"); err == nil {
		t.Fatalf("amtool verified severity=critical -> slack-warnings:\n%s", out)
	}
}
