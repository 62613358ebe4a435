package gitops

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Target is where a promotion writes the digest in the repository:
// Kustomize or HelmValues.
type Target interface {
	fmt.Stringer
	// File is the file the promotion edits, relative to the repository.
	File() string
	// set writes image and returns what was there before ("" for nothing).
	set(root string, image name.Digest) (prev string, changed bool, err error)
	// restore puts prev back, only while the file still holds ours.
	restore(root string, prev string, ours name.Digest) (changed bool, err error)
	// verify checks, after set, that the image reaches a Deployment.
	verify(root string, image name.Digest) error
}

// Kustomize writes an `images:` entry into the kustomization in Dir:
// name Image (the image name the base's containers use), newName the
// repository, digest the digest, as `kustomize edit set image` does.
type Kustomize struct {
	// Dir is the overlay, relative to the repository root
	// ("overlays/staging").
	Dir string
	// Image is the name the entry matches in the base's containers.
	Image string
}

func (k Kustomize) String() string {
	return fmt.Sprintf("the kustomize images entry %q in %s", k.Image, k.File())
}

// File is the overlay's kustomization file.
func (k Kustomize) File() string { return filepath.ToSlash(filepath.Join(k.Dir, "kustomization.yaml")) }

func (k Kustomize) check() error {
	switch {
	case k.Dir == "" || filepath.IsAbs(k.Dir) || strings.HasPrefix(filepath.Clean(k.Dir), ".."):
		return fmt.Errorf("Kustomize.Dir %q: want the overlay's directory relative to the repository root (overlays/staging)", k.Dir)
	case k.Image == "":
		return errors.New("Kustomize.Image is empty: name the image the base's containers use, which the images entry replaces")
	}
	return nil
}

func (k Kustomize) load(root string) (*yaml.RNode, string, error) {
	path := filepath.Join(root, k.File())
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w (is Kustomize.Dir the overlay?)", k.File(), err)
	}
	var kust types.Kustomization
	if err := yaml.Unmarshal(raw, &kust); err != nil {
		return nil, "", fmt.Errorf("%s is not a kustomization: %w", k.File(), err)
	}
	node, err := yaml.Parse(string(raw))
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", k.File(), err)
	}
	return node, path, nil
}

// entry reads the images entry's current image as a reference.
func entryImage(e *yaml.RNode) string {
	if e == nil {
		return ""
	}
	get := func(f string) string {
		v, _ := e.GetString(f)
		return v
	}
	n := get("newName")
	if n == "" {
		n = get("name")
	}
	switch {
	case get("digest") != "":
		return n + "@" + get("digest")
	case get("newTag") != "":
		return n + ":" + get("newTag")
	case get("newName") != "":
		return n
	}
	return ""
}

func (k Kustomize) find(node *yaml.RNode) (*yaml.RNode, error) {
	images, err := node.Pipe(yaml.Lookup("images"))
	if err != nil || images == nil {
		return nil, err
	}
	return images.Pipe(yaml.ElementMatcher{Keys: []string{"name"}, Values: []string{k.Image}})
}

func (k Kustomize) write(node *yaml.RNode, path string) error {
	s, err := node.String()
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(s), 0o644)
}

func (k Kustomize) setEntry(node *yaml.RNode, ref string) error {
	images, err := node.Pipe(yaml.LookupCreate(yaml.SequenceNode, "images"))
	if err != nil {
		return err
	}
	e, err := images.Pipe(yaml.ElementMatcher{Keys: []string{"name"}, Values: []string{k.Image}, Create: yaml.NewMapRNode(&map[string]string{"name": k.Image})})
	if err != nil {
		return err
	}
	for _, f := range []string{"newName", "newTag", "digest"} {
		if err := e.PipeE(yaml.Clear(f)); err != nil {
			return err
		}
	}
	// ref is what entryImage read: NAME@DIGEST, NAME:TAG or NAME, kept
	// as written (no registry normalisation).
	set := func(f, v string) error { return e.PipeE(yaml.SetField(f, yaml.NewStringRNode(v))) }
	if n, d, ok := strings.Cut(ref, "@"); ok {
		if err := set("newName", n); err != nil {
			return err
		}
		return set("digest", d)
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		if err := set("newName", ref[:i]); err != nil {
			return err
		}
		return set("newTag", ref[i+1:])
	}
	return set("newName", ref)
}

