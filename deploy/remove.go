package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
)

// createdObject is a bundle object as this deploy left it: the UID the
// apply answered with is what removal deletes, so an object someone
// re-created meanwhile under the same name is never touched.
type createdObject struct {
	kind, name string
	mapping    *meta.RESTMapping
	uid        types.UID
	target     bool // the Deployment whose rollout is the release
}

func (o createdObject) String() string { return o.kind + " " + o.name }

// existing says, per object, whether it exists before the apply: one Get
// each, retried while the API server is briefly unreachable. An object the
// deploy identity may not read counts as existing, so that it is never
// removed on a guess.
func (c *Client) existing(ctx context.Context, objs []*unstructured.Unstructured, mappings []*meta.RESTMapping) ([]bool, error) {
	out := make([]bool, len(objs))
	for i, obj := range objs {
		res := c.resource(mappings[i])
		err := c.retryTransient(ctx, func(ctx context.Context) error {
			_, err := res.Get(ctx, obj.GetName(), metav1.GetOptions{})
			return err
		})
		switch {
		case err == nil, apierrors.IsForbidden(err):
			out[i] = true
		case apierrors.IsNotFound(err):
		default:
			return nil, fmt.Errorf("checking whether %s %s exists: %w", obj.GetKind(), obj.GetName(), c.explain(err))
		}
	}
	return out, nil
}

// remove deletes what a failed first deploy created, newest first, and
// waits (up to the rollback timeout) until it is gone: foreground deletion,
// so a removed Deployment's ReplicaSets and pods are gone too when remove
// returns. It returns what it removed, and why it could not remove the
// rest.
func (c *Client) remove(ctx context.Context, objs []createdObject) ([]string, error) {
	policy := metav1.DeletePropagationForeground
	gone := map[createdObject]bool{}
	var errs []error
	var pending []createdObject
	for i := len(objs) - 1; i >= 0; i-- {
		o := objs[i]
		res := c.resource(o.mapping)
		err := c.retryTransient(ctx, func(ctx context.Context) error {
			return res.Delete(ctx, o.name, metav1.DeleteOptions{
				Preconditions:     &metav1.Preconditions{UID: &o.uid},
				PropagationPolicy: &policy,
			})
		})
		switch {
		case err == nil:
			pending = append(pending, o)
		case apierrors.IsNotFound(err):
			gone[o] = true
		case apierrors.IsConflict(err):
			errs = append(errs, fmt.Errorf("%s was replaced by another object of that name meanwhile: left it", o))
		default:
			errs = append(errs, fmt.Errorf("deleting %s: %w", o, c.explain(err)))
		}
	}
	timeout := c.opts.rollbackTimeout
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		left := pending[:0]
		for _, o := range pending {
			cur, err := c.resource(o.mapping).Get(ctx, o.name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err), err == nil && cur.GetUID() != o.uid:
				gone[o] = true
			default:
				left = append(left, o) // still there, or the API server did not answer: ask again
			}
		}
		pending = left
		return len(pending) == 0, nil
	})
	if err != nil {
		var names []string
		for _, o := range pending {
			names = append(names, o.String())
		}
		errs = append(errs, fmt.Errorf("%s still there %s after its deletion (a finalizer that does not finish?)", strings.Join(names, ", "), timeout))
	}
	var removed []string
	for i := len(objs) - 1; i >= 0; i-- {
		if gone[objs[i]] {
			removed = append(removed, objs[i].String())
		}
	}
	return removed, errors.Join(errs...)
}
