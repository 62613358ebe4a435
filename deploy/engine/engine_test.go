package engine_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/slipway-ci/slipway/deploy/engine"
	"github.com/slipway-ci/slipway/pipeline"
)

var update = flag.Bool("update", false, "rewrite the committed renderings in docs/engine-on-kubernetes")

// docsDir holds the committed renderings docs/engine-on-kubernetes.md
// shows.
const docsDir = "../../docs/engine-on-kubernetes"

// teamImage is the example's engine image: Dagger's own, of the version the
// pipeline's CLI is.
var teamImage = "registry.dagger.io/engine:" + pipeline.DefaultDaggerVersion

// teamOptions are the example's: CI nodes labelled and tainted for Dagger,
// Docker Hub pulls through the team's registry.
func teamOptions() []engine.Option {
	return []engine.Option{
		engine.WithNodeSelector(map[string]string{"ci.example.com/dagger": "true"}),
		engine.WithTolerations(corev1.Toleration{Key: "ci.example.com/dagger", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}),
		engine.WithRegistryMirror("docker.io", "registry.example.com"),
	}
}

func teamRunnerOptions() []engine.RunnerOption {
	return []engine.RunnerOption{
		engine.WithGitLabURL("https://gitlab.example.com/"),
		engine.WithJobImage("registry.example.com/ci/dagger-cli:" + pipeline.DefaultDaggerVersion),
		engine.WithJobNodeSelector(map[string]string{"ci.example.com/dagger": "true"}),
		engine.WithJobToleration("ci.example.com/dagger", "", "NoSchedule"),
	}
}

// decode parses a multi-document YAML file with client-go's scheme, as
// kubectl would: every document must be a known, well-formed object.
func decode(t *testing.T, y []byte) []runtime.Object {
	t.Helper()
	var out []runtime.Object
	for _, doc := range strings.Split(string(y), "\n---\n") {
		obj, gvk, err := scheme.Codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("decoding %q: %v", doc, err)
		}
		if gvk.Kind == "" || gvk.Version == "" {
			t.Fatalf("document without apiVersion/kind: %q", doc)
		}
		out = append(out, obj)
	}
	return out
}

