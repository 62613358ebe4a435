// Package stage holds what slipway's stage packages share, so that a team
// composing them learns one vocabulary:
//
//   - Settings and its options, which every stage package re-exports under
//     the same names: WithEnv (a variable of the stage's container),
//     WithGoEnv (Go's module settings, such as GOPROXY, for the Go builds a
//     stage runs), WithInsecureRegistry (registries spoken to over plain
//     HTTP) and WithGoImage (the Go toolchain image);
//   - Verdict, the outcome every stage result offers: its reports, what
//     went wrong, what it did, and the lines a CI log must show;
//   - GoImageFor, which picks the Go toolchain image a module's go.mod asks
//     for, and GoCaches, the module and build caches every Go stage shares.
//
// The stage packages are stage/goimage (build), stage/ociregistry
// (publish), stage/gotest (unit and integration tests), stage/smoke (HTTP
// probes of the image run as a service), stage/trivy and stage/gosec
// (scans), and stage/kube (deploys, through slipway's deploy tool).
package stage

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"dagger.io/dagger"
	"dagger.io/dagger/telemetry"
	"go.opentelemetry.io/otel"
	"golang.org/x/mod/modfile"
)

// DefaultGoImage is the Go toolchain image a stage uses when neither the
// caller nor a go.mod names one: the Go that Dagger v0.19.10 builds
// modules with.
const DefaultGoImage = "golang:1.25"

// Settings are the settings every stage takes. Stage packages embed them
// in their own configuration; their With* functions of the same names fill
// them in.
type Settings struct {
	// Env holds variables of the stage's main container.
	Env map[string]string
	// GoEnv holds Go's settings for the Go builds the stage runs, such as
	// GOPROXY, GONOSUMDB or GOPRIVATE.
	GoEnv map[string]string
	// Insecure names the registry hosts (host or host:port) spoken to over
	// plain HTTP or without TLS verification.
	Insecure []string
	// GoImage is the Go toolchain image; empty means the stage's default.
	GoImage string
}

// Option sets one of the shared settings.
type Option func(*Settings)

// NewSettings returns the settings opts give.
func NewSettings(opts ...Option) Settings {
	var s Settings
	for _, o := range opts {
		o(&s)
	}
	return s
}

// WithEnv sets a variable of the stage's main container.
func WithEnv(name, value string) Option {
	return func(s *Settings) {
		if s.Env == nil {
			s.Env = map[string]string{}
		}
		s.Env[name] = value
	}
}

// WithGoEnv sets one of Go's settings (GOPROXY, GOSUMDB, GONOSUMDB,
// GOPRIVATE, GONOPROXY, GOINSECURE, GOFLAGS) for the stage's Go builds.
func WithGoEnv(name, value string) Option {
	return func(s *Settings) {
		if s.GoEnv == nil {
			s.GoEnv = map[string]string{}
		}
		s.GoEnv[name] = value
	}
}

// WithInsecureRegistry lets the stage speak plain HTTP to the registry
// hosts, such as a local one at 10.87.0.1:5000.
func WithInsecureRegistry(hosts ...string) Option {
	return func(s *Settings) {
		for _, h := range hosts {
			if h != "" && !slices.Contains(s.Insecure, h) {
				s.Insecure = append(s.Insecure, h)
			}
		}
	}
}

// WithGoImage sets the Go toolchain image, such as golang:1.26; GoImageFor
// picks it from a go.mod.
func WithGoImage(ref string) Option { return func(s *Settings) { s.GoImage = ref } }

// IsInsecure reports whether the registry host of ref (a repository or an
// image reference) is one of the insecure hosts.
func (s Settings) IsInsecure(ref string) bool {
	host, _, _ := strings.Cut(ref, "/")
	return slices.Contains(s.Insecure, host)
}

// GoImageOr returns the Go image, or def when none was set.
func (s Settings) GoImageOr(def string) string {
	if s.GoImage != "" {
		return s.GoImage
	}
	return def
}

// WithGoEnvOn sets the Go settings on ctr, in a stable order so that the
// exec's cache key does not depend on map order.
func (s Settings) WithGoEnvOn(ctr *dagger.Container) *dagger.Container {
	return withVars(ctr, s.GoEnv)
}

// WithEnvOn sets the container variables on ctr, in a stable order.
func (s Settings) WithEnvOn(ctr *dagger.Container) *dagger.Container {
	return withVars(ctr, s.Env)
}

func withVars(ctr *dagger.Container, vars map[string]string) *dagger.Container {
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		ctr = ctr.WithEnvVariable(k, vars[k])
	}
	return ctr
}

// GoEnvNames are Go's settings that say where modules come from.
var GoEnvNames = []string{"GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GONOPROXY", "GOINSECURE"}

