package gitops

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ApplicationSpec is an Argo CD Application in the form the seed (3.3)
// gives it: automated sync with prune and selfHeal, and the destination
// namespace created when missing. The generated GitOps layouts and the
// tests' Applications are made from it, so both have the same shape.
type ApplicationSpec struct {
	Name string
	// Namespace is Argo CD's namespace (default "argocd").
	Namespace string
	// Project is the AppProject (default "default").
	Project string
	// RepoURL, TargetRevision (default "HEAD") and Path are the source.
	RepoURL, TargetRevision, Path string
	// ValueFiles, when set, make the source a Helm chart at Path with
	// these values files (relative to Path).
	ValueFiles []string
	// Server is the destination cluster (default the cluster Argo CD
	// runs in, https://kubernetes.default.svc); DestinationNamespace the
	// namespace deployed into.
	Server, DestinationNamespace string
}

// Object renders the Application.
func (s ApplicationSpec) Object() *unstructured.Unstructured {
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	source := map[string]any{"repoURL": s.RepoURL, "targetRevision": or(s.TargetRevision, "HEAD"), "path": s.Path}
	if len(s.ValueFiles) > 0 {
		files := make([]any, len(s.ValueFiles))
		for i, f := range s.ValueFiles {
			files[i] = f
		}
		source["helm"] = map[string]any{"valueFiles": files}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1",
		"kind":       "Application",
		"metadata":   map[string]any{"name": s.Name, "namespace": or(s.Namespace, "argocd")},
		"spec": map[string]any{
			"project":     or(s.Project, "default"),
			"source":      source,
			"destination": map[string]any{"server": or(s.Server, "https://kubernetes.default.svc"), "namespace": s.DestinationNamespace},
			"syncPolicy": map[string]any{
				"automated":   map[string]any{"prune": true, "selfHeal": true},
				"syncOptions": []any{"CreateNamespace=true"},
			},
		},
	}}
}

// ProjectSpec is an Argo CD AppProject that allows one source repository
// and a set of destination namespaces on one cluster: the seed's
// Applications name the project "telecom".
type ProjectSpec struct {
	Name, Namespace string
	RepoURLs        []string
	// Namespaces the project's Applications may deploy into.
	Namespaces []string
	Server     string
}

// Object renders the AppProject.
func (p ProjectSpec) Object() *unstructured.Unstructured {
	ns := p.Namespace
	if ns == "" {
		ns = "argocd"
	}
	server := p.Server
	if server == "" {
		server = "https://kubernetes.default.svc"
	}
	repos := make([]any, len(p.RepoURLs))
	for i, r := range p.RepoURLs {
		repos[i] = r
	}
	var dests []any
	for _, n := range p.Namespaces {
		dests = append(dests, map[string]any{"server": server, "namespace": n})
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1",
		"kind":       "AppProject",
		"metadata":   map[string]any{"name": p.Name, "namespace": ns},
		"spec": map[string]any{
			"sourceRepos":  repos,
			"destinations": dests,
			// CreateNamespace=true creates the destination namespace.
			"clusterResourceWhitelist": []any{map[string]any{"group": "", "kind": "Namespace"}},
		},
	}}
}