func TestYAMLDecodesAsTheTypedObjects(t *testing.T) {
	y, err := engine.YAML(teamImage, teamOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	objs := decode(t, y)
	typed, err := engine.Manifests(teamImage, teamOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != len(typed) {
		t.Fatalf("YAML has %d documents, Manifests %d objects", len(objs), len(typed))
	}
	var kinds []string
	for i, o := range objs {
		kinds = append(kinds, reflect.TypeOf(o).Elem().Name())
		if reflect.TypeOf(o) != reflect.TypeOf(typed[i]) {
			t.Errorf("document %d is a %T, Manifests has a %T", i, o, typed[i])
		}
	}
	if got := strings.Join(kinds, ","); got != "Namespace,ServiceAccount,ConfigMap,DaemonSet" {
		t.Errorf("kinds in apply order = %s", got)
	}
	if bytes.Contains(y, []byte("creationTimestamp")) || bytes.Contains(y, []byte("status:")) {
		t.Errorf("rendering carries empty status fields:\n%s", y)
	}
}

func daemonSet(t *testing.T, image string, opts ...engine.Option) (*appsv1.DaemonSet, *corev1.ConfigMap) {
	t.Helper()
	objs, err := engine.Manifests(image, opts...)
	if err != nil {
		t.Fatal(err)
	}
	var ds *appsv1.DaemonSet
	var cm *corev1.ConfigMap
	for _, o := range objs {
		switch o := o.(type) {
		case *appsv1.DaemonSet:
			ds = o
		case *corev1.ConfigMap:
			cm = o
		}
	}
	if ds == nil || cm == nil {
		t.Fatalf("Manifests rendered no DaemonSet or ConfigMap: %v", objs)
	}
	return ds, cm
}

func TestDaemonSet(t *testing.T) {
	ds, cm := daemonSet(t, "example.com/engine@sha256:abc", append(teamOptions(), engine.WithNamespace("ci-engines"), engine.WithName("eng"))...)
	if ds.Namespace != "ci-engines" || ds.Name != "eng" || cm.Name != "eng" {
		t.Errorf("names: DaemonSet %s/%s, ConfigMap %s", ds.Namespace, ds.Name, cm.Name)
	}
	sel := ds.Spec.Selector.MatchLabels
	for k, v := range sel {
		if ds.Spec.Template.Labels[k] != v {
			t.Errorf("selector %s=%s does not match the pod template's labels %v", k, v, ds.Spec.Template.Labels)
		}
	}
	if ds.Spec.Template.Labels["name"] != "eng" {
		t.Errorf("pods lack the name label Dagger's guide selects them by: %v", ds.Spec.Template.Labels)
	}
	pod := ds.Spec.Template.Spec
	if pod.NodeSelector["ci.example.com/dagger"] != "true" || len(pod.Tolerations) != 1 {
		t.Errorf("placement: nodeSelector %v, tolerations %v", pod.NodeSelector, pod.Tolerations)
	}
	if pod.HostNetwork {
		t.Error("host network without WithHostNetwork")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Name != engine.ContainerName || c.Image != "example.com/engine@sha256:abc" {
		t.Errorf("container %s image %s", c.Name, c.Image)
	}
	if c.SecurityContext == nil || c.SecurityContext.Privileged == nil || !*c.SecurityContext.Privileged {
		t.Error("the engine container is not privileged")
	}
	if got := strings.Join(c.Command, " "); got != "dagger-engine --config "+engine.ConfigPath {
		t.Errorf("command %q", got)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.Exec == nil || !strings.Contains(strings.Join(c.ReadinessProbe.Exec.Command, " "), "buildctl dial-stdio") {
		t.Errorf("readiness probe %+v", c.ReadinessProbe)
	}
	if cpu := c.Resources.Requests.Cpu(); cpu.MilliValue() > 100 {
		t.Errorf("CPU request %s: a small node could not schedule it", cpu)
	}
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		vols[v.Name] = v
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		if _, ok := vols[m.Name]; !ok {
			t.Errorf("mount %s names no volume", m.Name)
		}
		mounts[m.MountPath] = m.Name
	}
	for path, want := range map[string]string{engine.StateDir: "/var/lib/dagger-eng", engine.SocketDir: "/run/dagger-eng"} {
		v := vols[mounts[path]]
		if v.HostPath == nil || v.HostPath.Path != want {
			t.Errorf("%s is mounted from %+v, want hostPath %s", path, v.VolumeSource, want)
		}
	}
	if v := vols[mounts[engine.ConfigPath]]; v.ConfigMap == nil || v.ConfigMap.Name != "eng" {
		t.Errorf("%s is mounted from %+v, want the ConfigMap", engine.ConfigPath, v.VolumeSource)
	}
	if ds.Spec.Template.Annotations["slipway.dev/engine-config-sha256"] == "" {
		t.Error("no config checksum on the pod template: a changed engine.toml would not roll the pods")
	}
	// A different engine.toml changes the checksum.
	ds2, _ := daemonSet(t, "example.com/engine@sha256:abc", engine.WithRegistryMirror("docker.io", "other.example.com"))
	if ds2.Spec.Template.Annotations["slipway.dev/engine-config-sha256"] == ds.Spec.Template.Annotations["slipway.dev/engine-config-sha256"] {
		t.Error("config checksum ignores the config")
	}
}

func TestOptions(t *testing.T) {
	ds, _ := daemonSet(t, "img", engine.WithHostNetwork(), engine.WithStateHostPath("/data/dagger"), engine.WithRunHostPath("/tmp/x/run"),
		engine.WithTerminationGracePeriod(10), engine.WithLabels(map[string]string{"team": "a"}))
	pod := ds.Spec.Template.Spec
	if !pod.HostNetwork || pod.DNSPolicy != corev1.DNSDefault {
		t.Errorf("host network %v, DNS policy %s", pod.HostNetwork, pod.DNSPolicy)
	}
	if *pod.TerminationGracePeriodSeconds != 10 || ds.Labels["team"] != "a" || ds.Spec.Template.Labels["team"] != "a" {
		t.Errorf("grace %d, labels %v / %v", *pod.TerminationGracePeriodSeconds, ds.Labels, ds.Spec.Template.Labels)
	}
	paths := map[string]bool{}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			paths[v.HostPath.Path] = true
		}
	}
	if !paths["/data/dagger"] || !paths["/tmp/x/run"] {
		t.Errorf("host paths %v", paths)
	}
	objs, err := engine.Manifests("img", engine.WithoutNamespace())
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if _, ok := o.(*corev1.Namespace); ok {
			t.Error("WithoutNamespace still renders the Namespace")
		}
	}
}

