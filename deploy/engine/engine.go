// Package engine renders what a team needs to run the Dagger engine as a
// Kubernetes workload once one CI runner is not enough: a DaemonSet that
// runs one privileged engine per selected node, with its cache on the
// node's disk, and the GitLab Runner configuration (Kubernetes executor)
// whose job pods reach that engine.
//
// The layout follows Dagger's own Helm chart (helm/dagger in the dagger
// repository) and its "Run Dagger on Kubernetes" guide: the engine socket
// sits in a hostPath directory, so a job pod on the same node mounts it and
// sets _EXPERIMENTAL_DAGGER_RUNNER_HOST=unix://...; a client elsewhere
// uses kube-pod://POD?namespace=NS, which runs `kubectl exec POD -- buildctl
// dial-stdio` and so needs kubectl and the pods/exec permission.
//
// Manifests returns typed objects (for a client or a test), YAML the
// multi-document file to commit or kubectl apply, and GitLabRunnerConfig
// the runner's config.toml.
package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// Paths inside the engine's container. They are Dagger's defaults, so that
// Dagger's own image (registry.dagger.io/engine) and slipway's both work.
const (
	// SocketDir is the directory of the engine's gRPC socket; the run
	// volume (a hostPath) is mounted here.
	SocketDir = "/run/dagger"
	// SocketPath is the engine's socket inside its container, and inside a
	// job pod that mounts the same hostPath at SocketDir.
	SocketPath = SocketDir + "/engine.sock"
	// StateDir is the engine's cache and state: a hostPath, because the
	// engine stacks overlayfs mounts there, which a container's own
	// overlayfs root cannot hold, and because the cache is the point of a
	// long-lived engine.
	StateDir = "/var/lib/dagger"
	// ConfigPath is where the rendered engine.toml is mounted.
	ConfigPath = "/etc/dagger/engine.toml"
	// ContainerName is the engine's container in the pod.
	ContainerName = "dagger-engine"
)

// Defaults of the options.
const (
	// DefaultName names the DaemonSet, its ConfigMap and ServiceAccount,
	// and is the pods' "name" label (as Dagger's chart labels them).
	DefaultName = "dagger-engine"
	// DefaultNamespace is where the engine runs.
	DefaultNamespace = "dagger"
)

// config is what the options set.
type config struct {
	name, namespace    string
	createNamespace    bool
	nodeSelector       map[string]string
	tolerations        []corev1.Toleration
	stateHostPath      string
	runHostPath        string
	hostNetwork        bool
	resources          corev1.ResourceRequirements
	mirrors            map[string][]string
	insecure           []string
	extraTOML          string
	gracePeriod        int64
	imagePullPolicy    corev1.PullPolicy
	priorityClassName  string
	extraLabels        map[string]string
	readinessPeriodSec int32
}

// Option changes what Manifests renders.
type Option func(*config)

// WithName names the DaemonSet, ConfigMap and ServiceAccount (default
// DefaultName). Two engines in one cluster need two names: the default
// hostPaths carry it.
func WithName(name string) Option { return func(c *config) { c.name = name } }

// WithNamespace puts the engine in ns (default DefaultNamespace).
func WithNamespace(ns string) Option { return func(c *config) { c.namespace = ns } }

// WithoutNamespace leaves the Namespace object out, for a namespace that
// exists already (or that another tool owns).
func WithoutNamespace() Option { return func(c *config) { c.createNamespace = false } }

// WithNodeSelector runs engines only on the nodes with these labels (added
// to any given before). The runner's job pods must select the same nodes:
// a job reaches the engine of its own node through the socket.
func WithNodeSelector(sel map[string]string) Option {
	return func(c *config) {
		if c.nodeSelector == nil {
			c.nodeSelector = map[string]string{}
		}
		maps.Copy(c.nodeSelector, sel)
	}
}

// WithTolerations lets the engine run on tainted nodes, typically nodes
// kept for CI (taint dagger=true:NoSchedule, say).
func WithTolerations(t ...corev1.Toleration) Option {
	return func(c *config) { c.tolerations = append(c.tolerations, t...) }
}

// WithStateHostPath keeps the engine's cache at path on each node (default
// /var/lib/dagger-NAME). It must not be on overlayfs.
func WithStateHostPath(path string) Option { return func(c *config) { c.stateHostPath = path } }

// WithRunHostPath puts the engine's socket directory at path on each node
// (default /run/dagger-NAME); GitLabRunnerConfig's job pods mount the same
// path.
func WithRunHostPath(path string) Option { return func(c *config) { c.runHostPath = path } }

