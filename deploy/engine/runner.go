package engine

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// runnerConfig is what the RunnerOptions set.
type runnerConfig struct {
	name, url, tokenVar string
	namespace, image    string
	concurrent          int
	nodeSelector        map[string]string
	tolerations         map[string]string
	runHostPath         string
	kubePod             string // "" or the kube-pod:// runner host
	env                 []string
}

// RunnerOption changes what GitLabRunnerConfig renders.
type RunnerOption func(*runnerConfig)

// WithRunnerName names the [[runners]] entry (default "dagger").
func WithRunnerName(name string) RunnerOption { return func(r *runnerConfig) { r.name = name } }

// WithGitLabURL is the GitLab instance the runner registers with (default
// https://gitlab.com/).
func WithGitLabURL(url string) RunnerOption { return func(r *runnerConfig) { r.url = url } }

// WithRunnerTokenEnv names the environment variable the runner's
// deployment gets its authentication token from (default RUNNER_TOKEN):
// the token never goes into a committed file. gitlab-runner reads config.toml verbatim, so the
// rendered file holds a placeholder, ${NAME}, for the deployment's
// entrypoint (envsubst, or the Helm chart's runners.secret) to fill in.
func WithRunnerTokenEnv(name string) RunnerOption { return func(r *runnerConfig) { r.tokenVar = name } }

// WithJobNamespace is where the Kubernetes executor creates job pods
// (default "gitlab-runner").
func WithJobNamespace(ns string) RunnerOption { return func(r *runnerConfig) { r.namespace = ns } }

// WithJobImage is the default image of job pods; it must hold the dagger
// CLI of the engine's version (default "alpine:latest", for jobs that
// install it in before_script as Dagger's GitLab guide does).
func WithJobImage(image string) RunnerOption { return func(r *runnerConfig) { r.image = image } }

// WithConcurrent is how many jobs the runner runs at once (default 4).
func WithConcurrent(n int) RunnerOption { return func(r *runnerConfig) { r.concurrent = n } }

// WithJobNodeSelector places job pods on the nodes where the engine runs:
// pass the engine's WithNodeSelector labels. A job pod on a node without an
// engine finds no socket in the hostPath.
func WithJobNodeSelector(sel map[string]string) RunnerOption {
	return func(r *runnerConfig) {
		if r.nodeSelector == nil {
			r.nodeSelector = map[string]string{}
		}
		maps.Copy(r.nodeSelector, sel)
	}
}

// WithJobToleration lets job pods onto nodes tainted key=value:effect (or
// key:effect when value is ""), as the engine tolerates them.
func WithJobToleration(key, value, effect string) RunnerOption {
	return func(r *runnerConfig) {
		if r.tolerations == nil {
			r.tolerations = map[string]string{}
		}
		k := key
		if value != "" {
			k += "=" + value
		}
		r.tolerations[k] = effect
	}
}

// WithEngineRunHostPath is the engine's run hostPath (WithRunHostPath;
// default /run/dagger-DefaultName): job pods mount it at SocketDir.
func WithEngineRunHostPath(path string) RunnerOption {
	return func(r *runnerConfig) { r.runHostPath = path }
}

// WithKubePodEngine makes jobs reach the engine in pod of namespace with
// Dagger's kube-pod driver instead of the node's socket: for job pods that
// cannot mount hostPaths (a restricted Pod Security level). The job image
// then needs kubectl, and the job's service account the pods/exec
// permission on the engine's namespace. A DaemonSet's pod names change on
// every rollout, so this suits a fixed engine pod (a StatefulSet's
// NAME-0) best.
func WithKubePodEngine(pod, namespace string) RunnerOption {
	return func(r *runnerConfig) { r.kubePod = RunnerHostForPod(pod, namespace) }
}

// WithJobEnv adds KEY=VALUE variables to every job.
func WithJobEnv(kv ...string) RunnerOption {
	return func(r *runnerConfig) { r.env = append(r.env, kv...) }
}

