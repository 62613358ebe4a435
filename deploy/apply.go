package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
)

// Deploy applies r to the environment, waits for the rollout, verifies it
// and, when any of that fails, rolls back to the previous revision.
func (c *Client) Deploy(ctx context.Context, r Release) (*Result, error) {
	start := c.nowFunc()
	prefix := fmt.Sprintf("deploy: environment %q", c.env.Name)
	digest, err := ParseDigest(r.Image)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	objs, target, err := c.prepare(r, digest.String())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	prefix = fmt.Sprintf("%s: Deployment %s/%s", prefix, c.env.Namespace, target.GetName())
	if err := c.checkNamespace(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	// Every kind is mapped before anything is applied: a cluster whose
	// discovery is broken fails the deploy here, with nothing half-applied.
	mappings := make([]*meta.RESTMapping, len(objs))
	for i, obj := range objs {
		if mappings[i], err = c.mapper.mapping(ctx, obj.GroupVersionKind()); err != nil {
			return nil, fmt.Errorf("%s: %s %s: %w", prefix, obj.GetKind(), obj.GetName(), err)
		}
	}
	// What exists before the apply decides what a failed first deploy
	// removes: only what this deploy created, never what was there.
	var existed []bool
	if c.opts.rollback {
		if existed, err = c.existing(ctx, objs, mappings); err != nil {
			return nil, fmt.Errorf("%s: %w", prefix, err)
		}
	}
	res := &Result{Environment: c.env.Name, Namespace: c.env.Namespace, Deployment: target.GetName(), Image: digest.String()}
	var applied *unstructured.Unstructured
	var created, kept []createdObject
	for i, obj := range objs {
		out, err := c.apply(ctx, obj, mappings[i])
		if err != nil {
			err = fmt.Errorf("%s: applying %s %s: %w", prefix, obj.GetKind(), obj.GetName(), c.explain(err))
			if len(created) > 0 {
				removed, rmErr := c.remove(context.WithoutCancel(ctx), created)
				if rmErr != nil {
					return nil, fmt.Errorf("%w; removing what this deploy had created failed: %v", err, rmErr)
				}
				return nil, fmt.Errorf("%w; removed what this deploy had created: %s", err, strings.Join(removed, ", "))
			}
			return nil, err
		}
		res.Applied = append(res.Applied, obj.GetKind()+"/"+obj.GetName())
		if obj == target {
			applied = out
		}
		if existed != nil {
			o := createdObject{kind: obj.GetKind(), name: obj.GetName(), mapping: mappings[i], uid: out.GetUID(), target: obj == target}
			if existed[i] {
				kept = append(kept, o)
			} else {
				created = append(created, o)
			}
		}
	}
	var dep appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(applied.Object, &dep); err != nil {
		return nil, fmt.Errorf("%s: reading the applied Deployment: %w", prefix, err)
	}
	done, err := c.waitRollout(ctx, dep.Name, dep.Generation, c.opts.rolloutTimeout)
	// Verification is part of the deploy: its failure takes the rollback
	// path below, as a failed rollout does, so nothing unverified stays
	// and no evidence is recorded for it.
	if err == nil {
		res.Revision = done.Annotations[revisionAnnotation]
		err = c.verifyRollout(ctx, done, objs, res)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, c.fail(ctx, dep.Name, digest.String(), err, created, kept))
	}
	res.Duration = c.nowFunc().Sub(start)
	return res, nil
}

// Check says whether r can be deployed, without a cluster: its image is a
// digest, its bundle has the Deployment it names (or exactly one), that
// Deployment has the container it names (or exactly one), and every other
// image in a pod template is pinned by digest. Deploy checks the same
// before its first request; Check lets a tool refuse bad input before it
// even connects.
func Check(r Release) error {
	digest, err := ParseDigest(r.Image)
	if err != nil {
		return err
	}
	_, _, err = prepareRelease(r, digest.String(), Environment{Namespace: "check"})
	return err
}

// prepare copies the bundle, puts every namespaced object into the
// environment's namespace and its pods onto the environment's nodes, sets
// the image and replicas on the target Deployment, and refuses container
// images given by tag.
func (c *Client) prepare(r Release, image string) ([]*unstructured.Unstructured, *unstructured.Unstructured, error) {
	return prepareRelease(r, image, c.env)
}