func (k Kustomize) set(root string, image name.Digest) (string, bool, error) {
	node, path, err := k.load(root)
	if err != nil {
		return "", false, err
	}
	e, err := k.find(node)
	if err != nil {
		return "", false, fmt.Errorf("%s: %w", k.File(), err)
	}
	prev := entryImage(e)
	if prev == image.String() {
		return prev, false, nil
	}
	if err := k.setEntry(node, image.String()); err != nil {
		return "", false, fmt.Errorf("%s: %w", k.File(), err)
	}
	return prev, true, k.write(node, path)
}

func (k Kustomize) restore(root, prev string, ours name.Digest) (bool, error) {
	node, path, err := k.load(root)
	if err != nil {
		return false, err
	}
	e, err := k.find(node)
	if err != nil {
		return false, err
	}
	if entryImage(e) != ours.String() {
		return false, nil
	}
	if prev == "" {
		images, _ := node.Pipe(yaml.Lookup("images"))
		if err := images.PipeE(yaml.ElementSetter{Keys: []string{"name"}, Values: []string{k.Image}}); err != nil {
			return false, err
		}
		if len(images.Content()) == 0 {
			if err := node.PipeE(yaml.Clear("images")); err != nil {
				return false, err
			}
		}
	} else if err := k.setEntry(node, prev); err != nil {
		return false, err
	}
	return true, k.write(node, path)
}

// verify builds the overlay with kustomize's API, as Argo CD's
// repo-server will, and checks that a Deployment's container now runs
// the image: an entry whose name matches no container would be a silent
// no-op.
func (k Kustomize) verify(root string, image name.Digest) error {
	fs := filesys.MakeFsOnDisk()
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, filepath.Join(root, k.Dir))
	if err != nil {
		return fmt.Errorf("kustomize build %s fails: %w", k.Dir, err)
	}
	var seen []string
	for _, r := range res.Resources() {
		if r.GetKind() != "Deployment" {
			continue
		}
		m, err := r.Map()
		if err != nil {
			return err
		}
		spec, _ := m["spec"].(map[string]any)
		tmpl, _ := spec["template"].(map[string]any)
		pspec, _ := tmpl["spec"].(map[string]any)
		cts, _ := pspec["containers"].([]any)
		for _, c := range cts {
			cm, _ := c.(map[string]any)
			img, _ := cm["image"].(string)
			seen = append(seen, fmt.Sprintf("%s/%v: %s", r.GetName(), cm["name"], img))
			if img == image.String() {
				return nil
			}
		}
	}
	if len(seen) == 0 {
		return fmt.Errorf("kustomize build %s has no Deployment", k.Dir)
	}
	return fmt.Errorf("the images entry %q reaches no container of kustomize build %s (containers: %s): set Kustomize.Image to the image name the base's containers use", k.Image, k.Dir, strings.Join(seen, ", "))
}

// HelmValues writes the digest into a Helm values file that the
// Application's Helm source reads (valueFiles), at dot-separated paths.
// The paths must already exist in the file: a typo would add a key the
// chart never reads.
type HelmValues struct {
	// Path of the values file, relative to the repository root.
	Path string
	// Repository and Digest get registry/repo and sha256:<hex>; or
	// Reference alone gets registry/repo@sha256:<hex>.
	Repository, Digest, Reference string
}

func (h HelmValues) String() string {
	if h.Reference != "" {
		return fmt.Sprintf("the value %s in %s", h.Reference, h.Path)
	}
	return fmt.Sprintf("the values %s and %s in %s", h.Repository, h.Digest, h.Path)
}

