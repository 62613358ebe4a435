package shimrun

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"

	"go.yaml.in/yaml/v3"
)

// dindVariables are the job variables of Dagger's docker:dind recipe as
// pipeline/gitlab writes them (pipeline.DockerEngine): they address the
// service's Docker daemon and nothing else.
var dindVariables = map[string]string{
	"DOCKER_HOST":        "tcp://docker:2376",
	"DOCKER_TLS_CERTDIR": "/certs",
	"DOCKER_TLS_VERIFY":  "1",
	"DOCKER_CERT_PATH":   "/certs/client",
	"DOCKER_DRIVER":      "overlay2",
}

var (
	dindServiceRE = regexp.MustCompile(`^docker:([0-9.]+)-dind$`)
	dindImageRE   = regexp.MustCompile(`^docker:([0-9.]+)-cli$`)
)

// StandInDockerEngine rewrites a .gitlab-ci.yml whose jobs get their Dagger
// engine from Dagger's docker:dind recipe (pipeline.DockerEngine) so that
// gitlab-ci-local's shell executor, which cannot start service containers,
// runs it with a runner-provided engine instead: the engine that the run's
// environment names in _EXPERIMENTAL_DAGGER_RUNNER_HOST (Run.Env).
//
// The transformation is the smallest that stands for the service: in each
// job whose image is docker:<v>-cli and whose only service is
// docker:<v>-dind, it removes image and services, and the five recipe
// variables (DOCKER_HOST=tcp://docker:2376 and the TLS and storage settings)
// that address the service's daemon. Everything else (rules, needs, the
// Dagger set-up, the `dagger call` lines, artifacts) runs as generated. A
// dind job that deviates from the recipe (another service, another
// variable value, versions that differ) is an error, not silently changed.
// It returns the rewritten file and the jobs it changed, in file order.
func StandInDockerEngine(file []byte) ([]byte, []string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(file, &doc); err != nil {
		return nil, nil, fmt.Errorf("dind stand-in: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, nil, fmt.Errorf("dind stand-in: the file is not a mapping")
	}
	root := doc.Content[0]
	if v := lookupNode(root, "services"); v != nil {
		return nil, nil, fmt.Errorf("dind stand-in: top-level services are not slipway's recipe; the stand-in handles jobs' own")
	}
	var changed []string
	for i := 0; i+1 < len(root.Content); i += 2 {
		name, job := root.Content[i].Value, root.Content[i+1]
		if job.Kind != yaml.MappingNode || slices.Contains(gitlabKeywords, name) {
			continue
		}
		services := lookupNode(job, "services")
		if services == nil {
			continue
		}
		if err := checkDind(name, job, services); err != nil {
			return nil, nil, fmt.Errorf("dind stand-in: %w", err)
		}
		removeKeys(job, "image", "services")
		if vars := lookupNode(job, "variables"); vars != nil {
			for k := range dindVariables {
				removeKeys(vars, k)
			}
			if len(vars.Content) == 0 {
				removeKeys(job, "variables")
			}
		}
		changed = append(changed, name)
	}
	if len(changed) == 0 {
		return file, nil, nil
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, nil, fmt.Errorf("dind stand-in: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, nil, fmt.Errorf("dind stand-in: %w", err)
	}
	return b.Bytes(), changed, nil
}

// checkDind checks that job uses exactly the recipe.
func checkDind(name string, job, services *yaml.Node) error {
	if services.Kind != yaml.SequenceNode || len(services.Content) != 1 || services.Content[0].Kind != yaml.ScalarNode {
		return fmt.Errorf("job %q: services are not exactly one docker:<version>-dind", name)
	}
	svc := dindServiceRE.FindStringSubmatch(services.Content[0].Value)
	if svc == nil {
		return fmt.Errorf("job %q: service %q is not docker:<version>-dind", name, services.Content[0].Value)
	}
	image := lookupNode(job, "image")
	if image == nil || image.Kind != yaml.ScalarNode {
		return fmt.Errorf("job %q: a dind job without the docker:%s-cli image", name, svc[1])
	}
	img := dindImageRE.FindStringSubmatch(image.Value)
	if img == nil || img[1] != svc[1] {
		return fmt.Errorf("job %q: image %q is not docker:%s-cli, the CLI of its service", name, image.Value, svc[1])
	}
	vars := lookupNode(job, "variables")
	for k, want := range dindVariables {
		v := lookupNode(vars, k)
		if v == nil || v.Value != want {
			return fmt.Errorf("job %q: variable %s is not the recipe's %q", name, k, want)
		}
	}
	return nil
}

// lookupNode returns the value of key in the mapping m, or nil.
func lookupNode(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// removeKeys deletes keys from the mapping m.
func removeKeys(m *yaml.Node, keys ...string) {
	out := m.Content[:0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if !slices.Contains(keys, m.Content[i].Value) {
			out = append(out, m.Content[i], m.Content[i+1])
		}
	}
	m.Content = out
}
