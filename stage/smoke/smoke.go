// Package smoke tests a service image the way its users reach it: it runs
// the image as a Dagger service and sends HTTP GETs to named paths on its
// ports, expecting a status for each (a health endpoint's 200, a missing
// page's 404). It is the integration test of a service without a Go
// integration-test package, and needs nothing of the service's source.
//
// The probes run in a small tool (cmd/probe, standard library only) built
// from its embedded source in the Go image; its results are a Result with
// a JUnit report, so CI shows each probe as a test.
package smoke

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"dagger.io/dagger"

	"github.com/slipway-ci/slipway/stage"
)

//go:embed cmd/probe/main.go
var probeMain string

// Report file names, in Result.Reports.
const (
	JSONFile  = "probes.json"
	JUnitFile = "junit.xml"
)

// DefaultDeadline is how long each probe may retry while the service
// starts.
const DefaultDeadline = time.Minute

// Probe is one expectation: GET http://service:Port/Path answers Status.
type Probe struct {
	Port   int
	Path   string
	Status int
}

// String returns the probe as ParseProbe reads it: PORT/PATH=STATUS.
func (p Probe) String() string {
	return fmt.Sprintf("%d/%s=%d", p.Port, strings.TrimPrefix(p.Path, "/"), p.Status)
}

// ParseProbe reads PORT/PATH=STATUS, such as 8080/health=200 or
// 9090/metrics=200; /=200 probes the root.
func ParseProbe(s string) (Probe, error) {
	target, status, ok := strings.Cut(s, "=")
	port, path, ok2 := strings.Cut(target, "/")
	var p Probe
	var err error
	if p.Port, err = strconv.Atoi(port); !ok || !ok2 || err != nil || p.Port <= 0 || p.Port > 65535 {
		return p, fmt.Errorf("smoke probe %q: want PORT/PATH=STATUS, such as 8080/health=200", s)
	}
	if p.Status, err = strconv.Atoi(status); err != nil || p.Status < 100 || p.Status > 599 {
		return p, fmt.Errorf("smoke probe %q: %q is not an HTTP status", s, status)
	}
	p.Path = "/" + path
	return p, nil
}

// Option configures Run.
type Option func(*config)

type config struct {
	stage.Settings
	deadline time.Duration
	args     []string
}

// WithDeadline sets how long each probe may retry (DefaultDeadline).
func WithDeadline(d time.Duration) Option { return func(c *config) { c.deadline = d } }

// WithArgs passes arguments to the image's entrypoint when it runs as a
// service.
func WithArgs(args ...string) Option { return func(c *config) { c.args = args } }

// WithEnv sets a variable of the service's container.
func WithEnv(name, value string) Option {
	return func(c *config) { stage.WithEnv(name, value)(&c.Settings) }
}

// WithGoImage sets the Go image the probe tool is built in.
func WithGoImage(ref string) Option { return func(c *config) { stage.WithGoImage(ref)(&c.Settings) } }

// Checked is a probe and what the service answered.
type Checked struct {
	Probe
	// Got is the last status seen, 0 when nothing answered.
	Got int
	// Error is the last connection error, if nothing answered.
	Error string
	// Attempts counts the requests sent.
	Attempts int
}

// Result is a smoke test's outcome.
type Result struct {
	// Image names the image tested.
	Image string
	// Probes holds each probe and its answer, in order.
	Probes []Checked
	// Reports holds probes.json and junit.xml.
	Reports *dagger.Directory
}

// Failed returns the probes whose answer was not the expected status.
func (r *Result) Failed() []Checked {
	var out []Checked
	for _, p := range r.Probes {
		if p.Got != p.Status {
			out = append(out, p)
		}
	}
	return out
}

// Problem says in one line which probes failed, or "" when all passed.
func (r *Result) Problem() string {
	failed := r.Failed()
	if len(failed) == 0 {
		return ""
	}
	parts := make([]string, len(failed))
	for i, p := range failed {
		got := fmt.Sprintf("got %d", p.Got)
		if p.Got == 0 {
			got = "no answer: " + p.Error
		}
		parts[i] = fmt.Sprintf("GET :%d%s wants %d, %s", p.Port, p.Path, p.Status, got)
	}
	return fmt.Sprintf("%d of %d smoke probes failed: %s", len(failed), len(r.Probes), strings.Join(parts, "; "))
}