func TestInvalidOptions(t *testing.T) {
	for name, opts := range map[string][]engine.Option{
		"name":          {engine.WithName("Not_A_Name")},
		"namespace":     {engine.WithNamespace("")},
		"node selector": {engine.WithNodeSelector(map[string]string{"bad key!": "x"})},
		"mirror":        {engine.WithRegistryMirror("docker.io", "https://registry.example.com/")},
		"insecure":      {engine.WithInsecureRegistry("a b")},
		"state path":    {engine.WithStateHostPath("relative")},
	} {
		if _, err := engine.Manifests("img", opts...); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := engine.Manifests(""); err == nil {
		t.Error("no image: no error")
	}
}

// engineTOML is what the engine reads, in the shape of buildkitd's config.
type engineTOML struct {
	Root string
	GRPC struct {
		Address []string
	}
	Registry map[string]struct {
		Mirrors  []string
		HTTP     bool
		Insecure bool
	}
}

func TestEngineTOML(t *testing.T) {
	s, err := engine.EngineTOML(engine.WithRegistryMirror("docker.io", "127.0.0.1:5000", "registry.example.com"),
		engine.WithRegistryMirror("ghcr.io", "127.0.0.1:5000"),
		engine.WithInsecureRegistry("127.0.0.1:5000", "ghcr.io"),
		engine.WithEngineTOML("[log]\n  format = \"json\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	var c engineTOML
	md, err := toml.Decode(s, &c)
	if err != nil {
		t.Fatalf("engine.toml does not parse: %v\n%s", err, s)
	}
	if c.Root != engine.StateDir || len(c.GRPC.Address) != 1 || c.GRPC.Address[0] != engine.RunnerHostSocket {
		t.Errorf("root %q, grpc %v", c.Root, c.GRPC.Address)
	}
	if got := c.Registry["docker.io"].Mirrors; strings.Join(got, ",") != "127.0.0.1:5000,registry.example.com" {
		t.Errorf("docker.io mirrors %v", got)
	}
	if r := c.Registry["127.0.0.1:5000"]; !r.HTTP || !r.Insecure {
		t.Errorf("127.0.0.1:5000 is not insecure: %+v", r)
	}
	if r := c.Registry["ghcr.io"]; !r.HTTP || len(r.Mirrors) != 1 {
		t.Errorf("ghcr.io: %+v", r)
	}
	if !md.IsDefined("log", "format") {
		t.Error("WithEngineTOML's text is missing")
	}
}

// runnerTOML is the part of gitlab-runner's config.toml the rendering sets.
type runnerTOML struct {
	Concurrent int
	Runners    []struct {
		Name, URL, Token, Executor string
		Environment                []string
		Kubernetes                 struct {
			Namespace, Image string
			NodeSelector     map[string]string `toml:"node_selector"`
			NodeTolerations  map[string]string `toml:"node_tolerations"`
			Volumes          struct {
				HostPath []struct {
					Name      string
					MountPath string `toml:"mount_path"`
					HostPath  string `toml:"host_path"`
					ReadOnly  bool   `toml:"read_only"`
				} `toml:"host_path"`
			}
		}
	}
}

func parseRunner(t *testing.T, opts ...engine.RunnerOption) runnerTOML {
	t.Helper()
	s, err := engine.GitLabRunnerConfig(opts...)
	if err != nil {
		t.Fatal(err)
	}
	var c runnerTOML
	md, err := toml.Decode(s, &c)
	if err != nil {
		t.Fatalf("config.toml does not parse: %v\n%s", err, s)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Fatalf("config.toml has keys the test does not know: %v", u)
	}
	if len(c.Runners) != 1 {
		t.Fatalf("%d runners", len(c.Runners))
	}
	return c
}

func TestGitLabRunnerConfigSocket(t *testing.T) {
	c := parseRunner(t, append(teamRunnerOptions(), engine.WithEngineRunHostPath("/run/dagger-eng"), engine.WithJobEnv("FOO=bar"))...)
	r := c.Runners[0]
	if r.Executor != "kubernetes" || r.URL != "https://gitlab.example.com/" || c.Concurrent != 4 {
		t.Errorf("executor %q url %q concurrent %d", r.Executor, r.URL, c.Concurrent)
	}
	if r.Token != "${RUNNER_TOKEN}" {
		t.Errorf("token %q: want the placeholder, never a real token", r.Token)
	}
	env := strings.Join(r.Environment, " ")
	if !strings.Contains(env, "_EXPERIMENTAL_DAGGER_RUNNER_HOST=unix:///run/dagger/engine.sock") || !strings.Contains(env, "FOO=bar") {
		t.Errorf("environment %v", r.Environment)
	}
	hp := r.Kubernetes.Volumes.HostPath
	if len(hp) != 1 || hp[0].MountPath != engine.SocketDir || hp[0].HostPath != "/run/dagger-eng" || hp[0].ReadOnly {
		t.Errorf("host path volumes %+v", hp)
	}
	if r.Kubernetes.NodeSelector["ci.example.com/dagger"] != "true" || r.Kubernetes.NodeTolerations["ci.example.com/dagger"] != "NoSchedule" {
		t.Errorf("placement: %v %v", r.Kubernetes.NodeSelector, r.Kubernetes.NodeTolerations)
	}
}

func TestGitLabRunnerConfigKubePod(t *testing.T) {
	c := parseRunner(t, engine.WithKubePodEngine("dagger-engine-0", "dagger"), engine.WithRunnerName(`a "quoted" name`))
	r := c.Runners[0]
	if r.Name != `a "quoted" name` {
		t.Errorf("name %q", r.Name)
	}
	if !strings.Contains(strings.Join(r.Environment, " "), "_EXPERIMENTAL_DAGGER_RUNNER_HOST=kube-pod://dagger-engine-0?namespace=dagger&container=dagger-engine") {
		t.Errorf("environment %v", r.Environment)
	}
	if len(r.Kubernetes.Volumes.HostPath) != 0 {
		t.Errorf("kube-pod jobs mount %v", r.Kubernetes.Volumes.HostPath)
	}
	for _, bad := range [][]engine.RunnerOption{{engine.WithConcurrent(0)}, {engine.WithEngineRunHostPath("x")}, {engine.WithJobEnv("NOEQUALS")}} {
		if _, err := engine.GitLabRunnerConfig(bad...); err == nil {
			t.Error("invalid option accepted")
		}
	}
}

// TestCommittedRenderings keeps docs/engine-on-kubernetes in step with the
// code (go test -run TestCommittedRenderings ./deploy/engine -update
// rewrites them).
func TestCommittedRenderings(t *testing.T) {
	y, err := engine.YAML(teamImage, teamOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	r, err := engine.GitLabRunnerConfig(teamRunnerOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string][]byte{"engine.yaml": y, "gitlab-runner-config.toml": []byte(r)} {
		p := filepath.Join(docsDir, file)
		if *update {
			if err := os.MkdirAll(docsDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%v (run: go test ./deploy/engine -run TestCommittedRenderings -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go test ./deploy/engine -run TestCommittedRenderings -update", p)
		}
	}
}

func TestRunnerHostForPod(t *testing.T) {
	if got := engine.RunnerHostForPod("p-1", "ns"); got != "kube-pod://p-1?namespace=ns&container=dagger-engine" {
		t.Errorf("got %q", got)
	}
}
