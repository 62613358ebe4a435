package helm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/kubectl/pkg/polymorphichelpers"

	"github.com/slipway-ci/slipway/deploy"
)

// wait is --wait with slipway's judgement: every Deployment of the release
// until deploy.RolloutStatus calls it complete (a watch, not a poll), every
// StatefulSet and DaemonSet until kubectl's status viewer does. They are
// waited for together; the first failure is reported with the others'.
func (d *Deployer) wait(ctx context.Context, objs []*unstructured.Unstructured, timeout time.Duration) error {
	kube, dyn := d.client.Clients()
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, o := range objs {
		if ns := o.GetNamespace(); ns != "" && ns != d.env.Namespace {
			continue
		}
		gvk := o.GroupVersionKind()
		if gvk.Group != "apps" {
			continue
		}
		kind, objName := gvk.Kind, o.GetName()
		var run func(context.Context) error
		switch kind {
		case "Deployment":
			run = func(ctx context.Context) error {
				dep, err := kube.AppsV1().Deployments(d.env.Namespace).Get(ctx, objName, metav1.GetOptions{})
				if err != nil {
					return d.client.Explain(err)
				}
				_, err = d.client.WaitRollout(ctx, objName, dep.Generation, timeout)
				return err
			}
		case "StatefulSet", "DaemonSet":
			gvr := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: strings.ToLower(kind) + "s"}
			run = func(ctx context.Context) error {
				ctx, cancel := context.WithTimeout(ctx, timeout)
				defer cancel()
				return watchStatus(ctx, dyn.Resource(gvr).Namespace(d.env.Namespace), gvk.GroupKind(), objName, timeout)
			}
		default:
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s %s: %w", kind, objName, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// resourceClient is the part of a dynamic client watchStatus needs.
type resourceClient interface {
	List(ctx context.Context, opts metav1.ListOptions) (*unstructured.UnstructuredList, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// watchStatus watches one StatefulSet or DaemonSet until kubectl's status
// viewer (`kubectl rollout status`) calls it rolled out.
func watchStatus(ctx context.Context, rc resourceClient, gk schema.GroupKind, objName string, timeout time.Duration) error {
	viewer, err := polymorphichelpers.StatusViewerFor(gk)
	if err != nil {
		return err
	}
	sel := fields.OneTermEqualSelector("metadata.name", objName).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return rc.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return rc.Watch(ctx, o)
		},
	}
	last := "no status seen yet"
	_, err = watchtools.UntilWithSync(ctx, lw, &unstructured.Unstructured{}, nil, func(ev watch.Event) (bool, error) {
		if ev.Type == watch.Deleted {
			return false, errors.New("deleted during the rollout")
		}
		u, ok := ev.Object.(*unstructured.Unstructured)
		if !ok {
			return false, nil
		}
		msg, done, err := viewer.Status(u, 0)
		last = strings.TrimSpace(msg)
		return done, err
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("rollout did not complete within %s (last status: %s)", timeout, last)
	}
	return err
}

// fail makes a failed release atomic, as `helm upgrade --install --atomic`
// does, and explains it as a *deploy.RolloutError: the failing pods, then
// a rollback to prev (the deployed revision before this deploy) or, for a
// first install, its removal. A release whose history held no deployed
// revision but existed before is left as it is: what it created earlier
// was not this deploy's to remove.
func (d *Deployer) fail(ctx context.Context, cfg *action.Configuration, relName string, digest name.Digest, target string, cause error, prev *release.Release, hadHistory bool) error {
	// The rollback must run even when the caller's context is what ran
	// out: a half-rolled-out release is worse than a late error.
	ctx = context.WithoutCancel(ctx)
	rerr := &deploy.RolloutError{Cause: cause, Image: digest.String()}
	if pods, err := d.client.FailingPods(ctx, target); err == nil {
		rerr.Pods = pods
	}
	if !d.opts.rollback {
		return rerr
	}
	// The failed revision is recorded as failed, as Helm records a failed
	// --wait, so that `helm history` tells the truth.
	if cur, err := cfg.Releases.Last(relName); err == nil && cur.Info.Status == release.StatusDeployed && (prev == nil || cur.Version != prev.Version) {
		cur.SetStatus(release.StatusFailed, fmt.Sprintf("slipway: %v", cause))
		if err := cfg.Releases.Update(cur); err != nil {
			d.opts.log("recording revision %d as failed: %v", cur.Version, err)
		}
	}
	switch {
	case prev != nil:
		rerr.PreviousImage = imageIn(prev.Manifest, target)
		rb := action.NewRollback(cfg)
		rb.Version, rb.MaxHistory, rb.Timeout = prev.Version, d.opts.maxHistory, d.opts.rollbackTimeout
		if err := rb.Run(relName); err != nil {
			rerr.RollbackErr = fmt.Errorf("helm rollback to revision %d: %w", prev.Version, d.client.Explain(err))
			return rerr
		}
		objs, err := parseManifest(prev.Manifest)
		if err == nil {
			err = d.wait(ctx, objs, d.opts.rollbackTimeout)
		}
		if err != nil {
			rerr.RollbackErr = fmt.Errorf("rolled back to revision %d, but it did not become healthy: %w", prev.Version, err)
			return rerr
		}
		rerr.RolledBack = true
	case !hadHistory:
		un := action.NewUninstall(cfg)
		un.DeletionPropagation, un.Timeout = "foreground", d.opts.rollbackTimeout
		res, err := un.Run(relName)
		if err != nil {
			rerr.RollbackErr = fmt.Errorf("there is no previous revision to roll back to (this was the first install), and helm uninstall failed: %w", d.client.Explain(err))
			return rerr
		}
		manifest := ""
		if res != nil && res.Release != nil {
			manifest = res.Release.Manifest
		}
		rerr.Removed = objectNames(manifest)
		if err := d.waitGone(ctx, manifest); err != nil {
			rerr.RollbackErr = fmt.Errorf("there is no previous revision to roll back to (this was the first install); it was uninstalled, but %w", err)
		}
	default:
		rerr.RollbackErr = fmt.Errorf("there is no deployed revision to roll back to, and release %s existed before this deploy (a failed revision left by a deploy without rollback?), so it is left as it is: see helm history %s -n %s", relName, relName, d.env.Namespace)
	}
	return rerr
}

// waitGone waits until the uninstalled release's objects are gone
// (foreground deletion: a Deployment's pods with it).
func (d *Deployer) waitGone(ctx context.Context, manifest string) error {
	if manifest == "" {
		return nil
	}
	kc, err := d.kubeClient()
	if err != nil {
		return err
	}
	infos, err := kc.Build(bytes.NewBufferString(manifest), false)
	if err != nil {
		return err
	}
	var left []string
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, d.opts.rollbackTimeout, true, func(ctx context.Context) (bool, error) {
		left = left[:0]
		for _, info := range infos {
			if err := info.Get(); err == nil || !apierrors.IsNotFound(err) {
				left = append(left, info.Mapping.GroupVersionKind.Kind+" "+info.Name)
			}
		}
		return len(left) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("%s still there %s after the uninstall (a finalizer that does not finish?)", strings.Join(left, ", "), d.opts.rollbackTimeout)
	}
	return nil
}

// imageIn is the image of the Deployment target in a release manifest.
func imageIn(manifest, target string) string {
	objs, err := parseManifest(manifest)
	if err != nil {
		return ""
	}
	for _, o := range objs {
		if o.GetKind() != "Deployment" || o.GetName() != target {
			continue
		}
		cts, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		var imgs []string
		for _, c := range cts {
			m, _ := c.(map[string]any)
			if img, _ := m["image"].(string); img != "" {
				imgs = append(imgs, img)
			}
		}
		return strings.Join(imgs, ", ")
	}
	return ""
}