// GitLabRunnerConfig renders a gitlab-runner config.toml whose Kubernetes
// executor runs every job with _EXPERIMENTAL_DAGGER_RUNNER_HOST pointing at
// the engine of Manifests: by default the engine's socket, mounted from
// the node (the job pod lands on a node that runs an engine), or a
// kube-pod:// address (WithKubePodEngine).
func GitLabRunnerConfig(opts ...RunnerOption) (string, error) {
	r := &runnerConfig{
		name: "dagger", url: "https://gitlab.com/", tokenVar: "RUNNER_TOKEN",
		namespace: "gitlab-runner", image: "alpine:latest", concurrent: 4,
		runHostPath: "/run/dagger-" + DefaultName,
	}
	for _, o := range opts {
		o(r)
	}
	if r.concurrent < 1 {
		return "", fmt.Errorf("gitlab runner config: concurrent %d: want at least 1", r.concurrent)
	}
	if !strings.HasPrefix(r.runHostPath, "/") {
		return "", fmt.Errorf("gitlab runner config: engine run host path %q is not absolute", r.runHostPath)
	}
	for _, kv := range r.env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return "", fmt.Errorf("gitlab runner config: job variable %q is not KEY=VALUE", kv)
		}
	}
	host := RunnerHostSocket
	if r.kubePod != "" {
		host = r.kubePod
	}
	// Telemetry and the CLI's update nag both want the internet, which a
	// CI node often lacks.
	env := append([]string{"_EXPERIMENTAL_DAGGER_RUNNER_HOST=" + host, "DAGGER_NO_NAG=1"}, r.env...)

	var b strings.Builder
	b.WriteString("# Rendered by slipway (deploy/engine): a GitLab Runner whose Kubernetes executor\n")
	b.WriteString("# runs jobs against the Dagger engine DaemonSet instead of starting an engine per job.\n")
	fmt.Fprintf(&b, "concurrent = %d\n\n[[runners]]\n", r.concurrent)
	fmt.Fprintf(&b, "  name = %s\n  url = %s\n", tomlString(r.name), tomlString(r.url))
	fmt.Fprintf(&b, "  # Filled in from the environment by the runner's deployment; never committed.\n")
	fmt.Fprintf(&b, "  token = %s\n", tomlString("${"+r.tokenVar+"}"))
	b.WriteString("  executor = \"kubernetes\"\n")
	fmt.Fprintf(&b, "  environment = %s\n", tomlArray(env))
	b.WriteString("  [runners.kubernetes]\n")
	fmt.Fprintf(&b, "    namespace = %s\n    image = %s\n", tomlString(r.namespace), tomlString(r.image))
	if len(r.nodeSelector) > 0 {
		b.WriteString("    # Jobs run where an engine runs: the same nodes as the DaemonSet.\n")
		b.WriteString("    [runners.kubernetes.node_selector]\n")
		for _, k := range slices.Sorted(maps.Keys(r.nodeSelector)) {
			fmt.Fprintf(&b, "      %s = %s\n", tomlString(k), tomlString(r.nodeSelector[k]))
		}
	}
	if len(r.tolerations) > 0 {
		b.WriteString("    [runners.kubernetes.node_tolerations]\n")
		for _, k := range slices.Sorted(maps.Keys(r.tolerations)) {
			fmt.Fprintf(&b, "      %s = %s\n", tomlString(k), tomlString(r.tolerations[k]))
		}
	}
	if r.kubePod == "" {
		b.WriteString("    # The engine's socket directory on the node, where the job's dagger CLI finds it.\n")
		b.WriteString("    [[runners.kubernetes.volumes.host_path]]\n")
		fmt.Fprintf(&b, "      name = \"dagger-engine\"\n      mount_path = %s\n      host_path = %s\n      read_only = false\n",
			tomlString(SocketDir), tomlString(r.runHostPath))
	}
	return b.String(), nil
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func tomlArray(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = tomlString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