// ProcessGoEnv returns the Go settings among GoEnvNames that this process
// has. A Dagger module's runtime was itself built with the engine's
// module proxy settings; passing them on lets the stages' Go containers
// reach the same proxy, also where the only proxy is an internal one.
func ProcessGoEnv() []Option {
	var opts []Option
	for _, k := range GoEnvNames {
		if v, ok := os.LookupEnv(k); ok && v != "" {
			opts = append(opts, WithGoEnv(k, v))
		}
	}
	return opts
}

// GoImageFor returns the official Go image a module's go.mod asks for:
// golang:MAJOR.MINOR of its toolchain line when there is one, else of its go
// line (a go line is a minimum, and the newest patch release of that minor
// version satisfies it). A go.mod without either gets DefaultGoImage.
func GoImageFor(goMod []byte) (string, error) {
	f, err := modfile.ParseLax("go.mod", goMod, nil)
	if err != nil {
		return "", fmt.Errorf("reading go.mod: %w", err)
	}
	v := ""
	if f.Go != nil {
		v = f.Go.Version
	}
	if f.Toolchain != nil {
		if tv, ok := strings.CutPrefix(f.Toolchain.Name, "go"); ok && newer(tv, v) {
			v = tv
		}
	}
	if v == "" {
		return DefaultGoImage, nil
	}
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 || parts[0] != "1" {
		return "", fmt.Errorf("go.mod asks for Go %q, which names no Go 1 release", v)
	}
	minor := strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' })
	return "golang:1." + minor, nil
}

// newer reports whether Go version a is newer than b (numeric fields).
func newer(a, b string) bool {
	if b == "" {
		return true
	}
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			fmt.Sscanf(as[i], "%d", &x)
		}
		if i < len(bs) {
			fmt.Sscanf(bs[i], "%d", &y)
		}
		if x != y {
			return x > y
		}
	}
	return false
}

// GoCaches mounts the Go module and build caches as cache volumes shared
// by every slipway stage, so a warm run downloads and compiles nothing
// twice.
func GoCaches(client *dagger.Client, c *dagger.Container) *dagger.Container {
	return c.WithMountedCache("/go/pkg/mod", client.CacheVolume("slipway-go-mod")).
		WithMountedCache("/root/.cache/go-build", client.CacheVolume("slipway-go-build")).
		WithEnvVariable("GOMODCACHE", "/go/pkg/mod").
		WithEnvVariable("GOCACHE", "/root/.cache/go-build")
}

// Verdict is the outcome of a stage: what a CI job shows and how it ends.
// Every stage result offers one (the Outcome interface), so a Dagger module
// turns any stage into a job with the same few lines.
type Verdict struct {
	// Reports holds the stage's reports (JUnit, Cobertura, SARIF, GitLab
	// reports); nil for a stage without reports.
	Reports *dagger.Directory
	// Problem says in one line what failed; empty when the stage passed.
	Problem string
	// Summary says in one line what the stage did, such as "12 tests,
	// 83.4% of statements".
	Summary string
	// Log holds lines a CI log must show on every run, such as the coverage
	// total GitLab's coverage regex reads.
	Log string
	// Detail says why the stage failed, at length, such as the failed
	// tests' last output lines; empty when it passed.
	Detail string
}

// Message is the problem with the detail under it, as Check's error and
// a stage that reports a failure without failing print it.
func (v Verdict) Message() string {
	return strings.TrimRight(v.Problem+"\n"+v.Detail, "\n")
}

// Outcome is a stage result that offers its Verdict.
type Outcome interface {
	Verdict() Verdict
}

// Check returns an error naming the problem, followed by the detail,
// when the stage failed, else the summary and the log lines: what a CI
// job's last call prints.
func (v Verdict) Check() (string, error) {
	if v.Problem != "" {
		return "", fmt.Errorf("%s", v.Message())
	}
	return strings.TrimSpace(v.Summary + "\n" + v.Log), nil
}

// Syncer is a Dagger object that can be evaluated: *dagger.Directory,
// *dagger.Container, *dagger.File.
type Syncer[T any] interface {
	Sync(ctx context.Context) (T, error)
}

// Quietly evaluates obj under a span that Dagger's progress output hides
// by default, and returns it evaluated. Why: Dagger prints every call with
// its arguments and every command's output, so a stage that writes its
// reports with withNewFile, or runs a tool that prints JSON, would put
// each JUnit, Cobertura, SARIF or JSON report in full in the CI log
// (megabytes for a large service; GitLab Runner's default output_limit
// stops a job's log at 4 MiB, losing the lines after it). What the stage found is in its
// Verdict instead; the hidden calls still show with `dagger call -vvv` and
// in Dagger Cloud's traces.
func Quietly[T Syncer[T]](ctx context.Context, what string, obj T) (T, error) {
	// The global provider: inside a module, the span in ctx is the
	// engine's (remote, not recording), whose provider drops every span.
	ctx, span := otel.Tracer("github.com/slipway-ci/slipway/stage").Start(ctx, what, telemetry.Internal())
	defer span.End()
	return obj.Sync(ctx)
}
