package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// Alerts is the Prometheus half of post-deploy verification: a throwaway
// Prometheus (the real binary, started by the deploy) scrapes the new pods'
// metrics and evaluates the service's alert rules; the deploy is verified
// only when every pod is an up target and no alert fires for Window.
type Alerts struct {
	// Prometheus is the prometheus binary; empty means "prometheus" on
	// PATH (Debian's package installs /usr/bin/prometheus).
	Prometheus string
	// Rules are Prometheus rule files (groups of alerting rules), such as
	// the service's alerts.rules.yaml.
	Rules []string
	// Window is how long no alert may fire once every target is up
	// (default 30 seconds).
	Window time.Duration
	// TargetsUp bounds the wait for every pod to be scraped successfully
	// (default 30 seconds).
	TargetsUp time.Duration
}

// WithAlerts verifies every completed rollout with a (Alerts): the new
// pods are scraped through the API server's pod proxy, with the
// kubeconfig's credentials, so it works wherever the API server is
// reachable, and the rules are evaluated every second. A failure is a
// failed deploy: rolled back, no evidence.
func WithAlerts(a Alerts) Option { return func(o *options) { o.alerts = &a } }

// checkAlerts runs Prometheus against dep's ready pods.
func (c *Client) checkAlerts(ctx context.Context, dep *appsv1.Deployment) (string, error) {
	a := *c.opts.alerts
	if a.Window <= 0 {
		a.Window = 30 * time.Second
	}
	if a.TargetsUp <= 0 {
		a.TargetsUp = 30 * time.Second
	}
	if a.Prometheus == "" {
		a.Prometheus = "prometheus"
	}
	bin, err := exec.LookPath(a.Prometheus)
	if err != nil {
		return "", fmt.Errorf("no Prometheus to evaluate the alert rules with: %w (install it: apt-get install prometheus)", err)
	}
	if c.cfg == nil {
		return "", errors.New("the client was built without a kubeconfig: Prometheus has no credentials to scrape the pods with")
	}
	pods, err := c.readyPods(ctx, dep)
	if err != nil {
		return "", err
	}
	if len(pods) == 0 {
		return "", fmt.Errorf("Deployment %s has no ready pods to scrape", dep.Name)
	}
	dir, err := os.MkdirTemp("", "slipway-prometheus-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	cfg, err := c.prometheusConfig(dir, dep, pods, a.Rules)
	if err != nil {
		return "", err
	}
	addr, err := freeAddr()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		return "", err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("starting Prometheus: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}()
	api := "http://" + addr
	logTail := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
		return truncate(b, 600)
	}
	// Up: every pod scraped successfully once.
	deadline := time.Now().Add(a.TargetsUp)
	for {
		down, err := targetsDown(ctx, api, len(pods))
		if err == nil && len(down) == 0 {
			break
		}
		select {
		case e := <-exited:
			exited <- e
			return "", fmt.Errorf("Prometheus exited: %v: %s", e, logTail())
		default:
		}
		if time.Now().After(deadline) {
			if err != nil {
				return "", fmt.Errorf("Prometheus did not answer within %s: %v: %s", a.TargetsUp, err, logTail())
			}
			return "", fmt.Errorf("the pods' metrics targets are not up after %s: %s", a.TargetsUp, strings.Join(down, "; "))
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return "", err
		}
	}
	// Quiet: no alert fires, and the targets stay up, for the window.
	start := time.Now()
	for {
		firing, err := firingAlerts(ctx, api)
		if err != nil {
			return "", fmt.Errorf("reading Prometheus' alerts: %w", err)
		}
		if len(firing) > 0 {
			return "", fmt.Errorf("alert firing %s after the targets were up: %s", time.Since(start).Round(time.Second), strings.Join(firing, "; "))
		}
		down, err := targetsDown(ctx, api, len(pods))
		if err != nil {
			return "", fmt.Errorf("reading Prometheus' targets: %w", err)
		}
		if len(down) > 0 {
			return "", fmt.Errorf("metrics target down %s after all were up: %s", time.Since(start).Round(time.Second), strings.Join(down, "; "))
		}
		if time.Since(start) >= a.Window {
			break
		}
		if err := sleep(ctx, time.Second); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("Prometheus: %d targets up, no alert of %d rule files fired for %s", len(pods), len(a.Rules), a.Window), nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// freeAddr is a loopback address with a port nothing listens on.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// prometheusConfig writes the scrape configuration: one target per pod,
// the API server's pod proxy as its metrics path, the kubeconfig's
// credentials as files; and the rule files.
func (c *Client) prometheusConfig(dir string, dep *appsv1.Deployment, pods []corev1.Pod, rules []string) (string, error) {
	u, err := url.Parse(c.cfg.Host)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("the API server address %q is not a URL", c.cfg.Host)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80"}[u.Scheme]+map[string]string{"https": "443"}[u.Scheme])
	}
	write := func(name string, b []byte) (string, error) {
		p := filepath.Join(dir, name)
		return p, os.WriteFile(p, b, 0o600)
	}
	tls := map[string]any{}
	if c.cfg.TLSClientConfig.ServerName != "" {
		tls["server_name"] = c.cfg.TLSClientConfig.ServerName
	}
	if c.cfg.Insecure {
		tls["insecure_skip_verify"] = true
	}
	files := []struct {
		data     []byte
		file     string
		name, to string
	}{
		{c.cfg.TLSClientConfig.CAData, c.cfg.TLSClientConfig.CAFile, "ca.crt", "ca_file"},
		{c.cfg.TLSClientConfig.CertData, c.cfg.TLSClientConfig.CertFile, "client.crt", "cert_file"},
		{c.cfg.TLSClientConfig.KeyData, c.cfg.TLSClientConfig.KeyFile, "client.key", "key_file"},
	}
	for _, f := range files {
		switch {
		case len(f.data) > 0:
			p, err := write(f.name, f.data)
			if err != nil {
				return "", err
			}
			tls[f.to] = p
		case f.file != "":
			tls[f.to] = f.file
		}
	}
	job := map[string]any{"job_name": dep.Name, "scheme": u.Scheme, "tls_config": tls}
	if c.cfg.BearerToken != "" {
		p, err := write("token", []byte(c.cfg.BearerToken))
		if err != nil {
			return "", err
		}
		job["authorization"] = map[string]any{"credentials_file": p}
	}
	var static []any
	for i := range pods {
		port, err := podPort(&pods[i], dep, check{path: MetricsPath})
		if err != nil {
			return "", fmt.Errorf("pod %s: %w", pods[i].Name, err)
		}
		static = append(static, map[string]any{"targets": []string{host}, "labels": map[string]string{
			"__metrics_path__": fmt.Sprintf("/api/v1/namespaces/%s/pods/%s:%s/proxy%s", c.env.Namespace, pods[i].Name, port, MetricsPath),
			"namespace":        c.env.Namespace, "pod": pods[i].Name,
		}})
	}
	job["static_configs"] = static
	var ruleFiles []string
	for _, r := range rules {
		abs, err := filepath.Abs(r)
		if err != nil {
			return "", err
		}
		if _, err := os.Stat(abs); err != nil {
			return "", fmt.Errorf("alert rules: %w", err)
		}
		ruleFiles = append(ruleFiles, abs)
	}
	cfg := map[string]any{
		"global":         map[string]any{"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
		"rule_files":     ruleFiles,
		"scrape_configs": []any{job},
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return "", err
	}
	return write("prometheus.yml", b)
}

// targetsDown names the targets that are not up, and says so when fewer
// than want are known yet.
func targetsDown(ctx context.Context, api string, want int) ([]string, error) {
	var r struct {
		Data struct {
			ActiveTargets []struct {
				Labels    map[string]string `json:"labels"`
				Health    string            `json:"health"`
				LastError string            `json:"lastError"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	if err := getJSON(ctx, api+"/api/v1/targets?state=active", &r); err != nil {
		return nil, err
	}
	var down []string
	for _, t := range r.Data.ActiveTargets {
		if t.Health != "up" {
			msg := fmt.Sprintf("pod %s: %s", t.Labels["pod"], t.Health)
			if t.LastError != "" {
				msg += ": " + t.LastError
			}
			down = append(down, msg)
		}
	}
	if n := len(r.Data.ActiveTargets); n < want {
		down = append(down, fmt.Sprintf("%d of %d targets known", n, want))
	}
	sort.Strings(down)
	return down, nil
}

// firingAlerts names the firing alerts with their labels.
func firingAlerts(ctx context.Context, api string) ([]string, error) {
	var r struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
				Value  string            `json:"value"`
			} `json:"alerts"`
		} `json:"data"`
	}
	if err := getJSON(ctx, api+"/api/v1/alerts", &r); err != nil {
		return nil, err
	}
	var out []string
	for _, a := range r.Data.Alerts {
		if a.State != "firing" {
			continue
		}
		out = append(out, fmt.Sprintf("%s (pod %s, value %s)", a.Labels["alertname"], a.Labels["pod"], a.Value))
	}
	sort.Strings(out)
	return out, nil
}

func getJSON(ctx context.Context, u string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