// File is the values file.
func (h HelmValues) File() string { return filepath.ToSlash(h.Path) }

func (h HelmValues) check() error {
	switch {
	case h.Path == "" || filepath.IsAbs(h.Path) || strings.HasPrefix(filepath.Clean(h.Path), ".."):
		return fmt.Errorf("HelmValues.Path %q: want the values file relative to the repository root", h.Path)
	case h.Reference != "" && (h.Repository != "" || h.Digest != ""):
		return errors.New("HelmValues: set Reference alone, or Repository and Digest, not both")
	case h.Reference == "" && (h.Repository == "" || h.Digest == ""):
		return errors.New("HelmValues: set Repository and Digest (image.repository, image.digest), or Reference alone")
	}
	return nil
}

func (h HelmValues) paths() []string {
	if h.Reference != "" {
		return []string{h.Reference}
	}
	return []string{h.Repository, h.Digest}
}

func (h HelmValues) values(ref string) ([]string, error) {
	if h.Reference != "" {
		return []string{ref}, nil
	}
	d, err := name.NewDigest(ref)
	if err != nil {
		return nil, err
	}
	return []string{d.Context().Name(), d.DigestStr()}, nil
}

func (h HelmValues) load(root string) (*yaml.RNode, []*yaml.RNode, error) {
	raw, err := os.ReadFile(filepath.Join(root, h.Path))
	if err != nil {
		return nil, nil, fmt.Errorf("values file %s: %w", h.Path, err)
	}
	node, err := yaml.Parse(string(raw))
	if err != nil {
		return nil, nil, fmt.Errorf("values file %s: %w", h.Path, err)
	}
	var fields []*yaml.RNode
	for _, p := range h.paths() {
		f, err := node.Pipe(yaml.Lookup(strings.Split(p, ".")...))
		if err != nil || f == nil || f.YNode().Kind != yaml.ScalarNode {
			return nil, nil, fmt.Errorf("values file %s has no value %s: add it (with the value the chart reads) or fix the path in HelmValues", h.Path, p)
		}
		fields = append(fields, f)
	}
	return node, fields, nil
}

func (h HelmValues) current(fields []*yaml.RNode) string {
	if h.Reference != "" {
		return fields[0].YNode().Value
	}
	if fields[1].YNode().Value == "" {
		return ""
	}
	return fields[0].YNode().Value + "@" + fields[1].YNode().Value
}

func (h HelmValues) put(root string, node *yaml.RNode, fields []*yaml.RNode, ref string) error {
	vals, err := h.values(ref)
	if err != nil {
		return err
	}
	for i, f := range fields {
		f.YNode().Value = vals[i]
	}
	s, err := node.String()
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(root, h.Path), []byte(s), 0o644)
}

func (h HelmValues) set(root string, image name.Digest) (string, bool, error) {
	node, fields, err := h.load(root)
	if err != nil {
		return "", false, err
	}
	prev := h.current(fields)
	if prev == image.String() {
		return prev, false, nil
	}
	return prev, true, h.put(root, node, fields, image.String())
}

func (h HelmValues) restore(root, prev string, ours name.Digest) (bool, error) {
	node, fields, err := h.load(root)
	if err != nil {
		return false, err
	}
	if h.current(fields) != ours.String() || prev == "" {
		return false, nil
	}
	return true, h.put(root, node, fields, prev)
}

// verify for Helm values only re-reads the file: rendering the chart is
// deploy/helm's job, and the chart may live elsewhere.
func (h HelmValues) verify(root string, image name.Digest) error {
	_, fields, err := h.load(root)
	if err != nil {
		return err
	}
	if got := h.current(fields); got != image.String() {
		return fmt.Errorf("values file %s holds %s after the edit, not %s", h.Path, got, image)
	}
	return nil
}

var (
	_ Target = Kustomize{}
	_ Target = HelmValues{}
)
