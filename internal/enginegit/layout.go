package enginegit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/discovery"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// LocalLayout reads a GitOps layout (a kustomize base, overlays/*, and
// the Argo CD objects under argocd/) from dir and makes it a repository's
// content on this machine: the repository URL the layout names (seedURL)
// becomes repoURL, and every overlay drops the objects of the kinds in
// unserved, each a "GROUP/VERSION/Kind" this cluster does not serve.
//
// Why drop: Argo CD fails the whole sync on an object whose kind the
// cluster lacks (the example's PrometheusRule on a cluster without the
// Prometheus Operator's CRDs), where the apply source skips it and the
// chart renders it only where it is served. The repository records the
// change as its own commit's content, so `git log` says what differs from
// the team's layout.
func LocalLayout(dir, seedURL, repoURL string, unserved ...string) (map[string]string, error) {
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = strings.ReplaceAll(string(b), seedURL, repoURL)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("enginegit: reading the layout %s: %w", dir, err)
	}
	overlays := 0
	for name, content := range files {
		if path.Base(name) != "kustomization.yaml" || !strings.HasPrefix(name, "overlays/") {
			continue
		}
		overlays++
		if len(unserved) == 0 {
			continue
		}
		var entries strings.Builder
		for _, k := range unserved {
			gv, kind := path.Split(k)
			gv = strings.TrimSuffix(gv, "/")
			if gv == "" || kind == "" {
				return nil, fmt.Errorf("enginegit: unserved kind %q: want GROUP/VERSION/Kind", k)
			}
			fmt.Fprintf(&entries, "- target:\n    kind: %s\n  patch: |-\n    $patch: delete\n    apiVersion: %s\n    kind: %s\n    metadata:\n      name: any\n", kind, gv, kind)
		}
		const why = "# This machine's cluster does not serve these kinds (Argo CD would fail the\n# sync on them): deleted here, as slipway's apply source skips them.\n"
		var b strings.Builder
		switch i := strings.Index(content, "\npatches:\n"); {
		case i >= 0:
			// The overlay has patches of its own (a top-level list, items
			// at column 0, as kustomize's docs and our layouts write it):
			// the deletions join that list, first.
			at := i + len("\npatches:\n")
			b.WriteString(content[:at])
			b.WriteString(why)
			b.WriteString(entries.String())
			b.WriteString(content[at:])
		case strings.Contains(content, "\npatches:"):
			return nil, fmt.Errorf("enginegit: %s has a patches: key that is not a block list: add the deletions by hand", name)
		default:
			b.WriteString(content)
			b.WriteString(why)
			b.WriteString("patches:\n")
			b.WriteString(entries.String())
		}
		files[name] = b.String()
	}
	if overlays == 0 {
		return nil, fmt.Errorf("enginegit: %s has no overlays/*/kustomization.yaml: not a GitOps layout", dir)
	}
	return files, nil
}

// KeepImages returns layout (LocalLayout's files) with each overlay's
// images: field taken from current (path -> content, what the repository
// holds now): the digests the promote steps wrote are the deployed state,
// which a newer layout must not reset to its placeholders. An overlay that
// either side cannot parse, or without images:, is the layout's.
func KeepImages(layout, current map[string]string) map[string]string {
	out := make(map[string]string, len(layout))
	for name, content := range layout {
		out[name] = content
		cur, ok := current[name]
		if !ok || path.Base(name) != "kustomization.yaml" || !strings.HasPrefix(name, "overlays/") {
			continue
		}
		if kept, err := withImagesOf(content, cur); err == nil {
			out[name] = kept
		}
	}
	return out
}

// withImagesOf returns the kustomization next with the images: field of
// cur, through kustomize's YAML library (comments and order kept).
func withImagesOf(next, cur string) (string, error) {
	n, err := kyaml.Parse(next)
	if err != nil {
		return "", err
	}
	c, err := kyaml.Parse(cur)
	if err != nil {
		return "", err
	}
	images, err := c.Pipe(kyaml.Lookup("images"))
	if err != nil || images == nil {
		return "", fmt.Errorf("no images: in the repository's kustomization: %v", err)
	}
	if cur, _ := n.Pipe(kyaml.Lookup("images")); cur == nil {
		return "", errors.New("no images: in the layout's kustomization")
	}
	if err := n.PipeE(kyaml.SetField("images", images)); err != nil {
		return "", err
	}
	return n.MustString(), nil
}

// UnservedKinds returns those of kinds (GROUP/VERSION/Kind) the cluster
// behind d does not serve: what LocalLayout should drop there.
func UnservedKinds(d discovery.DiscoveryInterface, kinds []string) ([]string, error) {
	var out []string
	for _, k := range kinds {
		i := strings.LastIndex(k, "/")
		if i < 0 {
			return nil, fmt.Errorf("enginegit: kind %q: want GROUP/VERSION/Kind", k)
		}
		gv, kind := k[:i], k[i+1:]
		list, err := d.ServerResourcesForGroupVersion(gv)
		switch {
		case apierrors.IsNotFound(err):
			out = append(out, k)
			continue
		case err != nil:
			return nil, fmt.Errorf("enginegit: asking the cluster whether it serves %s: %w", gv, err)
		}
		served := false
		for _, r := range list.APIResources {
			served = served || r.Kind == kind
		}
		if !served {
			out = append(out, k)
		}
	}
	return out, nil
}
