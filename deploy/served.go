package deploy

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Served splits a bundle into the objects whose kinds the cluster serves and
// a description of those it does not. A bundle may carry optional custom
// resources (a PrometheusRule for the Prometheus operator, say) that a bare
// cluster does not know; the caller decides whether leaving them out is
// acceptable, and says so, instead of failing the whole deploy halfway
// through its apply.
func (c *Client) Served(ctx context.Context, objs []*unstructured.Unstructured) (served []*unstructured.Unstructured, skipped []string, err error) {
	for _, obj := range objs {
		gvk := obj.GroupVersionKind()
		_, err := c.mapper.mapping(ctx, gvk)
		switch {
		case err == nil:
			served = append(served, obj)
		case meta.IsNoMatchError(err):
			skipped = append(skipped, fmt.Sprintf("%s %s (%s not served by the cluster)", gvk.Kind, obj.GetName(), gvk.GroupVersion()))
		default:
			return nil, nil, fmt.Errorf("deploy: environment %q: discovering %s: %w", c.env.Name, gvk, c.explain(err))
		}
	}
	return served, skipped, nil
}
