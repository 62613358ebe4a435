// Package backup snapshots a namespace's service objects into an OCI
// artifact and restores them into an empty namespace: the seed's
// "complete namespace loss" recovery without Velero, with the registry
// that already holds the images as the backup store.
//
// A snapshot holds Deployments, Services, ConfigMaps and
// HorizontalPodAutoscalers (Secrets only with WithSecrets: a registry is
// not a secret store), stripped of every field the server sets, so that
// restoring it yields the same objects again.
package backup

import (
	"context"
	"fmt"
	"sort"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// FieldManager is the server-side apply field manager of a restore.
const FieldManager = "slipway-restore"

// Kind is one resource type a snapshot covers.
type Kind struct {
	GVR  schema.GroupVersionResource
	Kind string
}

// DefaultKinds are what Take snapshots unless told otherwise.
var DefaultKinds = []Kind{
	{schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, "ConfigMap"},
	{schema.GroupVersionResource{Version: "v1", Resource: "services"}, "Service"},
	{schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, "Deployment"},
	{schema.GroupVersionResource{Group: "autoscaling", Version: "v2", Resource: "horizontalpodautoscalers"}, "HorizontalPodAutoscaler"},
}

// SecretsKind is added by WithSecrets.
var SecretsKind = Kind{schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, "Secret"}

// Snapshot is a namespace's objects at one moment.
type Snapshot struct {
	Namespace string                       `json:"namespace"`
	Taken     time.Time                    `json:"taken"`
	Objects   []*unstructured.Unstructured `json:"-"`
}

type options struct {
	kinds []Kind
	key   []byte
}

// Option configures Take.
type Option func(*options)

// WithSecrets includes Secrets as they are (base64, not encrypted): use it
// only with a registry as private as the cluster's etcd, or use
// WithEncryptedSecrets.
func WithSecrets() Option { return func(o *options) { o.kinds = append(o.kinds, SecretsKind) } }

// WithKinds replaces the kinds to snapshot.
func WithKinds(k ...Kind) Option { return func(o *options) { o.kinds = k } }

// Take reads the namespace's objects of the configured kinds.
func Take(ctx context.Context, dyn dynamic.Interface, namespace string, opts ...Option) (*Snapshot, error) {
	o := options{kinds: append([]Kind{}, DefaultKinds...)}
	for _, opt := range opts {
		opt(&o)
	}
	snap := &Snapshot{Namespace: namespace, Taken: time.Now().UTC()}
	for _, k := range o.kinds {
		list, err := dyn.Resource(k.GVR).Namespace(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("backup: namespace %s: listing %s: %w", namespace, k.GVR.Resource, err)
		}
		for i := range list.Items {
			obj := &list.Items[i]
			if skip(obj) {
				continue
			}
			obj.SetAPIVersion(k.GVR.GroupVersion().String())
			obj.SetKind(k.Kind)
			clean := Clean(obj)
			if k.Kind == "Secret" && o.key != nil {
				if err := seal(clean, o.key); err != nil {
					return nil, fmt.Errorf("backup: namespace %s: Secret %s: %w", namespace, obj.GetName(), err)
				}
			}
			snap.Objects = append(snap.Objects, clean)
		}
	}
	return snap, nil
}

// skip leaves out what the cluster creates by itself in every namespace:
// restoring it would fight the controller that owns it.
func skip(obj *unstructured.Unstructured) bool {
	if obj.GetKind() == "ConfigMap" && obj.GetName() == "kube-root-ca.crt" {
		return true
	}
	if obj.GetKind() == "Secret" {
		t, _, _ := unstructured.NestedString(obj.Object, "type")
		if t == "kubernetes.io/service-account-token" {
			return true
		}
	}
	return len(obj.GetOwnerReferences()) > 0 // made by a controller from something we do keep
}

// Clean returns a copy of obj without the fields the server sets: identity,
// versions, timestamps, managed fields, status, the Deployment revision
// and a Service's allocated cluster IPs (the restored Service gets new ones).
func Clean(obj *unstructured.Unstructured) *unstructured.Unstructured {
	out := obj.DeepCopy()
	for _, f := range []string{"uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds", "namespace"} {
		unstructured.RemoveNestedField(out.Object, "metadata", f)
	}
	unstructured.RemoveNestedField(out.Object, "status")
	ann := out.GetAnnotations()
	delete(ann, "deployment.kubernetes.io/revision")
	delete(ann, "kubectl.kubernetes.io/last-applied-configuration")
	if len(ann) == 0 {
		ann = nil
	}
	out.SetAnnotations(ann)
	if out.GetKind() == "Service" {
		unstructured.RemoveNestedField(out.Object, "spec", "clusterIP")
		unstructured.RemoveNestedField(out.Object, "spec", "clusterIPs")
	}
	return out
}

// RestoreOption configures Restore.
type RestoreOption func(*restoreOptions)

type restoreOptions struct{ key []byte }

// WithKey decrypts Secrets taken WithEncryptedSecrets(key).
func WithKey(key []byte) RestoreOption { return func(o *restoreOptions) { o.key = key } }

// Restore applies the snapshot's objects into namespace, which must exist
// and hold none of the snapshot's objects: a restore never overwrites
// live objects.
func Restore(ctx context.Context, dyn dynamic.Interface, snap *Snapshot, namespace string, opts ...RestoreOption) error {
	var ro restoreOptions
	for _, o := range opts {
		o(&ro)
	}
	kinds := map[string]schema.GroupVersionResource{}
	for _, k := range append(append([]Kind{}, DefaultKinds...), SecretsKind) {
		kinds[k.GVR.GroupVersion().WithKind(k.Kind).String()] = k.GVR
	}
	var clash []string
	for _, obj := range snap.Objects {
		gvr, ok := kinds[obj.GroupVersionKind().String()]
		if !ok {
			return fmt.Errorf("backup: restore into %s: the snapshot holds a %s, which restore does not know", namespace, obj.GroupVersionKind())
		}
		_, err := dyn.Resource(gvr).Namespace(namespace).Get(ctx, obj.GetName(), metav1.GetOptions{})
		switch {
		case err == nil:
			clash = append(clash, obj.GetKind()+"/"+obj.GetName())
		case apierrors.IsNotFound(err):
		default:
			return fmt.Errorf("backup: restore into %s: %w", namespace, err)
		}
	}
	if len(clash) > 0 {
		sort.Strings(clash)
		return fmt.Errorf("backup: restore into %s: the namespace is not empty, it already has %v: restore into a new or emptied namespace", namespace, clash)
	}
	objs := make([]*unstructured.Unstructured, 0, len(snap.Objects))
	for _, in := range snap.Objects {
		obj := in.DeepCopy()
		// Decrypt everything before the first write: a wrong key must not
		// leave a half-restored namespace.
		if err := open(obj, ro.key); err != nil {
			return fmt.Errorf("backup: restore into %s: %w", namespace, err)
		}
		objs = append(objs, obj)
	}
	for _, obj := range objs {
		obj.SetNamespace(namespace)
		gvr := kinds[obj.GroupVersionKind().String()]
		if _, err := dyn.Resource(gvr).Namespace(namespace).Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
			return fmt.Errorf("backup: restore into %s: %s %s: %w", namespace, obj.GetKind(), obj.GetName(), err)
		}
	}
	return nil
}