// prepareRelease is prepare for an environment: its namespace, its replica
// override and its node selector.
func prepareRelease(r Release, image string, env Environment) ([]*unstructured.Unstructured, *unstructured.Unstructured, error) {
	namespace, replicas := env.Namespace, env.Replicas
	if len(r.Bundle) == 0 {
		return nil, nil, errors.New("the bundle is empty: nothing to deploy")
	}
	var objs []*unstructured.Unstructured
	var target *unstructured.Unstructured
	var deployments []string
	for _, in := range r.Bundle {
		obj := in.DeepCopy()
		gvk := obj.GroupVersionKind()
		if gvk.Kind == "" || obj.GetName() == "" {
			return nil, nil, fmt.Errorf("bundle object %v has no kind or name", gvk)
		}
		if m, ok := wellKnown[gvk]; !ok || m.Scope.Name() == meta.RESTScopeNameNamespace {
			obj.SetNamespace(namespace)
		}
		// Server-set fields in a bundle (from `kubectl get -o yaml`) would
		// make apply fail or claim fields slipway does not own.
		obj.SetResourceVersion("")
		obj.SetUID("")
		obj.SetManagedFields(nil)
		obj.SetCreationTimestamp(metav1.Time{})
		unstructured.RemoveNestedField(obj.Object, "status")
		if err := PlacePods(obj, env.NodeSelector); err != nil {
			return nil, nil, err
		}
		if gvk.Group == "apps" && gvk.Kind == "Deployment" {
			deployments = append(deployments, obj.GetName())
			if r.Deployment == obj.GetName() || (r.Deployment == "" && target == nil) {
				target = obj
			}
		}
		objs = append(objs, obj)
	}
	switch {
	case len(deployments) == 0:
		return nil, nil, errors.New("the bundle has no Deployment to roll out")
	case r.Deployment == "" && len(deployments) > 1:
		return nil, nil, fmt.Errorf("the bundle has %d Deployments %v: name the one to roll out in Release.Deployment", len(deployments), deployments)
	case target == nil:
		return nil, nil, fmt.Errorf("the bundle has no Deployment %q (it has %v)", r.Deployment, deployments)
	}
	if err := setImage(target, r.Container, image); err != nil {
		return nil, nil, fmt.Errorf("Deployment %s: %w", target.GetName(), err)
	}
	if replicas > 0 {
		if err := unstructured.SetNestedField(target.Object, int64(replicas), "spec", "replicas"); err != nil {
			return nil, nil, err
		}
	}
	for _, obj := range objs {
		if err := checkDigests(obj); err != nil {
			return nil, nil, err
		}
	}
	return objs, target, nil
}

func setImage(dep *unstructured.Unstructured, container, image string) error {
	containers, _, err := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	if err != nil || len(containers) == 0 {
		return errors.New("no containers in spec.template.spec.containers")
	}
	var names []string
	idx := -1
	for i, ct := range containers {
		m, _ := ct.(map[string]any)
		n, _ := m["name"].(string)
		names = append(names, n)
		if n == container || (container == "" && len(containers) == 1) {
			idx = i
		}
	}
	if idx < 0 {
		if container == "" {
			return fmt.Errorf("%d containers %v: name the one that gets the image in Release.Container", len(containers), names)
		}
		return fmt.Errorf("no container %q (it has %v)", container, names)
	}
	containers[idx].(map[string]any)["image"] = image
	return unstructured.SetNestedSlice(dep.Object, containers, "spec", "template", "spec", "containers")
}

// checkDigests refuses any container image in a pod template that is not
// pinned by digest: a sidecar by tag would make the deploy as unrepeatable
// as the main image by tag.
func checkDigests(obj *unstructured.Unstructured) error {
	for _, field := range []string{"containers", "initContainers"} {
		cts, _, _ := unstructured.NestedSlice(obj.Object, "spec", "template", "spec", field)
		for _, ct := range cts {
			m, _ := ct.(map[string]any)
			img, _ := m["image"].(string)
			if _, err := ParseDigest(img); err != nil {
				return fmt.Errorf("%s %s, container %v: %w", obj.GetKind(), obj.GetName(), m["name"], err)
			}
		}
	}
	return nil
}

// checkNamespace fails early, and clearly, when the namespace is missing.
// A deploy identity that may not read namespaces goes on: the apply itself
// then says what is wrong.
func (c *Client) checkNamespace(ctx context.Context) error {
	err := c.retryTransient(ctx, func(ctx context.Context) error {
		_, err := c.kube.CoreV1().Namespaces().Get(ctx, c.env.Namespace, metav1.GetOptions{})
		return err
	})
	switch {
	case err == nil, apierrors.IsForbidden(err):
		return nil
	case apierrors.IsNotFound(err):
		return fmt.Errorf("namespace %q does not exist: create it (kubectl create namespace %s) or fix Environment.Namespace; slipway does not create namespaces, so a typo cannot deploy into a new one", c.env.Namespace, c.env.Namespace)
	}
	return c.explain(err)
}

// apply server-side applies one object as FieldManager, retrying while the
// API server is briefly unreachable.
func (c *Client) apply(ctx context.Context, obj *unstructured.Unstructured, m *meta.RESTMapping) (*unstructured.Unstructured, error) {
	res := c.resource(m)
	var out *unstructured.Unstructured
	err := c.retryTransient(ctx, func(ctx context.Context) error {
		var err error
		out, err = res.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: FieldManager, Force: c.opts.force})
		return err
	})
	return out, err
}

// resource is the dynamic client of m's resource, in the environment's
// namespace when it is namespaced.
func (c *Client) resource(m *meta.RESTMapping) dynamic.ResourceInterface {
	ri := c.dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return ri.Namespace(c.env.Namespace)
	}
	return ri
}