// WithHostNetwork runs the engine in the node's network namespace, for a
// registry mirror that only the node reaches (one on the node's loopback,
// as slipway's local cluster has). The engine's own container network
// (10.87.0.0/16 by default) then lives on the node too, so only one engine
// per node may use it.
func WithHostNetwork() Option { return func(c *config) { c.hostNetwork = true } }

// WithResources sets the engine container's requests and limits (default:
// a 100m CPU / 256Mi memory request and no limits: builds are bursty, and a
// CPU limit throttles every build on the node).
func WithResources(r corev1.ResourceRequirements) Option { return func(c *config) { c.resources = r } }

// WithRegistryMirror sends the engine's pulls from registry (docker.io,
// ghcr.io...) to mirrors, tried in order: an air-gapped cluster's pulls
// go to its own registry while pipeline code keeps its image references.
func WithRegistryMirror(registry string, mirrors ...string) Option {
	return func(c *config) {
		if c.mirrors == nil {
			c.mirrors = map[string][]string{}
		}
		c.mirrors[registry] = append(c.mirrors[registry], mirrors...)
	}
}

// WithInsecureRegistry lets the engine talk plain HTTP (or unverified TLS)
// to hosts: a registry inside the cluster's network without certificates.
func WithInsecureRegistry(hosts ...string) Option {
	return func(c *config) { c.insecure = append(c.insecure, hosts...) }
}

// WithEngineTOML appends raw TOML to the rendered engine.toml (buildkitd's
// format: see docs.dagger.io/configuration/engine), for settings no option
// covers, such as [log] or gc policies.
func WithEngineTOML(toml string) Option { return func(c *config) { c.extraTOML = toml } }

// WithTerminationGracePeriod gives a stopping engine seconds to finish the
// builds in flight (default 300, Dagger's chart's value).
func WithTerminationGracePeriod(seconds int64) Option {
	return func(c *config) { c.gracePeriod = seconds }
}

// WithImagePullPolicy sets the engine image's pull policy (default
// IfNotPresent; images are best referenced by digest).
func WithImagePullPolicy(p corev1.PullPolicy) Option {
	return func(c *config) { c.imagePullPolicy = p }
}

// WithPriorityClassName keeps the engine from being evicted before the
// workloads it builds for.
func WithPriorityClassName(name string) Option {
	return func(c *config) { c.priorityClassName = name }
}

// WithLabels adds labels to every object and to the engine pods.
func WithLabels(l map[string]string) Option {
	return func(c *config) {
		if c.extraLabels == nil {
			c.extraLabels = map[string]string{}
		}
		maps.Copy(c.extraLabels, l)
	}
}

func newConfig(opts []Option) (*config, error) {
	c := &config{
		name: DefaultName, namespace: DefaultNamespace, createNamespace: true, gracePeriod: 300,
		imagePullPolicy: corev1.PullIfNotPresent, readinessPeriodSec: 5,
		resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("100m"),
			corev1.ResourceMemory: resource.MustParse("256Mi"),
		}},
	}
	for _, o := range opts {
		o(c)
	}
	if c.stateHostPath == "" {
		c.stateHostPath = "/var/lib/dagger-" + c.name
	}
	if c.runHostPath == "" {
		c.runHostPath = "/run/dagger-" + c.name
	}
	for what, v := range map[string]string{"name": c.name, "namespace": c.namespace} {
		if errs := validation.IsDNS1123Label(v); len(errs) > 0 {
			return nil, fmt.Errorf("engine manifests: %s %q: %s", what, v, strings.Join(errs, "; "))
		}
	}
	for what, p := range map[string]string{"state host path": c.stateHostPath, "run host path": c.runHostPath} {
		if !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("engine manifests: %s %q is not absolute", what, p)
		}
	}
	for k, v := range c.nodeSelector {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return nil, fmt.Errorf("engine manifests: node selector key %q: %s", k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return nil, fmt.Errorf("engine manifests: node selector %s=%q: %s", k, v, strings.Join(errs, "; "))
		}
	}
	for reg, ms := range c.mirrors {
		for _, h := range append([]string{reg}, ms...) {
			if err := checkHost(h); err != nil {
				return nil, fmt.Errorf("engine manifests: registry mirror: %w", err)
			}
		}
	}
	for _, h := range c.insecure {
		if err := checkHost(h); err != nil {
			return nil, fmt.Errorf("engine manifests: insecure registry: %w", err)
		}
	}
	return c, nil
}

