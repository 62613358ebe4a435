package pipeline

import (
	"fmt"
	"regexp"
	"strings"
)

// EngineKind says where a job's `dagger` finds its Dagger engine.
type EngineKind string

// The engine kinds.
const (
	// RunnerEngineKind: the runner provides the engine. On GitLab the
	// runners the job's tags select have one (such as a Kubernetes
	// DaemonSet reached through _EXPERIMENTAL_DAGGER_RUNNER_HOST); on
	// GitHub a self-hosted runner has one, or a hosted runner's Docker
	// starts one. It is what the zero Engine means.
	RunnerEngineKind EngineKind = "runner"
	// DockerEngineKind: the Dagger CLI starts its engine in Docker. On
	// GitLab the job gets a docker:dind service and the docker CLI image,
	// Dagger's documented recipe, which works on GitLab.com's shared
	// runners; GitHub's hosted runners have Docker already.
	DockerEngineKind EngineKind = "docker"
	// CloudEngineKind: the engine runs in Dagger Cloud
	// (DAGGER_CLOUD_ENGINE), authorised by the DAGGER_CLOUD_TOKEN secret.
	CloudEngineKind EngineKind = "cloud"
)

// DefaultDockerVersion is the Docker release whose docker:<version>-dind
// service and docker:<version>-cli image a DockerEngine job uses on GitLab.
const DefaultDockerVersion = "27.5.1"

// CloudTokenSecret is the secret (GitHub) or masked CI/CD variable (GitLab)
// that holds the Dagger Cloud token; the Dagger CLI reads it under this name.
const CloudTokenSecret = "DAGGER_CLOUD_TOKEN"

// Engine says where the Dagger engine of a job comes from. Build one with
// RunnerEngine, DockerEngine or CloudEngine; the zero Engine is
// RunnerEngine(""), what runners without any engine setting get.
type Engine struct {
	// Kind is where the engine runs; "" is RunnerEngineKind.
	Kind EngineKind
	// RunnerHost, for RunnerEngineKind, is the engine's address as
	// _EXPERIMENTAL_DAGGER_RUNNER_HOST reads it, such as
	// "unix:///run/dagger/engine.sock" or
	// "kube-pod://dagger-engine-0?namespace=dagger". Empty leaves the CLI to
	// find the runner's engine itself.
	RunnerHost string
	// DockerVersion, for DockerEngineKind, is the Docker release of the
	// GitLab service and image; "" is DefaultDockerVersion.
	DockerVersion string
	// Traces sends the jobs' traces to Dagger Cloud: the jobs get the
	// DAGGER_CLOUD_TOKEN secret. A CloudEngine always has it.
	Traces bool
}

// RunnerEngine is an engine the runner provides, at host when host is not
// empty (_EXPERIMENTAL_DAGGER_RUNNER_HOST). Select the runners that have one
// with DefaultRunnerTags or RunnerTags on GitLab, and DefaultRunsOn or
// RunsOn on GitHub.
func RunnerEngine(host string) Engine { return Engine{Kind: RunnerEngineKind, RunnerHost: host} }

// DockerEngine is an engine the Dagger CLI starts in Docker: a docker:dind
// service on GitLab (it works on GitLab.com's shared runners), the hosted
// runner's Docker on GitHub.
func DockerEngine() Engine { return Engine{Kind: DockerEngineKind} }

// CloudEngine is an engine in Dagger Cloud, authorised by the
// DAGGER_CLOUD_TOKEN secret.
func CloudEngine() Engine { return Engine{Kind: CloudEngineKind, Traces: true} }

// WithTraces returns a copy of e that sends traces to Dagger Cloud.
func (e Engine) WithTraces() Engine { e.Traces = true; return e }

// WithDockerVersion returns a copy of e whose GitLab docker:dind service and
// image are of Docker release v, such as "27.5.1".
func (e Engine) WithDockerVersion(v string) Engine { e.DockerVersion = v; return e }

// Mode returns the engine's kind, RunnerEngineKind for the zero Engine.
func (e Engine) Mode() EngineKind {
	if e.Kind == "" {
		return RunnerEngineKind
	}
	return e.Kind
}

// Docker returns the Docker release of a DockerEngine's GitLab service.
func (e Engine) Docker() string {
	if e.DockerVersion == "" {
		return DefaultDockerVersion
	}
	return e.DockerVersion
}

// UsesCloudToken reports whether jobs on this engine read DAGGER_CLOUD_TOKEN.
func (e Engine) UsesCloudToken() bool { return e.Traces || e.Mode() == CloudEngineKind }

