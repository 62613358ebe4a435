package deploy

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
)

// Objects turns typed objects (appsv1.Deployment, corev1.Service, ... or
// already unstructured ones) into a Release bundle. Typed objects need no
// TypeMeta: the kind comes from client-go's scheme.
func Objects(objs ...runtime.Object) ([]*unstructured.Unstructured, error) {
	out := make([]*unstructured.Unstructured, 0, len(objs))
	for i, o := range objs {
		if u, ok := o.(*unstructured.Unstructured); ok {
			out = append(out, u.DeepCopy())
			continue
		}
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			return nil, fmt.Errorf("deploy: bundle object %d (%T): %w", i, o, err)
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" {
			gvks, _, err := scheme.Scheme.ObjectKinds(o)
			if err != nil || len(gvks) == 0 {
				return nil, fmt.Errorf("deploy: bundle object %d (%T): unknown kind; set its TypeMeta: %v", i, o, err)
			}
			u.SetGroupVersionKind(gvks[0])
		}
		out = append(out, u)
	}
	return out, nil
}