// checkHost accepts what engine.toml takes as a registry: host[:port],
// nothing that would need escaping in TOML.
func checkHost(h string) error {
	if h == "" || strings.ContainsAny(h, "\"\\/ \t\n[]") {
		return fmt.Errorf("%q is not a registry host[:port]", h)
	}
	return nil
}

// labels are every object's labels.
func (c *config) labels() map[string]string {
	l := map[string]string{
		"app.kubernetes.io/name":       "dagger-engine",
		"app.kubernetes.io/instance":   c.name,
		"app.kubernetes.io/managed-by": "slipway",
	}
	maps.Copy(l, c.extraLabels)
	return l
}

// podLabels select the engine pods; "name" is the label Dagger's chart
// and guide select them by.
func (c *config) podLabels() map[string]string {
	l := c.labels()
	l["name"] = c.name
	return l
}

// EngineTOML is the engine configuration Manifests puts in its ConfigMap:
// the socket where the run volume is, the registry mirrors and insecure
// registries of opts, then WithEngineTOML's text.
func EngineTOML(opts ...Option) (string, error) {
	c, err := newConfig(opts)
	if err != nil {
		return "", err
	}
	return c.engineTOML(), nil
}

func (c *config) engineTOML() string {
	var b strings.Builder
	b.WriteString("# Rendered by slipway (deploy/engine): the Dagger engine's buildkitd-style configuration.\n")
	fmt.Fprintf(&b, "root = %q\n", StateDir)
	b.WriteString("# The socket is in the run volume, a hostPath that job pods on the node mount.\n")
	fmt.Fprintf(&b, "[grpc]\n  address = [%q]\n", "unix://"+SocketPath)
	if len(c.mirrors) > 0 {
		b.WriteString("# Pulls from these registries go to the mirrors; pipeline code keeps its image references.\n")
	}
	for _, reg := range slices.Sorted(maps.Keys(c.mirrors)) {
		quoted := make([]string, len(c.mirrors[reg]))
		for i, m := range c.mirrors[reg] {
			quoted[i] = fmt.Sprintf("%q", m)
		}
		fmt.Fprintf(&b, "[registry.%q]\n  mirrors = [%s]\n", reg, strings.Join(quoted, ", "))
		if slices.Contains(c.insecure, reg) {
			b.WriteString("  http = true\n  insecure = true\n")
		}
	}
	for _, h := range c.insecure {
		if _, done := c.mirrors[h]; done {
			continue
		}
		fmt.Fprintf(&b, "[registry.%q]\n  http = true\n  insecure = true\n", h)
	}
	if c.extraTOML != "" {
		b.WriteString(strings.TrimRight(c.extraTOML, "\n") + "\n")
	}
	return b.String()
}

// Manifests renders the engine's objects for image (a reference the nodes
// can pull, ideally by digest; Dagger's own is
// registry.dagger.io/engine:VERSION, and the CLI must be the same version):
// the Namespace (unless WithoutNamespace), a ServiceAccount with no API
// token (the engine never calls the API), the ConfigMap holding
// engine.toml, and the DaemonSet.
func Manifests(image string, opts ...Option) ([]runtime.Object, error) {
	if image == "" {
		return nil, fmt.Errorf("engine manifests: no engine image")
	}
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	toml := c.engineTOML()
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: c.namespace, Labels: c.labels()}
	}
	var objs []runtime.Object
	if c.createNamespace {
		objs = append(objs, &corev1.Namespace{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
			ObjectMeta: metav1.ObjectMeta{Name: c.namespace, Labels: c.labels()},
		})
	}
	no := false
	objs = append(objs,
		&corev1.ServiceAccount{
			TypeMeta:                     metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
			ObjectMeta:                   meta(c.name),
			AutomountServiceAccountToken: &no,
		},
		&corev1.ConfigMap{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: meta(c.name),
			Data:       map[string]string{"engine.toml": toml},
		},
		c.daemonSet(image, toml),
	)
	return objs, nil
}