var (
	dockerVersionRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+){0,2}$`)
	// The schemes of _EXPERIMENTAL_DAGGER_RUNNER_HOST that Dagger v0.19
	// has drivers for.
	runnerHostSchemes = []string{"unix", "tcp", "ssh", "kube-pod", "image", "container",
		"docker-image", "docker-container", "image+docker", "container+docker", "image+podman",
		"container+podman", "image+nerdctl", "container+nerdctl", "image+finch", "container+finch", "dagger-cloud"}
)

// problems returns what is wrong with e, each message naming the fix.
func (e Engine) problems() []string {
	var out []string
	switch e.Mode() {
	case RunnerEngineKind:
		if e.DockerVersion != "" {
			out = append(out, "a Docker version is set on a runner-provided engine; it applies to pipeline.DockerEngine() only")
		}
		if h := e.RunnerHost; h != "" {
			scheme, rest, ok := strings.Cut(h, "://")
			switch {
			case !ok || rest == "":
				out = append(out, fmt.Sprintf("runner host %q must be a URL such as unix:///run/dagger/engine.sock or kube-pod://dagger-engine-0?namespace=dagger", h))
			case !containsString(runnerHostSchemes, scheme):
				out = append(out, fmt.Sprintf("runner host %q has the scheme %q, which Dagger has no driver for (it has: %s)", h, scheme, strings.Join(runnerHostSchemes, ", ")))
			case strings.ContainsAny(h, " \t\n'\"$`\\"):
				out = append(out, fmt.Sprintf("runner host %q must not hold spaces, quotes, $, ` or \\", h))
			}
		}
	case DockerEngineKind:
		if e.RunnerHost != "" {
			out = append(out, "a runner host is set on a Docker engine; use pipeline.RunnerEngine(host) for an engine the runner provides")
		}
		if e.DockerVersion != "" && !dockerVersionRE.MatchString(e.DockerVersion) {
			out = append(out, fmt.Sprintf("Docker version %q must be a release such as %s", e.DockerVersion, DefaultDockerVersion))
		}
	case CloudEngineKind:
		if e.RunnerHost != "" || e.DockerVersion != "" {
			out = append(out, "a Dagger Cloud engine takes no runner host and no Docker version")
		}
	default:
		out = append(out, fmt.Sprintf("the engine kind %q is unknown; use pipeline.RunnerEngine, pipeline.DockerEngine or pipeline.CloudEngine", e.Kind))
	}
	return out
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// DaggerInstall returns the POSIX shell lines that put the Dagger CLI of
// version (such as "v0.19.10") in $HOME/.local/bin, which the first line
// puts first on PATH. The second line does nothing when exactly that
// version is already on PATH (a runner's image, a test's stand-in);
// otherwise it downloads the release archive for the machine's architecture
// and the release's published checksums.txt from dl.dagger.io, checks the
// archive with sha256sum -c and only then unpacks the CLI. Nothing is piped
// into a shell. The lines need curl or wget, sha256sum, tar and uname, which
// Debian, Ubuntu and Alpine (BusyBox) images all have; both generators run
// exactly these lines.
func DaggerInstall(version string) []string {
	v := strings.TrimPrefix(version, "v")
	return []string{
		`export PATH="$HOME/.local/bin:$PATH"`,
		`dagger version 2>/dev/null | grep -q "^dagger v` + v + ` " || (set -e; ` +
			`v=` + v + `; ` +
			`case "$(uname -m)" in x86_64|amd64) a=amd64 ;; aarch64|arm64) a=arm64 ;; *) echo "no Dagger CLI for $(uname -m)" >&2; exit 1 ;; esac; ` +
			`f="dagger_v${v}_linux_${a}.tar.gz"; u="https://dl.dagger.io/dagger/releases/${v}"; d="$(mktemp -d)"; ` +
			`if command -v curl >/dev/null 2>&1; then curl -fsSL -o "$d/$f" "$u/$f"; curl -fsSL -o "$d/checksums.txt" "$u/checksums.txt"; ` +
			`else wget -q -O "$d/$f" "$u/$f"; wget -q -O "$d/checksums.txt" "$u/checksums.txt"; fi; ` +
			`grep " $f\$" "$d/checksums.txt" > "$d/sum"; ` +
			`(cd "$d" && sha256sum -c sum); ` +
			`mkdir -p "$HOME/.local/bin"; tar -xzf "$d/$f" -C "$HOME/.local/bin" dagger; rm -rf "$d")`,
	}
}