// Verdict is the smoke test's outcome.
func (r *Result) Verdict() stage.Verdict {
	return stage.Verdict{Reports: r.Reports, Problem: r.Problem(),
		Summary: fmt.Sprintf("%d smoke probes of %s", len(r.Probes), r.Image)}
}

var _ stage.Outcome = (*Result)(nil)

// Run starts img as a service, exposing the probes' ports, and probes it.
// name names the image in the result. It returns an error only when the
// probes could not run; failed probes are in the Result.
func Run(ctx context.Context, client *dagger.Client, img *dagger.Container, name string, probes []Probe, opts ...Option) (*Result, error) {
	if len(probes) == 0 {
		return nil, fmt.Errorf("smoke: no probe: name at least one, such as 8080/health=200")
	}
	c := config{deadline: DefaultDeadline}
	for _, o := range opts {
		o(&c)
	}
	ports := map[int]bool{}
	for _, p := range probes {
		if !ports[p.Port] {
			img = img.WithExposedPort(p.Port)
			ports[p.Port] = true
		}
	}
	svc := c.WithEnvOn(img).AsService(dagger.ContainerAsServiceOpts{UseEntrypoint: true, Args: c.args})
	const host, out = "service", "/slipway-reports"
	args := []string{"/usr/local/bin/probe", "-deadline=" + c.deadline.String(), "-out=" + out, host}
	for _, p := range probes {
		args = append(args, p.String())
	}
	goImage := c.GoImageOr(stage.DefaultGoImage)
	bin := client.Container().From(goImage).
		WithNewFile("/src/main.go", probeMain).
		WithNewFile("/src/go.mod", "module probe\n\ngo 1.22\n").
		WithWorkdir("/src").
		WithEnvVariable("CGO_ENABLED", "0").
		WithExec([]string{"go", "build", "-trimpath", "-o", "/out/probe", "."}).
		File("/out/probe")
	ctr := client.Container().From(goImage).
		WithFile("/usr/local/bin/probe", bin).
		WithServiceBinding(host, svc).
		WithExec(args)
	raw, err := ctr.File(out + "/" + JSONFile).Contents(ctx)
	if err != nil {
		if strings.Contains(err.Error(), "aliased as "+host) {
			return nil, exitedAtStart(ctx, c.WithEnvOn(img), name, c.args, err)
		}
		return nil, fmt.Errorf("smoke: probing %s: %w", name, err)
	}
	var seen []struct {
		Port, Want, Got, Attempts int
		Path, Error               string
	}
	if err := json.Unmarshal([]byte(raw), &seen); err != nil {
		return nil, fmt.Errorf("smoke: reading the probes' results: %w", err)
	}
	res := &Result{Image: name, Reports: ctr.Directory(out)}
	for _, s := range seen {
		res.Probes = append(res.Probes, Checked{Probe: Probe{Port: s.Port, Path: s.Path, Status: s.Want}, Got: s.Got, Error: s.Error, Attempts: s.Attempts})
	}
	return res, nil
}

// exitedAtStart explains a service that stopped before it served: Dagger
// says only that the service's start failed, so the image runs once more,
// as a plain command (it exits again, as it did), to show what it printed:
// usually a missing config file, argument or port.
func exitedAtStart(ctx context.Context, img *dagger.Container, name string, args []string, startErr error) error {
	run := img.WithExec(args, dagger.ContainerWithExecOpts{UseEntrypoint: true, Expect: dagger.ReturnTypeAny})
	code, err := run.ExitCode(ctx)
	if err != nil {
		return fmt.Errorf("smoke: %s did not start as a service: %w", name, startErr)
	}
	stderr, _ := run.Stderr(ctx)
	stdout, _ := run.Stdout(ctx)
	said := lastLines(stderr+"\n"+stdout, 5)
	return fmt.Errorf("smoke: %s exited when it started (exit code %d) before serving: %s; give the image what it needs: the files it reads (files), its arguments (args), its ports (ports)", name, code, said)
}

// lastLines returns the last n non-empty lines of s, joined by " | ".
func lastLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 0 {
		return "it printed nothing"
	}
	return strings.Join(lines, " | ")
}