func (c *config) daemonSet(image, toml string) *appsv1.DaemonSet {
	yes, no := true, false
	dirOrCreate := corev1.HostPathDirectoryOrCreate
	sum := sha256.Sum256([]byte(toml))
	grace := c.gracePeriod
	dnsPolicy := corev1.DNSClusterFirst
	if c.hostNetwork {
		// The node's resolver: cluster DNS names are rarely what an
		// engine on the node's network needs, and ClusterFirst would not
		// apply to a host-network pod anyway.
		dnsPolicy = corev1.DNSDefault
	}
	pod := corev1.PodSpec{
		ServiceAccountName:            c.name,
		AutomountServiceAccountToken:  &no,
		NodeSelector:                  c.nodeSelector,
		Tolerations:                   c.tolerations,
		HostNetwork:                   c.hostNetwork,
		DNSPolicy:                     dnsPolicy,
		PriorityClassName:             c.priorityClassName,
		TerminationGracePeriodSeconds: &grace,
		Containers: []corev1.Container{{
			Name:            ContainerName,
			Image:           image,
			ImagePullPolicy: c.imagePullPolicy,
			// Dagger's image starts the engine the same way; setting it
			// here makes the config path part of the manifest.
			Command: []string{"dagger-engine", "--config", ConfigPath},
			// The engine mounts, runs runc and sets up its own container
			// network: it needs every capability, like `docker run
			// --privileged` in Dagger's runner requirements.
			SecurityContext: &corev1.SecurityContext{Privileged: &yes},
			Resources:       c.resources,
			// Ready once the engine answers on its socket: the probe runs
			// the very proxy every kube-pod:// client runs (`buildctl
			// dial-stdio`, in Dagger's image and slipway's), with no input,
			// so the engine sees the client hang up and the proxy ends.
			ReadinessProbe: &corev1.Probe{
				ProbeHandler:     corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: ReadinessCommand}},
				PeriodSeconds:    c.readinessPeriodSec,
				TimeoutSeconds:   5,
				FailureThreshold: 3,
			},
			VolumeMounts: []corev1.VolumeMount{
				{Name: "state", MountPath: StateDir},
				{Name: "run", MountPath: SocketDir},
				{Name: "config", MountPath: ConfigPath, SubPath: "engine.toml", ReadOnly: true},
			},
		}},
		Volumes: []corev1.Volume{
			{Name: "state", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: c.stateHostPath, Type: &dirOrCreate}}},
			{Name: "run", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: c.runHostPath, Type: &dirOrCreate}}},
			{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: c.name},
			}}},
		},
	}
	return &appsv1.DaemonSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"},
		ObjectMeta: metav1.ObjectMeta{Name: c.name, Namespace: c.namespace, Labels: c.labels()},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"name": c.name}},
			// One engine per node at a time: two would share the state
			// directory, which the engine locks: a rolling update with no
			// surge stops the old pod before the new one starts.
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels: c.podLabels(),
					// A changed engine.toml rolls the pods: a subPath mount
					// never sees ConfigMap updates.
					Annotations: map[string]string{"slipway.dev/engine-config-sha256": hex.EncodeToString(sum[:])},
				},
				Spec: pod,
			},
		},
	}
}

// YAML is Manifests as one multi-document YAML file, in apply order.
func YAML(image string, opts ...Option) ([]byte, error) {
	objs, err := Manifests(image, opts...)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	for i, o := range objs {
		y, err := yaml.Marshal(o)
		if err != nil {
			return nil, fmt.Errorf("engine manifests: encoding %T: %w", o, err)
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(y)
	}
	return []byte(stripStatus(b.String())), nil
}

// stripStatus drops the empty status and creationTimestamp fields that the
// typed objects marshal: noise in a committed manifest.
func stripStatus(s string) string {
	var out []string
	lines := strings.Split(s, "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.TrimSpace(l) == "creationTimestamp: null" {
			continue
		}
		if l == "status:" || strings.HasPrefix(l, "status: {}") {
			// A top-level status block: skip its indented lines.
			for i+1 < len(lines) && strings.HasPrefix(lines[i+1], " ") {
				i++
			}
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// RunnerHostForPod is the _EXPERIMENTAL_DAGGER_RUNNER_HOST value that
// reaches the engine in pod through kubectl exec (Dagger's kube-pod
// driver): the client needs kubectl on its PATH, a kubeconfig, and the
// pods/exec permission in namespace.
func RunnerHostForPod(pod, namespace string) string {
	return "kube-pod://" + pod + "?namespace=" + namespace + "&container=" + ContainerName
}

// ReadinessCommand is the engine container's readiness probe.
var ReadinessCommand = []string{"sh", "-c", "buildctl dial-stdio </dev/null >/dev/null"}

// RunnerHostSocket is the _EXPERIMENTAL_DAGGER_RUNNER_HOST value of a pod
// that mounts the engine's run hostPath at SocketDir.
const RunnerHostSocket = "unix://" + SocketPath
