// Package manifest reads a team's Kubernetes objects from a directory: a
// kustomization (rendered with kustomize's own API, as `kubectl kustomize`
// does) or plain YAML and JSON files. The objects it returns are what
// deploy.Release.Bundle takes.
//
// Reading is strict, because a deploy must fail before it changes anything:
// a file that is not a Kubernetes object, an object without a kind or name,
// two objects with the same kind, namespace and name, and a kustomize error
// are each refused, naming the file or the object and what to fix.
package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Kustomizations are the file names that make a directory a kustomization,
// as kustomize itself recognises them.
var Kustomizations = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// ErrNoObjects is returned (wrapped) when a directory holds no object.
var ErrNoObjects = errors.New("no Kubernetes objects")

// Load reads the objects in dir. When dir holds a kustomization file, it is
// rendered with kustomize (its bases and components may be anywhere below
// the file system root, as with `kubectl kustomize`); otherwise every .yaml,
// .yml and .json file directly in dir and its subdirectories is read, in
// lexical order, each possibly holding several documents or a List.
func Load(dir string) ([]*unstructured.Unstructured, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("manifests %s: %w", dir, err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("manifests %s: not a directory; give the directory that holds the YAML files or the kustomization", dir)
	}
	if k := kustomization(dir); k != "" {
		return kustomize(dir, k)
	}
	return plain(dir)
}

// IsKustomization reports whether dir holds a kustomization file.
func IsKustomization(dir string) bool { return kustomization(dir) != "" }

func kustomization(dir string) string {
	for _, name := range Kustomizations {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return name
		}
	}
	return ""
}

// kustomize renders the kustomization in dir.
func kustomize(dir, file string) ([]*unstructured.Unstructured, error) {
	opts := krusty.MakeDefaultOptions()
	// Helm charts inflated by kustomize would need a helm binary and the
	// network; slipway deploys charts with Helm's SDK instead.
	opts.PluginConfig.HelmConfig.Enabled = false
	rm, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("manifests %s: kustomize could not render %s: %w", dir, file, err)
	}
	var out []*unstructured.Unstructured
	for _, r := range rm.Resources() {
		m, err := r.Map()
		if err != nil {
			return nil, fmt.Errorf("manifests %s: kustomize rendered %s, which is not an object: %w", dir, r.CurId(), err)
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	if err := check(out, func(i int) string { return dir + " (kustomize)" }); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("manifests %s: the kustomization renders %w", dir, ErrNoObjects)
	}
	return out, nil
}

// plain reads the YAML and JSON files below dir.
func plain(dir string) ([]*unstructured.Unstructured, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("manifests %s: %w", dir, err)
	}
	slices.Sort(files)
	var out []*unstructured.Unstructured
	var from []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("manifests: %w", err)
		}
		objs, err := Decode(data)
		if err != nil {
			return nil, fmt.Errorf("manifests %s: %w", f, err)
		}
		for range objs {
			from = append(from, f)
		}
		out = append(out, objs...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("manifests %s: %w in its .yaml, .yml or .json files", dir, ErrNoObjects)
	}
	if err := check(out, func(i int) string { return from[i] }); err != nil {
		return nil, err
	}
	return out, nil
}

// Decode reads the objects in one YAML or JSON document stream. Empty
// documents are skipped; a List's items are returned one by one.
func Decode(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for doc := 1; ; doc++ {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("document %d: %w", doc, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.IsList() {
			list, err := u.ToList()
			if err != nil {
				return nil, fmt.Errorf("document %d: a List: %w", doc, err)
			}
			for i := range list.Items {
				out = append(out, &list.Items[i])
			}
			continue
		}
		if u.GetAPIVersion() == "" || u.GetKind() == "" {
			return nil, fmt.Errorf("document %d is not a Kubernetes object: it has no apiVersion or kind", doc)
		}
		out = append(out, u)
	}
}

// check refuses objects without a name and duplicates; where names the
// source of object i.
func check(objs []*unstructured.Unstructured, where func(i int) string) error {
	seen := map[string]string{}
	for i, o := range objs {
		if o.GetName() == "" && o.GetGenerateName() == "" {
			return fmt.Errorf("manifests %s: a %s has no metadata.name", where(i), o.GetKind())
		}
		key := o.GroupVersionKind().GroupKind().String() + " " + o.GetNamespace() + "/" + o.GetName()
		if prev, dup := seen[key]; dup {
			return fmt.Errorf("manifests: %s %q is defined twice (%s and %s); keep one", o.GetKind(), o.GetName(), prev, where(i))
		}
		seen[key] = where(i)
	}
	return nil
}
